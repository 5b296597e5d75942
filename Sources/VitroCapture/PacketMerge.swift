// Chapter 05: the packets the hops captured, merged into the hops of each packet.
//
// NAT rewrites addresses and ports but not the IPv4 identification, the total length,
// the protocol or (for TCP) the sequence and acknowledgement numbers: those are the
// key that says two captures are one packet. Captures with the same key within 200 ms
// of the first are its hops, ordered by time (ties: the order of the path, host to
// container for a packet going in, back for one coming out). Where a field differs
// from one hop to the next, NAT rewrote it at the earlier hop: nat_src/nat_dst there,
// with the rule that did it.
//
// The rule comes from the kernel when it can: the nf_tables trace messages of the same
// packet (NftTrace.swift: same key, within a second) belong to a hop by their
// interfaces: a verdict with only an input interface (prerouting) to the hop that
// received the packet there, one with an output interface (output, forward,
// postrouting) to the hop that sent it there (on lo, where libpcap shows a packet
// once, both). Each hop lists its verdicts (`nftrace`),
// and a NAT hop names the NAT rule among its own or the next hop's verdicts
// (`rule_source: nftrace`). Without one (no trace, or the answer of a connection,
// which conntrack rewrites without running the NAT chains) the rule is reconstructed
// from the published ports (`rule_source: reconstructed`).

import VitroTrace

/// A published port's DNAT rule, as vitro's table has it.
public struct DNATRule: Sendable {
    public var proto: String
    public var hostPort: UInt16
    public var containerPort: UInt16
    public var text: String
    public init(proto: String, hostPort: UInt16, containerPort: UInt16, text: String) {
        self.proto = proto
        self.hostPort = hostPort
        self.containerPort = containerPort
        self.text = text
    }
}

/// The fields of an IPv4 packet that the hop table shows.
public struct IPv4Fields: Sendable, Equatable {
    public var proto: String
    public var id: UInt16
    public var length: UInt16
    public var src: String
    public var dst: String
    public var srcAddress: String
    public var dstAddress: String
    public var srcPort: UInt16?
    public var dstPort: UInt16?
    public var tcpFlags: String?
    /// What stays the same across NAT.
    public var key: String

    public init?(_ b: [UInt8]) {
        guard b.count >= 20, b[0] >> 4 == 4 else { return nil }
        let ihl = Int(b[0] & 0x0f) * 4
        guard b.count >= ihl else { return nil }
        func u16(_ i: Int) -> UInt16 { i + 1 < b.count ? UInt16(b[i]) << 8 | UInt16(b[i + 1]) : 0 }
        func u32(_ i: Int) -> UInt32 { UInt32(u16(i)) << 16 | UInt32(u16(i + 2)) }
        length = u16(2)
        id = u16(4)
        srcAddress = "\(b[12]).\(b[13]).\(b[14]).\(b[15])"
        dstAddress = "\(b[16]).\(b[17]).\(b[18]).\(b[19])"
        var extra = ""
        switch b[9] {
        case 6:
            proto = "tcp"
            srcPort = u16(ihl)
            dstPort = u16(ihl + 2)
            let f = ihl + 13 < b.count ? b[ihl + 13] : 0
            let names: [(UInt8, String)] = [(0x02, "SYN"), (0x10, "ACK"), (0x01, "FIN"), (0x04, "RST"), (0x08, "PSH")]
            tcpFlags = names.filter { f & $0.0 != 0 }.map(\.1).joined(separator: "|")
            extra = "\(u32(ihl + 4))/\(u32(ihl + 8))/\(f)"
        case 17:
            proto = "udp"
            srcPort = u16(ihl)
            dstPort = u16(ihl + 2)
            extra = "\(u16(ihl + 4))"
        case 1:
            proto = "icmp"
            extra = "\(u16(ihl + 4))/\(u16(ihl + 6))"
        default:
            proto = "ip\(b[9])"
        }
        let sa = srcAddress, da = dstAddress
        src = srcPort.map { "\(sa):\($0)" } ?? sa
        dst = dstPort.map { "\(da):\($0)" } ?? da
        key = "\(proto)/\(id)/\(length)/\(extra)"
    }
}

public enum PacketMerge {
    static let window: UInt64 = 200_000_000
    static let pathOrder = ["host", "bridge", "veth", "container"]

