// Chapter 05: the kernel's own account of the rules a packet met, as `nft monitor
// trace` prints it.
//
// A packet is traced once something sets its nftrace bit: `meta nftrace set 1`. The
// capture session adds two base chains of its own to vitro's table (never another
// table), at priority raw (-300) so they run before vitro's NAT chains (dstnat, -100):
//
//   chain trace-pre-PID { type filter hook prerouting priority raw; policy accept; }
//   chain trace-out-PID { type filter hook output priority raw; policy accept; }
//
// each with rules that mark packets to or from the container's address and packets to
// its published host ports. PID is the capturing vitro's: a capture killed before it
// could remove its chains leaves them named after a dead process, and the next capture
// removes them. From then on, in every chain the packet passes, nf_tables sends one
// NFT_MSG_TRACE message per verdict on the NFNLGRP_NFTRACE netlink group: the table,
// chain and rule handle, the verdict (`accept`, `jump ports`, `continue`), the
// interfaces, and, in the first message of each chain, the packet's IP and transport
// headers. Those headers give the same key PacketMerge uses for the captured packets
// (what NAT does not change), so a captured hop and the kernel's verdicts meet there.
// The rule text comes from a listing of vitro's table with handles, as `nft monitor
// trace` takes it from its cache.
//
// The attributes are those of `enum nft_trace_attributes` in
// <linux/netfilter/nf_tables.h>; numbers are big-endian.

import VitroSys
import VitroTrace

#if canImport(Glibc)
import Glibc
#endif

/// One NFT_MSG_TRACE message: one verdict the packet met in one chain.
public struct NftTraceEvent: Sendable, Equatable {
    public var id: UInt32
    public var family: UInt8
    public var table: String
    public var chain: String
    /// NFTA_TRACE_TYPE: rule, policy or return.
    public var type: String
    public var handle: UInt64?
    /// accept, drop, continue, jump CHAIN, return, …
    public var verdict: String
    public var iif: UInt32?
    public var oif: UInt32?
    /// The interfaces' names, looked up when the message arrived (a veth may be gone
    /// by the time the capture ends).
    public var iifName: String?
    public var oifName: String?
    /// The IP header and (up to 20 bytes of) the transport header, when this message
    /// carried them (the first of each chain).
    public var headers: [UInt8]
    /// When this reader received it (wall clock, ns).
    public var wallNanos: UInt64 = 0
    /// The packet's key (IPv4Fields.key), from this message's headers or from an
    /// earlier message with the same id.
    public var key: String?
    /// The rule's text from vitro's table listing, when known.
    public var ruleText: String?

    public init(id: UInt32, family: UInt8, table: String, chain: String, type: String, handle: UInt64?, verdict: String, iif: UInt32?, oif: UInt32?, headers: [UInt8]) {
        self.id = id
        self.family = family
        self.table = table
        self.chain = chain
        self.type = type
        self.handle = handle
        self.verdict = verdict
        self.iif = iif
        self.oif = oif
        self.headers = headers
    }

    /// NFT_MSG_TRACE: (NFNL_SUBSYS_NFTABLES << 8) | 17.
    public static let messageType: UInt16 = 0x0a11

    /// Parses one message's payload (after the nlmsghdr): a `struct nfgenmsg`
    /// (family, version, resource id), then attributes.
    public static func parse(_ p: [UInt8]) -> NftTraceEvent? {
        guard p.count >= 4 else { return nil }
        let family = p[0]
        var e = NftTraceEvent(id: 0, family: family, table: "", chain: "", type: "", handle: nil, verdict: "", iif: nil, oif: nil, headers: [])
        var network: [UInt8] = []
        var transport: [UInt8] = []
        var policy: Int32?
        for (type, value) in attributes(p, from: 4) {
            switch type {
            case 1: e.table = string(value)
            case 2: e.chain = string(value)
            case 3: e.handle = be64(value)
            case 4: e.type = ["unspec", "policy", "return", "rule"][min(3, Int(be32(value) ?? 0))]
            case 5:
                var code: Int32 = 0
                var target = ""
                for (t, v) in attributes(value, from: 0) {
                    if t == 1 { code = Int32(bitPattern: be32(v) ?? 0) }
                    if t == 2 { target = string(v) }
                }
                e.verdict = verdictName(code, target)
            case 6: e.id = be32(value) ?? 0
            case 8: network = value
            case 9: transport = value
            case 10: e.iif = be32(value)
            case 12: e.oif = be32(value)
            case 16: policy = be32(value).map { Int32(bitPattern: $0) }
            default: break
            }
        }
        if e.verdict.isEmpty, let policy { e.verdict = verdictName(policy, "") }
        if !network.isEmpty { e.headers = network + transport }
        e.key = e.headers.isEmpty ? nil : IPv4Fields(e.headers)?.key
        return e
    }

