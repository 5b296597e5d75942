// Chapter 09: `vitro commit`, a container's changes as a new image.
//
//   1. find the container, its upper directory and the image it was made from
//   2. parse the -c changes (a bad one stops here, before anything is written)
//   3. freeze the container (-p, the default), so the upper directory holds still
//   4. walk the upper directory once: each entry goes into an uncompressed tar written
//      to the content store's ingest area and hashed as it goes (the diffID), and is
//      unpacked into a snapshot draft in the same pass
//   5. thaw; write the new config (base config + diffID + history + the container's
//      command and environment + -c) and an OCI manifest, both staged
//   6. one syncfs, then the snapshot is published under its chain ID and the blobs
//      under their digests; the image is recorded under REPO:TAG
//
// Only the upper directory is read: the base layers are named by their diffIDs, never
// walked, so a commit costs the same on a base of 1 MB or 1 GB. The layer stays
// uncompressed (as Docker keeps its layers), so no compressor runs here. Anything that
// fails before step 6 removes the staged blobs and the draft: no half image, nothing
// in the blob store that no record names.

import VitroImage
import VitroLayers
import VitroRuntime
import VitroSys
import VitroTrace

#if canImport(Glibc)
import Glibc
#endif

public struct CommitOptions: Sendable {
    /// -m: the history entry's comment.
    public var message: String?
    /// -a.
    public var author: String?
    /// -c: Dockerfile instructions applied to the config.
    public var changes: [String] = []
    /// -p (default true): freeze the container while its upper directory is read.
    public var pause = true
    /// REPO[:TAG]; nil leaves the image without a name (`<none>`), as Docker does.
    public var reference: Reference?
    /// Unpack the layer into a snapshot in the same pass, so the first run of the new
    /// image unpacks nothing.
    public var snapshot = true
    public init() {}
}

public struct CommitResult: Sendable {
    public var imageID: Digest
    public var manifest: Digest
    public var diffID: Digest
    public var layerSize: Int64
    public var summary: LayerSummary
    public var snapshot: Snapshot?
}

public enum ContainerCommit {
    /// The container's overlay directories and the image below them.
    public struct Layers {
        public var upper: String
        public var base: StoredImage
        /// The base image's snapshots, lowest first (some may not be unpacked).
        public var lower: [String]
        public var baseChainID: Digest?
    }

    /// Where a container's changes are, and what they are changes to.
    public static func layers(of r: ContainerRecord, containers: ContainerStore) throws -> Layers {
        let upper = containers.dir(r.id) + "/upper"
        guard !r.config.image.isEmpty, r.config.image != BuiltinImage.name, Sys.isDirectory(upper) else {
            let what = r.config.image == BuiltinImage.name || r.config.image.isEmpty ? "the built-in image's directory or a --rootfs directory" : "no overlay yet (it never started)"
            throw CommitError("container \(r.id.prefix(12)) has no layer of its own: it runs on \(what), not on an image from the store")
        }
        let images = ImageStore(root: containers.root.path)
        let base: StoredImage?
        if let id = Digest(r.config.imageID) {
            base = try images.image(id: id)
        } else {
            base = try images.image(r.config.image)
        }
        guard let base else {
            throw CommitError("container \(r.id.prefix(12)): its image \(r.config.imageID.isEmpty ? r.config.image : r.config.imageID) is no longer in the store")
        }
        let snapshots = SnapshotStore(root: containers.root.path)
        let chain = ChainID.chain(base.config.diffIDs)
        return Layers(upper: upper, base: base, lower: chain.map { snapshots.path(of: $0) + "/fs" }, baseChainID: chain.last)
    }

    /// `vitro diff`: what the container added, changed and deleted.
    public static func diff(_ r: ContainerRecord, containers: ContainerStore) throws -> [Change] {
        let l = try layers(of: r, containers: containers)
        return try ContainerChanges.diff(upper: l.upper, lower: LowerView(topFirst: l.lower.reversed()))
    }

