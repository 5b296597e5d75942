// Chapter 05: a container's DNAT rules as nf_tables netlink messages, built byte by
// byte (include/uapi/linux/netfilter/nf_tables.h, nfnetlink.h), the way `nft` would
// send them, without loading libnftables.
//
// A transaction is a batch: NFNL_MSG_BATCH_BEGIN, the commands, NFNL_MSG_BATCH_END, in
// one sendmsg. The kernel applies all of it or none. Each message is a netlink header,
// a `struct nfgenmsg` (family, version, resource id) and attributes; every number in
// an nf_tables attribute is big-endian (network order), unlike rtnetlink's.
//
// `tcp dport 8080 dnat to 10.0.0.2:80 comment "vitro:ID"` is, in the kernel's
// expressions (`nft --debug=netlink` prints the same):
//
//   [ meta load l4proto => reg 1 ]                   is it TCP?
//   [ cmp eq reg 1 0x06 ]
//   [ payload load 2b @ transport header + 2 => reg 1 ]   the destination port
//   [ cmp eq reg 1 0x1f90 ]
//   [ immediate reg 1 10.0.0.2 ]                     where to
//   [ immediate reg 2 0x0050 ]
//   [ nat dnat ip addr_min reg 1 proto_min reg 2 flags 0x2 ]
//   userdata: the comment (NFTNL_UDATA_RULE_COMMENT, so `nft list` shows it)
//
// and `ip daddr 192.0.2.1 ` before it, for a port published on one host address, is
// a payload load of 4 bytes at network header + 16 and a cmp.

import VitroSys
import VitroTrace

public enum NftMessages {
    // nfnetlink: subsystem nf_tables (10), batch begin/end.
    static let subsysNftables: UInt16 = 10
    static let batchBegin: UInt16 = 0x10
    static let batchEnd: UInt16 = 0x11
    static let msgNewRule: UInt16 = 6
    static let msgDelRule: UInt16 = 8
    // Header flags.
    static let request: UInt16 = 0x1
    static let ack: UInt16 = 0x4
    static let echo: UInt16 = 0x8
    static let create: UInt16 = 0x400
    static let append: UInt16 = 0x800
    static let nested: UInt16 = 0x8000
    // NFTA_RULE_*, NFTA_LIST_ELEM, NFTA_EXPR_*, NFTA_DATA_VALUE.
    public static let ruleTable: UInt16 = 1
    public static let ruleChain: UInt16 = 2
    public static let ruleHandle: UInt16 = 3
    static let ruleExpressions: UInt16 = 4
    static let ruleUserdata: UInt16 = 7
    static let listElem: UInt16 = 1
    static let exprName: UInt16 = 1
    static let exprData: UInt16 = 2
    static let dataValue: UInt16 = 1
    // Registers, payload bases, meta keys, nat.
    static let reg1: UInt32 = 1
    static let reg2: UInt32 = 2
    static let networkHeader: UInt32 = 1
    static let transportHeader: UInt32 = 2
    static let metaL4proto: UInt32 = 16
    static let natDnat: UInt32 = 1
    static let nfprotoIPv4: UInt32 = 2
    static let natRangeProtoSpecified: UInt32 = 2

    public static let table = "vitro"
    public static let portsChain = "ports"