    /// The packet events' args, in order, each with the wall-clock time it was seen.
    /// Only packets to or from `container` (its address) or to a published host port.
    public static func events(
        _ captured: [CapturedPacket], container: String, rules: [DNATRule], hostPorts: [(proto: String, port: UInt16)] = [], traces: [NftTraceEvent] = []
    ) -> [(wallNanos: UInt64, args: Args)] {
        struct Seen { var c: CapturedPacket; var f: IPv4Fields }
        var groups: [[Seen]] = []
        var open: [String: Int] = [:]
        for c in captured.sorted(by: { $0.wallNanos < $1.wallNanos }) {
            guard let f = IPv4Fields(c.data) else { continue }
            if let g = open[f.key], let first = groups[g].first, c.wallNanos &- first.c.wallNanos < window,
                !groups[g].contains(where: { $0.c.hop == c.hop && $0.c.direction == c.direction })
            {
                groups[g].append(Seen(c: c, f: f))
            } else {
                open[f.key] = groups.count
                groups.append([Seen(c: c, f: f)])
            }
        }
        func published(_ f: IPv4Fields) -> Bool {
            rules.contains { $0.proto == f.proto && ($0.hostPort == f.dstPort || $0.hostPort == f.srcPort) }
                || hostPorts.contains { $0.proto == f.proto && ($0.port == f.dstPort || $0.port == f.srcPort) }
        }
        var byKey: [String: [NftTraceEvent]] = [:]
        for t in traces { if let k = t.key { byKey[k, default: []].append(t) } }
        func verdicts(_ s: Seen) -> [NftTraceEvent] {
            guard s.c.hop.netns == "host" else { return [] }
            return (byKey[s.f.key] ?? []).filter { t in
                let dt = t.wallNanos > s.c.wallNanos ? t.wallNanos - s.c.wallNanos : s.c.wallNanos - t.wallNanos
                guard dt < 1_000_000_000 else { return false }
                // libpcap shows a packet on lo once, as received: the verdicts of its
                // sending (output, oif lo) belong to that one hop too.
                if s.c.hop.interface == "lo" { return t.iifName == "lo" || t.oifName == "lo" }
                return s.c.direction == "in" ? t.iifName == s.c.hop.interface && t.oifName == nil : t.oifName == s.c.hop.interface
            }
        }
        var out: [(UInt64, Args)] = []
        var number = 0
        for var g in groups {
            guard g.contains(where: { $0.f.srcAddress == container || $0.f.dstAddress == container || published($0.f) }) else { continue }
            let inward = g.contains { $0.f.dstAddress == container }
            func rank(_ s: Seen) -> Int {
                let r = pathOrder.firstIndex(of: s.c.hop.kind) ?? 0
                return inward ? r : pathOrder.count - r
            }
            g.sort { ($0.c.wallNanos, rank($0)) < ($1.c.wallNanos, rank($1)) }
            number += 1
            for (i, s) in g.enumerated() {
                var a: Args = [
                    "hop": .int(Int64(i + 1)), "packet": .int(Int64(number)), "netns": .string(s.c.hop.netns),
                    "interface": .string(s.c.hop.interface), "kind": .string(s.c.hop.kind), "direction": .string(s.c.direction),
                    "proto": .string(s.f.proto), "src": .string(s.f.src), "dst": .string(s.f.dst),
                ]
                let mine = verdicts(s)
                if !mine.isEmpty { a.append("nftrace", .list(mine.map(\.line))) }
                if i + 1 < g.count {
                    let next = g[i + 1].f
                    if next.src != s.f.src { a.append("nat_src", .string(next.src)) }
                    if next.dst != s.f.dst { a.append("nat_dst", .string(next.dst)) }
                    if next.src != s.f.src || next.dst != s.f.dst {
                        if let t = (mine + verdicts(g[i + 1])).first(where: { $0.isNATRule }) {
                            a.append("rule", .string("ip \(t.table) \(t.chain): \(t.ruleText ?? "")"))
                            a.append("rule_source", .string("nftrace"))
                            a.append("nft_chain", .string("ip \(t.table) \(t.chain)"))
                            if let h = t.handle { a.append("nft_handle", .int(Int64(h))) }
                            a.append("nft_verdict", .string(t.verdict))
                        } else if next.dst != s.f.dst, let r = rules.first(where: { $0.proto == s.f.proto && $0.hostPort == s.f.dstPort && $0.containerPort == next.dstPort }) {
                            a.append("rule", .string(r.text))
                            a.append("rule_source", .string("reconstructed"))
                        } else if next.src != s.f.src, let r = rules.first(where: { $0.proto == s.f.proto && $0.containerPort == s.f.srcPort && $0.hostPort == next.srcPort }) {
                            a.append("rule", .string("conntrack, the reply of: " + r.text))
                            a.append("rule_source", .string("reconstructed"))
                        }
                    }
                }
                if let t = s.f.tcpFlags { a.append("tcp_flags", .string(t)) }
                a.append("data", .string(hex(s.c.data)))
                out.append((s.c.wallNanos, a))
            }
        }
        return out
    }

    static func hex(_ b: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(b.count * 2)
        for x in b {
            out.append(digits[Int(x >> 4)])
            out.append(digits[Int(x & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
