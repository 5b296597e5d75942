// Chapter 08: a container's life around the pipeline. A record is made before the
// first stage; the state follows the run (running with its pid once exec'd, exited with
// its code after). A detached container (`run -d`) gets a monitor: vitro forks itself,
// the child leaves the terminal's session, points its stdio at /dev/null, and runs the
// pipeline with the container's stdout and stderr on pipes that it copies into the
// json-file log; it records the exit and cleans up. The parent waits only until the
// command has been exec'd (or failed), prints the id and returns — there is no daemon.
//
// The monitor also serves `vitro attach` on a unix socket in the container's directory
// (AttachServer.swift): its clients get the container's output as the log does, and
// with -i their input is the container's stdin.
//
// The monitor is vitro forked, not re-executed: the CLI is single-threaded (no
// Dispatch, no async), so fork is safe, and the child already holds the parsed options.

import VitroImage
import VitroLayers
import VitroNamespaces
import VitroNetwork
import VitroSys
import VitroTrace
import VitroVolumes

#if canImport(Glibc)
import Glibc
#endif

public struct LifecycleOptions: Sendable {
    public var name: String?
    public var detach = false
    public var autoRemove = false
    public var image = ""
    /// The `vitro run` arguments, kept in the record for `start`.
    public var runArgs: [String] = []
    /// `start`/`restart`: the container's record exists; run it again under its id.
    public var existing: ContainerConfig?
    /// `--restart`: what the monitor does when the command ends.
    public var restart = RestartPolicy.no
    /// `--log-driver`, `--log-opt`.
    public var logOptions = LogOptions()
    /// `create`: make the record only; what must hold when it runs is checked by `start`.
    public var createOnly = false
    public init() {}
}

