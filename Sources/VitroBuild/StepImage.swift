// Chapter 10: each step's result is an image, as in Docker's classic builder: the next
// step starts from it, and the layer cache names it. A step that changes only the config
// (ENV, CMD, LABEL, …) makes a config with the same diffIDs and a history entry marked
// `empty_layer`; a step that changes files (RUN, ADD, COPY) adds one uncompressed layer,
// written by `write` into a tar that is hashed as it is written (its diffID) and
// unpacked into a snapshot in the same pass, as `commit` does (chapter 09). Blobs are
// staged and published only once everything is written: a failed step leaves nothing
// in the store. Step images are recorded without a name (`<none>`), as Docker keeps its
// intermediate images; the last one gets the -t name.

import VitroCommit
import VitroImage
import VitroLayers
import VitroSys
import VitroTrace

/// The start of a step: the image so far (nil after `FROM scratch`).
public struct StepBase {
    public var image: StoredImage?
    /// Its snapshots' directories, lowest first.
    public var lower: [String]
    public var chainID: Digest?
}

enum StepImage {
    /// The image of `base` plus a config change (and, with `write`, a layer).
    static func make(
        _ base: StepBase, run: RunConfig, step: HistoryStep, author: String?, images: ImageStore,
        layer write: ((TarWriter, LayerUnpacker) throws -> Void)? = nil
    ) throws -> Digest {
        let content = images.content
        return try content.collecting {
            let snapshots = SnapshotStore(root: images.root)
            var staged: [StagedBlob] = []
            var draft: SnapshotStore.Draft?
            var published = false
            var ingester: BlobIngester?
            defer {
                if !published {
                    ingester?.discard()
                    content.discard(staged)
                    if let draft { snapshots.discard(draft) }
                }
            }
            var layers = base.image?.manifest.layers.map { d in
                Descriptor(mediaType: NewImage.ociLayerType(d.mediaType), digest: d.digest, size: d.size)
            } ?? []
            var diffID: Digest?
            if let write {
                let made = try snapshots.draft(name: "build step")
                draft = made
                let blob = try BlobIngester(store: content)
                ingester = blob
                let tar = TarWriter(blob)
                let mirror = try LayerUnpacker(into: made.fs, options: UnpackOptions(traceEntries: false))
                let start = MonotonicClock.now()
                try write(tar, mirror)
                try tar.finish()
                try mirror.finish()
                let layer = try blob.stage()
                staged.append(layer)
                diffID = layer.digest
                layers.append(Descriptor(mediaType: MediaType.ociLayer, digest: layer.digest, size: layer.size))
                Sys.record(
                    "diffid", .layer, start: start,
                    args: ["diff_id": .string(layer.digest.description), "bytes": .int(layer.size)],
                    why: "the step's layer was hashed as it was written: its SHA-256 is the diffID, and (uncompressed) its blob digest",
                    shell: nil)
            }
            let baseConfig = try base.image.map { try JSONReader.parse($0.configBytes) }
            let config = NewImage.config(base: baseConfig, run: run, diffID: diffID, step: step, author: author, comment: nil)
            let configBlob = try BlobIngester.stage(config, in: content)
            staged.append(configBlob)
            let manifest = NewImage.manifest(
                config: Descriptor(mediaType: MediaType.ociConfig, digest: configBlob.digest, size: configBlob.size), layers: layers)
            let manifestBlob = try BlobIngester.stage(manifest, in: content)
            staged.append(manifestBlob)
            var flushed = false
            if let draft, let diffID {
                let snapshot = try snapshots.publish(draft, diffID: diffID, parent: base.chainID, name: "build step")
                flushed = !snapshot.reused
            }
            try content.publish(staged, durable: !flushed || !sameFilesystem(content.ingestDir, snapshots.directory))
            published = true
            try NewImage.record(images, ref: nil, manifest: manifestBlob.digest, config: configBlob.digest)
            Tracer.shared.note(
                "image", group: .layer,
                args: ["config": .string(configBlob.digest.description), "layers": .int(Int64(layers.count)), "empty_layer": .bool(write == nil)],
                why: write == nil
                    ? "a config-only step: the same layers, a new config with a history entry marked empty_layer; its digest is the step's image id"
                    : "the step's layer appended: a new config with its diffID and a history entry; its digest is the step's image id")
            return configBlob.digest
        }
    }

    static func sameFilesystem(_ a: String, _ b: String) -> Bool {
        guard let x = Sys.status(a), let y = Sys.status(b) else { return false }
        return x.device == y.device
    }

    /// The step base for an image: its snapshots, unpacked now when a layer never was
    /// (a pulled image that has not run yet), so that ADD and COPY can look at its files.
    static func base(_ image: StoredImage?, images: ImageStore) throws -> StepBase {
        guard let image else { return StepBase(image: nil, lower: [], chainID: nil) }
        let snapshots = SnapshotStore(root: images.root)
        var parent: Digest?
        var dirs: [String] = []
        for (layer, diffID) in zip(image.manifest.layers, image.config.diffIDs) {
            let chain = ChainID.next(parent: parent, diffID: diffID)
            if let found = snapshots.existing(chain) {
                dirs.append(found.directory + "/fs")
            } else {
                let source = try FileSource(path: images.content.path(of: layer.digest))
                let snap = try snapshots.unpack(source, name: layer.digest.description, parent: parent, diffID: diffID)
                dirs.append(snap.directory + "/fs")
            }
            parent = chain
        }
        return StepBase(image: image, lower: dirs, chainID: parent)
    }
}
