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
    /// The names in the directory open at `fd` (without "." and ".."), in byte order,
    /// as tar writers order them. The descriptor stays open and is not moved.
    public static func directoryEntries(fd: Int32, object: String) throws(SysError) -> [String] {
        // fdopendir takes over the descriptor it is given: give it a copy.
        let copy = Glibc.openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard copy >= 0 else { throw SysError(operation: "open", object: object, errno: Glibc.errno) }
        guard let d = fdopendir(copy) else {
            let e = Glibc.errno
            _ = Glibc.close(copy)
            throw SysError(operation: "opendir", object: object, errno: e)
        }
        defer { closedir(d) }
        var names: [[UInt8]] = []
        while true {
            Glibc.errno = 0
            guard let e = readdir(d) else {
                if Glibc.errno != 0 { throw SysError(operation: "readdir", object: object, errno: Glibc.errno) }
                break
            }
            let bytes = withUnsafePointer(to: e.pointee.d_name) {
                $0.withMemoryRebound(to: UInt8.self, capacity: 256) { p in
                    Array(UnsafeBufferPointer(start: p, count: strlen(UnsafeRawPointer(p).assumingMemoryBound(to: CChar.self))))
                }
            }
            if bytes == [46] || bytes == [46, 46] { continue }
            names.append(bytes)
        }
        names.sort { $0.lexicographicallyPrecedes($1) }
        return names.map { String(decoding: $0, as: UTF8.self) }
    }

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