public enum ContainerLifecycle {
    /// Makes the record for a run and returns the options with its id set.
    static func prepare(_ run: RunOptions, _ life: LifecycleOptions, store: ContainerStore, rootfs: String) throws -> (RunOptions, ContainerConfig) {
        if let existing = life.existing {
            var options = run
            options.containerID = existing.id
            options.networkPeer = try networkPeer(run, store: store)
            if let peer = options.networkPeer { options.hostname = peer.hostname }
            // The same mounts again: the same anonymous volumes, not new ones.
            options.recordedMounts = store.load(existing.id)?.config.mounts ?? existing.mounts
            try store.update(existing.id) { s in
                s = ContainerState()
            }
            return (options, existing)
        }
        if let given = run.rootfs {
            do { try RootfsPlan.validate(ContainerRun.absolute(given)) } catch { throw RunError(error.message) }
        }
        var options = run
        // Volumes (chapter 06): checked against the host before anything is made.
        do { try MountRequest(specs: run.volumes).check() } catch { throw RunError(error.message) }
        for from in run.volumesFrom {
            let other = try store.find(from.container)
            options.inheritedMounts += MountRequest.inherit(other.config.mounts ?? [], from)
        }
        let id = ContainerID.make()
        options.containerID = id
        if !life.createOnly { options.networkPeer = try networkPeer(run, store: store) }
        if let given = life.name, !ContainerName.isValid(given) {
            throw RunError("invalid container name \"\(given)\": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
        }
        var taken = Set(store.list().map(\.config.name))
        let base = options
        while true {
            var options = base
            let name = life.name ?? ContainerName.generate(taken: taken)
            if !run.links.isEmpty {
                let linked = try ContainerLinks.resolve(
                    run.links, own: name, store: store, ipam: IPAMStore(directory: run.stateRoot.network))
                options.env = linked.env + options.env
                options.network.extraHosts += linked.hosts
            }
            let hostname = options.networkPeer?.hostname ?? run.hostname ?? String(id.prefix(12))
            options.hostname = hostname
            var config = ContainerConfig(
                id: id, name: name, created: WallTime.now(), image: life.image, rootfs: rootfs, argv: run.argv,
                env: options.environment(hostname: hostname), workdir: run.workdir ?? "/", hostname: hostname, detached: life.detach,
                autoRemove: life.autoRemove)
            config.runArgs = life.runArgs
            config.restartPolicy = life.restart.description
            config.logOptions = life.logOptions
            if try store.create(config, generatedName: life.name == nil) { return (options, config) }
            // Another vitro claimed the made-up name since it was picked: pick again.
            taken.insert(name)
        }
    }

    /// `--net container:NAME`: the running container whose network namespace this one
    /// enters. Docker's rule: it must be running, and this container takes its hostname
    /// and its /etc/hosts and /etc/resolv.conf.
    static func networkPeer(_ run: RunOptions, store: ContainerStore) throws(RunError) -> (pid: Int32, directory: String, hostname: String)? {
        guard case .container(let name) = run.network.mode else { return nil }
        let other: ContainerRecord
        do { other = try store.find(name) } catch { throw RunError("--net container:\(name): \(error.message)") }
        guard store.liveStatus(other) == .running else {
            throw RunError("--net container:\(name): cannot join the network of container \(other.config.name): it is not running")
        }
        return (other.state.pid, store.runDir(other.id), other.config.hostname)
    }

    /// The record shows what really runs once the image's config has been applied.
    static func resolved(
        _ store: ContainerStore, _ config: ContainerConfig, argv: [String], env: [String], workdir: String, imageID: Digest? = nil, exposed: [String] = []
    ) {
        let before = store.load(config.id)?.config ?? config
        var c = before
        if let imageID { c.imageID = imageID.description }
        c.exposedPorts = exposed
        c.argv = argv
        c.env = env
        c.workdir = workdir
        // Most runs of a rootfs change nothing here: no rewrite then. Not fsync'ed: the
        // record is made durable once the command has started (ContainerStore.persist),
        // and `start` resolves the image's config again anyway.
        guard c != before else { return }
        try? store.replace(c.id, "config.json", c.json(), autoRemove: c.autoRemove, why: "the image's command, environment and directory are now known")
    }

    /// The record keeps the container's mount points (called holding the volumes lock).
    static func mounted(_ store: ContainerStore, _ config: ContainerConfig, _ points: [MountPoint]) throws {
        var c = store.load(config.id)?.config ?? config
        c.mounts = points
        try store.replace(c.id, "config.json", c.json(), autoRemove: c.autoRemove, why: "the container's mounts: its volumes are in use from now on")
    }

    /// Pulls `image` unless the store has it.
    public static func ensureImage(_ image: String, _ run: RunOptions, observer: (any PullObserver)? = nil) throws(RunError) {
        let store = ImageStore(root: run.stateRoot.path)
        if (try? store.image(image)) != nil { return }
        do {
            let ref = try Reference.parse(image)
            let puller = ImagePuller(store: store, options: run.pull, observer: observer)
            // As `vitro run` does: each layer unpacked as it downloads (chapter 02).
            puller.streaming = LayerStreamUnpacker(snapshots: SnapshotStore(root: run.stateRoot.path))
            _ = try puller.pull(ref)
        } catch {
            throw RunError("pull \(image): \(error)")
        }
    }

    static func started(_ store: ContainerStore, _ id: String, pid: Int32, monitor: Int32) {
        try? store.update(id) { s in
            s.status = .running
            s.pid = pid
            s.pidStartTime = processStartTime(pid) ?? 0
            s.monitorPid = monitor
            s.monitorStartTime = processStartTime(monitor) ?? 0
            s.startedAt = WallTime.now()
        }
    }

    static func finished(_ store: ContainerStore, _ id: String, code: Int32, oom: Bool, error: String = "") {
        try? store.update(id) { s in
            s.status = .exited
            s.pid = 0
            s.exitCode = code
            s.oomKilled = oom
            s.error = error
            s.finishedAt = WallTime.now()
        }
    }

    /// `vitro create`: the record only (status created); `start` runs it.
    public static func create(_ run: RunOptions, _ life: LifecycleOptions) throws(RunError) -> String {
        let store = ContainerStore(root: run.stateRoot)
        var life = life
        life.createOnly = true
        do {
            let (_, config) = try prepare(run, life, store: store, rootfs: run.rootfs ?? "")
            // Nothing starts here to wait for: a created container survives a crash now.
            if !life.autoRemove { store.persist(config.id) }
            return config.id
        } catch let e as RunError { throw e } catch { throw RunError(String(describing: error)) }
    }

    /// `vitro run` in the foreground: the record, the pipeline, the final state.
    public static func runForeground(
        _ run: RunOptions, _ life: LifecycleOptions, observer: (any PipelineObserver)? = nil, pullObserver: (any PullObserver)? = nil,
        configure: ((ContainerRun) -> Void)? = nil
    ) throws(RunError) -> Int32 {
        let store = ContainerStore(root: run.stateRoot)
        let (options, config): (RunOptions, ContainerConfig)
        do { (options, config) = try prepare(run, life, store: store, rootfs: run.rootfs ?? "") } catch let e as RunError { throw e } catch { throw RunError(String(describing: error)) }
        let container = ContainerRun(options: options, observer: observer)
        container.pullObserver = pullObserver
        container.onResolved = { [weak container] argv, env, dir in
            resolved(store, config, argv: argv, env: env, workdir: dir, imageID: container?.imageID, exposed: container?.exposedPorts ?? [])
        }
        container.onMounts = { points in try mounted(store, config, points) }
        container.onStarted = { pid in
            started(store, config.id, pid: pid, monitor: Sys.processID())
            // The command runs already: waiting for the disk here delays no start.
            if !config.autoRemove { store.persist(config.id) }
        }
        configure?(container)
        do {
            let code = try container.run()
            // A --rm container's record goes now, so its final state is not written
            // first (on disk that costs a file made and renamed); only when the removal
            // fails does the record say how it ended.
            if life.autoRemove, (try? ContainerVolumes.removeContainer(store, config.id, volumes: true)) != nil { return code }
            finished(store, config.id, code: code, oom: container.oomKilled)
            return code
        } catch {
            finished(store, config.id, code: error.code, oom: false, error: error.message)
            // Bad input removes the record a run just made; never an existing one (start).
            if life.autoRemove || (error.input && life.existing == nil) { try? ContainerVolumes.removeContainer(store, config.id, volumes: true) }
            throw error
        }
    }

    /// `vitro run -d`: returns the container id once the command is running.
    /// `configure` is called in the monitor on each run of the container it makes.
    public static func runDetached(_ run: RunOptions, _ life: LifecycleOptions, configure: ((ContainerRun) -> Void)? = nil) throws(RunError) -> String {
        try launchDetached(run, life, connect: false, configure: configure).id
    }

    /// `vitro start -a`: the container runs under a monitor, as with `start`, and this
    /// vitro attaches to it before its command starts (so none of its output is missed).
    /// Returns the container's exit code, or 0 when the client detached.
    public static func runAttached(_ run: RunOptions, _ life: LifecycleOptions, _ attach: AttachOptions) throws(RunError) -> Int32 {
        let (id, client) = try launchDetached(run, life, connect: true)
        guard let client else { throw RunError("attach to container \(id.prefix(12)): no connection to its monitor") }
        defer { Sys.close(client) }
        return try ContainerAttach.session(client, store: ContainerStore(root: run.stateRoot), id: id, attach)
    }

    /// Makes the record (unless it exists), binds the attach socket, forks the monitor and
    /// waits until the command has been exec'd. With `connect`, returns a connection to
    /// the attach socket made before the monitor began.
    static func launchDetached(
        _ run: RunOptions, _ life: LifecycleOptions, connect: Bool, configure: ((ContainerRun) -> Void)? = nil
    ) throws(RunError) -> (id: String, client: Int32?) {
        // Pull before detaching, so progress shows on the terminal and a pull error is
        // an error of this command.
        if run.rootfs == nil, let image = run.image, image != BuiltinImage.name {
            try ensureImage(image, run)
        }
        let store = ContainerStore(root: run.stateRoot)
        let (options, config): (RunOptions, ContainerConfig)
        do {
            (options, config) = try prepare(run, life, store: store, rootfs: run.rootfs ?? "")
        } catch let e as RunError { throw e } catch { throw RunError(String(describing: error)) }
        var listener: Int32?
        var socketIdentity: FileIdentity?
        var client: Int32?
        let ready: (read: Int32, write: Int32)
        let child: Int32
        do {
            listener = try Sys.listenUnix(store.attachPath(config.id), why: "the monitor's attach socket: `vitro attach` connects here")
            socketIdentity = Sys.fileIdentity(store.attachPath(config.id))
            if connect { client = try Sys.connectUnix(store.attachPath(config.id)) }
            ready = try Sys.pipe()
            child = try Sys.fork(why: "the monitor: a copy of vitro that stays with the container after this command returns")
        } catch {
            if let client { Sys.close(client) }
            if let listener {
                Sys.close(listener)
                try? Sys.unlink(store.attachPath(config.id))
            }
            // Bad input leaves nothing behind; a container that exists stays.
            if life.existing == nil { try? store.remove(config.id) }
            throw RunError(String(describing: error))
        }
        guard let listener else { throw RunError("bug: no attach socket") }
        if child == 0 {
            Sys.close(ready.read)
            if let client { Sys.close(client) }
            monitor(options, config, store: store, ready: ready.write, fresh: life.existing == nil, attach: (listener, socketIdentity), configure: configure)
        }
        Sys.close(ready.write)
        Sys.close(listener)
        var message: [UInt8] = []
        while let chunk = try? Sys.read(ready.read), !chunk.isEmpty { message += chunk }
        Sys.close(ready.read)
        let text = String(decoding: message, as: UTF8.self)
        if text == "started" { return (config.id, client) }
        if let client { Sys.close(client) }
        let parts = text.split(separator: " ", maxSplits: 2).map(String.init)
        if parts.count == 3, parts[0] == "error", let code = Int32(parts[1]) {
            if life.autoRemove { try? ContainerVolumes.removeContainer(store, config.id, volumes: true) }
            throw RunError(code: code, parts[2])
        }
        throw RunError("the monitor of container \(config.id.prefix(12)) ended before the container started")
    }

    /// Between two runs of a container with a restart policy: the record says
    /// `restarting` for `delay` ms. Returns false when a person stopped or removed the
    /// container meanwhile, true (with the restart counted) when it is to run again.
    static func waitToRestart(_ store: ContainerStore, _ id: String, milliseconds delay: Int) -> Bool {
        try? store.update(id) { s in s.status = .restarting }
        var waited = 0
        var go = true
        while waited < delay {
            guard let r = store.load(id) else { return false }
            if r.state.manuallyStopped {
                go = false
                break
            }
            Sys.sleep(milliseconds: 20)
            waited += 20
        }
        try? store.update(id) { s in
            if s.manuallyStopped { go = false }
            // Stopped while waiting: the container stays exited with its last code.
            if go { s.restartCount += 1 } else { s.status = .exited }
        }
        return go && store.load(id) != nil
    }

    /// The monitor's life (a forked vitro). Never returns.
    /// `fresh`: the record was made by this run (not `start` of an existing one).
    static func monitor(
        _ run: RunOptions, _ config: ContainerConfig, store: ContainerStore, ready: Int32, fresh: Bool,
        attach: (listener: Int32, identity: FileIdentity?), configure: ((ContainerRun) -> Void)? = nil
    ) -> Never {
        // Keep only the ready pipe (moved to fd 3) and the attach socket (fd 4) of what
        // this process inherited: a pipe the caller reads (`JOB=$(vitro run -d …)`)
        // must see its end when the `run` command exits, not when the container does.
        var readyFD: Int32? = 3
        let attachFD: Int32 = 4
        do {
            // Above both targets first, so that neither move overwrites the other.
            let r = try Sys.duplicate(ready, atLeast: 10), l = try Sys.duplicate(attach.listener, atLeast: 10)
            try Sys.dup2(r, 3, why: "the monitor keeps the ready pipe of what it inherited")
            try Sys.dup2(l, attachFD, why: "and the attach socket")
            try Sys.closeDescriptors(from: 5, why: "drop every other inherited descriptor")
            try Sys.setCloseOnExec(3, true)
            try Sys.setCloseOnExec(attachFD, true)
        } catch {
            if Sys.fileIdentity(store.attachPath(config.id)) == attach.identity { try? Sys.unlink(store.attachPath(config.id)) }
            Sys.exitNow(125)
        }
        func report(_ s: String) {
            if let fd = readyFD {
                Sys.write(fd, Array(s.utf8))
                Sys.close(fd)
                readyFD = nil
            }
        }
        // Clients of `vitro attach` are served from the container's poll loop.
        // Docker's StdinOnce: only a container that was not made detached (`create -i`,
        // or a foreground `run -i` started again) loses its stdin with a client's.
        let server = AttachServer(
            listener: attachFD, path: store.attachPath(config.id), identity: attach.identity, tty: run.tty, openStdin: run.interactive,
            stdinOnce: run.interactive && !config.detached)
        var code: Int32 = 125
        do {
            try Sys.setsid(why: "leave the terminal's session: the container outlives this command")
            let null = try Sys.open("/dev/null", flags: O_RDWR | O_CLOEXEC, trace: false)
            for fd: Int32 in [0, 1, 2] { try Sys.dup2(null, fd, why: "the monitor has no terminal; its own stdio goes nowhere") }
            let log = try LogWriter(path: store.logPath(config.id), options: config.logOptions)
            let policy = (try? RestartPolicy.parse(config.restartPolicy)) ?? .no
            var attempt = 0
            while true {
                let began = MonotonicClock.now()
                let out = try Sys.pipe(), err = try Sys.pipe()
                try Sys.setNonBlocking(out.read)
                try Sys.setNonBlocking(err.read)
                // -i without -t: the container reads a pipe that attached clients write
                // into. The monitor keeps both ends for the run: stdin stays open when
                // clients leave, and a container that closes its end is no EPIPE.
                var stdin: (read: Int32, write: Int32)?
                if run.interactive && !run.tty {
                    let p = try Sys.pipe()
                    try Sys.setNonBlocking(p.write)
                    stdin = p
                }
                var options = run
                options.stdio = [stdin?.read ?? null, out.write, err.write]
                // The monitor's own stdin is /dev/null: input comes from attach clients.
                options.interactive = false
                // A restart mounts what the first run made: the same anonymous volumes.
                if attempt > 0 || (store.load(config.id)?.state.restartCount ?? 0) > 0 {
                    options.recordedMounts = store.load(config.id)?.config.mounts ?? options.recordedMounts
                }
                let container = ContainerRun(options: options)
                container.onResolved = { [weak container] argv, env, dir in
                    resolved(store, config, argv: argv, env: env, workdir: dir, imageID: container?.imageID, exposed: container?.exposedPorts ?? [])
                }
                container.onMounts = { points in try mounted(store, config, points) }
                container.pumps[out.read] = { bytes in
                    log.write(bytes, stream: "stdout")
                    server.broadcast(bytes, .stdout)
                }
                container.pumps[err.read] = { bytes in
                    log.write(bytes, stream: "stderr")
                    server.broadcast(bytes, .stderr)
                }
                // With -t the container writes to its pty, not to the pipes: the log gets
                // what the terminal shows, as Docker's does (all of it as stdout).
                container.terminalOutput = { bytes in
                    log.write(bytes, stream: "stdout")
                    server.broadcast(bytes, .stdout)
                }
                server.serve(container, stdinPipe: stdin?.write)
                var writeEnds = [out.write, err.write]
                container.onStarted = { pid in
                    // The container holds its own copies of the pipes' write ends now.
                    for fd in writeEnds { Sys.close(fd) }
                    writeEnds = []
                    started(store, config.id, pid: pid, monitor: Sys.processID())
                    server.started(pid: pid)
                    report("started")
                    // `run -d` has returned: the record survives a crash from now on.
                    if !config.autoRemove { store.persist(config.id) }
                }
                configure?(container)
                var setupFailed = false
                do {
                    code = try container.run()
                    log.flush()
                    finished(store, config.id, code: code, oom: container.oomKilled)
                    // --rm (never with a restart policy): the record goes before an
                    // attached `start -a` returns, as a foreground run's does.
                    if config.autoRemove { try? ContainerVolumes.removeContainer(store, config.id, volumes: true) }
                    server.ended(code: code)
                } catch {
                    log.flush()
                    finished(store, config.id, code: error.code, oom: false, error: error.message)
                    server.ended(code: nil)
                    report("error \(error.code) \(error.message)")
                    code = error.code
                    setupFailed = true
                    if error.input && fresh { try? ContainerVolumes.removeContainer(store, config.id, volumes: true) }
                }
                for fd in writeEnds + [out.read, err.read] { Sys.close(fd) }
                // The write end was the server's to close.
                if let stdin { Sys.close(stdin.read) }
                // --restart: a command that ran may run again; one that could not be set
                // up is not retried (Docker reports the error of the start).
                guard !setupFailed, let now = store.load(config.id),
                    policy.shouldRestart(exitCode: code, restartCount: now.state.restartCount, manuallyStopped: now.state.manuallyStopped)
                else { break }
                if MonotonicClock.now() - began >= 10_000_000_000 { attempt = 0 }
                guard waitToRestart(store, config.id, milliseconds: RestartPolicy.delay(attempt: attempt)) else { break }
                attempt += 1
            }
        } catch {
            finished(store, config.id, code: 125, oom: false, error: String(describing: error))
            report("error 125 \(error)")
        }
        server.close()
        if config.autoRemove { try? ContainerVolumes.removeContainer(store, config.id, volumes: true) }
        Sys.exitNow(code)
    }
}
