// Files: directories, device nodes, symlinks, files vitro writes (into a container's
// root, or into a kernel interface under /proc and /sys), and the read-only queries
// vitro makes about them. Queries are not traced: they change nothing.

import CVitroShim
import VitroTrace

#if canImport(Glibc)
import Glibc
#endif

/// What lstat(2) says a path is, without following a final symlink.
public enum FileKind: Sendable, Equatable {
    case missing, directory, regular, symlink, characterDevice, other
}

extension Sys {
    /// open(2). Traced when it creates something; plain opens for reading are not.
    public static func open(
        _ path: String, flags: Int32, mode: mode_t = 0o644, why: String? = nil, trace: Bool = true,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) -> Int32 {
        if !trace {
            var fd: Int32
            repeat { fd = Glibc.open(path, flags, mode) } while fd < 0 && errno == EINTR
            if fd < 0 { throw SysError(operation: "open", object: path, errno: errno) }
            return fd
        }
        return Int32(
            try invoke(
                file: file, line: line, "open", .file, object: path,
                args: ["path": .string(path), "flags": .flags(OpenFlags(rawValue: flags).traceName), "mode": .string("0" + String(mode, radix: 8))],
                why: why, shell: nil
            ) { Int(Glibc.open(path, flags, mode)) })
    }

    /// close(2); errors other than EBADF are of no use after the fact and are ignored.
    public static func close(_ fd: Int32) {
        let r = Glibc.close(fd)
        precondition(r == 0 || errno != EBADF, "bug: closing a descriptor that is not open (\(fd))")
    }

    /// mkdir(2). With `existOK`, an existing directory is success.
    public static func mkdir(
        _ path: String, mode: mode_t = 0o755, existOK: Bool = true, group: Group = .file, why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) {
        if existOK, fileKind(path) == .directory { return }
        do {
            try invoke(
                file: file, line: line, "mkdir", group, object: path, args: ["path": .string(path), "mode": .string("0" + String(mode, radix: 8))],
                why: why, shell: "mkdir -m \(String(mode, radix: 8)) \(shellQuote(path))"
            ) { Int(Glibc.mkdir(path, mode)) }
        } catch {
            // Another process made it between the check and the call: that is fine.
            guard existOK, error.errno == EEXIST, isDirectory(path) else { throw error }
        }
    }

