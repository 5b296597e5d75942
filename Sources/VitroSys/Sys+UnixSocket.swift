// Unix sockets and a poll(2) that waits for writing too (chapter 08: `vitro attach`).
//
// A detached container's monitor listens on a unix stream socket in the container's
// directory, `containers/ID/attach.sock`; `vitro attach` connects to it. A socket's path
// must fit in `sun_path` (108 bytes with its NUL), and a container's directory under
// a long state root does not: the id alone is 64 characters. So a path that is too
// long is reached through the directory that holds it, opened, as
// `/proc/self/fd/N/NAME` — the kernel resolves the magic link and the socket is made
// (or found) in the real directory. Podman's conmon does the same for its attach
// socket.
//
// Writes to a socket use send(2) with MSG_NOSIGNAL: a client that went away is an
// EPIPE for the caller to handle, not a SIGPIPE that ends the monitor.

import VitroTrace

#if canImport(Glibc)
import Glibc
#endif

/// What a descriptor is waited for, and what poll(2) said it is ready for. Hang-up and
/// error count as whatever was asked: the next read or write reports them.
public struct PollEvents: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let readable = PollEvents(rawValue: 1)
    public static let writable = PollEvents(rawValue: 2)
}

extension Sys {
    /// Calls `body` with a `sockaddr_un` for `path`: the path itself when it fits, else
    /// `/proc/self/fd/N/NAME` with N the directory, opened (see the top).
    static func withUnixAddress<R>(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R? {
        var address = sockaddr_un()
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        var dirFD: Int32 = -1
        defer { if dirFD >= 0 { _ = Glibc.close(dirFD) } }
        var usable = path
        if path.utf8.count >= capacity {
            guard let slash = path.lastIndex(of: "/") else { return nil }
            let dir = path[..<slash].isEmpty ? "/" : String(path[..<slash])
            dirFD = Glibc.open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if dirFD < 0 { return nil }
            usable = "/proc/self/fd/\(dirFD)/" + path[path.index(after: slash)...]
            guard usable.utf8.count < capacity else { return nil }
        }
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in usable.utf8.enumerated() { raw[i] = b }
            raw[usable.utf8.count] = 0
        }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }

    /// socket(AF_UNIX, SOCK_STREAM) + bind(2) + listen(2) at `path`, then chmod to
    /// `mode`. A socket file already at the path (left by a process that was killed) is
    /// removed first. The descriptor is non-blocking and close-on-exec.
    public static func listenUnix(
        _ path: String, mode: mode_t = 0o600, why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) -> Int32 {
        var st = stat()
        if lstat(path, &st) == 0, st.st_mode & S_IFMT == S_IFSOCK {
            try unlink(path, why: "a socket left by a monitor that did not end cleanly", file: file, line: line)
        }
        let fd = try invoke(
            file: file, line: line, "bind", .file, object: path, args: ["path": .string(path), "family": .string("AF_UNIX"), "type": .string("SOCK_STREAM")],
            why: why, shell: "socat UNIX-LISTEN:\(shellQuote(path)),fork -"
        ) { () -> Int in
            let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            if fd < 0 { return -1 }
            guard let r = withUnixAddress(path, { Glibc.bind(fd, $0, $1) }) else {
                _ = Glibc.close(fd)
                errno = ENAMETOOLONG
                return -1
            }
            if r < 0 || Glibc.listen(fd, 16) < 0 {
                let e = errno
                _ = Glibc.close(fd)
                errno = e
                return -1
            }
            return Int(fd)
        }
        do {
            try chmod(path, mode: mode, why: "only root may attach to the container", file: file, line: line)
        } catch {
            _ = Glibc.close(Int32(fd))
            try? unlink(path, file: file, line: line)
            throw error
        }
        return Int32(fd)
    }

