// vitro ps: the containers, in Docker's columns.

import VitroCommandLine
import VitroRuntime
import VitroTrace

struct PsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ps", abstract: "List containers.")

    @OptionGroup var global: GlobalOptions
    @Flag("-a", "--all", help: "Show all containers (default shows just running).") var all = false
    @Flag("-q", "--quiet", help: "Only display container ids.") var quiet = false
    @Flag("--no-trunc", help: "Do not truncate output.") var noTrunc = false
    @Flag("-l", "--latest", help: "Show the latest created container.") var latest = false

    func run() throws {
        let store = ContainerStore(root: global.stateRoot)
        var records = store.list()
        if !all && !latest { records = records.filter { store.liveStatus($0) == .running || store.liveStatus($0) == .paused } }
        if latest { records = Array(records.prefix(1)) }
        if quiet {
            for r in records { writeStdout((noTrunc ? r.id : String(r.id.prefix(12))) + "\n") }
            return
        }
        let now = WallTime.now().seconds
        var rows = [["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]]
        for r in records {
            var command = r.config.argv.joined(separator: " ")
            if !noTrunc && command.count > 20 { command = String(command.prefix(19)) + "…" }
            rows.append([
                noTrunc ? r.id : String(r.id.prefix(12)), r.config.image.isEmpty ? "<rootfs>" : r.config.image,
                "\"\(command)\"", WallTime.humanDuration(now - r.config.created.seconds) + " ago",
                statusText(store.liveStatus(r), r, now: now), "", r.config.name,
            ])
        }
        writeStdout(table(rows))
    }

    func statusText(_ status: ContainerStatus, _ r: ContainerRecord, now: Int) -> String {
        switch status {
        case .running: return "Up " + WallTime.humanDuration(now - (r.state.startedAt?.seconds ?? now))
        case .paused: return "Up " + WallTime.humanDuration(now - (r.state.startedAt?.seconds ?? now)) + " (Paused)"
        case .exited:
            let ago = r.state.finishedAt.map { WallTime.humanDuration(now - $0.seconds) + " ago" } ?? ""
            return "Exited (\(r.state.exitCode)) \(ago)"
        case .created: return "Created"
        case .restarting:
            let ago = r.state.finishedAt.map { " " + WallTime.humanDuration(now - $0.seconds) + " ago" } ?? ""
            return "Restarting (\(r.state.exitCode))\(ago)"
        case .dead: return "Dead"
        }
    }
}

/// Columns padded to their widest cell, three spaces apart, as docker prints them.
func table(_ rows: [[String]]) -> String {
    guard let first = rows.first else { return "" }
    var widths = Array(repeating: 0, count: first.count)
    for r in rows { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
    return rows.map { r in
        r.enumerated().map { i, c in i == r.count - 1 ? c : c + String(repeating: " ", count: widths[i] - c.count + 3) }.joined()
    }.joined(separator: "\n") + "\n"
}
