// Netlink multicast: listening to what the kernel announces rather than asking it
// (chapter 05's packet trace). `nft monitor trace` is such a listener: it joins the
// NFNLGRP_NFTRACE group of a NETLINK_NETFILTER socket, and for every packet marked with
// `meta nftrace set 1` nf_tables sends one NFT_MSG_TRACE message per rule and policy
// verdict the packet meets (net/netfilter/nf_tables_trace.c). The kernel only builds
// those messages while somebody listens, so the socket joins the group before the
// marking rule goes in.
//
// Joining is one setsockopt(NETLINK_ADD_MEMBERSHIP) on a socket from `netlinkSocket`,
// traced like every kernel call. The reads are not: a busy capture receives thousands of
// messages, and each becomes part of a `packet` event instead. A full receive buffer
// drops messages (recv fails with ENOBUFS once); the reader counts that and goes on.

import VitroTrace

#if canImport(Glibc)
import Glibc
#endif

extension Sys {
    static let netlinkAddMembership: Int32 = 1

    /// A non-blocking netlink socket of `protocol` that has joined multicast `group`
    /// (`groupName` for the trace: NFNLGRP_NFTRACE), with a receive buffer of `buffer`
    /// bytes asked for.
    public static func netlinkSubscribe(
        protocol proto: Int32, group: Int32, groupName: String, buffer: Int32 = 4 << 20, why: String?,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) -> Int32 {
        let fd = try netlinkSocket(protocol: proto, why: why, file: file, line: line)
        var g = group
        do {
            try invoke(
                file: file, line: line, "setsockopt", proto == 12 ? .netfilter : .netlink, object: groupName,
                args: ["level": .string("SOL_NETLINK"), "optname": .string("NETLINK_ADD_MEMBERSHIP"), "group": .string(groupName)],
                why: why, shell: proto == 12 && group == 9 ? "nft monitor trace" : nil
            ) { Int(setsockopt(fd, solNetlink, netlinkAddMembership, &g, socklen_t(4))) }
            try setNonBlocking(fd)
        } catch {
            close(fd)
            throw error
        }
        // Best effort: a larger queue loses fewer messages in a burst (the kernel caps
        // it at net.core.rmem_max).
        var size = buffer
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(4))
        return fd
    }

    /// The messages queued now on a subscribed (non-blocking) netlink socket, and how
    /// many times the queue had overflowed (ENOBUFS) meanwhile. Not traced: see above.
    public static func netlinkReceive(_ fd: Int32) -> (messages: [NetlinkReply], overflows: Int) {
        var out: [NetlinkReply] = []
        var overflows = 0
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let got = buffer.withUnsafeMutableBytes { Glibc.recv(fd, $0.baseAddress, $0.count, 0) }
            if got < 0 {
                let e = errno
                if e == EINTR { continue }
                if e == ENOBUFS {
                    overflows += 1
                    continue
                }
                precondition(e != EBADF && e != EFAULT, "bug: recv on a netlink socket that is not ours")
                break  // EAGAIN: nothing more now
            }
            if got == 0 { break }
            out += netlinkMessages(buffer, count: got).map(\.reply)
        }
        return (out, overflows)
    }
}
