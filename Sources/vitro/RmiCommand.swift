// vitro rmi: remove names from the image index, and the images (and blobs) that no name
// refers to any more, as `docker rmi` does.

import VitroCommandLine
import VitroImage
import VitroRuntime

#if canImport(Glibc)
import Glibc
#endif

struct RmiCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rmi",
        abstract: "Remove one or more images.")

    @OptionGroup var global: GlobalOptions

    @Flag("-f", "--force", help: "Remove the image even when it has several names or a container uses it.")
    var force = false

    @Argument("images", help: "Images: names or ids.")
    var images: [String]

    /// The containers (short ids) whose records name an image that resolves to `image`:
    /// `rmi` refuses to remove an image a container uses unless -f is given, as Docker does.
    func containersUsing(_ image: Digest, store: ImageStore) -> [String] {
        ContainerStore(root: global.stateRoot).list().filter { r in
            !r.config.image.isEmpty && (try? store.image(r.config.image))?.id == image
        }.map { String($0.id.prefix(12)) }
    }

    func validate() throws {
        if images.isEmpty { throw ValidationError("\"rmi\" requires at least 1 argument") }
    }

    func run() throws {
        let store = ImageStore(root: global.stateRoot.path)
        var failed = false
        for word in images {
            do {
                try remove(word, store: store)
            } catch {
                writeStderr("vitro: rmi \(word): \(error)\n")
                failed = true
            }
        }
        if failed { Glibc.exit(125) }
    }

    func remove(_ word: String, store: ImageStore) throws {
        let found = try store.lookup(word)
        guard let first = found.first else { throw ImageStoreMessage("No such image: \(word)") }
        let id = first.config
        let all = try store.records().filter { $0.config == id }
        let byName = (try? Reference.parse(word)).map { ref in found.allSatisfy { $0.name == ref.name } } ?? false
        var victims = byName ? found : all
        if !byName, !force, Set(all.filter { $0.tag != nil }.map(\.name)).count > 1 {
            throw ImageStoreMessage("conflict: unable to delete \(id.short) (must be forced) - image is referenced in multiple repositories")
        }
        // Removing the last tag removes the image, and with it its digest-only names.
        if !all.contains(where: { $0.tag != nil && !victims.contains($0) }) { victims = all }
        let goesAway = victims.count == all.count
        if goesAway, !force, let c = containersUsing(id, store: store).first {
            throw ImageStoreMessage("conflict: unable to delete \(id.short) (must force) - image is being used by container \(c)")
        }
        let gone = try store.remove(victims)
        for v in victims { if let t = v.repoTag { print("Untagged: " + t) } }
        // A repository digest goes with the image, or with a record that had only it.
        let digests = Set(victims.filter { goesAway || $0.tag == nil }.compactMap(\.repoDigest))
        for d in digests.sorted() { print("Untagged: " + d) }
        for g in gone { print("Deleted: \(g)") }
    }
}

/// A message for the user, printed as it is.
struct ImageStoreMessage: Error, CustomStringConvertible {
    var description: String
    init(_ text: String) { description = text }
}
