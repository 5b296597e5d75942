// Layers travel compressed (gzip for most images, zstd for newer ones) or as plain tar.
// The media type in the manifest says which, but the bytes say it too, so vitro looks
// at the first four: 1f 8b is gzip (RFC 1952), 28 b5 2f fd is a zstd frame
// (RFC 8878), anything else is read as tar and must then pass the tar checksum. The
// few bytes looked at are replayed in front of the stream, so nothing is read twice.

import VitroImage

public enum Compression: String, Sendable, Equatable {
    case none = "tar"
    case gzip
    case zstd

    static let gzipMagic: [UInt8] = [0x1f, 0x8b]
    static let zstdMagic: [UInt8] = [0x28, 0xb5, 0x2f, 0xfd]

    /// What the first bytes of a layer say it is.
    public static func detect(_ prefix: [UInt8]) -> Compression {
        if prefix.starts(with: gzipMagic) { return .gzip }
        if prefix.starts(with: zstdMagic) { return .zstd }
        return .none
    }

    /// Looks at the first bytes of `source` and returns a source of the uncompressed
    /// tar stream, with what was found. `name` (a digest, a file) names it in errors.
    public static func decompressing(_ source: any ByteSource, name: String) throws(LayerError) -> (
        any ByteSource, Compression
    ) {
        var prefix = [UInt8](repeating: 0, count: 4)
        var got = 0
        while got < prefix.count {
            let n: Int
            do {
                n = try prefix.withUnsafeMutableBytes { p in
                    try source.read(into: UnsafeMutableRawBufferPointer(rebasing: p[got...]))
                }
            } catch {
                throw LayerError("read", name, "\(error)")
            }
            if n == 0 { break }
            got += n
        }
        prefix.removeLast(prefix.count - got)
        let kind = detect(prefix)
        let replayed = PrefixedSource(prefix, then: source)
        switch kind {
        case .none: return (replayed, kind)
        case .gzip: return (try GzipSource(replayed, name: name), kind)
        case .zstd: return (try ZstdSource(replayed, name: name), kind)
        }
    }
}

/// Bytes already read (the magic) in front of the rest of a source.
final class PrefixedSource: ByteSource {
    private var prefix: [UInt8]
    private var offset = 0
    private let rest: any ByteSource

    init(_ prefix: [UInt8], then rest: any ByteSource) {
        self.prefix = prefix
        self.rest = rest
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        if offset < prefix.count {
            let n = min(buffer.count, prefix.count - offset)
            prefix.withUnsafeBytes { p in
                if let to = buffer.baseAddress, let from = p.baseAddress { to.copyMemory(from: from + offset, byteCount: n) }
            }
            offset += n
            return n
        }
        return try rest.read(into: buffer)
    }
}
