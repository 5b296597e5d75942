// Chapter 01/02: the shape of streamed bytes. A layer travels as a stream: from the
// registry (or a blob file), through decompression, into the tar reader. Each step is
// a `ByteSource` that pulls from the one before it, so no step holds a whole layer.

import VitroSys

#if canImport(Glibc)
import Glibc
#endif

/// Something bytes can be read from, in order, until it returns 0 (the end).
public protocol ByteSource: AnyObject {
    /// Fills up to `buffer.count` bytes; returns how many (0 at the end).
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
}

/// Reads a file descriptor (a blob file, a pipe).
public final class FileSource: ByteSource {
    let fd: Int32
    let owned: Bool
    public let name: String

    /// Opens `path` for reading.
    public init(path: String) throws {
        fd = try Sys.open(path, flags: O_RDONLY | O_CLOEXEC, trace: false)
        owned = true
        name = path
    }

    /// Reads an open descriptor, which the caller keeps and closes.
    public init(fd: Int32, name: String) {
        self.fd = fd
        owned = false
        self.name = name
    }

    deinit { if owned { Sys.close(fd) } }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
            if n >= 0 { return n }
            if errno == EINTR { continue }
            throw SysError(operation: "read", object: name, errno: errno)
        }
    }
}

/// Reads from memory (tests, small manifests).
public final class MemorySource: ByteSource {
    let bytes: [UInt8]
    var offset = 0
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = min(buffer.count, bytes.count - offset)
        guard n > 0 else { return 0 }
        bytes.withUnsafeBytes { src in
            guard let from = src.baseAddress, let to = buffer.baseAddress else { return }
            to.copyMemory(from: from + offset, byteCount: n)
        }
        offset += n
        return n
    }
}
