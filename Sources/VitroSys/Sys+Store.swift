// The store's kernel calls: durable writes and locks between vitro processes.
//
// Content that other processes read appears in one step or not at all: it is written
// to a temporary file in the same directory, flushed with fsync(2), and renamed over
// its final name (rename(2) is atomic within a filesystem); the directory is fsynced so
// the new name survives a crash too. Two vitro processes coordinate with flock(2) on a
// lock file: a lock belongs to an open file description, so it goes away when its
// holder exits, however it exits, and a crashed pull never leaves the store locked.
//
// Writing the bytes of a blob is one write(2) per chunk that arrives; those are not
// traced one by one (a layer is thousands of them): the fsync event carries the count.

import CVitroShim
import VitroTrace

#if canImport(Glibc)
import Glibc
#endif

/// A held flock(2) lock. Release it with `Sys.unlock`; exiting releases it too.
public struct FileLock: Sendable {
    public let path: String
    let fd: Int32
    /// Per-object locks are removed when released, so none pile up in the store.
    let removeOnRelease: Bool
}

extension Sys {
    /// flock(2) on `path` (created if missing). Exclusive or shared; with `wait` false,
    /// nil means another process holds it. With `removeOnRelease`, the lock file is
    /// unlinked at release; a waiter that then wakes up holding the unlinked file sees
    /// that its inode is no longer the one at `path` and tries again, so two processes
    /// never both believe they hold the lock.
    public static func lock(
        _ path: String, exclusive: Bool = true, wait: Bool = true, removeOnRelease: Bool = false,
        group: Group = .file, why: String? = nil, file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) -> FileLock? {
        let op = (exclusive ? LOCK_EX : LOCK_SH) | (wait ? 0 : LOCK_NB)
        let opName = (exclusive ? "LOCK_EX" : "LOCK_SH") + (wait ? "" : "|LOCK_NB")
        while true {
            let fd = try open(path, flags: O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, mode: 0o600, trace: false, file: file, line: line)
            do {
                try invoke(
                    file: file, line: line, "flock", group, object: path, args: ["path": .string(path), "operation": .flags(opName)], why: why,
                    shell: "flock \(exclusive ? "-x" : "-s")\(wait ? "" : " -n") \(shellQuote(path))"
                ) { Int(flock(fd, op)) }
            } catch let e where e.errno == EWOULDBLOCK {
                close(fd)
                return nil
            } catch {
                close(fd)
                throw error
            }
            var held = stat()
            var named = stat()
            if fstat(fd, &held) == 0, stat(path, &named) == 0, held.st_ino == named.st_ino, held.st_dev == named.st_dev {
                return FileLock(path: path, fd: fd, removeOnRelease: removeOnRelease)
            }
            close(fd)  // we locked a file its last holder had already unlinked
        }
    }

    /// flock(2) on a directory itself, exclusive, waiting: a lock that costs no file (a
    /// container's record is locked this way: one inode fewer per container, which this
    /// VM's file system charges up to a millisecond to find). Released with `unlock`.
    public static func lockDirectory(
        _ path: String, group: Group = .file, why: String? = nil, file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) -> FileLock {
        let fd = try open(path, flags: O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW, trace: false, file: file, line: line)
        do {
            try invoke(
                file: file, line: line, "flock", group, object: path, args: ["path": .string(path), "operation": .flags("LOCK_EX")], why: why,
                shell: "flock -x \(shellQuote(path))"
            ) { Int(flock(fd, LOCK_EX)) }
        } catch {
            close(fd)
            throw error
        }
        return FileLock(path: path, fd: fd, removeOnRelease: false)
    }

    /// Releases a lock (unlinking its file first when it was taken with removeOnRelease).
    public static func unlock(
        _ lock: FileLock, group: Group = .file, why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) {
        if lock.removeOnRelease { _ = Glibc.unlink(lock.path) }
        Tracer.shared.call(
            "flock", group: group, start: MonotonicClock.now(),
            args: ["path": .string(lock.path), "operation": .flags("LOCK_UN")], ret: 0, errno: nil, why: why,
            shell: nil, tid: threadID(), file: file, line: line)
        close(lock.fd)
    }

