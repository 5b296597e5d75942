// A tar reader of vitro's own, pull-based over a `ByteSource`: `next()` returns the
// next entry's header, `readContent(into:)` streams that entry's bytes, and the next
// `next()` skips whatever of them was not read. Nothing is held but one 64 KiB
// buffer, so a layer of any size passes through in constant memory.
//
// A tar archive is a sequence of 512-byte blocks: a header (see TarHeader), the
// content padded to a whole block, the next header, ... and two zero blocks at the
// end. Extensions come as extra headers in front of the entry they describe: a pax
// 'x' header (PaxRecords) or GNU 'L'/'K' headers holding a long name or link name.
// A pax 'g' (global) header is read and skipped: Docker and containerd never write
// one, `git archive` writes one with a comment.
//
// What the reader checks: every header's checksum, that numbers are numbers, that
// names are UTF-8, that meta headers are of a sane size, and that the archive does
// not end inside an entry. What it does not decide: whether a name is safe to create.

import VitroImage
import VitroSys

public final class TarReader {
    /// The largest pax header accepted (xattr values can be up to 64 KiB each).
    static let maxPaxSize = 1 << 20
    /// The largest GNU long name accepted (PATH_MAX is 4096).
    static let maxLongNameSize = 1 << 16

    private let source: any ByteSource
    private let buffer: UnsafeMutableRawBufferPointer
    private var start = 0
    private var end = 0
    private var sourceEnded = false

    /// Content bytes of the current entry not yet read, and the padding after them.
    private var remaining: Int64 = 0
    private var padding = 0
    private var current = ""
    private var count = 0
    private var finished = false

    public init(_ source: any ByteSource) {
        self.source = source
        buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
    }

    deinit { buffer.deallocate() }

    /// The number of entries returned so far.
    public var entryCount: Int { count }

    /// The next entry, or nil at the end of the archive.
    public func next() throws(LayerError) -> TarEntry? {
        if finished { return nil }
        try skip(remaining + Int64(padding))
        remaining = 0
        padding = 0

        var pax: PaxRecords? = nil
        var longName: String? = nil
        var longLink: String? = nil
        let index = count + 1
        var label = TarEntry.label(index, "")
        while true {
            guard try fill(512) else {
                // End of input where a header should be. Accept it when no meta header
                // is pending (the zero blocks are missing, as some writers leave them
                // out; a diffID check still catches a cut-off layer).
                if pax != nil || longName != nil || longLink != nil || start != end {
                    throw LayerError("tar", label, "archive ends inside a header")
                }
                finished = true
                return nil
            }
            let block = UnsafeRawBufferPointer(rebasing: buffer[start..<(start + 512)])
            if TarHeader.isZero(block) {
                start += 512
                finished = true
                return nil
            }
            if longName == nil && pax?.path == nil, let raw = TarHeader.string(block[0..<100]), !raw.isEmpty {
                label = TarEntry.label(index, raw)
            }
            let h = try TarHeader(block, label: label)
            start += 512
            label = TarEntry.label(index, longName ?? pax?.path ?? h.name)
            switch h.typeflag {
            case UInt8(ascii: "x"):
                guard h.size <= TarReader.maxPaxSize else { throw LayerError("tar", label, "pax header of \(h.size) bytes is too large") }
                let records = try PaxRecords(try readMeta(Int(h.size), label: label), label: label)
                pax = records
                label = TarEntry.label(index, longName ?? records.path ?? "")
            case UInt8(ascii: "g"):
                try skip(h.size + Int64(TarReader.paddingAfter(h.size)))
            case UInt8(ascii: "L"), UInt8(ascii: "K"):
                guard h.size <= TarReader.maxLongNameSize else {
                    throw LayerError("tar", label, "GNU long name of \(h.size) bytes is too large")
                }
                let bytes = try readMeta(Int(h.size), label: label).prefix { $0 != 0 }
                guard let text = String(validating: bytes, as: UTF8.self) else {
                    throw LayerError("tar", label, "GNU long name is not UTF-8")
                }
                if h.typeflag == UInt8(ascii: "L") {
                    longName = text
                    label = TarEntry.label(index, text)
                } else {
                    longLink = text
                }
            default:
                let entry = try makeEntry(h, index: index, pax: pax, longName: longName, longLink: longLink)
                count = index
                current = entry.label
                remaining = entry.size
                padding = TarReader.paddingAfter(entry.size)
                return entry
            }
        }
    }

    /// Reads up to `buffer.count` bytes of the current entry's content; 0 at its end.
    public func readContent(into out: UnsafeMutableRawBufferPointer) throws(LayerError) -> Int {
        guard remaining > 0, out.count > 0 else { return 0 }
        guard try fill(1) else { throw LayerError("tar", current, "archive ends inside the file's content") }
        let n = min(out.count, end - start, Int(clamping: remaining))
        if let to = out.baseAddress, let from = buffer.baseAddress {
            to.copyMemory(from: from + start, byteCount: n)
        }
        start += n
        remaining -= Int64(n)
        return n
    }

