// A pass-through ByteSource that computes the SHA-256 of every byte read through it.
// Put over the decompressed stream, it yields the layer's diffID (the digest of the
// uncompressed tar that the image config lists) in the same pass that unpacks the
// layer, so the layer is never read twice and never held whole.

import VitroImage

public final class HashingSource: ByteSource {
    private let source: any ByteSource
    private var hasher: SHA256Hasher? = SHA256Hasher()
    /// Bytes read so far.
    public private(set) var count: UInt64 = 0
    /// The digest of everything read, once the source below has reported its end.
    public private(set) var digest: Digest?

    public init(_ source: any ByteSource) {
        self.source = source
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = try source.read(into: buffer)
        if n > 0 {
            hasher?.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            count += UInt64(n)
        } else if digest == nil, let h = hasher.take() {
            digest = h.finish()
        }
        return n
    }
}
