// Chapter 02, snapshots: chain IDs, the layout under the state root, reuse by chain ID, the
// diffID check, leaving nothing after a failure, stale temporaries, and the lock
// that keeps two processes from unpacking the same chain at once.

import Foundation
import Testing

@testable import VitroImage
@testable import VitroLayers
import VitroSys

@Suite struct Snapshots {
    static func layer(_ files: [(String, String)]) -> [UInt8] {
        var w = TarWriter()
        for (n, c) in files { w.file(n, c) }
        return w.finished
    }

    @Test func aLayerBecomesASnapshotKeyedByChainID() throws {
        let s = try Scratch()
        let store = SnapshotStore(root: s.dir + "/state")
        let base = Self.layer([("etc/os-release", "ID=test\n")])
        let top = Self.layer([("app", "#!/bin/sh\n")])
        let baseID = Digest.sha256(base), topID = Digest.sha256(top)

        let first = try store.unpack(MemorySource(base), name: "base", diffID: baseID, options: UnpackOptions(preserveOwners: false))
        #expect(first.chainID == baseID && first.diffID == baseID && !first.reused)
        #expect(first.fs == s.dir + "/state/snapshots/\(baseID.hex)/fs")
        #expect(try Sys.readText(first.fs + "/etc/os-release") == "ID=test\n")
        #expect(try Sys.readText(first.directory + "/diffid") == baseID.description + "\n")

        let second = try store.unpack(MemorySource(top), name: "top", parent: first.chainID, diffID: topID, options: UnpackOptions(preserveOwners: false))
        #expect(second.chainID == ChainID.next(parent: baseID, diffID: topID))
        #expect(try Sys.readText(second.directory + "/parent") == baseID.description + "\n")
        #expect(Sys.status(second.fs + "/etc") == nil, "a snapshot holds its own layer only")

        // Asked again, the store reads nothing: a source that fails proves it.
        let again = try store.unpack(FailingSource(), name: "base", diffID: baseID)
        #expect(again.reused && again.directory == first.directory)
        // Only the two snapshots are left: no temporaries, no lock files.
        #expect(Sys.listDirectory(store.directory) == [baseID.hex, second.chainID.hex].sorted())
    }

    @Test func withoutAnExpectedDiffIDItIsComputed() throws {
        let s = try Scratch()
        let store = SnapshotStore(root: s.dir + "/state")
        let tar = Self.layer([("a", "1")])
        let snap = try store.unpack(MemorySource(tar), name: "a", options: UnpackOptions(preserveOwners: false))
        #expect(snap.diffID == Digest.sha256(tar) && snap.chainID == snap.diffID)
        // The same layer again: found under its chain ID, the new copy thrown away.
        let again = try store.unpack(MemorySource(tar), name: "a", options: UnpackOptions(preserveOwners: false))
        #expect(again.reused && Sys.listDirectory(store.directory) == [snap.chainID.hex])
    }