    /// Reads the source to its end after the archive's end marker, so that a hash of
    /// the stream (the diffID) covers every byte, padding included. Returns how many
    /// bytes were left.
    @discardableResult
    public func drain() throws(LayerError) -> Int64 {
        var n = Int64(end - start)
        start = end
        while try fill(1) {
            n += Int64(end - start)
            start = end
        }
        return n
    }

    // MARK: building an entry

    private func makeEntry(_ h: TarHeader, index: Int, pax: PaxRecords?, longName: String?, longLink: String?)
        throws(LayerError) -> TarEntry
    {
        let path = pax?.path ?? longName ?? h.name
        let label = TarEntry.label(index, path)
        var kind: TarEntry.Kind
        switch h.typeflag {
        case UInt8(ascii: "0"), 0, UInt8(ascii: "7"):
            // Old tars marked a directory only by a trailing slash.
            kind = path.hasSuffix("/") && h.typeflag != UInt8(ascii: "7") ? .directory : .regular
        case UInt8(ascii: "1"): kind = .hardLink
        case UInt8(ascii: "2"): kind = .symlink
        case UInt8(ascii: "3"): kind = .characterDevice
        case UInt8(ascii: "4"): kind = .blockDevice
        case UInt8(ascii: "5"): kind = .directory
        case UInt8(ascii: "6"): kind = .fifo
        case UInt8(ascii: "S"): throw LayerError("tar", label, "sparse files (type 'S') are not supported")
        default:
            let shown = h.typeflag >= 32 && h.typeflag < 127 ? "'\(Character(Unicode.Scalar(h.typeflag)))'" : "\(h.typeflag)"
            throw LayerError("tar", label, "unsupported entry type \(shown)")
        }
        // Only regular files have content in the archive; for the other types the size
        // field says nothing about what follows (Go's archive/tar reads it the same way).
        let size = kind == .regular ? pax?.size ?? h.size : 0
        let uid = pax?.uid ?? h.uid
        let gid = pax?.gid ?? h.gid
        guard uid >= 0, uid <= Int64(UInt32.max), gid >= 0, gid <= Int64(UInt32.max) else {
            throw LayerError("tar", label, "owner \(uid):\(gid) is out of range")
        }
        guard h.devMajor >= 0, h.devMajor <= Int64(UInt32.max), h.devMinor >= 0, h.devMinor <= Int64(UInt32.max) else {
            throw LayerError("tar", label, "device number \(h.devMajor):\(h.devMinor) is out of range")
        }
        return TarEntry(
            index: index, path: path, kind: kind, mode: h.mode, uid: UInt32(uid), gid: UInt32(gid),
            userName: pax?.uname ?? h.uname, groupName: pax?.gname ?? h.gname,
            size: size,
            modified: pax?.mtime ?? FileTime(seconds: h.mtime), accessed: pax?.atime,
            linkTarget: pax?.linkpath ?? longLink ?? h.linkname,
            deviceMajor: UInt32(h.devMajor), deviceMinor: UInt32(h.devMinor), xattrs: pax?.xattrs ?? [])
    }

    static func paddingAfter(_ size: Int64) -> Int {
        Int((512 - size % 512) % 512)
    }

    // MARK: the buffer

    /// Makes at least `n` bytes (n <= the buffer's size) available at `start`; false at
    /// the end of input (whatever is buffered stays there).
    private func fill(_ n: Int) throws(LayerError) -> Bool {
        if end - start >= n { return true }
        guard let base = buffer.baseAddress else { return false }
        if start > 0 {
            base.copyMemory(from: base + start, byteCount: end - start)
            end -= start
            start = 0
        }
        while end - start < n && !sourceEnded {
            let got: Int
            do {
                got = try source.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[end...]))
            } catch let e as LayerError {
                throw e
            } catch let e as SysError {
                throw LayerError("tar", current.isEmpty ? "archive" : current, e)
            } catch {
                throw LayerError("tar", current.isEmpty ? "archive" : current, "\(error)")
            }
            if got == 0 { sourceEnded = true }
            end += got
        }
        return end - start >= n
    }

    /// Skips `n` bytes of the archive.
    private func skip(_ n: Int64) throws(LayerError) {
        var left = n
        while left > 0 {
            guard try fill(1) else { throw LayerError("tar", current, "archive ends inside the file's content") }
            let k = min(Int64(end - start), left)
            start += Int(k)
            left -= k
        }
    }

    /// Reads the content of a meta header (pax, GNU long name) and its padding.
    private func readMeta(_ size: Int, label: String) throws(LayerError) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(size)
        while out.count < size {
            guard try fill(1) else { throw LayerError("tar", label, "archive ends inside a pax or GNU header") }
            let k = min(end - start, size - out.count)
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[start..<(start + k)]))
            start += k
        }
        try skip(Int64(TarReader.paddingAfter(Int64(size))))
        return out
    }
}
