// Chapter 08: acting on a container that runs under a monitor: signals, stop with a
// grace period, waiting for the exit, removal. A signal goes straight to pid 1's host
// pid, after checking that the pid still belongs to the container (its start time
// matches the one recorded), so a recycled pid is never signalled by mistake.

import VitroSys
import VitroTrace

#if canImport(Glibc)
import Glibc
#endif

public enum ContainerControl {
    /// Sends `signal` to the container's pid 1.
    /// A frozen task cannot act on a signal until it is thawed: thaw first, as Docker
    /// does for kill, stop and rm -f of a paused container.
    static func thawIfPaused(_ store: ContainerStore, _ r: ContainerRecord) {
        if store.liveStatus(r) == .paused { try? ContainerStats.setPaused(store, r, false) }
    }

    public static func kill(_ store: ContainerStore, _ r: ContainerRecord, signal: Int32) throws {
        defer { if signal == SIGKILL || signal == SIGTERM { thawIfPaused(store, r) } }
        guard store.liveStatus(r) == .running || store.liveStatus(r) == .paused else {
            throw RunError("container \(r.id.prefix(12)) is not running")
        }
        markStopped(store, r)
        try Sys.kill(r.state.pid, signal, why: "deliver the signal to the container's pid 1")
        // As Docker's kill: SIGKILL cannot be caught, so the command returns once the
        // container has stopped (its monitor has reaped pid 1), and an `inspect` right
        // after it never says running.
        // (A frozen pid 1 acts on it only once thawed: thaw first.)
        if signal == SIGKILL {
            thawIfPaused(store, r)
            _ = wait(store, r.id, timeoutMillis: 10_000)
        }
    }

    /// A person stopped the container: its restart policy no longer applies (Docker's
    /// HasBeenManuallyStopped), until it is started again.
    static func markStopped(_ store: ContainerStore, _ r: ContainerRecord) {
        try? store.update(r.id) { s in s.manuallyStopped = true }
    }

    /// A container between two runs of its restart policy: once it is marked stopped,
    /// its monitor ends during the delay, or (if the next run had already begun) the
    /// record says running again. Returns the record as it is then.
    static func settle(_ store: ContainerStore, _ r: ContainerRecord) -> ContainerRecord {
        var r = r
        var n = 0
        while store.liveStatus(r) == .restarting || (r.config.restartPolicy != "no" && r.state.status == .exited && r.state.monitorAlive), n < 250 {
            Sys.sleep(milliseconds: 20)
            n += 1
            guard let again = store.load(r.id) else { return r }
            r = again
        }
        return r
    }

    /// Waits until the container is no longer running; returns its exit code.
    public static func wait(_ store: ContainerStore, _ id: String, timeoutMillis: Int? = nil) -> Int32? {
        var waited = 0
        while true {
            guard let r = store.load(id) else { return nil }
            let status = store.liveStatus(r)
            if status != .running && status != .paused && status != .created && status != .restarting { return r.state.exitCode }
            // A created container whose monitor is gone will never start.
            if status == .created, r.state.monitorPid == 0, waited > 2000 { return r.state.exitCode }
            if let t = timeoutMillis, waited >= t { return nil }
            Sys.sleep(milliseconds: 20)
            waited += 20
        }
    }

    /// SIGTERM, then SIGKILL after `seconds` if it is still running (docker stop).
    public static func stop(_ store: ContainerStore, _ r: ContainerRecord, seconds: Int) throws {
        markStopped(store, r)
        thawIfPaused(store, r)
        let r = settle(store, r)
        guard store.liveStatus(r) == .running, r.state.pid > 0 else { return }
        try? Sys.kill(r.state.pid, SIGTERM, why: "ask the container to stop")
        if wait(store, r.id, timeoutMillis: seconds * 1000) == nil {
            try? Sys.kill(r.state.pid, SIGKILL, why: "the grace period is over")
            _ = wait(store, r.id, timeoutMillis: 10_000)
        }
    }

    /// Waits (up to 5 s) for the process that watched the container's last run to end,
    /// so its final state is recorded before the record is removed or reused.
    public static func waitForMonitor(_ r: ContainerRecord) {
        // A foreground run records itself as the monitor: this process, done with it
        // (`vitro build` removes its step containers so), would wait for itself.
        guard r.state.monitorPid > 0, r.state.monitorPid != Sys.processID() else { return }
        var n = 0
        while r.state.monitorAlive, n < 250 {
            Sys.sleep(milliseconds: 20)
            n += 1
        }
    }

    /// Removes a container (`force` kills a running one first; `volumes` removes its
    /// anonymous volumes too, when no other container uses them).
    public static func remove(_ store: ContainerStore, _ r: ContainerRecord, force: Bool, volumes: Bool = false) throws {
        let status = store.liveStatus(r)
        if status == .running || status == .paused || status == .restarting {
            guard force else {
                let what = status == .restarting ? "restarting" : "running"
                throw RunError("you cannot remove a \(what) container \(r.id.prefix(12)); stop the container before attempting removal or force remove")
            }
            markStopped(store, r)
            let r = settle(store, r)
            if store.liveStatus(r) == .running || store.liveStatus(r) == .paused, r.state.pid > 0 {
                try? Sys.kill(r.state.pid, SIGKILL, why: "rm -f: the container goes now")
            }
            thawIfPaused(store, r)
            _ = wait(store, r.id, timeoutMillis: 10_000)
        }
        // Let the monitor finish recording before the directory goes.
        waitForMonitor(r)
        try ContainerVolumes.removeContainer(store, r.id, volumes: volumes)
    }
}
