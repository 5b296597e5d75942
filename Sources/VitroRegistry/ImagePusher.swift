// Chapter 11: `docker push`, an image leaving the machine.
//
// A pull took a manifest and its blobs from a registry; a push gives them back in the
// opposite order, because a registry accepts a manifest only once every blob it names
// is there:
//
//     for each layer:  HEAD the blob        already there: "Layer already exists"
//                      else mount it from another repository of the same registry
//                      else POST an upload, PUT the bytes           "Pushed"
//                      (a blob above the chunk size: PATCH chunk by chunk, then PUT)
//     the config:      the same
//     the manifest:    PUT under the tag      "TAG: digest: sha256:… size: N"
//
// The layers go side by side, at most `parallel` at once, each worker thread with a
// registry client (and connection, and token) of its own; the manifest waits for all
// of them, since the registry refuses a manifest naming a blob it lacks.
//
// Layers pulled from a registry are stored as they came (gzip) and go back unchanged, so
// their digests, and the manifest's, stay the same. A layer `vitro commit` made is
// stored uncompressed (chapter 09): it is gzipped on the way out into a temporary blob
// in the store's ingest area, hashed as it is written (its digest is the one the
// manifest must name), uploaded, and removed. Such an image gets a new OCI manifest
// naming the compressed layers; the config, whose diff_ids name the uncompressed tars,
// does not change, nor does the image id.

import Synchronization
import VitroCommit
import VitroImage
import VitroLayers
import VitroSys
import VitroTrace

public struct PushOptions: Sendable {
    public var insecureRegistries: [String] = []
    public var credentials: Credentials?
    public var dockerConfig: String? = DockerConfig.defaultPath
    /// gzip level for layers compressed on the way out (6: what `docker push` uses).
    public var level: Int32 = 6
    /// Blobs bigger than this go up in chunks of this size (PATCH, then PUT); smaller
    /// ones in one PUT. `--chunk-size` (hidden) or VITRO_PUSH_CHUNK_SIZE set it.
    public var chunkSize: Int = 64 << 20
    /// Layers pushed at once (each with its own connection).
    public var parallel = 3
    public init() {}
}

public struct PushResult: Sendable {
    public var digest: Digest
    public var size: Int
    public var tag: String
}

public final class ImagePusher {
    let store: ImageStore
    let options: PushOptions
    /// One progress line (`abc123def456: Pushed`); called from one thread at a time.
    let say: (String) -> Void
    private let sayLock = Mutex(())

    public init(store: ImageStore, options: PushOptions, say: @escaping (String) -> Void) {
        self.store = store
        self.options = options
        self.say = say
    }

    func tell(_ line: String) { sayLock.withLock { _ in say(line) } }

    /// The record `ref` names; Docker's message when there is none.
    public static func record(_ ref: Reference, in store: ImageStore) throws -> ImageRecord {
        guard let r = try store.records().first(where: { $0.name == ref.name && $0.tag == ref.tag }) else {
            throw ImageError("An image does not exist locally with the tag: \(ref.familiarName)")
        }
        return r
    }

