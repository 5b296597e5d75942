// IPv4 sockets for published ports (chapter 05): what Docker's docker-proxy does.
//
// For each published port vitro binds the host port itself, before any rule goes in.
// The bind is the check that the port is free (EADDRINUSE is "port already in use", and
// nothing has been installed yet), it keeps the port from being taken while the
// container runs, and it serves the one path NAT cannot: a connection to the host's own
// 127.0.0.1, whose source address may not leave the loopback device unless
// route_localnet is switched on (which would expose 127.0.0.1 to the network). Such
// connections are accepted here and copied to the container.
//
// Addresses are 4 bytes in network order; ports are host-order numbers.

import VitroTrace

#if canImport(Glibc)
import Glibc
#endif

public enum SocketKind: String, Sendable {
    case tcp, udp
}

extension Sys {
    static func sockaddrIn(_ address: [UInt8], _ port: UInt16) -> sockaddr_in {
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = port.bigEndian
        sa.sin_addr.s_addr = UInt32(address[0]) | UInt32(address[1]) << 8 | UInt32(address[2]) << 16 | UInt32(address[3]) << 24
        return sa
    }

    public static func dotted(_ a: [UInt8]) -> String { a.map(String.init).joined(separator: ".") }

    /// socket(2) + bind(2) (+ listen(2) for TCP) on address:port; port 0 lets the
    /// kernel pick a free one. Returns the descriptor (non-blocking, close-on-exec) and
    /// the port bound.
    public static func bindPort(
        _ kind: SocketKind, address: [UInt8], port: UInt16, why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) -> (fd: Int32, port: UInt16) {
        precondition(address.count == 4, "bug: an IPv4 address is 4 bytes")
        let shown = "\(dotted(address)):\(port)/\(kind.rawValue)"
        let type = (kind == .tcp ? Int32(SOCK_STREAM.rawValue) : Int32(SOCK_DGRAM.rawValue))
            | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue)
        var bound: UInt16 = port
        let fd = try invoke(
            file: file, line: line, "bind", .netfilter, object: shown,
            args: ["address": .string(dotted(address)), "port": .int(Int64(port)), "proto": .string(kind.rawValue)],
            why: why, shell: kind == .tcp ? "socat TCP-LISTEN:\(port),bind=\(dotted(address)),fork,reuseaddr -" : "socat UDP-RECVFROM:\(port),bind=\(dotted(address)) -",
            hint: { e in e == EADDRINUSE ? "another program holds this port" : e == EADDRNOTAVAIL ? "no interface has this address" : nil }
        ) {
            let fd = Glibc.socket(AF_INET, type, 0)
            if fd < 0 { return -1 }
            var one: Int32 = 1
            _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(4))
            var sa = sockaddrIn(address, port)
            let r = withUnsafePointer(to: &sa) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            if r < 0 || (kind == .tcp && Glibc.listen(fd, 128) < 0) {
                let e = errno
                _ = Glibc.close(fd)
                errno = e
                return -1
            }
            var out = sockaddr_in()
            var len = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafeMutablePointer(to: &out) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
            }
            bound = UInt16(bigEndian: out.sin_port)
            return Int(fd)
        }
        return (Int32(fd), bound)
    }

    /// accept(2) on a non-blocking listener; nil when no connection is waiting. The new
    /// descriptor is made close-on-exec and non-blocking (accept4 is hidden by Glibc's
    /// module; vitro starts no program between the two calls).
    public static func accept(_ fd: Int32) -> Int32? {
        while true {
            let c = Glibc.accept(fd, nil, nil)
            if c >= 0 {
                _ = try? setCloseOnExec(c, true)
                _ = try? setNonBlocking(c)
                return c
            }
            if errno == EINTR { continue }
            return nil
        }
    }

    /// connect(2) to address:port over TCP (blocking; a container on the local bridge
    /// answers at once). The descriptor is then made non-blocking.
    public static func connectTCP(address: [UInt8], port: UInt16) throws(SysError) -> Int32 {
        let fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if fd < 0 { throw SysError(operation: "socket", object: "AF_INET", errno: errno) }
        var sa = sockaddrIn(address, port)
        var r: Int32
        repeat {
            r = withUnsafePointer(to: &sa) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        } while r < 0 && errno == EINTR
        if r < 0 {
            let e = errno
            close(fd)
            throw SysError(operation: "connect", object: "\(dotted(address)):\(port)", errno: e)
        }
        try setNonBlocking(fd)
        return fd
    }

    /// shutdown(fd, SHUT_WR): pass a half-close on.
    public static func shutdownWrite(_ fd: Int32) {
        _ = Glibc.shutdown(fd, Int32(SHUT_WR))
    }
}

extension Sys {
    /// recvfrom(2) on a non-blocking datagram socket: the bytes and the sender's address
    /// and port; nil when nothing is waiting.
    public static func receiveFrom(_ fd: Int32) -> (bytes: [UInt8], address: [UInt8], port: UInt16)? {
        var buf = [UInt8](repeating: 0, count: 65536)
        var sa = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        while true {
            let n = buf.withUnsafeMutableBytes { b in
                withUnsafeMutablePointer(to: &sa) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(fd, b.baseAddress, b.count, 0, $0, &len) }
                }
            }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { return nil }
            let a = sa.sin_addr.s_addr
            return (Array(buf[0..<n]), [UInt8(a & 0xff), UInt8(a >> 8 & 0xff), UInt8(a >> 16 & 0xff), UInt8(a >> 24)], UInt16(bigEndian: sa.sin_port))
        }
    }

    /// sendto(2) of one datagram.
    public static func sendTo(_ fd: Int32, _ bytes: [UInt8], address: [UInt8], port: UInt16) {
        var sa = sockaddrIn(address, port)
        _ = bytes.withUnsafeBytes { b in
            withUnsafePointer(to: &sa) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.sendto(fd, b.baseAddress, b.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        }
    }

    /// A UDP socket connected to address:port (non-blocking).
    public static func connectUDP(address: [UInt8], port: UInt16) throws(SysError) -> Int32 {
        let fd = Glibc.socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        if fd < 0 { throw SysError(operation: "socket", object: "AF_INET", errno: errno) }
        var sa = sockaddrIn(address, port)
        let r = withUnsafePointer(to: &sa) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if r < 0 {
            let e = errno
            close(fd)
            throw SysError(operation: "connect", object: "\(dotted(address)):\(port)/udp", errno: e)
        }
        return fd
    }
}
