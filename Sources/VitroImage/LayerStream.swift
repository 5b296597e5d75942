// Chapter 01/02: a layer unpacked while it downloads. The puller writes each layer's
// bytes into its blob file (hashing them) and, when a `LayerStreaming` is attached,
// into a `LayerStream` as well: chapter 02's unpacker reads that stream on a thread of
// its own and fills the layer's snapshot in its temporary directory as the bytes
// arrive, so the layer is read once, from the network, and never again from the store.
//
// The order that keeps nothing unverified visible: the blob is checked against its
// digest and renamed into the store first; only then does its stream end with
// `verified: true`, and only then may the snapshot be renamed into place. A blob that
// fails its digest (or a pull that stops) ends its stream with `verified: false`, and
// the half-made snapshot is removed. The protocols live here, in chapter 01, so the
// puller needs nothing of chapter 02; chapter 02 implements them (LayerStreamUnpacker).

/// Receives one layer's bytes as they download, beside its blob file.
public protocol LayerStream: AnyObject {
    /// The body starts; called again when a retry starts it over, and a stream that
    /// already had bytes then gives up (the layer is unpacked from the store later).
    func begin()
    /// The next bytes of the blob, in order (not yet verified).
    func write(_ chunk: UnsafeRawBufferPointer)
    /// The transfer is over: `verified` is true once the blob matched its digest and
    /// is stored, false when it was discarded. Called once; later calls do nothing.
    func end(verified: Bool)
}

/// Makes the streams for a pull's layers.
public protocol LayerStreaming: AnyObject {
    /// The image's layers, bottom first, with the diffIDs of its config: told once,
    /// before any layer downloads, so that chain IDs can be computed in order.
    func plan(layers: [Descriptor], diffIDs: [Digest])
    /// A stream for a layer about to download, or nil to only store it (its
    /// snapshot exists, or it is not wanted).
    func stream(for layer: Descriptor) -> (any LayerStream)?
    /// Returns once every stream made so far is finished with: its snapshot
    /// published or removed. The puller calls it after the downloads, whatever
    /// their outcome, every stream having been ended.
    func wait()
}
