// Chapter 12: the packet events of a trace as pcapng, for Wireshark and tshark.
//
// pcapng (draft-ietf-opsawg-pcapng) is a sequence of blocks, each
//   u32 type | u32 total length | body | options | u32 total length (again)
// in the byte order the Section Header Block's magic says (little-endian here). This
// file has:
//   SHB  one section; shb_userappl "vitro"
//   IDB  one per (netns, interface) the packets were seen on, in order of first use:
//        link type RAW (101: the data starts at the IP header, as the events carry
//        it), if_name "netns/interface" (what tshark's frame.interface_name shows),
//        if_description, if_tsresol 9 (nanoseconds)
//   EPB  one per packet event: the interface's index, the time (the trace's wall-clock
//        start plus the event's offset), the bytes, epb_flags with the direction
//        (1 inbound, 2 outbound) and a comment with the hop, the NAT rewrite and the
//        rule (Wireshark shows it as frame.comment)
// An event without `data` gets a minimal IPv4 packet built from its fields: a 20-byte
// IPv4 header and a TCP (20 bytes, flags from tcp_flags), UDP (8) or ICMP echo (8)
// header, checksums included, no payload. Events whose addresses are not IPv4 are left
// out (`skipped` counts them).

import VitroTrace

public struct PcapngExport {
    public private(set) var bytes: [UInt8] = []
    public private(set) var interfaces: [String] = []
    public private(set) var packets = 0
    public private(set) var skipped = 0

    public static let linkTypeRaw: UInt16 = 101

    public init(_ trace: Trace) {
        let path = PacketPath(trace)
        let timeless = trace.isTimeless
        let base = trace.startNanos
        let wall = trace.wallStartNanos
        bytes = Self.sectionHeader()
        var ids: [String: UInt32] = [:]
        for h in path.hops {
            guard let data = h.data ?? Self.synthesize(h) else {
                skipped += 1
                continue
            }
            let key = h.place
            let id: UInt32
            if let known = ids[key] {
                id = known
            } else {
                id = UInt32(interfaces.count)
                ids[key] = id
                interfaces.append(key)
                bytes += Self.interfaceDescription(name: key, description: "\(h.interface) in network namespace \(h.netns) (\(path.role(h)))")
            }
            let e = trace.events[h.index]
            let ts = timeless ? e.seq &* 1000 : wall &+ (e.tsNanos >= base ? e.tsNanos - base : 0)
            bytes += Self.enhancedPacket(interface: id, nanos: ts, data: data, direction: h.direction, comment: Self.comment(h))
            packets += 1
        }
    }

    static func comment(_ h: PacketHop) -> String {
        var s = "vitro hop \(h.hop) \(h.direction) on \(h.place)"
        if let n = h.natSrc { s += "; snat \(h.src) -> \(n)" }
        if let n = h.natDst { s += "; dnat \(h.dst) -> \(n)" }
        if let r = h.rule { s += "; rule: \(r)" }
        return s
    }

    // MARK: blocks

    static func sectionHeader() -> [UInt8] {
        var body: [UInt8] = []
        body += u32(0x1A2B_3C4D)  // byte-order magic
        body += u16(1) + u16(0)  // version 1.0
        body += u64(UInt64.max)  // section length: not given
        body += option(4, Array("vitro".utf8))  // shb_userappl
        body += endOfOptions()
        return block(0x0A0D_0D0A, body)
    }

    static func interfaceDescription(name: String, description: String) -> [UInt8] {
        var body: [UInt8] = []
        body += u16(linkTypeRaw) + u16(0)
        body += u32(0)  // snaplen: no limit
        body += option(2, Array(name.utf8))  // if_name
        body += option(3, Array(description.utf8))  // if_description
        body += option(9, [9])  // if_tsresol: 10^-9 s
        body += endOfOptions()
        return block(1, body)
    }

    static func enhancedPacket(interface: UInt32, nanos: UInt64, data: [UInt8], direction: String, comment: String) -> [UInt8] {
        var body: [UInt8] = []
        body += u32(interface)
        body += u32(UInt32(truncatingIfNeeded: nanos >> 32)) + u32(UInt32(truncatingIfNeeded: nanos))
        body += u32(UInt32(data.count)) + u32(UInt32(data.count))
        body += data + padding(data.count)
        body += option(1, Array(comment.utf8))  // opt_comment
        let flags: UInt32 = direction == "in" ? 1 : direction == "out" ? 2 : 0
        if flags != 0 { body += option(2, u32(flags)) }  // epb_flags: inbound/outbound
        body += endOfOptions()
        return block(6, body)
    }

