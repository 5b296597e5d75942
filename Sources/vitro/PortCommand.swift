// vitro port: a running container's published ports, printed as `docker port` prints
// them. Containers have no records yet (chapter 08); a running container's state
// directory (containers/ID/) holds its `ports` file, and CONTAINER is its id or a
// prefix of it (the hostname is the first 12 characters).

import ArgumentParser
import VitroNetwork
import VitroRuntime
import VitroSys

struct PortCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "port",
        abstract: "List a running container's port mappings, or look up one.",
        helpNames: [.long])

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The container's id (or a unique prefix of it).")
    var container: String

    @Argument(help: "PRIVATE_PORT[/PROTO]")
    var port: String?

    func run() throws {
        let dir = global.stateRoot.path + "/containers"
        let matches = Sys.listDirectory(dir).filter { $0.hasPrefix(container) }
        guard !container.isEmpty, !matches.isEmpty else { fail("No such container: \(container)", code: 1) }
        guard matches.count == 1 else { fail("\(container): more than one container has an id that starts so; give more of it", code: 1) }
        let text = (try? Sys.readText(dir + "/" + matches[0] + "/ports")) ?? ""
        let mappings = text.split(separator: "\n").compactMap { PortMapping(record: String($0)) }
        do {
            for line in try PortMapping.portCommandLines(mappings, query: port, container: container) { print(line) }
        } catch {
            fail(error.message, code: 1)
        }
    }
}
