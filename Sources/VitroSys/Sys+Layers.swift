// Layers (chapter 02): the calls that turn a tar entry into a file in a snapshot.
//
// Every call here works relative to a directory descriptor (the *at family) or on the
// descriptor of the object itself, and none follows a symlink in its last component.
// The unpacker resolves an entry's parent one component at a time with
// O_NOFOLLOW|O_DIRECTORY from a descriptor of the snapshot's root, so once it holds the
// parent's descriptor no path the kernel resolves here can pass through a symlink, and
// nothing a layer contains can steer a write outside the snapshot.
//
// Tracing. One tar entry costs two to six calls (openat, write, fchown, fchmod,
// fsetxattr, futimens); a busybox layer has about 400 entries, a Debian one about
// 9,000. An event per call would bury the story of a layer under tens of thousands of
// lines that say "and then its owner", so each wrapper takes `trace:`. The unpacker
// passes `trace: false` and records ONE event per entry with `Sys.record`, whose
// arguments say what the calls did (path, type, mode, size, owner) and which carries
// the error of the call that failed. Untraced, a wrapper still retries EINTR and throws
// a SysError naming the operation and the object; with `trace: true` (the default) it
// is an ordinary traced call of group `layer`.

import CVitroShim
import VitroTrace

#if canImport(Glibc)
import Glibc
#endif

/// A time stamp as the kernel keeps it: seconds and nanoseconds since the epoch.
public struct FileTime: Sendable, Equatable, Comparable {
    public var seconds: Int64
    public var nanoseconds: Int32

    public init(seconds: Int64, nanoseconds: Int32 = 0) {
        self.seconds = seconds
        self.nanoseconds = nanoseconds
    }

    var timespec: Glibc.timespec { Glibc.timespec(tv_sec: Int(seconds), tv_nsec: Int(nanoseconds)) }

    public static func < (a: FileTime, b: FileTime) -> Bool {
        (a.seconds, a.nanoseconds) < (b.seconds, b.nanoseconds)
    }
}

/// What lstat(2) (or fstat(2)) says about one directory entry.
public struct FileStatus: Sendable, Equatable {
    /// st_mode: the type bits (S_IFMT) and the permission bits.
    public var mode: UInt32
    public var uid: UInt32
    public var gid: UInt32
    public var size: Int64
    public var mtime: FileTime
    public var device: UInt64
    public var inode: UInt64
    public var links: UInt64
    /// For a device node: its major and minor numbers.
    public var rdevMajor: UInt32
    public var rdevMinor: UInt32

    init(_ st: stat) {
        mode = UInt32(st.st_mode)
        uid = st.st_uid
        gid = st.st_gid
        size = Int64(st.st_size)
        mtime = FileTime(seconds: Int64(st.st_mtim.tv_sec), nanoseconds: Int32(st.st_mtim.tv_nsec))
        device = UInt64(st.st_dev)
        inode = UInt64(st.st_ino)
        links = UInt64(st.st_nlink)
        rdevMajor = vitro_major(UInt(st.st_rdev))
        rdevMinor = vitro_minor(UInt(st.st_rdev))
    }

    /// The permission bits, with set-user-ID, set-group-ID and sticky.
    public var permissions: UInt32 { mode & 0o7777 }
    var type: UInt32 { mode & UInt32(S_IFMT) }
    public var isDirectory: Bool { type == UInt32(S_IFDIR) }
    public var isRegular: Bool { type == UInt32(S_IFREG) }
    public var isSymlink: Bool { type == UInt32(S_IFLNK) }
    public var isCharacterDevice: Bool { type == UInt32(S_IFCHR) }
    public var isBlockDevice: Bool { type == UInt32(S_IFBLK) }
    public var isFIFO: Bool { type == UInt32(S_IFIFO) }
    /// The overlayfs whiteout: a character device with device number 0:0.
    public var isWhiteout: Bool { isCharacterDevice && rdevMajor == 0 && rdevMinor == 0 }
}

/// The kinds of node mknod(2) makes.
public enum NodeType: Sendable {
    case characterDevice, blockDevice, fifo

    var bits: UInt32 {
        switch self {
        case .characterDevice: return UInt32(S_IFCHR)
        case .blockDevice: return UInt32(S_IFBLK)
        case .fifo: return UInt32(S_IFIFO)
        }
    }
}

