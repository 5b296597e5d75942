// Chapter 05: the NAT rules, as nft scripts, in a table of vitro's own (`table ip
// vitro`). Nothing here lists, flushes or edits any other table: another program's
// firewall (Docker's, firewalld's, the admin's) stays as it was. The kernel runs every
// table's chains at their hooks, so vitro's rules work beside theirs.
//
//   prerouting (dstnat)   fib daddr type local jump ports
//   output     (dstnat)   ip daddr != 127.0.0.0/8 fib daddr type local jump ports
//   ports                 one DNAT rule per published port, commented vitro:ID
//   postrouting (srcnat)  ct status dnat ip saddr . oifname @bridges masquerade  (hairpin)
//                         ip saddr . oifname @bridges return   (stays on its bridge)
//                         ip saddr @subnets masquerade         (leaves the host)
//   set subnets           each bridge's subnet
//   set bridges           each subnet with its bridge's name (10.0.0.0/24 . "vitro0")
//
// prerouting catches packets that arrive for a host address; output catches the
// host's own connections to its own addresses (DNAT of locally made packets happens
// in output). 127.0.0.0/8 is left to the userland proxy: after DNAT a packet from
// 127.0.0.1 would have to leave the loopback device, which the kernel forbids unless
// route_localnet is on. A bridge is two set elements rather than rules or a chain of
// its own, so adding one never disturbs another's. The hairpin rule masquerades a container's connection to a
// published port that leads back onto the bridge, so the answer comes back through
// the host (and its conntrack entry) rather than straight across the bridge.
//
// The setup script is idempotent (add is a no-op for what exists; vitro's own base
// chains are flushed and refilled in the same transaction). It runs with the first
// container on a new bridge, in that container's transaction, or when a container's
// transaction finds vitro's table gone. Otherwise a container's NAT is one small
// transaction in (its rules, echoed back with their handles) and one out (delete by
// handle).

import VitroSys

public enum NatRules {
    public static let table = "ip vitro"

    /// The comment that marks a container's rules.
    public static func comment(_ id: String) -> String { "vitro:" + id.prefix(12) }

    /// vitro's table and chains, and `bridge`'s outbound and hairpin masquerade.
    public static func setupScript(_ bridge: BridgeConfig) -> String {
        """
        add table ip vitro
        add chain ip vitro prerouting { type nat hook prerouting priority dstnat; policy accept; }
        add chain ip vitro output { type nat hook output priority -100; policy accept; }
        add chain ip vitro postrouting { type nat hook postrouting priority srcnat; policy accept; }
        add chain ip vitro ports
        add set ip vitro subnets { type ipv4_addr; flags interval; }
        add set ip vitro bridges { type ipv4_addr . ifname; flags interval; }
        flush chain ip vitro prerouting
        flush chain ip vitro output
        flush chain ip vitro postrouting
        add rule ip vitro prerouting fib daddr type local jump ports
        add rule ip vitro output ip daddr != 127.0.0.0/8 fib daddr type local jump ports
        add rule ip vitro postrouting ct status dnat ip saddr . oifname @bridges masquerade
        add rule ip vitro postrouting ip saddr . oifname @bridges return
        add rule ip vitro postrouting ip saddr @subnets masquerade
        add element ip vitro subnets { \(bridge.gateway.cidr) }
        add element ip vitro bridges { \(bridge.gateway.cidr) . "\(bridge.name)" }

        """
    }

    /// Whether vitro's table exists, asked with one NFT_MSG_GETTABLE on a
    /// NETLINK_NETFILTER socket (about 0.1 ms; libnftables would first load itself and
    /// its cache, about 2 ms). A container without published ports uses it to check
    /// that its bridge's masquerade is still in place.
    public static func tableExists() throws -> Bool {
        let fd = try Sys.netlinkSocket(protocol: 12, why: "ask nf_tables directly whether vitro's table is there")
        defer { Sys.close(fd) }
        do {
            _ = try Sys.netlink(fd, request: getTableRequest(seq: 1), name: "NFT_MSG_GETTABLE", object: "table ip vitro", args: ["family": .string("ip"), "name": .string("vitro")], why: "is vitro's NAT table still there (an `nft flush ruleset` removes it)?", shell: "nft list table ip vitro", group: .netfilter)
        } catch {
            if error.errno == 2 { return false }  // ENOENT
            throw error
        }
        return true
    }

