// Chapter 02, the tar reader: golden header bytes, pax, GNU long names, numbers, and
// errors that name the entry. No root needed.

import Foundation
import Testing

@testable import VitroImage
@testable import VitroLayers
import VitroSys

@Suite struct TarFormat {
    /// The header GNU tar 1.34 writes for `hello.txt` ("hello\n") with
    /// `tar --format=ustar --owner=1000 --group=1000 --numeric-owner --mtime=@1700000000
    /// --mode=0644`. Every byte not listed is zero.
    static let golden: [UInt8] = {
        var h = [UInt8](repeating: 0, count: 512)
        func put(_ at: Int, _ s: String) { h.replaceSubrange(at..<(at + s.utf8.count), with: Array(s.utf8)) }
        put(0, "hello.txt")  //    0  name (100)
        put(100, "0000644\u{0}")  //  100  mode: octal, 7 digits and NUL
        put(108, "0001750\u{0}")  //  108  uid 1000
        put(116, "0001750\u{0}")  //  116  gid 1000
        put(124, "00000000006\u{0}")  //  124  size: 6 bytes of content follow
        put(136, "14524770400\u{0}")  //  136  mtime 1700000000
        put(148, "011141\u{0} ")  //  148  chksum: sum of the block with this field as spaces
        put(156, "0")  //  156  typeflag '0': a regular file
        put(257, "ustar\u{0}00")  //  257  magic "ustar\0", 263 version "00": POSIX ustar
        put(329, "0000000\u{0}")  //  329  devmajor
        put(337, "0000000\u{0}")  //  337  devminor
        return h  // 265 uname, 297 gname, 345 prefix: empty
    }()

    @Test func theWriterProducesGNUTarsBytes() {
        let ours = TarWriter.header(name: "hello.txt", mode: 0o644, uid: 1000, gid: 1000, size: 6, mtime: 1_700_000_000)
        #expect(ours == Self.golden)
    }

    @Test func aUstarHeaderParsesFieldByField() throws {
        let entries = try readAll(Self.golden + TarWriter.padded(Array("hello\n".utf8)) + [UInt8](repeating: 0, count: 1024))
        #expect(entries.count == 1)
        let (e, content) = try #require(entries.first)
        #expect(e.index == 1 && e.path == "hello.txt" && e.kind == .regular)
        #expect(e.mode == 0o644 && e.uid == 1000 && e.gid == 1000 && e.size == 6)
        #expect(e.modified == FileTime(seconds: 1_700_000_000))
        #expect(content == Array("hello\n".utf8))
    }

