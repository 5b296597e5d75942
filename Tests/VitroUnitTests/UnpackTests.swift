// Chapter 02, unpacking: what a layer's entries become on disk, in what order their
// metadata is set, the one trace event per entry, and the layers that try to write
// outside the snapshot. No root needed: owners are not changed (root-only parts,
// device nodes, whiteouts and trusted.* xattrs, are in the Ch02Layers integration
// suite).

import Foundation
import Testing

@testable import VitroImage
@testable import VitroLayers
import VitroSys
import VitroTrace

/// Unpacks `tar` into a fresh `snap` directory of `scratch`.
@discardableResult
func unpack(_ tar: [UInt8], into dir: String, owners: Bool = false) throws -> UnpackSummary {
    let unpacker = try LayerUnpacker(into: dir, options: UnpackOptions(preserveOwners: owners))
    return try unpacker.unpack(TarReader(MemorySource(tar)))
}

/// Names, types, modes, sizes, link targets and contents of a tree, for before/after
/// comparisons.
func treeState(_ root: String) -> [String] {
    var out: [String] = []
    func walk(_ rel: String) {
        let path = rel.isEmpty ? root : root + "/" + rel
        guard let st = Sys.status(path) else { return }
        var line = "\(rel.isEmpty ? "." : rel) \(String(st.mode, radix: 8)) \(st.uid):\(st.gid) \(st.mtime.seconds)"
        if st.isSymlink { line += " -> " + (Sys.readlink(path) ?? "?") }
        if st.isRegular { line += " " + ((try? Sys.readText(path)) ?? "?") }
        out.append(line)
        if st.isDirectory {
            for n in Sys.listDirectory(path) { walk(rel.isEmpty ? n : rel + "/" + n) }
        }
    }
    walk("")
    return out
}

@Suite struct Unpacking {
    @Test func everyKindWithModesTimesAndXattrs() throws {
        let s = try Scratch()
        let snap = try s.mkdir("snap")
        var w = TarWriter()
        w.dir("./", mode: 0o755)
        w.dir("./etc/", mode: 0o750, mtime: 1_600_000_000)
        w.pax([("SCHILY.xattr.user.note", Array("on a file".utf8)), ("mtime", Array("1500000000.5".utf8))])
        w.file("./etc/motd", "welcome\n", mode: 0o4755)
        w.symlink("./etc/link", to: "motd", mtime: 1_400_000_000)
        w.hardlink("./etc/motd.hard", to: "./etc/motd")
        w.fifo("./run/fifo", mode: 0o620)
        w.pax([("SCHILY.xattr.user.dir", Array("on a dir".utf8))])
        w.dir("./data/", mode: 0o700)
        let summary = try unpack(w.finished, into: snap)
        #expect(summary.entries == 7 && summary.regularFiles == 1 && summary.bytes == 8)

        let etc = try #require(Sys.status(snap + "/etc"))
        #expect(etc.isDirectory && etc.permissions == 0o750)
        // Set after its children were made, so still the layer's time.
        #expect(etc.mtime.seconds == 1_600_000_000)

        let motd = try #require(Sys.status(snap + "/etc/motd"))
        #expect(motd.isRegular && motd.permissions == 0o4755 && motd.links == 2)
        #expect(motd.mtime == FileTime(seconds: 1_500_000_000, nanoseconds: 500_000_000))
        #expect(try Sys.readText(snap + "/etc/motd") == "welcome\n")
        #expect(Sys.extendedAttributes(snap + "/etc/motd") == ["user.note": Array("on a file".utf8)])
        #expect(Sys.status(snap + "/etc/motd.hard")?.inode == motd.inode)

        let link = try #require(Sys.status(snap + "/etc/link"))
        #expect(link.isSymlink && Sys.readlink(snap + "/etc/link") == "motd")
        #expect(link.mtime.seconds == 1_400_000_000, "the link's own time (AT_SYMLINK_NOFOLLOW)")

        let fifo = try #require(Sys.status(snap + "/run/fifo"))
        #expect(fifo.isFIFO && fifo.permissions == 0o620)
        // A parent the layer did not list is made like tar makes it.
        #expect(Sys.status(snap + "/run")?.permissions == 0o755)

        #expect(Sys.status(snap + "/data")?.permissions == 0o700)
        #expect(Sys.extendedAttributes(snap + "/data") == ["user.dir": Array("on a dir".utf8)])
    }

    @Test func laterEntriesReplaceEarlierOnes() throws {
        let s = try Scratch()
        let snap = try s.mkdir("snap")
        var w = TarWriter()
        w.file("x", "a file first")
        w.dir("x/")
        w.file("x/inside", "now a directory")
        w.dir("y/")
        w.file("y/child", "gone with y")
        w.file("y", "y is a file now")
        w.symlink("z", to: "x/inside")
        w.file("z", "a file replaces the link, not its target")
        w.dir("d/", mode: 0o700)
        w.dir("d/", mode: 0o711)
        _ = try unpack(w.finished, into: snap)
        #expect(Sys.status(snap + "/x")?.isDirectory == true)
        #expect(try Sys.readText(snap + "/x/inside") == "now a directory")
        #expect(try Sys.readText(snap + "/y") == "y is a file now")
        #expect(Sys.status(snap + "/z")?.isRegular == true)
        #expect(try Sys.readText(snap + "/x/inside") == "now a directory")
        #expect(Sys.status(snap + "/d")?.permissions == 0o711, "the last entry for a directory wins")
    }

