// Chapter 09: writing tar (chapter 02 reads it). A layer, an exported root and an image
// archive are all tar streams, written entry by entry into a ByteSink:
//
//     header (512 bytes) | content, padded to 512 | header | ... | two zero blocks
//
// The header is POSIX ustar (the field table is in Sources/VitroLayers/TarHeader.swift).
// What ustar cannot hold goes into a pax 'x' header in front of the entry, as Docker's
// and containerd's writers (Go's archive/tar) do: a name longer than the 100 + 155
// bytes of name and prefix, or not ASCII (`path`); a long link target (`linkpath`); a
// size of 8 GiB or more (`size`); an owner above 2097151 (`uid`, `gid`); a time before
// 1970 (`mtime`); and extended attributes (`SCHILY.xattr.NAME`, GNU tar's and
// libarchive's spelling, which the reader in chapter 02 reads back).
//
// Times are whole seconds and no uname, gname, atime or ctime is written: the same
// files give the same bytes, so the same tree gives the same diffID.
//
// Content is read by the writer itself into its one 1 MiB buffer (`writeContent(from:)`)
// and the buffer goes to the sink when full: a file's bytes are copied once from the
// kernel, hashed, and written, never held whole.

import VitroImage
import VitroLayers
import VitroSys

public struct TarWriteError: Error, CustomStringConvertible, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

public final class TarWriter {
    private let sink: any ByteSink
    private let buffer: UnsafeMutableRawBufferPointer
    private var used = 0
    /// Content bytes the current entry still owes, and its padding.
    private var owed: Int64 = 0
    private var padding = 0
    private var current = ""
    private var finished = false
    /// Bytes written so far (headers, content, padding).
    public private(set) var count: Int64 = 0
    public private(set) var entries = 0

    static let capacity = 1 << 20