    /// NFT_MSG_GETTABLE for `ip vitro`: type (NFNL_SUBSYS_NFTABLES << 8) | 1, then a
    /// `struct nfgenmsg` (family NFPROTO_IPV4, version 0, resource id 0), then
    /// NFTA_TABLE_NAME.
    public static func getTableRequest(seq: UInt32) -> [UInt8] {
        var m = NetlinkMessage(type: 0x0a01, flags: 0x1 | 0x4, seq: seq, header: [2, 0, 0, 0])
        m.attribute(1, string: "vitro")
        return m.finished
    }

    /// A container's transaction: its bridge's two set elements (a no-op when there,
    /// and a cheap check that vitro's table still exists: the script fails if it does
    /// not), then one DNAT rule per published port. Ports bound to a 127.x address get
    /// none: the proxy carries them. Making tables and chains costs about 15 ms a
    /// transaction here (the kernel waits for a grace period), adding rules and
    /// elements a fraction of one, so the setup script runs only when needed.
    /// `registerBridge: false` when the setup script (which has the elements) goes first.
    public static func containerScript(id: String, address: IPv4Address, ports: [PortMapping], bridge: BridgeConfig, registerBridge: Bool = true) -> String {
        var s = ""
        if registerBridge {
            s += "add element ip vitro subnets { \(bridge.gateway.cidr) }\n"
            s += "add element ip vitro bridges { \(bridge.gateway.cidr) . \"\(bridge.name)\" }\n"
        }
        return s + portRules(id: id, address: address, ports: ports)
    }

    /// One DNAT rule per published port, as `add rule` lines (what NatSocket sends as
    /// netlink, and what the trace shows it as). Ports bound to a 127.x address get none.
    public static func portRules(id: String, address: IPv4Address, ports: [PortMapping]) -> String {
        var s = ""
        for p in ports where p.hostIP.value >> 24 != 127 {
            let daddr = p.hostIP == .any ? "" : "ip daddr \(p.hostIP) "
            s += "add rule ip vitro ports \(daddr)\(p.proto.rawValue) dport \(p.hostPort) dnat to \(address):\(p.containerPort) comment \"\(comment(id))\"\n"
        }
        return s
    }

    /// The handles of a container's rules in the echo of its transaction or in a
    /// listing of the ports chain made with handles (`nft -a list chain ip vitro ports`).
    public static func handles(in text: String, ids: [String]) -> [String] {
        let marks = ids.map { "comment \"\(comment($0))\"" }
        var out: [String] = []
        for line in text.split(separator: "\n") where marks.contains(where: { line.contains($0) }) {
            guard let h = line.firstRange(of: "# handle ") else { continue }
            let handle = line[h.upperBound...].prefix { $0.isNumber }
            if !handle.isEmpty { out.append(String(handle)) }
        }
        return out
    }

    /// `delete rule` lines for the given handles of the ports chain.
    public static func deleteScript(handles: [String]) -> String {
        handles.map { "delete rule ip vitro ports handle \($0)\n" }.joined()
    }

    /// `delete rule` lines for every rule of the given containers in a listing of the
    /// ports chain made with handles (`nft -a list chain ip vitro ports`).
    public static func deleteScript(listing: String, ids: [String]) -> String {
        deleteScript(handles: handles(in: listing, ids: ids))
    }

    /// The ids (12 characters) that have rules in a listing of the ports chain.
    public static func idsWithRules(listing: String) -> Set<String> {
        var out = Set<String>()
        for line in listing.split(separator: "\n") {
            guard let r = line.firstRange(of: "comment \"vitro:") else { continue }
            out.insert(String(line[r.upperBound...].prefix { $0 != "\"" }))
        }
        return out
    }
}
