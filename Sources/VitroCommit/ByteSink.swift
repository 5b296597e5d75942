// Chapter 09: the writing half of chapter 01's streams. A layer being made flows the
// other way from one being pulled: the tar writer pushes bytes into a `ByteSink`, which
// may hash them (the diffID), compress them (gzip, zstd) and pass them on, until the
// last sink writes them to a file: the content store's ingest area, an archive, stdout.
//
//     TarWriter -> HashingSink (diffID) -> GzipSink -> BlobIngester (digest, file)
//
// Each sink holds at most one buffer, so a layer of any size passes in constant memory,
// and each byte is hashed once per digest that names it.

import VitroImage
import VitroSys

#if canImport(Glibc)
import Glibc
#endif

/// Something bytes can be written to, in order. `finish` flushes what the sink holds
/// and finishes the sinks after it; nothing may be written after it.
public protocol ByteSink: AnyObject {
    func write(_ chunk: UnsafeRawBufferPointer) throws
    func finish() throws
}

extension ByteSink {
    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }
}

/// Passes bytes through and computes their SHA-256: over an uncompressed tar, that is
/// the layer's diffID, computed while the compressed blob is written.
public final class HashingSink: ByteSink {
    private let next: (any ByteSink)?
    private var hasher: SHA256Hasher? = SHA256Hasher()
    public private(set) var count: Int64 = 0
    /// Set by `finish`.
    public private(set) var digest: Digest?

    /// Hashes what passes to `next` (or, with no next sink, only hashes and counts).
    public init(_ next: (any ByteSink)?) { self.next = next }

    public func write(_ chunk: UnsafeRawBufferPointer) throws {
        hasher?.update(chunk)
        count += Int64(chunk.count)
        try next?.write(chunk)
    }

    public func finish() throws {
        if digest == nil, let h = hasher.take() { digest = h.finish() }
        try next?.finish()
    }
}

/// Writes to a file descriptor the caller owns (stdout, an archive being made), in
/// writes of at least 256 KiB so that a tar of small files is not one write(2) each.
public final class DescriptorSink: ByteSink {
    let fd: Int32
    let name: String
    private var buffer: [UInt8] = []
    public private(set) var count: Int64 = 0
    static let chunk = 256 * 1024

    public init(fd: Int32, name: String) {
        self.fd = fd
        self.name = name
        buffer.reserveCapacity(Self.chunk)
    }

    public func write(_ chunk: UnsafeRawBufferPointer) throws {
        count += Int64(chunk.count)
        if buffer.count + chunk.count < Self.chunk {
            buffer.append(contentsOf: chunk)
            return
        }
        try flush()
        if chunk.count >= Self.chunk {
            try Sys.writeChunk(fd, chunk, path: name)
        } else {
            buffer.append(contentsOf: chunk)
        }
    }

    func flush() throws {
        guard !buffer.isEmpty else { return }
        try buffer.withUnsafeBytes { try Sys.writeChunk(fd, $0, path: name) }
        buffer.removeAll(keepingCapacity: true)
    }

    public func finish() throws { try flush() }
}

/// Keeps everything in memory (small documents, tests).
public final class CollectingSink: ByteSink {
    public private(set) var bytes: [UInt8] = []
    public init() {}
    public func write(_ chunk: UnsafeRawBufferPointer) throws { bytes.append(contentsOf: chunk) }
    public func finish() throws {}
}

/// A ByteSource that copies every byte read through it into a sink: a blob being
/// imported is stored as it comes while the tar inside it is checked in the same read.
public final class TeeSource: ByteSource {
    private let source: any ByteSource
    private let sink: any ByteSink

    public init(_ source: any ByteSource, into sink: any ByteSink) {
        self.source = source
        self.sink = sink
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = try source.read(into: buffer)
        if n > 0 { try sink.write(UnsafeRawBufferPointer(rebasing: buffer[0..<n])) }
        return n
    }
}
