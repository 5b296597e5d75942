// PacketMerge: captures of one packet at several hops become its hops, in path order,
// with NAT's rewrite at the hop where it happened.

import Testing
import VitroCapture
import VitroTrace

@Suite struct PacketMergeTests {
    /// A 40-byte IPv4/TCP packet.
    static func tcp(_ src: [UInt8], _ sport: UInt16, _ dst: [UInt8], _ dport: UInt16, id: UInt16 = 0x1234, seq: UInt32 = 7, flags: UInt8 = 0x02) -> [UInt8] {
        var b: [UInt8] = [0x45, 0, 0, 40, UInt8(id >> 8), UInt8(id & 0xff), 0x40, 0, 64, 6, 0, 0] + src + dst
        b += [UInt8(sport >> 8), UInt8(sport & 0xff), UInt8(dport >> 8), UInt8(dport & 0xff)]
        b += [UInt8(seq >> 24), UInt8(seq >> 16 & 0xff), UInt8(seq >> 8 & 0xff), UInt8(seq & 0xff), 0, 0, 0, 0, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0]
        return b
    }

    static let host = CaptureHop(kind: "host", netns: "host", interface: "eth9")
    static let bridge = CaptureHop(kind: "bridge", netns: "host", interface: "vitro0")
    static let veth = CaptureHop(kind: "veth", netns: "host", interface: "vx0123")
    static let eth0 = CaptureHop(kind: "container", netns: "web", interface: "eth0")
    static let rule = DNATRule(proto: "tcp", hostPort: 8080, containerPort: 80, text: "ip vitro ports: tcp dport 8080 dnat to 10.88.0.2:80")

    @Test func hopsOfOnePacketInPathOrderWithTheDNATAtTheFirst() {
        let outside: [UInt8] = [192, 0, 2, 9], hostIP: [UInt8] = [192, 0, 2, 1], ctr: [UInt8] = [10, 88, 0, 2]
        let before = Self.tcp(outside, 5000, hostIP, 8080), after = Self.tcp(outside, 5000, ctr, 80)
        // Same time on every hop: the path order decides; an unrelated packet is left out.
        let captured = [
            CapturedPacket(hop: Self.eth0, direction: "in", wallNanos: 100, data: after),
            CapturedPacket(hop: Self.bridge, direction: "out", wallNanos: 100, data: after),
            CapturedPacket(hop: Self.host, direction: "in", wallNanos: 100, data: before),
            CapturedPacket(hop: Self.veth, direction: "out", wallNanos: 100, data: after),
            CapturedPacket(hop: Self.host, direction: "in", wallNanos: 150, data: Self.tcp(outside, 22, hostIP, 22, id: 9)),
        ]
        let events = PacketMerge.events(captured, container: "10.88.0.2", rules: [Self.rule])
        #expect(events.map { $0.args["interface"]?.text } == ["eth9", "vitro0", "vx0123", "eth0"])
        #expect(events.map { $0.args["hop"]?.text } == ["1", "2", "3", "4"])
        #expect(events[0].args["dst"]?.text == "192.0.2.1:8080")
        #expect(events[0].args["nat_dst"]?.text == "10.88.0.2:80")
        #expect(events[0].args["rule"]?.text == Self.rule.text)
        #expect(events[0].args["tcp_flags"]?.text == "SYN")
        #expect(events.dropFirst().allSatisfy { $0.args["nat_dst"] == nil && $0.args["dst"]?.text == "10.88.0.2:80" })
        #expect(events[3].args["data"]?.text.count == 80)
    }

    @Test func aReplyIsOrderedFromTheContainerOutAndUndoesTheDNAT() {
        let outside: [UInt8] = [192, 0, 2, 9], hostIP: [UInt8] = [192, 0, 2, 1], ctr: [UInt8] = [10, 88, 0, 2]
        let inside = Self.tcp(ctr, 80, outside, 5000, seq: 99, flags: 0x12), out = Self.tcp(hostIP, 8080, outside, 5000, seq: 99, flags: 0x12)
        let captured = [
            CapturedPacket(hop: Self.host, direction: "out", wallNanos: 10, data: out),
            CapturedPacket(hop: Self.bridge, direction: "in", wallNanos: 10, data: inside),
            CapturedPacket(hop: Self.eth0, direction: "out", wallNanos: 10, data: inside),
            CapturedPacket(hop: Self.veth, direction: "in", wallNanos: 10, data: inside),
        ]
        let events = PacketMerge.events(captured, container: "10.88.0.2", rules: [Self.rule])
        #expect(events.map { $0.args["kind"]?.text } == ["container", "veth", "bridge", "host"])
        #expect(events[2].args["nat_src"]?.text == "192.0.2.1:8080")
        #expect(events[2].args["rule"]?.text == "conntrack, the reply of: " + Self.rule.text)
        #expect(events[0].args["tcp_flags"]?.text == "SYN|ACK")
    }

    @Test func capturesFarApartInTimeAreTwoPackets() {
        let p = Self.tcp([10, 88, 0, 2], 1, [10, 88, 0, 1], 2)
        let captured = [
            CapturedPacket(hop: Self.eth0, direction: "out", wallNanos: 0, data: p),
            CapturedPacket(hop: Self.eth0, direction: "out", wallNanos: 1_000_000_000, data: p),
        ]
        let events = PacketMerge.events(captured, container: "10.88.0.2", rules: [])
        #expect(events.map { $0.args["packet"]?.text } == ["1", "2"])
        #expect(IPv4Fields([1, 2, 3]) == nil)
    }
}