    public func push(_ ref: Reference) throws -> PushResult {
        let tag = ref.tag ?? Reference.defaultTag
        let record = try Self.record(ref.with(tag: tag), in: store)
        guard let image = try store.image(id: record.config) else { throw ImageError("image \(record.config): not in the store") }
        let manifestBytes = try store.content.read(record.manifest)
        say("The push refers to repository [\(ref.name.hasPrefix("docker.io/") ? ref.familiarName : ref.name)]")
        let credentials = options.credentials ?? DockerConfig.credentials(for: ref.domain, path: options.dockerConfig)
        let client = RegistryClient(domain: ref.domain, insecureRegistries: options.insecureRegistries, credentials: credentials)
        try client.ping()
        let repo = ref.path

        // Other repositories of this registry that have a layer: where to mount it from.
        var sources: [Digest: String] = [:]
        for r in try store.records() where r.name != ref.name && r.reference.domain == ref.domain && !r.local {
            if let m = try? store.manifest(r.manifest) { for l in m.layers where sources[l.digest] == nil { sources[l.digest] = r.reference.path } }
        }

        let pushed = try pushLayers(image.manifest.layers, ref: ref, first: client, sources: sources)
        let layers = pushed.map(\.descriptor)
        let changed = pushed.contains(where: \.recompressed)
        let configPath = store.content.path(of: image.id)
        let configSize = Int64(image.configBytes.count)
        if try client.hasBlob(repository: repo, digest: image.id) == false {
            try upload(client, repo: repo, digest: image.id, size: configSize, bodyName: "config.json") { try FileSource(path: configPath) }
        }

        var bytes = manifestBytes
        var mediaType = image.manifest.mediaType
        if changed {
            var config = image.manifest.config
            config.mediaType = MediaType.ociConfig
            bytes = NewImage.manifest(config: config, layers: layers)
            mediaType = MediaType.ociManifest
        }
        let digest = try client.putManifest(repository: repo, reference: tag, bytes: bytes, mediaType: mediaType)
        Tracer.shared.note(
            "pushed", group: .registry,
            args: ["image": .string(ref.description), "manifest": .string(digest.description), "layers": .int(Int64(layers.count)), "recompressed": .bool(changed)],
            why: changed ? "a new manifest names the layers as compressed on the way out; the image id (the config) is unchanged"
                : "the manifest as stored: its digest is the same here and in the registry")
        // The registry now knows this name: the digest it gave the image is its repo digest.
        try store.update(why: "record the digest the registry gave the pushed image") { list in
            for i in list.indices where list[i].name == ref.name && list[i].tag == tag {
                list[i].digest = digest
                list[i].local = false
            }
        }
        say("\(tag): digest: \(digest) size: \(bytes.count)")
        return PushResult(digest: digest, size: bytes.count, tag: tag)
    }

    /// One blob: skipped if the repository has it, mounted if another has it, else uploaded.
    func pushBlob(_ client: RegistryClient, repo: String, digest: Digest, size: Int64, path: String, from: String?) throws {
        let short = String(digest.hex.prefix(12))
        if try client.hasBlob(repository: repo, digest: digest) {
            tell("\(short): Layer already exists")
            return
        }
        if let from, try client.mountBlob(repository: repo, digest: digest, from: from) {
            tell("\(short): Mounted from \(from)")
            return
        }
        try upload(client, repo: repo, digest: digest, size: size, bodyName: "layer-\(short)") { try FileSource(path: path) }
        tell("\(short): Pushed")
    }

    /// In one PUT, or in chunks when the blob is bigger than a chunk.
    func upload(_ client: RegistryClient, repo: String, digest: Digest, size: Int64, bodyName: String, open: @escaping () throws -> any ByteSource) throws {
        if size > Int64(options.chunkSize) {
            try client.uploadBlobChunked(repository: repo, digest: digest, size: size, chunkSize: options.chunkSize, bodyName: bodyName, open: open)
        } else {
            try client.uploadBlob(repository: repo, digest: digest, size: size, bodyName: bodyName, open: open)
        }
    }

    /// What became of one layer: the descriptor the manifest names.
    struct PushedLayer: Sendable {
        var descriptor: Descriptor
        /// Gzipped on the way out (it is stored uncompressed here).
        var recompressed: Bool
    }

    /// Pushes the layers, up to `options.parallel` at once; returns them in order. The
    /// calling thread works with `first` (already pinged); each other worker makes
    /// its own client. A failure is reported for the lowest layer that failed.
    func pushLayers(_ layers: [Descriptor], ref: Reference, first: RegistryClient, sources: [Digest: String]) throws -> [PushedLayer] {
        let shared = PushProgress(pusher: self, ref: ref, layers: layers, sources: sources)
        var threads: [WorkerThread] = []
        for _ in 1..<max(1, min(options.parallel, layers.count)) {
            guard let t = WorkerThread.start({ shared.work(client: nil) }) else { break }
            threads.append(t)
        }
        shared.work(client: first)
        for t in threads { t.join() }
        let results = shared.results.withLock { $0 }
        return try layers.indices.map { i in
            switch results[i] {
            case .success(let p): return p
            case .failure(let e): throw e
            case nil: throw ImageError("layer \(layers[i].digest): not pushed")
            }
        }
    }