    /// fsync(2): the file's bytes are on disk before it gets its final name.
    public static func fsync(
        _ fd: Int32, path: String, bytes: Int64? = nil, group: Group = .file, why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    )
        throws(SysError)
    {
        var args: Args = ["path": .string(path)]
        if let bytes { args.append("bytes", .int(bytes)) }
        try invoke(
            file: file, line: line, "fsync", group, object: path, args: args, why: why, shell: "sync \(shellQuote(path))") {
            Int(Glibc.fsync(fd))
        }
    }

    /// fsync(2) of a directory: a rename in it is durable once this returns.
    public static func fsyncDirectory(
        _ path: String, group: Group = .file, why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) {
        let fd = try open(path, flags: O_RDONLY | O_DIRECTORY | O_CLOEXEC, trace: false, file: file, line: line)
        defer { close(fd) }
        try fsync(fd, path: path, group: group, why: why, file: file, line: line)
    }

    /// ftruncate(2) to zero: a retried download starts its temporary file again.
    public static func truncate(
        _ fd: Int32, path: String, group: Group = .file, why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) {
        try invoke(
            file: file, line: line, "ftruncate", group, object: path, args: ["path": .string(path), "length": .int(0)], why: why, shell: "truncate -s 0 \(shellQuote(path))") {
            var r: Int
            repeat {
                r = Int(Glibc.ftruncate(fd, 0))
                if r == 0 { r = Int(Glibc.lseek(fd, 0, SEEK_SET)) }
            } while r < 0 && errno == EINTR
            return r
        }
    }

    /// Writes all of `chunk` at the file's offset (plumbing: not traced per chunk).
    public static func writeChunk(_ fd: Int32, _ chunk: UnsafeRawBufferPointer, path: String) throws(SysError) {
        guard var p = chunk.baseAddress else { return }
        var left = chunk.count
        while left > 0 {
            let n = Glibc.write(fd, p, left)
            if n < 0 {
                if errno == EINTR { continue }
                throw SysError(operation: "write", object: path, errno: errno)
            }
            p += n
            left -= n
        }
    }

    /// Replaces `path` with `bytes` atomically: temporary file, write, fsync, rename,
    /// fsync of the directory. A reader sees the old file or the new one, never a part.
    /// Without `durable` the fsyncs are skipped: a crash of the whole machine may then
    /// lose the newest version, which is right for state a reboot makes stale anyway.
    /// Whether `path` (its symlinks followed) is something other than a file or a
    /// directory — a character device such as /dev/null or /dev/stdout's terminal, a
    /// fifo, a socket: output for it is written into it, never renamed over it.
    public static func isWrittenInPlace(_ path: String) -> Bool {
        var st = Glibc.stat()
        guard fstatat(AT_FDCWD, path, &st, 0) == 0 else { return false }  // follows /dev/stdout's link
        let type = st.st_mode & S_IFMT
        return type != S_IFREG && type != S_IFDIR
    }

    /// The first half of an atomic write: `.NAME.tmp-PID` beside `path`, written (and
    /// with `durable`, fsync'ed) and closed; removed again if that fails. Returns it and
    /// the directory both live in.
    static func writeTemporary(
        for path: String, _ bytes: [UInt8], mode: mode_t, durable: Bool, group: Group, why: String?,
        file: StaticString, line: UInt
    ) throws(SysError) -> (tmp: String, dir: String) {
        let slash = path.lastIndex(of: "/")
        let dir = slash.map { String(path[..<$0]) } ?? "."
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        let tmp = dir + "/." + name + ".tmp-\(getpid())"
        let fd = try open(tmp, flags: O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode: mode, why: why, file: file, line: line)
        do {
            defer { close(fd) }
            try invoke(
                file: file, line: line, "write", group, object: tmp, args: ["path": .string(tmp), "bytes": .int(Int64(bytes.count))], why: why,
                shell: "cat > \(shellQuote(tmp))"
            ) { writeAll(fd, bytes) ? bytes.count : -1 }
            if durable { try fsync(fd, path: tmp, group: group, why: "the bytes reach the disk before the name does", file: file, line: line) }
        } catch {
            _ = Glibc.unlink(tmp)
            throw error
        }
        return (tmp, dir)
    }

