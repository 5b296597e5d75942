// Terminals: the pseudo-terminal of `vitro run -t` (chapter 08).
//
// The pty is made where Docker's runc makes it: pid 1 opens /dev/ptmx after it has
// mounted the container's own devpts instance and pivoted into the new root, so the
// slave is /dev/pts/0 of the container, not a name from the host's devpts. pid 1 keeps
// the slave as its stdin, stdout and stderr, makes it its controlling terminal
// (TIOCSCTTY, after setsid), and hands the master to vitro over the sync socket
// (SCM_RIGHTS). vitro copies bytes between its own terminal and the master, puts its
// terminal in raw mode meanwhile (so Ctrl-C travels as a byte and the container's line
// discipline turns it into SIGINT), and copies the window size onto the master.
//
// ioctl(2) is variadic and the SCM_RIGHTS control message is built with macros, so the
// calls themselves are in CVitroShim; the wrappers here trace them. Window-size and
// termios reads change nothing and are not traced.

import CVitroShim
import VitroTrace

#if canImport(Glibc)
import Glibc
#endif

/// A terminal's settings as tcgetattr(3) read them, to be put back later.
public struct TerminalSettings: Sendable {
    var bytes: [UInt8]
}

/// A window size in character cells.
public struct WindowSize: Sendable, Equatable {
    public var rows: UInt16
    public var columns: UInt16
    public init(rows: UInt16, columns: UInt16) {
        self.rows = rows
        self.columns = columns
    }
}

extension Sys {
    /// Opens a new pty pair in the devpts instance that /dev/ptmx leads to: the master
    /// (close-on-exec) and the slave, with the slave's path.
    public static func openPTY(
        why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) -> (master: Int32, slave: Int32, path: String) {
        let master = try open("/dev/ptmx", flags: O_RDWR | O_NOCTTY | O_CLOEXEC, mode: 0, why: why, file: file, line: line)
        do {
            try invoke(
                file: file, line: line, "ioctl", .file, object: "/dev/ptmx", args: ["fd": .int(Int64(master)), "request": .string("TIOCSPTLCK"), "arg": .int(0)],
                why: "unlockpt(3): a new slave is locked until its master unlocks it", shell: nil
            ) { Int(vitro_unlock_pty(master)) }
            var n: Int32 = -1
            try invoke(
                file: file, line: line, "ioctl", .file, object: "/dev/ptmx", args: ["fd": .int(Int64(master)), "request": .string("TIOCGPTN")],
                why: "ptsname(3): which /dev/pts/N is the other end", shell: nil
            ) { Int(vitro_pty_number(master, &n)) }
            let path = "/dev/pts/\(n)"
            let slave = try open(path, flags: O_RDWR | O_NOCTTY | O_CLOEXEC, mode: 0, why: "the slave end: the container's terminal", file: file, line: line)
            return (master, slave, path)
        } catch {
            close(master)
            throw error
        }
    }

    /// ioctl(TIOCSCTTY): the terminal on `fd` becomes the controlling terminal of the
    /// caller, which must lead a session without one (just after setsid).
    public static func setControllingTerminal(
        _ fd: Int32, why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) {
        try invoke(
            file: file, line: line, "ioctl", .process, object: "fd \(fd)", args: ["fd": .int(Int64(fd)), "request": .string("TIOCSCTTY")],
            why: why, shell: nil
        ) { Int(vitro_set_controlling_tty(fd)) }
    }

    /// ioctl(TIOCGWINSZ), or nil when `fd` is not a terminal.
    public static func windowSize(_ fd: Int32) -> WindowSize? {
        var rows: UInt16 = 0, cols: UInt16 = 0
        guard vitro_get_winsize(fd, &rows, &cols) == 0 else { return nil }
        return WindowSize(rows: rows, columns: cols)
    }

    /// ioctl(TIOCSWINSZ) on a pty master: the kernel sends SIGWINCH to the terminal's
    /// foreground process group when the size changes.
    public static func setWindowSize(
        _ fd: Int32, _ size: WindowSize, why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) {
        try invoke(
            file: file, line: line, "ioctl", .file, object: "fd \(fd)",
            args: ["fd": .int(Int64(fd)), "request": .string("TIOCSWINSZ"), "rows": .int(Int64(size.rows)), "cols": .int(Int64(size.columns))],
            why: why, shell: "stty rows \(size.rows) cols \(size.columns)"
        ) { Int(vitro_set_winsize(fd, size.rows, size.columns)) }
    }