extension Sys {
    /// The one shape of the calls in this file: traced through `invoke`, or (for the
    /// unpacker, see the top of the file) the same EINTR retry and typed error without
    /// an event. The arguments and shell line are only built when they are recorded.
    @discardableResult
    static func layerCall(
        _ name: String, object: String, trace: Bool, why: String?, group: Group = .layer, args: @autoclosure () -> Args,
        shell: @autoclosure () -> String?, hint: (Int32) -> String? = { _ in nil }, file: StaticString = #fileID,
        line: UInt = #line, _ body: () -> Int
    ) throws(SysError) -> Int {
        if trace {
            return try invoke(file: file, line: line, name, group, object: object, args: args(), why: why, shell: shell(), hint: hint, body)
        }
        return try retrying(name, object: object, hint: hint, body)
    }

    static func octal(_ mode: mode_t) -> String { "0" + String(mode, radix: 8) }

    /// openat(2) relative to `dirfd`. The unpacker always adds O_NOFOLLOW.
    public static func openat(
        _ dirfd: Int32, _ name: String, flags: Int32, mode: mode_t = 0, object: String? = nil, trace: Bool = true,
        group: Group = .layer, why: String? = nil, file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) -> Int32 {
        Int32(
            try layerCall(
                "openat", object: object ?? name, trace: trace, why: why, group: group,
                args: ["path": .string(object ?? name), "flags": .flags(OpenFlags(rawValue: flags).traceName), "mode": .string(octal(mode))],
                shell: nil, file: file, line: line
            ) { Int(Glibc.openat(dirfd, name, flags, mode)) })
    }

    /// mkdirat(2). Volumes (chapter 06) make mount points with it, in group `mount`.
    public static func mkdirat(
        _ dirfd: Int32, _ name: String, mode: mode_t, object: String? = nil, trace: Bool = true, group: Group = .layer,
        why: String? = nil, file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) {
        let shown = object ?? name
        try layerCall(
            "mkdirat", object: shown, trace: trace, why: why, group: group,
            args: ["path": .string(shown), "mode": .string(octal(mode))],
            shell: "mkdir -m \(String(mode, radix: 8)) \(shellQuote(shown))", file: file, line: line
        ) { Int(Glibc.mkdirat(dirfd, name, mode)) }
    }

    /// mknodat(2) of a device node or fifo. The umask applies to `mode`; the unpacker
    /// sets the exact mode afterwards with `fchmodat`.
    public static func mknodat(
        _ dirfd: Int32, _ name: String, type: NodeType, mode: mode_t, major: UInt32 = 0, minor: UInt32 = 0,
        object: String? = nil, trace: Bool = true, why: String? = nil, file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) {
        let shown = object ?? name
        let letter = type == .characterDevice ? "c" : type == .blockDevice ? "b" : "p"
        try layerCall(
            "mknodat", object: shown, trace: trace, why: why,
            args: ["path": .string(shown), "type": .string(letter), "mode": .string(octal(mode)), "dev": .string("\(major):\(minor)")],
            shell: "mknod -m \(String(mode, radix: 8)) \(shellQuote(shown)) \(letter)" + (type == .fifo ? "" : " \(major) \(minor)"),
            hint: { e in e == EPERM && type != .fifo ? "creating device nodes needs CAP_MKNOD: run as root" : nil }, file: file, line: line
        ) { Int(vitro_mknodat(dirfd, name, type.bits | UInt32(mode), major, minor)) }
    }

    /// symlinkat(2): `name` in `dirfd` will point at `target` (never resolved here).
    public static func symlinkat(
        _ target: String, _ dirfd: Int32, _ name: String, object: String? = nil, trace: Bool = true, why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) {
        let shown = object ?? name
        try layerCall(
            "symlinkat", object: shown, trace: trace, why: why,
            args: ["path": .string(shown), "target": .string(target)],
            shell: "ln -s \(shellQuote(target)) \(shellQuote(shown))", file: file, line: line
        ) { Int(Glibc.symlinkat(target, dirfd, name)) }
    }

    /// linkat(2) without AT_SYMLINK_FOLLOW: a new name for the object `fromName` names,
    /// even when that object is a symlink (the link itself, not what it points at).
    public static func linkat(
        _ fromDir: Int32, _ fromName: String, _ toDir: Int32, _ toName: String, from: String? = nil, object: String? = nil,
        trace: Bool = true, why: String? = nil, file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) {
        let shown = object ?? toName
        let source = from ?? fromName
        try layerCall(
            "linkat", object: shown, trace: trace, why: why,
            args: ["path": .string(shown), "target": .string(source)],
            shell: "ln \(shellQuote(source)) \(shellQuote(shown))", file: file, line: line
        ) { Int(Glibc.linkat(fromDir, fromName, toDir, toName, 0)) }
    }

