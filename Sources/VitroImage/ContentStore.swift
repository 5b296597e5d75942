// Chapter 01: the content store, where every blob is filed under its own digest.
//
//     <root>/blobs/sha256/<hex>     a manifest, index, config or layer, verified
//     <root>/ingest/<hex>.partial   a blob being downloaded (never read by anyone)
//     <root>/ingest/<hex>.lock      held while one process downloads that blob
//
// A blob's name is the SHA-256 of its bytes, so a file under blobs/ is either the
// right bytes or absent: bytes are hashed as they stream into ingest/, checked against
// the digest and size the manifest promised, fsynced, and only then renamed into
// blobs/ (the same filesystem, so the rename is atomic). The same blob pulled twice,
// or by ten processes at once, is stored once: a process downloads a blob only while
// it holds that blob's lock, and looks again after taking it.

import VitroSys
import VitroTrace

#if canImport(Glibc)
import Glibc
#endif

public struct ContentStore: Sendable {
    /// The state root (`--root`, VITRO_ROOT, /var/lib/vitro).
    public let root: String

    public init(root: String) { self.root = root }

    public var blobsDir: String { root + "/blobs/sha256" }
    public var ingestDir: String { root + "/ingest" }
    /// Held shared by every pull and exclusively by garbage collection, so that `rmi`
    /// never removes a blob a pull has stored but not yet recorded in the image index.
    public var collectLock: String { root + "/blobs/gc.lock" }

    public func path(of digest: Digest) -> String { blobsDir + "/" + digest.hex }

    public func contains(_ digest: Digest) -> Bool { Sys.fileKind(path(of: digest)) == .regular }

    public func size(of digest: Digest) -> Int64? { Sys.fileSize(path(of: digest)) }

    /// Makes the directories (once; later calls find them and do nothing).
    public func prepare() throws(SysError) {
        if Sys.isDirectory(blobsDir), Sys.isDirectory(ingestDir) { return }
        try Self.makeDirectories(blobsDir, why: "the content store: blobs filed by digest")
        try Self.makeDirectories(ingestDir, why: "downloads in progress, on the same filesystem as the blobs")
    }

    /// mkdir -p that two vitro processes may run at once: one that loses the race to
    /// create a directory (EEXIST) looks again and goes on.
    static func makeDirectories(_ path: String, why: String) throws(SysError) {
        var tries = 0
        while true {
            do {
                return try Sys.mkdirAll(path, mode: 0o700, why: why)
            } catch let e where e.errno == EEXIST && tries < 3 {
                tries += 1
            }
        }
    }

    /// Reads a small blob (manifest, config) and checks it still has its digest.
    public func read(_ digest: Digest) throws -> [UInt8] {
        let bytes = try Sys.readFile(path(of: digest))
        let got = Digest.sha256(bytes)
        guard got == digest else { throw ImageError("blob \(digest): content store corrupted (its bytes hash to \(got))") }
        return bytes
    }

    /// Stores bytes already in memory (a manifest) through the same checked path.
    public func write(_ bytes: [UInt8], as descriptor: Descriptor) throws {
        if contains(descriptor.digest) { return }
        // The temporary file is named after the blob, so writers take turns.
        guard let lock = try lock(descriptor.digest, wait: true, why: "one writer per blob: its temporary file is named after it") else { return }
        defer { Sys.unlock(lock, group: .registry, why: "the blob is stored") }
        if contains(descriptor.digest) { return }
        let w = BlobWriter(store: self, descriptor: descriptor)
        do {
            try w.begin()
            try bytes.withUnsafeBytes { try w.write($0) }
            try w.commit()
        } catch {
            w.discard()
            throw error
        }
    }

    /// The download lock of one blob; nil when another process holds it and `wait` is false.
    public func lock(_ digest: Digest, wait: Bool, why: String? = nil) throws(SysError) -> FileLock? {
        try Sys.lock(
            ingestDir + "/" + digest.hex + ".lock", wait: wait, removeOnRelease: true, group: .registry,
            why: why ?? (wait ? "wait for the process that is downloading this blob" : "download this blob in one process only"))
    }

    /// Every blob in the store.
    public func all() -> [Digest] {
        Sys.listDirectory(blobsDir).compactMap { Digest("sha256:" + $0) }
    }

    public func remove(_ digest: Digest) throws(SysError) {
        try Sys.unlink(path(of: digest), why: "no image refers to this blob any more")
    }
}

/// Streams one blob into the store: `begin`, `write`…, then `commit` or `discard`.
/// The caller holds the blob's lock (or the blob is small and written in one go), so
/// `<hex>.partial` belongs to this writer alone; one left by a crashed pull is truncated.
public final class BlobWriter: BodySink {
    public let descriptor: Descriptor
    let store: ContentStore
    let temp: String
    var fd: Int32 = -1
    var hasher: SHA256Hasher?
    public private(set) var written: Int64 = 0
    /// Where the bytes also go as they arrive: the layer's unpacker (LayerStream.swift).
    /// It hears of the digest's verdict only after the blob is renamed into place.
    public var tee: (any LayerStream)?

    public init(store: ContentStore, descriptor: Descriptor) {
        self.store = store
        self.descriptor = descriptor
        temp = store.ingestDir + "/" + descriptor.digest.hex + ".partial"
    }

    deinit { if fd >= 0 { Sys.close(fd) } }

    public func begin() throws {
        if fd < 0 {
            fd = try Sys.open(
                temp, flags: O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode: 0o600,
                why: "receive the blob under a temporary name; no one reads it until it is verified")
        } else {
            try Sys.truncate(fd, path: temp, group: .registry, why: "the download starts over")
        }
        hasher = SHA256Hasher()
        written = 0
        tee?.begin()
    }

    public func write(_ chunk: UnsafeRawBufferPointer) throws {
        written += Int64(chunk.count)
        // Stop as soon as the registry sends more than the manifest promised.
        guard written <= descriptor.size else {
            throw ImageError("blob \(descriptor.digest): size mismatch (got more than the \(descriptor.size) bytes expected)")
        }
        hasher?.update(chunk)
        try Sys.writeChunk(fd, chunk, path: temp)
        tee?.write(chunk)
    }

    /// Checks size and digest, fsyncs and renames the blob into place.
    public func commit() throws {
        if fd < 0 { try begin() }  // an empty body never called begin
        guard written == descriptor.size else {
            throw ImageError("blob \(descriptor.digest): size mismatch (got \(written) bytes, expected \(descriptor.size))")
        }
        let got = hasher.take()?.finish()
        guard got == descriptor.digest else {
            throw ImageError("blob \(descriptor.digest): digest mismatch (got \(got?.description ?? "nothing"))")
        }
        try Sys.fsync(fd, path: temp, bytes: written, group: .registry, why: "the verified bytes reach the disk before the blob gets its name")
        Sys.close(fd)
        fd = -1
        try Sys.rename(temp, to: store.path(of: descriptor.digest), group: .registry, why: "publish the verified blob under its digest in one step")
        // Only now may the snapshot unpacked from these bytes be published.
        tee.take()?.end(verified: true)
    }

    /// Removes the temporary file: nothing half-written stays behind.
    public func discard() {
        // A snapshot unpacked from bytes that were not stored is removed.
        tee.take()?.end(verified: false)
        if fd >= 0 {
            Sys.close(fd)
            fd = -1
        }
        if Sys.fileKind(temp) != .missing {
            try? Sys.unlink(temp, group: .registry, why: "leave no partial blob behind")
        }
    }
}