    static func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)] }
    static func be64(_ v: UInt64) -> [UInt8] { be32(UInt32(v >> 32)) + be32(UInt32(v & 0xffff_ffff)) }
    static func be16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xff)] }

    /// `struct nfgenmsg`: family, version 0, resource id (big-endian).
    static func nfgenmsg(family: UInt8, resID: UInt16 = 0) -> [UInt8] { [family, 0] + be16(resID) }

    /// One expression: NFTA_LIST_ELEM { NFTA_EXPR_NAME, NFTA_EXPR_DATA { attrs } }.
    static func expression(_ m: inout NetlinkMessage, _ name: String, _ attrs: (inout NetlinkMessage) -> Void) {
        m.beginNest(listElem | nested)
        m.attribute(exprName, string: name)
        m.beginNest(exprData | nested)
        attrs(&m)
        m.endNest()
        m.endNest()
    }

    /// A nested NFTA_DATA_VALUE (cmp and immediate data).
    static func data(_ m: inout NetlinkMessage, _ type: UInt16, _ value: [UInt8]) {
        m.beginNest(type | nested)
        m.attribute(dataValue, value)
        m.endNest()
    }

    static func payload(_ m: inout NetlinkMessage, base: UInt32, offset: UInt32, len: UInt32) {
        expression(&m, "payload") {
            $0.attribute(1, be32(reg1))      // NFTA_PAYLOAD_DREG
            $0.attribute(2, be32(base))      // NFTA_PAYLOAD_BASE
            $0.attribute(3, be32(offset))    // NFTA_PAYLOAD_OFFSET
            $0.attribute(4, be32(len))       // NFTA_PAYLOAD_LEN
        }
    }

    static func cmpEq(_ m: inout NetlinkMessage, _ value: [UInt8]) {
        expression(&m, "cmp") {
            $0.attribute(1, be32(reg1))      // NFTA_CMP_SREG
            $0.attribute(2, be32(0))         // NFTA_CMP_OP: NFT_CMP_EQ
            data(&$0, 3, value)              // NFTA_CMP_DATA
        }
    }

    static func immediate(_ m: inout NetlinkMessage, reg: UInt32, _ value: [UInt8]) {
        expression(&m, "immediate") {
            $0.attribute(1, be32(reg))       // NFTA_IMMEDIATE_DREG
            data(&$0, 2, value)              // NFTA_IMMEDIATE_DATA
        }
    }

    /// NFT_MSG_NEWRULE appending `mapping`'s DNAT rule to `ip vitro ports`, with
    /// NLM_F_ECHO so the kernel sends the rule back with its handle.
    public static func newDNATRule(_ p: PortMapping, to address: IPv4Address, comment: String, seq: UInt32) -> [UInt8] {
        var m = NetlinkMessage(type: subsysNftables << 8 | msgNewRule, flags: request | ack | echo | create | append, seq: seq, header: nfgenmsg(family: 2))
        m.attribute(ruleTable, string: table)
        m.attribute(ruleChain, string: portsChain)
        m.beginNest(ruleExpressions | nested)
        if p.hostIP != .any {
            payload(&m, base: networkHeader, offset: 16, len: 4)
            cmpEq(&m, p.hostIP.bytes)
        }
        expression(&m, "meta") {
            $0.attribute(1, be32(reg1))         // NFTA_META_DREG
            $0.attribute(2, be32(metaL4proto))  // NFTA_META_KEY
        }
        cmpEq(&m, [p.proto == .tcp ? 6 : 17])
        payload(&m, base: transportHeader, offset: 2, len: 2)
        cmpEq(&m, be16(p.hostPort))
        immediate(&m, reg: reg1, address.bytes)
        immediate(&m, reg: reg2, be16(p.containerPort))
        expression(&m, "nat") {
            $0.attribute(1, be32(natDnat))      // NFTA_NAT_TYPE
            $0.attribute(2, be32(nfprotoIPv4))  // NFTA_NAT_FAMILY
            $0.attribute(3, be32(reg1))         // NFTA_NAT_REG_ADDR_MIN
            $0.attribute(5, be32(reg2))         // NFTA_NAT_REG_PROTO_MIN
            $0.attribute(7, be32(natRangeProtoSpecified))  // NFTA_NAT_FLAGS
        }
        m.endNest()
        // NFTNL_UDATA_RULE_COMMENT (0), its length, the NUL-terminated text.
        let text = Array(comment.utf8) + [0]
        m.attribute(ruleUserdata, [0, UInt8(text.count)] + text)
        return m.finished
    }

    /// NFT_MSG_DELRULE of one rule of `ip vitro ports`, by handle.
    public static func delRule(handle: UInt64, seq: UInt32) -> [UInt8] {
        var m = NetlinkMessage(type: subsysNftables << 8 | msgDelRule, flags: request | ack, seq: seq, header: nfgenmsg(family: 2))
        m.attribute(ruleTable, string: table)
        m.attribute(ruleChain, string: portsChain)
        m.attribute(ruleHandle, be64(handle))
        return m.finished
    }

    /// The commands between NFNL_MSG_BATCH_BEGIN and NFNL_MSG_BATCH_END: one
    /// transaction. `seq` numbers the begin; the commands follow it, the end comes last.
    public static func batch(_ commands: [[UInt8]], seq: UInt32) -> [UInt8] {
        let begin = NetlinkMessage(type: batchBegin, flags: request, seq: seq, header: nfgenmsg(family: 0, resID: subsysNftables)).finished
        let end = NetlinkMessage(type: batchEnd, flags: request, seq: seq &+ UInt32(commands.count) &+ 1, header: nfgenmsg(family: 0, resID: subsysNftables)).finished
        return begin + commands.joined() + end
    }

    /// NFTA_RULE_HANDLE of an echoed NFT_MSG_NEWRULE (after its 4-byte nfgenmsg).
    public static func handle(ofRule payload: [UInt8]) -> UInt64? {
        guard payload.count > 4, let h = NetlinkAttributes(payload, from: 4)[ruleHandle], h.count == 8 else { return nil }
        return h.reduce(0) { $0 << 8 | UInt64($1) }
    }
}

