// Processes: spawning vitro-init, fork, execve, signals, waiting, sessions, and the
// descriptors that connect vitro with vitro-init.

import CVitroShim
import VitroTrace

#if canImport(Glibc)
import Glibc
#endif

/// How a process ended, with the exit code a shell (and Docker) reports for it.
public enum ExitStatus: Sendable, Equatable {
    case exited(Int32)
    case signaled(Int32)

    init(raw: Int32) {
        if vitro_wifsignaled(raw) != 0 { self = .signaled(vitro_wtermsig(raw)) } else { self = .exited(vitro_wexitstatus(raw)) }
    }

    /// 0–255 as exited, 128+N when killed by signal N.
    public var code: Int32 {
        switch self {
        case .exited(let c): return c
        case .signaled(let s): return 128 + s
        }
    }

    public var text: String {
        switch self {
        case .exited(let c): return "exited \(c)"
        case .signaled(let s): return "killed by \(SignalName.name(s))"
        }
    }
}

extension Sys {
    /// fork(2) then execve(2) in C (the window a multi-threaded parent may only fill with
    /// async-signal-safe calls). `fds[i]` becomes descriptor i in the child.
    public static func spawn(
        _ path: String, argv: [String], env: [String], fds: [Int32], why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) -> pid_t {
        var childErrno: Int32 = 0
        let r = try invoke(
            file: file, line: line, "execve", .process, object: path,
            args: ["path": .string(path), "argv": .list(argv), "via": .string("vfork"), "nfds": .int(Int64(fds.count))],
            why: why, shell: shellLine(argv),
            hint: { e in e == ENOENT ? "is vitro-init installed next to vitro?" : nil }
        ) {
            let pid = withCStrings(argv) { a in
                withCStrings(env) { e in
                    fds.withUnsafeBufferPointer { f in
                        vitro_spawn(path, a, e, f.baseAddress, Int32(fds.count), &childErrno)
                    }
                }
            }
            if pid < 0 { Glibc.errno = childErrno }
            return Int(pid)
        }
        return pid_t(r)
    }

    /// fork(2). Only for single-threaded callers (vitro-init). fork returns twice, so
    /// the trace gets two events: the parent's (the child's pid) and the child's (0).
    /// The child's is stamped with its own host pid, read from /proc/self, because
    /// getpid() says 1 in a new pid namespace.
    public static func fork(
        why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) -> pid_t {
        // A buffered sink's unwritten events would otherwise be written twice, by both.
        Tracer.shared.flush()
        let start = MonotonicClock.now()
        let r = vitro_fork()
        let err = r < 0 ? Glibc.errno : 0
        if r == 0 {
            forgetThreadID()
            Tracer.shared.pid = readlink("/proc/self").flatMap { Int32($0) } ?? getpid()
        }
        Tracer.shared.call("fork", group: .process, start: start, args: [:], ret: Int64(r), errno: r < 0 ? Errno.name(err) : nil, why: why, shell: nil, file: file, line: line)
        if r < 0 { throw SysError(operation: "fork", object: "", errno: err) }
        return r
    }

    /// clone3(2) with CLONE_INTO_CGROUP: `fork`, with the child born in the cgroup whose
    /// directory `cgroupFD` is open on (`path` names it in the trace). A process made this
    /// way never moves, so no cgroup lock is taken (v2 only; Linux 5.7 and later).
    public static func forkIntoCgroup(
        _ cgroupFD: Int32, path: String, why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) -> pid_t {
        Tracer.shared.flush()
        let start = MonotonicClock.now()
        let r = vitro_clone_into_cgroup(cgroupFD)
        let err = r < 0 ? Glibc.errno : 0
        if r == 0 {
            forgetThreadID()
            Tracer.shared.pid = readlink("/proc/self").flatMap { Int32($0) } ?? getpid()
        }
        Tracer.shared.call(
            "clone3", group: .process, start: start, args: ["flags": .flags("CLONE_INTO_CGROUP"), "cgroup": .string(path)], ret: Int64(r),
            errno: r < 0 ? Errno.name(err) : nil, why: why, shell: nil, file: file, line: line)
        if r < 0 { throw SysError(operation: "clone3", object: path, errno: err) }
        return r
    }