    public static func commit(_ r: ContainerRecord, containers: ContainerStore, options: CommitOptions) throws -> CommitResult {
        let l = try layers(of: r, containers: containers)
        let instructions = try options.changes.map { c throws(CommitError) in try ConfigInstruction.parse(c) }
        let images = ImageStore(root: containers.root.path)
        let content = images.content
        Tracer.shared.note(
            "upper", group: .layer,
            args: ["container": .string(r.id), "upper": .string(l.upper), "base": .string(l.base.id.description), "base_layers": .int(Int64(l.lower.count))],
            why: "everything the container wrote is in its overlay upper directory; only that directory is walked, the image's layers are named by their diffIDs")

        // Freeze a running container for the walk (thawed whatever happens).
        var frozen = false
        if options.pause, containers.liveStatus(r) == .running {
            try ContainerStats.setPaused(containers, r, true)
            frozen = true
        }
        var thawed = false
        func thaw() throws {
            guard frozen, !thawed else { return }
            thawed = true
            if let now = containers.load(r.id) { try ContainerStats.setPaused(containers, now, false) }
        }
        defer { try? thaw() }

        return try content.collecting {
            let snapshots = SnapshotStore(root: containers.root.path)
            let draft = options.snapshot ? try snapshots.draft(name: "commit of \(r.id.prefix(12))") : nil
            var staged: [StagedBlob] = []
            let layer = try BlobIngester(store: content)
            var published = false
            defer {
                if !published {
                    layer.discard()
                    content.discard(staged)
                    if let draft { snapshots.discard(draft) }
                }
            }
            // Step 4: one pass over the upper directory.
            let tar = TarWriter(layer)
            let writer = LayerWriter(root: l.upper, mode: .overlayUpper)
            writer.skip = ContainerChanges.mountPoints(upper: l.upper, lower: LowerView(topFirst: l.lower.reversed()))
            let mirror = try draft.map { d throws(LayerError) in try LayerUnpacker(into: d.fs, options: UnpackOptions(traceEntries: false)) }
            let start = MonotonicClock.now()
            try writer.write(to: tar, mirror: mirror)
            try tar.finish()
            try mirror?.finish()
            writer.recordSummary(what: "the container's upper directory, as one uncompressed tar")
            let blob = try layer.stage()
            staged.append(blob)
            Sys.record(
                "diffid", .layer, start: start,
                args: ["diff_id": .string(blob.digest.description), "bytes": .int(blob.size), "entries": .int(Int64(writer.summary.entries))],
                why: "the tar was hashed as it was written: its SHA-256 is the layer's diffID, and (uncompressed) also its blob digest",
                shell: "tar -c -C UPPER . | sha256sum")
            try thaw()

            // Step 5: config and manifest.
            let created = WallTime.now().rfc3339
            var run = RunConfig(try JSONReader.parse(l.base.configBytes)["config"])
            applyContainer(r, to: &run, base: l.base.config)
            for i in instructions { i.apply(to: &run) }
            let config = NewImage.config(
                base: try JSONReader.parse(l.base.configBytes), run: run, diffID: blob.digest,
                step: HistoryStep(created: created, createdBy: r.config.argv.joined(separator: " "), author: options.author, comment: options.message),
                author: options.author, comment: options.message, container: r.id)
            let configBlob = try BlobIngester.stage(config, in: content)
            staged.append(configBlob)
            var layers = l.base.manifest.layers.map { d in
                Descriptor(mediaType: NewImage.ociLayerType(d.mediaType), digest: d.digest, size: d.size)
            }
            layers.append(Descriptor(mediaType: MediaType.ociLayer, digest: blob.digest, size: blob.size))
            let manifest = NewImage.manifest(
                config: Descriptor(mediaType: MediaType.ociConfig, digest: configBlob.digest, size: configBlob.size), layers: layers)
            let manifestBlob = try BlobIngester.stage(manifest, in: content)
            staged.append(manifestBlob)
            Tracer.shared.note(
                "image", group: .layer,
                args: ["config": .string(configBlob.digest.description), "manifest": .string(manifestBlob.digest.description), "layers": .int(Int64(layers.count))],
                why: "the new config is the base's with the diffID appended and a history entry; its digest is the new image's id")

            // Step 6: durable, then named.
            var snapshot: Snapshot?
            if let draft {
                // The snapshot's syncfs flushes the staged blobs too (the same filesystem).
                snapshot = try snapshots.publish(draft, diffID: blob.digest, parent: l.baseChainID, name: "commit of \(r.id.prefix(12))")
            }
            // A snapshot that was there already was not flushed now: then the blobs need their own.
            let flushed = snapshot.map { !$0.reused } ?? false
            try content.publish(staged, durable: !flushed || !sameFilesystem(content.ingestDir, snapshots.directory))
            published = true
            try NewImage.record(images, ref: options.reference, manifest: manifestBlob.digest, config: configBlob.digest)
            return CommitResult(
                imageID: configBlob.digest, manifest: manifestBlob.digest, diffID: blob.digest, layerSize: blob.size,
                summary: writer.summary, snapshot: snapshot)
        }
    }

    /// The container's command, environment and directory become the image's, as
    /// `docker commit` makes them: Cmd is what ran after the image's Entrypoint, and
    /// the variables vitro adds to every container (HOSTNAME, HOME) stay out.
    static func applyContainer(_ r: ContainerRecord, to run: inout RunConfig, base: ImageConfig) {
        let entrypoint = base.entrypoint ?? []
        var argv = r.config.argv
        if !entrypoint.isEmpty, argv.starts(with: entrypoint) { argv.removeFirst(entrypoint.count) }
        if !argv.isEmpty { run.setStrings("Cmd", argv) }
        let baseHasHome = base.env.contains { $0.hasPrefix("HOME=") }
        let env = r.config.env.filter { !$0.hasPrefix("HOSTNAME=") && (baseHasHome || $0 != "HOME=/root") }
        if !env.isEmpty { run.setStrings("Env", env) }
        if !(r.config.workdir == "/" && base.workingDir.isEmpty) { run["WorkingDir"] = .string(r.config.workdir) }
    }

    static func sameFilesystem(_ a: String, _ b: String) -> Bool {
        guard let x = Sys.status(a), let y = Sys.status(b) else { return false }
        return x.device == y.device
    }
}
