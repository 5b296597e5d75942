// vitro history: how an image was built, newest step first, from its config's history.

import VitroCommandLine
import VitroImage
import VitroTrace

struct HistoryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "Show the history of an image.",
        discussion: "SIZE is the size of the step's layer blob as stored (compressed).")

    @OptionGroup var global: GlobalOptions

    @Flag("--no-trunc", help: "Do not truncate the CREATED BY column.")
    var noTrunc = false

    @Flag("-q", "--quiet", help: "Only show image ids.")
    var quiet = false

    @Argument("image", help: "Image name or id.")
    var image: String

    func run() throws {
        let store = ImageStore(root: global.stateRoot.path)
        let found: StoredImage?
        do { found = try store.image(image) } catch { fail("history \(image): \(error)") }
        guard let img = found else { fail("history \(image): No such image") }
        if quiet {
            print(img.id.short)
            return
        }
        // Each step that made a layer owns the next layer of the manifest, in order.
        var steps: [(ImageConfig.HistoryEntry, Int64)] = []
        var layers = img.manifest.layers.makeIterator()
        var history = img.config.history
        if history.isEmpty {
            history = img.manifest.layers.map { _ in ImageConfig.HistoryEntry(created: img.config.created) }
        }
        for h in history { steps.append((h, h.emptyLayer ? 0 : layers.next()?.size ?? 0)) }
        let now = Int64(MonotonicClock.wallSeconds())
        var table = TextTable(header: ["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"])
        for (i, (h, size)) in steps.reversed().enumerated() {
            var by = (h.createdBy ?? "").replacingTabsAndNewlines
            if !noTrunc, by.count > 45 { by = String(by.prefix(44)) + "…" }
            table.add([i == 0 ? img.id.short : "<missing>", Human.age(h.created, now: now), by, Human.size(size), h.comment ?? ""])
        }
        print(table.text, terminator: "")
    }
}

extension String {
    var replacingTabsAndNewlines: String {
        String(map { $0 == "\t" || $0 == "\n" ? " " : $0 })
    }
}
