// vitro save: images as a docker-archive (for `docker load`), an OCI archive or an OCI
// layout directory.

import VitroCommandLine
import VitroCommit
import VitroImage
import VitroLayers
import VitroSys

struct SaveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "save",
        abstract: "Save one or more images to a tar archive (streamed to STDOUT by default).",
        discussion: """
            --format docker (default) writes what `docker load` reads; --format oci an OCI \
            image layout in a tar (skopeo's oci-archive:); --format oci-dir the layout as a \
            directory (-o DIR; umoci and skopeo's oci:). OCI layers are gzip unless \
            --compression says zstd or none.
            """)

    @OptionGroup var global: GlobalOptions
    @Option("-o", "--output", help: "Write to a file (a directory for oci-dir), instead of STDOUT.") var output: String?
    @Option("--format", help: "docker, oci or oci-dir.") var format = "docker"
    @Option("--compression", help: "Layer compression for OCI: gzip, zstd or none.") var compression = "gzip"
    @Option("--level", help: "Compression level (gzip 1-9, zstd 1-19).") var level: Int32?
    @Argument("images", help: "Images: names or ids.") var images: [String] = []

    func validate() throws {
        if images.isEmpty { throw ValidationError("\"save\" requires at least 1 argument") }
    }

    func run() throws {
        var options = SaveOptions()
        guard let f = ArchiveFormat(rawValue: format) else { fail("save: --format \(format): docker, oci or oci-dir") }
        options.format = f
        switch compression {
        case "gzip": options.compression = .gzip
        case "zstd": options.compression = .zstd
        case "none": options.compression = .none
        default: fail("save: --compression \(compression): gzip, zstd or none")
        }
        options.level = level
        options.workers = 2
        let store = ImageStore(root: global.stateRoot.path)
        do {
            if f == .ociDirectory {
                guard let output else { fail("save: --format oci-dir needs -o DIRECTORY") }
                try saveDirectory(output, store: store, options: options)
            } else {
                try OutputFile.write(to: output, what: "images") { sink in
                    try ImageArchive.save(images, store: store, options: options, to: sink)
                }
            }
        } catch {
            fail("save: \(error)")
        }
    }

    /// An OCI layout in a new (or empty) directory; what was made is removed on failure.
    func saveDirectory(_ dir: String, store: ImageStore, options: SaveOptions) throws {
        let existed = Sys.isDirectory(dir)
        if existed, !Sys.listDirectory(dir).isEmpty { throw CommitError("\(dir): not empty") }
        if !existed { try Sys.mkdir(dir, mode: 0o755, existOK: false, why: "the OCI layout's directory") }
        do {
            try ImageArchive.save(images, store: store, options: options, directory: dir)
        } catch {
            for name in Sys.listDirectory(dir) { try? Sys.removeTree(dir + "/" + name, why: "leave no half-written layout") }
            if !existed { try? Sys.rmdir(dir, why: "leave no half-written layout") }
            throw error
        }
    }
}