    /// tcsetattr(3) with cfmakeraw(3)'s settings; returns the settings it replaced.
    public static func makeRaw(
        _ fd: Int32, why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) -> TerminalSettings {
        var saved = [UInt8](repeating: 0, count: Int(vitro_termios_size()))
        try invoke(
            file: file, line: line, "tcsetattr", .file, object: "fd \(fd)", args: ["fd": .int(Int64(fd)), "mode": .string("raw")], why: why,
            shell: "stty raw -echo"
        ) { Int(saved.withUnsafeMutableBytes { vitro_make_raw(fd, $0.baseAddress) }) }
        return TerminalSettings(bytes: saved)
    }

    /// tcsetattr(3) back to settings `makeRaw` saved.
    public static func restoreTerminal(
        _ fd: Int32, _ settings: TerminalSettings, why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) {
        try invoke(
            file: file, line: line, "tcsetattr", .file, object: "fd \(fd)", args: ["fd": .int(Int64(fd)), "mode": .string("saved")], why: why,
            shell: "stty sane"
        ) { Int(settings.bytes.withUnsafeBytes { vitro_restore_termios(fd, $0.baseAddress) }) }
    }

    /// sendmsg(2) of one message with a descriptor attached (SCM_RIGHTS).
    public static func sendDescriptor(
        _ socket: Int32, _ bytes: [UInt8], fd: Int32, why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) {
        try sendDescriptors(socket, bytes, fds: [fd], why: why, file: file, line: line)
    }

    /// sendmsg(2) of one message with up to 16 descriptors attached (SCM_RIGHTS); the
    /// receiver gets its own copies, open on the same files.
    public static func sendDescriptors(
        _ socket: Int32, _ bytes: [UInt8], fds: [Int32], why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) {
        // The descriptors' count, not their numbers: those depend on what else is open.
        try invoke(
            file: file, line: line, "sendmsg", .process, object: "fd \(socket)",
            args: ["message": .string(String(decoding: bytes, as: UTF8.self)), "scm_rights": .int(Int64(fds.count))],
            why: why, shell: nil
        ) {
            Int(bytes.withUnsafeBytes { b in fds.withUnsafeBufferPointer { vitro_send_fds(socket, b.baseAddress, b.count, $0.baseAddress, Int32($0.count)) } })
        }
    }

    /// One recvmsg(2) on a (non-blocking) SOCK_SEQPACKET socket: the message and the
    /// descriptor that came with it, if any (close-on-exec). Empty means end of file; nil
    /// means EAGAIN. Not traced: plumbing, like `read`.
    public static func receive(_ socket: Int32, max: Int = 4096) throws(SysError) -> (bytes: [UInt8], fd: Int32?)? {
        guard let (bytes, fds) = try receiveDescriptors(socket, max: max, maxDescriptors: 1) else { return nil }
        return (bytes, fds.first)
    }

    /// `receive` for a message that may carry several descriptors (at most
    /// `maxDescriptors` are kept; any beyond are closed). On a blocking socket it waits.
    public static func receiveDescriptors(_ socket: Int32, max: Int = 4096, maxDescriptors: Int = 16) throws(SysError) -> (bytes: [UInt8], fds: [Int32])? {
        var buf = [UInt8](repeating: 0, count: max)
        var fds = [Int32](repeating: -1, count: maxDescriptors)
        while true {
            var count: Int32 = 0
            let n = buf.withUnsafeMutableBytes { b in
                fds.withUnsafeMutableBufferPointer { vitro_recv_fds(socket, b.baseAddress, b.count, $0.baseAddress, Int32($0.count), &count) }
            }
            if n >= 0 { return (Array(buf[0..<n]), Array(fds[0..<Int(count)])) }
            if errno == EINTR { continue }
            if errno == EAGAIN { return nil }
            throw SysError(operation: "recvmsg", object: "fd \(socket)", errno: errno)
        }
    }

    /// Writes all of `bytes` to a descriptor that may be non-blocking (a pty master),
    /// waiting in poll(2) for room when the kernel's buffer is full. False on an error
    /// (the other end has gone). Not traced: it is the copying of a session's bytes.
    @discardableResult
    public static func writeWaiting(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBufferPointer { p -> Int in
                guard let base = p.baseAddress else { return 0 }
                return Glibc.write(fd, base + off, p.count - off)
            }
            if n >= 0 {
                off += n
                continue
            }
            if errno == EINTR { continue }
            guard errno == EAGAIN else { return false }
            var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            _ = Glibc.poll(&p, 1, 1000)
        }
        return true
    }
}
