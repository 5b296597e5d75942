// Chapter 07: what vitro-init does, step by step. It runs single-threaded (no
// Dispatch, no async, no Foundation): unshare(2) of a pid or user namespace and fork(2)
// are only safe in a process with one thread.
//
//   stage A (the process vitro spawned)
//     1. read the spec; check there is one thread
//     2. unshare mount, uts, ipc, pid and net namespaces (with --net container:NAME,
//        setns into that container's network namespace first and make no new one)
//     3. fork: the child is pid 1 of the new pid namespace; tell vitro its host pid and
//        exit. vitro is a child subreaper, so pid 1 becomes vitro's child.
//   stage B (pid 1)
//     4. setsid; build the root (RootfsPlan's steps, with chapter 06's volumes
//        between them: copy-up after the root is mounted, the mounts after /dev,
//        before the /etc files and pivot_root); set the hostname; with a tty,
//        open a pty in the container's devpts, send vitro the master (`pty`), make the
//        slave fds 0-2 and the controlling terminal
//     5. tell vitro `ready` (with our host pid); wait for `exec`. Meanwhile vitro makes
//        the container's cgroup and sends its files open (`cgroups`): we write `0` into
//        each, which moves this single thread in without the host-wide lock a move by
//        pid takes (VitroCgroups/Cgroup.swift, joinFiles), and answer `joined`; then
//        vitro wires the network namespace.
//     6. unshare the cgroup namespace (now that we are in the container's cgroup, it
//        becomes the root the container sees), chdir, find the command on PATH,
//        set the rlimits, drop capabilities, switch user, load the seccomp filter
//        (ContainerInit+Privileges.swift); with --init, fork the command and stay as
//        its reaper (ContainerInit+Reaper.swift); execve. The sync socket and the
//        trace pipe are close-on-exec, so vitro sees end-of-file on both exactly when
//        execve succeeded.
//
// `vitro exec` takes another path after step 1: ContainerInit+Join.swift.
//
// Any failure is sent as `error CODE MESSAGE` and the process exits with CODE.

import VitroNamespaces
import VitroSys
import VitroTrace
import VitroVolumes

#if canImport(Glibc)
import Glibc
#endif

public enum ContainerInit {
    /// The whole of vitro-init. Never returns.
    public static func main() -> Never {
        for fd in [InitFD.spec, InitFD.trace, InitFD.sync] {
            do { try Sys.setCloseOnExec(fd, true) } catch { fatal(InitError(code: 125, "vitro-init: descriptor \(fd) is not open: was it started by vitro?")) }
        }
        // Buffered: the events go to vitro in one write(2) before each sync message (and
        // before fork and execve), not one write and one wake-up of vitro per event.
        let sink = JSONLinesSink(fd: InitFD.trace, epochNanos: 0, buffered: true, atomicWrites: true)
        Tracer.shared.addSink(sink)
        Tracer.shared.stage = .namespaces
        do {
            try run()
        } catch let e as InitError {
            fatal(e)
        } catch {
            fatal(InitError(code: 125, String(describing: error)))
        }
    }

    static func fatal(_ e: InitError) -> Never {
        Tracer.shared.flush()
        Sys.write(InitFD.sync, SyncMessage.error(code: e.code, message: e.message).encode())
        Sys.exitNow(e.code)
    }

    /// Sends a sync message, after the events recorded so far: vitro merges the trace
    /// pipe before it acts on a message, so they land in the trace before what it does.
    static func send(_ m: SyncMessage) throws(InitError) {
        Tracer.shared.flush()
        guard Sys.write(InitFD.sync, m.encode()) else { throw InitError(code: 125, "sync: vitro went away") }
    }

    static func expect(_ m: SyncMessage) throws(InitError) {
        let got: [UInt8]?
        do { got = try Sys.read(InitFD.sync, max: 4096) } catch { throw InitError(code: 125, "sync: \(error)") }
        guard let got, !got.isEmpty else { throw InitError(code: 125, "sync: vitro went away") }
        guard SyncMessage.decode(got) == m else {
            throw InitError(code: 125, "sync: expected \(m), got \(String(decoding: got, as: UTF8.self))")
        }
    }

    /// Stage A's fork. With a `cgroup` (v2), clone3(CLONE_INTO_CGROUP) makes pid 1 inside
    /// it; where the kernel refuses (before 5.7), a plain fork, and pid 1 joins at `ready`.
    static func forkPid1(_ spec: InitSpec) throws -> (pid: pid_t, bornInCgroup: Bool) {
        let why = "the first child after unshare(CLONE_NEWPID) is pid 1 of the new pid namespace"
        guard !spec.cgroup.isEmpty else { return (try Sys.fork(why: why), false) }
        do { try Sys.setCloseOnExec(InitFD.cgroup, true) } catch { throw InitError(code: 125, "vitro-init: the spec names a cgroup but descriptor \(InitFD.cgroup) is not open") }
        defer { Sys.close(InitFD.cgroup) }
        let refused: Int32
        do {
            return (try Sys.forkIntoCgroup(InitFD.cgroup, path: spec.cgroup, why: why + ", born in its cgroup: nothing moves, so no cgroup lock is taken"), true)
        } catch {
            guard [ENOSYS, EINVAL, E2BIG, EOPNOTSUPP].contains(error.errno) else { throw error }
            refused = error.errno
        }
        return (try Sys.fork(why: why + "; clone3 into the cgroup was refused (\(Errno.name(refused))), so pid 1 joins it at ready"), false)
    }

