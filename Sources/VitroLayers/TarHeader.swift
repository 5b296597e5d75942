// The 512-byte header block of tar(5), field by field. Three dialects share it:
//
//   offset  size  field      notes
//        0   100  name       NUL-terminated unless it fills the field
//      100     8  mode       octal ASCII
//      108     8  uid        octal, or GNU base-256 when the first byte has bit 7 set
//      116     8  gid
//      124    12  size       bytes of content that follow, in 512-byte blocks
//      136    12  mtime      seconds since the epoch
//      148     8  chksum     sum of all 512 bytes, this field counted as 8 spaces
//      156     1  typeflag   '0' file, '1' hard link, '2' symlink, '3' char, '4' block,
//                            '5' dir, '6' fifo, 'x'/'g' pax, 'L'/'K' GNU long name/link
//      157   100  linkname
//      257     6  magic      "ustar\0" (POSIX) or "ustar " (GNU, with version " \0")
//      263     2  version    "00" (POSIX)
//      265    32  uname
//      297    32  gname
//      329     8  devmajor
//      337     8  devminor
//      345   155  prefix     POSIX only: the name is prefix + "/" + name
//
// Old (v7) archives have no magic and stop after linkname. Names longer than the
// fields come from a pax 'x' header or a GNU 'L'/'K' header before the entry.

import VitroSys

struct TarHeader {
    /// Which dialect wrote the header; decides whether the prefix field is a prefix.
    enum Dialect { case v7, ustar, gnu }

    var name: String
    var mode: UInt32
    var uid: Int64
    var gid: Int64
    var size: Int64
    var mtime: Int64
    var typeflag: UInt8
    var linkname: String
    var dialect: Dialect
    var uname: String
    var gname: String
    var devMajor: Int64
    var devMinor: Int64

    /// True when all 512 bytes are zero: the end-of-archive marker.
    static func isZero(_ block: UnsafeRawBufferPointer) -> Bool {
        block.allSatisfy { $0 == 0 }
    }

    /// Parses and checks a header block. `label` names the entry in errors.
    init(_ b: UnsafeRawBufferPointer, label: String) throws(LayerError) {
        precondition(b.count == 512, "bug: a tar header is 512 bytes")
        func bad(_ message: String) -> LayerError { LayerError("tar", label, message) }

        guard let stored = TarHeader.number(b[148..<156]) else { throw bad("bad checksum field") }
        var unsigned: Int64 = 0
        var signed: Int64 = 0
        for i in 0..<512 {
            let c = (148..<156).contains(i) ? UInt8(ascii: " ") : b[i]
            unsigned += Int64(c)
            signed += Int64(Int8(bitPattern: c))
        }
        // Some old tars summed signed chars; GNU tar accepts either, and so do we.
        guard stored == unsigned || stored == signed else {
            throw bad("bad checksum (header says \(String(stored, radix: 8)), block sums to \(String(unsigned, radix: 8)))")
        }

        let magic = Array(b[257..<263])
        let version = Array(b[263..<265])
        if magic == Array("ustar\0".utf8) {
            dialect = .ustar
        } else if magic == Array("ustar ".utf8) && version == [UInt8(ascii: " "), 0] {
            dialect = .gnu
        } else {
            dialect = .v7
        }

        guard var name = TarHeader.string(b[0..<100]) else { throw bad("name is not UTF-8") }
        if dialect == .ustar, let prefix = TarHeader.string(b[345..<500]), !prefix.isEmpty {
            name = prefix + "/" + name
        }
        self.name = name
        guard let link = TarHeader.string(b[157..<257]) else { throw bad("link name is not UTF-8") }
        linkname = link
        typeflag = b[156]

        func field(_ r: Range<Int>, _ what: String) throws(LayerError) -> Int64 {
            guard let v = TarHeader.number(b[r]) else { throw bad("bad \(what) field") }
            return v
        }
        mode = UInt32(truncatingIfNeeded: try field(100..<108, "mode")) & 0o7777
        uid = try field(108..<116, "uid")
        gid = try field(116..<124, "gid")
        size = try field(124..<136, "size")
        mtime = try field(136..<148, "mtime")
        if dialect == .v7 {
            uname = ""
            gname = ""
            devMajor = 0
            devMinor = 0
        } else {
            uname = TarHeader.string(b[265..<297]) ?? ""
            gname = TarHeader.string(b[297..<329]) ?? ""
            devMajor = try field(329..<337, "devmajor")
            devMinor = try field(337..<345, "devminor")
        }
        guard size >= 0 else { throw bad("negative size") }
    }

    /// A NUL-terminated (or field-filling) string; nil when it is not UTF-8.
    static func string(_ field: Slice<UnsafeRawBufferPointer>) -> String? {
        let bytes = field.prefix { $0 != 0 }
        return String(validating: bytes, as: UTF8.self)
    }

    /// A numeric field: octal ASCII padded with spaces or NULs, or GNU base-256 (the
    /// first byte has bit 7 set; bit 6 set means negative, two's complement). Empty is
    /// 0. nil for anything else, or a value that does not fit in 63 bits.
    static func number<C: Collection>(_ field: C) -> Int64? where C.Element == UInt8 {
        guard let first = field.first else { return 0 }
        if first & 0x80 != 0 {
            let invert: UInt8 = first & 0x40 != 0 ? 0xff : 0
            var x: UInt64 = 0
            for (i, byte) in field.enumerated() {
                var c = byte ^ invert
                if i == 0 { c &= 0x7f }
                guard x >> 56 == 0 else { return nil }
                x = x << 8 | UInt64(c)
            }
            guard x >> 63 == 0 else { return nil }
            return invert == 0xff ? ~Int64(x) : Int64(x)
        }
        let space = UInt8(ascii: " ")
        let digits = field.drop { $0 == space || $0 == 0 }.prefix { $0 != space && $0 != 0 }
        // After the digits only padding may follow.
        let rest = field.drop { $0 == space || $0 == 0 }.dropFirst(digits.count)
        guard rest.allSatisfy({ $0 == space || $0 == 0 }) else { return nil }
        var v: Int64 = 0
        for c in digits {
            guard c >= UInt8(ascii: "0"), c <= UInt8(ascii: "7"), v >> 60 == 0 else { return nil }
            v = v * 8 + Int64(c - UInt8(ascii: "0"))
        }
        return v
    }
}
