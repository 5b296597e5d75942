// NftTrace: NFT_MSG_TRACE messages as golden bytes, the listing that names rules, the
// trace chains' scripts, and the merge of the kernel's verdicts into packet hops.

import Testing
import VitroCapture
import VitroTrace

@Suite struct NftTraceTests {
    /// One netlink attribute: 2-byte length (header included, little-endian), 2-byte
    /// type, the value, padded to 4 bytes.
    static func attr(_ type: UInt16, _ value: [UInt8]) -> [UInt8] {
        let len = 4 + value.count
        return [UInt8(len & 0xff), UInt8(len >> 8), UInt8(type & 0xff), UInt8(type >> 8)] + value + [UInt8](repeating: 0, count: (4 - len % 4) % 4)
    }
    static func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)] }
    static func text(_ s: String) -> [UInt8] { Array(s.utf8) + [0] }

    @Test func aRuleVerdictFromGoldenBytes() throws {
        // What nf_tables sent for the DNAT rule of `-p 8080:80` (after the nlmsghdr).
        let payload: [UInt8] = [
            0x02, 0x00, 0x00, 0x00,  // nfgenmsg: NFPROTO_IPV4, version 0, res_id 0
            0x0a, 0x00, 0x01, 0x00, 0x76, 0x69, 0x74, 0x72, 0x6f, 0x00, 0x00, 0x00,  // NFTA_TRACE_TABLE "vitro"
            0x0a, 0x00, 0x02, 0x00, 0x70, 0x6f, 0x72, 0x74, 0x73, 0x00, 0x00, 0x00,  // NFTA_TRACE_CHAIN "ports"
            0x04, 0x00, 0x11, 0x00,  // NFTA_TRACE_PAD (aligns the u64)
            0x0c, 0x00, 0x03, 0x40, 0, 0, 0, 0, 0, 0, 0, 0x0c,  // NFTA_TRACE_RULE_HANDLE 12 (NLA_F_NET_BYTEORDER)
            0x08, 0x00, 0x04, 0x00, 0, 0, 0, 3,  // NFTA_TRACE_TYPE NFT_TRACETYPE_RULE
            0x0c, 0x00, 0x05, 0x80, 0x08, 0x00, 0x01, 0x00, 0, 0, 0, 1,  // NFTA_TRACE_VERDICT { NFTA_VERDICT_CODE NF_ACCEPT } (NLA_F_NESTED)
            0x08, 0x00, 0x06, 0x00, 0xde, 0xad, 0xbe, 0xef,  // NFTA_TRACE_ID
        ]
        var e = try #require(NftTraceEvent.parse(payload))
        #expect(e.family == 2 && e.table == "vitro" && e.chain == "ports" && e.handle == 12)
        #expect(e.type == "rule" && e.verdict == "accept" && e.id == 0xdead_beef && e.headers.isEmpty && e.key == nil)
        #expect(e.line == "ip vitro ports rule handle 12 (verdict accept)")
        e.ruleText = "tcp dport 8080 dnat to 10.88.0.2:80"
        #expect(e.line == "ip vitro ports rule tcp dport 8080 dnat to 10.88.0.2:80 (verdict accept)")
        #expect(e.isNATRule && !e.isPacketOnly)
    }

    @Test func aJumpAPolicyAndThePacketsHeaders() throws {
        let ip = PacketMergeTests.tcp([192, 0, 2, 9], 5000, [192, 0, 2, 1], 8080)
        let jump = [2, 0, 0, 0] + Self.attr(1, Self.text("vitro")) + Self.attr(2, Self.text("prerouting"))
            + Self.attr(3 | 0x4000, [0, 0, 0, 0, 0, 0, 0, 2]) + Self.attr(4, Self.be32(3))
            + Self.attr(5 | 0x8000, Self.attr(1, Self.be32(0xffff_fffd)) + Self.attr(2, Self.text("ports")))
            + Self.attr(6, Self.be32(7)) + Self.attr(8, Array(ip[0..<20])) + Self.attr(9, Array(ip[20...])) + Self.attr(10, Self.be32(4))
        let e = try #require(NftTraceEvent.parse(jump))
        #expect(e.verdict == "jump ports" && e.iif == 4 && e.oif == nil)
        #expect(e.key == IPv4Fields(ip)?.key && e.key != nil, "the headers give the packet's NAT-proof key")
        let policy = [2, 0, 0, 0] + Self.attr(1, Self.text("vitro")) + Self.attr(2, Self.text("postrouting")) + Self.attr(4, Self.be32(1)) + Self.attr(16, Self.be32(1))
        #expect(try #require(NftTraceEvent.parse(policy)).line == "ip vitro postrouting policy accept")
        #expect(NftTraceEvent.parse([2, 0]) == nil)
    }

    @Test func theListingNamesRulesByChainAndHandle() {
        let listing = """
            table ip vitro { # handle 3
            \tset subnets { # handle 5
            \t\ttype ipv4_addr
            \t\telements = { 10.88.0.0/24 }
            \t}
            \tchain prerouting { # handle 1
            \t\ttype nat hook prerouting priority dstnat; policy accept;
            \t\tfib daddr type local jump ports # handle 6
            \t}
            \tchain ports { # handle 4
            \t\ttcp dport 8080 dnat to 10.88.0.2:80 comment "vitro:0123456789ab" # handle 12
            \t}
            \tchain trace-pre-4242 { # handle 20
            \t\ttcp dport 8080 meta nftrace set 1 # handle 21
            \t}
            \tchain trace-out-4242 { # handle 22
            \t}
            }
            """
        let rules = NftListing.rules(listing)
        #expect(rules["prerouting/6"] == "fib daddr type local jump ports")
        #expect(rules["ports/12"] == "tcp dport 8080 dnat to 10.88.0.2:80 comment \"vitro:0123456789ab\"")
        #expect(rules.count == 3, "\(rules)")
        #expect(NftListing.traceChains(listing).map(\.name) == ["trace-pre-4242", "trace-out-4242"])
        #expect(NftListing.traceChains(listing).allSatisfy { $0.pid == 4242 })
    }

    @Test func theTraceChainsAreVitrosOwnAndGoAway() {
        let add = NftTracer.addScript(pid: 77, filter: NftTraceFilter(address: "10.88.0.2", tcpPorts: [8080, 8443], udpPorts: [53]))
        #expect(add.split(separator: "\n").allSatisfy { $0.hasPrefix("add chain ip vitro trace-") || $0.hasPrefix("add rule ip vitro trace-") })
        #expect(add.contains("add chain ip vitro trace-pre-77 { type filter hook prerouting priority raw; policy accept; }"))
        #expect(add.contains("add chain ip vitro trace-out-77 { type filter hook output priority raw; policy accept; }"))
        #expect(add.contains("add rule ip vitro trace-pre-77 tcp dport { 8080, 8443 } meta nftrace set 1"))
        #expect(add.contains("add rule ip vitro trace-out-77 udp dport 53 meta nftrace set 1"))
        #expect(add.contains("add rule ip vitro trace-pre-77 ip daddr 10.88.0.2 meta nftrace set 1"))
        #expect(NftTracer.deleteScript(["trace-pre-77"]) == "flush chain ip vitro trace-pre-77\ndelete chain ip vitro trace-pre-77\n")
    }

    @Test func theKernelsVerdictNamesTheNATRuleElseItIsReconstructed() {
        let outside: [UInt8] = [192, 0, 2, 9], hostIP: [UInt8] = [192, 0, 2, 1], ctr: [UInt8] = [10, 88, 0, 2]
        let before = PacketMergeTests.tcp(outside, 5000, hostIP, 8080), after = PacketMergeTests.tcp(outside, 5000, ctr, 80)
        let captured = [
            CapturedPacket(hop: PacketMergeTests.host, direction: "in", wallNanos: 100, data: before),
            CapturedPacket(hop: PacketMergeTests.bridge, direction: "out", wallNanos: 101, data: after),
        ]
        func verdict(_ chain: String, _ type: String, _ handle: UInt64?, _ v: String, iif: String?, oif: String?, text: String?) -> NftTraceEvent {
            var e = NftTraceEvent(id: 1, family: 2, table: "vitro", chain: chain, type: type, handle: handle, verdict: v, iif: nil, oif: nil, headers: [])
            e.key = IPv4Fields(before)?.key
            e.iifName = iif
            e.oifName = oif
            e.wallNanos = 120
            e.ruleText = text
            return e
        }
        let traces = [
            verdict("prerouting", "rule", 6, "jump ports", iif: "eth9", oif: nil, text: "fib daddr type local jump ports"),
            verdict("ports", "rule", 12, "accept", iif: "eth9", oif: nil, text: "tcp dport 8080 dnat to 10.88.0.2:80"),
            verdict("postrouting", "policy", nil, "accept", iif: "eth9", oif: "vitro0", text: nil),
        ]
        let named = PacketMerge.events(captured, container: "10.88.0.2", rules: [PacketMergeTests.rule], traces: traces)
        #expect(named[0].args["rule"]?.text == "ip vitro ports: tcp dport 8080 dnat to 10.88.0.2:80")
        #expect(named[0].args["rule_source"]?.text == "nftrace" && named[0].args["nft_handle"]?.text == "12" && named[0].args["nft_verdict"]?.text == "accept")
        #expect(named[0].args["nftrace"] == .list(["ip vitro prerouting rule fib daddr type local jump ports (verdict jump ports)", "ip vitro ports rule tcp dport 8080 dnat to 10.88.0.2:80 (verdict accept)"]))
        #expect(named[1].args["nftrace"] == .list(["ip vitro postrouting policy accept"]))
        let guessed = PacketMerge.events(captured, container: "10.88.0.2", rules: [PacketMergeTests.rule])
        #expect(guessed[0].args["rule"]?.text == PacketMergeTests.rule.text && guessed[0].args["rule_source"]?.text == "reconstructed")
        #expect(guessed[0].args["nftrace"] == nil)
    }
}