    @Test func aBadChecksumNamesTheEntry() {
        var block = Self.golden
        block[0] = UInt8(ascii: "j")  // "jello.txt": the stored sum no longer matches
        #expect {
            _ = try readAll(block + [UInt8](repeating: 0, count: 1024))
        } throws: { e in
            "\(e)".hasPrefix("tar: entry 1 \"jello.txt\": bad checksum")
        }
    }

    @Test func everyTypeOfEntry() throws {
        var w = TarWriter()
        w.dir("./etc/")
        w.file("./etc/hosts", "127.0.0.1 localhost\n", mode: 0o600, uid: 1, gid: 2)
        w.symlink("./etc/localtime", to: "/usr/share/zoneinfo/UTC")
        w.hardlink("./etc/hosts.bak", to: "./etc/hosts")
        w.raw(TarWriter.header(name: "dev/null", type: "3", mode: 0o666, devMajor: 1, devMinor: 3))
        w.raw(TarWriter.header(name: "dev/sda", type: "4", mode: 0o660, devMajor: 8, devMinor: 0))
        w.fifo("run/pipe")
        w.raw(TarWriter.header(name: "old-style-dir/", type: "0", mode: 0o755, magic: .v7))
        w.raw(TarWriter.header(name: "file", type: "7", size: 0))  // contiguous: a regular file
        w.raw(TarWriter.header(name: "name", prefix: "a/prefix/from/ustar"))
        let entries = try readAll(w.finished).map(\.0)
        #expect(entries.map(\.kind) == [.directory, .regular, .symlink, .hardLink, .characterDevice, .blockDevice, .fifo, .directory, .regular, .regular])
        #expect(entries.map(\.index) == Array(1...10))
        #expect(entries[1].mode == 0o600 && entries[1].uid == 1 && entries[1].gid == 2)
        #expect(entries[2].linkTarget == "/usr/share/zoneinfo/UTC")
        #expect(entries[3].linkTarget == "./etc/hosts" && entries[3].size == 0)
        #expect(entries[4].deviceMajor == 1 && entries[4].deviceMinor == 3)
        #expect(entries[5].deviceMajor == 8)
        #expect(entries[9].path == "a/prefix/from/ustar/name")
    }

    @Test func paxLongNameMtimeAndXattrs() throws {
        let long = String(repeating: "d/", count: 60) + "file-with-a-name-past-one-hundred-bytes"
        #expect(long.utf8.count > 100)
        var w = TarWriter()
        // A value with a newline and a NUL: records are split by length, not by line.
        let binary: [UInt8] = [0x01, 0x0a, 0x00, 0xff]
        w.pax([
            ("path", Array(long.utf8)), ("mtime", Array("1700000000.25".utf8)), ("uid", Array("3000000".utf8)),
            ("uname", Array("someone".utf8)), ("SCHILY.xattr.user.note", Array("hi there".utf8)),
            ("SCHILY.xattr.security.capability", binary), ("ctime", Array("1.5".utf8)),
        ])
        w.file("truncated-name-in-the-header", "data")
        w.pax([("linkpath", Array(("/" + long).utf8))])
        w.symlink("short", to: "ignored")
        let entries = try readAll(w.finished)
        #expect(entries.count == 2)
        let e = entries[0].0
        #expect(e.path == long)
        #expect(e.modified == FileTime(seconds: 1_700_000_000, nanoseconds: 250_000_000))
        #expect(e.uid == 3_000_000 && e.userName == "someone")
        #expect(e.xattrs == [ExtendedAttribute(name: "user.note", value: Array("hi there".utf8)), ExtendedAttribute(name: "security.capability", value: binary)])
        #expect(entries[0].1 == Array("data".utf8))
        // A pax header applies to the next entry only.
        #expect(entries[1].0.path == "short" && entries[1].0.linkTarget == "/" + long && entries[1].0.xattrs.isEmpty)
    }

    @Test func paxRecordsAreSplitByLength() throws {
        let bytes = TarWriter.paxRecords([("path", Array("a".utf8))])
        #expect(String(decoding: bytes, as: UTF8.self) == "9 path=a\n")
        // Where the length gains a digit by counting itself: 98 bytes and two digits
        // would be 100, which has three, so the record is 101 bytes long.
        let v = String(repeating: "v", count: 91)
        #expect(String(decoding: TarWriter.paxRecords([("path", Array(v.utf8))]), as: UTF8.self) == "101 path=\(v)\n")
        #expect(try PaxRecords(TarWriter.paxRecords([("path", Array(v.utf8))]), label: "entry 1").path == v)
        #expect(PaxRecords.time("-1.25") == FileTime(seconds: -2, nanoseconds: 750_000_000))
        #expect(PaxRecords.time("12") == FileTime(seconds: 12))
        #expect(PaxRecords.time("1.x") == nil)
        #expect(throws: LayerError.self) { try PaxRecords(Array("99 path=a\n".utf8), label: "entry 1") }
    }

    @Test func aGlobalPaxHeaderIsTolerated() throws {
        var w = TarWriter()
        w.pax([("comment", Array("made by git archive".utf8))], global: true)
        w.file("a", "x")
        let entries = try readAll(w.finished)
        #expect(entries.map(\.0.path) == ["a"] && entries[0].0.index == 1)
    }

    @Test func gnuLongNameAndLongLink() throws {
        let longName = String(repeating: "n", count: 150)
        let longLink = "/" + String(repeating: "t", count: 130)
        var w = TarWriter()
        w.gnuLong(longName)
        w.gnuLong(longLink, link: true)
        w.raw(TarWriter.header(name: String(longName.prefix(100)), type: "2", linkname: String(longLink.prefix(100)), magic: .gnu))
        w.gnuLong(longName + "/x")
        w.raw(TarWriter.header(name: "ignored", size: 3, magic: .gnu), Array("abc".utf8))
        let entries = try readAll(w.finished)
        #expect(entries.count == 2)
        #expect(entries[0].0.path == longName && entries[0].0.linkTarget == longLink && entries[0].0.kind == .symlink)
        #expect(entries[1].0.path == longName + "/x" && entries[1].1 == Array("abc".utf8))
    }

    @Test func numbersInOctalAndBase256() {
        #expect(TarHeader.number(Array("0000644\u{0}".utf8)) == 0o644)
        #expect(TarHeader.number(Array("  644 \u{0}".utf8)) == 0o644)
        #expect(TarHeader.number([0, 0, 0]) == 0)
        #expect(TarHeader.number(Array("0008".utf8)) == nil)
        #expect(TarHeader.number(Array("12 34".utf8)) == nil)
        // GNU base-256: bit 7 of the first byte set; the rest big-endian.
        #expect(TarHeader.number([0x80, 0, 0, 0, 0, 0, 0x01, 0x00]) == 256)
        #expect(TarHeader.number([0x80, 0, 0, 0, 0, 0, 0, 0x02, 0, 0, 0, 0]) == 1 << 33)
        #expect(TarHeader.number([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]) == -1)
    }

    @Test func contentIsStreamedAndSkipped() throws {
        let big = noise(200_000)
        var w = TarWriter()
        w.file("big", bytes: big)
        w.file("after", "tail")
        w.file("unread", bytes: noise(5000))
        w.file("last", "end")
        let reader = TarReader(MemorySource(w.finished))
        let first = try #require(try reader.next())
        #expect(first.size == 200_000)
        var got: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 10_007)
        while true {
            let n = try buf.withUnsafeMutableBytes { try reader.readContent(into: $0) }
            if n == 0 { break }
            got += buf[0..<n]
        }
        #expect(got == big)
        #expect(try reader.next()?.path == "after")
        #expect(try reader.next()?.path == "unread")
        // Its content is skipped by the next call.
        #expect(try reader.next()?.path == "last")
        #expect(try reader.next() == nil)
        #expect(try reader.next() == nil)
    }

    @Test func truncatedArchivesAreErrors() {
        var w = TarWriter()
        w.file("cut", bytes: noise(2000))
        let cut = Array(w.bytes.prefix(1200))
        #expect {
            _ = try readAll(cut)
        } throws: { e in
            "\(e)" == "tar: entry 1 \"cut\": archive ends inside the file's content"
        }
        #expect {
            _ = try readAll(Array(TarFormat.golden.prefix(300)))
        } throws: { e in
            "\(e)".hasPrefix("tar: entry 1: archive ends inside a header")
        }
        // A pax header with no entry after it.
        var p = TarWriter()
        p.pax([("path", Array("x".utf8))])
        #expect(throws: LayerError.self) { _ = try readAll(p.bytes) }
    }

    @Test func unsupportedTypesAreRefusedByName() {
        var w = TarWriter()
        w.raw(TarWriter.header(name: "sparse", type: "S", magic: .gnu))
        #expect {
            _ = try readAll(w.finished)
        } throws: { e in
            "\(e)" == "tar: entry 1 \"sparse\": sparse files (type 'S') are not supported"
        }
        var v = TarWriter()
        v.raw(TarWriter.header(name: "vol", type: "V", magic: .gnu))
        #expect {
            _ = try readAll(v.finished)
        } throws: { e in
            "\(e)" == "tar: entry 1 \"vol\": unsupported entry type 'V'"
        }
    }

    @Test func anArchiveWithoutEndBlocksEndsAtEOF() throws {
        var w = TarWriter()
        w.file("a", "x")
        #expect(try readAll(w.bytes).map(\.0.path) == ["a"])
        #expect(try readAll([]).isEmpty)
    }
}