    public static func writeFileAtomically(
        _ path: String, _ bytes: [UInt8], mode: mode_t = 0o644, durable: Bool = true, group: Group = .file, why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) {
        if isWrittenInPlace(path) {
            // A device or a pipe (`-o /dev/null`): a rename would replace the node itself.
            let fd = try open(path, flags: O_WRONLY | O_CLOEXEC, why: why, file: file, line: line)
            defer { close(fd) }
            try invoke(
                file: file, line: line, "write", group, object: path, args: ["path": .string(path), "bytes": .int(Int64(bytes.count))], why: why, shell: "cat > \(shellQuote(path))") {
                writeAll(fd, bytes) ? bytes.count : -1
            }
            return
        }
        let (tmp, dir) = try writeTemporary(for: path, bytes, mode: mode, durable: durable, group: group, why: why, file: file, line: line)
        do {
            try rename(tmp, to: path, group: group, why: "publish the new file in one step", file: file, line: line)
        } catch {
            _ = Glibc.unlink(tmp)
            throw error
        }
        if durable { try? fsyncDirectory(dir, group: group, why: "make the rename durable", file: file, line: line) }
    }

    /// Replaces `path` with `bytes` for readers in one step, as writeFileAtomically does
    /// without `durable`, but without renaming over the old file: ext4 flushes the data
    /// of a file renamed over another one before the rename returns (auto_da_alloc),
    /// milliseconds when the disk is busy. The new file is swapped with the old one
    /// (renameat2 RENAME_EXCHANGE, which does not flush), and the old one, now under the
    /// temporary name, is unlinked. For state a reboot makes stale, or that is removed
    /// soon: after a crash of the machine the file may be empty.
    public static func exchangeFile(
        _ path: String, _ bytes: [UInt8], mode: mode_t = 0o644, group: Group = .file, why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) {
        let (tmp, _) = try writeTemporary(for: path, bytes, mode: mode, durable: false, group: group, why: why, file: file, line: line)
        // No old file yet: a plain rename (an exchange would fail with ENOENT).
        var swapped = fileKind(path) != .missing
        if swapped {
            do throws(SysError) {
                try invoke(
                    file: file, line: line, "renameat2", group, object: path, args: ["from": .string(tmp), "to": .string(path), "flags": .flags("RENAME_EXCHANGE")],
                    why: "the new file takes the old one's name in one step, and the old one the temporary name",
                    shell: "mv --exchange \(shellQuote(tmp)) \(shellQuote(path))"
                ) { Int(vitro_rename_exchange(tmp, path)) }
            } catch where error.errno == ENOENT || error.errno == EINVAL {
                // Removed meanwhile, or a filesystem without exchange: a plain rename.
                swapped = false
            } catch {
                _ = Glibc.unlink(tmp)
                throw error
            }
        }
        if !swapped {
            do {
                try rename(tmp, to: path, group: group, why: "publish the new file in one step", file: file, line: line)
            } catch {
                _ = Glibc.unlink(tmp)
                throw error
            }
            return
        }
        try? unlink(tmp, group: group, why: "the old version", file: file, line: line)
    }

    /// Size of a regular file (lstat), or nil when there is none.
    public static func fileSize(_ path: String) -> Int64? {
        var st = stat()
        guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        return Int64(st.st_size)
    }
}
