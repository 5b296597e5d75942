// Tar archives built byte by byte for the layer tests: a small writer of ustar, GNU
// and pax headers (checked against GNU tar's own bytes in LayersTests), scratch
// directories, and running gzip and zstd.

import Foundation
import Testing

@testable import VitroImage
@testable import VitroLayers
import VitroSys

struct TarWriter {
    var bytes: [UInt8] = []

    enum Magic { case ustar, gnu, v7 }

    static func octal(_ v: Int64, width: Int) -> [UInt8] {
        // width-1 octal digits, zero padded, then NUL (the POSIX form).
        var s = String(v, radix: 8)
        while s.count < width - 1 { s = "0" + s }
        return Array(s.utf8) + [0]
    }

    static func field(_ s: String, _ width: Int) -> [UInt8] {
        var b = Array(s.utf8.prefix(width))
        while b.count < width { b.append(0) }
        return b
    }

    /// One 512-byte header with a correct checksum.
    static func header(
        name: String, type: Character = "0", mode: Int64 = 0o644, uid: Int64 = 0, gid: Int64 = 0, size: Int64 = 0,
        mtime: Int64 = 1_700_000_000, linkname: String = "", uname: String = "", gname: String = "",
        devMajor: Int64 = 0, devMinor: Int64 = 0, prefix: String = "", magic: Magic = .ustar
    ) -> [UInt8] {
        var h = [UInt8](repeating: 0, count: 512)
        func put(_ at: Int, _ b: [UInt8]) { h.replaceSubrange(at..<(at + b.count), with: b) }
        put(0, field(name, 100))
        put(100, octal(mode, width: 8))
        put(108, octal(uid, width: 8))
        put(116, octal(gid, width: 8))
        put(124, octal(size, width: 12))
        put(136, octal(mtime, width: 12))
        put(148, Array("        ".utf8))
        put(156, [type.asciiValue ?? 0])
        put(157, field(linkname, 100))
        switch magic {
        case .ustar:
            put(257, Array("ustar\u{0}00".utf8))
        case .gnu:
            put(257, Array("ustar  \u{0}".utf8))
        case .v7:
            break
        }
        if magic != .v7 {
            put(265, field(uname, 32))
            put(297, field(gname, 32))
            put(329, octal(devMajor, width: 8))
            put(337, octal(devMinor, width: 8))
        }
        if magic == .ustar { put(345, field(prefix, 155)) }
        let sum = h.reduce(0) { $0 + Int64($1) }
        // GNU tar's form: six octal digits, NUL, space.
        var digits = String(sum, radix: 8)
        while digits.count < 6 { digits = "0" + digits }
        put(148, Array(digits.utf8) + [0, 32])
        return h
    }

    static func padded(_ content: [UInt8]) -> [UInt8] {
        content + [UInt8](repeating: 0, count: (512 - content.count % 512) % 512)
    }

    mutating func raw(_ header: [UInt8], _ content: [UInt8] = []) {
        bytes += header + TarWriter.padded(content)
    }

    mutating func file(_ name: String, _ content: String, mode: Int64 = 0o644, uid: Int64 = 0, gid: Int64 = 0, mtime: Int64 = 1_700_000_000) {
        let c = Array(content.utf8)
        raw(TarWriter.header(name: name, mode: mode, uid: uid, gid: gid, size: Int64(c.count), mtime: mtime), c)
    }

    mutating func file(_ name: String, bytes c: [UInt8], mode: Int64 = 0o644) {
        raw(TarWriter.header(name: name, mode: mode, size: Int64(c.count)), c)
    }

    mutating func dir(_ name: String, mode: Int64 = 0o755, mtime: Int64 = 1_700_000_000) {
        raw(TarWriter.header(name: name, type: "5", mode: mode, mtime: mtime))
    }

    mutating func symlink(_ name: String, to target: String, mtime: Int64 = 1_700_000_000) {
        raw(TarWriter.header(name: name, type: "2", mode: 0o777, mtime: mtime, linkname: target))
    }