    /// NF_DROP 0 … NF_STOP 5, then nf_tables' own: NFT_CONTINUE -1 … NFT_RETURN -5.
    static func verdictName(_ code: Int32, _ target: String) -> String {
        switch code {
        case 0: "drop"
        case 1: "accept"
        case 2: "stolen"
        case 3: "queue"
        case 4: "repeat"
        case 5: "stop"
        case -1: "continue"
        case -2: "break"
        case -3: "jump " + target
        case -4: "goto " + target
        case -5: "return"
        default: "verdict \(code)"
        }
    }

    /// (type, value) of each attribute from `offset`; the nested and byte-order flag
    /// bits of the type are dropped.
    static func attributes(_ b: [UInt8], from offset: Int) -> [(UInt16, [UInt8])] {
        var out: [(UInt16, [UInt8])] = []
        var off = offset
        while off + 4 <= b.count {
            let len = Int(UInt16(b[off]) | UInt16(b[off + 1]) << 8)
            let type = (UInt16(b[off + 2]) | UInt16(b[off + 3]) << 8) & 0x3fff
            guard len >= 4, off + len <= b.count else { break }
            out.append((type, Array(b[(off + 4)..<(off + len)])))
            off += (len + 3) & ~3
        }
        return out
    }

    static func string(_ v: [UInt8]) -> String { String(decoding: v.prefix { $0 != 0 }, as: UTF8.self) }
    static func be32(_ v: [UInt8]) -> UInt32? { v.count >= 4 ? v.prefix(4).reduce(0) { $0 << 8 | UInt32($1) } : nil }
    static func be64(_ v: [UInt8]) -> UInt64? { v.count >= 8 ? v.prefix(8).reduce(0) { $0 << 8 | UInt64($1) } : nil }

    /// The line `nft monitor trace` would print for it, with the rule's text when known:
    /// `ip vitro ports rule tcp dport 8080 dnat to 10.88.0.2:80 (verdict accept)`.
    public var line: String {
        let family = [2: "ip", 10: "ip6", 1: "inet", 7: "bridge", 3: "arp", 5: "netdev"][Int(self.family)] ?? "family\(self.family)"
        switch type {
        case "rule":
            let what = ruleText ?? "handle \(handle.map(String.init) ?? "?")"
            return "\(family) \(table) \(chain) rule \(what) (verdict \(verdict))"
        case "policy": return "\(family) \(table) \(chain) policy \(verdict)"
        default: return "\(family) \(table) \(chain) \(type) \(verdict)"
        }
    }

    /// Whether it only carries the packet (the first message of a chain on recent
    /// kernels: headers and interfaces, no rule), not a verdict.
    public var isPacketOnly: Bool { type == "rule" && handle == nil }

    /// Whether its rule rewrites addresses (so it is the rule a NAT hop names).
    public var isNATRule: Bool {
        guard type == "rule", let t = ruleText else { return false }
        return [" dnat ", " snat ", "masquerade", " redirect"].contains { t.contains($0) }
    }
}