    /// One layer, on whichever worker took it.
    func pushLayer(_ layer: Descriptor, client: RegistryClient, repo: String, from: String?) throws -> PushedLayer {
        let path = store.content.path(of: layer.digest)
        let source = try FileSource(path: path)
        var prefix = [UInt8](repeating: 0, count: 4)
        let n = try prefix.withUnsafeMutableBytes { try source.read(into: $0) }
        if Compression.detect(Array(prefix.prefix(n))) != .none {
            try pushBlob(client, repo: repo, digest: layer.digest, size: layer.size, path: path, from: from)
            return PushedLayer(descriptor: layer, recompressed: false)
        }
        // Kept uncompressed here: gzip it into a temporary blob, push that.
        let staged = try compress(layer)
        defer { store.content.discard([staged]) }
        try pushBlob(client, repo: repo, digest: staged.digest, size: staged.size, path: staged.temporary, from: nil)
        return PushedLayer(descriptor: Descriptor(mediaType: MediaType.ociLayerGzip, digest: staged.digest, size: staged.size), recompressed: true)
    }

    /// An uncompressed stored layer, gzipped into a temporary blob (checked against its digest).
    func compress(_ layer: Descriptor) throws -> StagedBlob {
        let start = MonotonicClock.now()
        let ingester = try BlobIngester(store: store.content)
        do {
            let check = HashingSink(try GzipSink(ingester, level: options.level))
            let source = try FileSource(path: store.content.path(of: layer.digest))
            var buffer = [UInt8](repeating: 0, count: 1 << 20)
            while true {
                let n = try buffer.withUnsafeMutableBytes { try source.read(into: $0) }
                if n == 0 { break }
                try buffer.withUnsafeBytes { try check.write(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            }
            try check.finish()
            guard check.digest == layer.digest else {
                throw ImageError("layer \(layer.digest): its bytes hash to \(check.digest?.description ?? "?")")
            }
            let staged = try ingester.stage()
            Sys.record(
                "compress", .registry, start: start,
                args: ["layer": .string(layer.digest.description), "digest": .string(staged.digest.description), "bytes": .int(staged.size), "from": .int(layer.size)],
                why: "this layer is kept uncompressed on the machine; it is gzipped as it leaves, and the registry will know it by the digest of the gzip",
                shell: "gzip -c layer.tar > layer.tar.gz")
            return staged
        } catch {
            ingester.discard()
            throw error
        }
    }
}

/// What the push workers share: the next layer to take and each layer's outcome. The
/// pusher's own state is only read by the workers (its progress lines go through
/// `tell`, one at a time).
private final class PushProgress: @unchecked Sendable {
    let pusher: ImagePusher
    let ref: Reference
    let layers: [Descriptor]
    let sources: [Digest: String]
    let next = Atomic<Int>(0)
    let results = Mutex<[Int: Result<ImagePusher.PushedLayer, any Error>]>([:])

    init(pusher: ImagePusher, ref: Reference, layers: [Descriptor], sources: [Digest: String]) {
        self.pusher = pusher
        self.ref = ref
        self.layers = layers
        self.sources = sources
    }

    /// Takes layers until none is left; `client` nil: make one (a thread of its own).
    func work(client given: RegistryClient?) {
        var client = given
        while true {
            let i = next.add(1, ordering: .relaxed).oldValue
            guard i < layers.count else { return }
            let result: Result<ImagePusher.PushedLayer, any Error>
            do {
                let c: RegistryClient
                if let client {
                    c = client
                } else {
                    let credentials = pusher.options.credentials ?? DockerConfig.credentials(for: ref.domain, path: pusher.options.dockerConfig)
                    c = RegistryClient(domain: ref.domain, insecureRegistries: pusher.options.insecureRegistries, credentials: credentials)
                    try c.ping()
                    client = c
                }
                result = .success(try pusher.pushLayer(layers[i], client: c, repo: ref.path, from: sources[layers[i].digest]))
            } catch {
                result = .failure(error)
            }
            results.withLock { $0[i] = result }
            // After a failure this worker stops taking layers; the push fails anyway.
            if case .failure = result { return }
        }
    }
}
