// Chapter 05: the rtnetlink requests vitro sends, as pure functions from what is wanted
// to the bytes (and to the `ip` command that would send the same request). Tests
// compare them with annotated golden bytes; RouteSocket sends them.
//
// Constants are the kernel's (include/uapi/linux/rtnetlink.h, if_link.h, veth.h,
// if_addr.h, netlink.h).

import VitroTrace

/// One request: its bytes and how the trace names it.
public struct NetlinkRequest: Sendable {
    public var bytes: [UInt8]
    /// The message type's name: RTM_NEWLINK.
    public var name: String
    /// The link or address it is about.
    public var object: String
    public var args: Args
    /// The `ip` command a person would type.
    public var shell: String
}

public enum RouteMessages {
    // Message types.
    public static let newLink: UInt16 = 16
    public static let getLink: UInt16 = 18
    public static let newAddr: UInt16 = 20
    public static let newRoute: UInt16 = 24
    public static let getRoute: UInt16 = 26
    // Header flags.
    public static let request: UInt16 = 0x1
    public static let ack: UInt16 = 0x4
    public static let excl: UInt16 = 0x200
    public static let create: UInt16 = 0x400
    public static let dump: UInt16 = 0x300
    // Link attributes (IFLA_*), link info (IFLA_INFO_*), veth (VETH_INFO_PEER).
    public static let iflaIfname: UInt16 = 3
    public static let iflaMTU: UInt16 = 4
    public static let iflaMaster: UInt16 = 10
    public static let iflaLinkinfo: UInt16 = 18
    public static let iflaNetNsFD: UInt16 = 28
    public static let infoKind: UInt16 = 1
    public static let infoData: UInt16 = 2
    public static let vethInfoPeer: UInt16 = 1
    // Address attributes (IFA_*) and route attributes (RTA_*).
    public static let ifaAddress: UInt16 = 1
    public static let ifaLocal: UInt16 = 2
    public static let ifaBroadcast: UInt16 = 4
    public static let rtaDst: UInt16 = 1
    public static let rtaOif: UInt16 = 4
    public static let rtaGateway: UInt16 = 5
    public static let rtaTable: UInt16 = 15

    static let afUnspec: UInt8 = 0
    static let afInet: UInt8 = 2
    /// IFF_UP.
    static let up: UInt32 = 1

    /// `struct ifinfomsg`: family, pad, type, index, flags, change (16 bytes).
    static func ifinfomsg(index: Int32 = 0, up: Bool) -> [UInt8] {
        [afUnspec, 0, 0, 0] + Bytes.le32(UInt32(bitPattern: index)) + Bytes.le32(up ? Self.up : 0) + Bytes.le32(up ? Self.up : 0)
    }

    /// `ip link add NAME mtu MTU up type bridge`
    public static func newBridge(_ name: String, mtu: UInt32, seq: UInt32) -> NetlinkRequest {
        var m = NetlinkMessage(type: newLink, flags: request | ack | create | excl, seq: seq, header: ifinfomsg(up: true))
        m.attribute(iflaIfname, string: name)
        m.attribute(iflaMTU, u32: mtu)
        m.beginNest(iflaLinkinfo)
        m.attribute(infoKind, string: "bridge")
        m.endNest()
        return NetlinkRequest(
            bytes: m.finished, name: "RTM_NEWLINK", object: name,
            args: ["ifname": .string(name), "kind": .string("bridge"), "mtu": .int(Int64(mtu)), "flags": .flags("IFF_UP")],
            shell: "ip link add \(name) mtu \(mtu) up type bridge")
    }

    /// A veth pair in one request: the host end `name`, up, enslaved to the bridge with
    /// index `master`; its peer `peer` created directly inside the network namespace
    /// that `netnsFD` refers to (IFLA_NET_NS_FD among the peer's own attributes).
    /// Creating the peer there costs about 1 ms; moving it there afterwards (`ip link
    /// set eth0 netns …`) about 16 ms. The peer is left down: the kernel registers it
    /// before the host end, and a veth cannot open while its partner does not exist
    /// yet (veth_open returns ENOTCONN), so it is brought up from inside afterwards.
    ///
    /// `ip link add NAME mtu MTU master BRIDGE up type veth peer name PEER mtu MTU netns PID`
    public static func newVeth(
        _ name: String, peer: String, netnsFD: Int32, netnsShown: String, master: Int32, masterName: String, mtu: UInt32,
        seq: UInt32
    ) -> NetlinkRequest {
        var m = NetlinkMessage(type: newLink, flags: request | ack | create | excl, seq: seq, header: ifinfomsg(up: true))
        m.attribute(iflaIfname, string: name)
        m.attribute(iflaMTU, u32: mtu)
        m.attribute(iflaMaster, u32: UInt32(bitPattern: master))
        m.beginNest(iflaLinkinfo)
        m.attribute(infoKind, string: "veth")
        m.beginNest(infoData)
        m.beginNest(vethInfoPeer)
        m.raw(ifinfomsg(up: false))
        m.attribute(iflaIfname, string: peer)
        m.attribute(iflaMTU, u32: mtu)
        m.attribute(iflaNetNsFD, u32: UInt32(bitPattern: netnsFD))
        m.endNest()
        m.endNest()
        m.endNest()
        return NetlinkRequest(
            bytes: m.finished, name: "RTM_NEWLINK", object: name,
            args: [
                "ifname": .string(name), "kind": .string("veth"), "master": .string(masterName), "mtu": .int(Int64(mtu)),
                "peer": .string(peer), "peer_netns": .string(netnsShown), "flags": .flags("IFF_UP"),
            ],
            shell: "ip link add \(name) mtu \(mtu) master \(masterName) up type veth peer name \(peer) mtu \(mtu) netns \(netnsShown)")
    }

