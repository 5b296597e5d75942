// vitro pull: fetch an image from a registry into the content store.

import VitroCommandLine
import VitroImage
import VitroRuntime

struct PullCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pull",
        abstract: "Download an image from a registry.",
        discussion: """
            NAME is a reference as Docker reads it: busybox, user/repo:tag, \
            host:port/repo@sha256:…. Registries on loopback addresses and localhost, and \
            those named with --insecure-registry, are reached over plain HTTP. Docker \
            Hub's images are asked of each --registry-mirror first (or of the mirrors in \
            $VITRO_REGISTRY_MIRROR, comma-separated), as Docker's registry-mirrors.
            """)

    @OptionGroup var global: GlobalOptions

    @Option("--platform", help: "Platform to pull from a multi-platform image (os/arch[/variant]; default: this machine's).")
    var platform: String?

    @Option("--registry-mirror", help: "Ask this mirror (http[s]://host[:port]) for Docker Hub's images first. Repeatable; default: $VITRO_REGISTRY_MIRROR.")
    var registryMirror: [String] = []

    @OptionGroup var registry: RegistryFlags

    @Argument("name", help: "The image to pull.")
    var name: String

    func run() throws {
        let ref: Reference
        do { ref = try Reference.parse(name) } catch { fail("pull \(name): \(error)") }
        var options = PullOptions()
        if let platform {
            do { options.platform = try Platform.parse(platform) } catch { fail("pull \(name): \(error)") }
        }
        options.insecureRegistries = registry.insecureRegistry
        do { options.registryMirrors = try PullOptions.mirrors(flags: registryMirror) } catch { fail("pull \(name): \(error)") }
        options.credentials = registry.credentials("pull \(name)")
        let progress = PullProgressPrinter()
        if !Reference.hasExplicitTagOrDigest(name) { progress.say("Using default tag: \(Reference.defaultTag)") }
        let traced = CommandTrace(path: registry.trace, stage: .pull)
        let puller = ImagePuller(store: ImageStore(root: global.stateRoot.path), options: options, observer: progress)
        let result: PullResult
        do {
            result = try puller.pull(ref)
        } catch {
            traced?.finish(error: String(describing: error))
            fail("pull \(name): \(error)")
        }
        traced?.finish()
        print("Digest: \(result.record.digest)")
        print("Status: " + (result.downloaded ? "Downloaded newer image for " : "Image is up to date for ") + ref.familiar)
        print(ref.description)
    }
}