    static func block(_ type: UInt32, _ body: [UInt8]) -> [UInt8] {
        let total = UInt32(12 + body.count)
        return u32(type) + u32(total) + body + u32(total)
    }

    static func option(_ code: UInt16, _ value: [UInt8]) -> [UInt8] {
        u16(code) + u16(UInt16(value.count)) + value + padding(value.count)
    }

    static func endOfOptions() -> [UInt8] { [0, 0, 0, 0] }
    static func padding(_ n: Int) -> [UInt8] { [UInt8](repeating: 0, count: (4 - n % 4) % 4) }
    static func u16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8)] }
    static func u32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
    static func u64(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }

    // MARK: packets built from the fields

    /// `10.0.0.1:80` -> ([10,0,0,1], 80); a bare address has port 0.
    static func endpoint(_ s: String) -> ([UInt8], UInt16)? {
        let parts = s.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count <= 2 else { return nil }
        let octets = parts[0].split(separator: ".", omittingEmptySubsequences: false).compactMap { UInt8($0) }
        guard octets.count == 4 else { return nil }
        var port: UInt16 = 0
        if parts.count == 2 {
            guard let p = UInt16(parts[1]) else { return nil }
            port = p
        }
        return (octets, port)
    }

    static let tcpFlagBits: [(String, UInt8)] = [("FIN", 0x01), ("SYN", 0x02), ("RST", 0x04), ("PSH", 0x08), ("ACK", 0x10), ("URG", 0x20)]

    /// A minimal IPv4 packet with the hop's addresses, ports and protocol.
    static func synthesize(_ h: PacketHop) -> [UInt8]? {
        guard let (src, sport) = endpoint(h.src), let (dst, dport) = endpoint(h.dst) else { return nil }
        var l4: [UInt8]
        let proto: UInt8
        switch h.proto.lowercased() {
        case "udp":
            proto = 17
            l4 = be16(sport) + be16(dport) + be16(8) + be16(0)
        case "icmp":
            proto = 1
            l4 = [8, 0, 0, 0] + be16(UInt16(truncatingIfNeeded: h.packet & 0xFFFF)) + be16(UInt16(truncatingIfNeeded: h.hop))
            let c = checksum(l4)
            l4[2] = UInt8(c >> 8)
            l4[3] = UInt8(c & 0xFF)
        default:
            proto = 6
            var flags: UInt8 = 0
            for part in (h.tcpFlags ?? "SYN").split(separator: "|") {
                flags |= tcpFlagBits.first { $0.0 == part.uppercased() }?.1 ?? 0
            }
            l4 = be16(sport) + be16(dport) + be32(0) + be32(0) + [0x50, flags] + be16(64240) + be16(0) + be16(0)
        }
        if proto != 1 {
            // TCP and UDP checksums cover a pseudo-header: addresses, protocol, length.
            let pseudo = src + dst + [0, proto] + be16(UInt16(l4.count))
            var c = checksum(pseudo + l4)
            if proto == 17 && c == 0 { c = 0xFFFF }
            let at = proto == 6 ? 16 : 6
            l4[at] = UInt8(c >> 8)
            l4[at + 1] = UInt8(c & 0xFF)
        }
        var ip: [UInt8] = [0x45, 0] + be16(UInt16(20 + l4.count)) + be16(UInt16(truncatingIfNeeded: abs(h.packet) & 0xFFFF))
        ip += [0x40, 0, 64, proto, 0, 0] + src + dst
        let c = checksum(ip)
        ip[10] = UInt8(c >> 8)
        ip[11] = UInt8(c & 0xFF)
        return ip + l4
    }

    static func be16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xFF)] }
    static func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)] }

    /// The Internet checksum (RFC 1071): one's complement of the one's complement sum.
    static func checksum(_ bytes: [UInt8]) -> UInt16 {
        var sum: UInt32 = 0
        var i = 0
        while i + 1 < bytes.count {
            sum += UInt32(bytes[i]) << 8 | UInt32(bytes[i + 1])
            i += 2
        }
        if i < bytes.count { sum += UInt32(bytes[i]) << 8 }
        while sum >> 16 != 0 { sum = (sum & 0xFFFF) + (sum >> 16) }
        return ~UInt16(sum)
    }
}
