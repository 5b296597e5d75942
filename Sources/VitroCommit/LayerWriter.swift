// Chapter 09: a directory tree as a tar stream. Two trees get written:
//
// - a container's overlay **upper directory** (`commit`): everything the container
//   wrote, in overlayfs's form, is translated back into OCI's form, the reverse of
//   chapter 02's unpacker: a character device 0:0 (a deletion) becomes an empty file
//   `.wh.NAME`, and a directory with `trusted.overlay.opaque=y` (its lower contents are
//   gone) gets an empty `.wh..wh..opq` inside it. overlayfs's own bookkeeping xattrs
//   (trusted.overlay.origin, .impure, …) are not content and stay behind. An upper
//   directory that uses overlayfs features a layer cannot express (redirect_dir,
//   metacopy; both off by default) is refused rather than written wrong.
// - any other tree as it is (`export`: a container's merged root, mounted read-only).
//
// One pass per file: its bytes are read into the tar writer's buffer and go from there
// to the sink (hashed, maybe compressed, written). When a snapshot is made in the same
// pass (`mirror`), the entry is also unpacked into it by chapter 02's unpacker, so the
// snapshot is exactly what unpacking the finished layer would give, without reading
// the layer again.
//
// Tracing: a layer can have a million entries, so the first `detailLimit` entries and
// whiteouts get an event each (`tar`, `whiteout`, `opaque`), and one `layer` note at the
// end counts everything, including how many events were left out.

import VitroImage
import VitroLayers
import VitroSys
import VitroTrace

#if canImport(Glibc)
import Glibc
#endif

/// What a written tree held.
public struct LayerSummary: Sendable, Equatable {
    public var entries = 0
    public var files = 0
    public var directories = 0
    public var symlinks = 0
    public var hardLinks = 0
    public var whiteouts = 0
    public var opaqueDirectories = 0
    /// Content bytes of regular files.
    public var bytes: Int64 = 0
    /// Sockets: tar has no way to hold them (Docker leaves them out too).
    public var skippedSockets = 0
    /// Entries whose event was left out (beyond `detailLimit`).
    public var untraced = 0
    public init() {}
}

public final class LayerWriter {
    public enum Mode: Sendable { case overlayUpper, plain }

