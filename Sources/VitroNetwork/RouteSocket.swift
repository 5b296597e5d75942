// Chapter 05: an rtnetlink socket in one network namespace, and the requests of
// RouteMessages sent through it. Each request gets the next sequence number, and each
// is one `netlink` trace event (VitroSys records it) with the `ip` command it stands for.

import VitroSys
import VitroTrace

#if canImport(Glibc)
import Glibc
#endif

public final class RouteSocket {
    let fd: Int32
    var seq: UInt32 = 0
    /// `nsenter --net=PATH ` before each shell line when the socket is in another
    /// namespace, so the line does what the request did.
    let shellPrefix: String

    /// A socket in vitro's own network namespace, or in the one at `netns`
    /// (/proc/PID/ns/net).
    public init(netns: String? = nil, why: String) throws(SysError) {
        fd = try Sys.netlinkSocket(netns: netns, why: why)
        shellPrefix = netns.map { "nsenter --net=\($0) " } ?? ""
    }

    deinit { Sys.close(fd) }

    func next() -> UInt32 {
        seq &+= 1
        return seq
    }

    @discardableResult
    func send(_ r: NetlinkRequest, why: String) throws(SysError) -> [NetlinkReply] {
        try Sys.netlink(fd, request: r.bytes, name: r.name, object: r.object, args: r.args, why: why, shell: shellPrefix + r.shell)
    }

    /// The link called `name`, or nil when there is none (ENODEV).
    public func link(_ name: String, why: String) throws(SysError) -> LinkInfo? {
        let replies: [NetlinkReply]
        do {
            replies = try send(RouteMessages.getLink(name, seq: next()), why: why)
        } catch {
            if error.errno == ENODEV { return nil }
            throw error
        }
        return replies.first.flatMap { LinkInfo(reply: $0.payload) }
    }

    public func createBridge(_ name: String, mtu: UInt32) throws(SysError) {
        try send(RouteMessages.newBridge(name, mtu: mtu, seq: next()), why: "the bridge is the containers' switch; the host is on it as the gateway")
    }

    public func createVeth(
        _ name: String, peer: String, netnsFD: Int32, netnsShown: String, master: LinkInfo, mtu: UInt32
    ) throws(SysError) {
        try send(
            RouteMessages.newVeth(name, peer: peer, netnsFD: netnsFD, netnsShown: netnsShown, master: master.index, masterName: master.name, mtu: mtu, seq: next()),
            why: "a virtual cable: one end on the bridge, the other made directly inside the container's namespace as \(peer) (moving it there later costs 15 times as much)")
    }

    public func setUp(index: Int32, name: String, why: String) throws(SysError) {
        try send(RouteMessages.setUp(index: index, name: name, seq: next()), why: why)
    }

    public func addAddress(_ subnet: IPv4Subnet, index: Int32, name: String, why: String) throws(SysError) {
        try send(RouteMessages.newAddress(subnet, index: index, name: name, seq: next()), why: why)
    }

    public func addDefaultRoute(via gateway: IPv4Address, index: Int32, name: String) throws(SysError) {
        try send(RouteMessages.newDefaultRoute(via: gateway, index: index, name: name, seq: next()), why: "everything not on the bridge's subnet goes to the gateway, the host's end of the bridge")
    }

    /// Every IPv4 route of every table.
    public func routes(why: String) throws(SysError) -> [RouteInfo] {
        try send(RouteMessages.dumpRoutes(seq: next()), why: why).compactMap { $0.type == 24 ? RouteInfo(reply: $0.payload) : nil }
    }
}
