// vitro trace net: the packet path of a running container, captured (chapter 05).
//
// libpcap listens on each hop of the path a published port's packets take: the host's
// interfaces (where a packet from outside arrives), the bridge, the container's host
// veth, and eth0 inside the container's network namespace (VitroCapture). After
// --duration seconds the captures are merged into `packet` events (PacketMerge: one
// packet's hops share its IPv4 id, length and TCP sequence numbers, whatever NAT did
// to its addresses) and written as a trace (`trace replay`, `trace export` read it)
// and as pcapng, one interface block per (netns, interface).

import ArgumentParser
import VitroCapture
import VitroNetwork
import VitroReplay
import VitroRuntime
import VitroSys
import VitroTrace

#if canImport(Glibc)
import Glibc
#endif

struct TraceNetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "net", abstract: "Capture a running container's packet path (host, bridge, veth, eth0) as packet events and pcapng.")

    @OptionGroup var global: GlobalOptions
    @Option(name: .long, help: "Seconds to capture.") var duration: Double = 10
    @Option(name: [.customShort("o"), .long], help: "The pcapng file (default: net-ID.pcapng).") var output: String?
    @Option(name: .long, help: "The trace file of packet events (default: the pcapng's name with .jsonl).") var trace: String?
    @Option(name: .long, help: "A host interface to capture on (default: each with an IPv4 address but lo).") var hostInterface: [String] = []
    @Argument(help: "The container's name or id (or a unique prefix of it).") var container: String

    func run() throws {
        guard duration > 0, duration <= 3600 else { fail("trace net: --duration \(duration): give 0 to 3600 seconds", code: 1) }
        let store = ContainerStore(root: global.stateRoot)
        let record: ContainerRecord
        do { record = try store.find(container) } catch { fail(error.message, code: 1) }
        let name = record.config.name
        guard store.liveStatus(record) == .running, record.state.pid > 0 else { fail("trace net \(name): the container is not running", code: 1) }
        let ipam = IPAMStore(directory: global.stateRoot.path + "/network").read()
        guard let entry = ipam.entries.first(where: { $0.id == record.id }) else {
            fail("trace net \(name): the container has no address on a bridge (--net bridge)", code: 1)
        }
        let pcapPath = output ?? "net-\(record.id.prefix(12)).pcapng"
        let tracePath = trace ?? (pcapPath.hasSuffix(".pcapng") ? String(pcapPath.dropLast(7)) : pcapPath) + ".jsonl"
        let rules = entry.ports.filter { $0.hostIP.value >> 24 != 127 }.map { p in
            let daddr = p.hostIP == .any ? "" : "ip daddr \(p.hostIP) "
            return DNATRule(
                proto: p.proto.rawValue, hostPort: p.hostPort, containerPort: p.containerPort,
                text: "ip vitro ports: \(daddr)\(p.proto.rawValue) dport \(p.hostPort) dnat to \(entry.address):\(p.containerPort)")
        }

        let capture = PacketCapture()
        let hostIfs = hostInterface.isEmpty ? PacketCapture.hostInterfaces(except: [entry.bridge, entry.veth]) : hostInterface
        var hops = hostIfs.map { CaptureHop(kind: "host", netns: "host", interface: $0) }
        hops += [CaptureHop(kind: "bridge", netns: "host", interface: entry.bridge), CaptureHop(kind: "veth", netns: "host", interface: entry.veth)]
        let inside = CaptureHop(kind: "container", netns: name, interface: "eth0")
        do {
            for h in hops { try capture.add(h) }
            try capture.add(inside, netnsPath: "/proc/\(record.state.pid)/ns/net")
        } catch {
            fail("trace net \(name): \(error)")
        }
        hops.append(inside)
        writeStderr("capturing on \(hops.map { "\($0.netns)/\($0.interface)" }.joined(separator: ", ")) for \(duration)s\n")

        let mono = MonotonicClock.now()
        let wall = UInt64(MonotonicClock.wallSeconds() * 1e9)
        let packets = capture.run(seconds: duration)
        let events = PacketMerge.events(packets, container: entry.address.description, rules: rules)

        let fd: Int32
        do { fd = try Sys.open(tracePath, flags: O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode: 0o644, trace: false) } catch { fail("write \(tracePath): \(error)") }
        let sink = JSONLinesSink(fd: fd, epochNanos: mono, buffered: true)
        sink.writeHeader(argv: CommandLine.arguments, extra: ["container": .string(record.id), "root": .string(global.stateRoot.path)])
        for (i, e) in events.enumerated() {
            // The capture's wall-clock time on the trace's monotonic clock.
            let ts = e.wallNanos >= wall ? mono &+ (e.wallNanos - wall) : mono &- min(mono, wall - e.wallNanos)
            sink.receive(
                TraceEvent(
                    seq: UInt64(i + 1), tsNanos: ts, phase: .instant, name: "packet", group: .packet, stage: .network,
                    pid: record.state.pid, tid: record.state.pid, args: e.args,
                    why: "libpcap saw this packet at this hop of the container's path"))
        }
        sink.flush()
        Sys.close(fd)

        let bytes: [UInt8]
        do { bytes = try Sys.readFile(tracePath) } catch { fail("read \(tracePath): \(error)") }
        let t: Trace
        do { t = try TraceReader.read(bytes) } catch { fail("trace \(tracePath): \(error)") }
        let p = PcapngExport(t)
        TraceInput.output(p.bytes, to: pcapPath)
        let count = Set(events.compactMap { $0.args["packet"]?.text }).count
        print("\(count) packets, \(events.count) hops seen; trace \(tracePath), pcapng \(pcapPath) (\(p.interfaces.count) interfaces)")
    }
}
