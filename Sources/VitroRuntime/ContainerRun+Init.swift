// Chapter 08: spawning vitro-init and following it through the sync protocol
// (VitroExec.SyncMessage), while merging its trace and forwarding signals.

import VitroExec
import VitroNamespaces
import VitroSys
import VitroTrace

#if canImport(Glibc)
import Glibc
#endif

extension ContainerRun {
    /// Path of vitro-init: VITRO_INIT, or next to the running vitro binary.
    static func initPath() -> String {
        if let env = getenv("VITRO_INIT"), env.pointee != 0 { return String(cString: env) }
        let exe = Sys.readlink("/proc/self/exe") ?? "/usr/local/bin/vitro"
        let dir = exe.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        return dir + "/vitro-init"
    }

    /// The descriptors of one vitro-init, on vitro's side.
    struct InitChannel {
        var sync: Int32
        var trace: Int32
        var signals: Int32
        var initPid: pid_t
    }

    func launch(rootfs: String) throws -> Int32 {
        defer { releaseNetwork() }
        // v2: the cgroup first, so that pid 1 is born in it (ContainerRun+Cgroups.swift).
        var cgroupDir = try stageCgroupsFirst()
        let cgroupPath = cgroupDir?.path ?? ""
        defer {
            if let d = cgroupDir { Sys.close(d.fd) }
            releaseCgroup()  // idempotent: also after the container's own release
        }
        try begin(.namespaces)
        let handled = [SIGCHLD] + ContainerRun.forwarded + terminalSignals
        let signals = try Sys.signalDescriptor(handled)
        defer {
            Sys.close(signals)
            _ = Sys.unblockSignals(handled)
        }
        // However the run ends, vitro's terminal gets its settings back.
        defer { detachTerminal() }
        try Sys.setChildSubreaper(why: "pid 1 will be re-parented to vitro when vitro-init's first process exits")
        // vitro-init first, its spec after: its exec and start-up (about a millisecond)
        // overlap the work below, and it waits on fd 3 for the spec meanwhile. Bad
        // input found below ends it before it has made anything (`abandon`).
        let specPipe = try Sys.pipe()
        let tracePipe = try Sys.pipe()
        let (syncParent, syncChild) = try Sys.socketPair()
        let initPid: pid_t
        do {
            initPid = try Sys.spawn(
                ContainerRun.initPath(), argv: ["vitro-init"], env: [],
                fds: options.stdio + [specPipe.read, tracePipe.write, syncChild] + (cgroupDir.map { [$0.fd] } ?? []),
                why: "a fresh single-threaded process to unshare and fork in; fds 3-5 carry spec, trace and sync; it reads its spec while vitro writes it")
        } catch {
            for fd in [specPipe.read, specPipe.write, tracePipe.read, tracePipe.write, syncParent, syncChild] { Sys.close(fd) }
            end(.namespaces, error: String(describing: error))
            throw RunError(String(describing: error))
        }
        context.initPid = initPid
        for fd in [specPipe.read, tracePipe.write, syncChild] { Sys.close(fd) }
        if let d = cgroupDir {
            Sys.close(d.fd)
            cgroupDir = nil
        }
        defer {
            Sys.close(syncParent)
            Sys.close(tracePipe.read)
        }
        let spec: InitSpec
        do {
            spec = try initSpec(rootfs: rootfs, cgroup: cgroupPath)
        } catch {
            Sys.close(specPipe.write)
            abandon(initPid)
            end(.namespaces, error: String(describing: error))
            throw error
        }
        Sys.write(specPipe.write, spec.encode())
        Sys.close(specPipe.write)
        try Sys.setNonBlocking(tracePipe.read)
        try Sys.setNonBlocking(syncParent)
        defer {
            releaseNetwork()
            releaseCgroup()
        }
        let channel = InitChannel(sync: syncParent, trace: tracePipe.read, signals: signals, initPid: initPid)
        return try follow(channel)
    }