    public init(_ sink: any ByteSink) {
        self.sink = sink
        buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.capacity, alignment: 4096)
    }

    deinit { buffer.deallocate() }

    // MARK: entries

    /// Writes the header(s) of `entry`. A regular file's `entry.size` bytes of content
    /// must follow (`writeContent`) before the next entry.
    public func append(_ entry: TarEntry) throws {
        guard !finished else { throw TarWriteError("tar: entry \"\(entry.path)\" after the end of the archive") }
        try closeEntry()
        let name = entry.kind == .directory && !entry.path.hasSuffix("/") ? entry.path + "/" : entry.path
        var pax: [(String, [UInt8])] = []
        var header = [UInt8](repeating: 0, count: 512)
        func put(_ at: Int, _ bytes: [UInt8]) {
            for (i, b) in bytes.enumerated() where at + i < 512 { header[at + i] = b }
        }

        // Name: ustar's name (100) and prefix (155), split at a slash; pax otherwise.
        let nameBytes = Array(name.utf8)
        if let (prefix, rest) = TarWriter.split(nameBytes) {
            put(0, rest)
            put(345, prefix)
        } else {
            pax.append(("path", nameBytes))
            put(0, Array(TarWriter.fallbackName(name).utf8))
        }
        put(100, TarWriter.octal(Int64(entry.mode & 0o7777), width: 8))
        func numeric(_ value: Int64, _ key: String, at: Int, width: Int) {
            // width-1 octal digits and a NUL hold values below 8^(width-1).
            if value >= 0, value < Int64(1) << (3 * Int64(width - 1)) {
                put(at, TarWriter.octal(value, width: width))
            } else {
                pax.append((key, Array(String(value).utf8)))
                put(at, TarWriter.octal(0, width: width))
            }
        }
        numeric(Int64(entry.uid), "uid", at: 108, width: 8)
        numeric(Int64(entry.gid), "gid", at: 116, width: 8)
        let size = entry.kind == .regular ? entry.size : 0
        numeric(size, "size", at: 124, width: 12)
        numeric(entry.modified.seconds, "mtime", at: 136, width: 12)
        header[156] = TarWriter.typeflag(entry.kind)
        let link = Array(entry.linkTarget.utf8)
        if link.count <= 100, link.allSatisfy({ $0 < 128 }) {
            put(157, link)
        } else {
            pax.append(("linkpath", link))
        }
        put(257, Array("ustar\u{0}00".utf8))
        if entry.kind == .characterDevice || entry.kind == .blockDevice {
            numeric(Int64(entry.deviceMajor), "SCHILY.devmajor", at: 329, width: 8)
            numeric(Int64(entry.deviceMinor), "SCHILY.devminor", at: 337, width: 8)
        } else {
            put(329, TarWriter.octal(0, width: 8))
            put(337, TarWriter.octal(0, width: 8))
        }
        for x in entry.xattrs { pax.append(("SCHILY.xattr." + x.name, x.value)) }
        TarWriter.checksum(&header)

        if !pax.isEmpty {
            let records = TarWriter.paxRecords(pax)
            var ph = [UInt8](repeating: 0, count: 512)
            let paxName = Array(("PaxHeaders/" + TarWriter.fallbackName(name)).utf8.prefix(100))
            for (i, b) in paxName.enumerated() { ph[i] = b }
            for (at, v) in [(100, TarWriter.octal(0o644, width: 8)), (108, TarWriter.octal(0, width: 8)), (116, TarWriter.octal(0, width: 8)),
                (124, TarWriter.octal(Int64(records.count), width: 12)), (136, TarWriter.octal(0, width: 12)),
                (257, Array("ustar\u{0}00".utf8)), (329, TarWriter.octal(0, width: 8)), (337, TarWriter.octal(0, width: 8))]
            {
                for (i, b) in v.enumerated() { ph[at + i] = b }
            }
            ph[156] = UInt8(ascii: "x")
            TarWriter.checksum(&ph)
            try emit(ph)
            try emit(records)
            try emit([UInt8](repeating: 0, count: TarWriter.paddingAfter(Int64(records.count))))
        }
        try emit(header)
        current = entry.path
        owed = size
        padding = TarWriter.paddingAfter(size)
        entries += 1
    }

    /// Writes `chunk` as (part of) the current file's content.
    public func writeContent(_ chunk: UnsafeRawBufferPointer) throws {
        guard Int64(chunk.count) <= owed else {
            throw TarWriteError("tar: \"\(current)\": more content than the \(owed) bytes its header announced")
        }
        owed -= Int64(chunk.count)
        try emit(chunk)
    }

    /// Reads the current file's content from `source` straight into the writer's buffer,
    /// until the header's size is reached. `observe` sees each piece as it is read (the
    /// snapshot commit makes in the same pass). A source that ends early is an error
    /// (the file shrank while it was read), and so is one with bytes to spare.
    public func writeContent(from source: any ByteSource, observe: ((UnsafeRawBufferPointer) throws -> Void)? = nil) throws {
        while owed > 0 {
            if used == buffer.count { try flush() }
            let room = UnsafeMutableRawBufferPointer(rebasing: buffer[used..<min(buffer.count, used + Int(clamping: owed))])
            let n = try source.read(into: room)
            guard n > 0 else { throw TarWriteError("tar: \"\(current)\": the file ended \(owed) bytes early (it changed while it was read)") }
            try observe?(UnsafeRawBufferPointer(rebasing: room[0..<n]))
            used += n
            count += Int64(n)
            owed -= Int64(n)
        }
        var probe: UInt8 = 0
        let extra = try withUnsafeMutableBytes(of: &probe) { try source.read(into: $0) }
        if extra > 0 { throw TarWriteError("tar: \"\(current)\": the file grew while it was read") }
    }

    /// Ends the archive: two zero blocks. The sink is finished too.
    public func finish() throws {
        guard !finished else { return }
        try closeEntry()
        try emit([UInt8](repeating: 0, count: 1024))
        finished = true
        try flush()
        try sink.finish()
    }

    // MARK: the buffer

    private func closeEntry() throws {
        guard owed == 0 else { throw TarWriteError("tar: \"\(current)\": \(owed) bytes of content missing") }
        if padding > 0 {
            try emit([UInt8](repeating: 0, count: padding))
            padding = 0
        }
    }

    private func emit(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try emit($0) }
    }

    private func emit(_ bytes: UnsafeRawBufferPointer) throws {
        count += Int64(bytes.count)
        var rest = bytes
        while !rest.isEmpty {
            if used == buffer.count { try flush() }
            if used == 0 && rest.count >= buffer.count {
                // A big piece goes to the sink as it is: no copy.
                try sink.write(rest)
                return
            }
            let n = min(rest.count, buffer.count - used)
            if let to = buffer.baseAddress, let from = rest.baseAddress { (to + used).copyMemory(from: from, byteCount: n) }
            used += n
            rest = UnsafeRawBufferPointer(rebasing: rest[n...])
        }
    }

    private func flush() throws {
        guard used > 0 else { return }
        try sink.write(UnsafeRawBufferPointer(rebasing: buffer[0..<used]))
        used = 0
    }

    // MARK: fields

    static func typeflag(_ kind: TarEntry.Kind) -> UInt8 {
        switch kind {
        case .regular: return UInt8(ascii: "0")
        case .hardLink: return UInt8(ascii: "1")
        case .symlink: return UInt8(ascii: "2")
        case .characterDevice: return UInt8(ascii: "3")
        case .blockDevice: return UInt8(ascii: "4")
        case .directory: return UInt8(ascii: "5")
        case .fifo: return UInt8(ascii: "6")
        }
    }

    /// `width - 1` octal digits, zero-padded, then NUL (POSIX's form).
    static func octal(_ v: Int64, width: Int) -> [UInt8] {
        var digits = Array(String(v, radix: 8).utf8)
        while digits.count < width - 1 { digits.insert(UInt8(ascii: "0"), at: 0) }
        return digits + [0]
    }

    /// A name that fits ustar: (prefix, name) with name <= 100 bytes and prefix <= 155,
    /// split at a slash; nil when it cannot (too long, or not ASCII).
    static func split(_ name: [UInt8]) -> ([UInt8], [UInt8])? {
        guard name.allSatisfy({ $0 < 128 && $0 != 0 }) else { return nil }
        if name.count <= 100 { return ([], name) }
        guard name.count <= 256 else { return nil }
        // The last slash that leaves at most 155 bytes in front and 100 behind.
        for i in stride(from: min(155, name.count - 1), through: 1, by: -1) where name[i] == UInt8(ascii: "/") {
            let rest = name.count - i - 1
            if rest > 100 { return nil }
            if rest == 0 { continue }
            return (Array(name[0..<i]), Array(name[(i + 1)...]))
        }
        return nil
    }

    /// What goes in the ustar name field when pax carries the real name: the last 100
    /// ASCII bytes, for readers that know no pax.
    static func fallbackName(_ name: String) -> String {
        let ascii = name.unicodeScalars.map { $0.isASCII ? Character($0) : "_" }
        return String(String(ascii).suffix(100))
    }

    /// Header checksum: the sum of the 512 bytes with the field as spaces, written as
    /// six octal digits, NUL, space (what GNU tar and Go write).
    static func checksum(_ h: inout [UInt8]) {
        for i in 148..<156 { h[i] = 32 }
        let sum = h.reduce(0) { $0 + Int($1) }
        var digits = Array(String(sum, radix: 8).utf8)
        while digits.count < 6 { digits.insert(UInt8(ascii: "0"), at: 0) }
        for (i, b) in (digits + [0, 32]).enumerated() { h[148 + i] = b }
    }

    /// pax records "LENGTH KEY=VALUE\n", LENGTH counting the whole record, itself too.
    static func paxRecords(_ records: [(String, [UInt8])]) -> [UInt8] {
        var out: [UInt8] = []
        for (k, v) in records {
            let body = 1 + k.utf8.count + 1 + v.count + 1  // " " key "=" value "\n"
            var length = body + String(body).count
            if String(length).count != String(body).count { length = body + String(length).count }
            out += Array(String(length).utf8) + [32] + Array(k.utf8) + [61] + v + [10]
        }
        return out
    }

    static func paddingAfter(_ size: Int64) -> Int { Int((512 - size % 512) % 512) }
}
