// zstd compression as a ByteSink, with libzstd's streaming encoder
// (ZSTD_compressStream2; see zstd.h): the counterpart of chapter 02's ZstdSource, for
// `application/vnd.oci.image.layer.v1.tar+zstd` layers. Level 3 is zstd's default; it
// compresses about as well as gzip -6 at ten times the speed. With `workers` > 0 the
// library compresses blocks on that many threads of its own (ZSTD_c_nbWorkers): the
// parallelism that pays for big layers, for free. The output is one zstd frame.

import CZstd
import VitroLayers
import VitroSys

public final class ZstdSink: ByteSink {
    private let next: any ByteSink
    private let context: OpaquePointer
    private let output: UnsafeMutableRawBufferPointer
    private var finished = false

    public init(_ next: any ByteSink, level: Int32 = 3, workers: Int32 = 0) throws(LayerError) {
        guard czstd_load() != 0 else { throw LayerError("load", CZSTD_SONAME, Sys.libraryLoadError) }
        guard let c = czstd_ZSTD_createCCtx() else { throw LayerError("zstd", "", "cannot allocate an encoder") }
        self.next = next
        context = c
        output = .allocate(byteCount: czstd_ZSTD_CStreamOutSize(), alignment: 16)
        let r = czstd_ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, level)
        if czstd_ZSTD_isError(r) != 0 {
            let text = String(cString: czstd_ZSTD_getErrorName(r))
            czstd_ZSTD_freeCCtx(context)
            output.deallocate()
            throw LayerError("zstd", "", text)
        }
        // A libzstd built without threads refuses workers; one thread is then fine.
        if workers > 0 { _ = czstd_ZSTD_CCtx_setParameter(context, ZSTD_c_nbWorkers, workers) }
    }

    deinit {
        czstd_ZSTD_freeCCtx(context)
        output.deallocate()
    }

    public func write(_ chunk: UnsafeRawBufferPointer) throws {
        guard chunk.count > 0 else { return }
        var input = ZSTD_inBuffer(src: chunk.baseAddress, size: chunk.count, pos: 0)
        while input.pos < input.size {
            try step(&input, ZSTD_e_continue)
        }
    }

    public func finish() throws {
        guard !finished else { return }
        finished = true
        var input = ZSTD_inBuffer(src: nil, size: 0, pos: 0)
        // ZSTD_e_end returns 0 once the frame is complete and flushed.
        while try step(&input, ZSTD_e_end) != 0 {}
        try next.finish()
    }

    @discardableResult
    private func step(_ input: inout ZSTD_inBuffer, _ mode: ZSTD_EndDirective) throws -> Int {
        var out = ZSTD_outBuffer(dst: output.baseAddress, size: output.count, pos: 0)
        let r = czstd_ZSTD_compressStream2(context, &out, &input, mode)
        if czstd_ZSTD_isError(r) != 0 { throw LayerError("zstd", "", String(cString: czstd_ZSTD_getErrorName(r))) }
        if out.pos > 0 { try next.write(UnsafeRawBufferPointer(rebasing: output[0..<out.pos])) }
        return r
    }
}
