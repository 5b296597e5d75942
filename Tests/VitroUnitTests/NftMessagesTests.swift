// The nf_tables messages of a container's DNAT rules (chapter 05): built as `nft`
// would send them (`nft --debug=netlink` lists the same expressions), read back here.

import Testing

@testable import VitroNetwork
@testable import VitroSys

@Suite struct NftMessagesTests {
    static func u16(_ b: [UInt8], _ at: Int) -> Int { Int(b[at]) | Int(b[at + 1]) << 8 }

    /// The expressions of a NEWRULE, in order: name and data attributes.
    static func expressions(_ msg: [UInt8]) -> [(String, NetlinkAttributes)] {
        let attrs = NetlinkAttributes(msg, from: 20)
        guard let list = attrs[4] else { return [] }
        return NetlinkAttributes(list).items.map { elem in
            let e = NetlinkAttributes(elem.data)
            return (e.string(1) ?? "?", NetlinkAttributes(e[2] ?? []))
        }
    }

    @Test func dnatRuleIsTheExpressionsNftSends() {
        let p = PortMapping(proto: .tcp, hostIP: .any, hostPort: 8080, containerPort: 80)
        let msg = NftMessages.newDNATRule(p, to: IPv4Address(0x0afa_0002), comment: "vitro:0123456789ab", seq: 7)
        #expect(Self.u16(msg, 0) == msg.count)
        #expect(Self.u16(msg, 4) == 0x0a06)                      // NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_NEWRULE
        #expect(Self.u16(msg, 6) == 0x1 | 0x4 | 0x8 | 0x400 | 0x800)  // REQUEST|ACK|ECHO|CREATE|APPEND
        #expect(Array(msg[16..<20]) == [2, 0, 0, 0])             // nfgenmsg: NFPROTO_IPV4
        let attrs = NetlinkAttributes(msg, from: 20)
        #expect(attrs.string(1) == "vitro" && attrs.string(2) == "ports")
        #expect(attrs[7] == [0, 19] + Array("vitro:0123456789ab".utf8) + [0])  // NFTNL_UDATA_RULE_COMMENT
        let exprs = Self.expressions(msg)
        #expect(exprs.map(\.0) == ["meta", "cmp", "payload", "cmp", "immediate", "immediate", "nat"])
        guard exprs.count == 7 else { return }
        #expect(exprs[0].1[2] == [0, 0, 0, 16])                  // NFT_META_L4PROTO
        #expect(NetlinkAttributes(exprs[1].1[3] ?? []).items.first?.data == [6])  // tcp
        #expect(exprs[2].1[2] == [0, 0, 0, 2] && exprs[2].1[3] == [0, 0, 0, 2] && exprs[2].1[4] == [0, 0, 0, 2])
        #expect(NetlinkAttributes(exprs[3].1[3] ?? []).items.first?.data == [0x1f, 0x90])  // 8080, big-endian
        #expect(NetlinkAttributes(exprs[4].1[2] ?? []).items.first?.data == [10, 250, 0, 2])
        #expect(NetlinkAttributes(exprs[5].1[2] ?? []).items.first?.data == [0, 80])
        #expect(exprs[6].1[1] == [0, 0, 0, 1] && exprs[6].1[7] == [0, 0, 0, 2])  // NFT_NAT_DNAT, PROTO_SPECIFIED
    }

    @Test func aPortOnOneHostAddressMatchesItFirst() {
        let p = PortMapping(proto: .udp, hostIP: IPv4Address(0xc000_0201), hostPort: 53, containerPort: 5353)
        let exprs = Self.expressions(NftMessages.newDNATRule(p, to: IPv4Address(0x0afa_0002), comment: "vitro:x", seq: 1))
        #expect(exprs.map(\.0) == ["payload", "cmp", "meta", "cmp", "payload", "cmp", "immediate", "immediate", "nat"])
        guard exprs.count == 9 else { return }
        #expect(exprs[0].1[2] == [0, 0, 0, 1] && exprs[0].1[3] == [0, 0, 0, 16])  // network header + 16: daddr
        #expect(NetlinkAttributes(exprs[1].1[3] ?? []).items.first?.data == [192, 0, 2, 1])
        #expect(NetlinkAttributes(exprs[3].1[3] ?? []).items.first?.data == [17])  // udp
    }

    @Test func deleteByHandleAndTheBatchAroundIt() {
        let del = NftMessages.delRule(handle: 0x1_0000_0007, seq: 2)
        #expect(Self.u16(del, 4) == 0x0a08 && Self.u16(del, 6) == 0x5)
        #expect(NetlinkAttributes(del, from: 20)[3] == [0, 0, 0, 1, 0, 0, 0, 7])  // NFTA_RULE_HANDLE, be64
        let batch = NftMessages.batch([del], seq: 1)
        #expect(batch.count == 20 + del.count + 20)
        #expect(Self.u16(batch, 4) == 0x10 && Array(batch[16..<20]) == [0, 0, 0, 10])  // BATCH_BEGIN, res_id nf_tables
        #expect(Self.u16(batch, 20 + del.count + 4) == 0x11)                            // BATCH_END
        #expect(batch[20 + del.count + 8] == 3)                                          // its seq follows the command's
    }

    @Test func handleOfAnEchoedRule() {
        var m = NetlinkMessage(type: 0x0a06, flags: 0, seq: 1, header: [2, 0, 0, 0])
        m.attribute(1, string: "vitro")
        m.attribute(3, [0, 0, 0, 0, 0, 0, 0, 42])
        #expect(NftMessages.handle(ofRule: Array(m.finished[16...])) == 42)
        #expect(NftMessages.handle(ofRule: [2, 0, 0, 0]) == nil)
    }

    @Test func portRulesAreTheLinesTheTraceShows() {
        let ports = [PortMapping(proto: .tcp, hostIP: .any, hostPort: 8080, containerPort: 80),
                     PortMapping(proto: .tcp, hostIP: IPv4Address(0x7f00_0001), hostPort: 9090, containerPort: 90)]
        #expect(NatRules.portRules(id: "0123456789abcdef", address: IPv4Address(0x0afa_0002), ports: ports)
            == "add rule ip vitro ports tcp dport 8080 dnat to 10.250.0.2:80 comment \"vitro:0123456789ab\"\n")
    }
}