    /// execve(2). Returns only by throwing. The event is recorded (and flushed) before
    /// the call, because a successful execve leaves no one to record it.
    public static func execve(
        _ path: String, argv: [String], env: [String], why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) -> Never {
        let start = MonotonicClock.now()
        let args: Args = ["path": .string(path), "argv": .list(argv), "envc": .int(Int64(env.count))]
        Tracer.shared.call("execve", group: .process, start: start, args: args, ret: 0, errno: nil, why: why, shell: "exec " + shellLine(argv), file: file, line: line)
        Tracer.shared.flush()
        let err: Int32 = withCStrings(argv) { a in
            withCStrings(env) { e in
                _ = Glibc.execve(path, a, e)
                return Glibc.errno
            }
        }
        Tracer.shared.call("execve", group: .process, start: start, args: args, ret: -1, errno: Errno.name(err), why: "the previous execve failed", shell: nil, file: file, line: line)
        throw SysError(operation: "exec", object: path, errno: err)
    }

    /// kill(2).
    public static func kill(
        _ pid: pid_t, _ signal: Int32, why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) {
        try invoke(
            file: file, line: line, "kill", .process, object: String(pid), args: ["pid": .int(Int64(pid)), "sig": .string(SignalName.name(signal))],
            why: why, shell: "kill -\(SignalName.name(signal).dropFirst(3)) \(pid)"
        ) { Int(Glibc.kill(pid, signal)) }
    }

    /// waitpid(2). With `noHang`, nil means the child is still running (or, for -1,
    /// that there is no child left to wait for).
    public static func waitpid(
        _ pid: pid_t, noHang: Bool = false, why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) -> (pid_t, ExitStatus)? {
        var status: Int32 = 0
        if noHang {
            var r: pid_t
            repeat { r = Glibc.waitpid(pid, &status, WNOHANG) } while r < 0 && errno == EINTR
            if r == 0 { return nil }
            if r < 0 && errno == ECHILD { return nil }
            if r < 0 { throw SysError(operation: "waitpid", object: String(pid), errno: errno) }
            let s = ExitStatus(raw: status)
            Tracer.shared.call("waitpid", group: .process, start: MonotonicClock.now(), args: ["pid": .int(Int64(r)), "status": .string(s.text)], ret: Int64(r), errno: nil, why: why, shell: nil, file: file, line: line)
            return (r, s)
        }
        var result: ExitStatus = .exited(0)
        let r = try invoke(
            file: file, line: line, "waitpid", .process, object: String(pid), args: ["pid": .int(Int64(pid))], why: why, shell: "wait \(pid)") {
            let r = Glibc.waitpid(pid, &status, 0)
            if r > 0 { result = ExitStatus(raw: status) }
            return Int(r)
        }
        return (pid_t(r), result)
    }

