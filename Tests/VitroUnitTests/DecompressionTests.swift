// Chapter 02, decompression: gzip and zstd streams made by the real gzip(1) and
// zstd(1) come back byte for byte through GzipSource and ZstdSource, read in odd-sized
// chunks; several members or frames in a row are one stream; a cut-off stream is an
// error; the first bytes pick the decoder, and the diffID is the hash of the plain
// stream.

import Foundation
import Testing

@testable import VitroImage
@testable import VitroLayers

@Suite struct Decompression {
    static let hasTools = FileManager.default.isExecutableFile(atPath: "/usr/bin/gzip") && FileManager.default.isExecutableFile(atPath: "/usr/bin/zstd")

    static let payload: [UInt8] = noise(300_000) + [UInt8](repeating: 7, count: 100_000)

    @Test func detectionByMagicBytes() {
        #expect(Compression.detect([0x1f, 0x8b, 8, 0]) == .gzip)
        #expect(Compression.detect([0x28, 0xb5, 0x2f, 0xfd]) == .zstd)
        #expect(Compression.detect(Array("hello.txt".utf8)) == .none)
        #expect(Compression.detect([0x1f]) == .none)
        #expect(Compression.detect([]) == .none)
    }

    @Test(.enabled(if: hasTools, "needs /usr/bin/gzip")) func gzipRoundTrip() throws {
        let gz = try filter("/usr/bin/gzip", ["-c", "-6"], Self.payload)
        for chunk in [1, 4093, 65536, 200_000] {
            #expect(try drain(GzipSource(MemorySource(gz)), chunk: chunk) == Self.payload, "chunk \(chunk)")
        }
    }

    @Test(.enabled(if: hasTools, "needs /usr/bin/gzip")) func gzipWithSeveralMembers() throws {
        let a = try filter("/usr/bin/gzip", ["-c"], Array("first member\n".utf8))
        let b = try filter("/usr/bin/gzip", ["-c"], Self.payload)
        #expect(try drain(GzipSource(MemorySource(a + b))) == Array("first member\n".utf8) + Self.payload)
    }

    @Test(.enabled(if: hasTools, "needs /usr/bin/gzip")) func aCutOffGzipStreamIsAnError() throws {
        let gz = try filter("/usr/bin/gzip", ["-c"], Self.payload)
        #expect {
            _ = try drain(GzipSource(MemorySource(Array(gz.prefix(gz.count / 2))), name: "sha256:abc"))
        } throws: { e in
            "\(e)" == "gzip: sha256:abc: unexpected end of compressed data"
        }
        var bad = gz
        bad[bad.count / 2] ^= 0xff
        bad[bad.count / 2 + 1] ^= 0xff
        #expect(throws: LayerError.self) { _ = try drain(GzipSource(MemorySource(bad))) }
    }

    @Test(.enabled(if: hasTools, "needs /usr/bin/zstd")) func zstdRoundTripAndFrames() throws {
        let zst = try filter("/usr/bin/zstd", ["-c", "-q", "-3"], Self.payload)
        for chunk in [1, 4093, 131_072] {
            #expect(try drain(ZstdSource(MemorySource(zst)), chunk: chunk) == Self.payload, "chunk \(chunk)")
        }
        let small = try filter("/usr/bin/zstd", ["-c", "-q"], Array("second frame".utf8))
        #expect(try drain(ZstdSource(MemorySource(zst + small))) == Self.payload + Array("second frame".utf8))
    }

    @Test(.enabled(if: hasTools, "needs /usr/bin/zstd")) func aCutOffZstdStreamIsAnError() throws {
        let zst = try filter("/usr/bin/zstd", ["-c", "-q"], Self.payload)
        #expect {
            _ = try drain(ZstdSource(MemorySource(Array(zst.prefix(zst.count - 10))), name: "layer.tar.zst"))
        } throws: { e in
            "\(e)" == "zstd: layer.tar.zst: unexpected end of compressed data"
        }
        var bad = zst
        bad[5] ^= 0xff
        #expect(throws: LayerError.self) { _ = try drain(ZstdSource(MemorySource(bad))) }
    }

    @Test(.enabled(if: hasTools, "needs gzip and zstd")) func decompressingPicksTheDecoderAndHashesThePlainStream() throws {
        var w = TarWriter()
        w.file("a", "alpha")
        let tar = w.finished
        let diffID = Digest.sha256(tar)
        for (bytes, kind) in [(tar, Compression.none), (try filter("/usr/bin/gzip", ["-c"], tar), .gzip), (try filter("/usr/bin/zstd", ["-c", "-q"], tar), .zstd)] {
            let (source, found) = try Compression.decompressing(MemorySource(bytes), name: "layer")
            #expect(found == kind)
            let hashing = HashingSource(source)
            let reader = TarReader(hashing)
            #expect(try reader.next()?.path == "a")
            #expect(try reader.next() == nil)
            #expect(hashing.digest == nil, "not at the end yet")
            try reader.drain()
            #expect(hashing.digest == diffID, "\(kind)")
            #expect(hashing.count == UInt64(tar.count))
        }
    }
}
