// Chapter 10: ADD and COPY, files of the build context as a layer.
//
// No container is needed: the layer is written directly, as a tar of entries under
// the destination, each file read once from the context (BuildContext.swift says how
// nothing outside it is read). Docker's rules:
//   - a directory source copies its contents, not itself; a file goes to DEST, or into
//     DEST when DEST ends with `/` or is a directory in the image; several sources (or a
//     wildcard) need a directory DEST ending with `/`;
//   - a relative DEST is taken from the WORKDIR;
//   - what is copied belongs to root (0:0) unless --chown says otherwise; modes and
//     modification times are kept;
//   - ADD of a local tar (plain, gzip or zstd) unpacks it into DEST, keeping its owners;
//     ADD of a URL is refused here (vitro builds offline).
// The parent directories of DEST go into the layer too: as the image has them (mode,
// owner, time from its snapshots), or as root's 0755 when they are new.
//
// Before anything is written the plan is hashed (names, modes, owners, link targets
// and every file's bytes, not times): that digest is the step's cache key, so a build
// after a change in a copied file copies again, and `touch` alone does not.

import VitroCommit
import VitroImage
import VitroLayers
import VitroSys
import VitroTrace

#if canImport(Glibc)
import Glibc
#endif

/// One entry ADD or COPY puts into its layer.
struct CopyItem {
    enum Content {
        case none
        /// A regular file of the context.
        case file(String)
        /// A tar of the context, unpacked at `path` (ADD).
        case archive(String)
    }
    /// Inside the image, without a leading "/".
    var components: [String]
    var kind: TarEntry.Kind
    var mode: UInt32
    var uid: UInt32
    var gid: UInt32
    var mtime: FileTime
    var linkTarget = ""
    var content: Content = .none
}

struct ContextCopy {
    let keyword: String
    var items: [CopyItem] = []
    let lower: LowerView
    let owner: (uid: UInt32, gid: UInt32)?
    /// `file:HEX in DEST` as Docker's history says it.
    var summary = ""

    /// What `ADD`/`COPY` with these sources and destination will write.
    init(
        keyword: String, context: BuildContext, sources: [String], dest: String, workdir: String, owner: (UInt32, UInt32)?,
        mode: UInt32?, base: StepBase
    ) throws {
        self.keyword = keyword
        self.owner = owner
        lower = LowerView(topFirst: base.lower.reversed())
        let absolute = dest.hasPrefix("/") ? dest : (workdir.isEmpty ? "/" : workdir) + "/" + dest
        guard let destination = BuildContext.components(absolute) else {
            throw BuildError("\(keyword) failed: destination \(dest) climbs out of the image's root")
        }
        var found: [ContextSource] = []
        for s in sources {
            if s.hasPrefix("http://") || s.hasPrefix("https://") {
                throw BuildError("\(keyword) failed: \(s): remote URLs are not supported (vitro builds offline); put the file in the build context and COPY it")
            }
            found += try context.sources(s, instruction: keyword)
        }
        let wild = sources.contains { $0.contains { "*?[".contains($0) } }
        let existing = lower.lookup(destination)
        let intoDirectory = dest.hasSuffix("/") || dest == "." || dest.hasSuffix("/.") || existing?.isDirectory == true
        if (found.count > 1 || wild) && !intoDirectory {
            throw BuildError("\(keyword) failed: when using \(keyword) with more than one source file, the destination must be a directory and end with a /")
        }
        let uid = owner?.0 ?? 0
        let gid = owner?.1 ?? 0
        let now = FileTime(seconds: Int64(MonotonicClock.wallSeconds()))
        func directory(_ c: [String], like st: FileStatus? = nil) -> CopyItem {
            let kept = lower.lookup(c)
            return CopyItem(
                components: c, kind: .directory, mode: mode ?? st?.permissions ?? kept?.permissions ?? 0o755,
                uid: owner == nil ? (kept?.uid ?? 0) : uid, gid: owner == nil ? (kept?.gid ?? 0) : gid, mtime: st?.mtime ?? kept?.mtime ?? now)
        }
        for source in found {
            let st = source.status
            if st.isDirectory {
                if !destination.isEmpty { items.append(directory(destination)) }
                try context.walk(source) { e in
                    let c = destination + e.components
                    let s = e.status
                    if s.isDirectory {
                        items.append(CopyItem(components: c, kind: .directory, mode: mode ?? s.permissions, uid: uid, gid: gid, mtime: s.mtime))
                    } else if s.isRegular {
                        items.append(
                            CopyItem(
                                components: c, kind: .regular, mode: mode ?? s.permissions, uid: uid, gid: gid, mtime: s.mtime,
                                content: .file(source.path + "/" + e.relative)))
                    } else if s.isSymlink {
                        items.append(CopyItem(components: c, kind: .symlink, mode: 0o777, uid: uid, gid: gid, mtime: s.mtime, linkTarget: e.linkTarget))
                    }
                }
                continue
            }
            guard st.isRegular else {
                throw BuildError("\(keyword) failed: \(source.relative): not a regular file or a directory")
            }
            if keyword == "ADD", try Self.isArchive(source.path) {
                if !destination.isEmpty { items.append(directory(destination)) }
                items.append(CopyItem(components: destination, kind: .directory, mode: 0, uid: uid, gid: gid, mtime: now, content: .archive(source.path)))
                continue
            }
            let name = source.relative.split(separator: "/").last.map(String.init) ?? ""
            let target = intoDirectory ? destination + [name] : destination
            if target.isEmpty { throw BuildError("\(keyword) failed: cannot copy a file over the image's root") }
            items.append(
                CopyItem(components: target, kind: .regular, mode: mode ?? st.permissions, uid: uid, gid: gid, mtime: st.mtime, content: .file(source.path)))
        }
        // Docker's history line: one source file or directory by its digest, else "multi:".
        let what = found.count == 1 ? (found[0].status.isDirectory ? "dir" : "file") : "multi"
        summary = "\(what):\(try digest().hex) in \(absolute)"
    }

