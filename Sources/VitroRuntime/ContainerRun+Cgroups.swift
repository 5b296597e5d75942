// Chapter 08: the cgroup stage of a run. vitro creates the container's cgroup and
// writes the limits, then opens the cgroup's join files and sends them to pid 1
// (`cgroups`), which writes `0` into each from inside and answers `joined` (why from
// inside: VitroCgroups/Cgroup.swift, joinFiles); only then is pid 1 told to exec, so no
// user code ever runs outside the limits.
//
// When: on v1, while vitro-init builds the namespaces (`stageCgroupsAlongside`): the
// cgroup needs nothing from them, and the two processes run side by side, so the cgroup
// costs a start no time of its own. The files wait in the sync socket until pid 1 reads
// them after `ready`; vitro waits for its `joined` there, inside the namespaces' span.
// `learn run` keeps the stages one after the other (pid 1 waits at `ready` while vitro
// makes the cgroup), so each can be paused on; on v2 the cgroup comes first
// (`stageCgroupsFirst`). After the container ends, the cgroup is removed, and its OOM
// counter read first to tell an OOM kill from any other SIGKILL.
//
// A run holds a lock file (/run/vitro/cgroups/ID.lock) for its whole life. A cgroup
// under vitro's parent whose lock nobody holds belongs to a run that died (vitro was
// killed): the next run removes it once it has no processes.

import VitroCgroups
import VitroExec
import VitroSys
import VitroTrace

#if canImport(Glibc)
import Glibc
#endif

extension ContainerRun {
    static let lockDirectory = "/run/vitro/cgroups"

    /// `sync` is the socket to pid 1, `drainTrace` merges the events pid 1 has written.
    /// On v2 the cgroup was made before pid 1 (`stageCgroupsFirst`), which was born in
    /// it: nothing is left to do, unless the kernel refused clone3 into it.
    func stageCgroups(pid: Int32, sync: Int32, drainTrace: () -> Void) throws {
        if cgroupFilesSent { return }  // made alongside the namespaces, joined at `ready`
        if let cg = cgroup, cg.processes().contains(pid) { return }
        if let layout = try? cgroupLayout() { context.cgroupVersion = layout.name }
        try begin(.cgroups)
        do {
            let cg = try cgroup ?? makeCgroup()
            try join(cg, pid: pid, sync: sync)
            drainTrace()
            end(.cgroups)
        } catch {
            end(.cgroups, error: String(describing: error))
            throw RunError(String(describing: error))
        }
    }

    /// Whether the cgroup stage runs alongside the namespaces (the header above): v1, a
    /// new container (not `exec`), nobody pausing between the stages.
    var cgroupsAlongside: Bool {
        guard options.join == nil, observer == nil, let layout = try? cgroupLayout() else { return false }
        if case .v2 = layout { return false }
        return true
    }

    /// v1: the cgroup stage while vitro-init builds the namespaces, nested in their span.
    /// The join files go to pid 1 now and wait in the sync socket for it; vitro waits
    /// for its `joined` at `ready` (ContainerRun+Init.swift, `case .ready`).
    func stageCgroupsAlongside(sync: Int32) throws {
        try begin(.cgroups)
        do {
            let cg = try makeCgroup()
            try sendJoinFiles(cg, sync: sync, why: "they wait in the socket for pid 1 (vitro-init is building the namespaces meanwhile), which writes 0 into each once ready")
            cgroupFilesSent = true
            end(.cgroups)
            Tracer.shared.stage = .namespaces  // still open: it ends at `ready`
        } catch {
            end(.cgroups, error: String(describing: error))
            Tracer.shared.stage = .namespaces
            throw RunError(String(describing: error))
        }
    }

    /// v2: the cgroup stage runs before the namespaces, so that vitro-init can fork pid 1
    /// straight into the cgroup (clone3 with CLONE_INTO_CGROUP, fd 6): a process that is
    /// born in its cgroup never moves, and a move on v2 takes the host-wide lock whose
    /// first taking waits for an RCU grace period (VitroCgroups/Cgroup.swift, joinFiles).
    /// Returns the cgroup's directory, open, and its path; nil on v1 and for `exec`.
    func stageCgroupsFirst() throws -> (fd: Int32, path: String)? {
        guard options.join == nil, let layout = try? cgroupLayout(), case .v2 = layout else { return nil }
        context.cgroupVersion = layout.name
        try begin(.cgroups)
        do {
            let cg = try makeCgroup()
            guard let dir = cg.directories.first else { throw RunError("the v2 cgroup has no directory") }
            let fd = try Sys.open(dir, flags: O_RDONLY | O_DIRECTORY | O_CLOEXEC, why: "vitro-init will fork pid 1 into this cgroup (clone3 CLONE_INTO_CGROUP): made first, so pid 1 is born in it")
            end(.cgroups)
            return (fd, dir)
        } catch {
            releaseCgroup()
            end(.cgroups, error: String(describing: error))
            throw RunError(String(describing: error))
        }
    }