    @Test func aReadOnlyDirectoryGetsItsModeAfterItsContents() throws {
        let s = try Scratch()
        let snap = try s.mkdir("snap")
        var w = TarWriter()
        w.dir("ro/", mode: 0o555, mtime: 1_234_567_890)
        w.dir("ro/sub/", mode: 0o500, mtime: 1_234_567_000)
        w.file("ro/sub/f", "x", mode: 0o400)
        _ = try unpack(w.finished, into: snap)
        #expect(Sys.status(snap + "/ro")?.permissions == 0o555)
        #expect(Sys.status(snap + "/ro")?.mtime.seconds == 1_234_567_890)
        #expect(Sys.status(snap + "/ro/sub")?.mtime.seconds == 1_234_567_000)
        #expect(try Sys.readText(snap + "/ro/sub/f") == "x")
        // Let the scratch directory be removed by a user other than root, too.
        chmod(snap + "/ro/sub", 0o700)
        chmod(snap + "/ro", 0o700)
    }

    @Test func oneTraceEventPerEntry() throws {
        let s = try Scratch()
        let snap = try s.mkdir("snap")
        let sink = MemorySink()
        Tracer.shared.addSink(sink)
        let tag = "probe-" + UUID().uuidString.prefix(8).lowercased()
        var w = TarWriter()
        w.dir(tag + "/")
        w.file(tag + "/file", "12345", mode: 0o640)
        w.symlink(tag + "/link", to: "file")
        _ = try unpack(w.finished, into: snap)
        let mine = sink.events.filter { $0.group == .layer && ($0.args["path"]?.text ?? "").hasPrefix(tag) }
        #expect(mine.map(\.name) == ["untar", "untar", "untar"])
        let file = try #require(mine.first { $0.args["path"] == .string(tag + "/file") })
        #expect(file.args.items.prefix(4).map(\.key) == ["path", "type", "mode", "size"])
        #expect(file.args["type"] == .string("file") && file.args["mode"] == .string("0640") && file.args["size"] == .int(5))
        #expect(file.phase == .complete && file.ret == 0 && file.errno == nil)
        #expect(file.why?.isEmpty == false && file.shell?.isEmpty == false)
        #expect(mine.last?.args["target"] == .string("file"))
    }

    @Test func aNonUTF8NameIsRefusedClearly() {
        var h = TarWriter.header(name: "x")
        h[0] = 0xff
        // Recompute the checksum for the changed byte.
        h.replaceSubrange(148..<156, with: Array("        ".utf8))
        let sum = h.reduce(0) { $0 + Int($1) }
        h.replaceSubrange(148..<156, with: Array(String(format: "%06o", sum).utf8) + [0, 32])
        #expect {
            _ = try readAll(h + [UInt8](repeating: 0, count: 1024))
        } throws: { e in
            "\(e)" == "tar: entry 1: name is not UTF-8"
        }
    }
}

/// Layers that try to write outside their snapshot. Each runs against a snapshot
/// directory with a canary directory beside it, and must fail with one clear line and
/// leave the canary exactly as it was.
@Suite struct MaliciousLayers {
    final class Setup {
        let scratch: Scratch
        let snap: String
        let canary: String
        let before: [String]

        init() throws {
            scratch = try Scratch()
            snap = try scratch.mkdir("snap")
            canary = try scratch.mkdir("canary")
            try Sys.writeFile(canary + "/secret", "do not touch\n")
            before = treeState(canary)
        }

        /// Unpacks `tar`; returns the error's text ("" if it succeeded).
        func run(_ tar: [UInt8]) -> String {
            do {
                try unpack(tar, into: snap)
                return ""
            } catch {
                return "\(error)"
            }
        }

        var canaryUntouched: Bool { treeState(canary) == before }
    }

    @Test func pathTraversal() throws {
        let t = try Setup()
        var w = TarWriter()
        w.file("../canary/x", "escaped")
        #expect(t.run(w.finished) == "untar: entry 1 \"../canary/x\": \"..\" component refused (it could leave the snapshot)")
        #expect(t.canaryUntouched)
    }

    @Test func absoluteName() throws {
        let t = try Setup()
        var w = TarWriter()
        w.file(t.canary + "/x", "escaped")
        #expect(t.run(w.finished) == "untar: entry 1 \"\(t.canary)/x\": absolute path refused (names in a layer are relative to its root)")
        #expect(t.canaryUntouched)
    }

    @Test func writeThroughASymlinkFromTheLayer() throws {
        let t = try Setup()
        var w = TarWriter()
        w.symlink("evil", to: "../canary")
        w.file("evil/x", "escaped")
        #expect(t.run(w.finished) == "untar: entry 2 \"evil/x\": \"evil\" is a symlink (-> ../canary); refusing to follow it")
        #expect(t.canaryUntouched)
        #expect(Sys.readlink(t.snap + "/evil") == "../canary", "the link itself is unpacked")
    }

