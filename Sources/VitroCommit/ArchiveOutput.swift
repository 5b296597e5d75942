// Where `save` puts what it writes: entries of a tar (a docker-archive or an OCI
// archive, to a file or stdout) or files in a directory (an OCI layout). Each file is
// given with its size, because a tar header comes before the content; a blob whose
// size is known only once it is made (compressed or decompressed on the way out) is
// first written to a `Spool` file in the store's ingest area.

import VitroImage
import VitroLayers
import VitroSys
import VitroTrace

#if canImport(Glibc)
import Glibc
#endif

protocol ArchiveOutput: AnyObject {
    func directory(_ name: String) throws
    /// A file of `size` bytes, read from `source`.
    func file(_ name: String, size: Int64, from source: any ByteSource) throws
    func finish() throws
}

extension ArchiveOutput {
    func file(_ name: String, bytes: [UInt8]) throws {
        try file(name, size: Int64(bytes.count), from: MemorySource(bytes))
    }
}

/// Entries of one tar stream.
final class TarOutput: ArchiveOutput {
    let tar: TarWriter
    /// One time for every entry: an archive of the same images is the same bytes.
    let time: FileTime

    init(_ sink: any ByteSink, time: FileTime) {
        tar = TarWriter(sink)
        self.time = time
    }

    func directory(_ name: String) throws {
        try tar.append(TarEntry(index: 0, path: name, kind: .directory, mode: 0o755, modified: time))
    }

    func file(_ name: String, size: Int64, from source: any ByteSource) throws {
        try tar.append(TarEntry(index: 0, path: name, kind: .regular, mode: 0o644, size: size, modified: time))
        try tar.writeContent(from: source)
    }

    func finish() throws { try tar.finish() }
}

/// Files under a directory (which the caller made).
final class DirectoryOutput: ArchiveOutput {
    let root: String
    init(root: String) { self.root = root }

    func directory(_ name: String) throws {
        try Sys.mkdir(root + "/" + name, mode: 0o755, why: "a directory of the OCI layout")
    }

    func file(_ name: String, size: Int64, from source: any ByteSource) throws {
        let path = root + "/" + name
        let fd = try Sys.open(path, flags: O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode: 0o644, trace: false)
        defer { Sys.close(fd) }
        let sink = DescriptorSink(fd: fd, name: path)
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var written: Int64 = 0
        while true {
            let n = try buffer.withUnsafeMutableBytes { try source.read(into: $0) }
            if n == 0 { break }
            try buffer.withUnsafeBytes { try sink.write(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            written += Int64(n)
        }
        try sink.finish()
        guard written == size else { throw CommitError("\(path): wrote \(written) bytes, expected \(size)") }
    }

    func finish() throws {}
}

/// A temporary file in the store's ingest area for a blob whose size and digest are
/// known only once it is written; removed when done with.
final class Spool {
    let path: String
    let ingester: BlobIngester

    init(store: ContentStore) throws {
        ingester = try BlobIngester(store: store)
        path = ingester.temporary
    }

    func source() throws -> FileSource { try FileSource(path: path) }

    func remove() { ingester.discard() }
}