    mutating func hardlink(_ name: String, to target: String) {
        raw(TarWriter.header(name: name, type: "1", linkname: target))
    }

    mutating func fifo(_ name: String, mode: Int64 = 0o600) {
        raw(TarWriter.header(name: name, type: "6", mode: mode))
    }

    /// The records of a pax header: "LEN KEY=VALUE\n", LEN counting itself.
    static func paxRecords(_ records: [(String, [UInt8])]) -> [UInt8] {
        var out: [UInt8] = []
        for (k, v) in records {
            let body = Array(" \(k)=".utf8) + v + [10]
            var len = body.count + 1
            while String(len).count + body.count != len { len = String(len).count + body.count }
            out += Array(String(len).utf8) + body
        }
        return out
    }

    mutating func pax(_ records: [(String, [UInt8])], global: Bool = false) {
        let data = TarWriter.paxRecords(records)
        raw(TarWriter.header(name: "PaxHeaders/x", type: global ? "g" : "x", size: Int64(data.count)), data)
    }

    /// A GNU 'L' (long name) or 'K' (long link) header, as GNU tar writes it.
    mutating func gnuLong(_ text: String, link: Bool = false) {
        let data = Array(text.utf8) + [0]
        raw(TarWriter.header(name: "././@LongLink", type: link ? "K" : "L", size: Int64(data.count), magic: .gnu), data)
    }

    mutating func end() { bytes += [UInt8](repeating: 0, count: 1024) }

    var finished: [UInt8] {
        var w = self
        w.end()
        return w.bytes
    }
}

/// All entries of an archive, with the content of regular files.
func readAll(_ bytes: [UInt8], chunk: Int = 7) throws -> [(TarEntry, [UInt8])] {
    let reader = TarReader(MemorySource(bytes))
    var out: [(TarEntry, [UInt8])] = []
    var buf = [UInt8](repeating: 0, count: chunk)
    while let e = try reader.next() {
        var content: [UInt8] = []
        while true {
            let n = try buf.withUnsafeMutableBytes { try reader.readContent(into: $0) }
            if n == 0 { break }
            content += buf[0..<n]
        }
        out.append((e, content))
    }
    return out
}

/// Everything a ByteSource gives, read in chunks of `chunk` bytes.
func drain(_ source: any ByteSource, chunk: Int = 4096) throws -> [UInt8] {
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: chunk)
    while true {
        let n = try buf.withUnsafeMutableBytes { try source.read(into: $0) }
        if n == 0 { return out }
        out += buf[0..<n]
    }
}

/// A scratch directory, removed at the end.
final class Scratch {
    let dir: String

    init() throws {
        dir = NSTemporaryDirectory() + "vitro-layers-" + UUID().uuidString.prefix(8).lowercased()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    func mkdir(_ name: String) throws -> String {
        let p = dir + "/" + name
        try FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: true)
        return p
    }

    deinit { try? Sys.removeTree(dir) }
}

/// Runs `tool args` with `input` on stdin; its stdout.
func filter(_ tool: String, _ args: [String], _ input: [UInt8]) throws -> [UInt8] {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: tool)
    p.arguments = args
    let inp = Pipe(), out = Pipe()
    p.standardInput = inp
    p.standardOutput = out
    p.standardError = FileHandle.nullDevice
    try p.run()
    // Write on another thread so a full pipe cannot stall both sides.
    let data = Data(input)
    let writer = Thread {
        inp.fileHandleForWriting.write(data)
        try? inp.fileHandleForWriting.close()
    }
    writer.start()
    let result = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return Array(result)
}

/// A small deterministic pseudo-random byte string (xorshift), for content that does
/// not compress to nothing.
func noise(_ count: Int, seed: UInt64 = 0x9e37_79b9_7f4a_7c15) -> [UInt8] {
    var x = seed
    var out = [UInt8]()
    out.reserveCapacity(count)
    for _ in 0..<count {
        x ^= x << 13
        x ^= x >> 7
        x ^= x << 17
        out.append(UInt8(truncatingIfNeeded: x))
    }
    return out
}
