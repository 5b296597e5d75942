// Chapter 09: `vitro import`, a tar of a root filesystem (`export`'s, or `tar -c`'s,
// plain, gzip or zstd) as a one-layer image with no base.
//
// The bytes are read once. As they come in they are stored as the layer's blob, as
// given (a gzip tar stays gzip), hashed for its digest; behind that the stream is
// decompressed and hashed again for the diffID; and the tar's entries are unpacked into
// a snapshot draft by chapter 02's unpacker, whose checks refuse what `run` would
// refuse (`../`, absolute names, links through symlinks). The first refused entry stops
// the import, and the staged blob and the draft are removed: nothing is left.

import VitroImage
import VitroLayers
import VitroSys
import VitroTrace

public struct ImportOptions: Sendable {
    /// -c: Dockerfile instructions for the config.
    public var changes: [String] = []
    /// -m: the history entry's comment (default: "Imported from SOURCE").
    public var message: String?
    public var reference: Reference?
    public init() {}
}

public struct ImportResult: Sendable {
    public var imageID: Digest
    public var diffID: Digest
    public var compression: Compression
}

public enum ImageImport {
    /// Imports the tar that `source` gives; `sourceName` is the file name or "-".
    public static func run(_ source: any ByteSource, sourceName: String, store: ImageStore, options: ImportOptions) throws -> ImportResult {
        let instructions = try options.changes.map { c throws(CommitError) in try ConfigInstruction.parse(c) }
        let content = store.content
        return try content.collecting {
            let snapshots = SnapshotStore(root: store.root)
            let draft = try snapshots.draft(name: sourceName)
            let blob = try BlobIngester(store: content)
            var staged: [StagedBlob] = []
            var published = false
            defer {
                if !published {
                    blob.discard()
                    content.discard(staged)
                    snapshots.discard(draft)
                }
            }
            let (plain, compression) = try Compression.decompressing(TeeSource(source, into: blob), name: sourceName)
            let hashing = HashingSource(plain)
            let reader = TarReader(hashing)
            let unpacker = try LayerUnpacker(into: draft.fs, options: UnpackOptions(traceEntries: false))
            let start = MonotonicClock.now()
            var entries = 0
            while let entry = try reader.next() {
                try LayerNames.check(entry)
                try unpacker.apply(entry, from: reader)
                entries += 1
            }
            try unpacker.finish()
            try reader.drain()
            guard let diffID = hashing.digest else { throw CommitError("\(sourceName): the tar stream did not end") }
            let layer = try blob.stage()
            staged.append(layer)
            Sys.record(
                "diffid", .layer, start: start,
                args: ["source": .string(sourceName), "compression": .string(compression.rawValue), "digest": .string(layer.digest.description),
                    "diff_id": .string(diffID.description), "entries": .int(Int64(entries))],
                why: "the blob is stored as it came and hashed for its digest; decompressed, it is hashed again for the diffID, and its entries are unpacked into the snapshot in the same read",
                shell: nil)

            var run = RunConfig(nil)
            for i in instructions { i.apply(to: &run) }
            let created = WallTime.now().rfc3339
            let config = NewImage.config(
                base: nil, run: run, diffID: diffID,
                step: HistoryStep(created: created, createdBy: "", comment: options.message ?? "Imported from \(sourceName)"),
                author: nil, comment: options.message)
            let configBlob = try BlobIngester.stage(config, in: content)
            staged.append(configBlob)
            let manifest = NewImage.manifest(
                config: Descriptor(mediaType: MediaType.ociConfig, digest: configBlob.digest, size: configBlob.size),
                layers: [Descriptor(mediaType: NewImage.layerType(compression), digest: layer.digest, size: layer.size)])
            let manifestBlob = try BlobIngester.stage(manifest, in: content)
            staged.append(manifestBlob)
            let snapshot = try snapshots.publish(draft, diffID: diffID, parent: nil, name: sourceName)
            try content.publish(staged, durable: snapshot.reused || !ContainerCommit.sameFilesystem(content.ingestDir, snapshots.directory))
            published = true
            try NewImage.record(store, ref: options.reference, manifest: manifestBlob.digest, config: configBlob.digest)
            return ImportResult(imageID: configBlob.digest, diffID: diffID, compression: compression)
        }
    }
}
