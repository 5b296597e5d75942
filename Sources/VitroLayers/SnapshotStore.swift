// Unpacked layers on disk, keyed by chain ID: `<root>/snapshots/<chain-id-hex>/fs` holds
// the files of one layer (only that layer's; overlayfs stacks them), with `diffid` and
// `parent` beside it saying what it is. Images that share a base share its snapshots.
//
// A snapshot appears whole or not at all. Each layer is unpacked into a temporary
// directory next to its final place (`tmp-<pid>-<n>`, on the same filesystem),
// checked, flushed with one syncfs(2), and renamed into place: rename(2) is atomic,
// so another process sees no snapshot or a complete one, and a crash leaves only a
// temporary directory that the next run removes (its pid is gone). A layer that fails
// (a bad tar, an unsafe name, a diffID that does not match) leaves nothing.
//
// Two vitro processes that need the same snapshot at once must not both unpack it:
// each takes an flock(2) on `<chain-id-hex>.lock` first, and the second, once it gets
// the lock, finds the snapshot there. The lock file is removed by its holder when it
// is done; a waiter that then gets a lock on the removed file notices (the path no
// longer names the file it locked) and locks again.
//
// The layer is read once: compressed bytes -> decompression -> a SHA-256 of the
// uncompressed stream (the diffID) -> the tar reader -> the unpacker.

#if canImport(Glibc)
import Glibc
#endif

import Synchronization
import VitroImage
import VitroSys
import VitroTrace

/// One unpacked layer in the store.
public struct Snapshot: Sendable, Equatable {
    public var chainID: Digest
    public var diffID: Digest
    /// `<root>/snapshots/<chain-id-hex>`.
    public var directory: String
    /// True when the snapshot was already there and nothing was unpacked.
    public var reused: Bool
    /// What was unpacked (nil when reused).
    public var summary: UnpackSummary?
    public var compression: Compression?

    /// The layer's files: the directory overlayfs uses as a lower directory.
    public var fs: String { directory + "/fs" }
}

public struct SnapshotStore: Sendable {
    /// Numbers temporary directories within this process (the pid tells processes
    /// apart); the same numbers in every run, so traces compare across runs.
    static let sequence = Atomic<Int>(0)

    /// vitro's state root (`/var/lib/vitro`, or `--root`, or VITRO_ROOT).
    public let root: String

    public init(root: String) {
        self.root = root
    }

    public var directory: String { root + "/snapshots" }

    /// Where the snapshot of `chainID` lives (whether or not it exists yet).
    public func path(of chainID: Digest) -> String { directory + "/" + chainID.hex }

    /// Makes the snapshots directory and clears what dead processes left, once, before
    /// layers are unpacked on several threads (which would otherwise race to do it).
    public func prepare() throws(LayerError) {
        do {
            try Sys.mkdirAll(directory, mode: 0o700, group: .layer, why: "unpacked layers (snapshots) live here")
        } catch {
            throw LayerError("unpack", directory, error)
        }
        removeStaleTemporaries()
    }

    /// The snapshot of `chainID`, if it has been unpacked.
    public func existing(_ chainID: Digest) -> Snapshot? {
        let dir = path(of: chainID)
        guard Sys.fileKind(dir + "/fs") == .directory,
            let text = try? Sys.readText(dir + "/diffid"),
            let diffID = Digest(String(text.prefix { $0 != "\n" }))
        else { return nil }
        return Snapshot(chainID: chainID, diffID: diffID, directory: dir, reused: true)
    }

