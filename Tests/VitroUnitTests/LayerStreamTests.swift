// Chapter 02, one pass: a layer fed to LayerStreamUnpacker chunk by chunk, as the
// puller feeds it while downloading, is published only when its blob is verified;
// refused, restarted or abandoned, it leaves nothing. And the pipe between the two
// threads holds the writer back when it is full.

import Foundation
import Synchronization
import Testing

@testable import VitroImage
@testable import VitroLayers
import VitroSys

@Suite struct LayerStreams {
    static let options = UnpackOptions(preserveOwners: false)

    /// Feeds `bytes` in chunks of 1000 (an HTTP body arrives in pieces) to a stream of
    /// a one-layer image, ends it with `verified`, and waits for the unpacker.
    static func stream(_ store: SnapshotStore, _ bytes: [UInt8], verified: Bool, restart: Bool = false) -> Descriptor {
        let d = Descriptor(mediaType: MediaType.ociLayerGzip, digest: Digest.sha256(bytes), size: Int64(bytes.count))
        let unpacker = LayerStreamUnpacker(snapshots: store, options: options)
        unpacker.plan(layers: [d], diffIDs: [Digest.sha256(bytes)])
        guard let s = unpacker.stream(for: d) else { return d }
        s.begin()
        var i = 0
        while i < bytes.count {
            bytes[i..<min(i + 1000, bytes.count)].withUnsafeBytes { s.write($0) }
            i += 1000
            if restart && i == 2000 { s.begin() }
        }
        s.end(verified: verified)
        unpacker.wait()
        return d
    }

    @Test func aVerifiedStreamBecomesTheSnapshot() throws {
        let s = try Scratch()
        let store = SnapshotStore(root: s.dir + "/state")
        let tar = Snapshots.layer([("etc/os-release", "ID=test\n"), ("big", String(repeating: "x", count: 9000))])
        _ = Self.stream(store, tar, verified: true)
        let snap = try #require(store.existing(Digest.sha256(tar)))
        #expect(try Sys.readText(snap.fs + "/etc/os-release") == "ID=test\n")
        #expect(Sys.fileSize(snap.fs + "/big") == 9000)
        #expect(Sys.listDirectory(store.directory) == [Digest.sha256(tar).hex], "no temporary directory, no lock")
        // Planned again, a layer whose snapshot exists gets no stream: it is only stored.
        let again = LayerStreamUnpacker(snapshots: store, options: Self.options)
        let d = Descriptor(mediaType: MediaType.ociLayerGzip, digest: Digest.sha256(tar), size: Int64(tar.count))
        again.plan(layers: [d], diffIDs: [Digest.sha256(tar)])
        #expect(again.stream(for: d) == nil)
    }

    @Test func aRefusedBlobLeavesNoSnapshot() throws {
        let s = try Scratch()
        let store = SnapshotStore(root: s.dir + "/state")
        let tar = Snapshots.layer([("a", String(repeating: "a", count: 5000))])
        _ = Self.stream(store, tar, verified: false)
        #expect(store.existing(Digest.sha256(tar)) == nil)
        #expect(Sys.listDirectory(store.directory).isEmpty, "no snapshot, no temporary directory, no lock")
    }

    @Test func aRestartedDownloadIsLeftToTheUnpackStage() throws {
        let s = try Scratch()
        let store = SnapshotStore(root: s.dir + "/state")
        let tar = Snapshots.layer([("a", String(repeating: "a", count: 5000))])
        _ = Self.stream(store, tar, verified: true, restart: true)
        #expect(Sys.listDirectory(store.directory).isEmpty)
    }

    @Test func thePipeHoldsTheWriterBackUntilTheReaderReads() throws {
        let pipe = ChunkPipe(limit: 10)
        let chunk = [UInt8](repeating: 7, count: 10)
        chunk.withUnsafeBytes { pipe.write($0) }
        // A second write waits for room: done on a thread, it has not returned yet.
        let box = Box(pipe: pipe)
        let t = try #require(WorkerThread.start {
            [UInt8](repeating: 8, count: 5).withUnsafeBytes { box.pipe.write($0) }
            box.wrote.withLock { $0 = true }
        })
        usleep(50_000)
        #expect(box.wrote.withLock { $0 } == false)
        var buffer = [UInt8](repeating: 0, count: 64)
        #expect(try buffer.withUnsafeMutableBytes { try pipe.read(into: $0) } == 10)
        t.join()
        #expect(box.wrote.withLock { $0 })
        pipe.close()
        #expect(try buffer.withUnsafeMutableBytes { try pipe.read(into: $0) } == 5 && buffer[0] == 8)
        #expect(try buffer.withUnsafeMutableBytes { try pipe.read(into: $0) } == 0, "closed and empty: the end")
    }

    final class Box: Sendable {
        let pipe: ChunkPipe
        let wrote = Mutex(false)
        init(pipe: ChunkPipe) { self.pipe = pipe }
    }
}
