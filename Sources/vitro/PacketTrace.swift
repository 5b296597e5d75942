// The packet capture of a container (chapter 05), as `trace net` and `run
// --trace-packets` start it and turn it into `packet` events: the container's place on
// its bridge comes from IPAM (its address, bridge, host veth and published ports), the
// capture itself from VitroCapture.

import VitroCapture
import VitroNetwork
import VitroRuntime
import VitroSys
import VitroTrace

enum PacketTrace {
    /// A capture on every hop of container `id`'s path; nil when it has no address on a
    /// bridge.
    static func start(id: String, name: String, pid: Int32, stateRoot: StateRoot, hostInterfaces: [String] = []) throws -> ContainerCapture? {
        let ipam = IPAMStore(directory: stateRoot.network).read()
        guard let entry = ipam.entries.first(where: { $0.id == id }) else { return nil }
        let ports = entry.ports.map {
            CapturePort(proto: $0.proto.rawValue, hostIP: $0.hostIP.description, hostPort: $0.hostPort, containerPort: $0.containerPort)
        }
        return try ContainerCapture(
            name: name, pid: pid, address: entry.address.description, bridge: entry.bridge, veth: entry.veth, ports: ports, hostInterfaces: hostInterfaces)
    }

    /// The merged events as trace events, on the trace's monotonic clock (`mono` and
    /// `wall` are one moment on both clocks).
    static func traceEvents(_ merged: [(wallNanos: UInt64, args: Args)], pid: Int32, mono: UInt64, wall: UInt64) -> [TraceEvent] {
        merged.map { e in
            let ts = e.wallNanos >= wall ? mono &+ (e.wallNanos - wall) : mono &- min(mono, wall - e.wallNanos)
            let why = e.args["rule_source"]?.text == "nftrace"
                ? "libpcap saw this packet at this hop; nf_tables' trace named the rule that rewrote it"
                : "libpcap saw this packet at this hop of the container's path"
            return TraceEvent(
                seq: 0, tsNanos: ts, phase: .instant, name: "packet", group: .packet, stage: .network, pid: pid, tid: pid, args: e.args, why: why)
        }
    }
}

/// `run --trace-packets`: a capture that lives as long as the container (with -d, in
/// its monitor, for each run of it). It
/// starts once the command runs (the network is there), reads its handles in the run's
/// own poll loop (`ContainerRun.watchers`), and when the container ends writes its
/// packet events into the run's trace, which `trace export --format pcapng` turns into
/// pcapng.
final class PacketRunCapture {
    let stateRoot: StateRoot
    var session: ContainerCapture?
    var pid: Int32 = 0
    var mono: UInt64 = 0
    var wall: UInt64 = 0

    init(stateRoot: StateRoot) { self.stateRoot = stateRoot }

    func attach(_ run: ContainerRun) {
        let started = run.onStarted
        run.onStarted = { [weak run, unowned self] pid in
            started?(pid)
            guard let run else { return }
            self.begin(run, pid: pid)
        }
        run.onExited = { [unowned self] in self.end() }
    }

    func begin(_ run: ContainerRun, pid: Int32) {
        self.pid = pid
        do {
            let name = (try? ContainerStore(root: stateRoot).find(run.containerID))?.config.name ?? String(run.containerID.prefix(12))
            guard let s = try PacketTrace.start(id: run.containerID, name: name, pid: pid, stateRoot: stateRoot) else {
                writeStderr("vitro: warning: --trace-packets: the container has no address on a bridge; nothing captured\n")
                return
            }
            session = s
        } catch {
            writeStderr("vitro: warning: --trace-packets: \(error)\n")
            return
        }
        guard let s = session else { return }
        if let note = s.traceNote { writeStderr("vitro: warning: --trace-packets: \(note); rules are named from the published ports\n") }
        mono = MonotonicClock.now()
        wall = UInt64(MonotonicClock.wallSeconds() * 1e9)
        Tracer.shared.note(
            "capture", group: .packet,
            args: ["hops": .list(s.hops.map { "\($0.netns)/\($0.interface)" }), "nftrace": .bool(s.capture.tracer != nil)],
            why: "--trace-packets: libpcap on every hop of the container's path and nf_tables' trace of its packets, until it ends")
        for fd in s.capture.descriptors {
            run.watchers[fd] = LoopWatcher(interest: { .readable }, ready: { [weak s] _ in s?.capture.service([fd]) })
        }
    }

    func end() {
        guard let s = session else { return }
        session = nil
        for e in PacketTrace.traceEvents(s.finish(), pid: pid, mono: mono, wall: wall) { Tracer.shared.emit(e) }
        let lost = s.capture.dropped, traceLost = (s.capture.tracer?.dropped ?? 0) + (s.capture.tracer?.overflows ?? 0)
        if lost > 0 || traceLost > 0 {
            Tracer.shared.note(
                "capture", group: .packet, args: ["packets_not_kept": .int(Int64(lost)), "trace_messages_lost": .int(Int64(traceLost))],
                why: "the capture keeps at most \(s.capture.limit) packets, and the kernel drops trace messages when the socket's queue is full")
        }
    }

    func remove() { session?.remove() }
}