    /// mkdir -p: each missing component, in order.
    public static func mkdirAll(
        _ path: String, mode: mode_t = 0o755, group: Group = .file, why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    )
        throws(SysError)
    {
        var prefix = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            prefix += "/" + part
            if fileKind(prefix) == .directory { continue }
            try mkdir(prefix, mode: mode, existOK: true, group: group, why: why, file: file, line: line)
        }
    }

    /// mknod(2) of a character device.
    public static func mknodChar(
        _ path: String, mode: mode_t, major: UInt32, minor: UInt32, why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    )
        throws(SysError)
    {
        try invoke(
            file: file, line: line, "mknod", .file, object: path,
            args: [
                "path": .string(path), "mode": .string("S_IFCHR|0" + String(mode, radix: 8)),
                "dev": .string("\(major):\(minor)"),
            ], why: why, shell: "mknod -m \(String(mode, radix: 8)) \(shellQuote(path)) c \(major) \(minor)"
        ) { Int(vitro_mknod(path, UInt32(S_IFCHR) | UInt32(mode), major, minor)) }
    }

    /// symlink(2): `path` will point at `target`.
    public static func symlink(
        _ target: String, at path: String, group: Group = .file, why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    )
        throws(SysError)
    {
        try invoke(
            file: file, line: line, "symlink", group, object: path, args: ["path": .string(path), "target": .string(target)], why: why,
            shell: "ln -s \(shellQuote(target)) \(shellQuote(path))"
        ) { Int(Glibc.symlink(target, path)) }
    }

    /// chdir(2).
    public static func chdir(
        _ path: String, why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) {
        try invoke(
            file: file, line: line, "chdir", .process, object: path, args: ["path": .string(path)], why: why, shell: "cd \(shellQuote(path))") {
            Int(Glibc.chdir(path))
        }
    }

    /// unlink(2).
    public static func unlink(
        _ path: String, group: Group = .file, why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) {
        try invoke(
            file: file, line: line, "unlink", group, object: path, args: ["path": .string(path)], why: why, shell: "rm \(shellQuote(path))") {
            Int(Glibc.unlink(path))
        }
    }

    /// rmdir(2).
    public static func rmdir(
        _ path: String, group: Group = .file, why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) {
        try invoke(
            file: file, line: line, "rmdir", group, object: path, args: ["path": .string(path)], why: why, shell: "rmdir \(shellQuote(path))") {
            Int(Glibc.rmdir(path))
        }
    }

    /// rename(2): the last step of an atomic write.
    public static func rename(
        _ from: String, to: String, group: Group = .file, why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) {
        try invoke(
            file: file, line: line, "rename", group, object: to, args: ["from": .string(from), "to": .string(to)], why: why,
            shell: "mv \(shellQuote(from)) \(shellQuote(to))"
        ) { Int(Glibc.rename(from, to)) }
    }

    /// chmod(2).
    public static func chmod(
        _ path: String, mode: mode_t, group: Group = .file, why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) {
        try invoke(
            file: file, line: line, "chmod", group, object: path, args: ["path": .string(path), "mode": .string("0" + String(mode, radix: 8))],
            why: why, shell: "chmod \(String(mode, radix: 8)) \(shellQuote(path))"
        ) { Int(Glibc.chmod(path, mode)) }
    }

    /// Writes `contents` to `path` (created or truncated; a symlink at `path` is refused).
    /// For kernel files (/proc, /sys, cgroupfs) pass their group; the write is one
    /// write(2), as kernel interfaces expect.
    /// The trace shows the value, cut at 60 characters unless `showAll` (a digest cut
    /// short could not be recognised, and replaced, when traces are compared).
    public static func writeFile(
        _ path: String, _ contents: String, mode: mode_t = 0o644, create: Bool = true, group: Group = .file,
        showAll: Bool = false, why: String? = nil, file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) {
        let flags = O_WRONLY | O_CLOEXEC | O_NOFOLLOW | (create ? O_CREAT | O_TRUNC : 0)
        let bytes = Array(contents.utf8)
        let shown = contents.count > 60 && !showAll ? String(contents.prefix(57)) + "..." : contents
        try invoke(
            file: file, line: line, "write", group, object: path, args: ["path": .string(path), "value": .string(shown)], why: why,
            shell: "echo \(shellQuote(shown.hasSuffix("\n") ? String(shown.dropLast()) : shown)) > \(shellQuote(path))"
        ) {
            let fd = Glibc.open(path, flags, mode)
            if fd < 0 { return -1 }
            // One write(2) for what fits: kernel interfaces read a value per write.
            guard writeAll(fd, bytes) else {
                let e = errno
                _ = Glibc.close(fd)
                errno = e
                return -1
            }
            return Int(Glibc.close(fd))
        }
    }

    /// One write(2) of `value` to a descriptor already open on `path` (a kernel file
    /// opened by another process and passed here: the cgroup files pid 1 writes `0`
    /// into to join its cgroup). Traced like `writeFile`; the descriptor stays open.
    public static func writeDescriptor(
        _ fd: Int32, _ value: String, path: String, group: Group = .file, why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) {
        let bytes = Array(value.utf8)
        try invoke(
            file: file, line: line, "write", group, object: path, args: ["path": .string(path), "value": .string(value), "fd": .int(Int64(fd))], why: why,
            shell: "echo \(shellQuote(value)) > \(shellQuote(path))"
        ) { writeAll(fd, bytes) ? bytes.count : -1 }
    }

    /// Writes `contents` into `path` in place: created if missing, otherwise overwritten
    /// from its start and cut to the new length. The same inode keeps the new bytes (a
    /// file bind-mounted elsewhere shows them), and a file that has data is never
    /// truncated to zero first: on ext4 that (as a rename over it) makes the kernel
    /// flush the file's data before it goes on (auto_da_alloc), milliseconds when the
    /// disk is busy. A reader may see a mix of old and new bytes meanwhile: for files
    /// that are written before anyone reads them, or read again when they change.
    public static func rewriteFile(
        _ path: String, _ contents: String, mode: mode_t = 0o644, group: Group = .file, why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) {
        let bytes = Array(contents.utf8)
        let shown = contents.count > 60 ? String(contents.prefix(57)) + "..." : contents
        try invoke(
            file: file, line: line, "write", group, object: path, args: ["path": .string(path), "value": .string(shown), "in_place": .bool(true)], why: why,
            shell: "printf %s \(shellQuote(shown)) | dd of=\(shellQuote(path)) conv=notrunc status=none; truncate -s \(bytes.count) \(shellQuote(path))"
        ) {
            let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, mode)
            if fd < 0 { return -1 }
            var size = stat()
            let ok = writeAll(fd, bytes) && (fstat(fd, &size) == 0 && Int(size.st_size) == bytes.count || Glibc.ftruncate(fd, off_t(bytes.count)) == 0)
            let e = errno
            _ = Glibc.close(fd)
            errno = e
            return ok ? 0 : -1
        }
    }

    // MARK: queries (not traced)

    public static func fileKind(_ path: String) -> FileKind {
        var st = stat()
        guard lstat(path, &st) == 0 else { return .missing }
        switch st.st_mode & S_IFMT {
        case S_IFDIR: return .directory
        case S_IFREG: return .regular
        case S_IFLNK: return .symlink
        case S_IFCHR: return .characterDevice
        default: return .other
        }
    }

    /// stat(2) following symlinks: true for a directory.
    public static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// access(path, X_OK) on a regular file: what a PATH search needs.
    public static func isExecutableFile(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG && access(path, X_OK) == 0
    }

    public static func readlink(_ path: String) -> String? {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = Glibc.readlink(path, &buf, buf.count - 1)
        guard n >= 0 else { return nil }
        return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The whole file, or nil with the errno.
    public static func readFile(
        _ path: String,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) -> [UInt8] {
        let fd = try open(path, flags: O_RDONLY | O_CLOEXEC, trace: false, file: file, line: line)
        defer { close(fd) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw SysError(operation: "read", object: path, errno: errno)
            }
            if n == 0 { return out }
            out.append(contentsOf: buf[0..<n])
        }
    }

    public static func readText(
        _ path: String,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) -> String {
        String(decoding: try readFile(path, file: file, line: line), as: UTF8.self)
    }

    /// Names in a directory, without "." and "..".
    public static func listDirectory(_ path: String) -> [String] {
        guard let d = opendir(path) else { return [] }
        defer { closedir(d) }
        var names: [String] = []
        while let e = readdir(d) {
            let name = withUnsafePointer(to: e.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }
}

extension Sys {
    /// Copies a regular file's bytes and mode (`cp -p` without owners and times).
    public static func copyFile(
        _ from: String, to: String, mode: mode_t, group: Group = .file, why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    )
        throws(SysError)
    {
        let data = try readFile(from, file: file, line: line)
        try invoke(
            file: file, line: line, "write", group, object: to, args: ["path": .string(to), "from": .string(from), "bytes": .int(Int64(data.count))],
            why: why, shell: "cp \(shellQuote(from)) \(shellQuote(to))"
        ) {
            let fd = Glibc.open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode)
            if fd < 0 { return -1 }
            let ok = writeAll(fd, data)
            let e = errno
            _ = Glibc.close(fd)
            if !ok { errno = e; return -1 }
            return Int(Glibc.chmod(to, mode))
        }
    }

    /// rm -rf of a tree vitro made: never follows a symlink and never crosses into
    /// another filesystem (a mount left inside is an error, not something to empty).
    public static func removeTree(
        _ path: String, group: Group = .file, why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) {
        var top = stat()
        guard lstat(path, &top) == 0 else { return }
        try invoke(
            file: file, line: line, "unlinkat", group, object: path, args: ["path": .string(path), "recursive": .bool(true)], why: why, shell: "rm -rf \(shellQuote(path))") {
            removeRecursive(path, device: top.st_dev) ? 0 : -1
        }
    }

    private static func removeRecursive(_ path: String, device: dev_t) -> Bool {
        var st = stat()
        guard lstat(path, &st) == 0 else { return errno == ENOENT }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            guard st.st_dev == device else { errno = EBUSY; return false }
            for name in listDirectory(path) where !removeRecursive(path + "/" + name, device: device) { return false }
            return Glibc.rmdir(path) == 0
        }
        return Glibc.unlink(path) == 0
    }
}

extension Sys {
    /// Modification time in seconds since the epoch (lstat), or nil when missing.
    public static func modificationTime(_ path: String) -> Int? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        return Int(st.st_mtim.tv_sec)
    }

    /// The device and inode of what is at `path` (lstat(2)): the same name made again is
    /// another file.
    public static func fileIdentity(_ path: String) -> FileIdentity? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        return FileIdentity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
    }
}

/// A file as the kernel knows it, whatever its name.
public struct FileIdentity: Sendable, Equatable {
    public var device: UInt64
    public var inode: UInt64
}