    /// What vitro-init is told: the command as the image and flags resolve it, the
    /// security settings, the /etc files. Throws on bad input (a `RunError`, or the
    /// resolver's own error), before anything of the container is made.
    func initSpec(rootfs: String, cgroup: String) throws -> InitSpec {
        let hostname = options.hostname ?? String(context.containerID.prefix(12))
        let resolved = try resolve(hostname: hostname)
        context.argv = resolved.argv
        onResolved?(resolved.argv, resolved.env, resolved.workdir)
        var spec = InitSpec(
            rootfs: rootfs, argv: resolved.argv, env: resolved.env, cwd: resolved.workdir, hostname: hostname,
            namespaces: options.network.mode.ownNamespace ? .container : NamespaceSet.container.subtracting(.net),
            learn: observer != nil)
        spec.overlay = overlayData
        spec.tty = options.tty
        spec.join = options.join ?? 0
        spec.joinNetwork = options.networkPeer?.pid ?? 0
        spec.cgroup = cgroup
        spec.capabilities = options.capabilities
        spec.mounts = mountPlan
        do {
            if options.join == nil { try checkUser(resolved.user, rootfs: rootfs) }
            try applySecurity(to: &spec, user: resolved.user)
        } catch {
            throw (error as? RunError) ?? RunError(String(describing: error))
        }
        // `vitro exec` joins a running container: its /etc files and network exist.
        if options.join == nil {
            do {
                spec.files = filesBesidesMounts(try prepareEtcFiles())
            } catch {
                throw RunError(String(describing: error))
            }
        }
        return spec
    }

    /// Ends a vitro-init that never got its spec: it has made nothing yet (it was
    /// waiting on fd 3), so nothing is left behind but its exit status, reaped here.
    func abandon(_ initPid: pid_t) {
        try? Sys.kill(initPid, SIGKILL, why: "the run's input was refused before vitro-init got its spec; it has made nothing yet")
        _ = try? Sys.waitpid(initPid, why: "reap it, so no zombie of it is left")
        context.initPid = nil
    }

    /// Compiled seccomp programs, by profile and capabilities (run-time state: a reboot,
    /// which may bring another libseccomp, empties it).
    static let seccompCache = "/run/vitro/seccomp"

    /// Chapter 07's settings into the spec; the seccomp filter is compiled here, in
    /// vitro, so a profile libseccomp refuses stops the run before anything exists.
    func applySecurity(to spec: inout InitSpec, user: String) throws {
        let s = options.security
        spec.seccomp = try s.seccompLoad(capabilities: options.capabilities, cacheDirectory: ContainerRun.seccompCache)
        if let f = spec.seccomp {
            Tracer.shared.note(
                "seccomp-profile", group: .seccomp,
                args: ["profile": .string(f.profile), "default_action": .string(f.defaultAction), "rules": .int(Int64(f.rules)), "instructions": .int(Int64(f.bpf.count / 8))],
                why: "the profile's conditions were evaluated for this container's capabilities, architecture and kernel, and libseccomp compiled it to BPF; pid 1 loads it last")
        }
        spec.noNewPrivileges = s.noNewPrivileges
        spec.user = user
        spec.ulimits = s.ulimits
        if options.join == nil {
            spec.tmpfs = s.tmpfs
            spec.readOnlyRootfs = s.readOnlyRootfs
            if !s.privileged {
                spec.maskedPaths = RootfsPlan.dockerMasks()
                spec.readonlyPaths = RootfsPlan.dockerReadonlyPaths
            }
            spec.initProcess = s.initProcess
        }
    }

    /// Looks the user up in the image's /etc/passwd and /etc/group before anything is
    /// made, so a user the image does not have is bad input that leaves nothing behind.
    /// pid 1 looks it up again inside, after pivot_root, and that lookup is the one
    /// that counts (a file the layers do not show plainly is left to it).
    func checkUser(_ user: String, rootfs: String) throws {
        guard !user.isEmpty else { return }
        let spec: UserSpec
        do { spec = try UserSpec(user) } catch { throw RunError(error.message, input: true) }
        if spec.isRoot { return }
        /// The file's text; "" when no layer has it; nil when a plain read cannot tell
        /// (a symlink, a whiteout): then only pid 1's lookup decides.
        func read(_ rel: String) -> String? {
            // The overlay's upper directory (a restarted container's own changes),
            // then its lower ones, top first; or the plain rootfs.
            var dirs = [rootfs]
            let data = overlayData.split(separator: ",")
            if let lower = data.first(where: { $0.hasPrefix("lowerdir=") }) {
                dirs = data.filter { $0.hasPrefix("upperdir=") }.map { String($0.dropFirst(9)) }
                    + lower.dropFirst(9).split(separator: ":").map(String.init)
            }
            for d in dirs {
                guard (try? RootfsPlan.containedPath(d, "etc")) != nil else { return nil }
                switch Sys.fileKind(d + "/" + rel) {
                case .regular: return try? Sys.readText(d + "/" + rel)
                case .missing: continue
                default: return nil
                }
            }
            return ""
        }
        guard let passwd = read("etc/passwd"), let group = read("etc/group") else { return }
        do { _ = try spec.resolve(passwd: passwd, group: group) } catch {
            throw RunError(error.message, input: true)
        }
    }

