// Chapter 04/08: what `vitro stats` shows, read from the container's cgroup (memory,
// CPU time, tasks) and from /proc/PID/net/dev of its pid 1 (the container's network
// namespace's interfaces), and what `vitro update` changes.

import VitroCgroups
import VitroSys
import VitroTrace

public struct ContainerSample: Sendable {
    public var id: String
    public var name: String
    public var cgroup: CgroupStats
    public var netRx: Int64
    public var netTx: Int64
    /// When the sample was taken, in nanoseconds of CLOCK_MONOTONIC.
    public var at: UInt64
}

public enum ContainerStats {
    public static func sample(_ r: ContainerRecord) throws -> ContainerSample {
        let layout = try CgroupLayout.detect()
        let cg = Cgroup.make(id: r.id, layout: layout)
        var rx: Int64 = 0, tx: Int64 = 0
        if let text = try? Sys.readText("/proc/\(r.state.pid)/net/dev") {
            // "  eth0: RXBYTES packets … (8 fields) TXBYTES …"
            for line in text.split(separator: "\n").dropFirst(2) {
                guard let colon = line.firstIndex(of: ":") else { continue }
                let name = line[..<colon].trimmingPrefix(" ")
                guard name != "lo" else { continue }
                let f = line[line.index(after: colon)...].split(separator: " ")
                if f.count >= 9 {
                    rx += Int64(f[0]) ?? 0
                    tx += Int64(f[8]) ?? 0
                }
            }
        }
        return ContainerSample(id: r.id, name: r.config.name, cgroup: cg.stats(), netRx: rx, netTx: tx, at: MonotonicClock.now())
    }

    /// The host's memory, for a container without a memory limit.
    public static func hostMemory() -> Int64 {
        guard let text = try? Sys.readText("/proc/meminfo"),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("MemTotal:") })
        else { return 0 }
        return (Int64(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
    }

    /// `pause`/`unpause`: freeze or thaw the container's cgroup and record it.
    public static func setPaused(_ store: ContainerStore, _ r: ContainerRecord, _ paused: Bool) throws {
        let status = store.liveStatus(r)
        if paused && status != .running { throw RunError("container \(r.id.prefix(12)) is not running") }
        if !paused && status != .paused { throw RunError("container \(r.id.prefix(12)) is not paused") }
        try Cgroup.make(id: r.id, layout: try CgroupLayout.detect()).setFrozen(paused)
        try store.update(r.id) { $0.status = paused ? .paused : .running }
    }

    /// `top`: the host pids of the container's processes.
    public static func processes(_ r: ContainerRecord) throws -> [Int32] {
        Cgroup.make(id: r.id, layout: try CgroupLayout.detect()).processes()
    }

    /// `vitro update`: new limits on a running container's cgroup.
    public static func update(_ r: ContainerRecord, _ limits: CgroupLimits) throws {
        let cg = Cgroup.make(id: r.id, layout: try CgroupLayout.detect())
        try cg.update(limits)
    }
}
