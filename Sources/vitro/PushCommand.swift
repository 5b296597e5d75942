// vitro push: send an image to the registry its name names.

import ArgumentParser
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

    @Option(name: .long, help: "Reach this registry (host[:port]) over plain HTTP. Repeatable.")
    var insecureRegistry: [String] = []

    @Option(name: .long, help: "User name for the registry (default: from ~/.docker/config.json).")
    var username: String?

    @Option(name: .long, help: "Password for the registry.")
    var password: String?

    @Option(name: .long, help: "Write the trace (JSON Lines) to this file.")
    var trace: String?

    @Argument(help: "The image to push: NAME[:TAG].")
    var name: String

    func run() throws {
        let ref: Reference
        do { ref = try Reference.parse(name) } catch { fail("push \(name): \(error)") }
        if ref.digest != nil { fail("push \(name): cannot push a digest reference") }
        var options = PushOptions()
        options.insecureRegistries = insecureRegistry
        if username != nil || password != nil {
            guard let username, let password else { fail("push \(name): --username and --password go together") }
            options.credentials = Credentials(username: username, password: password)
        }
        let store = ImageStore(root: global.stateRoot.path)
        if !Reference.hasExplicitTagOrDigest(name) { print("Using default tag: \(Reference.defaultTag)") }
        do { _ = try ImagePusher.record(ref.with(tag: ref.tag ?? Reference.defaultTag), in: store) } catch { fail("\(error)") }
        let traced = CommandTrace(path: trace, stage: .push)
        do {
            _ = try ImagePusher(store: store, options: options) { print($0) }.push(ref)
        } catch {
            traced?.finish(error: String(describing: error))
            fail("push \(name): \(error)")
        }
        traced?.finish()
    }
}