    /// The host's cgroup layout, read from mountinfo once per run.
    func cgroupLayout() throws -> CgroupLayout {
        if let detectedLayout { return detectedLayout }
        let layout = try CgroupLayout.detect()
        detectedLayout = layout
        return layout
    }

    /// The lock, the sweep of dead runs' cgroups, the cgroup and its limits.
    func makeCgroup() throws -> any CgroupDriver {
        let layout = try cgroupLayout()
        context.cgroupVersion = layout.name
        try Sys.mkdirAll(ContainerRun.lockDirectory, mode: 0o700, why: "run-time state of live containers")
        cgroupLock = try Sys.lock(ContainerRun.lockDirectory + "/\(context.containerID).lock", group: .cgroup, why: "held while this container lives, so a later vitro can tell it from a dead run")
        ContainerRun.sweepDeadCgroups(layout: layout)
        let cg = Cgroup.make(id: context.containerID, layout: layout)
        cgroup = cg
        context.cgroupDirectories = cg.directories
        Tracer.shared.note("cgroup", group: .cgroup, args: ["layout": .string(layout.name), "path": .list(cg.directories)], why: "the cgroup driver follows the host's layout")
        var limits = options.cgroupLimits
        limits.devices = options.security.privileged ? .all : .rules(DeviceRule.dockerDefault)
        try cg.create(limits)
        return cg
    }

    /// Sends pid 1 its cgroup's join files, open for writing.
    func sendJoinFiles(_ cg: any CgroupDriver, sync: Int32, why: String) throws {
        let files = cg.joinFiles
        var fds: [Int32] = []
        defer { for fd in fds { Sys.close(fd) } }
        for f in files {
            fds.append(try Sys.open(f, flags: O_WRONLY | O_CLOEXEC, why: "opened here, written by pid 1: after pivot_root it cannot reach the host's cgroup files"))
        }
        try Sys.sendDescriptors(sync, SyncMessage.cgroups(files).encode(), fds: fds, why: why)
    }

    /// Hands pid 1 its cgroup's join files and waits for `joined`.
    func join(_ cg: any CgroupDriver, pid: Int32, sync: Int32) throws {
        try sendJoinFiles(cg, sync: sync, why: "pid 1 (\(pid)) moves itself in by writing 0 into each")
        try awaitJoined(pid: pid, sync: sync)
    }

    /// Waits for pid 1's `joined`. Also when the files went ahead (alongside the
    /// namespaces): the network stage then starts after the join, in every run, so
    /// two traces of one container line up call for call (`vitro trace diff`).
    func awaitJoined(pid: Int32, sync: Int32) throws {
        while true {
            guard try Sys.poll([sync], timeoutMillis: 30_000).contains(sync) else {
                throw RunError("pid 1 (\(pid)) did not join its cgroup within 30 s")
            }
            guard let (bytes, passed) = try ContainerRun.receiveFromInit(sync) else { continue }
            if let passed { Sys.close(passed) }
            if bytes.isEmpty { throw RunError("pid 1 (\(pid)) ended before joining its cgroup") }
            switch SyncMessage.decode(bytes) {
            case .joined?: return
            case .error(_, let message)?: throw RunError(message)
            default: continue  // stage A's `pid`, which may arrive late
            }
        }
    }

    /// Removes the container's cgroup (after reading its OOM count) and the lock.
    func releaseCgroup() {
        if let cg = cgroup {
            oomKilled = cg.oomKills() > 0
            do { try cg.destroy() } catch { Tracer.shared.note("cgroup-left", group: .cgroup, args: ["error": .string(String(describing: error))], why: "the cgroup could not be removed; the next run will retry") }
            cgroup = nil
        }
        if let lock = cgroupLock {
            try? Sys.unlink(lock.path, why: "this container no longer needs its lock")
            Sys.unlock(lock, group: .cgroup)
            cgroupLock = nil
        }
    }

    /// Removes the empty cgroups of runs that died without cleaning up.
    static func sweepDeadCgroups(layout: CgroupLayout) {
        let parent: String
        switch layout {
        case .v1(let m), .hybrid(let m, _):
            guard let memory = m["memory"] ?? m.values.first else { return }
            parent = memory + "/" + Cgroup.parentName
        case .v2(let root):
            parent = root + "/" + Cgroup.parentName
        }
        for id in Sys.listDirectory(parent) where id.count == 64 && Sys.isDirectory(parent + "/" + id) {
            let lockPath = lockDirectory + "/\(id).lock"
            guard let lock = try? Sys.lock(lockPath, wait: false, group: .cgroup, why: "is the run that made this cgroup still alive?") else { continue }
            let cg = Cgroup.make(id: id, layout: layout)
            try? cg.destroy()
            try? Sys.unlink(lockPath, why: "the dead run's lock")
            Sys.unlock(lock, group: .cgroup)
        }
    }
}
