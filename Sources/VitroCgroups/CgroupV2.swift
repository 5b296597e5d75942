// Chapter 04: the cgroup v2 driver. v2 has one tree: the container's cgroup is
// /sys/fs/cgroup/vitro/ID, and a controller works in a cgroup only when its parent
// lists it in cgroup.subtree_control. So vitro enables the controllers it needs, top
// down ("+cpu +memory +pids …" into the root's and vitro's subtree_control), then
// writes the limits in v2's own files: memory.max, memory.swap.max, cpu.max, cpu.weight,
// pids.max, cpuset.cpus, io.weight.
//
// The device allowlist has no file on v2: it is an eBPF program attached to the
// cgroup (CgroupV2+Devices.swift).
//
// v2's "no internal processes" rule: a cgroup with controllers enabled for its children
// may not hold processes itself; vitro's parent holds none, only container cgroups do.

import VitroSys
import VitroTrace

public struct CgroupV2: CgroupDriver {
    public let id: String
    /// Mount point of the unified hierarchy.
    public let root: String
    public var version: String { "v2" }

    public init(id: String, root: String) {
        self.id = id
        self.root = root
    }

    var parent: String { root + "/" + Cgroup.parentName }
    var dir: String { parent + "/" + id }
    public var directories: [String] { [dir] }

    static let wanted = ["cpuset", "cpu", "io", "memory", "pids"]

    /// Docker's mapping of cpu.shares (2–262144) onto cpu.weight (1–10000).
    public static func weight(shares: UInt64) -> UInt64 {
        1 + ((max(shares, 2) - 2) * 9999) / 262_142
    }

    /// blkio.weight (10–1000) onto io.weight (1–10000).
    public static func ioWeight(blkio: UInt16) -> UInt64 {
        1 + (UInt64(max(blkio, 10)) - 10) * 9999 / 990
    }

    func enableControllers(in cgroup: String, available: Set<String>) throws {
        let already = Set(((try? Sys.readText(cgroup + "/cgroup.subtree_control"))?.trimmingNewline ?? "").split(separator: " ").map(String.init))
        let missing = Self.wanted.filter { available.contains($0) && !already.contains($0) }
        guard !missing.isEmpty else { return }
        try Cgroup.write(
            cgroup + "/cgroup.subtree_control", missing.map { "+" + $0 }.joined(separator: " "),
            "let the cgroups below use these controllers", counterpart: "v1 has a hierarchy per controller and needs no such switch")
    }

    public func create(_ limits: CgroupLimits) throws {
        let available = Set(((try? Sys.readText(root + "/cgroup.controllers"))?.trimmingNewline ?? "").split(separator: " ").map(String.init))
        try enableControllers(in: root, available: available)
        try Cgroup.underParent {
            try Sys.mkdir(parent, mode: 0o755, existOK: true, group: .cgroup, why: "vitro's parent cgroup: containers' cgroups live below it")
            try enableControllers(in: parent, available: available)
            try Sys.mkdir(dir, mode: 0o755, existOK: true, group: .cgroup, why: "the container's own cgroup")
        }
        if let devices = limits.devices {
            try applyDevices(devices)
        }
        if let v = limits.memory {
            try Cgroup.write(dir + "/memory.max", String(v), "-m: the hard memory limit; above it the OOM killer acts", counterpart: "v1 memory.limit_in_bytes")
        }
        if let total = limits.memorySwap {
            let swap = total == -1 ? "max" : String(max(0, total - (limits.memory ?? 0)))
            try Cgroup.write(dir + "/memory.swap.max", swap, "--memory-swap minus -m: v2 limits swap alone", counterpart: "v1 memory.memsw.limit_in_bytes, which counts memory plus swap")
        }
        if let v = limits.memoryReservation {
            try Cgroup.write(dir + "/memory.low", String(v), "--memory-reservation: memory protected from reclaim", counterpart: "v1 memory.soft_limit_in_bytes")
        }
        if limits.cpuQuota != nil || limits.cpuPeriod != nil {
            let q = limits.cpuQuota.map { $0 < 0 ? "max" : String($0) } ?? "max"
            let p = limits.cpuPeriod ?? CgroupLimits.defaultCPUPeriod
            try Cgroup.write(dir + "/cpu.max", "\(q) \(p)", "--cpus/--cpu-quota/--cpu-period: CPU time per period, in microseconds", counterpart: "v1 cpu.cfs_quota_us and cpu.cfs_period_us")
        }
        if let s = limits.cpuShares {
            try Cgroup.write(dir + "/cpu.weight", String(Self.weight(shares: s)), "--cpu-shares \(s) scaled to v2's 1-10000 weight", counterpart: "v1 cpu.shares")
        }
        if let c = limits.cpusetCpus {
            try Cgroup.write(dir + "/cpuset.cpus", c, "--cpuset-cpus: the CPUs the container may run on", counterpart: "v1 cpuset.cpus")
        }
        if let v = limits.pidsLimit {
            try Cgroup.write(dir + "/pids.max", String(v), "--pids-limit: fork fails with EAGAIN beyond this many tasks", counterpart: "v1 pids.max")
        }
        if let w = limits.blkioWeight {
            if Sys.fileKind(dir + "/io.weight") == .regular {
                try Cgroup.write(dir + "/io.weight", "default \(Self.ioWeight(blkio: w))", "--blkio-weight \(w) scaled to v2's 1-10000 weight", counterpart: "v1 blkio.weight")
            } else {
                Tracer.shared.note("blkio-weight", group: .cgroup, args: ["weight": .int(Int64(w))], why: "this kernel has no io.weight (the io controller or its scheduler is missing); the weight is ignored, as Docker does")
            }
        }
    }

