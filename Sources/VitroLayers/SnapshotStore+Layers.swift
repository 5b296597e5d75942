// Chapter 02: an image's layers unpacked side by side. Each layer goes into a
// snapshot directory of its own and holds only its own files, so no layer's unpack
// needs another's result: the chain IDs are computed first, in order, from the
// diffIDs alone, and then each missing snapshot is unpacked on a thread of its own
// (at most `parallel` at once). The overlay needs only all of them done. A failure
// is reported for the lowest layer that failed; the snapshots that did succeed stay
// (they are whole and correct, and the next run reuses them).

import Synchronization
import VitroImage

extension SnapshotStore {
    /// One layer of an image: its blob (a file in the content store) and its diffID.
    public struct LayerSource: Sendable {
        public var name: String
        public var path: String
        public var diffID: Digest

        public init(name: String, path: String, diffID: Digest) {
            self.name = name
            self.path = path
            self.diffID = diffID
        }
    }

    /// Unpacks `layers` (bottom first) and returns their snapshots in the same order.
    public func unpackLayers(_ layers: [LayerSource], parallel: Int = 3, options: UnpackOptions = UnpackOptions()) throws(LayerError)
        -> [Snapshot]
    {
        var below: [Digest?] = []
        var parent: Digest?
        for layer in layers {
            below.append(parent)
            parent = ChainID.next(parent: parent, diffID: layer.diffID)
        }
        let parents = below
        try prepare()
        let shared = SharedProgress()
        let store = self
        let work: @Sendable () -> Void = {
            while true {
                let i = shared.next.add(1, ordering: .relaxed).oldValue
                guard i < layers.count else { return }
                let layer = layers[i]
                let result: Result<Snapshot, LayerError>
                do throws(LayerError) {
                    let source: FileSource
                    do {
                        source = try FileSource(path: layer.path)
                    } catch {
                        throw LayerError("unpack", layer.name, "open the blob \(layer.path): \(error)")
                    }
                    result = .success(
                        try store.unpack(source, name: layer.name, parent: parents[i], diffID: layer.diffID, options: options))
                } catch {
                    result = .failure(error)
                }
                shared.results.withLock { $0[i] = result }
            }
        }
        // This thread is one of the workers.
        var threads: [WorkerThread] = []
        for _ in 1..<max(1, min(parallel, layers.count)) {
            guard let t = WorkerThread.start(work) else { break }
            threads.append(t)
        }
        work()
        for t in threads { t.join() }
        var snapshots: [Snapshot] = []
        let all = shared.results.withLock { $0 }
        for i in layers.indices {
            switch all[i] {
            case .success(let s): snapshots.append(s)
            case .failure(let e): throw e
            case nil: throw LayerError("unpack", layers[i].name, "the layer was not unpacked")
            }
        }
        return snapshots
    }
}

/// What the workers of `unpackLayers` share: the next layer to take, and the results.
private final class SharedProgress: Sendable {
    let next = Atomic<Int>(0)
    let results = Mutex<[Int: Result<Snapshot, LayerError>]>([:])
}