    /// fchown(2) of an open object. Changing the owner clears set-user-ID, set-group-ID
    /// and file capabilities, so it comes before fchmod and fsetxattr.
    public static func fchown(
        _ fd: Int32, uid: UInt32, gid: UInt32, object: String, trace: Bool = true, why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) {
        try layerCall(
            "fchown", object: object, trace: trace, why: why,
            args: ["path": .string(object), "uid": .int(Int64(uid)), "gid": .int(Int64(gid))],
            shell: "chown \(uid):\(gid) \(shellQuote(object))", file: file, line: line
        ) { Int(Glibc.fchown(fd, uid, gid)) }
    }

    /// fchownat(2) with AT_SYMLINK_NOFOLLOW: the owner of a symlink itself, as lchown(2).
    public static func fchownat(
        _ dirfd: Int32, _ name: String, uid: UInt32, gid: UInt32, object: String? = nil, trace: Bool = true,
        why: String? = nil, file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) {
        let shown = object ?? name
        try layerCall(
            "fchownat", object: shown, trace: trace, why: why,
            args: ["path": .string(shown), "uid": .int(Int64(uid)), "gid": .int(Int64(gid))],
            shell: "chown -h \(uid):\(gid) \(shellQuote(shown))", file: file, line: line
        ) { Int(Glibc.fchownat(dirfd, name, uid, gid, AT_SYMLINK_NOFOLLOW)) }
    }

    /// fchmod(2) of an open object.
    public static func fchmod(
        _ fd: Int32, mode: mode_t, object: String, trace: Bool = true, why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    )
        throws(SysError)
    {
        try layerCall(
            "fchmod", object: object, trace: trace, why: why,
            args: ["path": .string(object), "mode": .string(octal(mode))],
            shell: "chmod \(String(mode, radix: 8)) \(shellQuote(object))", file: file, line: line
        ) { Int(Glibc.fchmod(fd, mode)) }
    }

    /// fchmodat(2) with AT_SYMLINK_NOFOLLOW, for nodes that cannot be opened (devices,
    /// fifos). Linux has no mode on symlinks; do not call this for one.
    public static func fchmodat(
        _ dirfd: Int32, _ name: String, mode: mode_t, object: String? = nil, trace: Bool = true, why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) {
        let shown = object ?? name
        try layerCall(
            "fchmodat", object: shown, trace: trace, why: why,
            args: ["path": .string(shown), "mode": .string(octal(mode))],
            shell: "chmod \(String(mode, radix: 8)) \(shellQuote(shown))", file: file, line: line
        ) { Int(Glibc.fchmodat(dirfd, name, mode, AT_SYMLINK_NOFOLLOW)) }
    }

    /// futimens(3): access and modification time of an open object.
    public static func futimens(
        _ fd: Int32, atime: FileTime, mtime: FileTime, object: String, trace: Bool = true, why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) {
        try layerCall(
            "futimens", object: object, trace: trace, why: why,
            args: ["path": .string(object), "mtime": .int(mtime.seconds)],
            shell: "touch -h -d @\(mtime.seconds) \(shellQuote(object))", file: file, line: line
        ) {
            var times = [atime.timespec, mtime.timespec]
            return Int(Glibc.futimens(fd, &times))
        }
    }

    /// utimensat(2) with AT_SYMLINK_NOFOLLOW: the times of a symlink itself.
    public static func utimensat(
        _ dirfd: Int32, _ name: String, atime: FileTime, mtime: FileTime, object: String? = nil, trace: Bool = true,
        why: String? = nil, file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) {
        let shown = object ?? name
        try layerCall(
            "utimensat", object: shown, trace: trace, why: why,
            args: ["path": .string(shown), "mtime": .int(mtime.seconds)],
            shell: "touch -h -d @\(mtime.seconds) \(shellQuote(shown))", file: file, line: line
        ) {
            var times = [atime.timespec, mtime.timespec]
            return Int(Glibc.utimensat(dirfd, name, &times, AT_SYMLINK_NOFOLLOW))
        }
    }

    /// fsetxattr(2): set an extended attribute of an open object.
    public static func fsetxattr(
        _ fd: Int32, name: String, value: [UInt8], object: String, trace: Bool = true, why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) {
        try layerCall(
            "fsetxattr", object: object, trace: trace, why: why,
            args: ["path": .string(object), "name": .string(name), "size": .int(Int64(value.count))],
            shell: setfattrShell(name, value, object), hint: { xattrHint($0, name) }, file: file, line: line
        ) { value.withUnsafeBytes { Int(vitro_fsetxattr(fd, name, $0.baseAddress, $0.count)) } }
    }

