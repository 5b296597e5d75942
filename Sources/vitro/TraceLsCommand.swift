// vitro trace ls: the traces vitro keeps under <root>/traces, oldest first: one per
// run (and per exec) of each container, with the container's name while it exists.
// TraceStore (VitroRuntime) names them and bounds how many and how much is kept.

import VitroCommandLine
import VitroRuntime
import VitroTrace

struct TraceLsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ls", abstract: "List the traces kept per container and per run.")

    @OptionGroup var global: GlobalOptions
    @Flag("-q", "--quiet", help: "Only print the traces' paths.") var quiet = false
    @Argument("container", help: "Only the traces of this container (name, id or id prefix).") var container: String?

    func run() throws {
        let store = TraceStore(root: global.stateRoot)
        let containers = ContainerStore(root: global.stateRoot)
        var entries = store.list()
        let records = containers.list()
        if let container {
            if let r = try? containers.find(container) {
                entries = entries.filter { $0.container == r.id.prefix(12) }
            } else {
                entries = entries.filter { $0.container.hasPrefix(container.lowercased()) }
                if entries.isEmpty { fail("no such container, and no trace of one whose id starts \"\(container)\"", code: 1) }
            }
        }
        if quiet {
            for e in entries { writeStdout(store.path(e.name) + "\n") }
            return
        }
        let now = Int64(WallTime.now().seconds)
        var rows = [["TRACE", "CONTAINER", "NAME", "RUN", "SIZE", "WRITTEN"]]
        for e in entries {
            let name = records.first { $0.id.hasPrefix(e.container) }?.config.name ?? "(removed)"
            rows.append([e.name, e.container, name, "\(e.kind) \(e.number)", Human.size(e.bytes), Human.ago(now - Int64(e.modified.seconds))])
        }
        writeStdout(table(rows))
        let total = entries.reduce(Int64(0)) { $0 + $1.bytes }
        writeStdout(
            "\(entries.count) trace\(entries.count == 1 ? "" : "s"), \(Human.size(total)) in \(store.directory); "
                + "after each run vitro keeps the newest \(TraceStore.defaultKeep), \(TraceStore.defaultMaxBytes >> 20) MiB at most\n")
    }
}
