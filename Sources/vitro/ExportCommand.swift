// vitro export: a container's whole filesystem (image and changes, merged) as one tar.

import VitroCommandLine
import VitroCommit
import VitroRuntime

#if canImport(Glibc)
import Glibc
#endif

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export a container's filesystem as a tar archive.")

    @OptionGroup var global: GlobalOptions
    @Option("-o", "--output", help: "Write to a file, instead of STDOUT.") var output: String?
    @Argument("container", help: "Container name or id.") var container: String

    func run() throws {
        let store = ContainerStore(root: global.stateRoot)
        let r: ContainerRecord
        do { r = try store.find(container) } catch { fail(error.message, code: 1) }
        do {
            try OutputFile.write(to: output, what: "export") { sink in
                _ = try ContainerExport.export(r, containers: store, to: sink)
            }
        } catch {
            fail("export \(container): \(error)")
        }
    }
}
