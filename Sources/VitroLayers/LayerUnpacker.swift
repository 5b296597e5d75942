// Unpacks one layer into one snapshot directory, in the form overlayfs reads: files,
// directories, links and device nodes as the layer has them (mode, owner, times,
// xattrs), and OCI whiteouts turned into overlayfs ones. A snapshot holds only its own
// layer; the layers are stacked later, by the overlay mount (OverlayPlan).
//
// One entry at a time, in archive order:
//  1. the name is checked (LayerPath) and its parent opened without following symlinks
//     (SnapshotDirectory), so no entry can write outside the snapshot;
//  2. whatever is already at the name is replaced, unless both are directories (tar's
//     rule; a later entry wins);
//  3. the object is made, then given its owner, mode, xattrs and times in that order:
//     chown(2) clears set-user-ID bits and file capabilities (security.capability), so
//     mode and xattrs come after it; times come last because the other steps change
//     ctime and, for a directory, making entries inside changes its mtime;
//  4. one trace event records the entry (see Sys+Layers.swift for why one, not six).
// Directory modes and times are set at the end, deepest first, for the same reason.
//
// Whiteouts (OCI image-spec layer.md, "Whiteouts"; overlayfs.rst, "whiteouts and
// opaque directories"): `.wh.NAME` becomes a character device 0:0 named NAME, which
// overlayfs reads as "NAME is deleted"; `.wh..wh..opq` becomes the xattr
// trusted.overlay.opaque=y on its directory, which overlayfs reads as "ignore this
// directory in the layers below". A whiteout only hides what lower layers have: if
// this layer itself has NAME, NAME stays (and, being a directory, becomes opaque,
// since the lower NAME was deleted and this one replaces it).

#if canImport(Glibc)
import Glibc
#endif

import VitroSys
import VitroTrace

/// How to unpack.
public struct UnpackOptions: Sendable {
    /// Give entries the owners the layer names. Needs root (CAP_CHOWN); off, entries
    /// belong to whoever unpacks, as with `tar --no-same-owner`.
    public var preserveOwners: Bool
    /// One trace event per entry (the default). A caller that unpacks as a side effect
    /// of something it traces itself (commit makes a snapshot while it writes a layer)
    /// turns this off; a failing entry is recorded all the same.
    public var traceEntries: Bool

    public init(preserveOwners: Bool = geteuid() == 0, traceEntries: Bool = true) {
        self.preserveOwners = preserveOwners
        self.traceEntries = traceEntries
    }
}

/// What an unpack made.
public struct UnpackSummary: Sendable, Equatable {
    public var entries = 0
    public var regularFiles = 0
    public var bytes: Int64 = 0
    public var whiteouts = 0
    public var opaqueDirectories = 0
    /// AUFS metadata entries, which are not content.
    public var skipped = 0

    public init() {}
}

public final class LayerUnpacker {
    let root: SnapshotDirectory
    let options: UnpackOptions
    public private(set) var summary = UnpackSummary()

