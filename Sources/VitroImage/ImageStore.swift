// Chapter 01: which images vitro has, by name.
//
// The content store holds bytes; the image index says what they are called:
//
//     <root>/images/index.json   {"schema":1,"images":[{"name":"docker.io/library/busybox",
//                                 "tag":"latest","digest":"sha256:…","manifest":"sha256:…",
//                                 "config":"sha256:…","tagged":1714567890}, …]}
//                                 ("local":true marks a name made by `vitro tag`)
//     <root>/images/lock         flock(2)ed while the index is rewritten
//
// One record per name: a repository with a tag, or with no tag when pulled by digest.
// `digest` is what the registry calls the image (the index's digest for a
// multi-platform image: what `docker pull NAME@DIGEST` takes), `manifest` the
// platform's manifest, and `config` the config blob, whose digest is the image's id.
// Readers read the file without a lock (it is only ever replaced whole, by rename);
// writers take the lock, read, change and write it back, so concurrent pulls and tags
// never lose each other's records.

import VitroSys
import VitroTrace

#if canImport(Glibc)
import Glibc
#endif

public struct ImageRecord: Sendable, Equatable {
    /// `docker.io/library/busybox`.
    public var name: String
    public var tag: String?
    public var digest: Digest
    public var manifest: Digest
    /// The image id.
    public var config: Digest
    /// When the tag was set (seconds since the epoch).
    public var tagged: Int64
    /// Made by `vitro tag`, not by a pull: no registry knows this name, so it has no
    /// repository digest to show (`digest` still names the image's top blob).
    public var local: Bool

    public init(name: String, tag: String?, digest: Digest, manifest: Digest, config: Digest, tagged: Int64, local: Bool = false) {
        self.name = name
        self.tag = tag
        self.digest = digest
        self.manifest = manifest
        self.config = config
        self.tagged = tagged
        self.local = local
    }

    public var reference: Reference {
        let domain = name.split(separator: "/", maxSplits: 1).first.map(String.init) ?? ""
        let path = name.split(separator: "/", maxSplits: 1).dropFirst().first.map(String.init) ?? ""
        return Reference(domain: domain, path: path, tag: tag, digest: tag == nil ? digest : nil)
    }

    /// `busybox:latest`, as `RepoTags` shows it; nil for a digest-only record.
    public var repoTag: String? { isDangling ? nil : tag.map { reference.familiarName + ":" + $0 } }
    /// `busybox@sha256:…`, as `RepoDigests` shows it; nil for a name only vitro knows.
    public var repoDigest: String? { local || isDangling ? nil : reference.familiarName + "@" + digest.description }
    /// An image without a name (`docker commit CONTAINER` with no REPO, a load of an
    /// unnamed image): `<none>:<none>` in `images`, reachable by its id. Its record has
    /// an empty name and keeps its blobs from garbage collection.
    public var isDangling: Bool { name.isEmpty }
}

/// An image: one config, and every record that names it.
public struct StoredImage: Sendable {
    public var id: Digest
    public var records: [ImageRecord]
    public var manifest: Manifest
    public var config: ImageConfig
    /// The config blob as stored (for inspect).
    public var configBytes: [UInt8]
    /// Config plus layer blobs, as stored (compressed).
    public var size: Int64
}

public final class ImageStore: Sendable {
    public let root: String
    public let content: ContentStore

    public init(root: String) {
        self.root = root
        content = ContentStore(root: root)
    }

    var dir: String { root + "/images" }
    var indexPath: String { dir + "/index.json" }
    var lockPath: String { dir + "/lock" }

    // MARK: the index

    /// Every record, in the order they were made.
    public func records() throws -> [ImageRecord] {
        guard Sys.fileKind(indexPath) == .regular else { return [] }
        let bytes = try Sys.readFile(indexPath)
        let v: JSONValue
        do { v = try JSONReader.parse(bytes) } catch { throw ImageError("\(indexPath): \(error)") }
        var out: [ImageRecord] = []
        for r in v["images"]?.array ?? [] {
            guard let name = r["name"]?.string, let d = r["digest"]?.string.flatMap(Digest.init),
                let m = r["manifest"]?.string.flatMap(Digest.init), let c = r["config"]?.string.flatMap(Digest.init)
            else { throw ImageError("\(indexPath): a record is incomplete") }
            out.append(ImageRecord(name: name, tag: r["tag"]?.string, digest: d, manifest: m, config: c, tagged: r["tagged"]?.int ?? 0, local: r["local"]?.bool ?? false))
        }
        return out
    }

    /// Changes the index under its lock and writes it back atomically.
    @discardableResult
    public func update<T>(why: String, _ change: (inout [ImageRecord]) throws -> T) throws -> T {
        try ContentStore.makeDirectories(dir, why: "the image index")
        guard let lock = try Sys.lock(lockPath, why: "one writer of the image index at a time") else {
            throw ImageError("\(lockPath): could not be locked")
        }
        defer { Sys.unlock(lock, why: "the image index is written") }
        var list = try records()
        let before = list
        let result = try change(&list)
        if list != before { try Sys.writeFileAtomically(indexPath, Self.encode(list), mode: 0o600, why: why) }
        return result
    }

