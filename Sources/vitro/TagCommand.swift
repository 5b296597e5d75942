// vitro tag: give an image another name. Only the image index changes; no blob is copied.

import VitroCommandLine
import VitroImage
import VitroTrace

struct TagCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tag",
        abstract: "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE.")

    @OptionGroup var global: GlobalOptions

    @Argument("source", help: "SOURCE_IMAGE[:TAG] or image id")
    var source: String

    @Argument("target", help: "TARGET_IMAGE[:TAG]")
    var target: String

    func run() throws {
        let store = ImageStore(root: global.stateRoot.path)
        let dst: Reference
        do { dst = try Reference.parse(target) } catch { fail("tag \(target): \(error)") }
        guard dst.digest == nil else { fail("tag \(target): refusing to create a tag with a digest reference") }
        do {
            guard let src = try store.lookup(source).first else { fail("tag: No such image: \(source)") }
            try store.record(
                ImageRecord(
                    name: dst.name, tag: dst.tag, digest: src.digest, manifest: src.manifest, config: src.config,
                    tagged: Int64(MonotonicClock.wallSeconds()), local: true))
        } catch {
            fail("tag \(source) \(target): \(error)")
        }
    }
}
