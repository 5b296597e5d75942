// Traces for the replay tests: the golden traces in Traces/, and small synthetic ones.
//
// The packet events here are synthetic: the packet-path capture that makes real ones
// (issue #5, `vitro trace net`) is not built yet, so these follow the vocabulary
// Sources/VitroReplay/PacketPath.swift documents: one TCP connection from "the outside"
// (10.201.1.2) to a published port 8080 on the host (10.201.1.1), DNAT'ed to the
// container's 10.203.0.2:80, and the reply SNAT'ed back.

import Foundation

@testable import VitroReplay
@testable import VitroTrace

enum ReplayFixtures {
    static let traces = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Traces")

    static let goldenNames = ["00-tour.jsonl", "03-namespaces.jsonl", "04-cgroups.jsonl", "05-network.jsonl"]

    static func goldenText(_ name: String) throws -> String {
        try String(contentsOf: traces.appendingPathComponent(name), encoding: .utf8)
    }

    static func golden(_ name: String) throws -> Trace {
        try TraceReader.read(Array(goldenText(name).utf8))
    }

    static func read(_ text: String) throws -> Trace { try TraceReader.read(Array(text.utf8)) }

    static func packet(
        _ seq: UInt64, ts: UInt64, packet: Int, hop: Int, netns: String, interface: String, direction: String, src: String, dst: String,
        natSrc: String? = nil, natDst: String? = nil, rule: String? = nil, flags: String = "SYN"
    ) -> TraceEvent {
        var args: Args = [
            "hop": .int(Int64(hop)), "packet": .int(Int64(packet)), "netns": .string(netns), "interface": .string(interface),
            "direction": .string(direction), "proto": .string("tcp"), "src": .string(src), "dst": .string(dst),
        ]
        if let natSrc { args.append("nat_src", .string(natSrc)) }
        if let natDst { args.append("nat_dst", .string(natDst)) }
        if let rule { args.append("rule", .string(rule)) }
        args.append("tcp_flags", .string(flags))
        return TraceEvent(
            seq: seq, tsNanos: ts, phase: .instant, name: "packet", group: .packet, stage: .network, pid: 100, tid: 100, args: args,
            why: "a packet seen on its way")
    }

    static let dnatRule = "ip vitro ports: tcp dport 8080 dnat to 10.203.0.2:80"

    /// A network stage with a bridge and a veth, then the SYN's four hops in and the
    /// SYN-ACK's four hops out.
    static func packetTrace() -> Trace {
        var events: [TraceEvent] = [
            TraceEvent(seq: 1, tsNanos: 1000, phase: .begin, name: "network", group: .stage, stage: .network, pid: 100, tid: 100, args: ["title": .string("wire the network")]),
            TraceEvent(
                seq: 2, tsNanos: 2000, durNanos: 500, phase: .complete, name: "RTM_NEWLINK", group: .netlink, stage: .network, pid: 100, tid: 100,
                args: ["ifname": .string("vgold0"), "kind": .string("bridge"), "flags": .flags("IFF_UP")], ret: 0, shell: "ip link add vgold0 up type bridge"),
            TraceEvent(
                seq: 3, tsNanos: 3000, durNanos: 500, phase: .complete, name: "RTM_NEWLINK", group: .netlink, stage: .network, pid: 100, tid: 100,
                args: ["ifname": .string("vx0123456789ab"), "kind": .string("veth"), "master": .string("vgold0"), "peer": .string("eth0"), "peer_netns": .string("300"), "flags": .flags("IFF_UP")],
                ret: 0, shell: "ip link add vx0123456789ab master vgold0 up type veth peer name eth0 netns 300"),
        ]
        let outside = "10.201.1.2:40000", published = "10.201.1.1:8080", container = "10.203.0.2:80"
        events += [
            packet(4, ts: 10_000, packet: 1, hop: 1, netns: "host", interface: "vth0", direction: "in", src: outside, dst: published, natDst: container, rule: dnatRule),
            packet(5, ts: 11_000, packet: 1, hop: 2, netns: "host", interface: "vgold0", direction: "out", src: outside, dst: container),
            packet(6, ts: 12_000, packet: 1, hop: 3, netns: "host", interface: "vx0123456789ab", direction: "out", src: outside, dst: container),
            packet(7, ts: 13_000, packet: 1, hop: 4, netns: "container", interface: "eth0", direction: "in", src: outside, dst: container),
            packet(8, ts: 20_000, packet: 2, hop: 1, netns: "container", interface: "eth0", direction: "out", src: container, dst: outside, flags: "SYN|ACK"),
            packet(9, ts: 21_000, packet: 2, hop: 2, netns: "host", interface: "vx0123456789ab", direction: "in", src: container, dst: outside, flags: "SYN|ACK"),
            packet(10, ts: 22_000, packet: 2, hop: 3, netns: "host", interface: "vgold0", direction: "in", src: container, dst: outside, flags: "SYN|ACK"),
            packet(11, ts: 23_000, packet: 2, hop: 4, netns: "host", interface: "vth0", direction: "out", src: container, dst: outside, natSrc: published, rule: "conntrack: reply of the DNAT'ed connection", flags: "SYN|ACK"),
            TraceEvent(seq: 12, tsNanos: 30_000, phase: .end, name: "network", group: .stage, stage: .network, pid: 100, tid: 100),
        ]
        let header = TraceEvent(
            seq: 0, tsNanos: 0, phase: .metadata, name: "trace", group: .stage, stage: .none, pid: 100, tid: 100,
            args: ["schema": .int(1), "argv": .list(["/bin/nc", "-l", "-p", "80"]), "wall_clock_start": .string("1700000000.000000"), "container": .string("0123456789ab" + String(repeating: "f", count: 52))])
        return Trace(header: header, events: events)
    }

    /// The JSON Lines text of a trace.
    static func text(_ t: Trace) -> String {
        t.allEvents.map { $0.jsonLine(epochNanos: 0) + "\n" }.joined()
    }

    /// `n` events made of the golden tour's, renumbered, 1.5 us apart.
    static func big(_ n: Int) throws -> String {
        let tour = try golden("00-tour.jsonl")
        var out = (tour.header?.jsonLine(epochNanos: 0) ?? "") + "\n"
        out.reserveCapacity(n * 320)
        var seq: UInt64 = 1
        while seq <= UInt64(n) {
            for var e in tour.events where seq <= UInt64(n) {
                e.seq = seq
                e.tsNanos = seq * 1500
                out += e.jsonLine(epochNanos: 0)
                out += "\n"
                seq += 1
            }
        }
        return out
    }
}
