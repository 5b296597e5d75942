// vitro diff: what a container added (A), changed (C) and deleted (D), from its overlay
// upper directory, one line each as `docker diff` prints them.

import VitroCommandLine
import VitroCommit
import VitroRuntime

struct DiffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Inspect changes to files or directories on a container's filesystem.",
        discussion: "A: added, C: changed, D: deleted; read from the container's overlay upper directory only.")

    @OptionGroup var global: GlobalOptions
    @Argument("container", help: "Container name or id.") var container: String

    func run() throws {
        let store = ContainerStore(root: global.stateRoot)
        let r: ContainerRecord
        do { r = try store.find(container) } catch { fail(error.message, code: 1) }
        let changes: [Change]
        do { changes = try ContainerCommit.diff(r, containers: store) } catch { fail("diff \(container): \(error)") }
        writeStdout(changes.map { $0.description + "\n" }.joined())
    }
}
