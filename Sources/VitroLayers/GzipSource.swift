// gzip decompression as a ByteSource, with zlib's inflate (zlib(3), RFC 1952). It
// pulls compressed bytes from the source below in 64 KiB reads and fills whatever
// buffer its reader offers, so a layer is never held whole.
//
// windowBits 15 + 16 tells inflate to expect a gzip header and trailer (and to check
// the trailer's CRC-32 and length). A gzip file may hold several members one after
// another (`cat a.gz b.gz` is valid gzip, and pigz and some registries write them);
// after one member ends, more input means another member, so inflate is reset and
// continues. Input that ends inside a member is an error, not a short layer.

import CZlib
import VitroImage
import VitroSys

public final class GzipSource: ByteSource {
    private let source: any ByteSource
    private let name: String
    // zlib keeps a pointer back to its z_stream, which therefore must not move.
    private let stream: UnsafeMutablePointer<z_stream>
    private let input: UnsafeMutableRawBufferPointer
    private var inputEnded = false
    private var memberEnded = false
    private var finished = false

    public init(_ source: any ByteSource, name: String = "layer") throws(LayerError) {
        guard czlib_load() != 0 else { throw LayerError("load", CZLIB_SONAME, Sys.libraryLoadError) }
        self.source = source
        self.name = name
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        input = .allocate(byteCount: 64 * 1024, alignment: 16)
        // inflateInit2 is a macro around inflateInit2_, which checks that the caller
        // was built against a compatible zlib and agrees on the struct's size.
        let r = czlib_inflateInit2_(stream, 15 + 16, czlib_zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard r == Z_OK else {
            stream.deallocate()
            input.deallocate()
            throw LayerError("gzip", name, "inflateInit2 failed (\(r))")
        }
    }

    deinit {
        czlib_inflateEnd(stream)
        stream.deallocate()
        input.deallocate()
    }

    public func read(into out: UnsafeMutableRawBufferPointer) throws -> Int {
        guard !finished, out.count > 0, let base = out.baseAddress else { return 0 }
        let capacity = UInt32(clamping: out.count)
        stream.pointee.next_out = base.assumingMemoryBound(to: Bytef.self)
        stream.pointee.avail_out = capacity
        while stream.pointee.avail_out == capacity {
            if stream.pointee.avail_in == 0 {
                if inputEnded {
                    guard memberEnded else { throw LayerError("gzip", name, "unexpected end of compressed data") }
                    finished = true
                    return 0
                }
                let n = try source.read(into: input)
                if n == 0 {
                    inputEnded = true
                    continue
                }
                stream.pointee.next_in = input.baseAddress?.assumingMemoryBound(to: Bytef.self)
                stream.pointee.avail_in = UInt32(n)
            }
            if memberEnded {
                // More bytes after a complete member: the next member of the file.
                czlib_inflateReset(stream)
                memberEnded = false
            }
            let r = czlib_inflate(stream, Z_NO_FLUSH)
            switch r {
            case Z_OK, Z_BUF_ERROR:
                continue
            case Z_STREAM_END:
                memberEnded = true
            default:
                let detail = stream.pointee.msg.map { String(cString: $0) } ?? "inflate error \(r)"
                throw LayerError("gzip", name, detail.prefix(1).lowercased() + detail.dropFirst())
            }
        }
        return Int(capacity - stream.pointee.avail_out)
    }
}
