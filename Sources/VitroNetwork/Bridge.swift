// Chapter 05: the bridge, the containers' switch. Docker calls it docker0; vitro's is
// vitro0 with 172.18.0.1/16 (Docker's --bip; `--bridge` and `--bip`, or VITRO_BRIDGE and
// VITRO_BIP, choose others). The host is on the bridge as the gateway: the bridge
// device carries the gateway address, so the kernel routes the subnet to it, and
// containers send everything else to that address.
//
// The bridge is made once and then found: a start pays one RTM_GETLINK. Before making
// it, vitro reads the host's routes and refuses a subnet that overlaps one of them (a
// bridge on 192.168.1.0/24 on a host whose LAN is 192.168.1.0/24 would cut the host
// off its own network). IPv4 forwarding is switched on in the namespace vitro runs in,
// so packets from containers may be routed on to the outside.

import VitroSys
import VitroTrace

public struct BridgeConfig: Sendable, Equatable {
    public var name: String
    /// The gateway's address with the subnet's prefix: `172.18.0.1/16`.
    public var gateway: IPv4Subnet
    public var mtu: UInt32

    public static let defaultName = "vitro0"
    public static let defaultBip = "172.18.0.1/16"

    public init(name: String, gateway: IPv4Subnet, mtu: UInt32 = 1500) {
        self.name = name
        self.gateway = gateway
        self.mtu = mtu
    }

    /// Checks the user's choices: an interface name the kernel takes, a private
    /// subnet with room for containers, an MTU a link can have.
    public static func parse(name: String?, bip: String?, mtu: Int?) throws(NetworkError) -> BridgeConfig {
        let n = name ?? defaultName
        try checkLinkName(n, what: "--bridge")
        let b = bip ?? defaultBip
        guard let g = IPv4Subnet(b) else { throw NetworkError("--bip \(b): not an IPv4 address with a prefix length (like \(defaultBip))") }
        guard g.prefix >= 8, g.prefix <= 30 else { throw NetworkError("--bip \(b): the prefix length must be between 8 and 30") }
        guard g.address != g.network, g.address != g.broadcast else {
            throw NetworkError("--bip \(b): give the gateway's address (like \(IPv4Address(g.network.value + 1))/\(g.prefix)), not the network's or the broadcast address")
        }
        guard g.isPrivate else { throw NetworkError("--bip \(b): not a private subnet (use one inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16)") }
        let m = mtu ?? 1500
        guard (68...65535).contains(m) else { throw NetworkError("--mtu \(m): must be between 68 and 65535") }
        return BridgeConfig(name: n, gateway: g, mtu: UInt32(m))
    }

    /// An interface name: 1 to 15 bytes, no '/', no white space, not "." or "..".
    public static func checkLinkName(_ n: String, what: String) throws(NetworkError) {
        guard !n.isEmpty, n.utf8.count <= 15, n != ".", n != "..",
            !n.contains(where: { $0 == "/" || $0 == ":" || $0.isWhitespace || !$0.isASCII })
        else { throw NetworkError("\(what) \(n): not a valid interface name (1 to 15 characters, no '/', ':' or spaces)") }
    }
}

public enum Bridge {
    /// Finds the bridge, or makes it: link, address, up. Returns the bridge's link and
    /// whether this call made it. `procRoot` is where /proc/sys is (a test's own tree).
    public static func ensureBridge(_ config: BridgeConfig, socket: RouteSocket, procRoot: String = "/proc") throws -> (link: LinkInfo, created: Bool) {
        if let link = try socket.link(config.name, why: "does the bridge exist already? (it is made once, by the first container)") {
            guard link.kind == "bridge" else {
                throw NetworkError("--bridge \(config.name): a link of that name exists and is not a bridge (\(link.kind ?? "no kind"))")
            }
            if !link.isUp { try socket.setUp(index: link.index, name: link.name, why: "the bridge is down; bring it up") }
            try enableForwarding(procRoot: procRoot)
            return (link, false)
        }
        try checkNoOverlap(config, socket: socket)
        var raced = false
        do {
            try socket.createBridge(config.name, mtu: config.mtu)
        } catch {
            guard error.errno == 17 else { throw error }  // EEXIST: another vitro made it just now
            raced = true
        }
        if raced, let link = try socket.link(config.name, why: "another vitro made the bridge just now") { return (link, false) }
        guard let link = try socket.link(config.name, why: "the new bridge's index, to give it an address") else {
            throw NetworkError("bridge \(config.name): made, then not found")
        }
        try socket.addAddress(config.gateway, index: link.index, name: link.name, why: "the gateway address: the kernel now routes \(config.gateway.cidr) to the bridge, and containers send the rest of the world here")
        try enableForwarding(procRoot: procRoot)
        return (link, true)
    }

    /// Refuses a subnet that overlaps a route the host already has (other than the
    /// default route and the kernel's local table).
    static func checkNoOverlap(_ config: BridgeConfig, socket: RouteSocket) throws {
        let routes = try socket.routes(why: "read the host's routes: the bridge's subnet must not overlap a network the host already reaches")
        if let clash = routes.first(where: { $0.destination.prefix > 0 && $0.table != 255 && $0.destination.overlaps(config.gateway) }) {
            throw NetworkError("--bip \(config.gateway): overlaps the host's route to \(clash.destination.cidr); choose another subnet with --bip")
        }
    }

    /// Writes 1 to /proc/sys/net/ipv4/ip_forward when it is 0. The file is per network
    /// namespace: it is the namespace vitro runs in that routes for the containers.
    public static func enableForwarding(procRoot: String = "/proc") throws {
        let path = procRoot + "/sys/net/ipv4/ip_forward"
        if (try? Sys.readText(path))?.hasPrefix("1") == true { return }
        try Sys.writeFile(path, "1", create: false, group: .netlink, why: "let the host route packets between the bridge and its other interfaces (sysctl net.ipv4.ip_forward=1)")
    }
}

/// The one error type of VitroNetwork: one line for the user.
public struct NetworkError: Error, CustomStringConvertible, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
