// Netlink: how vitro talks to the kernel's network configuration (chapter 05).
//
// rtnetlink is a socket protocol: vitro sends a message (a `struct nlmsghdr`, a fixed
// header such as `struct ifinfomsg`, then attributes) and the kernel answers with an
// acknowledgement (NLMSG_ERROR with error 0), an error (NLMSG_ERROR with -errno), or
// for a dump a series of messages ended by NLMSG_DONE. VitroNetwork builds and parses
// the messages; this file owns the socket: socket(2), bind(2), sendto(2) and recv(2)
// with EINTR retry, the reading of the framing (sequence numbers, ACK, DONE, errors),
// and the trace event. One request is one event in group `netlink`, named after the
// message type (`RTM_NEWLINK`), with the link as its object and the `ip` command a
// person would type for the same effect.
//
// A socket belongs to the network namespace it was made in, for its whole life: to
// configure a container's eth0 vitro makes a socket inside the container's namespace
// (`netlinkSocket(netns:)` enters it on the calling thread, makes the socket and goes
// back), which is what `ip netns exec` and `nsenter --net` do for `ip`.
//
// The kernel's extended ACK (NETLINK_EXT_ACK) is switched on, so an error carries the
// kernel's own sentence ("Invalid prefix for given prefix length"), shown as the hint.

import CVitroShim
import VitroTrace

#if canImport(Glibc)
import Glibc
#endif

/// One message the kernel sent back: its type and flags and the bytes after the
/// 16-byte `nlmsghdr`.
public struct NetlinkReply: Sendable, Equatable {
    public var type: UInt16
    public var flags: UInt16
    public var payload: [UInt8]
    public init(type: UInt16, flags: UInt16, payload: [UInt8]) {
        self.type = type
        self.flags = flags
        self.payload = payload
    }
}

extension Sys {
    static let afNetlink: Int32 = 16
    static let solNetlink: Int32 = 270
    static let netlinkCapAck: Int32 = 10
    static let netlinkExtAck: Int32 = 11
    static let nlmsgError: UInt16 = 2
    static let nlmsgDone: UInt16 = 3
    static let nlmFMulti: UInt16 = 0x2
    static let nlmFAckTLVs: UInt16 = 0x200

    /// socket(AF_NETLINK, SOCK_RAW|SOCK_CLOEXEC, protocol) bound to the kernel-chosen
    /// port. With `netns`, the socket is made inside that network namespace (a
    /// /proc/PID/ns/net path): the calling thread enters it and comes back.
    public static func netlinkSocket(
        protocol proto: Int32 = 0, netns: String? = nil, why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) -> Int32 {
        guard let netns else { return try netlinkSocketHere(proto, why: why, file: file, line: line) }
        let home = try open("/proc/thread-self/ns/net", flags: O_RDONLY | O_CLOEXEC, trace: false, file: file, line: line)
        defer { close(home) }
        try setns(path: netns, kind: .net, why: "a netlink socket belongs to the namespace it is made in: enter the container's to make one there", file: file, line: line)
        let fd: Int32
        do {
            fd = try netlinkSocketHere(proto, why: why, file: file, line: line)
        } catch {
            try setnsBack(home, file: file, line: line)
            throw error
        }
        try setnsBack(home, file: file, line: line)
        return fd
    }

    private static func setnsBack(_ fd: Int32, file: StaticString = #fileID, line: UInt = #line) throws(SysError) {
        try invoke(
            file: file, line: line, "setns", .namespace, object: "/proc/thread-self/ns/net", args: ["fd": .string("the host's net namespace"), "nstype": .flags(NamespaceSet.net.names)],
            why: "back to vitro's own network namespace; the socket stays in the container's", shell: nil
        ) { Int(vitro_setns(fd, NamespaceSet.net.rawValue)) }
    }