    /// setsid(2): a new session, so the terminal's job control signals reach vitro only.
    public static func setsid(why: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws(SysError) {
        try invoke(
            file: file, line: line, "setsid", .process, object: "", args: [:], why: why, shell: "setsid") { Int(Glibc.setsid()) }
    }

    /// prctl(PR_SET_CHILD_SUBREAPER): orphaned descendants are re-parented to us.
    public static func setChildSubreaper(
        why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) {
        try invoke(
            file: file, line: line, "prctl", .process, object: "PR_SET_CHILD_SUBREAPER", args: ["option": .string("PR_SET_CHILD_SUBREAPER"), "arg": .int(1)], why: why, shell: nil) {
            Int(vitro_set_child_subreaper(1))
        }
    }

    /// prctl(PR_SET_PDEATHSIG): the kernel sends `signal` when our parent dies.
    public static func setParentDeathSignal(
        _ signal: Int32, why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) {
        try invoke(
            file: file, line: line, "prctl", .process, object: "PR_SET_PDEATHSIG", args: ["option": .string("PR_SET_PDEATHSIG"), "arg": .string(SignalName.name(signal))], why: why, shell: nil) {
            Int(vitro_set_pdeathsig(signal))
        }
    }

    // MARK: descriptors between vitro and vitro-init (not traced: plumbing)

    public static func pipe() throws(SysError) -> (read: Int32, write: Int32) {
        var fds: [Int32] = [-1, -1]
        guard vitro_pipe_cloexec(&fds) == 0 else { throw SysError(operation: "pipe2", object: "", errno: errno) }
        return (fds[0], fds[1])
    }

    public static func socketPair() throws(SysError) -> (Int32, Int32) {
        var fds: [Int32] = [-1, -1]
        guard vitro_socketpair_cloexec(&fds) == 0 else { throw SysError(operation: "socketpair", object: "", errno: errno) }
        return (fds[0], fds[1])
    }

    /// Clears or sets close-on-exec on a descriptor.
    public static func setCloseOnExec(_ fd: Int32, _ on: Bool) throws(SysError) {
        let flags = fcntl(fd, F_GETFD)
        guard flags >= 0, fcntl(fd, F_SETFD, on ? flags | FD_CLOEXEC : flags & ~FD_CLOEXEC) == 0 else {
            throw SysError(operation: "fcntl", object: "fd \(fd)", errno: errno)
        }
    }

    public static func setNonBlocking(_ fd: Int32) throws(SysError) {
        let flags = fcntl(fd, F_GETFL)
        guard flags >= 0, fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0 else {
            throw SysError(operation: "fcntl", object: "fd \(fd)", errno: errno)
        }
    }

    /// One read(2). Empty means end of file; nil means EAGAIN on a non-blocking fd.
    public static func read(_ fd: Int32, max: Int = 65536) throws(SysError) -> [UInt8]? {
        var buf = [UInt8](repeating: 0, count: max)
        while true {
            let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n >= 0 { return Array(buf[0..<n]) }
            if errno == EINTR { continue }
            if errno == EAGAIN { return nil }
            throw SysError(operation: "read", object: "fd \(fd)", errno: errno)
        }
    }

    /// One message on a SOCK_SEQPACKET socket (or any write); true when written whole.
    @discardableResult
    public static func write(_ fd: Int32, _ bytes: [UInt8]) -> Bool { writeAll(fd, bytes) }

    /// Waits until one of `fds` is readable (or hung up). Returns the ready descriptors.
    public static func poll(_ fds: [Int32], timeoutMillis: Int32 = -1) throws(SysError) -> [Int32] {
        var pfds = fds.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        while true {
            let n = Glibc.poll(&pfds, nfds_t(pfds.count), timeoutMillis)
            if n >= 0 { return pfds.filter { $0.revents != 0 }.map(\.fd) }
            if errno == EINTR { continue }
            throw SysError(operation: "poll", object: "", errno: errno)
        }
    }

    /// Blocks the signals in this thread and returns a signalfd that reads them.
    public static func signalDescriptor(_ signals: [Int32]) throws(SysError) -> Int32 {
        guard vitro_sigmask(0, signals, Int32(signals.count)) == 0 else {
            throw SysError(operation: "sigprocmask", object: "", errno: errno)
        }
        let fd = vitro_signalfd(signals, Int32(signals.count))
        guard fd >= 0 else { throw SysError(operation: "signalfd", object: "", errno: errno) }
        return fd
    }

    /// Reads one pending signal from a signalfd: (signal, sender pid), or nil if none.
    public static func readSignal(_ fd: Int32) -> (signal: Int32, from: pid_t)? {
        var from: Int32 = 0
        let s = vitro_signalfd_read(fd, &from)
        return s > 0 ? (s, from) : nil
    }

    public static func isTerminal(_ fd: Int32) -> Bool { vitro_isatty(fd) == 1 }

    /// The number of threads in this process (from /proc/self/task).
    public static func threadCount() -> Int { listDirectory("/proc/self/task").count }

    /// Exits now, without running atexit handlers (a forked child must not flush the
    /// parent's buffers twice).
    public static func exitNow(_ code: Int32) -> Never { _exit(code) }
}

extension Sys {
    /// Unblocks signals blocked by `signalDescriptor`.
    @discardableResult
    public static func unblockSignals(_ signals: [Int32]) -> Bool {
        vitro_sigmask(1, signals, Int32(signals.count)) == 0
    }
}

extension Sys {
    /// Sleeps (nanosleep(2), resumed after signals).
    public static func sleep(milliseconds: Int) {
        var req = timespec(tv_sec: milliseconds / 1000, tv_nsec: (milliseconds % 1000) * 1_000_000)
        var rem = timespec()
        while nanosleep(&req, &rem) < 0 && errno == EINTR { req = rem }
    }
}

extension Sys {
    /// dup2(2): make `to` a copy of `from` (a monitor pointing its stdio at /dev/null).
    public static func dup2(
        _ from: Int32, _ to: Int32, why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) {
        try invoke(
            file: file, line: line, "dup2", .process, object: "fd \(to)", args: ["oldfd": .int(Int64(from)), "newfd": .int(Int64(to))], why: why, shell: nil) {
            Int(Glibc.dup2(from, to))
        }
    }

    /// getpid(2).
    public static func processID() -> Int32 { getpid() }
}

extension Sys {
    /// close_range(2) from `lowfd` up: a process that outlives its parent (the monitor)
    /// must not keep descriptors it inherited, or a pipe's reader never sees its end.
    public static func closeDescriptors(
        from lowfd: Int32, why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) {
        try invoke(
            file: file, line: line, "close_range", .process, object: "fd \(lowfd)..", args: ["first": .int(Int64(lowfd)), "last": .string("~0")], why: why, shell: nil) {
            Int(vitro_close_from(lowfd))
        }
    }
}
