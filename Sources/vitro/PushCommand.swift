// vitro push: send an image to the registry its name names.

import VitroCommandLine

#if canImport(Glibc)
import Glibc
#endif
import VitroImage
import VitroRegistry
import VitroRuntime

struct PushCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "push",
        abstract: "Upload an image to a registry.",
        discussion: """
            NAME says where the image goes, as with docker: tag it first with the \
            registry's host (vitro tag IMAGE localhost:5000/repo:tag). Credentials come \
            from `vitro login` (Docker's config.json) or --username/--password.
            """)

    @OptionGroup var global: GlobalOptions

    @OptionGroup var registry: RegistryFlags

    /// Blobs bigger than this many bytes go up in chunks of this size (tests, slow
    /// links); the environment's VITRO_PUSH_CHUNK_SIZE is used when it is not given.
    @Option("--chunk-size", help: .hidden)
    var chunkSize: Int?

    @Argument("name", help: "The image to push: NAME[:TAG].")
    var name: String

    func run() throws {
        let ref: Reference
        do { ref = try Reference.parse(name) } catch { fail("push \(name): \(error)") }
        if ref.digest != nil { fail("push \(name): cannot push a digest reference") }
        var options = PushOptions()
        options.insecureRegistries = registry.insecureRegistry
        options.credentials = registry.credentials("push \(name)")
        if let size = chunkSize ?? getenv("VITRO_PUSH_CHUNK_SIZE").flatMap({ Int(String(cString: $0)) }) {
            guard size > 0 else { fail("push \(name): --chunk-size must be a positive number of bytes") }
            options.chunkSize = size
        }
        let store = ImageStore(root: global.stateRoot.path)
        if !Reference.hasExplicitTagOrDigest(name) { print("Using default tag: \(Reference.defaultTag)") }
        do { _ = try ImagePusher.record(ref.with(tag: ref.tag ?? Reference.defaultTag), in: store) } catch { fail("\(error)") }
        let traced = CommandTrace(path: registry.trace, stage: .push)
        do {
            _ = try ImagePusher(store: store, options: options) { print($0) }.push(ref)
        } catch {
            traced?.finish(error: String(describing: error))
            fail("push \(name): \(error)")
        }
        traced?.finish()
    }
}
