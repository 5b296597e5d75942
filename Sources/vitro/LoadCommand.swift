// vitro load: images from a docker-archive (docker save) or an OCI archive, from a file
// or stdin.

import VitroCommandLine
import VitroCommit
import VitroImage

#if canImport(Glibc)
import Glibc
#endif

struct LoadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load",
        abstract: "Load images from a tar archive or STDIN.")

    @OptionGroup var global: GlobalOptions
    @Option("-i", "--input", help: "Read from a tar archive file, instead of STDIN.") var input: String?
    @Flag("-q", "--quiet", help: "Suppress the load output.") var quiet = false

    func run() throws {
        let source: FileSource
        if let input {
            do { source = try FileSource(path: input) } catch { fail("load: \(error)") }
        } else {
            guard isatty(0) == 0 else { fail("load: requested load from stdin, but stdin is empty (a terminal); use -i or redirect") }
            source = FileSource(fd: 0, name: "stdin")
        }
        let loaded: [LoadedImage]
        do {
            loaded = try ImageArchive.load(source, name: input ?? "stdin", store: ImageStore(root: global.stateRoot.path))
        } catch {
            fail("load: \(error)")
        }
        guard !quiet else { return }
        for image in loaded {
            if image.names.isEmpty { print("Loaded image ID: \(image.id)") }
            for n in image.names { print("Loaded image: \(n.familiar)") }
        }
    }
}
