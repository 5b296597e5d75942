// vitro trace net: the packet path of a running container, captured (chapter 05).
//
// libpcap listens on each hop of the path a published port's packets take: the host's
// interfaces (where a packet from outside arrives), lo (127.0.0.1 and the userland
// proxy), the bridge, the container's host veth, and eth0 inside the container's
// network namespace, while nf_tables traces the container's packets through vitro's
// rules (VitroCapture: ContainerCapture, NftTracer). After
// --duration seconds the captures are merged into `packet` events (PacketMerge: one
// packet's hops share its IPv4 id, length and TCP sequence numbers, whatever NAT did
// to its addresses) and written as a trace (`trace replay`, `trace export` read it)
// and as pcapng, one interface block per (netns, interface).

import VitroCommandLine
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
        commandName: "net", abstract: "Capture a running container's packet path (host, lo, bridge, veth, eth0) with nftables trace events, as packet events and pcapng.")

    @OptionGroup var global: GlobalOptions
    @Option("--duration", help: "Seconds to capture.") var duration: Double = 10
    @Option("-o", "--output", help: "The pcapng file (default: net-ID.pcapng).") var output: String?
    @Option("--trace", help: "The trace file of packet events (default: the pcapng's name with .jsonl).") var trace: String?
    @Option("--host-interface", help: "A host interface to capture on (default: each with an IPv4 address; lo is always captured).") var hostInterface: [String] = []
    @Argument("container", help: "The container's name or id (or a unique prefix of it).") var container: String

    func run() throws {
        guard duration > 0, duration <= 3600 else { fail("trace net: --duration \(duration): give 0 to 3600 seconds", code: 1) }
        let store = ContainerStore(root: global.stateRoot)
        let record: ContainerRecord
        do { record = try store.find(container) } catch { fail(error.message, code: 1) }
        let name = record.config.name
        guard store.liveStatus(record) == .running, record.state.pid > 0 else { fail("trace net \(name): the container is not running", code: 1) }
        let pcapPath = output ?? "net-\(record.id.prefix(12)).pcapng"
        let tracePath = trace ?? (pcapPath.hasSuffix(".pcapng") ? String(pcapPath.dropLast(7)) : pcapPath) + ".jsonl"
        // Ctrl-C (or a TERM) ends the capture early rather than the process: the trace
        // chains must go and what was seen is still written.
        let signals = try? Sys.signalDescriptor([SIGINT, SIGTERM])
        let session: ContainerCapture
        do {
            guard let s = try PacketTrace.start(id: record.id, name: name, pid: record.state.pid, stateRoot: global.stateRoot, hostInterfaces: hostInterface) else {
                fail("trace net \(name): the container has no address on a bridge (--net bridge)", code: 1)
            }
            session = s
        } catch {
            fail("trace net \(name): \(error)")
        }
        if let note = session.traceNote { writeStderr("vitro: warning: \(note); rules are named from the published ports\n") }
        writeStderr("capturing on \(session.hops.map { "\($0.netns)/\($0.interface)" }.joined(separator: ", ")) for \(duration)s\n")

        let mono = MonotonicClock.now()
        let wall = UInt64(MonotonicClock.wallSeconds() * 1e9)
        _ = session.capture.run(seconds: duration, stop: { signals.flatMap { Sys.readSignal($0) } != nil })
        let events = PacketTrace.traceEvents(session.finish(), pid: record.state.pid, mono: mono, wall: wall)

        let fd: Int32
        do { fd = try Sys.open(tracePath, flags: O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode: 0o644, trace: false) } catch { fail("write \(tracePath): \(error)") }
        let sink = JSONLinesSink(fd: fd, epochNanos: mono, buffered: true)
        sink.writeHeader(argv: CommandLine.arguments, extra: ["container": .string(record.id), "root": .string(global.stateRoot.path)])
        for (i, e) in events.enumerated() {
            var e = e
            e.seq = UInt64(i + 1)
            sink.receive(e)
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
        let named = events.filter { $0.args["rule_source"]?.text == "nftrace" }.count
        print("\(count) packets, \(events.count) hops seen, \(named) rules named by the kernel's trace; trace \(tracePath), pcapng \(pcapPath) (\(p.interfaces.count) interfaces)")
    }
}