    /// lsetxattr(2) of the entry `entry` in the directory `dirfd`, for objects that cannot
    /// be opened (symlinks, devices, fifos). Linux has no "setxattrat" before 6.13, so
    /// the path goes through /proc/self/fd/DIRFD: the kernel jumps straight to the
    /// directory the descriptor holds (a magic link is not resolved again as a path),
    /// looks `entry` up in it, and lsetxattr does not follow `entry` if it is a symlink.
    public static func lsetxattr(
        _ dirfd: Int32, _ entry: String, name: String, value: [UInt8], object: String? = nil, trace: Bool = true,
        why: String? = nil, file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) {
        let shown = object ?? entry
        let path = "/proc/self/fd/\(dirfd)/\(entry)"
        try layerCall(
            "lsetxattr", object: shown, trace: trace, why: why,
            args: ["path": .string(shown), "name": .string(name), "size": .int(Int64(value.count))],
            shell: setfattrShell(name, value, shown, noFollow: true), hint: { xattrHint($0, name) }, file: file, line: line
        ) { value.withUnsafeBytes { Int(vitro_lsetxattr(path, name, $0.baseAddress, $0.count)) } }
    }

    static func xattrHint(_ e: Int32, _ name: String) -> String? {
        switch e {
        case EPERM where name.hasPrefix("trusted.") || name.hasPrefix("security."):
            return "\(name.prefix { $0 != "." }).* attributes need CAP_SYS_ADMIN: run as root"
        case EOPNOTSUPP: return "the filesystem does not support this attribute"
        default: return nil
        }
    }

    static func setfattrShell(_ name: String, _ value: [UInt8], _ path: String, noFollow: Bool = false) -> String {
        let hex = value.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        let printable = value.allSatisfy { $0 >= 32 && $0 < 127 && $0 != 34 && $0 != 92 }
        let v = printable ? shellQuote(String(decoding: value, as: UTF8.self)) : "0x" + hex
        return "setfattr \(noFollow ? "-h " : "")-n \(shellQuote(name)) -v \(v) \(shellQuote(path))"
    }

    /// unlinkat(2): remove a non-directory, or (with `directory`) an empty directory.
    public static func unlinkat(
        _ dirfd: Int32, _ name: String, directory: Bool = false, object: String? = nil, trace: Bool = true,
        why: String? = nil, file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) {
        let shown = object ?? name
        try layerCall(
            "unlinkat", object: shown, trace: trace, why: why, args: ["path": .string(shown)],
            shell: (directory ? "rmdir " : "rm ") + shellQuote(shown), file: file, line: line
        ) { Int(Glibc.unlinkat(dirfd, name, directory ? AT_REMOVEDIR : 0)) }
    }

    /// rm -rf of the entry `name` in `dirfd`, by descriptor: a symlink is removed, never
    /// followed, and a directory on another filesystem (a mount) is refused with EXDEV.
    public static func removeAll(
        at dirfd: Int32, _ name: String, object: String? = nil, trace: Bool = true, why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) {
        let shown = object ?? name
        var st = stat()
        guard Glibc.fstatat(dirfd, ".", &st, AT_SYMLINK_NOFOLLOW) == 0 else {
            throw SysError(operation: "fstatat", object: shown, errno: Glibc.errno)
        }
        try layerCall(
            "unlinkat", object: shown, trace: trace, why: why,
            args: ["path": .string(shown), "recursive": .bool(true)], shell: "rm -rf \(shellQuote(shown))", file: file, line: line
        ) { removeRecursive(dirfd, name, device: st.st_dev) ? 0 : -1 }
    }

    /// One level of `removeAll`; false with errno set on failure.
    private static func removeRecursive(_ dirfd: Int32, _ name: String, device: dev_t) -> Bool {
        var st = stat()
        guard Glibc.fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { return Glibc.errno == ENOENT }
        guard (st.st_mode & S_IFMT) == S_IFDIR else { return Glibc.unlinkat(dirfd, name, 0) == 0 }
        guard st.st_dev == device else {
            Glibc.errno = EXDEV
            return false
        }
        let fd = Glibc.openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0)
        guard fd >= 0 else { return false }
        defer { _ = Glibc.close(fd) }
        // fdopendir takes over the descriptor it is given; give it a copy so `fd` stays
        // usable for the unlinkat calls below.
        let copy = Glibc.dup(fd)
        guard copy >= 0, let d = fdopendir(copy) else { return false }
        var names: [String] = []
        while let e = readdir(d) {
            let n = withUnsafePointer(to: e.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if n != "." && n != ".." { names.append(n) }
        }
        closedir(d)
        for n in names where !removeRecursive(fd, n, device: device) { return false }
        return Glibc.unlinkat(dirfd, name, AT_REMOVEDIR) == 0
    }

