// vitro import: a tar of a root filesystem (plain, gzip or zstd; a file or - for stdin)
// as a one-layer image.

import VitroCommandLine
import VitroCommit
import VitroImage
import VitroRuntime

struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import the contents from a tarball to create a filesystem image.")

    @OptionGroup var global: GlobalOptions
    @Option("-c", "--change", help: "Apply a Dockerfile instruction to the image's config. Repeatable.") var change: [String] = []
    @Option("-m", "--message", help: "Set a commit message for the imported image.") var message: String?
    @Argument("file", help: "A tar file, or - for stdin.") var file: String
    @Argument("repository", help: "REPOSITORY[:TAG] for the new image.") var repository: String?

    func run() throws {
        var options = ImportOptions()
        options.changes = change
        options.message = message
        if let repository {
            do { options.reference = try Reference.parse(repository) } catch { fail("import: invalid reference format: \(repository): \(error)") }
            if options.reference?.digest != nil { fail("import: \(repository): refusing to create a tag with a digest reference") }
        }
        let source: FileSource
        if file == "-" {
            source = FileSource(fd: 0, name: "stdin")
        } else {
            do { source = try FileSource(path: file) } catch { fail("import \(file): \(error)") }
        }
        do {
            let result = try ImageImport.run(source, sourceName: file, store: ImageStore(root: global.stateRoot.path), options: options)
            print(result.imageID.description)
        } catch {
            fail("import \(file): \(error)")
        }
    }
}
