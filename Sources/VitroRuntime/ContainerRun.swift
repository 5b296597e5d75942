// Chapter 08: `vitro run`, the one composer of the stages.
//
//   rootfs      check the root filesystem (or make the built-in busybox one)
//   volumes     (only with mounts) make the volumes, record them, plan pid 1's mounts
//   namespaces  spawn vitro-init, which unshares, forks pid 1 and builds the root
//   cgroups     while pid 1 waits at `ready`: create its cgroup, write the limits,
//               hand pid 1 the files to move itself in (on v2 this stage comes before
//               namespaces, and pid 1 is forked into the cgroup)
//   exec        tell pid 1 to exec the command; wait for it; report its exit status
//
//   network     still at `ready`: bridge, veth, address, NAT, published ports
//
// Later chapters put pull and unpack before namespaces. The same code runs `learn run`: an observer is called between
// stages and may pause there.
//
// vitro is a child subreaper while a container runs: vitro-init's stage A exits once it
// has forked pid 1, and the kernel then hands pid 1 to vitro, which waits for it.
// Signals (INT, TERM, HUP, QUIT, USR1, USR2) are read from a signalfd and forwarded to
// pid 1, as `docker run` does. With -t, SIGWINCH is read too and becomes a resize of
// the container's pty (ContainerRun+Terminal.swift).

import VitroCgroups
import VitroExec
import VitroLayers
import VitroImage
import VitroNamespaces
import VitroNetwork
import VitroSys
import VitroTrace
import VitroVolumes

#if canImport(Glibc)
import Glibc
#endif

/// A descriptor in `ContainerRun.watchers`.
public struct LoopWatcher {
    /// What to wait for now (nothing leaves the descriptor out of this poll).
    public var interest: () -> PollEvents
    /// Called with what the descriptor is ready for.
    public var ready: (PollEvents) -> Void
    public init(interest: @escaping () -> PollEvents, ready: @escaping (PollEvents) -> Void) {
        self.interest = interest
        self.ready = ready
    }
}

public final class ContainerRun {
    public let options: RunOptions
    public weak var observer: (any PipelineObserver)?
    /// Every event of the run, when an observer wants them (learn run, tests).
    public let memory = MemorySink()
    var context: StageContext
    var traceSink: JSONLinesSink?
    var traceFD: Int32 = -1
    /// The file in the state root's traces directory this run writes (nil with --trace FILE).
    public internal(set) var tracePath: String?
    var cgroup: (any CgroupDriver)?
    var cgroupLock: FileLock?
    /// The cgroup was made while vitro-init built the namespaces and its join files are
    /// on their way to pid 1 (ContainerRun+Cgroups.swift).
    var cgroupFilesSent = false
    var tracesPruned = false
    var detectedLayout: CgroupLayout?
    /// Extra descriptors to read while the container runs (a monitor's log pipes): each
    /// chunk read goes to its handler; end of file removes the descriptor.
    public var pumps: [Int32: ([UInt8]) -> Void] = [:]
    /// Descriptors the poll loop watches for another part of vitro (a monitor's attach
    /// socket and its clients, the container's stdin): before each poll the watcher says
    /// what to wait for, and it is called with what poll found. A descriptor may be in
    /// `pumps` too (a pty master read by its pump and written by a watcher).
    public var watchers: [Int32: LoopWatcher] = [:]
    /// While it returns true, the loop leaves `pumps` unread (an attach client is behind:
    /// the container's output waits in its pipes).
    public var holdPumps: (() -> Bool)?
    /// Called with the pty master of a `-t` run once pid 1 has sent it.
    public var onTerminal: ((Int32) -> Void)?
    /// Where a `-t` container's terminal output goes (vitro's stdout when nil; a
    /// monitor's log).
    public var terminalOutput: (([UInt8]) -> Void)?
    /// The pty of a `-t` run, once pid 1 has sent its master.
    var terminal: TerminalSession?
    /// Receives pull progress when the image has to be pulled (the CLI's progress bars).
    public var pullObserver: (any PullObserver)?
    /// The image's config, once resolved; the overlay mount data for pid 1.
    var imageConfig: ImageConfig?
    /// The image's id, once resolved (the container's record keeps it).
    public internal(set) var imageID: Digest?
    /// What the container exposes, as Docker's Config.ExposedPorts: the image's EXPOSE,
    /// --expose and the container side of -p ("5432/tcp"), sorted.
    public var exposedPorts: [String] {
        var all = Set(imageConfig?.exposedPorts ?? [])
        for e in options.network.exposed { all.insert(e) }
        for p in options.network.ports { all.insert("\(p.containerPort)/\(p.proto.rawValue)") }
        return all.sorted()
    }
    var overlayData = ""
    /// Called with the command, environment and directory the container will really
    /// run (the image's config applied), before it starts.
    public var onResolved: (([String], [String], String) -> Void)?
    /// Called once the command has been exec'd, with pid 1's host pid.
    public var onStarted: ((Int32) -> Void)?
    /// Called once the container's process has ended, before its network is released
    /// and while its trace is open (`run --trace-packets` writes its packets there).
    public var onExited: (() -> Void)?
    /// Called with the container's mount points once the volumes stage has made them,
    /// holding the volumes lock (the record keeps them, and so marks its volumes in use).
    public var onMounts: (([MountPoint]) throws -> Void)?
    /// What pid 1 mounts inside the root (chapter 06), from the volumes stage.
    var mountPlan = MountPlan()
    /// The network stage's state, for the release after the container ends.
    var proxy: PortProxy?
    var ipamAllocated = false
    /// Handles of the container's DNAT rules in `ip vitro ports`.
    var natHandles: [String] = []
    /// The netfilter socket the rules went in by, kept for their deletion (see
    /// NatSocket for how it is closed).
    var natSocket: NatSocket?
    var containerDirectoryMade = false
    /// Whether the kernel's OOM killer killed a process of the container.
    public internal(set) var oomKilled = false

