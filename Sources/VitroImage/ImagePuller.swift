// Chapter 01: a pull, from a name to verified blobs and a record in the image index.
//
//   1. ping the registry and learn how it authenticates
//   2. for a tag vitro already has, HEAD the manifest: same digest and every blob
//      present means the image is up to date and nothing is downloaded
//   3. GET the manifest; if it is an index, choose the platform's manifest and GET it
//   4. store index and manifest, fetch the config, check its diff_ids against the layers
//   5. fetch the layers concurrently, each hashed as it streams into the store
//   6. record name → digests in the image index, under its lock
//
// The puller holds the store's collection lock shared from its first blob to its
// record, so `rmi` never collects a blob it has just stored. Each blob is downloaded
// by one process at a time (ContentStore.lock): a pull that finds a layer's lock taken
// downloads the others first and then waits for it, and usually finds it stored.
// The puller prints nothing: it tells a `PullObserver` (the CLI's progress display).

import VitroSys
import VitroTrace

#if canImport(Glibc)
import Glibc
#endif

public struct PullOptions: Sendable {
    public var platform = Platform.current
    public var insecureRegistries: [String] = []
    /// Overrides the Docker config file.
    public var credentials: Credentials?
    public var dockerConfig: String? = DockerConfig.defaultPath
    /// Docker Hub's images are asked of these first (Docker's `registry-mirrors`):
    /// `http://127.0.0.1:5000`, `https://mirror.example`. The default comes from
    /// `VITRO_REGISTRY_MIRROR` (comma-separated), so a lab can point every `vitro pull
    /// ubuntu` at its own registry once, and the tutorial's commands work unchanged.
    public var registryMirrors: [String] = PullOptions.mirrorsFromEnvironment()
    public init() {}

    public static func mirrorsFromEnvironment() -> [String] {
        guard let v = getenv("VITRO_REGISTRY_MIRROR") else { return [] }
        return String(cString: v).split(separator: ",").map { String($0).trimmingSpaces }.filter { !$0.isEmpty }
    }

    /// `--registry-mirror` values, checked; none given: the environment's.
    public static func mirrors(flags: [String]) throws -> [String] {
        for m in flags { _ = try mirrorEndpoint(m) }
        return flags.isEmpty ? mirrorsFromEnvironment() : flags
    }

    /// A mirror's URL as a registry domain and whether it is spoken to over plain
    /// HTTP. Docker takes only a scheme, host and port (no path).
    public static func mirrorEndpoint(_ url: String) throws -> (domain: String, plain: Bool) {
        var rest = Substring(url)
        let plain: Bool
        if rest.hasPrefix("http://") {
            plain = true
            rest = rest.dropFirst(7)
        } else if rest.hasPrefix("https://") {
            plain = false
            rest = rest.dropFirst(8)
        } else {
            throw ImageError("registry mirror \"\(url)\": not an http:// or https:// URL")
        }
        while rest.hasSuffix("/") { rest = rest.dropLast() }
        guard !rest.isEmpty, !rest.contains("/"), !rest.contains("@"), !rest.contains(" ") else {
            throw ImageError("registry mirror \"\(url)\": give a scheme, host and port only, no path")
        }
        return (String(rest), plain)
    }
}

extension String {
    fileprivate var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}

/// What `docker pull` says about a layer, in order.
public enum LayerState: Sendable, Equatable {
    case pullingFsLayer
    /// Another process is downloading it.
    case waiting
    case downloading(received: Int64, total: Int64)
    case verifying
    case downloadComplete
    case pullComplete
    case alreadyExists
}

public protocol PullObserver: AnyObject {
    /// `latest: Pulling from library/busybox`: the layers are known.
    func pulling(_ ref: Reference, layers: [Descriptor])
    func layer(_ digest: Digest, _ state: LayerState)
    /// Something a person should know but that does not stop the pull.
    func warning(_ text: String)
}

public struct PullResult: Sendable {
    public var record: ImageRecord
    /// False when the image was already here, up to date.
    public var downloaded: Bool
}

public final class ImagePuller {
    public let store: ImageStore
    public let options: PullOptions
    public weak var observer: (any PullObserver)?

    public init(store: ImageStore, options: PullOptions = PullOptions(), observer: (any PullObserver)? = nil) {
        self.store = store
        self.options = options
        self.observer = observer
    }

    var content: ContentStore { store.content }

