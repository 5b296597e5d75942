// Chapter 05: one capture session on a container's packet path, as `vitro trace net`
// and `vitro run --trace-packets` both run it.
//
// The hops: the host's interfaces (where a packet from outside arrives), `lo` (where
// a connection to 127.0.0.1:PORT arrives, which the userland proxy then carries on a
// second connection of its own from the bridge's address), the bridge, the container's
// host veth, and eth0 inside the container's namespace. With the hops, the kernel's
// trace of vitro's rules (NftTracer): two chains in vitro's table that mark the
// container's packets, added here and removed by `finish` (or `remove`).
// `finish` merges it all into `packet` events (PacketMerge).

import VitroSys
import VitroTrace

/// A published port as the capture needs it.
public struct CapturePort: Sendable {
    public var proto: String
    /// The host address it is published on ("0.0.0.0" for any).
    public var hostIP: String
    public var hostPort: UInt16
    public var containerPort: UInt16
    public init(proto: String, hostIP: String, hostPort: UInt16, containerPort: UInt16) {
        self.proto = proto
        self.hostIP = hostIP
        self.hostPort = hostPort
        self.containerPort = containerPort
    }
}

public final class ContainerCapture {
    public let capture = PacketCapture()
    public private(set) var hops: [CaptureHop] = []
    let address: String
    let ports: [CapturePort]
    /// Why the kernel's trace is not used, when it is not.
    public private(set) var traceNote: String?

    /// Opens every hop's handles and (with `kernelTrace`) the trace chains. `pid`: the
    /// container's pid 1, whose network namespace holds its eth0.
    public init(name: String, pid: Int32, address: String, bridge: String, veth: String, ports: [CapturePort], hostInterfaces: [String] = [], kernelTrace: Bool = true) throws {
        self.address = address
        self.ports = ports
        var outer = hostInterfaces.isEmpty ? PacketCapture.hostInterfaces(except: [bridge, veth]) : hostInterfaces
        if !outer.contains("lo") { outer.append("lo") }
        var list = outer.map { CaptureHop(kind: "host", netns: "host", interface: $0) }
        list += [CaptureHop(kind: "bridge", netns: "host", interface: bridge), CaptureHop(kind: "veth", netns: "host", interface: veth)]
        for h in list { try capture.add(h) }
        let inside = CaptureHop(kind: "container", netns: name, interface: "eth0")
        try capture.add(inside, netnsPath: "/proc/\(pid)/ns/net")
        hops = list + [inside]
        guard kernelTrace else {
            traceNote = "the kernel's trace was not asked for"
            return
        }
        let filter = NftTraceFilter(
            address: address, tcpPorts: ports.filter { $0.proto == "tcp" }.map(\.hostPort), udpPorts: ports.filter { $0.proto == "udp" }.map(\.hostPort))
        do {
            capture.tracer = try NftTracer(filter: filter)
            if capture.tracer == nil { traceNote = "vitro's nftables table does not exist" }
        } catch {
            traceNote = "no nftables trace: \(error)"
        }
    }

    /// The DNAT rules as vitro put them in, for naming a rule without the kernel's trace.
    var reconstructed: [DNATRule] {
        ports.filter { !$0.hostIP.hasPrefix("127.") }.map { p in
            let daddr = p.hostIP == "0.0.0.0" ? "" : "ip daddr \(p.hostIP) "
            return DNATRule(
                proto: p.proto, hostPort: p.hostPort, containerPort: p.containerPort,
                text: "ip vitro ports: \(daddr)\(p.proto) dport \(p.hostPort) dnat to \(address):\(p.containerPort)")
        }
    }

    /// Collects what is left, removes the trace chains and merges everything into
    /// packet events.
    public func finish() -> [(wallNanos: UInt64, args: Args)] {
        let packets = capture.collect()
        let traces = capture.tracer?.finish() ?? []
        remove()
        return PacketMerge.events(
            packets, container: address, rules: reconstructed, hostPorts: ports.map { (proto: $0.proto, port: $0.hostPort) }, traces: traces)
    }

    /// Removes the trace chains (idempotent).
    public func remove() { capture.tracer?.remove() }

    deinit { remove() }
}