/// A NETLINK_NETFILTER socket for one container's rules: its DNAT rules go in with
/// one batch and out with another. When a socket of the netfilter family closes, the
/// kernel first finishes freeing the rules of every transaction that deleted some,
/// which waits for an RCU grace period (8–20 ms here), on the way out of every
/// `vitro run --rm -p`. The rules are out of the ruleset as soon as the delete batch
/// is answered; only their memory waits. So after a delete the socket's last close is
/// handed to an orphaned grandchild (`Sys.closeNetfilterSocket`), and vitro goes on.
public final class NatSocket {
    var fd: Int32
    var seq: UInt32 = 0

    public init() throws(SysError) {
        fd = try Sys.netlinkSocket(protocol: 12, why: "nf_tables speaks netlink: the container's DNAT rules go in and out as batches on this socket, without loading libnftables")
    }

    deinit { if fd >= 0 { Sys.close(fd) } }

    /// After a delete: the close that would wait for the grace period happens in a
    /// grandchild vitro does not wait for.
    public func closeWithoutWaiting() {
        guard fd >= 0 else { return }
        Sys.closeNetfilterSocket(fd, why: "closing a netfilter socket waits until the kernel has freed the deleted rules (an RCU grace period); they are out of the ruleset already, so an orphaned grandchild does the last close and vitro does not wait")
        fd = -1
    }

    func nextSeq(_ n: Int) -> UInt32 {
        let s = seq &+ 1
        seq &+= UInt32(n) &+ 2
        return s
    }

    /// Appends one DNAT rule per published port (those on 127.x have none: the proxy
    /// carries them) to `ip vitro ports` in one transaction; returns their handles.
    /// Fails with ENOENT when vitro's table or chain is gone.
    public func addRules(id: String, address: IPv4Address, ports: [PortMapping], args: Args, why: String) throws(SysError) -> [String] {
        let published = ports.filter { $0.hostIP.value >> 24 != 127 }
        if published.isEmpty { return [] }
        let s = nextSeq(published.count)
        let commands = published.enumerated().map { i, p in
            NftMessages.newDNATRule(p, to: address, comment: NatRules.comment(id), seq: s &+ UInt32(i) &+ 1)
        }
        let script = NatRules.portRules(id: id, address: address, ports: ports)
        let replies = try Sys.nftBatch(fd, batch: NftMessages.batch(commands, seq: s), object: "table ip vitro", args: args, commands: commands.count, why: why, script: script)
        return replies.filter { $0.type == NftMessages.subsysNftables << 8 | NftMessages.msgNewRule }.compactMap { NftMessages.handle(ofRule: $0.payload).map(String.init) }
    }

    /// Deletes rules of `ip vitro ports` by handle, in one transaction.
    public func deleteRules(handles: [String], args: Args, why: String) throws(SysError) {
        let numbers = handles.compactMap { UInt64($0) }
        if numbers.isEmpty { return }
        let s = nextSeq(numbers.count)
        let commands = numbers.enumerated().map { i, h in NftMessages.delRule(handle: h, seq: s &+ UInt32(i) &+ 1) }
        _ = try Sys.nftBatch(fd, batch: NftMessages.batch(commands, seq: s), object: "table ip vitro", args: args, commands: commands.count, why: why, script: NatRules.deleteScript(handles: handles))
    }
}