    /// The registry to pull from, pinged. An image of Docker Hub is asked of each
    /// mirror first; a mirror that does not answer, or lacks the image, is passed over
    /// (as Docker does) and the trace says why.
    func connect(_ ref: Reference) throws -> RegistryClient {
        if ref.domain == Reference.defaultDomain {
            for url in options.registryMirrors {
                let (domain, plain) = try PullOptions.mirrorEndpoint(url)
                let credentials = options.credentials ?? DockerConfig.credentials(for: domain, path: options.dockerConfig)
                let mirror = RegistryClient(
                    domain: domain, insecureRegistries: plain ? [domain] : options.insecureRegistries, credentials: credentials)
                let reference = ref.digest?.description ?? ref.tag ?? Reference.defaultTag
                do {
                    try mirror.ping()
                    if try mirror.headManifest(repository: ref.path, tag: reference) != nil {
                        Tracer.shared.note(
                            "mirror", group: .registry, args: ["mirror": .string(url), "image": .string(ref.familiar)],
                            why: "a registry mirror of Docker Hub has the image: pull it from there")
                        return mirror
                    }
                    Tracer.shared.note(
                        "mirror", group: .registry, args: ["mirror": .string(url), "image": .string(ref.familiar), "error": .string("no such manifest")],
                        why: "the mirror does not have the image; try the next mirror, then Docker Hub")
                } catch {
                    Tracer.shared.note(
                        "mirror", group: .registry, args: ["mirror": .string(url), "error": .string(String(describing: error))],
                        why: "the mirror did not answer as a registry; try the next mirror, then Docker Hub")
                }
            }
        }
        let credentials = options.credentials ?? DockerConfig.credentials(for: ref.domain, path: options.dockerConfig)
        let client = RegistryClient(domain: ref.domain, insecureRegistries: options.insecureRegistries, credentials: credentials)
        try client.ping()
        return client
    }

    public func pull(_ ref: Reference) throws -> PullResult {
        let client = try connect(ref)

        let existing = try store.records().first { $0.name == ref.name && $0.tag == ref.tag && ref.tag != nil }
        if let existing, isComplete(existing), let tag = ref.tag,
            try client.headManifest(repository: ref.path, tag: tag) == existing.digest
        {
            observer?.pulling(ref, layers: [])
            return PullResult(record: existing, downloaded: false)
        }

        // The manifest (or index) for the tag or digest.
        let top = try client.fetchManifest(
            repository: ref.path, reference: ref.digest?.description ?? ref.tag ?? Reference.defaultTag, name: ref.familiar,
            why: "fetch the manifest for \(ref.familiar), accepting Docker and OCI manifests and indexes")
        // Only now, with something to store, does the pull touch the store.
        try content.prepare()
        guard let collecting = try Sys.lock(content.collectLock, exclusive: false, group: .registry, why: "keep garbage collection away while blobs are stored but not yet recorded")
        else { throw ImageError("\(content.collectLock): could not be locked") }
        defer { Sys.unlock(collecting, group: .registry, why: "the pull is recorded") }
        try content.write(top.bytes, as: top.descriptor)
        let manifest: Manifest
        let manifestDigest: Digest
        switch top.document {
        case .manifest(let m):
            manifest = m
            manifestDigest = top.digest
        case .index(let index):
            guard let chosen = options.platform.select(from: index.manifests) else {
                let offered = index.manifests.compactMap { $0.platform?.description }.joined(separator: ", ")
                throw ImageError("no matching manifest for \(options.platform) in the manifest list entries (the image offers \(offered.isEmpty ? "none" : offered))")
            }
            Tracer.shared.note(
                "platform", group: .registry,
                args: ["wanted": .string(options.platform.description), "chosen": .string(chosen.platform?.description ?? ""), "manifest": .string(chosen.digest.description)],
                why: "the index lists one manifest per platform; take the one for this machine (or --platform)")
            let fetched = try client.fetchManifest(
                repository: ref.path, reference: chosen.digest.description, name: ref.familiar, expected: chosen,
                why: "fetch the \(chosen.platform?.description ?? "") manifest the index points at")
            guard case .manifest(let m) = fetched.document else { throw ImageError("manifest \(chosen.digest): an index inside an index is not supported") }
            try content.write(fetched.bytes, as: fetched.descriptor)
            manifest = m
            manifestDigest = fetched.digest
        }

        var layers: [Descriptor] = []
        for l in manifest.layers where !layers.contains(where: { $0.digest == l.digest }) { layers.append(l) }
        observer?.pulling(ref, layers: layers)

        var downloaded = try fetch([manifest.config], client: client, ref: ref, what: "config")
        let config = try ImageConfig.parse(try content.read(manifest.config.digest))
        guard config.diffIDs.count == manifest.layers.count else {
            throw ImageError("image config of \(ref.familiar) lists \(config.diffIDs.count) layers (diff_ids), its manifest \(manifest.layers.count)")
        }
        if case .manifest = top.document, config.platform.os != options.platform.os || config.platform.architecture != options.platform.architecture {
            observer?.warning("The requested image's platform (\(config.platform)) does not match the detected host platform (\(options.platform)) and no specific platform was requested")
        }
        downloaded += try fetch(layers, client: client, ref: ref, what: "layer")

        let now = Int64(MonotonicClock.wallSeconds())
        let record = ImageRecord(name: ref.name, tag: ref.tag, digest: top.digest, manifest: manifestDigest, config: manifest.config.digest, tagged: now)
        let changed = existing.map { $0.digest != record.digest || $0.manifest != record.manifest } ?? true
        try store.record(record)
        return PullResult(record: record, downloaded: downloaded > 0 || changed)
    }

