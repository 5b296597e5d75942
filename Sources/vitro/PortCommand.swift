// vitro port: a container's published ports, printed as `docker port` prints them.
// The network stage writes them to its run-time directory (<run>/containers/ID/ports)
// once the host ports are bound; CONTAINER is a name, an id or a unique id prefix.

import VitroCommandLine
import VitroNetwork
import VitroRuntime
import VitroSys

struct PortCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "port",
        abstract: "List a running container's port mappings, or look up one.",
        helpNames: [.long])

    @OptionGroup var global: GlobalOptions

    @Argument("container", help: "The container's name or id (or a unique prefix of it).")
    var container: String

    @Argument("port", help: "PRIVATE_PORT[/PROTO]")
    var port: String?

    func run() throws {
        let store = ContainerStore(root: global.stateRoot)
        let record: ContainerRecord
        do { record = try store.find(container) } catch { fail(error.message, code: 1) }
        let running = store.liveStatus(record) == .running || store.liveStatus(record) == .paused
        let text = running ? (try? Sys.readText(store.runDir(record.id) + "/ports")) ?? "" : ""
        let mappings = text.split(separator: "\n").compactMap { PortMapping(record: String($0)) }
        do {
            for line in try PortMapping.portCommandLines(mappings, query: port, container: container) { print(line) }
        } catch {
            fail(error.message, code: 1)
        }
    }
}