/// Texts of the rules of a table, by chain and handle, from `nft -a list table`.
public enum NftListing {
    /// "chain/handle" → the rule as listed, without its `# handle N`.
    public static func rules(_ listing: String) -> [String: String] {
        var out: [String: String] = [:]
        var chain: String?
        for raw in listing.split(separator: "\n") {
            let line = trimmed(raw)
            if line.hasPrefix("chain ") {
                chain = String(line.dropFirst(6).prefix { $0 != " " && $0 != "{" })
                continue
            }
            if line.hasPrefix("set ") || line.hasPrefix("map ") || line.hasPrefix("flowtable ") {
                chain = nil
                continue
            }
            if line == "}" { chain = nil }
            guard let c = chain, let r = line.firstRange(of: " # handle ") else { continue }
            let handle = line[r.upperBound...].prefix { $0.isNumber }
            out["\(c)/\(handle)"] = String(line[..<r.lowerBound])
        }
        return out
    }

    /// The chains named `trace-pre-PID` or `trace-out-PID` in a listing, with the pid.
    public static func traceChains(_ listing: String) -> [(name: String, pid: Int32)] {
        var out: [(String, Int32)] = []
        for raw in listing.split(separator: "\n") {
            let line = trimmed(raw)
            guard line.hasPrefix("chain trace-") else { continue }
            let name = String(line.dropFirst(6).prefix { $0 != " " && $0 != "{" })
            guard name.hasPrefix("trace-pre-") || name.hasPrefix("trace-out-"), let pid = Int32(name.dropFirst(10)) else { continue }
            out.append((name, pid))
        }
        return out
    }
}

/// A listing's line without its indentation and trailing blanks.
private func trimmed(_ line: Substring) -> String {
    var s = line
    while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
    while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
    return String(s)
}

/// What to mark for tracing: the container's address and its published host ports.
public struct NftTraceFilter: Sendable {
    public var address: String
    public var tcpPorts: [UInt16]
    public var udpPorts: [UInt16]
    public init(address: String, tcpPorts: [UInt16], udpPorts: [UInt16]) {
        self.address = address
        self.tcpPorts = tcpPorts
        self.udpPorts = udpPorts
    }
}

/// One capture session's trace chains and the socket that hears the verdicts.
public final class NftTracer {
    public static let table = "ip vitro"
    public let chains: [String]
    public let fd: Int32
    public private(set) var events: [NftTraceEvent] = []
    public private(set) var overflows = 0
    /// At most this many messages are kept; the rest are counted in `dropped`.
    public var limit = 400_000
    public private(set) var dropped = 0
    var rules: [String: String] = [:]
    /// Per trace id, what the latest message with headers said: only the first message
    /// of a chain carries the packet and its interfaces; the rest of that chain's
    /// messages are about the same packet, there.
    var current: [UInt32: (key: String?, iif: String?, oif: String?)] = [:]
    var names: [UInt32: String] = [:]
    var removed = false

    /// The script that adds the session's chains and rules.
    public static func addScript(pid: Int32, filter: NftTraceFilter) -> String {
        var s = ""
        for (name, hook) in [("trace-pre-\(pid)", "prerouting"), ("trace-out-\(pid)", "output")] {
            s += "add chain ip vitro \(name) { type filter hook \(hook) priority raw; policy accept; }\n"
            s += "add rule ip vitro \(name) ip daddr \(filter.address) meta nftrace set 1\n"
            s += "add rule ip vitro \(name) ip saddr \(filter.address) meta nftrace set 1\n"
            for (proto, ports) in [("tcp", filter.tcpPorts), ("udp", filter.udpPorts)] where !ports.isEmpty {
                let set = ports.count == 1 ? String(ports[0]) : "{ " + ports.map(String.init).joined(separator: ", ") + " }"
                s += "add rule ip vitro \(name) \(proto) dport \(set) meta nftrace set 1\n"
                s += "add rule ip vitro \(name) \(proto) sport \(set) meta nftrace set 1\n"
            }
        }
        return s
    }

    /// The script that removes chains (their rules first: a chain must be empty).
    public static func deleteScript(_ chains: [String]) -> String {
        chains.map { "flush chain ip vitro \($0)\ndelete chain ip vitro \($0)\n" }.joined()
    }