    /// write(2) until every byte is written.
    public static func write(
        _ fd: Int32, _ bytes: UnsafeRawBufferPointer, object: String, trace: Bool = true, why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) {
        try layerCall(
            "write", object: object, trace: trace, why: why,
            args: ["path": .string(object), "bytes": .int(Int64(bytes.count))], shell: nil, file: file, line: line
        ) {
            var off = 0
            while off < bytes.count {
                guard let base = bytes.baseAddress else { break }
                let n = Glibc.write(fd, base + off, bytes.count - off)
                if n < 0 {
                    // Retry here, not in layerCall, which would start over from byte 0.
                    if Glibc.errno == EINTR { continue }
                    return -1
                }
                off += n
            }
            return off
        }
    }

    /// syncfs(2): everything written to the filesystem holding `fd` is on disk. One call
    /// instead of an fsync per file of a layer.
    public static func syncfs(
        _ fd: Int32, object: String, trace: Bool = true, why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) {
        try layerCall("syncfs", object: object, trace: trace, why: why, args: ["path": .string(object)], shell: "sync -f \(shellQuote(object))", file: file, line: line) {
            Int(vitro_syncfs(fd))
        }
    }

    /// flock(2) LOCK_EX: waits until no other process holds the lock on this file.
    public static func lockExclusive(
        _ fd: Int32, object: String, why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) {
        try layerCall(
            "flock", object: object, trace: true, why: why, args: ["path": .string(object), "operation": .flags("LOCK_EX")],
            shell: "flock \(shellQuote(object))", file: file, line: line
        ) { Int(flock(fd, LOCK_EX)) }
    }

    /// Records one event for a step made of untraced calls: one tar entry (see the top
    /// of this file). `error` is the one-line reason the step failed, if it did, and
    /// `errno` the kernel's error when a call failed (0 when vitro refused the step).
    public static func record(
        _ name: String, _ group: Group, start: UInt64, args: Args, error: String? = nil, errno: Int32 = 0,
        why: String?, shell: String?, file: StaticString = #fileID, line: UInt = #line
    ) {
        var args = args
        if let error { args.append("error", .string(error)) }
        Tracer.shared.call(
            name, group: group, start: start, args: args, ret: error == nil ? 0 : -1,
            errno: errno != 0 ? Errno.name(errno) : nil, why: why, shell: shell, tid: threadID(), file: file, line: line)
    }

    // MARK: queries (not traced)

    /// fstatat(2) with AT_SYMLINK_NOFOLLOW; nil when there is no such entry.
    public static func status(at dirfd: Int32, _ name: String) -> FileStatus? {
        var st = stat()
        guard Glibc.fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { return nil }
        return FileStatus(st)
    }

    /// fstat(2) of an open descriptor.
    public static func status(fd: Int32) -> FileStatus? {
        var st = stat()
        guard Glibc.fstat(fd, &st) == 0 else { return nil }
        return FileStatus(st)
    }

    /// lstat(2) of a path.
    public static func status(_ path: String) -> FileStatus? {
        var st = stat()
        guard Glibc.lstat(path, &st) == 0 else { return nil }
        return FileStatus(st)
    }

    /// readlinkat(2): where the symlink `name` in `dirfd` points.
    public static func readlink(at dirfd: Int32, _ name: String) -> String? {
        var buf = [CChar](repeating: 0, count: 4097)
        let n = Glibc.readlinkat(dirfd, name, &buf, buf.count - 1)
        guard n >= 0 else { return nil }
        return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The extended attributes of `path` (not following a final symlink), by name.
    public static func extendedAttributes(_ path: String) -> [String: [UInt8]] {
        let size = vitro_llistxattr(path, nil, 0)
        guard size > 0 else { return [:] }
        var list = [CChar](repeating: 0, count: size)
        let n = vitro_llistxattr(path, &list, size)
        guard n > 0 else { return [:] }
        var out: [String: [UInt8]] = [:]
        for raw in list[0..<n].split(separator: 0) {
            let name = String(decoding: raw.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if let v = extendedAttribute(path, name) { out[name] = v }
        }
        return out
    }

    /// One extended attribute of `path` (not following a final symlink); nil if unset.
    public static func extendedAttribute(_ path: String, _ name: String) -> [UInt8]? {
        let size = vitro_lgetxattr(path, name, nil, 0)
        guard size >= 0 else { return nil }
        var value = [UInt8](repeating: 0, count: size)
        let n = value.withUnsafeMutableBytes { vitro_lgetxattr(path, name, $0.baseAddress, $0.count) }
        guard n >= 0 else { return nil }
        return Array(value[0..<n])
    }
}
