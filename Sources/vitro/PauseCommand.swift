// vitro pause, unpause, top and rename.

import VitroCommandLine
import VitroRuntime
import VitroSys

struct PauseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "pause", abstract: "Pause all processes within containers (the cgroup freezer).")
    @OptionGroup var global: GlobalOptions
    @Argument("containers", help: "Containers.") var containers: [String]
    func run() throws {
        eachContainer(containers, global.stateRoot) { store, r in try ContainerStats.setPaused(store, r, true) }
    }
}

struct UnpauseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "unpause", abstract: "Unpause all processes within containers.")
    @OptionGroup var global: GlobalOptions
    @Argument("containers", help: "Containers.") var containers: [String]
    func run() throws {
        eachContainer(containers, global.stateRoot) { store, r in try ContainerStats.setPaused(store, r, false) }
    }
}

struct TopCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "top", abstract: "Display the running processes of a container (host pids).")
    @OptionGroup var global: GlobalOptions
    @Argument("container", help: "Container.") var container: String
    func run() throws {
        let store = ContainerStore(root: global.stateRoot)
        let r: ContainerRecord
        do { r = try store.find(container) } catch { fail(error.message, code: 1) }
        guard store.liveStatus(r) == .running || store.liveStatus(r) == .paused else { fail("container \(r.id.prefix(12)) is not running", code: 1) }
        var rows = [["UID", "PID", "PPID", "CMD"]]
        for pid in (try? ContainerStats.processes(r)) ?? [] {
            guard let stat = try? Sys.readText("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")") else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            let ppid = fields.count > 1 ? String(fields[1]) : "?"
            let raw = (try? Sys.readFile("/proc/\(pid)/cmdline")) ?? []
            let cmd = raw.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }.joined(separator: " ")
            let status = (try? Sys.readText("/proc/\(pid)/status")) ?? ""
            let uid = status.split(separator: "\n").first { $0.hasPrefix("Uid:") }?.split(separator: "\t").dropFirst().first.map(String.init) ?? "?"
            rows.append([uid, String(pid), ppid, cmd])
        }
        writeStdout(table(rows))
    }
}

struct RenameCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rename", abstract: "Rename a container.")
    @OptionGroup var global: GlobalOptions
    @Argument("container", help: "Container.") var container: String
    @Argument("new-name", help: "New name.") var newName: String
    func run() throws {
        let store = ContainerStore(root: global.stateRoot)
        do {
            try store.rename(try store.find(container).id, to: newName)
        } catch {
            fail((error as? RunError)?.message ?? String(describing: error), code: 1)
        }
    }
}
