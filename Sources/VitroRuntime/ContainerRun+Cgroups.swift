// Chapter 08: the cgroup stage of a run. While pid 1 waits at `ready`, vitro creates
// its cgroup, writes the limits and moves pid 1 in; only then is pid 1 told to exec, so
// no user code ever runs outside the limits. After the container ends, the cgroup is
// removed, and its OOM counter read first to tell an OOM kill from any other SIGKILL.
//
// A run holds a lock file (/run/vitro/cgroups/ID.lock) for its whole life. A cgroup
// under vitro's parent whose lock nobody holds belongs to a run that died (vitro was
// killed): the next run removes it once it has no processes.

import VitroCgroups
import VitroSys
import VitroTrace

extension ContainerRun {
    static let lockDirectory = "/run/vitro/cgroups"

    func stageCgroups(pid: Int32) throws {
        if let layout = try? CgroupLayout.detect() { context.cgroupVersion = layout.name }
        try begin(.cgroups)
        do {
            let layout = try CgroupLayout.detect()
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
            try cg.add(pid: pid)
            end(.cgroups)
        } catch {
            end(.cgroups, error: String(describing: error))
            throw RunError(String(describing: error))
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