    /// `ip link set NAME up`, by index.
    public static func setUp(index: Int32, name: String, seq: UInt32) -> NetlinkRequest {
        let m = NetlinkMessage(type: newLink, flags: request | ack, seq: seq, header: ifinfomsg(index: index, up: true))
        return NetlinkRequest(
            bytes: m.finished, name: "RTM_NEWLINK", object: name,
            args: ["ifname": .string(name), "index": .int(Int64(index)), "flags": .flags("IFF_UP")], shell: "ip link set \(name) up")
    }

    /// `ip link show NAME`: asks for one link by name.
    public static func getLink(_ name: String, seq: UInt32) -> NetlinkRequest {
        var m = NetlinkMessage(type: getLink, flags: request | ack, seq: seq, header: ifinfomsg(up: false))
        m.attribute(iflaIfname, string: name)
        return NetlinkRequest(bytes: m.finished, name: "RTM_GETLINK", object: name, args: ["ifname": .string(name)], shell: "ip link show \(name)")
    }

    /// `ip addr add A/N broadcast B dev NAME`
    public static func newAddress(_ subnet: IPv4Subnet, index: Int32, name: String, seq: UInt32) -> NetlinkRequest {
        // struct ifaddrmsg: family, prefixlen, flags, scope (RT_SCOPE_UNIVERSE), index.
        let header = [afInet, UInt8(subnet.prefix), 0, 0] + Bytes.le32(UInt32(bitPattern: index))
        var m = NetlinkMessage(type: newAddr, flags: request | ack | create | excl, seq: seq, header: header)
        m.attribute(ifaLocal, subnet.address.bytes)
        m.attribute(ifaAddress, subnet.address.bytes)
        m.attribute(ifaBroadcast, subnet.broadcast.bytes)
        return NetlinkRequest(
            bytes: m.finished, name: "RTM_NEWADDR", object: name,
            args: ["ifname": .string(name), "address": .string(subnet.description), "broadcast": .string(subnet.broadcast.description)],
            shell: "ip addr add \(subnet) broadcast \(subnet.broadcast) dev \(name)")
    }

    /// `ip route add default via GATEWAY dev NAME`
    public static func newDefaultRoute(via gateway: IPv4Address, index: Int32, name: String, seq: UInt32) -> NetlinkRequest {
        // struct rtmsg: family, dst_len, src_len, tos, table (RT_TABLE_MAIN), protocol
        // (RTPROT_BOOT, as ip uses), scope (RT_SCOPE_UNIVERSE), type (RTN_UNICAST), flags.
        let header: [UInt8] = [afInet, 0, 0, 0, 254, 3, 0, 1] + Bytes.le32(0)
        var m = NetlinkMessage(type: newRoute, flags: request | ack | create | excl, seq: seq, header: header)
        m.attribute(rtaGateway, gateway.bytes)
        m.attribute(rtaOif, u32: UInt32(bitPattern: index))
        return NetlinkRequest(
            bytes: m.finished, name: "RTM_NEWROUTE", object: name,
            args: ["dst": .string("default"), "gateway": .string(gateway.description), "dev": .string(name)],
            shell: "ip route add default via \(gateway) dev \(name)")
    }

    /// `ip -4 route show table all`: every IPv4 route (a dump).
    public static func dumpRoutes(seq: UInt32) -> NetlinkRequest {
        let header: [UInt8] = [afInet, 0, 0, 0, 0, 0, 0, 0] + Bytes.le32(0)
        let m = NetlinkMessage(type: getRoute, flags: request | dump, seq: seq, header: header)
        return NetlinkRequest(bytes: m.finished, name: "RTM_GETROUTE", object: "routes", args: ["family": .string("AF_INET")], shell: "ip -4 route show table all")
    }
}

/// What a RTM_NEWLINK reply says about a link.
public struct LinkInfo: Sendable, Equatable {
    public var index: Int32
    public var name: String
    public var kind: String?
    public var isUp: Bool
    public var mtu: UInt32?

    public init?(reply payload: [UInt8]) {
        guard payload.count >= 16 else { return nil }
        index = Int32(bitPattern: Bytes.u32(payload, 4))
        isUp = Bytes.u32(payload, 8) & 1 != 0
        let attrs = NetlinkAttributes(payload, from: 16)
        name = attrs.string(RouteMessages.iflaIfname) ?? ""
        mtu = attrs.u32(RouteMessages.iflaMTU)
        kind = attrs[RouteMessages.iflaLinkinfo].flatMap { NetlinkAttributes($0).string(RouteMessages.infoKind) }
    }
}

/// What a RTM_NEWROUTE message of a dump says: the destination and its table.
public struct RouteInfo: Sendable, Equatable {
    public var destination: IPv4Subnet
    public var table: UInt32
    public var outputIndex: Int32?

    public init?(reply payload: [UInt8]) {
        guard payload.count >= 12 else { return nil }
        let attrs = NetlinkAttributes(payload, from: 12)
        let prefix = Int(payload[1])
        let dst = attrs[RouteMessages.rtaDst].map { IPv4Address(bytes: $0[...]) } ?? .any
        destination = IPv4Subnet(address: dst, prefix: prefix)
        table = attrs.u32(RouteMessages.rtaTable) ?? UInt32(payload[4])
        outputIndex = attrs.u32(RouteMessages.rtaOif).map { Int32(bitPattern: $0) }
    }
}