    /// Waits for `exec`; before it, vitro may send the cgroup files to join (`cgroups`).
    static func awaitExec() throws(InitError) {
        while true {
            let got: (bytes: [UInt8], fds: [Int32])?
            do { got = try Sys.receiveDescriptors(InitFD.sync) } catch { throw InitError(code: 125, "sync: \(error)") }
            guard let got, !got.bytes.isEmpty else { throw InitError(code: 125, "sync: vitro went away") }
            switch SyncMessage.decode(got.bytes) {
            case .exec?:
                for fd in got.fds { Sys.close(fd) }
                return
            case .cgroups(let paths)?:
                defer { for fd in got.fds { Sys.close(fd) } }
                try joinCgroups(paths, fds: got.fds)
            default:
                for fd in got.fds { Sys.close(fd) }
                throw InitError(code: 125, "sync: expected exec, got \(String(decoding: got.bytes, as: UTF8.self))")
            }
        }
    }

    /// Writes `0` (ourselves) into each cgroup file vitro opened for us, then answers.
    /// Why `0`, and why v1's `tasks`: VitroCgroups/Cgroup.swift, `joinFiles`.
    static func joinCgroups(_ paths: [String], fds: [Int32]) throws(InitError) {
        guard paths.count == fds.count else {
            throw InitError(code: 125, "sync: \(paths.count) cgroup files named but \(fds.count) descriptors came")
        }
        let stage = Tracer.shared.stage
        Tracer.shared.stage = .cgroups
        defer { Tracer.shared.stage = stage }
        for (path, fd) in zip(paths, fds) {
            do {
                try Sys.writeDescriptor(
                    fd, "0", path: path, group: .cgroup,
                    why: path.hasSuffix("/tasks")
                        ? "join the container's cgroup from inside: 0 is the writing thread, pid 1's only one, and moving a single thread needs no host-wide lock; on v2: 0 into cgroup.procs"
                        : "join the container's cgroup from inside: 0 is this process; on v1: 0 into tasks in every hierarchy")
            } catch {
                throw InitError(code: 125, "join the container's cgroup: \(error)")
            }
        }
        try send(.joined)
    }

    /// The container's terminal, as runc makes it: after pivot_root, so /dev/ptmx is the
    /// container's own devpts and the command's `tty` says /dev/pts/0. The master goes to
    /// vitro, which copies it to and from its own terminal; the slave becomes stdin,
    /// stdout, stderr and (we lead a new session) the controlling terminal.
    static func openTerminal(console: Bool = true) throws {
        let pty = try Sys.openPTY(why: "run -t: a pseudo-terminal in the container's own devpts instance")
        Tracer.shared.flush()
        do {
            try Sys.sendDescriptor(InitFD.sync, SyncMessage.pty.encode(), fd: pty.master, why: "hand the master to vitro, which copies it to and from its terminal")
        } catch {
            throw InitError(code: 125, "sync: \(error)")
        }
        Sys.close(pty.master)
        if console { try bindConsole(pty.path) }
        for fd: Int32 in [0, 1, 2] {
            try Sys.dup2(pty.slave, fd, why: "the command's stdin, stdout and stderr are the terminal \(pty.path)")
        }
        Sys.close(pty.slave)
        try Sys.setControllingTerminal(0, why: "pid 1 leads a session of its own; \(pty.path) becomes its controlling terminal, so Ctrl-C on it is SIGINT to the foreground job")
    }

    /// runc's /dev/console: the pty's slave bound over an empty file, for programs
    /// that write to the console (an init system, a getty).
    static func bindConsole(_ slave: String) throws {
        let fd = try Sys.open("/dev/console", flags: O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, mode: 0o600, why: "a mount point for /dev/console")
        Sys.close(fd)
        try Sys.mount(source: slave, target: "/dev/console", fstype: nil, flags: [.bind], why: "the container's console is its terminal")
    }

