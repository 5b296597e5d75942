// Chapter 06: safe destinations. pid 1 resolves every mount destination inside the
// container's root, never through it.
//
// Before pivot_root, pid 1 still sees the host's `/`: `<rootfs>/data` handed to mount(2)
// as a path would follow a symlink `data -> /` to the host's root, and checking the path
// first does not help, because a process of another container that shares the
// directory can swap `data` between a directory and such a link in the moment between
// the check and the mount (runc's CVE-2021-30465). So:
//
//  1. the rootfs is opened once (O_PATH), and each destination is looked up from that
//     descriptor with openat2(2) and RESOLVE_IN_ROOT: symlinks inside the image work as
//     they do for the container (an absolute link or `..` stops at the rootfs), but no
//     walk ever leaves it; RESOLVE_NO_MAGICLINKS refuses /proc/PID/fd-style links;
//  2. what is missing is made one component at a time below the deepest existing
//     directory (mkdirat, then openat with O_NOFOLLOW, so a link swapped in between is
//     refused, not followed);
//  3. the descriptor's real path (readlink of /proc/self/fd/N) must lie below the root,
//     and not be the root itself (a link to `/` resolves there);
//  4. the mount is made on /proc/self/fd/N: the object that was checked, whatever the
//     path names by then.
//
// Kernels without openat2 (before 5.6) get the plain walk: each component opened with
// O_NOFOLLOW, and a symlink anywhere in a destination is refused.

import VitroSys
import VitroTrace

#if canImport(Glibc)
import Glibc
#endif

/// A directory or file inside the container's root, open as a descriptor, and where it
/// really is.
struct RootedTarget {
    var fd: Int32
    var path: String
}

/// The container's root, open once, from which destinations are resolved.
struct ContainerRoot {
    let fd: Int32
    /// The root's real path: every target must lie below it.
    let path: String

    init(_ rootfs: String) throws {
        fd = try Sys.open(rootfs, flags: Sys.O_PATH | O_DIRECTORY | O_CLOEXEC, trace: false)
        guard let real = Sys.descriptorPath(fd) else {
            Sys.close(fd)
            throw VolumeError("rootfs \"\(rootfs)\": cannot read where it is (/proc/self/fd)")
        }
        path = real
    }

    func close() { Sys.close(fd) }

    enum Create { case none, directory, file }

    static let resolve: ResolveFlags = [.inRoot, .noMagicLinks]

    /// Opens `destination` (absolute and clean) as if the root were `/`, making what is
    /// missing when `create` says so. nil when it is missing and `create` is `.none`.
    func open(_ destination: String, create: Create, flags: Int32 = Sys.O_PATH) throws -> RootedTarget? {
        let comps = destination.split(separator: "/").map(String.init)
        if let fd = try lookup(comps, flags: flags) { return try checked(fd, destination) }
        guard create != .none else { return nil }
        // The deepest directory that exists (the root itself at worst), then the rest.
        var n = comps.count - 1
        var cur = fd
        var owned = false
        while n > 0 {
            if let f = try lookup(Array(comps[0..<n]), flags: Sys.O_PATH | O_DIRECTORY) {
                cur = f
                owned = true
                break
            }
            n -= 1
        }
        for i in n..<comps.count {
            let name = comps[i]
            let here = (Sys.descriptorPath(cur) ?? path) + "/" + name
            let makeFile = i == comps.count - 1 && create == .file
            let next: Int32
            do {
                if makeFile {
                    do {
                        let w = try Sys.openat(
                            cur, name, flags: O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode: 0o644, object: here,
                            group: .mount, why: "an empty file as the mount point of \(destination)")
                        Sys.close(w)
                    } catch where error.errno == EEXIST {}
                    next = try Sys.openat(cur, name, flags: Sys.O_PATH | O_NOFOLLOW | O_CLOEXEC, object: here, trace: false)
                } else {
                    do {
                        try Sys.mkdirat(cur, name, mode: 0o755, object: here, group: .mount, why: "a mount point must exist")
                    } catch where error.errno == EEXIST {}
                    next = try Sys.openat(cur, name, flags: Sys.O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, object: here, trace: false)
                }
            } catch where error.errno == ELOOP || error.errno == ENOTDIR {
                if owned { Sys.close(cur) }
                throw VolumeError(
                    "mount destination \(destination): \(here) is a symlink or not a directory (it changed meanwhile, or points to nothing inside the container); refusing to mount through it")
            } catch {
                if owned { Sys.close(cur) }
                throw error
            }
            if owned { Sys.close(cur) }
            cur = next
            owned = true
        }
        if isSymlink(cur) {
            Sys.close(cur)
            throw VolumeError("mount destination \(destination) is a symlink; refusing to mount through it")
        }
        return try checked(cur, destination)
    }

    /// An O_PATH|O_NOFOLLOW open of a symlink opens the link itself.
    func isSymlink(_ fd: Int32) -> Bool { Sys.status(fd: fd)?.isSymlink == true }

    /// The descriptor of `comps` below the root, or nil when something on the way is missing.
    func lookup(_ comps: [String], flags: Int32) throws(SysError) -> Int32? {
        let rel = comps.isEmpty ? "." : comps.joined(separator: "/")
        if ContainerRoot.hasOpenat2 {
            do {
                return try Sys.openat2(fd, rel, flags: flags, resolve: ContainerRoot.resolve, object: path + "/" + rel)
            } catch where error.errno == ENOENT {
                return nil
            } catch where error.errno == ENOSYS {
                ContainerRoot.hasOpenat2 = false
            }
        }
        return try walk(comps, flags: flags)
    }

    /// Set on the first ENOSYS: pid 1 is single-threaded, and the answer never changes.
    nonisolated(unsafe) static var hasOpenat2 = true

    /// Without openat2: one component at a time, never following a symlink.
    func walk(_ comps: [String], flags: Int32) throws(SysError) -> Int32? {
        var cur = try Sys.openat(fd, ".", flags: Sys.O_PATH | O_DIRECTORY | O_CLOEXEC, object: path, trace: false)
        for (i, name) in comps.enumerated() {
            let last = i == comps.count - 1
            let f = (last ? flags : Sys.O_PATH | O_DIRECTORY) | O_NOFOLLOW | O_CLOEXEC
            let next: Int32
            do {
                next = try Sys.openat(cur, name, flags: f, object: path + "/" + name, trace: false)
            } catch where error.errno == ENOENT {
                Sys.close(cur)
                return nil
            } catch {
                Sys.close(cur)
                throw error
            }
            Sys.close(cur)
            if Sys.status(fd: next)?.isSymlink == true {
                Sys.close(next)
                throw SysError(operation: "open", object: path + "/" + comps[0...i].joined(separator: "/"), errno: ELOOP, hint: "a symlink, and this kernel has no openat2(2) to follow it inside the container")
            }
            cur = next
        }
        return cur
    }

    /// Step 3: the target must lie below the root.
    func checked(_ fd: Int32, _ destination: String) throws -> RootedTarget {
        guard let real = Sys.descriptorPath(fd) else {
            Sys.close(fd)
            throw VolumeError("mount destination \(destination): cannot read where it resolved to")
        }
        if real == path {
            Sys.close(fd)
            throw VolumeError("mount destination \(destination) resolves to the container's root itself (through a symlink); refusing to mount over it")
        }
        guard real.hasPrefix(path == "/" ? "/" : path + "/") else {
            Sys.close(fd)
            throw VolumeError("mount destination \(destination) resolves outside the container's root (to \(real)); refusing to mount there")
        }
        return RootedTarget(fd: fd, path: real)
    }
}