    /// Whether a record's blobs are all stored and it is the one this pull's platform
    /// would choose (a record from an index may be another platform's manifest).
    func isComplete(_ r: ImageRecord) -> Bool {
        guard let manifest = try? store.manifest(r.manifest),
            ([manifest.config] + manifest.layers).allSatisfy({ content.contains($0.digest) })
        else { return false }
        if r.digest == r.manifest { return true }
        guard let top = try? content.read(r.digest), case .index(let index) = try? ManifestDocument.parse(top) else { return false }
        return options.platform.select(from: index.manifests)?.digest == r.manifest
    }

    /// Stores the blobs that are missing; returns how many this process downloaded.
    func fetch(_ blobs: [Descriptor], client: RegistryClient, ref: Reference, what: String) throws -> Int {
        var mine: [(Descriptor, FileLock)] = []
        var others: [Descriptor] = []
        defer { for (_, lock) in mine { Sys.unlock(lock, group: .registry, why: "the blob is stored (or abandoned)") } }
        for d in blobs {
            if content.contains(d.digest) {
                if what == "layer" { observer?.layer(d.digest, .alreadyExists) }
                continue
            }
            guard let lock = try content.lock(d.digest, wait: false) else {
                others.append(d)
                if what == "layer" { observer?.layer(d.digest, .waiting) }
                continue
            }
            if content.contains(d.digest) {  // stored while we looked
                Sys.unlock(lock, group: .registry, why: "another process stored it meanwhile")
                if what == "layer" { observer?.layer(d.digest, .alreadyExists) }
                continue
            }
            mine.append((d, lock))
        }
        try download(mine.map(\.0), client: client, ref: ref, what: what)
        var count = mine.count
        for d in others {
            guard let lock = try content.lock(d.digest, wait: true) else { continue }
            defer { Sys.unlock(lock, group: .registry, why: "the blob is stored (or abandoned)") }
            if content.contains(d.digest) {
                if what == "layer" {
                    observer?.layer(d.digest, .downloadComplete)
                    observer?.layer(d.digest, .pullComplete)
                }
                continue
            }
            try download([d], client: client, ref: ref, what: what)
            count += 1
        }
        return count
    }

    /// Downloads blobs concurrently. Each is verified when its transfer ends; the first
    /// failure stops the others, and every temporary file is removed.
    func download(_ blobs: [Descriptor], client: RegistryClient, ref: Reference, what: String) throws {
        guard !blobs.isEmpty else { return }
        let layer = what == "layer"
        var writers: [BlobWriter] = []
        defer { for w in writers { w.discard() } }
        var exchanges: [HTTPExchange] = []
        for d in blobs {
            let w = BlobWriter(store: content, descriptor: d)
            writers.append(w)
            let x = try client.blobExchange(
                repository: ref.path, writer: w,
                why: "download the \(what) \(d.digest.short) (\(d.size) bytes), hashing it as it arrives")
            x.onFinish = { [weak self] x in
                _ = try RegistryClient.success(x, what: "blob \(d.digest)")
                if layer { self?.observer?.layer(d.digest, .verifying) }
                try w.commit()
                if layer {
                    self?.observer?.layer(d.digest, .downloadComplete)
                    self?.observer?.layer(d.digest, .pullComplete)
                }
            }
            exchanges.append(x)
            if layer { observer?.layer(d.digest, .pullingFsLayer) }
        }
        try client.http.perform(exchanges) {
            guard layer else { return }
            for x in exchanges where !x.finished && x.received > 0 {
                if let w = x.sink as? BlobWriter { observer?.layer(w.descriptor.digest, .downloading(received: x.received, total: w.descriptor.size)) }
            }
        }
    }
}