    static func run() throws -> Never {
        guard Sys.threadCount() == 1 else {
            throw InitError(code: 125, "vitro-init: \(Sys.threadCount()) threads; unshare and fork need a single-threaded process")
        }
        var specBytes: [UInt8] = []
        while let chunk = try Sys.read(InitFD.spec), !chunk.isEmpty { specBytes += chunk }
        Sys.close(InitFD.spec)
        let spec = try InitSpec.decode(specBytes)
        if spec.join > 0 { try join(spec) }  // vitro exec: ContainerInit+Join.swift

        // Stage A.
        try Sys.setParentDeathSignal(SIGKILL, why: "if vitro dies before the container starts, this helper dies too")
        if spec.joinNetwork > 0 {
            try Sys.setns(path: "/proc/\(spec.joinNetwork)/ns/net", kind: .net, why: "--net container: enter the other container's network namespace (its lo, eth0, routes and ports) instead of making one")
        }
        let first = spec.namespaces.subtracting(.cgroup)
        try Sys.unshare(first, why: "give the container its own mounts, hostname, IPC, process ids and network")
        let (child, bornInCgroup) = try forkPid1(spec)
        if child > 0 {
            try send(.pid(child))
            Sys.exitNow(0)
        }

        // Stage B: pid 1 (Sys.fork has stamped our trace events with our host pid).
        try Sys.setsid(why: "a session of its own: the terminal's signals go to vitro, which forwards them")
        var plan = RootfsPlan(rootfs: spec.rootfs, files: spec.files)
        plan.overlay = spec.overlay.isEmpty ? nil : spec.overlay
        plan.propagation = spec.mounts.rootPropagation
        plan.tmpfs = spec.tmpfs
        plan.maskedPaths = spec.maskedPaths
        plan.readonlyPaths = spec.readonlyPaths
        plan.readOnlyRoot = spec.readOnlyRootfs
        do {
            // RootfsPlan.apply's steps, with the volumes (chapter 06) between them.
            try plan.mountRoot()
            try spec.mounts.copyUp(rootfs: plan.rootfs)
            try plan.mountSystem()
            try spec.mounts.apply(rootfs: plan.rootfs)
            try plan.bindFiles()
            try plan.mountTmpfs()
            try plan.pivot()
            try plan.harden()
        } catch let e as RootfsError {
            throw InitError(code: 125, e.message)
        } catch let e as VolumeError {
            throw InitError(code: 125, e.message)
        }
        try Sys.sethostname(spec.hostname, why: "the UTS namespace is new; give it the container's name")
        if spec.tty { try openTerminal() }
        try send(.ready(Tracer.shared.pid))
        if spec.learn {
            // The walkthrough pauses before each stage: nothing of `exec` before its word.
            try awaitExec()
            try unshareCgroup(spec)
            try execCommand(spec)
        }
        // Otherwise pid 1 joins its cgroup and readies its command — the cgroup
        // namespace, working directory, PATH lookup, privileges and the seccomp filter —
        // while vitro wires the network, and only `execve` waits for `exec`. After the
        // filter, pid 1 makes no call but read, write and execve (and, with --init,
        // the reaper's), as it would have made anyway.
        if !bornInCgroup { try awaitJoin() }
        try unshareCgroup(spec)
        let command = try prepareCommand(spec)
        try expect(.exec)
        try execPrepared(spec, command)
    }

    /// The first step of the `exec` stage: a cgroup namespace rooted at the cgroup pid 1
    /// is in by now.
    static func unshareCgroup(_ spec: InitSpec) throws {
        Tracer.shared.stage = .exec
        if spec.namespaces.contains(.cgroup) {
            try Sys.unshare(.cgroup, why: "vitro has put this process in the container's cgroup; a new cgroup namespace makes that cgroup the root it sees")
        }
    }

    /// Waits for the cgroup files (`cgroups`) and joins; `exec` comes after `joined`.
    static func awaitJoin() throws(InitError) {
        let got: (bytes: [UInt8], fds: [Int32])?
        do { got = try Sys.receiveDescriptors(InitFD.sync) } catch { throw InitError(code: 125, "sync: \(error)") }
        guard let got, !got.bytes.isEmpty else { throw InitError(code: 125, "sync: vitro went away") }
        defer { for fd in got.fds { Sys.close(fd) } }
        guard case .cgroups(let paths)? = SyncMessage.decode(got.bytes) else {
            throw InitError(code: 125, "sync: expected cgroups, got \(String(decoding: got.bytes, as: UTF8.self))")
        }
        try joinCgroups(paths, fds: got.fds)
    }

    /// The last step of both modes: the working directory, the command on PATH, then
    /// the privileges (ContainerInit+Privileges.swift) and execve.
    static func execCommand(_ spec: InitSpec) throws -> Never {
        try execPrepared(spec, try prepareCommand(spec))
    }

    /// Everything before `execve`: the working directory, the command on PATH, and the
    /// privileges, the seccomp filter last.
    static func prepareCommand(_ spec: InitSpec) throws -> (path: String, env: [String]) {
        if Sys.fileKind(spec.cwd) == .missing {
            try Sys.mkdirAll(spec.cwd, why: "the working directory does not exist in the image; Docker creates it")
        }
        try Sys.chdir(spec.cwd, why: "the container's working directory")
        let path = try CommandLookup.resolve(spec.argv[0], path: CommandLookup.path(in: spec.env))
        return (path, try dropPrivileges(spec))
    }

    static func execPrepared(_ spec: InitSpec, _ command: (path: String, env: [String])) throws -> Never {
        if spec.initProcess { try startReaper(spec) }
        do {
            try Sys.execve(command.path, argv: spec.argv, env: command.env, why: "replace vitro-init with the container's command; it keeps pid 1")
        } catch {
            throw CommandLookup.execFailure(error)
        }
    }
}