    /// The same files as `create` (v2 has no ordering constraint between them). The
    /// device program is attached once, at creation: another would run beside it.
    public func update(_ limits: CgroupLimits) throws {
        guard Sys.isDirectory(dir) else { throw CgroupError("cgroup of \(id.prefix(12)) not found") }
        var limits = limits
        limits.devices = nil
        try create(limits)
    }

    public var joinFiles: [String] { [dir + "/cgroup.procs"] }

    /// v2's freezer: 1 or 0 in cgroup.freeze; `frozen 1` in cgroup.events once done.
    public func setFrozen(_ frozen: Bool) throws {
        try Cgroup.write(dir + "/cgroup.freeze", frozen ? "1" : "0", frozen ? "pause: stop every task of the container" : "unpause: let them run again", counterpart: "v1 freezer.state (FROZEN or THAWED)")
        for _ in 0..<500 {
            if Cgroup.readKey(dir + "/cgroup.events", "frozen") == (frozen ? 1 : 0) { return }
            Sys.sleep(milliseconds: 2)
        }
        throw CgroupError("cgroup of \(id.prefix(12)) did not reach frozen \(frozen ? 1 : 0)")
    }

    public func processes() -> [Int32] {
        guard let text = try? Sys.readText(dir + "/cgroup.procs") else { return [] }
        return text.split(separator: "\n").compactMap { Int32($0) }
    }

    public func oomKills() -> Int {
        Cgroup.readKey(dir + "/memory.events", "oom_kill").map(Int.init) ?? 0
    }

    public func stats() -> CgroupStats {
        var s = CgroupStats()
        let current = Cgroup.readNumber(dir + "/memory.current") ?? 0
        let inactive = Cgroup.readKey(dir + "/memory.stat", "inactive_file") ?? 0
        s.memoryUsage = max(0, current - inactive)
        s.memoryLimit = Cgroup.readNumber(dir + "/memory.max")
        s.cpuNanos = UInt64(max(0, Cgroup.readKey(dir + "/cpu.stat", "usage_usec") ?? 0)) * 1000
        s.pids = Cgroup.readNumber(dir + "/pids.current") ?? 0
        return s
    }

    public func destroy() throws {
        try Cgroup.remove(dir, why: "the container has ended; its cgroup goes with it")
        try? Sys.rmdir(parent, group: .cgroup, why: "vitro's parent cgroup goes with its last container; while another container's cgroup is under it, the kernel refuses with EBUSY")
    }
}