    /// Whether a file is a tar (plain, gzip or zstd), by its first bytes.
    static func isArchive(_ path: String) throws -> Bool {
        let (plain, _) = try Compression.decompressing(try FileSource(path: path), name: path)
        var head = [UInt8](repeating: 0, count: 512)
        var got = 0
        while got < head.count {
            let n = try head.withUnsafeMutableBytes { p in try plain.read(into: UnsafeMutableRawBufferPointer(rebasing: p[got...])) }
            if n == 0 { break }
            got += n
        }
        return got == 512 && Array(head[257..<262]) == Array("ustar".utf8)
    }

    /// The hash of everything the step will write but times: the cache's key.
    func digest() throws -> Digest {
        var h = SHA256Hasher()
        for item in items {
            h.update(Array("\(item.components.joined(separator: "/"))\0\(item.kind.rawValue)\0\(String(item.mode, radix: 8))\0\(item.uid):\(item.gid)\0\(item.linkTarget)\0".utf8))
            switch item.content {
            case .none: break
            case .file(let path), .archive(let path):
                let fd = try Sys.open(path, flags: O_RDONLY | O_NOFOLLOW | O_CLOEXEC, trace: false)
                defer { Sys.close(fd) }
                while let chunk = try Sys.read(fd, max: 1 << 20), !chunk.isEmpty { h.update(chunk) }
            }
        }
        return h.finish()
    }

