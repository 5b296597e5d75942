// Chapter 12: packet events, the hops of one packet, and the picture of where it was.
//
// A packet event (group `packet`, phase `i`) says that one packet was seen at one hop.
// Its args (issue #5's packet-path trace writes them; until it lands only tests make
// such events):
//
//   hop        1, 2, 3 ...: the order of the hops of this packet
//   packet     which packet of the trace (hops of one packet share it); optional
//   netns      the network namespace of the interface: "host", or the container's
//   interface  where it was captured: eth0, vgold0, vx0123456789ab
//   kind       optional: host, bridge, veth or container (else guessed from the names)
//   direction  in or out (as the interface saw it)
//   proto      tcp, udp or icmp
//   src, dst   addresses (and ports) as the packet was seen here: "10.0.0.1:8080"
//   nat_src, nat_dst   the same fields after a NAT rule rewrote them at this hop
//   rule       the nftables rule that matched ("ip vitro ports: tcp dport 8080 dnat ...")
//   tcp_flags  SYN, SYN|ACK, ...                       (optional)
//   data       the captured bytes from the IP header on, in hex (optional; the pcapng
//              export builds a minimal IPv4 header from the fields when it is missing)

import VitroTrace

public struct PacketHop: Sendable, Equatable {
    /// Index of the event in the trace.
    public var index: Int
    public var hop: Int
    public var packet: Int
    public var netns: String
    public var interface: String
    public var kind: String?
    public var direction: String
    public var proto: String
    public var src: String
    public var dst: String
    public var natSrc: String?
    public var natDst: String?
    public var rule: String?
    public var tcpFlags: String?
    public var data: [UInt8]?
    public var tsNanos: UInt64

    public init?(_ e: TraceEvent, index: Int) {
        guard e.group == .packet else { return nil }
        let a = e.args
        func int(_ k: String) -> Int? {
            switch a[k] {
            case .int(let i)?: return Int(i)
            case .string(let s)?: return Int(s)
            default: return nil
            }
        }
        self.index = index
        hop = int("hop") ?? 0
        packet = int("packet") ?? 0
        netns = a["netns"]?.text ?? "host"
        interface = a["interface"]?.text ?? "?"
        kind = a["kind"]?.text
        direction = a["direction"]?.text ?? ""
        proto = a["proto"]?.text ?? ""
        src = a["src"]?.text ?? ""
        dst = a["dst"]?.text ?? ""
        natSrc = a["nat_src"]?.text
        natDst = a["nat_dst"]?.text
        rule = a["rule"]?.text
        tcpFlags = a["tcp_flags"]?.text
        data = a["data"].flatMap { PacketHop.hexBytes($0.text) }
        tsNanos = e.tsNanos
    }

    /// Where the packet was: `host/vgold0`.
    public var place: String { "\(netns)/\(interface)" }

    /// The addresses after this hop: NAT's rewrite where there was one.
    public var srcAfter: String { natSrc ?? src }
    public var dstAfter: String { natDst ?? dst }

    static func hexBytes(_ s: String) -> [UInt8]? {
        let digits = Array(s.utf8).filter { $0 != 32 && $0 != 58 }
        guard digits.count % 2 == 0, !digits.isEmpty else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(digits.count / 2)
        var i = 0
        while i < digits.count {
            guard let hi = hexValue(digits[i]), let lo = hexValue(digits[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }

    static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: return c - 48
        case 97...102: return c - 87
        case 65...70: return c - 55
        default: return nil
        }
    }
}

/// The packet events of a trace, grouped into packets.
public struct PacketPath: Sendable {
    public var hops: [PacketHop]
    /// Bridge and veth names the trace's netlink events made (for the topology).
    public var bridges: Set<String>
    public var veths: Set<String>

    public init(_ trace: Trace) {
        var hops: [PacketHop] = []
        var bridges: Set<String> = []
        var veths: Set<String> = []
        var packet = 0
        var lastHop = Int.max
        for (i, e) in trace.events.enumerated() {
            if e.name == "RTM_NEWLINK", let kind = e.args["kind"]?.text, let name = e.args["ifname"]?.text {
                if kind == "bridge" { bridges.insert(name) }
                if kind == "veth" { veths.insert(name) }
            }
            // IPAM's note names the bridge even when this run found it already made.
            if e.name == "address", let bridge = e.args["bridge"]?.text { bridges.insert(bridge) }
            guard var h = PacketHop(e, index: i) else { continue }
            // Without a packet number, a hop number that does not grow starts a new packet.
            if h.packet == 0 {
                if h.hop <= lastHop { packet += 1 }
                h.packet = -packet
            }
            lastHop = h.hop
            hops.append(h)
        }
        self.hops = hops
        self.bridges = bridges
        self.veths = veths
    }

    public var isEmpty: Bool { hops.isEmpty }

