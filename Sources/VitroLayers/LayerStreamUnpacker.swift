// Chapter 02: unpacking a layer while it downloads (the puller's side is
// VitroImage/LayerStream.swift). Before the layers download, `plan` computes each
// layer's chain ID in order (a chain ID needs only the diffIDs below it, which the
// image config lists, not the snapshots below it) and leaves out layers whose
// snapshot exists: those are only stored. For each layer that downloads, `stream`
// starts a thread that runs the ordinary unpack (SnapshotStore.unpack) over a
// ChunkPipe the download writes into:
//
//   HTTP body ─┬─> SHA-256 + blob temp file ─> verify, fsync, rename into blobs/
//              └─> pipe ─> gunzip/unzstd ─> SHA-256 (diffID) ─> tar ─> snapshot tmp-…/fs
//
// The unpack reaches the end of its stream only when the download ends it, and that
// happens after the blob was verified and renamed (or discarded): then the snapshot is
// checked against its diffID and published (syncfs, rename), or removed. So neither
// becomes visible unverified, and a bad blob leaves neither.
//
// A stream that fails for its own reasons (a retry restarted the body, a bad tar,
// a thread that could not be made) publishes nothing; the unpack stage finds no
// snapshot and unpacks the stored blob as before, reporting any error there.

import VitroImage
import VitroTrace

public final class LayerStreamUnpacker: LayerStreaming {
    let snapshots: SnapshotStore
    let options: UnpackOptions
    /// Layers to stream, by blob digest: the snapshot below and the diffID.
    private var planned: [Digest: (parent: Digest?, diffID: Digest)] = [:]
    private var threads: [WorkerThread] = []

    public init(snapshots: SnapshotStore, options: UnpackOptions = UnpackOptions()) {
        self.snapshots = snapshots
        self.options = options
    }

    public func plan(layers: [Descriptor], diffIDs: [Digest]) {
        // Once, here, not on each stream's thread. On failure nothing streams, and the
        // unpack stage meets (and reports) the same error.
        guard (try? snapshots.prepare()) != nil else { return }
        var parent: Digest?
        for (layer, diffID) in zip(layers, diffIDs) {
            let chainID = ChainID.next(parent: parent, diffID: diffID)
            // A blob listed twice is streamed at its first place; the other is
            // unpacked from the store.
            if planned[layer.digest] == nil, snapshots.existing(chainID) == nil {
                planned[layer.digest] = (parent, diffID)
            }
            parent = chainID
        }
    }

    public func stream(for layer: Descriptor) -> (any LayerStream)? {
        guard let (parent, diffID) = planned.removeValue(forKey: layer.digest) else { return nil }
        let stream = PipedLayer()
        let (snapshots, options, name) = (snapshots, options, layer.digest.description)
        guard
            let thread = WorkerThread.start({
                stream.unpack(into: snapshots, name: name, parent: parent, diffID: diffID, options: options)
            })
        else { return nil }
        threads.append(thread)
        return stream
    }

    public func wait() {
        for t in threads { t.join() }
        threads.removeAll()
    }
}

/// One layer's stream: the pipe, and what the download said at its end.
final class PipedLayer: LayerStream, @unchecked Sendable {
    let pipe = ChunkPipe()
    private let monitor = Monitor()
    // Guarded by `monitor`.
    private var verdict: String? = "the download did not finish"
    private var ended = false
    private var restarted = false

    func begin() {
        let restart = monitor.locked { () -> Bool in
            guard pipe.written > 0 else { return false }
            restarted = true
            return true
        }
        // The unpacker has read the first attempt's bytes: it cannot start over.
        if restart { pipe.close() }
    }

    func write(_ chunk: UnsafeRawBufferPointer) {
        if monitor.locked({ restarted }) { return }
        pipe.write(chunk)
    }

    func end(verified: Bool) {
        monitor.locked {
            guard !ended else { return }
            ended = true
            if restarted {
                verdict = "the download was restarted"
            } else {
                verdict = verified ? nil : "the blob was discarded"
            }
        }
        pipe.close()
    }

    /// Runs on the stream's thread.
    func unpack(into snapshots: SnapshotStore, name: String, parent: Digest?, diffID: Digest, options: UnpackOptions) {
        do {
            let snap = try snapshots.unpack(pipe, name: name, parent: parent, diffID: diffID, options: options) {
                // The whole stream was read, so the download has ended (or restarted).
                self.pipe.waitClosed()
                return self.monitor.locked { self.ended ? self.verdict : "the download was restarted" }
            }
            if !snap.reused {
                Tracer.shared.note(
                    "streamed", group: .layer, args: ["layer": .string(name), "chain_id": .string(snap.chainID.description)],
                    why: "the layer was unpacked as it downloaded and published once its blob was verified")
            }
        } catch {
            Tracer.shared.note(
                "streamed", group: .layer, args: ["layer": .string(name), "error": .string(error.description)],
                why: "the layer was not unpacked while it downloaded; the unpack stage unpacks it from the store")
        }
        pipe.stopReading()
    }
}