    /// Unpacks one layer on top of the snapshot chain `parent` (nil for the base
    /// layer) and returns its snapshot. `source` gives the layer's bytes as stored
    /// (gzip, zstd or plain tar: the first bytes say which); `name` names the layer in
    /// errors (its digest). With `diffID`, the snapshot is looked up first and the
    /// uncompressed stream must hash to it. `admit`, asked once the layer is unpacked
    /// and its diffID checked, may still refuse it (a streamed layer whose blob failed
    /// its digest, LayerStreamUnpacker): the snapshot is then removed, never published.
    public func unpack(
        _ source: any ByteSource, name: String, parent: Digest? = nil, diffID expected: Digest? = nil,
        options: UnpackOptions = UnpackOptions(), admit: (() -> String?)? = nil
    ) throws(LayerError) -> Snapshot {
        do {
            try Sys.mkdirAll(directory, mode: 0o700, group: .layer, why: "unpacked layers (snapshots) live here")
        } catch {
            throw LayerError("unpack", name, error)
        }
        removeStaleTemporaries()

        if let expected {
            let chainID = ChainID.next(parent: parent, diffID: expected)
            let lock = try Lock(store: self, chainID: chainID)
            defer { lock.release() }
            if let found = existing(chainID) {
                Tracer.shared.note(
                    "snapshot", group: .layer,
                    args: ["chain_id": .string(chainID.description), "path": .string(found.directory), "reused": .bool(true)],
                    why: "a snapshot of this chain ID is already unpacked; images that share layers share their snapshots")
                return found
            }
            let made = try unpackToTemporary(source, name: name, options: options)
            guard made.diffID == expected else {
                remove(made.directory, why: "the layer's diffID does not match: it leaves nothing behind")
                throw LayerError("unpack", name, "diffID mismatch: the image says \(expected), the layer's tar hashes to \(made.diffID)")
            }
            if let refused = admit?() {
                remove(made.directory, why: "the layer's blob was not stored (\(refused)): its snapshot leaves nothing behind")
                throw LayerError("unpack", name, refused)
            }
            return try publish(made, chainID: chainID, parent: parent, name: name)
        }

        let made = try unpackToTemporary(source, name: name, options: options)
        let chainID = ChainID.next(parent: parent, diffID: made.diffID)
        let lock = try Lock(store: self, chainID: chainID)
        defer { lock.release() }
        if let found = existing(chainID) {
            remove(made.directory, why: "another vitro process unpacked the same layer first; keep its snapshot")
            return found
        }
        return try publish(made, chainID: chainID, parent: parent, name: name)
    }

    // MARK: snapshots made elsewhere

    /// A snapshot being filled by its maker rather than unpacked from a blob: `commit`
    /// unpacks the layer it writes into one in the same pass (chapter 09). Fill `fs`
    /// (with a LayerUnpacker), then `publish` it once the diffID is known, or `discard`.
    public struct Draft: Sendable {
        public let directory: String
        public var fs: String { directory + "/fs" }
    }

    /// Starts a draft next to the snapshots (the same filesystem, so publishing is one rename).
    public func draft(name: String) throws(LayerError) -> Draft {
        do {
            try Sys.mkdirAll(directory, mode: 0o700, group: .layer, why: "unpacked layers (snapshots) live here")
        } catch {
            throw LayerError("unpack", name, error)
        }
        removeStaleTemporaries()
        return Draft(directory: try makeTemporary(name: name))
    }

    /// Publishes a filled draft as the snapshot of `diffID` on top of `parent`. When
    /// another process published the same chain ID first, its snapshot is kept and the
    /// draft removed.
    public func publish(_ draft: Draft, diffID: Digest, parent: Digest?, name: String) throws(LayerError) -> Snapshot {
        let chainID = ChainID.next(parent: parent, diffID: diffID)
        let lock: Lock
        do {
            lock = try Lock(store: self, chainID: chainID)
        } catch {
            discard(draft)
            throw error
        }
        defer { lock.release() }
        if let found = existing(chainID) {
            remove(draft.directory, why: "a snapshot of this chain ID exists already; keep it")
            return found
        }
        return try publish(Unpacked(directory: draft.directory, diffID: diffID, summary: UnpackSummary(), compression: .none), chainID: chainID, parent: parent, name: name)
    }

    /// Removes a draft that will not be published.
    public func discard(_ draft: Draft) {
        remove(draft.directory, why: "a snapshot that was not finished leaves nothing behind")
    }

    // MARK: steps

    private struct Unpacked {
        var directory: String
        var diffID: Digest
        var summary: UnpackSummary
        var compression: Compression
    }

    /// A temporary directory next to the snapshots, with an empty `fs` inside.
    private func makeTemporary(name: String) throws(LayerError) -> String {
        let tmp = directory + "/tmp-\(getpid())-\(SnapshotStore.sequence.add(1, ordering: .relaxed).newValue)"
        do {
            try Sys.mkdir(
                tmp, mode: 0o700, existOK: false, group: .layer,
                why: "unpack next to the snapshot's final place, so that publishing it is one rename on the same filesystem")
            try Sys.mkdir(tmp + "/fs", mode: 0o755, existOK: false, group: .layer, why: "the root of the layer's files")
        } catch {
            remove(tmp, why: "a snapshot that could not be started leaves nothing behind")
            throw LayerError("unpack", name, error)
        }
        return tmp
    }

