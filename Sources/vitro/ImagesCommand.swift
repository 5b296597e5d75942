// vitro images: the images in the store, one row per name, as `docker images` shows them.

import VitroCommandLine
import VitroBuild
import VitroImage
import VitroTrace

struct ImagesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "images",
        abstract: "List images.",
        discussion: "SIZE is the size of the image's blobs as stored (compressed layers and config).")

    @OptionGroup var global: GlobalOptions

    @Flag("-q", "--quiet", help: "Only show image ids.")
    var quiet = false

    @Flag("-a", "--all", help: "Show all images (intermediate images of builds too).")
    var all = false

    @Flag("--digests", help: "Show digests.")
    var digests = false

    @Argument("repository", help: "Only images of this repository (and tag).")
    var repository: String?

    func run() throws {
        let store = ImageStore(root: global.stateRoot.path)
        var records: [ImageRecord]
        do { records = try store.records() } catch { fail("images: \(error)") }
        if let repository {
            guard let want = try? Reference.parse(repository) else { fail("images: \"\(repository)\": invalid reference format") }
            let tagGiven = Reference.hasExplicitTagOrDigest(repository)
            records = records.filter { $0.name == want.name && (!tagGiven || $0.tag == want.tag) }
        }
        // Unnamed images a build step was made on are intermediate (Docker hides them too).
        if !all {
            let intermediate = ImageBuilder.intermediateImages(root: global.stateRoot.path)
            records = records.filter { !($0.isDangling && intermediate.contains($0.config)) }
        }
        // A digest-only record is shown only when the image has no tag in that repository.
        records = records.filter { r in
            r.tag != nil || !records.contains { $0.tag != nil && $0.name == r.name && $0.config == r.config }
        }
        var images: [Digest: StoredImage] = [:]
        for r in records where images[r.config] == nil {
            do { images[r.config] = try store.image(id: r.config) } catch { fail("images: \(r.repoTag ?? r.name): \(error)") }
        }
        let now = Int64(MonotonicClock.wallSeconds())
        func created(_ r: ImageRecord) -> Int64 { images[r.config]?.config.created.flatMap(parseRFC3339) ?? 0 }
        records.sort { a, b in created(a) != created(b) ? created(a) > created(b) : (a.name, a.tag ?? "") < (b.name, b.tag ?? "") }
        if quiet {
            var seen: Set<Digest> = []
            for r in records where seen.insert(r.config).inserted { print(r.config.short) }
            return
        }
        var table = TextTable(header: ["REPOSITORY", "TAG"] + (digests ? ["DIGEST"] : []) + ["IMAGE ID", "CREATED", "SIZE"])
        for r in records {
            let image = images[r.config]
            var row = [r.isDangling ? "<none>" : r.reference.familiarName, r.tag ?? "<none>"]
            if digests { row.append(r.local ? "<none>" : r.digest.description) }
            row += [r.config.short, Human.age(image?.config.created, now: now), Human.size(image?.size ?? 0)]
            table.add(row)
        }
        print(table.text, terminator: "")
    }
}