    /// socket(AF_UNIX, SOCK_STREAM) + connect(2) to `path` (blocking, close-on-exec).
    public static func connectUnix(
        _ path: String,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) -> Int32 {
        let fd = try invoke(
            file: file, line: line, "connect", .file, object: path, args: ["path": .string(path), "family": .string("AF_UNIX")], why: nil,
            shell: "socat - UNIX-CONNECT:\(shellQuote(path))"
        ) { () -> Int in
            let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            if fd < 0 { return -1 }
            var r: Int32
            repeat {
                guard let attempt = withUnixAddress(path, { Glibc.connect(fd, $0, $1) }) else {
                    _ = Glibc.close(fd)
                    errno = ENAMETOOLONG
                    return -1
                }
                r = attempt
            } while r < 0 && errno == EINTR
            if r < 0 {
                let e = errno
                _ = Glibc.close(fd)
                errno = e
                return -1
            }
            return Int(fd)
        }
        return Int32(fd)
    }

    /// One send(2) of as much of `bytes` as the socket takes without waiting
    /// (MSG_DONTWAIT | MSG_NOSIGNAL): the count sent, 0 when its buffer is full. Throws
    /// when the peer has gone. Not traced: the copying of a session's bytes.
    public static func sendSome(_ fd: Int32, _ bytes: ArraySlice<UInt8>) throws(SysError) -> Int {
        while true {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT) | Int32(MSG_NOSIGNAL)) }
            if n >= 0 { return n }
            if errno == EINTR { continue }
            if errno == EAGAIN { return 0 }
            throw SysError(operation: "send", object: "fd \(fd)", errno: errno)
        }
    }

    /// send(2) of all of `bytes`, waiting for room (MSG_NOSIGNAL). False when the peer
    /// has gone.
    @discardableResult
    public static func sendAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n >= 0 {
                off += n
            } else if errno != EINTR {
                return false
            }
        }
        return true
    }

    /// One write(2) to a non-blocking descriptor (a pipe's write end, a pty master): the
    /// count written, 0 when it is full. Throws when the other end has gone.
    public static func writeSome(_ fd: Int32, _ bytes: ArraySlice<UInt8>) throws(SysError) -> Int {
        while true {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n >= 0 { return n }
            if errno == EINTR { continue }
            if errno == EAGAIN { return 0 }
            throw SysError(operation: "write", object: "fd \(fd)", errno: errno)
        }
    }

    /// poll(2) for what each descriptor is waited for. Returns what each ready one is
    /// ready for (hang-up and error as whatever it was waited for).
    public static func poll(_ interest: [Int32: PollEvents], timeoutMillis: Int32 = -1) throws(SysError) -> [Int32: PollEvents] {
        var pfds = interest.map { fd, e in
            pollfd(fd: fd, events: (e.contains(.readable) ? Int16(POLLIN) : 0) | (e.contains(.writable) ? Int16(POLLOUT) : 0), revents: 0)
        }
        while true {
            let n = Glibc.poll(&pfds, nfds_t(pfds.count), timeoutMillis)
            if n >= 0 { break }
            if errno == EINTR { continue }
            throw SysError(operation: "poll", object: "", errno: errno)
        }
        var ready: [Int32: PollEvents] = [:]
        let trouble = Int16(POLLHUP) | Int16(POLLERR) | Int16(POLLNVAL)
        for p in pfds where p.revents != 0 {
            let asked = interest[p.fd] ?? []
            var got: PollEvents = []
            if p.revents & Int16(POLLIN) != 0 { got.insert(.readable) }
            if p.revents & Int16(POLLOUT) != 0 { got.insert(.writable) }
            if p.revents & trouble != 0 { got.formUnion(asked) }
            ready[p.fd] = got
        }
        return ready
    }

    /// fcntl(F_DUPFD_CLOEXEC): a copy of `fd` numbered `atLeast` or above.
    public static func duplicate(_ fd: Int32, atLeast: Int32) throws(SysError) -> Int32 {
        let r = fcntl(fd, F_DUPFD_CLOEXEC, atLeast)
        if r < 0 { throw SysError(operation: "fcntl", object: "fd \(fd)", errno: errno) }
        return r
    }
}