    /// The hops of the packet that the event at `index` belongs to, in hop order.
    public func packet(at index: Int) -> [PacketHop] {
        guard let h = hops.first(where: { $0.index == index }) else { return [] }
        return hops.filter { $0.packet == h.packet }.sorted { ($0.hop, $0.index) < ($1.hop, $1.index) }
    }

    /// host, bridge, veth or container: the hop's `kind` when it has one, else what the
    /// trace's netlink events made, else the names vitro and Docker use, else the
    /// place in the path (a host interface next to a veth hop is the bridge).
    public func role(_ h: PacketHop) -> String {
        if let k = h.kind, ["host", "bridge", "veth", "container"].contains(k) { return k }
        if h.netns != "host" { return "container" }
        if bridges.contains(h.interface) || h.interface.hasPrefix("vitro") || h.interface.hasPrefix("br") || h.interface.hasPrefix("docker") { return "bridge" }
        if isVeth(h) { return "veth" }
        let path = hops.filter { $0.packet == h.packet && $0.netns == "host" }
        if path.contains(where: { isVeth($0) && abs($0.hop - h.hop) == 1 }) { return "bridge" }
        return "host"
    }

    func isVeth(_ h: PacketHop) -> Bool {
        h.kind == "veth" || veths.contains(h.interface) || h.interface.hasPrefix("vx") || h.interface.hasPrefix("veth")
    }

    // MARK: drawing

    /// The hop table of one packet: one row per hop, the fields a NAT rule rewrote
    /// highlighted, and under such a hop what they were and the rule.
    public func table(_ packet: [PacketHop], current: Int, width: Int) -> [StyledLine] {
        var rows: [StyledLine] = [StyledLine("hop  where                    dir  src                    dst", .heading)]
        for h in packet {
            let mark = h.index == current
            var row = StyledLine(fill: mark ? .reverse : .plain)
            row.add(pad((mark ? ">" : " ") + String(h.hop), 4) + " ")
            row.add(pad(h.place, 24) + " ")
            row.add(pad(h.direction, 4) + " ")
            if h.natSrc != nil { row.add(pad(h.srcAfter, 22), .highlight); row.add(" ") } else { row.add(pad(h.src, 22) + " ") }
            if h.natDst != nil { row.add(h.dstAfter, .highlight) } else { row.add(h.dst) }
            rows.append(row)
            if h.natSrc != nil || h.natDst != nil {
                var was = StyledLine("     NAT here: ", .dim)
                if let n = h.natSrc { was.add("src \(h.src) -> "); was.add(n, .highlight); was.add("  ") }
                if let n = h.natDst { was.add("dst \(h.dst) -> "); was.add(n, .highlight) }
                rows.append(was)
                if let r = h.rule { rows.append(StyledLine("     rule: " + r, .dim)) }
            } else if let r = h.rule, mark {
                rows.append(StyledLine("     rule: " + r, .dim))
            }
        }
        return rows.flatMap { $0.wrapped(width: width, indent: 5) }
    }

    static let roles = ["host", "bridge", "veth", "container"]

    /// host --- bridge --- veth === container, each box naming the interface the packet
    /// was seen on there, and a mark under the box of the current hop.
    public func topology(_ packet: [PacketHop], current: Int, width: Int) -> [StyledLine] {
        var names: [String: String] = [:]
        for h in packet where names[role(h)] == nil { names[role(h)] = h.interface }
        let cur = packet.first { $0.index == current }
        let curRole = cur.map(role)
        let box = max(9, min(14, (width - 3 * 4 - 2) / 4))
        func cell(_ s: String) -> String { " " + pad(String(s.prefix(box - 3)), box - 3) }
        var top = StyledLine(" "), mid = StyledLine(" "), low = StyledLine(" "), bottom = StyledLine(" "), marks = StyledLine(" ")
        for (i, r) in Self.roles.enumerated() {
            let here = r == curRole
            let st: TextStyle = here ? .marked : (names[r] == nil ? .dim : .plain)
            let link = i == 0 ? "" : (r == "container" ? "====" : "----")
            let gap = i == 0 ? "" : "    "
            top.add(gap); top.add("." + String(repeating: "-", count: box - 2) + ".", st)
            mid.add(link); mid.add("|" + cell(r) + "|", st)
            low.add(gap); low.add("|" + cell(names[r] ?? "-") + "|", st)
            bottom.add(gap); bottom.add("'" + String(repeating: "-", count: box - 2) + "'", st)
            marks.add(gap); marks.add(here ? pad(" ^ hop \(cur?.hop ?? 0)", box) : String(repeating: " ", count: box), .bold)
        }
        var out = [top, mid, low, bottom, marks]
        if let c = cur {
            out.append(StyledLine(" \(c.proto) \(c.src) > \(c.dst)" + (c.tcpFlags.map { " [\($0)]" } ?? "") + ", \(c.direction) on \(c.interface) in \(c.netns)"))
        }
        return out
    }
}

func pad(_ s: String, _ n: Int) -> String {
    s.count >= n ? s : s + String(repeating: " ", count: n - s.count)
}