    static let forwarded: [Int32] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2]

    public init(options: RunOptions, observer: (any PipelineObserver)? = nil) {
        self.options = options
        self.observer = observer
        let id = options.containerID ?? ContainerID.make()
        context = StageContext(containerID: id, rootfs: options.rootfs ?? "", argv: options.argv)
    }

    public var containerID: String { context.containerID }

    /// Runs the container to its end. Returns the exit code to report (the command's, or
    /// 128+N when a signal N killed it). Throws RunError when the command never started.
    public func run() throws(RunError) -> Int32 {
        let start = MonotonicClock.now()
        setUpTrace(epoch: start)
        defer { finishTrace() }
        do {
            // exec joins a container whose root is already built.
            guard options.join == nil else { return try launch(rootfs: "") }
            let rootfs = try stageRootfs()
            try stageVolumes()
            return try launch(rootfs: rootfs)
        } catch let e as RunError {
            throw e
        } catch {
            throw RunError(String(describing: error))
        }
    }

    // MARK: trace

    func setUpTrace(epoch: UInt64) {
        let tracer = Tracer.shared
        tracer.enabled = !options.traceOff
        if options.tracedByCaller { return }
        if observer != nil { tracer.addSink(memory) }
        if options.narrate { tracer.addSink(NarratedSink(fd: options.narrateFD, explain: options.explain)) }
        guard !options.traceOff else { return }
        let fd: Int32
        if let f = options.traceFile {
            guard let opened = try? Sys.open(f, flags: O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode: 0o600, trace: false) else { return }
            fd = opened
        } else {
            // One file per run, kept with the container's other runs (TraceStore.swift).
            let kind = options.join == nil ? "run" : "exec"
            guard let made = try? TraceStore(root: options.stateRoot).create(kind: kind, container: context.containerID) else { return }
            fd = made.fd
            tracePath = made.path
        }
        traceFD = fd
        let sink = JSONLinesSink(fd: fd, epochNanos: epoch, buffered: true)
        sink.writeHeader(argv: options.argv, extra: ["container": .string(context.containerID), "root": .string(options.stateRoot.path)])
        tracer.addSink(sink)
        traceSink = sink
    }

    func finishTrace() {
        if options.tracedByCaller { return Tracer.shared.flush() }
        Tracer.shared.flush()
        Tracer.shared.removeAllSinks()
        if traceFD >= 0 { Sys.close(traceFD) }
        traceFD = -1
        pruneKeptTraces()
    }

    /// The trace store's bound (the newest 100 traces, 256 MiB), applied once per run
    /// while vitro would only wait (a listing of every kept trace: a few tenths of a
    /// millisecond here): on v1, once the cgroup's files are with pid 1 and it is still
    /// mounting its root; otherwise as soon as the container's command runs; or at the
    /// end of a run that never got so far. Not part of this run's story, so not in its
    /// trace.
    func pruneKeptTraces() {
        guard !tracesPruned, !options.tracedByCaller, options.traceFile == nil, let tracePath else { return }
        tracesPruned = true
        let tracer = Tracer.shared
        let enabled = tracer.enabled
        tracer.enabled = false
        defer { tracer.enabled = enabled }
        TraceStore(root: options.stateRoot).prune(spare: String(tracePath.split(separator: "/").last ?? ""))
    }

    /// Keeps the newest `keep` run traces in `dir` (and at most TraceStore's byte limit).
    static func pruneTraces(_ dir: String, keep: Int = TraceStore.defaultKeep) {
        TraceStore(directory: dir).prune(keep: keep)
    }

    func begin(_ stage: Stage, file: StaticString = #fileID, line: UInt = #line) throws {
        try observer?.willBegin(stage, context)
        Tracer.shared.beginStage(stage, file: file, line: line)
    }

    func end(_ stage: Stage, error: String? = nil, file: StaticString = #fileID, line: UInt = #line) {
        Tracer.shared.endStage(stage, error: error, file: file, line: line)
        observer?.didEnd(stage, context, events: memory.events.filter { $0.stage == stage })
    }

    // MARK: stage: rootfs

    func stageRootfs() throws -> String {
        // An image from the store (or a registry) has stages of its own: pull, unpack.
        if options.rootfs == nil, let image = options.image, image != BuiltinImage.name {
            let merged = try stageImage(image)
            context.rootfs = merged
            return merged
        }
        try begin(.rootfs)
        do {
            let rootfs: String
            if let given = options.rootfs {
                rootfs = ContainerRun.absolute(given)
                try RootfsPlan.validate(rootfs)
            } else {
                rootfs = try BuiltinImage.busyboxRootfs(stateRoot: options.stateRoot.path)
                try RootfsPlan.validate(rootfs)
            }
            Tracer.shared.note("rootfs", args: ["path": .string(rootfs)], why: "this directory becomes the container's /")
            context.rootfs = rootfs
            end(.rootfs)
            return rootfs
        } catch let e as RunError {
            throw e
        } catch {
            end(.rootfs, error: String(describing: error))
            throw RunError(String(describing: error))
        }
    }

    static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        var buf = [CChar](repeating: 0, count: 4096)
        guard getcwd(&buf, buf.count) != nil else { return path }
        let cwd = String(decoding: buf.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return (cwd == "/" ? "" : cwd) + "/" + (path.hasPrefix("./") ? String(path.dropFirst(2)) : path)
    }
}