    private func unpackToTemporary(_ source: any ByteSource, name: String, options: UnpackOptions) throws(LayerError)
        -> Unpacked
    {
        let tmp = try makeTemporary(name: name)
        do throws(LayerError) {
            let (plain, compression) = try Compression.decompressing(source, name: name)
            Tracer.shared.note(
                "layer", group: .layer,
                args: ["layer": .string(name), "compression": .string(compression.rawValue), "into": .string(tmp + "/fs")],
                why: "a layer is a tar of the files that changed; the first bytes say how it is compressed (1f 8b gzip, 28 b5 2f fd zstd)")
            let hashing = HashingSource(plain)
            let reader = TarReader(hashing)
            let unpacker = try LayerUnpacker(into: tmp + "/fs", options: options)
            let summary = try unpacker.unpack(reader)
            // The diffID covers the whole uncompressed stream, the zero blocks and
            // padding after the last entry included.
            try reader.drain()
            guard let diffID = hashing.digest else { throw LayerError("unpack", name, "the layer's stream did not end") }
            Tracer.shared.note(
                "diffid", group: .layer,
                args: ["layer": .string(name), "diff_id": .string(diffID.description), "bytes": .int(Int64(hashing.count))],
                why: "the diffID is the SHA-256 of the uncompressed tar, computed while unpacking; the image config lists one per layer")
            return Unpacked(directory: tmp, diffID: diffID, summary: summary, compression: compression)
        } catch {
            remove(tmp, why: "a layer that failed to unpack leaves nothing behind")
            throw error
        }
    }

    private func publish(_ made: Unpacked, chainID: Digest, parent: Digest?, name: String) throws(LayerError) -> Snapshot {
        let final = path(of: chainID)
        do {
            try Sys.writeFile(made.directory + "/diffid", made.diffID.description + "\n", group: .layer, showAll: true, why: "record which layer this snapshot holds")
            if let parent {
                try Sys.writeFile(made.directory + "/parent", parent.description + "\n", group: .layer, showAll: true, why: "record the chain this layer sits on")
            }
            let fd = try Sys.openat(AT_FDCWD, made.directory, flags: O_RDONLY | O_DIRECTORY | O_CLOEXEC, object: made.directory, trace: false)
            defer { Sys.close(fd) }
            try Sys.syncfs(
                fd, object: made.directory,
                why: "the snapshot's files reach the disk before its name appears, so a crash never leaves half a snapshot under a chain ID")
            try Sys.rename(
                made.directory, to: final, group: .layer,
                why: "publish the snapshot under its chain ID; rename is atomic, so others see no snapshot or a whole one")
        } catch {
            remove(made.directory, why: "a snapshot that could not be published leaves nothing behind")
            throw LayerError("unpack", name, error)
        }
        return Snapshot(
            chainID: chainID, diffID: made.diffID, directory: final, reused: false, summary: made.summary,
            compression: made.compression)
    }

    private func remove(_ path: String, why: String) {
        try? Sys.removeTree(path, group: .layer, why: why)
    }

    /// Removes temporary directories of vitro processes that no longer run (a crash or
    /// a kill in the middle of an unpack).
    func removeStaleTemporaries() {
        for name in Sys.listDirectory(directory) where name.hasPrefix("tmp-") {
            let pid = name.dropFirst(4).prefix { $0 != "-" }
            guard let n = Int32(pid), n != getpid(), !Sys.isDirectory("/proc/\(n)") else { continue }
            remove(directory + "/" + name, why: "left by vitro process \(n), which no longer runs")
        }
    }

    /// The per-chain-ID lock (see the top of the file).
    private struct Lock {
        let fd: Int32
        let path: String

        init(store: SnapshotStore, chainID: Digest) throws(LayerError) {
            path = store.directory + "/" + chainID.hex + ".lock"
            while true {
                let fd: Int32
                do {
                    fd = try Sys.openat(
                        AT_FDCWD, path, flags: O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, mode: 0o600, object: path, trace: false)
                    try Sys.lockExclusive(
                        fd, object: path, why: "two vitro processes must not unpack the same layer at once; wait for the other")
                } catch {
                    throw LayerError("unpack", path, error)
                }
                // Holding a lock on a file its last holder already removed protects
                // nothing: lock again unless the path still names this very file.
                if let mine = Sys.status(fd: fd), let now = Sys.status(path), mine.inode == now.inode, mine.device == now.device {
                    self.fd = fd
                    return
                }
                Sys.close(fd)
            }
        }

        /// Removes the lock file, then lets go of the lock (closing drops the flock).
        func release() {
            try? Sys.unlinkat(AT_FDCWD, path, trace: false)
            Sys.close(fd)
        }
    }
}