    /// Directory modes and times, applied by `finish` (deepest first).
    private struct DirectoryMetadata {
        var components: [String]
        var mode: UInt32
        var atime: FileTime
        var mtime: FileTime
    }
    private var directories: [String: Int] = [:]
    private var directoryList: [DirectoryMetadata] = []
    /// Where this layer made a whiteout: a directory that later replaces one must be
    /// opaque, or the deleted directory's lower contents would show through it.
    private var whiteouts: Set<String> = []
    /// One buffer for file content, reused for every file.
    private let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)

    /// Unpacks into `directory`, which must exist (the snapshot's `fs`).
    public init(into directory: String, options: UnpackOptions = UnpackOptions()) throws(LayerError) {
        do {
            root = try SnapshotDirectory(path: directory)
        } catch {
            throw LayerError("untar", directory, error)
        }
        self.options = options
    }

    deinit { buffer.deallocate() }

    /// Every entry of `reader`, then the directories' modes and times.
    public func unpack(_ reader: TarReader) throws(LayerError) -> UnpackSummary {
        while let entry = try reader.next() {
            try apply(entry, from: reader)
        }
        try finish()
        return summary
    }

    /// Unpacks one entry; its content, if any, is read from `reader`.
    public func apply(_ entry: TarEntry, from reader: TarReader) throws(LayerError) {
        try apply(entry) { buffer throws(LayerError) in try reader.readContent(into: buffer) }
    }

    /// Unpacks one entry whose content (for a regular file, `entry.size` bytes) comes
    /// from `content`, which fills a buffer and returns how many bytes it put there
    /// (0 at the end). For entries that are not read from a tar: a layer being
    /// written (chapter 09) is unpacked into its snapshot in the same pass.
    public func apply(_ entry: TarEntry, content: (UnsafeMutableRawBufferPointer) throws -> Int) throws(LayerError) {
        let start = MonotonicClock.now()
        var event = EntryEvent(entry)
        do {
            let path = try LayerPath(entry.path)
            event.path = path.relative
            switch try path.whiteout() {
            case .none: try create(entry, at: path, content: content, event: &event)
            case .remove(let name): try whiteout(name, marker: path, event: &event)
            case .opaque: try opaque(path, event: &event)
            case .aufsMetadata:
                event.skip()
                summary.skipped += 1
            }
            summary.entries += 1
            if options.traceEntries { event.record(start: start) }
        } catch {
            let failure = LayerUnpacker.describe(error, entry: entry)
            event.record(start: start, failure: failure)
            throw failure
        }
    }

    /// Sets the directories' modes and times, deepest first: creating entries in a
    /// directory changes its mtime, and a read-only mode set earlier would have stopped
    /// the entries being made (for a user other than root).
    public func finish() throws(LayerError) {
        guard !directoryList.isEmpty else { return }
        let start = MonotonicClock.now()
        var failure: LayerError? = nil
        // Deepest first: a parent's mode could otherwise shut the walk to its children.
        for d in directoryList.sorted(by: { $0.components.count > $1.components.count }) {
            let shown = LayerPath(components: d.components).relative
            do {
                let fd = try root.openDirectory(d.components)
                defer { Sys.close(fd) }
                try Sys.fchmod(fd, mode: mode_t(d.mode), object: shown, trace: false)
                try Sys.futimens(fd, atime: d.atime, mtime: d.mtime, object: shown, trace: false)
            } catch let e as LayerWalkError {
                failure = LayerUnpacker.describe(e, label: "directory \"\(shown)\"")
            } catch let e as SysError {
                failure = LayerError("untar", "directory \"\(shown)\"", e)
            } catch {
                failure = LayerError("untar", "directory \"\(shown)\"", "\(error)")
            }
            if failure != nil { break }
        }
        if options.traceEntries || failure != nil {
            Sys.record(
                "dirmeta", .layer, start: start, args: ["directories": .int(Int64(directoryList.count))],
                error: failure?.description, errno: failure?.underlying?.errno ?? 0,
                why: "directory modes and times are set last, deepest first: making an entry inside a directory changes its mtime",
                shell: "find . -depth -type d -exec touch -h -d @MTIME {} +")
        }
        directoryList = []
        directories = [:]
        if let failure { throw failure }
    }

    // MARK: entries

    private func create(
        _ entry: TarEntry, at path: LayerPath, content: (UnsafeMutableRawBufferPointer) throws -> Int, event: inout EntryEvent
    ) throws {
        if path.isRoot {
            // "./": the snapshot's root itself. Only its metadata can change.
            guard entry.kind == .directory else { throw LayerPathError("the root of a layer can only be a directory") }
            let fd = try root.openDirectory([])
            defer { Sys.close(fd) }
            try setOwner(fd: fd, entry, shown: ".")
            try setXattrs(fd: fd, entry, shown: ".")
            remember(directory: path, entry)
            return
        }
        let shown = path.relative
        let dir = try root.directory(path.parent, create: true)
        let name = path.name
        var replacedWhiteout = false
        if let existing = Sys.status(at: dir, name) {
            replacedWhiteout = whiteouts.remove(shown) != nil
            if !(existing.isDirectory && entry.kind == .directory) {
                if existing.isDirectory {
                    root.forget(deeperThan: path.parent.count)
                    forgetDirectories(under: shown)
                }
                try Sys.removeAll(at: dir, name, object: shown, trace: false)
            }
        }
        switch entry.kind {
        case .directory:
            if Sys.status(at: dir, name) == nil {
                try Sys.mkdirat(dir, name, mode: 0o755, object: shown, trace: false)
            }
            let fd = try Sys.openat(dir, name, flags: SnapshotDirectory.directoryFlags, object: shown, trace: false)
            defer { Sys.close(fd) }
            try setOwner(fd: fd, entry, shown: shown)
            try setXattrs(fd: fd, entry, shown: shown)
            if replacedWhiteout {
                try makeOpaque(fd: fd, shown: shown)
                event.extra.append("opaque", .bool(true))
            }
            remember(directory: path, entry)

        case .regular:
            let fd = try Sys.openat(
                dir, name, flags: O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode: 0o600, object: shown,
                trace: false)
            defer { Sys.close(fd) }
            var written: Int64 = 0
            while true {
                let n = try content(buffer)
                if n == 0 { break }
                try Sys.write(fd, UnsafeRawBufferPointer(rebasing: buffer[0..<n]), object: shown, trace: false)
                written += Int64(n)
            }
            try setOwner(fd: fd, entry, shown: shown)
            try Sys.fchmod(fd, mode: mode_t(entry.mode), object: shown, trace: false)
            try setXattrs(fd: fd, entry, shown: shown)
            try Sys.futimens(fd, atime: entry.accessed ?? entry.modified, mtime: entry.modified, object: shown, trace: false)
            summary.regularFiles += 1
            summary.bytes += written

        case .symlink:
            try Sys.symlinkat(entry.linkTarget, dir, name, object: shown, trace: false)
            try setOwnerAndTimes(dir: dir, name: name, entry, shown: shown, chmod: false)

        case .hardLink:
            let target: LayerPath
            do {
                target = try LayerPath(entry.linkTarget)
            } catch {
                throw LayerPathError("hard link target \"\(entry.linkTarget)\": \(error.description)")
            }
            guard !target.isRoot else { throw LayerPathError("hard link to the root refused") }
            let from: Int32
            do {
                from = try root.openDirectory(target.parent)
            } catch {
                guard case .system(let e) = error, e.errno == ENOENT else { throw error }
                throw LayerPathError("hard link target \"\(target.relative)\" is not in this layer")
            }
            defer { Sys.close(from) }
            do {
                try Sys.linkat(from, target.name, dir, name, from: target.relative, object: shown, trace: false)
            } catch {
                guard error.errno == ENOENT else { throw error }
                throw LayerPathError("hard link target \"\(target.relative)\" is not in this layer")
            }

        case .characterDevice, .blockDevice, .fifo:
            let type: NodeType = entry.kind == .fifo ? .fifo : entry.kind == .blockDevice ? .blockDevice : .characterDevice
            try Sys.mknodat(
                dir, name, type: type, mode: mode_t(entry.mode & 0o777), major: entry.deviceMajor, minor: entry.deviceMinor,
                object: shown, trace: false)
            try setOwnerAndTimes(dir: dir, name: name, entry, shown: shown, chmod: true)
        }
    }

    /// `.wh.NAME`: a 0:0 character device named NAME, unless this layer has NAME itself.
    private func whiteout(_ name: String, marker: LayerPath, event: inout EntryEvent) throws {
        let hidden = LayerPath(components: marker.parent + [name])
        event.whiteout(marker: marker.relative, hides: hidden.relative)
        let dir = try root.directory(marker.parent, create: true)
        if let existing = Sys.status(at: dir, name) {
            // The layer has NAME too: the whiteout is for the lower NAME only, which
            // this layer's NAME already covers; a directory must also hide the old
            // directory's contents.
            event.extra.append("kept", .bool(true))
            if existing.isDirectory {
                let fd = try Sys.openat(dir, name, flags: SnapshotDirectory.directoryFlags, object: hidden.relative, trace: false)
                defer { Sys.close(fd) }
                try makeOpaque(fd: fd, shown: hidden.relative)
                event.extra.append("opaque", .bool(true))
            }
            return
        }
        try Sys.mknodat(dir, name, type: .characterDevice, mode: 0, major: 0, minor: 0, object: hidden.relative, trace: false)
        whiteouts.insert(hidden.relative)
        summary.whiteouts += 1
    }

    /// `.wh..wh..opq`: the directory that holds it hides the lower directories' contents.
    private func opaque(_ marker: LayerPath, event: inout EntryEvent) throws {
        let dirPath = LayerPath(components: marker.parent)
        event.opaque(directory: dirPath.relative)
        let dir = try root.directory(marker.parent, create: true)
        try makeOpaque(fd: dir, shown: dirPath.relative)
    }

    private func makeOpaque(fd: Int32, shown: String) throws {
        try Sys.fsetxattr(fd, name: "trusted.overlay.opaque", value: Array("y".utf8), object: shown, trace: false)
        summary.opaqueDirectories += 1
    }

    // MARK: metadata

    private func remember(directory path: LayerPath, _ entry: TarEntry) {
        let d = DirectoryMetadata(
            components: path.components, mode: entry.mode, atime: entry.accessed ?? entry.modified, mtime: entry.modified)
        if let i = directories[path.relative] {
            directoryList[i] = d
        } else {
            directories[path.relative] = directoryList.count
            directoryList.append(d)
        }
    }

    /// Drops the pending metadata of a directory the layer replaced, and of what was in it.
    private func forgetDirectories(under shown: String) {
        let before = directoryList.count
        directoryList.removeAll { d in
            let p = LayerPath(components: d.components).relative
            return p == shown || p.hasPrefix(shown + "/")
        }
        guard directoryList.count != before else { return }
        directories = [:]
        for (i, d) in directoryList.enumerated() { directories[LayerPath(components: d.components).relative] = i }
    }

    private func setOwner(fd: Int32, _ entry: TarEntry, shown: String) throws {
        guard options.preserveOwners else { return }
        try Sys.fchown(fd, uid: entry.uid, gid: entry.gid, object: shown, trace: false)
    }

    /// Owner, mode (not for symlinks, which have none on Linux), xattrs and times of an
    /// object that cannot be opened, by its name in `dir`, never following it.
    private func setOwnerAndTimes(dir: Int32, name: String, _ entry: TarEntry, shown: String, chmod: Bool) throws {
        if options.preserveOwners {
            try Sys.fchownat(dir, name, uid: entry.uid, gid: entry.gid, object: shown, trace: false)
        }
        if chmod { try Sys.fchmodat(dir, name, mode: mode_t(entry.mode), object: shown, trace: false) }
        for x in LayerUnpacker.applicable(entry.xattrs) {
            try Sys.lsetxattr(dir, name, name: x.name, value: x.value, object: shown, trace: false)
        }
        try Sys.utimensat(dir, name, atime: entry.accessed ?? entry.modified, mtime: entry.modified, object: shown, trace: false)
    }

    private func setXattrs(fd: Int32, _ entry: TarEntry, shown: String) throws {
        for x in LayerUnpacker.applicable(entry.xattrs) {
            try Sys.fsetxattr(fd, name: x.name, value: x.value, object: shown, trace: false)
        }
    }

    /// The xattrs a layer may set. overlayfs's own (trusted.overlay.*, and
    /// user.overlay.* for unprivileged mounts) are dropped: they would let a layer
    /// forge whiteouts, opaque directories or redirects that only the whiteout files
    /// may express.
    static func applicable(_ xattrs: [ExtendedAttribute]) -> [ExtendedAttribute] {
        xattrs.filter { !$0.name.hasPrefix("trusted.overlay.") && !$0.name.hasPrefix("user.overlay.") }
    }

    // MARK: errors

    static func describe(_ error: any Error, entry: TarEntry) -> LayerError {
        describe(error, label: entry.label)
    }

    static func describe(_ error: any Error, label: String) -> LayerError {
        switch error {
        case let e as LayerError: return e
        case let e as SysError: return LayerError("untar", label, e)
        case let e as LayerPathError: return LayerError("untar", label, e.description)
        case LayerWalkError.system(let e): return LayerError("untar", label, e)
        case LayerWalkError.refused(let why): return LayerError("untar", label, why)
        default: return LayerError("untar", label, "\(error)")
        }
    }
}