    @Test func writeThroughASymlinkToTheRoot() throws {
        let t = try Setup()
        var w = TarWriter()
        w.symlink("root", to: "/")
        w.file("root" + t.canary + "/x", "escaped")
        #expect(t.run(w.finished) == "untar: entry 2 \"root\(t.canary)/x\": \"root\" is a symlink (-> /); refusing to follow it")
        #expect(t.canaryUntouched)
    }

    @Test func aSymlinkDeeperInThePath() throws {
        let t = try Setup()
        var w = TarWriter()
        w.dir("a/")
        w.symlink("a/b", to: "../../canary")
        w.dir("a/b/")
        w.dir("a/b/c/")
        // A directory entry replaces the link (tar's rule) rather than following it.
        #expect(t.run(w.finished) == "")
        #expect(Sys.status(t.snap + "/a/b")?.isDirectory == true)
        var v = TarWriter()
        v.symlink("a/b2", to: "../../canary")
        v.file("a/b2/c/x", "escaped")
        #expect(t.run(v.finished) == "untar: entry 2 \"a/b2/c/x\": \"a/b2\" is a symlink (-> ../../canary); refusing to follow it")
        #expect(t.canaryUntouched)
    }

    @Test func hardLinkToAFileOutside() throws {
        let t = try Setup()
        var w = TarWriter()
        w.hardlink("h", to: "../canary/secret")
        #expect(t.run(w.finished) == "untar: entry 1 \"h\": hard link target \"../canary/secret\": \"..\" component refused (it could leave the snapshot)")
        var v = TarWriter()
        v.hardlink("h", to: t.canary + "/secret")
        #expect(t.run(v.finished).hasPrefix("untar: entry 1 \"h\": hard link target \"\(t.canary)/secret\": absolute path refused"))
        var u = TarWriter()
        u.symlink("evil", to: "../canary")
        u.hardlink("h", to: "evil/secret")
        #expect(t.run(u.finished) == "untar: entry 2 \"h\": \"evil\" is a symlink (-> ../canary); refusing to follow it")
        #expect(t.canaryUntouched)
        #expect(Sys.status(t.snap + "/h") == nil)
    }

    @Test func aHardLinkMayOnlyNameAFileOfTheSameLayer() throws {
        let t = try Setup()
        var w = TarWriter()
        w.hardlink("h", to: "etc/shadow")
        #expect(t.run(w.finished) == "untar: entry 1 \"h\": hard link target \"etc/shadow\" is not in this layer")
    }

    @Test func aFileReplacesASymlinkInsteadOfWritingThroughIt() throws {
        let t = try Setup()
        var w = TarWriter()
        w.symlink("evil", to: "../canary/secret")
        w.file("evil", "overwritten?")
        #expect(t.run(w.finished) == "")
        #expect(t.canaryUntouched)
        #expect(try Sys.readText(t.snap + "/evil") == "overwritten?")
    }

    @Test func whiteoutsThroughASymlink() throws {
        let t = try Setup()
        var w = TarWriter()
        w.symlink("evil", to: "../canary")
        w.file("evil/.wh.secret", "")
        #expect(t.run(w.finished) == "untar: entry 2 \"evil/.wh.secret\": \"evil\" is a symlink (-> ../canary); refusing to follow it")
        var v = TarWriter()
        v.symlink("evil2", to: "../canary")
        v.file("evil2/.wh..wh..opq", "")
        #expect(t.run(v.finished).hasPrefix("untar: entry 2 \"evil2/.wh..wh..opq\": \"evil2\" is a symlink"))
        #expect(t.canaryUntouched)
    }

    @Test func badWhiteoutNames() throws {
        let t = try Setup()
        for (name, message) in [
            (".wh.", "bad whiteout name \".wh.\" (it names no entry)"),
            ("a/.wh..", "bad whiteout name \".wh..\" (it names no entry)"),
            ("a/.wh...", "bad whiteout name \".wh...\" (it names no entry)"),
            ("a/.wh.b/c", "bad whiteout name: \".wh.b\" is used as a directory"),
        ] {
            var w = TarWriter()
            w.file(name, "")
            #expect(t.run(w.finished) == "untar: entry 1 \"\(name)\": \(message)")
        }
        #expect(t.canaryUntouched)
        #expect(Sys.listDirectory(t.snap).allSatisfy { $0 == "a" })
    }

    @Test func overlayXattrsFromALayerAreDropped() throws {
        let t = try Setup()
        var w = TarWriter()
        w.pax([("SCHILY.xattr.user.overlay.opaque", Array("y".utf8)), ("SCHILY.xattr.user.ok", Array("1".utf8))])
        w.dir("d/")
        #expect(t.run(w.finished) == "")
        #expect(Sys.extendedAttributes(t.snap + "/d") == ["user.ok": Array("1".utf8)])
    }
}
