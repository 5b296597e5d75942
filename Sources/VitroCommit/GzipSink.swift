// gzip compression as a ByteSink, with zlib's deflate (zlib(3), RFC 1952): the
// counterpart of chapter 02's GzipSource. windowBits 15 + 16 makes deflate write a
// gzip header and trailer (CRC-32 and length), so the output is what `gzip -c` writes
// and what every registry, `docker load` and `skopeo` read. Bytes are compressed as
// they arrive and passed on in 256 KiB pieces.
//
// Level 6 is gzip's and Go's default (what `docker push` uses); 1 is several times
// faster for a slightly bigger blob. zlib's deflate is one thread: a 100 MB layer
// takes seconds, which is why layers are kept uncompressed on the machine and only
// compressed when they leave it.

import CZlib
import VitroLayers
import VitroSys

public final class GzipSink: ByteSink {
    private let next: any ByteSink
    // zlib keeps a pointer back to its z_stream, which therefore must not move.
    private let stream: UnsafeMutablePointer<z_stream>
    private let output: UnsafeMutableRawBufferPointer
    private var finished = false

    public init(_ next: any ByteSink, level: Int32 = 6) throws(LayerError) {
        guard czlib_load() != 0 else { throw LayerError("load", CZLIB_SONAME, Sys.libraryLoadError) }
        self.next = next
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        output = .allocate(byteCount: 256 * 1024, alignment: 16)
        // deflateInit2 is a macro around deflateInit2_, which checks the caller was
        // built against a compatible zlib. memLevel 8 is zlib's default.
        let r = czlib_deflateInit2_(stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, czlib_zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard r == Z_OK else {
            stream.deallocate()
            output.deallocate()
            throw LayerError("gzip", "", "deflateInit2 failed (\(r))")
        }
    }

    deinit {
        czlib_deflateEnd(stream)
        stream.deallocate()
        output.deallocate()
    }

    public func write(_ chunk: UnsafeRawBufferPointer) throws {
        guard let base = chunk.baseAddress, chunk.count > 0 else { return }
        // avail_in is 32 bits: feed very large chunks in pieces.
        var offset = 0
        while offset < chunk.count {
            let n = min(chunk.count - offset, 1 << 30)
            stream.pointee.next_in = UnsafeMutablePointer(mutating: (base + offset).assumingMemoryBound(to: Bytef.self))
            stream.pointee.avail_in = UInt32(n)
            try run(Z_NO_FLUSH)
            offset += n
        }
    }

    public func finish() throws {
        guard !finished else { return }
        finished = true
        stream.pointee.next_in = nil
        stream.pointee.avail_in = 0
        try run(Z_FINISH)
        try next.finish()
    }

    /// Deflates what is in next_in; with Z_FINISH, until the stream ends.
    private func run(_ flush: Int32) throws {
        while true {
            stream.pointee.next_out = output.baseAddress?.assumingMemoryBound(to: Bytef.self)
            stream.pointee.avail_out = UInt32(output.count)
            let r = czlib_deflate(stream, flush)
            guard r == Z_OK || r == Z_STREAM_END || r == Z_BUF_ERROR else {
                throw LayerError("gzip", "", "deflate error \(r)")
            }
            let produced = output.count - Int(stream.pointee.avail_out)
            if produced > 0 { try next.write(UnsafeRawBufferPointer(rebasing: output[0..<produced])) }
            if flush == Z_FINISH {
                if r == Z_STREAM_END { return }
            } else if stream.pointee.avail_in == 0 && stream.pointee.avail_out > 0 {
                return
            }
        }
    }
}