    /// Joins NFNLGRP_NFTRACE, removes the chains of captures whose process is gone, then
    /// adds this session's chains. Returns nil (and changes nothing) when vitro's table
    /// does not exist: the session then names rules from the port mappings only.
    public init?(filter: NftTraceFilter) throws {
        guard NftTracer.tableListing() != nil else { return nil }
        fd = try Sys.netlinkSubscribe(
            protocol: 12, group: 9, groupName: "NFNLGRP_NFTRACE",
            why: "hear nf_tables' trace of every packet marked with meta nftrace (what `nft monitor trace` prints)")
        let pid = getpid()
        chains = ["trace-pre-\(pid)", "trace-out-\(pid)"]
        do {
            NftTracer.removeStale()
            try Sys.nft(
                NftTracer.addScript(pid: pid, filter: filter), object: "table ip vitro",
                args: ["table": .string("ip vitro"), "chains": .list(chains)],
                why: "mark the container's packets for tracing, in chains of vitro's own table that this capture removes when it ends")
        } catch {
            Sys.close(fd)
            throw error
        }
        refreshRules()
    }

    /// `nft -a list table ip vitro`, or nil when the table is not there.
    static func tableListing() -> String? { Sys.nftList("list table ip vitro") }

    /// Removes trace chains left by captures whose process no longer exists.
    static func removeStale() {
        guard let listing = tableListing() else { return }
        let dead = NftListing.traceChains(listing).filter { access("/proc/\($0.pid)", F_OK) != 0 }.map(\.name)
        guard !dead.isEmpty else { return }
        _ = try? Sys.nft(
            deleteScript(dead), object: "table ip vitro", args: ["chains": .list(dead)],
            why: "trace chains of a capture that ended without removing them")
    }

    /// Learns the text of vitro's rules (again: a container's rules may come and go).
    public func refreshRules() {
        guard let listing = NftTracer.tableListing() else { return }
        rules.merge(NftListing.rules(listing)) { _, new in new }
    }

    /// Reads what the kernel has sent since the last call.
    public func drain() {
        let (messages, lost) = Sys.netlinkReceive(fd)
        overflows += lost
        let now = UInt64(MonotonicClock.wallSeconds() * 1e9)
        for m in messages where m.type == NftTraceEvent.messageType {
            guard events.count < limit else {
                dropped += 1
                continue
            }
            guard var e = NftTraceEvent.parse(m.payload) else { continue }
            e.wallNanos = now
            if !e.headers.isEmpty {
                e.iifName = e.iif.flatMap(name)
                e.oifName = e.oif.flatMap(name)
                current[e.id] = (e.key, e.iifName, e.oifName)
            } else if let c = current[e.id] {
                (e.key, e.iifName, e.oifName) = c
            }
            events.append(e)
        }
    }

    func name(_ index: UInt32) -> String? {
        if let n = names[index] { return n }
        let n = NftTracer.interfaceName(index)
        names[index] = n
        return n
    }

    /// The events with their rules' texts.
    public func finish() -> [NftTraceEvent] {
        drain()
        refreshRules()
        return events.filter { !$0.isPacketOnly }.map { e in
            var e = e
            if let h = e.handle, e.table == "vitro" { e.ruleText = rules["\(e.chain)/\(h)"] }
            return e
        }
    }

    /// Removes the session's chains and closes the socket. Idempotent.
    public func remove() {
        guard !removed else { return }
        removed = true
        _ = try? Sys.nft(
            NftTracer.deleteScript(chains), object: "table ip vitro", args: ["chains": .list(chains)],
            why: "the capture is over: its trace chains go, and vitro's table is as it was")
        Sys.close(fd)
    }

    deinit { remove() }

    /// An interface's name from its index (NFTA_TRACE_IIF/OIF), in this namespace.
    public static func interfaceName(_ index: UInt32) -> String? {
        var buf = [CChar](repeating: 0, count: Int(IF_NAMESIZE) + 1)
        guard if_indextoname(index, &buf) != nil else { return nil }
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
