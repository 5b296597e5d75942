// Chapter 09: storing a blob whose digest nobody knows yet. A pull knows each blob's
// digest before the first byte arrives (the manifest says it) and checks it at the end
// (BlobWriter, chapter 01). A blob vitro *makes* — a committed layer, a config, a
// manifest, a layer read from an archive — is named by its bytes only once the last
// byte is written. So the ingester writes to a temporary file of its own in the
// store's ingest area, hashing as it writes (big chunks on a second thread while the
// first writes them: HashThread), and learns the name at the end:
//
//     <root>/ingest/put-<pid>-<n>.partial   written and hashed in one pass
//     <root>/blobs/sha256/<digest>          renamed there when published
//
// Publishing is separate (`ContentStore.publish`), so that everything one command
// made is flushed with one syncfs(2) and then renamed, instead of one fsync per blob:
// a commit makes three blobs, and each fsync costs milliseconds. A blob that is
// already stored is not replaced; its copy is removed. `discard` removes the
// temporary file, so a failure leaves nothing in the store; a temporary file left by
// a process that died is removed by the next ingester.

import Synchronization
import VitroImage
import VitroSys
import VitroTrace

#if canImport(Glibc)
import Glibc
#endif

/// A blob written to the ingest area and hashed, not yet under its name.
public struct StagedBlob: Sendable {
    public let temporary: String
    public let digest: Digest
    public let size: Int64
}

public final class BlobIngester: ByteSink {
    /// Names temporary files uniquely within this process (the pid makes them unique
    /// between processes), and the same in every run: traces compare across runs.
    static let sequence = Atomic<Int>(0)

    public let store: ContentStore
    public let temporary: String
    private var fd: Int32
    /// Hashes big chunks on a thread of its own while they are written.
    private let hasher = HashThread()
    public private(set) var size: Int64 = 0
    private var staged: StagedBlob?

    /// Opens a new temporary file in the store's ingest area.
    public init(store: ContentStore) throws {
        try store.prepare()
        BlobIngester.removeStale(store)
        self.store = store
        temporary = store.ingestDir + "/put-\(getpid())-\(BlobIngester.sequence.add(1, ordering: .relaxed).newValue).partial"
        fd = try Sys.open(
            temporary, flags: O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode: 0o600, trace: false)
    }

    deinit {
        if fd >= 0 { Sys.close(fd) }
    }

    public func write(_ chunk: UnsafeRawBufferPointer) throws {
        guard fd >= 0 else { throw CommitError("blob \(temporary): written after it was finished") }
        size += Int64(chunk.count)
        try hasher.update(chunk) { try Sys.writeChunk(fd, chunk, path: temporary) }
    }

    /// Closes the file; the digest is known from here on.
    public func finish() throws {
        guard staged == nil else { return }
        guard let digest = hasher.finish() else { throw CommitError("blob \(temporary): finished twice") }
        Sys.close(fd)
        fd = -1
        staged = StagedBlob(temporary: temporary, digest: digest, size: size)
    }

    /// The finished blob (finishing it if needed).
    public func stage() throws -> StagedBlob {
        try finish()
        guard let staged else { throw CommitError("blob \(temporary): not finished") }
        return staged
    }

    /// Removes the temporary file: nothing half-written stays in the store.
    public func discard() {
        _ = hasher.finish()
        if fd >= 0 {
            Sys.close(fd)
            fd = -1
        }
        if Sys.fileKind(temporary) != .missing {
            try? Sys.unlink(temporary, group: .layer, why: "leave no partial blob behind")
        }
    }

    /// Stores small bytes (a config, a manifest) as a staged blob.
    public static func stage(_ bytes: [UInt8], in store: ContentStore) throws -> StagedBlob {
        let w = try BlobIngester(store: store)
        do {
            try w.write(bytes)
            return try w.stage()
        } catch {
            w.discard()
            throw error
        }
    }

    /// Removes ingest files of vitro processes that no longer run.
    static func removeStale(_ store: ContentStore) {
        for name in Sys.listDirectory(store.ingestDir) where name.hasPrefix("put-") {
            let pid = name.dropFirst(4).prefix { $0 != "-" }
            guard let n = Int32(pid), n != getpid(), !Sys.isDirectory("/proc/\(n)") else { continue }
            try? Sys.unlink(store.ingestDir + "/" + name, group: .layer, why: "left by vitro process \(n), which no longer runs")
        }
    }
}

extension ContentStore {
    /// Gives staged blobs their names: one syncfs(2) makes every byte durable (when
    /// `durable`), then each is renamed into blobs/. A blob already stored is kept.
    public func publish(_ blobs: [StagedBlob], durable: Bool = true) throws {
        guard let first = blobs.first else { return }
        if durable {
            let fd = try Sys.open(ingestDir, flags: O_RDONLY | O_DIRECTORY | O_CLOEXEC, trace: false)
            defer { Sys.close(fd) }
            let bytes = blobs.reduce(Int64(0)) { $0 + $1.size }
            try Sys.syncfs(
                fd, object: first.temporary, trace: true,
                why: "the blobs' \(bytes) bytes reach the disk before any gets its name: one flush for all of them instead of an fsync each")
        }
        for b in blobs {
            if contains(b.digest) {
                try? Sys.unlink(b.temporary, group: .layer, why: "this blob is stored already")
                continue
            }
            try Sys.rename(b.temporary, to: path(of: b.digest), group: .layer, why: "publish the blob under its digest in one step")
        }
    }

    /// Removes staged blobs that will not be published.
    public func discard(_ blobs: [StagedBlob]) {
        for b in blobs where Sys.fileKind(b.temporary) != .missing {
            try? Sys.unlink(b.temporary, group: .layer, why: "leave no partial blob behind")
        }
    }

    /// Runs `body` holding the store's collection lock shared, as a pull does: `rmi`'s
    /// garbage collection waits, so it never removes a blob stored but not yet recorded.
    public func collecting<T>(_ body: () throws -> T) throws -> T {
        try prepare()
        guard let lock = try Sys.lock(collectLock, exclusive: false, group: .layer, why: "keep garbage collection away while blobs are stored but not yet recorded")
        else { throw CommitError("\(collectLock): could not be locked") }
        defer { Sys.unlock(lock, group: .layer, why: "the new blobs are recorded") }
        return try body()
    }
}