    /// Writes the layer: each item, after the directories above it.
    func write(to tar: TarWriter, mirror: LayerUnpacker) throws {
        let out = Emitter(keyword: keyword, tar: tar, mirror: mirror, lower: lower)
        for item in items {
            if case .archive(let path) = item.content {
                try unpackArchive(path, into: item.components, out)
                continue
            }
            try out.parents(of: item.components)
            var entry = TarEntry(
                index: out.count + 1, path: item.components.joined(separator: "/"), kind: item.kind, mode: item.mode, uid: item.uid, gid: item.gid,
                modified: FileTime(seconds: item.mtime.seconds), linkTarget: item.linkTarget)
            guard case .file(let path) = item.content else {
                try out.emit(entry, content: nil)
                continue
            }
            let fd = try Sys.open(path, flags: O_RDONLY | O_NOFOLLOW | O_CLOEXEC, trace: false)
            defer { Sys.close(fd) }
            guard let st = Sys.status(fd: fd), st.isRegular else { throw BuildError("\(keyword) failed: \(path) changed while it was copied") }
            entry.size = st.size
            let source = FileSource(fd: fd, name: path)
            var left = st.size
            let keyword = self.keyword
            try out.emit(entry) { buffer in
                guard left > 0 else { return 0 }
                let n = try source.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<min(buffer.count, Int(clamping: left))]))
                guard n > 0 else { throw BuildError("\(keyword) failed: \(path) ended \(left) bytes early (it changed while it was read)") }
                left -= Int64(n)
                return n
            }
        }
        Tracer.shared.note(
            "copied", group: .layer, args: ["entries": .int(Int64(out.count)), "untraced": .int(Int64(max(0, out.count - Emitter.detailLimit)))],
            why: "the files of the build context and the directories above them, written once into the layer and its snapshot")
    }

    /// ADD of a local tar: its entries, under `into`, each checked as `run` would check it.
    func unpackArchive(_ path: String, into: [String], _ out: Emitter) throws {
        let (plain, _) = try Compression.decompressing(try FileSource(path: path), name: path)
        let reader = TarReader(plain)
        let prefix = into.joined(separator: "/")
        while var entry = try reader.next() {
            try LayerNames.check(entry)
            guard let inside = BuildContext.components(entry.path), !inside.isEmpty else { continue }
            let c = into + inside
            try out.parents(of: c)
            entry.path = c.joined(separator: "/")
            if entry.kind == .hardLink, let target = BuildContext.components(entry.linkTarget) {
                entry.linkTarget = (prefix.isEmpty ? "" : prefix + "/") + target.joined(separator: "/")
            }
            if let owner {
                entry.uid = owner.uid
                entry.gid = owner.gid
            }
            try out.emit(entry, content: entry.kind == .regular ? { buffer in try reader.readContent(into: buffer) } : nil)
        }
    }
}

/// Writes entries into the step's tar and its snapshot at once, each directory once,
/// the directories above an entry before it.
final class Emitter {
    static let detailLimit = 16
    let keyword: String
    let tar: TarWriter
    let mirror: LayerUnpacker
    let lower: LowerView
    var written: Set<[String]> = []
    var count = 0

    init(keyword: String, tar: TarWriter, mirror: LayerUnpacker, lower: LowerView) {
        self.keyword = keyword
        self.tar = tar
        self.mirror = mirror
        self.lower = lower
    }

    func emit(_ entry: TarEntry, content: ((UnsafeMutableRawBufferPointer) throws -> Int)?) throws {
        let components = entry.path.split(separator: "/").map(String.init)
        if entry.kind == .directory {
            if written.contains(components) { return }
            written.insert(components)
        }
        try tar.append(entry)
        let tar = self.tar
        try mirror.apply(entry) { out in
            guard let content else { return 0 }
            let n = try content(out)
            if n > 0 { try tar.writeContent(UnsafeRawBufferPointer(rebasing: out[0..<n])) }
            return n
        }
        count += 1
        if count <= Self.detailLimit {
            Tracer.shared.note(
                "copy", group: .layer,
                args: ["path": .string("/" + entry.path), "type": .string(entry.kind.rawValue), "mode": .string("0" + String(entry.mode, radix: 8)),
                    "uid": .int(Int64(entry.uid)), "gid": .int(Int64(entry.gid))],
                why: "into the step's layer, as it will be in the image")
        }
    }

    /// The directories above `c` not written yet: as the image has them, else root's 0755.
    func parents(of c: [String]) throws {
        guard c.count > 1 else { return }
        for n in 1..<c.count {
            let p = Array(c[..<n])
            if written.contains(p) { continue }
            let st = lower.lookup(p)
            if let st, !st.isDirectory {
                throw BuildError("\(keyword) failed: /\(p.joined(separator: "/")) is not a directory in the image (\(st.isSymlink ? "a symlink; name the directory it points to" : "a file"))")
            }
            try emit(
                TarEntry(
                    index: count + 1, path: p.joined(separator: "/"), kind: .directory, mode: st?.permissions ?? 0o755, uid: st?.uid ?? 0,
                    gid: st?.gid ?? 0, modified: FileTime(seconds: st?.mtime.seconds ?? Int64(MonotonicClock.wallSeconds()))),
                content: nil)
        }
    }
}
