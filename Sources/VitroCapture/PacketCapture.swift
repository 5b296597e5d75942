// Chapter 05: capturing a container's packet path with libpcap.
//
// One capture handle per (hop, direction): libpcap's pcap_setdirection tells an
// interface's inbound packets from its outbound ones, so each captured packet knows
// which way it went. Handles inside the container's network namespace are opened after
// setns(2) into it and the thread goes back at once: a packet socket stays in the
// namespace it was made in, so one loop polls every handle from the host.

import CPcap
import VitroSys
import VitroTrace

#if canImport(Glibc)
import Glibc
#endif

/// Where a handle listens: the hop's role and its place.
public struct CaptureHop: Sendable, Equatable {
    public var kind: String  // host, bridge, veth, container
    public var netns: String  // "host" or the container's name
    public var interface: String
    public init(kind: String, netns: String, interface: String) {
        self.kind = kind
        self.netns = netns
        self.interface = interface
    }
}

/// One packet as one handle saw it: the bytes from the IP header on.
public struct CapturedPacket: Sendable {
    public var hop: CaptureHop
    public var direction: String
    public var wallNanos: UInt64
    public var data: [UInt8]
    public init(hop: CaptureHop, direction: String, wallNanos: UInt64, data: [UInt8]) {
        self.hop = hop
        self.direction = direction
        self.wallNanos = wallNanos
        self.data = data
    }
}

public struct CaptureError: Error, CustomStringConvertible {
    public var description: String
    init(_ s: String) { description = s }
}

final class PcapHandle {
    let p: OpaquePointer
    let hop: CaptureHop
    let direction: String
    let linkType: Int32

    init(hop: CaptureHop, direction: String) throws(CaptureError) {
        guard cpcap_load() != 0 else { throw CaptureError("load \(CPCAP_SONAME): \(Sys.libraryLoadError)") }
        var err = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE))
        guard let p = cpcap_create(hop.interface, &err) else {
            throw CaptureError("pcap_create \(hop.netns)/\(hop.interface): \(String(decoding: err.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))")
        }
        self.p = p
        self.hop = hop
        self.direction = direction
        _ = cpcap_set_snaplen(p, 65535)
        _ = cpcap_set_promisc(p, 0)
        _ = cpcap_set_immediate_mode(p, 1)
        _ = cpcap_set_tstamp_precision(p, Int32(PCAP_TSTAMP_PRECISION_NANO))
        let r = cpcap_activate(p)
        if r < 0 {
            let msg = String(cString: cpcap_geterr(p))
            cpcap_close(p)
            throw CaptureError("capture on \(hop.netns)/\(hop.interface): \(msg)")
        }
        linkType = cpcap_datalink(p)
        _ = cpcap_setdirection(p, direction == "in" ? PCAP_D_IN : PCAP_D_OUT)
        var prog = bpf_program()
        if cpcap_compile(p, &prog, "ip", 1, PCAP_NETMASK_UNKNOWN) == 0 {
            _ = cpcap_setfilter(p, &prog)
            cpcap_freecode(&prog)
        }
        _ = cpcap_setnonblock(p, 1, &err)
    }

    deinit { cpcap_close(p) }

    var fd: Int32 { cpcap_get_selectable_fd(p) }

    /// Everything queued on the handle now; beyond `limit` packets in `out`, read and
    /// counted in `dropped` only.
    func drain(into out: inout [CapturedPacket], limit: Int = Int.max, dropped: inout Int) {
        var header: UnsafeMutablePointer<pcap_pkthdr>?
        var data: UnsafePointer<UInt8>?
        while cpcap_next_ex(p, &header, &data) == 1 {
            guard let h = header?.pointee, let d = data else { continue }
            if out.count >= limit {
                dropped += 1
                continue
            }
            let bytes = Array(UnsafeBufferPointer(start: d, count: Int(h.caplen)))
            guard let ip = Self.ipPart(bytes, linkType: linkType) else { continue }
            // Nanosecond precision: tv_usec holds nanoseconds.
            let ns = UInt64(h.ts.tv_sec) &* 1_000_000_000 &+ UInt64(h.ts.tv_usec)
            out.append(CapturedPacket(hop: hop, direction: direction, wallNanos: ns, data: ip))
        }
    }

    /// The bytes from the IP header on, for Ethernet (1), raw IP (12, 14, 101) and
    /// Linux cooked captures (113).
    static func ipPart(_ b: [UInt8], linkType: Int32) -> [UInt8]? {
        switch linkType {
        case 1:
            guard b.count > 14, b[12] == 0x08, b[13] == 0x00 else { return nil }
            return Array(b[14...])
        case 113:
            guard b.count > 16, b[14] == 0x08, b[15] == 0x00 else { return nil }
            return Array(b[16...])
        case 12, 14, 101:
            return b.first.map { $0 >> 4 == 4 } == true ? b : nil
        default:
            return nil
        }
    }
}