    public let root: String
    public let mode: Mode
    /// How many entries (and, separately, whiteouts) get an event of their own.
    public var detailLimit = 16
    /// Entries (relative paths) left out: mount points vitro made (ContainerChanges.mountPoints).
    public var skip: Set<String> = []
    public private(set) var summary = LayerSummary()
    /// The first name seen for each inode with more than one link: later names become
    /// hard links to it.
    private var links: [UInt64: String] = [:]
    private var detailedEntries = 0
    private var detailedWhiteouts = 0
    private let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 4096)

    static let opaqueXattr = "trusted.overlay.opaque"

    public init(root: String, mode: Mode) {
        self.root = root
        self.mode = mode
    }

    deinit { buffer.deallocate() }

    /// Writes every entry of the tree into `tar` (and, with `mirror`, unpacks it there).
    /// Does not finish the archive: the caller may add more.
    public func write(to tar: TarWriter, mirror: LayerUnpacker? = nil) throws {
        try TreeWalker(root: root).walk { e in
            try self.add(e, tar: tar, mirror: mirror)
        }
    }

    /// One entry; returns whether the walk descends into it.
    private func add(_ e: TreeEntry, tar: TarWriter, mirror: LayerUnpacker?) throws -> Bool {
        let start = MonotonicClock.now()
        let st = e.status
        let path = e.relative
        if skip.contains(path) { return false }
        var xattrs = e.xattrs
        if mode == .overlayUpper {
            if let bad = xattrs.first(where: { $0.name == "trusted.overlay.redirect" || $0.name == "trusted.overlay.metacopy" }) {
                throw CommitError(
                    "\(path): overlayfs wrote \(bad.name) (redirect_dir or metacopy is on), which a layer cannot express; mount overlays with redirect_dir=off,metacopy=off")
            }
            xattrs.removeAll { $0.name.hasPrefix("trusted.overlay.") }
        }
        var entry = TarEntry(
            index: summary.entries + 1, path: path, kind: .regular, mode: st.permissions, uid: st.uid, gid: st.gid,
            modified: FileTime(seconds: st.mtime.seconds), xattrs: xattrs)

        if mode == .overlayUpper && st.isWhiteout {
            // A deletion: an empty regular file named .wh.NAME (Docker writes mode 0600).
            let marker = (e.components.dropLast() + [".wh." + e.name]).joined(separator: "/")
            entry.path = marker
            entry.mode = 0o600
            entry.xattrs = []
            try tar.append(entry)
            try mirror?.apply(entry) { _ in 0 }
            summary.whiteouts += 1
            summary.entries += 1
            detail(whiteout: true, start: start, name: "whiteout", args: ["path": .string(marker), "hides": .string(path)],
                why: "overlayfs spelled this deletion as a character device 0:0; an OCI layer spells it as an empty file .wh.NAME",
                shell: "test -c \(Sys.shellQuote(path)) && touch \(Sys.shellQuote(marker))")
            return false
        }

        if st.isDirectory {
            entry.kind = .directory
            try tar.append(entry)
            try mirror?.apply(entry) { _ in 0 }
            summary.directories += 1
            summary.entries += 1
            detail(start: start, name: "tar", args: args(entry), why: nil, shell: nil)
            if mode == .overlayUpper, e.xattr(Self.opaqueXattr) == Array("y".utf8) {
                let marker = TarEntry(
                    index: summary.entries + 1, path: path + "/.wh..wh..opq", kind: .regular, mode: st.permissions & 0o777,
                    uid: st.uid, gid: st.gid, modified: FileTime(seconds: st.mtime.seconds))
                try tar.append(marker)
                try mirror?.apply(marker) { _ in 0 }
                summary.opaqueDirectories += 1
                summary.entries += 1
                detail(whiteout: true, start: start, name: "opaque", args: ["path": .string(path)],
                    why: "overlayfs marked this directory opaque (trusted.overlay.opaque=y: what the layers below had in it is gone); an OCI layer says so with an empty .wh..wh..opq inside it",
                    shell: "getfattr -n trusted.overlay.opaque \(Sys.shellQuote(path)) && touch \(Sys.shellQuote(path + "/.wh..wh..opq"))")
            }
            return true
        }

        if st.isRegular, st.links > 1 {
            if let first = links[st.inode] {
                entry.kind = .hardLink
                entry.linkTarget = first
                try tar.append(entry)
                try mirror?.apply(entry) { _ in 0 }
                summary.hardLinks += 1
                summary.entries += 1
                detail(start: start, name: "tar", args: args(entry), why: nil, shell: nil)
                return false
            }
            links[st.inode] = path
        }

        switch true {
        case st.isRegular:
            entry.kind = .regular
            entry.size = st.size
            let fd = try e.open()
            defer { Sys.close(fd) }
            try tar.append(entry)
            let source = FileSource(fd: fd, name: root + "/" + path)
            if let mirror {
                // The unpacker pulls the content; each piece it reads goes into the tar too.
                var left = st.size
                try mirror.apply(entry) { out in
                    guard left > 0 else { return 0 }
                    let room = UnsafeMutableRawBufferPointer(rebasing: out[0..<min(out.count, Int(clamping: left))])
                    let n = try source.read(into: room)
                    guard n > 0 else { throw TarWriteError("tar: \"\(path)\": the file ended \(left) bytes early (it changed while it was read)") }
                    try tar.writeContent(UnsafeRawBufferPointer(rebasing: room[0..<n]))
                    left -= Int64(n)
                    return n
                }
                if try source.read(into: buffer) > 0 { throw TarWriteError("tar: \"\(path)\": the file grew while it was read") }
            } else {
                try tar.writeContent(from: source)
            }
            summary.files += 1
            summary.bytes += st.size
        case st.isSymlink:
            entry.kind = .symlink
            entry.linkTarget = e.linkTarget
            entry.mode = 0o777
            try tar.append(entry)
            try mirror?.apply(entry) { _ in 0 }
            summary.symlinks += 1
        case st.isCharacterDevice, st.isBlockDevice:
            entry.kind = st.isCharacterDevice ? .characterDevice : .blockDevice
            entry.deviceMajor = st.rdevMajor
            entry.deviceMinor = st.rdevMinor
            try tar.append(entry)
            try mirror?.apply(entry) { _ in 0 }
        case st.isFIFO:
            entry.kind = .fifo
            try tar.append(entry)
            try mirror?.apply(entry) { _ in 0 }
        default:
            summary.skippedSockets += 1
            return false
        }
        summary.entries += 1
        detail(start: start, name: "tar", args: args(entry), why: nil, shell: nil)
        return false
    }

    private func args(_ e: TarEntry) -> Args {
        var a: Args = ["path": .string(e.path), "type": .string(e.kind.rawValue), "mode": .string("0" + String(e.mode, radix: 8))]
        if e.kind == .regular { a.append("size", .int(e.size)) }
        if e.kind == .symlink || e.kind == .hardLink { a.append("target", .string(e.linkTarget)) }
        return a
    }

    /// One event, while under the limit; beyond it only counted.
    private func detail(whiteout: Bool = false, start: UInt64, name: String, args: Args, why: String?, shell: String?) {
        if whiteout ? detailedWhiteouts >= detailLimit : detailedEntries >= detailLimit {
            summary.untraced += 1
            return
        }
        if whiteout { detailedWhiteouts += 1 } else { detailedEntries += 1 }
        Sys.record(
            name, .layer, start: start, args: args,
            why: why ?? (mode == .overlayUpper
                ? "the container wrote this (it is in the upper directory): into the layer as it is"
                : "an entry of the tree, into the archive as it is"),
            shell: shell)
    }

    /// The summary as a trace note (after the walk).
    public func recordSummary(what: String) {
        var a: Args = [
            "root": .string(root), "entries": .int(Int64(summary.entries)), "files": .int(Int64(summary.files)),
            "bytes": .int(summary.bytes), "directories": .int(Int64(summary.directories)),
            "symlinks": .int(Int64(summary.symlinks)), "hardlinks": .int(Int64(summary.hardLinks)),
        ]
        if mode == .overlayUpper {
            a.append("whiteouts", .int(Int64(summary.whiteouts)))
            a.append("opaque", .int(Int64(summary.opaqueDirectories)))
        }
        if summary.skippedSockets > 0 { a.append("sockets_skipped", .int(Int64(summary.skippedSockets))) }
        a.append("untraced", .int(Int64(summary.untraced)))
        Tracer.shared.note(
            "walk", group: .layer, args: a,
            why: "\(what); entries beyond the first \(detailLimit) (and whiteouts beyond \(detailLimit)) are counted here instead of getting an event each")
    }
}
