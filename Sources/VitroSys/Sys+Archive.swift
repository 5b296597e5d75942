// Archives (chapter 09): the read-only calls that walk a directory tree to turn it
// into a tar — a container's upper directory for `commit`, its merged root for
// `export`. The tree is the container's: its processes may have put a symlink
// anywhere, so the walk never resolves a path with more than one component. It holds
// each directory open and reaches the next by name relative to that descriptor with
// O_NOFOLLOW (the openat/fstatat calls of Sys+Layers.swift), and lists a directory
// through a descriptor it already holds. Reading changes nothing, so none of this is
// traced call by call; the walk records its own summary events.

#if canImport(Glibc)
import Glibc
#endif

extension Sys {
    /// read(2) into `buffer`; the number of bytes read (0 at the end). EINTR is retried.
    public static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, object: String) throws(SysError) -> Int {
        while true {
            let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
            if n >= 0 { return n }
            if Glibc.errno == EINTR { continue }
            throw SysError(operation: "read", object: object, errno: Glibc.errno)
        }
    }

    /// The extended attributes of the entry `name` in the directory `dirfd`, without
    /// following it (through /proc/self/fd, as `lsetxattr` in Sys+Layers.swift does).
    public static func extendedAttributes(at dirfd: Int32, _ name: String) -> [String: [UInt8]] {
        extendedAttributes("/proc/self/fd/\(dirfd)/\(name)")
    }

    /// One extended attribute of the entry `name` in `dirfd`; nil when it is not set.
    public static func extendedAttribute(at dirfd: Int32, _ name: String, _ attribute: String) -> [UInt8]? {
        extendedAttribute("/proc/self/fd/\(dirfd)/\(name)", attribute)
    }
}