/// The handles of one capture and the loop that reads them.
public final class PacketCapture {
    var handles: [PcapHandle] = []

    public init() {}

    /// Opens an inbound and an outbound handle on `hop`; with `netnsPath`, inside that
    /// network namespace (the thread enters it, opens, and comes back).
    public func add(_ hop: CaptureHop, netnsPath: String? = nil) throws {
        guard let path = netnsPath else {
            handles.append(try PcapHandle(hop: hop, direction: "in"))
            handles.append(try PcapHandle(hop: hop, direction: "out"))
            return
        }
        let own = try Sys.open("/proc/thread-self/ns/net", flags: O_RDONLY | O_CLOEXEC, why: "to come back to this network namespace", trace: false)
        defer { Sys.close(own) }
        try Sys.setns(path: path, kind: .net, why: "a packet socket is made in the namespace of the thread that opens it: capture on \(hop.interface) inside the container")
        var failure: (any Error)?
        do {
            handles.append(try PcapHandle(hop: hop, direction: "in"))
            handles.append(try PcapHandle(hop: hop, direction: "out"))
        } catch { failure = error }
        try Sys.setns(path: "/proc/self/fd/\(own)", kind: .net, why: "back to vitro's own network namespace; the capture sockets stay in the container's")
        if let failure { throw failure }
    }

    /// The kernel's trace of the marked packets, read in the same loop (NftTrace.swift).
    public var tracer: NftTracer?
    var packets: [CapturedPacket] = []
    /// At most this many packets are kept (a capture for a container's whole life must
    /// not grow without bound); the rest are counted.
    public var limit = 200_000
    public private(set) var dropped = 0

    /// What to poll: every handle, and the trace socket.
    public var descriptors: [Int32] { handles.map(\.fd) + (tracer.map { [$0.fd] } ?? []) }

    /// Reads the descriptors that poll said are ready.
    public func service(_ ready: [Int32]) {
        for h in handles where ready.contains(h.fd) { h.drain(into: &packets, limit: limit, dropped: &dropped) }
        if let t = tracer, ready.contains(t.fd) { t.drain() }
    }

    /// Everything captured so far (and what is still queued), in time order.
    public func collect() -> [CapturedPacket] {
        for h in handles { h.drain(into: &packets, limit: limit, dropped: &dropped) }
        tracer?.drain()
        return packets.sorted { $0.wallNanos < $1.wallNanos }
    }

    /// Reads every handle until `seconds` have passed (or `stop` says so).
    public func run(seconds: Double, stop: () -> Bool = { false }) -> [CapturedPacket] {
        let fds = descriptors
        let end = MonotonicClock.now() &+ UInt64(seconds * 1e9)
        while MonotonicClock.now() < end && !stop() {
            let left = Int32(min(100, (end &- MonotonicClock.now()) / 1_000_000))
            service((try? Sys.poll(fds, timeoutMillis: max(1, left))) ?? [])
        }
        return collect()
    }

    /// The host's interfaces with an IPv4 address, but for lo and `except`: where a
    /// packet from outside arrives.
    public static func hostInterfaces(except: Set<String>) -> [String] {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0 else { return [] }
        defer { freeifaddrs(list) }
        var names: [String] = []
        var p = list
        while let a = p {
            if let sa = a.pointee.ifa_addr, sa.pointee.sa_family == sa_family_t(AF_INET), let n = a.pointee.ifa_name {
                let name = String(cString: n)
                if name != "lo", !except.contains(name), !names.contains(name) { names.append(name) }
            }
            p = a.pointee.ifa_next
        }
        return names
    }
}