    private static func netlinkSocketHere(
        _ proto: Int32, why: String?,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) -> Int32 {
        let type = Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        let fd = Int32(
            try invoke(
                file: file, line: line, "socket", proto == 12 ? .netfilter : .netlink, object: proto == 12 ? "NETLINK_NETFILTER" : "NETLINK_ROUTE",
                args: ["domain": .string("AF_NETLINK"), "type": .flags("SOCK_RAW|SOCK_CLOEXEC"), "protocol": .string(proto == 0 ? "NETLINK_ROUTE" : proto == 12 ? "NETLINK_NETFILTER" : String(proto))],
                why: why, shell: nil
            ) { Int(Glibc.socket(afNetlink, type, proto)) })
        // struct sockaddr_nl { u16 family; u16 pad; u32 pid (0: the kernel picks); u32 groups }
        var addr: [UInt8] = [16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        let r = addr.withUnsafeMutableBytes { p in
            Glibc.bind(fd, p.baseAddress?.assumingMemoryBound(to: sockaddr.self), socklen_t(p.count))
        }
        if r < 0 {
            let e = errno
            close(fd)
            throw SysError(operation: "bind", object: "AF_NETLINK", errno: e)
        }
        var one: Int32 = 1
        // Best effort: older kernels lack them, and errors are still reported without.
        _ = setsockopt(fd, solNetlink, netlinkCapAck, &one, socklen_t(4))
        _ = setsockopt(fd, solNetlink, netlinkExtAck, &one, socklen_t(4))
        return fd
    }

    /// Sends one request (a whole netlink message, NLM_F_ACK or NLM_F_DUMP set) and
    /// reads the answer: the messages before the ACK or NLMSG_DONE. Throws a SysError
    /// named after the request (`RTM_NEWLINK "vx1a2b": file exists`) when the kernel
    /// answers with an error.
    public static func netlink(
        _ fd: Int32, request: [UInt8], name: String, object: String, args: Args, why: String?, shell: String?, group: Group = .netlink,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) -> [NetlinkReply] {
        precondition(request.count >= 16, "bug: a netlink message is at least its 16-byte header")
        let seq = readU32(request, 8)
        let start = MonotonicClock.now()
        var replies: [NetlinkReply] = []
        var failure: (Int32, String?)?
        let sendErr = sendToKernel(fd, request)
        if sendErr != 0 { failure = (sendErr, nil) }
        var buffer = [UInt8](repeating: 0, count: 65536)
        receiving: while failure == nil {
            let got = receiveDatagram(fd, into: &buffer, wait: true)
            if got < 0 {
                failure = (Int32(-got), nil)
                break
            }
            // An answer to an earlier request (another sequence number) is not ours.
            for (m, mseq) in netlinkMessages(buffer, count: got) where mseq == seq {
                if m.type == nlmsgError {
                    failure = netlinkError(m)
                    break receiving
                }
                if m.type == nlmsgDone { break receiving }
                replies.append(m)
            }
        }
        Tracer.shared.call(
            name, group: group, start: start, args: args, ret: failure == nil ? 0 : -1,
            errno: failure.map { Errno.name($0.0) }, why: why, shell: shell, tid: threadID(), file: file, line: line)
        if let (e, message) = failure {
            throw SysError(operation: name, object: object, errno: e, hint: message)
        }
        return replies
    }

    /// The NLMSGERR_ATTR_MSG string of an extended ACK. With NETLINK_CAP_ACK the error
    /// is followed by the request's 16-byte header only, then the attributes.
    static func extAckMessage(_ payload: [UInt8]) -> String? {
        var off = 4 + 16
        while off + 4 <= payload.count {
            let len = Int(readU16(payload, off))
            let type = readU16(payload, off + 2)
            guard len >= 4, off + len <= payload.count else { return nil }
            if type == 1 {
                let text = payload[(off + 4)..<(off + len)].prefix { $0 != 0 }
                return text.isEmpty ? nil : "kernel: " + String(decoding: text, as: UTF8.self)
            }
            off += align4(len)
        }
        return nil
    }

    static func align4(_ n: Int) -> Int { (n + 3) & ~3 }

    /// sendto(2) of a request (or a batch of them) to the kernel: 0, or the errno.
    static func sendToKernel(_ fd: Int32, _ bytes: [UInt8]) -> Int32 {
        while true {
            let n = bytes.withUnsafeBytes { p in
                var kernel: [UInt8] = [16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
                return kernel.withUnsafeMutableBytes { k in
                    Glibc.sendto(fd, p.baseAddress, p.count, 0, k.baseAddress?.assumingMemoryBound(to: sockaddr.self), socklen_t(k.count))
                }
            }
            if n >= 0 { return 0 }
            if errno != EINTR { return errno }
        }
    }

    /// One recv(2) into `buffer`, EINTR retried: the byte count, or -errno.
    static func receiveDatagram(_ fd: Int32, into buffer: inout [UInt8], wait: Bool) -> Int {
        while true {
            let got = buffer.withUnsafeMutableBytes { Glibc.recv(fd, $0.baseAddress, $0.count, wait ? 0 : Int32(MSG_DONTWAIT)) }
            if got >= 0 { return got }
            if errno != EINTR { return -Int(errno) }
        }
    }

    /// The messages of one datagram, in order: each header's type, flags and sequence
    /// number, and its payload. A truncated message ends the walk.
    static func netlinkMessages(_ buffer: [UInt8], count: Int) -> [(reply: NetlinkReply, seq: UInt32)] {
        var out: [(reply: NetlinkReply, seq: UInt32)] = []
        var off = 0
        while off + 16 <= count {
            let len = Int(readU32(buffer, off))
            guard len >= 16, off + len <= count else { break }
            let reply = NetlinkReply(type: readU16(buffer, off + 4), flags: readU16(buffer, off + 6), payload: Array(buffer[(off + 16)..<(off + len)]))
            out.append((reply, readU32(buffer, off + 8)))
            off += align4(len)
        }
        return out
    }

    /// What an NLMSG_ERROR message says: nil for an acknowledgement (error 0), else the
    /// errno and the kernel's own message when it sent one.
    static func netlinkError(_ m: NetlinkReply) -> (Int32, String?)? {
        let code = m.payload.count >= 4 ? Int32(bitPattern: readU32(m.payload, 0)) : -EIO
        return code == 0 ? nil : (-code, (m.flags & nlmFAckTLVs) != 0 ? extAckMessage(m.payload) : nil)
    }

    static func readU32(_ b: [UInt8], _ at: Int) -> UInt32 {
        UInt32(b[at]) | UInt32(b[at + 1]) << 8 | UInt32(b[at + 2]) << 16 | UInt32(b[at + 3]) << 24
    }

    static func readU16(_ b: [UInt8], _ at: Int) -> UInt16 {
        UInt16(b[at]) | UInt16(b[at + 1]) << 8
    }
}