    static func encode(_ records: [ImageRecord]) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.key("schema"); w.int(1)
        w.key("images")
        w.beginArray()
        for r in records {
            w.beginObject()
            w.key("name"); w.string(r.name)
            if let t = r.tag { w.key("tag"); w.string(t) }
            w.key("digest"); w.string(r.digest.description)
            w.key("manifest"); w.string(r.manifest.description)
            w.key("config"); w.string(r.config.description)
            w.key("tagged"); w.int(r.tagged)
            if r.local { w.key("local"); w.bool(true) }
            w.endObject()
        }
        w.endArray()
        w.endObject()
        return w.bytes + [10]
    }

    /// Adds or replaces the record of the same name and tag (or name and digest). An
    /// image that gets a name is no longer dangling.
    public func record(_ r: ImageRecord) throws {
        try update(why: "record \(r.reference.familiar) in the image index") { list in
            list.removeAll { $0.name == r.name && $0.tag == r.tag && (r.tag != nil || $0.digest == r.digest) }
            if !r.isDangling { list.removeAll { $0.isDangling && $0.config == r.config } }
            list.append(r)
        }
    }

    // MARK: finding images

    /// The records a user's word names: a reference (`busybox`, `busybox:1.36`,
    /// `busybox@sha256:…`) or an image id or a prefix of one (`3f57d9401f8d`,
    /// `sha256:3f57…`), as `docker inspect` and `docker rmi` accept them.
    public func lookup(_ word: String) throws -> [ImageRecord] {
        let all = try records()
        if let ref = try? Reference.parse(word) {
            let found = all.filter { r in
                r.name == ref.name && (ref.digest.map { r.digest == $0 || r.manifest == $0 } ?? (r.tag == ref.tag))
            }
            if !found.isEmpty { return found }
        }
        let hex = word.hasPrefix("sha256:") ? String(word.dropFirst(7)) : word
        guard !hex.isEmpty, hex.count <= 64, hex.utf8.allSatisfy(Reference.isLowerHex) else { return [] }
        let ids = Set(all.map(\.config).filter { $0.hex.hasPrefix(hex) })
        guard ids.count <= 1 else { throw ImageError("\(word): ambiguous image id prefix (matches \(ids.count) images)") }
        return all.filter { ids.contains($0.config) }
    }

    /// The image a word names, with everything known about it.
    public func image(_ word: String) throws -> StoredImage? {
        guard let first = try lookup(word).first else { return nil }
        return try image(id: first.config)
    }

    public func image(id: Digest) throws -> StoredImage? {
        let records = try records().filter { $0.config == id }
        guard let first = records.first else { return nil }
        let manifest = try manifest(first.manifest)
        let configBytes = try content.read(id)
        let config = try ImageConfig.parse(configBytes)
        let size = manifest.layers.reduce(manifest.config.size) { $0 + $1.size }
        return StoredImage(id: id, records: records, manifest: manifest, config: config, configBytes: configBytes, size: size)
    }

    public func manifest(_ digest: Digest) throws -> Manifest {
        guard case .manifest(let m) = try ManifestDocument.parse(try content.read(digest)) else {
            throw ImageError("blob \(digest): not an image manifest")
        }
        return m
    }

    // MARK: removing

    /// Removes records (by name and tag or digest), then collects the blobs no record
    /// reaches any more. Returns the image ids that no longer have any record.
    public func remove(_ victims: [ImageRecord]) throws -> [Digest] {
        let gone: [Digest] = try update(why: "remove a name from the image index") { list in
            list.removeAll { r in victims.contains(r) }
            let left = Set(list.map(\.config))
            var seen: [Digest] = []
            for v in victims where !left.contains(v.config) && !seen.contains(v.config) { seen.append(v.config) }
            return seen
        }
        try collectGarbage()
        return gone
    }

    /// Deletes every blob that no record reaches (its digest, manifest, config and
    /// layers). Waits for pulls in progress: their new blobs are not recorded yet.
    public func collectGarbage() throws {
        guard Sys.isDirectory(content.blobsDir) else { return }
        guard let lock = try Sys.lock(content.collectLock, why: "no pull is storing blobs while unreferenced ones are removed") else { return }
        defer { Sys.unlock(lock, why: "garbage collection is done") }
        var live = Set<Digest>()
        for r in try records() {
            live.formUnion([r.digest, r.manifest, r.config])
            if let m = try? manifest(r.manifest) { live.formUnion(m.layers.map(\.digest)) }
        }
        for d in content.all() where !live.contains(d) { try content.remove(d) }
    }
}
