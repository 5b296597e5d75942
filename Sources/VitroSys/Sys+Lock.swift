// File locks (flock(2)): how concurrent vitro processes coordinate, and how a later
// vitro tells a live container's leftovers from a dead run's: a run holds a lock for
// its whole life, and the kernel drops it when the process dies, however it dies.

import VitroTrace

#if canImport(Glibc)
import Glibc
#endif

extension Sys {
    /// Opens (creating) `path` and takes an exclusive flock. With `wait: false`, returns
    /// nil when another process holds it. The lock lives as long as the descriptor.
    public static func lockFile(_ path: String, wait: Bool = true, why: String? = nil) throws(SysError) -> Int32? {
        let fd = try open(path, flags: O_RDWR | O_CREAT | O_CLOEXEC, mode: 0o600, trace: false)
        let op = LOCK_EX | (wait ? 0 : LOCK_NB)
        var r: Int32
        repeat { r = flock(fd, op) } while r < 0 && errno == EINTR
        if r < 0 {
            let e = errno
            close(fd)
            if e == EWOULDBLOCK { return nil }
            throw SysError(operation: "flock", object: path, errno: e)
        }
        Tracer.shared.call("flock", group: .file, start: MonotonicClock.now(), args: ["path": .string(path), "op": .string(wait ? "LOCK_EX" : "LOCK_EX|LOCK_NB")], ret: 0, errno: nil, why: why, shell: "flock \(shellQuote(path))")
        return fd
    }
}