    /// One message from vitro-init's sync socket; nil when none has come yet (the
    /// socket is non-blocking). When pid 1 ended with messages of vitro's still unread
    /// in its socket (the cgroup files, `exec`), the kernel reports ECONNRESET once,
    /// ahead of what pid 1 had sent (its `error` among them): read on.
    static func receiveFromInit(_ sync: Int32) throws(SysError) -> (bytes: [UInt8], fd: Int32?)? {
        while true {
            do { return try Sys.receive(sync) } catch {
                if error.errno != ECONNRESET { throw error }
            }
        }
    }

    /// Where the container is in the protocol.
    enum Phase { case starting, execRequested, running, done }

    func follow(_ ch: InitChannel) throws -> Int32 {
        var phase = Phase.starting
        var pending: [UInt8] = []  // a partial trace line
        var syncOpen = true, traceOpen = true
        var initExit: ExitStatus?
        var containerExit: ExitStatus?
        var failure: (code: Int32, message: String)?
        var stage: Stage = .namespaces

        func drainTrace() {
            while traceOpen {
                guard let chunk = try? Sys.read(ch.trace) else { return }
                if chunk.isEmpty { traceOpen = false; return }
                pending += chunk
                var start = 0
                while let nl = pending[start...].firstIndex(of: 10) {
                    Tracer.shared.merge(line: pending[start..<nl])
                    start = nl + 1
                }
                pending.removeSubrange(..<start)
            }
        }

        func handle(_ m: SyncMessage) throws {
            switch m {
            case .pid(let p):
                context.containerPid = p
            case .ready(let pid1):
                // The `pid` message from stage A may still be on its way.
                context.containerPid = pid1
                // v1 outside `learn`: the cgroup was made meanwhile and its files wait
                // for pid 1, which joins now; the namespaces' span holds the join.
                if cgroupFilesSent {
                    try awaitJoined(pid: pid1, sync: ch.sync)
                    drainTrace()
                }
                end(.namespaces)
                if options.join == nil {
                    stage = .cgroups
                    try stageCgroups(pid: pid1, sync: ch.sync, drainTrace: drainTrace)
                    stage = .network
                    try stageNetwork(pid: pid1)
                }  // else vitro-init has joined the container's cgroups and namespaces itself
                stage = .exec
                try begin(.exec)
                phase = .execRequested
                // MSG_NOSIGNAL: outside `learn` pid 1 readies its command meanwhile, and
                // may have failed (its `error` is on its way) and gone.
                Sys.sendAll(ch.sync, SyncMessage.exec.encode())
            case .error(let code, let message):
                failure = (code, message)
            case .exec, .pty, .cgroups, .joined:
                break
            }
        }

        func drainSync() throws {
            while syncOpen {
                guard let (msg, passed) = try ContainerRun.receiveFromInit(ch.sync) else { return }
                if let passed {
                    // Only `pty` carries a descriptor: the master of the container's terminal.
                    if SyncMessage.decode(msg) == .pty, options.tty, terminal == nil {
                        try attachTerminal(master: passed)
                    } else {
                        Sys.close(passed)
                    }
                }
                if msg.isEmpty {
                    // pid 1 wrote its last events before execve closed the socket.
                    drainTrace()
                    syncOpen = false
                    if phase == .execRequested, failure == nil {
                        // Every copy of the socket is gone: pid 1's closed at execve.
                        phase = .running
                        end(.exec)
                        if let pid = context.containerPid { onStarted?(pid) }
                        pruneKeptTraces()
                    }
                    return
                }
                drainTrace()
                if let m = SyncMessage.decode(msg) { try handle(m) }
            }
        }

        /// pid 1's `error`, read or still queued; nil when there is none.
        func initFailure() -> (code: Int32, message: String)? {
            if let failure { return failure }
            while true {
                guard let (msg, passed) = try? ContainerRun.receiveFromInit(ch.sync), !msg.isEmpty else { return nil }
                if let passed { Sys.close(passed) }
                if case .error(let code, let message)? = SyncMessage.decode(msg) { return (code, message) }
            }
        }

        func reap() throws {
            while let (pid, status) = try Sys.waitpid(-1, noHang: true, why: "a child of vitro ended") {
                if pid == ch.initPid { initExit = status }
                if pid == context.containerPid { containerExit = status }
            }
        }

        func finished() -> Bool {
            if containerExit != nil { return true }
            // Stage A failed before forking pid 1.
            if let initExit, context.containerPid == nil, initExit != .exited(0) { return true }
            return false
        }

        do {
            // v1: the cgroup while vitro-init builds the namespaces (it ends its own
            // stage on an error; the namespaces' is ended below).
            if cgroupsAlongside {
                try stageCgroupsAlongside(sync: ch.sync)
                // vitro would now only wait while pid 1 mounts its root: the trace
                // store's bound is applied here rather than after the command starts,
                // when a short command's end may be waiting for it.
                pruneKeptTraces()
            }
            while !finished() {
                var watch: [Int32: PollEvents] = [ch.signals: .readable]
                if syncOpen { watch[ch.sync] = .readable }
                if traceOpen { watch[ch.trace] = .readable }
                let held = holdPumps?() ?? false
                if !held { for fd in pumps.keys { watch[fd] = .readable } }
                // Published ports reached through 127.0.0.1 are carried by this loop too.
                if let proxy { for (fd, e) in proxy.interest { watch[fd, default: []].formUnion(e) } }
                if let input = terminal?.input { watch[input] = .readable }
                for (fd, w) in watchers {
                    let e = w.interest()
                    if !e.isEmpty { watch[fd, default: []].formUnion(e) }
                }
                let events = try Sys.poll(watch)
                // Watchers first: an attach client that is waiting is accepted before
                // the output that would be its first.
                for fd in events.keys.sorted() {
                    guard let w = watchers[fd], let e = events[fd]?.intersection(w.interest()), !e.isEmpty else { continue }
                    w.ready(e)
                }
                let ready = events.filter { $0.value.contains(.readable) }.keys.sorted()
                if !held { for fd in ready where pumps[fd] != nil { pump(fd) } }
                proxy?.service(events)
                if let input = terminal?.input, ready.contains(input) { copyInput() }
                if ready.contains(ch.trace) { drainTrace() }
                if ready.contains(ch.sync) { try drainSync() }
                if ready.contains(ch.signals) {
                    while let (sig, _) = Sys.readSignal(ch.signals) {
                        if sig == SIGCHLD {
                            try drainSync()
                            try reap()
                        } else if sig == SIGWINCH {
                            resizeTerminal(why: "vitro's window changed size (SIGWINCH): the container's terminal follows")
                        } else if let target = context.containerPid ?? context.initPid {
                            try? Sys.kill(target, sig, why: "forward the signal vitro received to the container")
                        }
                    }
                }
            }
        } catch {
            // pid 1 may have failed first (outside `learn` it readies its command while
            // vitro wires the network): its error, already in the socket, is the cause.
            let first = initFailure()
            drainTrace()
            killAll(ch)
            if let first {
                end(stage, error: first.message)
                throw RunError(code: first.code, first.message)
            }
            end(stage, error: String(describing: error))
            throw error
        }
        drainTrace()
        // What the container wrote just before it ended is still in the pipes.
        for fd in pumps.keys.sorted() { while pump(fd) {} }
        if phase == .execRequested || phase == .starting {
            let message = failure?.message ?? "vitro-init \(initExit?.text ?? containerExit?.text ?? "ended")"
            end(stage, error: message)
            throw RunError(code: failure?.code ?? 125, message)
        }
        let status = containerExit ?? .exited(125)
        // While the trace is still open: what watched the run adds its last events.
        onExited?()
        releaseNetwork()
        releaseCgroup()
        Tracer.shared.note("exit", group: .process, args: ["status": .string(status.text), "code": .int(Int64(status.code)), "oom_killed": .bool(oomKilled)], why: oomKilled ? "the kernel's OOM killer ended the container: it reached its memory limit" : "the container's pid 1 ended; its namespaces go with it")
        observer?.containerExited(status, context)
        return status.code
    }

    /// One read from a pumped (non-blocking) descriptor. Returns true when it got data;
    /// end of file or an error drops the descriptor.
    @discardableResult
    func pump(_ fd: Int32) -> Bool {
        guard let handler = pumps[fd] else { return false }
        do {
            guard let chunk = try Sys.read(fd) else { return false }  // EAGAIN: nothing yet
            if chunk.isEmpty {
                pumps[fd] = nil
                return false
            }
            handler(chunk)
            return true
        } catch {
            pumps[fd] = nil
            return false
        }
    }

    /// On an error of vitro's own: nothing of the container may outlive vitro.
    func killAll(_ ch: InitChannel) {
        for pid in [context.containerPid, ch.initPid].compactMap({ $0 }) {
            try? Sys.kill(pid, SIGKILL, why: "vitro is giving up on this container")
            _ = try? Sys.waitpid(pid)
        }
    }
}
