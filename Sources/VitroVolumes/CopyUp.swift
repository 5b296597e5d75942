// Chapter 06: a new volume starts with the image's content. When a volume is mounted
// where the image has files (a database image's /var/lib/mysql with its default
// config), Docker copies those files into the volume first, if the volume is empty, so
// the container finds what the image put there and the volume keeps it afterwards.
//
// pid 1 does the copy after the container's root is mounted (so it reads the image as
// the container will see it, whiteouts applied) and before /proc, /sys and /dev cover
// anything. The image side is opened inside the root (ContainerRoot) and walked by
// descriptor with O_NOFOLLOW: symlinks are copied as symlinks, never followed. Modes,
// owners and modification times come along; hard links become separate files.
//
// One event records a whole copy (the calls are untraced, as the layer unpacker's),
// with the `cp -a` line that does the same.

import VitroSys
import VitroTrace

#if canImport(Glibc)
import Glibc
#endif

struct CopyUp {
    var files = 0
    var bytes: Int64 = 0

    /// Fills the volume at `entry.source` from the image's `entry.destination`, if the
    /// volume is empty and the image has a directory there.
    static func fill(_ entry: MountPlan.Entry, root: ContainerRoot) throws {
        guard Sys.listDirectory(entry.source).isEmpty else { return }
        let image: RootedTarget
        do {
            guard let t = try root.open(entry.destination, create: .none, flags: O_RDONLY | O_DIRECTORY) else { return }
            image = t
        } catch let e as SysError where e.errno == ENOTDIR {
            return  // a file in the image: nothing to copy into a directory
        }
        defer { Sys.close(image.fd) }
        let start = MonotonicClock.now()
        var copy = CopyUp()
        let shell = "cp -a \(Sys.shellQuote(image.path + "/.")) \(Sys.shellQuote(entry.source + "/"))"
        let why = "a new volume starts with what the image has at \(entry.destination), as Docker's do"
        do {
            let volume = try Sys.open(entry.source, flags: O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, trace: false)
            defer { Sys.close(volume) }
            try copy.tree(from: image.fd, to: volume, shown: entry.source)
            if let st = Sys.status(fd: image.fd) {
                try Sys.fchown(volume, uid: st.uid, gid: st.gid, object: entry.source, trace: false)
                try Sys.fchmod(volume, mode: mode_t(st.permissions), object: entry.source, trace: false)
            }
        } catch {
            let e = error as? SysError
            Sys.record(
                "copy-up", .file, start: start, args: copy.args(image.path, entry.source), error: String(describing: error),
                errno: e?.errno ?? 0, why: why, shell: shell)
            throw error
        }
        Sys.record("copy-up", .file, start: start, args: copy.args(image.path, entry.source), why: why, shell: shell)
    }

    func args(_ from: String, _ to: String) -> Args {
        ["from": .string(from), "to": .string(to), "files": .int(Int64(files)), "bytes": .int(bytes)]
    }

    /// Copies the entries of the directory `src` into the directory `dst`.
    mutating func tree(from src: Int32, to dst: Int32, shown: String) throws {
        for name in Sys.listDirectory(fd: src) ?? [] {
            guard let st = Sys.status(at: src, name) else { continue }
            let path = shown + "/" + name
            if st.isDirectory {
                try Sys.mkdirat(dst, name, mode: 0o700, object: path, trace: false)
                let s = try Sys.openat(src, name, flags: O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, object: path, trace: false)
                defer { Sys.close(s) }
                let d = try Sys.openat(dst, name, flags: O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, object: path, trace: false)
                defer { Sys.close(d) }
                try tree(from: s, to: d, shown: path)
                try keep(st, on: d, path)
            } else if st.isRegular {
                let s = try Sys.openat(src, name, flags: O_RDONLY | O_NOFOLLOW | O_CLOEXEC, object: path, trace: false)
                defer { Sys.close(s) }
                let d = try Sys.openat(dst, name, flags: O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode: 0o600, object: path, trace: false)
                defer { Sys.close(d) }
                while let chunk = try Sys.read(s, max: 1 << 20), !chunk.isEmpty {
                    try chunk.withUnsafeBytes { try Sys.write(d, $0, object: path, trace: false) }
                    bytes += Int64(chunk.count)
                }
                try keep(st, on: d, path)
            } else if st.isSymlink {
                guard let target = Sys.readlink(at: src, name) else { continue }
                try Sys.symlinkat(target, dst, name, object: path, trace: false)
                try Sys.fchownat(dst, name, uid: st.uid, gid: st.gid, object: path, trace: false)
                try Sys.utimensat(dst, name, atime: st.mtime, mtime: st.mtime, object: path, trace: false)
            } else if st.isCharacterDevice || st.isBlockDevice || st.isFIFO {
                let type: NodeType = st.isFIFO ? .fifo : st.isCharacterDevice ? .characterDevice : .blockDevice
                try Sys.mknodat(dst, name, type: type, mode: 0o600, major: st.rdevMajor, minor: st.rdevMinor, object: path, trace: false)
                try Sys.fchownat(dst, name, uid: st.uid, gid: st.gid, object: path, trace: false)
                try Sys.fchmodat(dst, name, mode: mode_t(st.permissions), object: path, trace: false)
            } else {
                continue  // sockets are not content
            }
            files += 1
        }
    }

    /// Owner first (chown clears set-user-ID), then mode, then times.
    func keep(_ st: FileStatus, on fd: Int32, _ path: String) throws {
        try Sys.fchown(fd, uid: st.uid, gid: st.gid, object: path, trace: false)
        try Sys.fchmod(fd, mode: mode_t(st.permissions), object: path, trace: false)
        try Sys.futimens(fd, atime: st.mtime, mtime: st.mtime, object: path, trace: false)
    }
}
