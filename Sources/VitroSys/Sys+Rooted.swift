// Volumes (chapter 06): looking a path up inside a container's root without ever
// leaving it, and what a mount needs to know about the descriptor it lands on.
//
// A mount destination names a path inside the container (`/data`), and the rootfs is
// untrusted: any component may be a symlink, and a process of another container that
// shares the directory may swap a component for a symlink to `/` at any moment. So the
// destination is never handed to mount(2) as a path. It is opened with openat2(2) and
// RESOLVE_IN_ROOT, which walks it as if the rootfs were `/` (an absolute link or `..`
// stops at the rootfs), and the mount is made on the descriptor's /proc/self/fd path
// (`Sys.mount(… via:)`), which names the opened object itself, not a path to walk again.
//
// Lookups are queries and not traced; the directories and files made as mount points
// are (Sys.mkdirat and Sys.openat with group `mount`).

import CVitroShim

#if canImport(Glibc)
import Glibc
#endif

extension Sys {
    /// O_PATH (open(2)): a descriptor that only names an object, to walk from, stat, or
    /// mount on; Swift's Glibc module hides it (it needs _GNU_SOURCE).
    public static let O_PATH: Int32 = 0o10000000

    /// openat2(2): `path` relative to `dirfd`, walked as `resolve` says. For lookups
    /// (O_PATH, O_RDONLY); ENOSYS on kernels before 5.6.
    public static func openat2(
        _ dirfd: Int32, _ path: String, flags: Int32, resolve: ResolveFlags, object: String? = nil
    ) throws(SysError) -> Int32 {
        Int32(
            try retrying("openat2", object: object ?? path) {
                Int(vitro_openat2(dirfd, path, UInt64(UInt32(bitPattern: flags | O_CLOEXEC)), 0, resolve.rawValue))
            })
    }

    /// Where an open descriptor is, as this process sees it: the readlink of
    /// /proc/self/fd/N. nil when it cannot be read.
    public static func descriptorPath(_ fd: Int32) -> String? {
        readlink("/proc/self/fd/\(fd)")
    }

    /// The per-mount flags of the mount `fd` is on (fstatvfs(2)), as mount(2) flags:
    /// what a bind remount must repeat so as not to clear them.
    public static func mountFlags(of fd: Int32) -> MountFlags? {
        var ok: Int32 = 0
        let f = vitro_fstatvfs_flags(fd, &ok)
        guard ok != 0 else { return nil }
        // ST_* values (statvfs(3)); the first four and the atime pair equal the MS_* ones.
        var flags: MountFlags = []
        let same: [(UInt, MountFlags)] = [
            (1, .readOnly), (2, .noSuid), (4, .noDev), (8, .noExec), (1024, .noAtime), (2048, .noDirAtime),
        ]
        for (bit, flag) in same where f & bit != 0 { flags.insert(flag) }
        if f & 4096 != 0 { flags.insert(.relatime) }  // ST_RELATIME
        return flags
    }

    /// Names in the directory open on `fd` (which stays open and usable), without "."
    /// and "..": nil when it cannot be read.
    public static func listDirectory(fd: Int32) -> [String]? {
        let copy = Glibc.openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard copy >= 0 else { return nil }
        guard let d = fdopendir(copy) else {
            _ = Glibc.close(copy)
            return nil
        }
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
