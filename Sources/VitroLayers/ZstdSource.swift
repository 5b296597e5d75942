// zstd decompression as a ByteSource, with libzstd's streaming decoder
// (ZSTD_decompressStream; see zstd.h). Like GzipSource it pulls compressed bytes in
// 64 KiB reads and fills the buffer its reader offers, holding no layer whole.
//
// A zstd file may hold several frames one after another; the decoder moves from one to
// the next by itself. ZSTD_decompressStream returns 0 exactly when a frame is fully
// decoded and flushed, so input that ends when the last call did not return 0 was cut
// off. When a call fills the output buffer completely, the decoder may still hold
// decoded bytes, so the next read calls it again before asking for more input.

import CZstd
import VitroImage
import VitroSys

public final class ZstdSource: ByteSource {
    private let source: any ByteSource
    private let name: String
    private let stream: OpaquePointer
    private let input: UnsafeMutableRawBufferPointer
    private var inBuffer = ZSTD_inBuffer(src: nil, size: 0, pos: 0)
    private var inputEnded = false
    private var frameDone = false
    private var pending = false
    private var finished = false

    public init(_ source: any ByteSource, name: String = "layer") throws(LayerError) {
        guard czstd_load() != 0 else { throw LayerError("load", CZSTD_SONAME, Sys.libraryLoadError) }
        guard let s = czstd_ZSTD_createDStream() else { throw LayerError("zstd", name, "cannot allocate a decoder") }
        self.source = source
        self.name = name
        stream = s
        input = .allocate(byteCount: 64 * 1024, alignment: 16)
        let r = czstd_ZSTD_initDStream(stream)
        if czstd_ZSTD_isError(r) != 0 {
            czstd_ZSTD_freeDStream(stream)
            input.deallocate()
            throw LayerError("zstd", name, String(cString: czstd_ZSTD_getErrorName(r)))
        }
    }

    deinit {
        czstd_ZSTD_freeDStream(stream)
        input.deallocate()
    }

    public func read(into out: UnsafeMutableRawBufferPointer) throws -> Int {
        guard !finished, out.count > 0 else { return 0 }
        var outBuffer = ZSTD_outBuffer(dst: out.baseAddress, size: out.count, pos: 0)
        while true {
            if inBuffer.pos == inBuffer.size && !pending && !inputEnded {
                let n = try source.read(into: input)
                if n == 0 {
                    inputEnded = true
                } else {
                    inBuffer = ZSTD_inBuffer(src: UnsafeRawPointer(input.baseAddress), size: n, pos: 0)
                }
            }
            if inBuffer.pos == inBuffer.size && !pending && inputEnded {
                guard frameDone else { throw LayerError("zstd", name, "unexpected end of compressed data") }
                finished = true
                return 0
            }
            let (inBefore, outBefore) = (inBuffer.pos, outBuffer.pos)
            let r = czstd_ZSTD_decompressStream(stream, &outBuffer, &inBuffer)
            if czstd_ZSTD_isError(r) != 0 {
                let text = String(cString: czstd_ZSTD_getErrorName(r))
                throw LayerError("zstd", name, text.prefix(1).lowercased() + text.dropFirst())
            }
            // A call that only checked for pending output after a frame ended returns
            // the size of the next frame's header: it does not reopen the frame.
            if r == 0 {
                frameDone = true
            } else if inBuffer.pos > inBefore || outBuffer.pos > outBefore {
                frameDone = false
            }
            pending = outBuffer.pos == outBuffer.size
            if outBuffer.pos > 0 { return outBuffer.pos }
        }
    }
}
