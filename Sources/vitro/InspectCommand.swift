// vitro inspect: a container's record as the Docker-compatible JSON people template on.

import ArgumentParser
import VitroRuntime
import VitroTrace

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "inspect", abstract: "Return low-level information on containers.")
    @OptionGroup var global: GlobalOptions
    @Option(name: [.customShort("f"), .long], help: "Format the output using a Go template.") var format: String?
    @Argument(help: "Containers.") var names: [String]

    func run() throws {
        let store = ContainerStore(root: global.stateRoot)
        var docs: [JSONValue] = []
        var failed = false
        for ref in names {
            do {
                docs.append(ContainerInspect.json(try store.find(ref), store: store))
            } catch {
                writeStderr("vitro: \(error.message)\n")
                failed = true
            }
        }
        if let format {
            for d in docs {
                do { writeStdout(try GoTemplate.render(format, d) + "\n") } catch { fail(String(describing: error), code: 1) }
            }
        } else {
            writeStdout(ContainerInspect.pretty(.array(docs)) + "\n")
        }
        if failed { throw ExitCode(1) }
    }
}