    @Test func aDiffIDMismatchLeavesNothing() throws {
        let s = try Scratch()
        let store = SnapshotStore(root: s.dir + "/state")
        let tar = Self.layer([("a", "1")])
        let claimed = Digest.sha256(Array("something else".utf8))
        #expect {
            try store.unpack(MemorySource(tar), name: "sha256:layer", diffID: claimed, options: UnpackOptions(preserveOwners: false))
        } throws: { e in
            "\(e)" == "unpack: sha256:layer: diffID mismatch: the image says \(claimed), the layer's tar hashes to \(Digest.sha256(tar))"
        }
        #expect(Sys.listDirectory(store.directory).isEmpty)
    }

    @Test func aRefusedLayerLeavesNothing() throws {
        let s = try Scratch()
        let store = SnapshotStore(root: s.dir + "/state")
        var w = TarWriter()
        w.file("fine", "ok")
        w.file("../escape", "no")
        #expect {
            try store.unpack(MemorySource(w.finished), name: "bad", options: UnpackOptions(preserveOwners: false))
        } throws: { e in
            "\(e)".hasPrefix("untar: entry 2 \"../escape\": \"..\" component refused")
        }
        #expect(Sys.listDirectory(store.directory).isEmpty)
    }

    @Test func temporariesOfDeadProcessesAreRemoved() throws {
        let s = try Scratch()
        let store = SnapshotStore(root: s.dir + "/state")
        // A pid above the kernel's largest possible pid (PID_MAX_LIMIT, 4194304)
        // belongs to no process.
        let stale = store.directory + "/tmp-99999999-deadbeef"
        try FileManager.default.createDirectory(atPath: stale + "/fs/usr", withIntermediateDirectories: true)
        let mine = store.directory + "/tmp-\(getpid())-cafe"
        try FileManager.default.createDirectory(atPath: mine, withIntermediateDirectories: true)
        _ = try store.unpack(MemorySource(Self.layer([("a", "1")])), name: "a", options: UnpackOptions(preserveOwners: false))
        #expect(Sys.status(stale) == nil)
        #expect(Sys.status(mine) != nil, "a live process's temporary stays")
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/flock"), "needs flock(1) from util-linux"))
    func aSecondProcessWaitsForTheChainsLock() throws {
        let s = try Scratch()
        let store = SnapshotStore(root: s.dir + "/state")
        let tar = Self.layer([("a", "1")])
        let id = Digest.sha256(tar)
        try FileManager.default.createDirectory(atPath: store.directory, withIntermediateDirectories: true)
        let lock = store.directory + "/\(id.hex).lock"
        let ready = s.dir + "/ready"
        // Another process holds the lock of this chain ID for a while.
        let other = Process()
        other.executableURL = URL(fileURLWithPath: "/usr/bin/flock")
        other.arguments = [lock, "-c", "touch \(ready); sleep 0.5"]
        try other.run()
        while !FileManager.default.fileExists(atPath: ready) { usleep(5000) }
        let start = Date()
        let snap = try store.unpack(MemorySource(tar), name: "a", diffID: id, options: UnpackOptions(preserveOwners: false))
        let waited = Date().timeIntervalSince(start)
        other.waitUntilExit()
        #expect(waited > 0.3, "unpacked after \(waited) s, while the other process held the lock")
        #expect(!snap.reused && Sys.status(lock) == nil)
    }
}

@Suite struct ChainIDs {
    // Three made-up diffIDs (the SHA-256 of "layer a", "layer b", "layer c"); the
    // expected chain IDs were computed with coreutils, independently of vitro:
    //   c1=$(printf 'sha256:<a> sha256:<b>' | sha256sum)
    //   c2=$(printf 'sha256:<c1> sha256:<c>' | sha256sum)
    static let a = Digest.sha256(Array("layer a".utf8))
    static let b = Digest.sha256(Array("layer b".utf8))
    static let c = Digest.sha256(Array("layer c".utf8))

    @Test func theInputsAreWhatTheCommentSays() {
        #expect(Self.a.hex == "8a74c5338f1ca6b4b751802e195c85cd48c6d54e5f38d19a4e5ea902baa60af7")
        #expect(Self.b.hex == "4660645c73f48eb8f67e661ea54842f9fabb1ae261238e0538d1b952b00863f9")
        #expect(Self.c.hex == "63faee8dfdaa1586f6f474a3e8b27d8aeb7ebde13392b7af762889d51793799a")
    }

    @Test func theBaseLayersChainIDIsItsDiffID() {
        #expect(ChainID.next(parent: nil, diffID: Self.a) == Self.a)
    }

    @Test func knownValues() {
        let chain = ChainID.chain([Self.a, Self.b, Self.c])
        #expect(chain.map(\.hex) == [
            "8a74c5338f1ca6b4b751802e195c85cd48c6d54e5f38d19a4e5ea902baa60af7",
            "96097a2f877d2a7d46e93242c3e704909aa0d4486b8e4a03c8d91739d51f35c8",
            "eb60e3bb7bee074fb571fcbd9d3494f1ab5477da651e899915c6ee6bfb985b4f",
        ])
    }
}

/// A source that must not be read.
final class FailingSource: ByteSource {
    struct Read: Error {}
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int { throw Read() }
}
