// Chapter 05: wiring one container into the bridge, at the pause before exec (pid 1
// has made its namespaces and waits at `ready`).
//
//   host side       one RTM_NEWLINK makes the veth pair: the host end vxID up and
//                   enslaved to the bridge, the peer eth0 already inside the
//                   container's namespace (IFLA_NET_NS_FD on the peer)
//   container side  through a netlink socket made inside /proc/PID/ns/net: lo up, the
//                   address on eth0, eth0 up, the default route via the bridge's address
//
// Nothing is torn down by hand. When the container's last process exits, the kernel
// frees its network namespace, and with it eth0 and therefore the whole veth pair
// (deleting a veth explicitly costs about 16 ms here; letting the namespace go, a few
// microseconds of vitro's time).

import VitroSys
import VitroTrace

#if canImport(Glibc)
import Glibc
#endif

public struct NetworkSettings: Sendable, Equatable {
    public var mode: NetworkMode = .bridge
    public var bridge: BridgeConfig
    /// `-p` (and `-P`) mappings, host ports not yet bound.
    public var ports: [PortMapping] = []
    /// `-P`: also publish the ports the image's config exposes, once the image is known.
    public var publishAll = false
    /// `--expose`: ports the container exposes without publishing them ("5432/tcp").
    public var exposed: [String] = []
    public var extraHosts: [ExtraHost] = []
    public var dns: [String] = []
    public var dnsSearch: [String] = []

    public init(mode: NetworkMode = .bridge, bridge: BridgeConfig = BridgeConfig(name: BridgeConfig.defaultName, gateway: IPv4Subnet(address: IPv4Address(0xac12_0001), prefix: 16))) {
        self.mode = mode
        self.bridge = bridge
    }
}

extension NetworkSettings {
    /// The defaults a run starts from: bridge mode on vitro0 (172.18.0.1/16), unless
    /// VITRO_NETWORK, VITRO_BRIDGE or VITRO_BIP say otherwise. Every way of starting a
    /// container (`run`, `learn run`) starts here, so `VITRO_NETWORK=none` keeps a test
    /// machine's own network untouched whichever command a test uses.
    public static func fromEnvironment() throws(NetworkError) -> NetworkSettings {
        func env(_ name: String) -> String? {
            guard let v = getenv(name), v.pointee != 0 else { return nil }
            return String(cString: v)
        }
        let mode = try NetworkMode.parse(env("VITRO_NETWORK") ?? "bridge")
        return NetworkSettings(mode: mode, bridge: try BridgeConfig.parse(name: env("VITRO_BRIDGE"), bip: env("VITRO_BIP"), mtu: nil))
    }
}

public enum ContainerNetwork {
    /// The host end's name: `vx` and the short id, its first 12 characters (15 is the
    /// most an interface name may have), so `ip link` shows whose it is.
    public static func vethName(_ id: String) -> String { "vx" + id.prefix(12) }

    /// The container's end, as Docker names it.
    public static let peerName = "eth0"

    /// Makes the veth pair into `pid`'s namespace and configures the container's side.
    public static func attach(
        pid: Int32, veth: String, bridge: LinkInfo, config: BridgeConfig, address: IPv4Address, host: RouteSocket
    ) throws {
        let nsPath = "/proc/\(pid)/ns/net"
        let nsFD = try Sys.open(nsPath, flags: O_RDONLY | O_CLOEXEC, trace: false)
        defer { Sys.close(nsFD) }
        try host.createVeth(veth, peer: peerName, netnsFD: nsFD, netnsShown: String(pid), master: bridge, mtu: config.mtu)
        let inside = try RouteSocket(netns: nsPath, why: "a netlink socket inside the container's namespace, to configure its side")
        try inside.setUp(index: 1, name: "lo", why: "a new network namespace has only lo, and it is down")
        guard let eth0 = try inside.link(peerName, why: "the index of the container's end, to give it its address") else {
            throw NetworkError("\(peerName) did not appear in the container's namespace")
        }
        try inside.addAddress(
            IPv4Subnet(address: address, prefix: config.gateway.prefix), index: eth0.index, name: peerName,
            why: "the address IPAM gave this container; the kernel adds the route to the bridge's subnet with it")
        try inside.setUp(index: eth0.index, name: peerName, why: "the container's end of the cable, up (it could not be brought up while its partner did not exist yet)")
        try inside.addDefaultRoute(via: config.gateway.address, index: eth0.index, name: peerName)
    }

    /// `--net none`: the namespace keeps only lo, brought up.
    public static func loopbackOnly(pid: Int32) throws {
        let inside = try RouteSocket(netns: "/proc/\(pid)/ns/net", why: "a netlink socket inside the container's namespace")
        try inside.setUp(index: 1, name: "lo", why: "--net none: the container has only lo, and it must be up for 127.0.0.1 to work")
    }
}
