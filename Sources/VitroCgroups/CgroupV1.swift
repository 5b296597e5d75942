// Chapter 04: the cgroup v1 driver. Each controller is its own hierarchy with its own
// directory for the container: /sys/fs/cgroup/memory/vitro/ID, /sys/fs/cgroup/cpu/
// vitro/ID, and so on; pid 1 moves itself into each by writing `0` into its `tasks`.
//
// Two v1 traps, as runc handles them: a new cpuset cgroup starts with empty
// cpuset.cpus and cpuset.mems (unless the parent has cgroup.clone_children), and no
// process can join it until both are set, so vitro copies them down from the root;
// and memory.memsw.limit_in_bytes (memory + swap) must never be below
// memory.limit_in_bytes, so the memory limit is written first.

import VitroSys
import VitroTrace

public struct CgroupV1: CgroupDriver {
    public let id: String
    /// Controller name → mount point of its hierarchy.
    public let mounts: [String: String]
    public var version: String { "v1" }

    /// The controllers vitro uses, in the order it writes them.
    static let controllers = ["cpuset", "cpu", "cpuacct", "memory", "pids", "blkio", "freezer", "devices"]

    public init(id: String, mounts: [String: String]) {
        self.id = id
        self.mounts = mounts
    }

    func parent(_ controller: String) -> String? {
        mounts[controller].map { $0 + "/" + Cgroup.parentName }
    }

    func dir(_ controller: String) -> String? {
        parent(controller).map { $0 + "/" + id }
    }

    /// One directory per hierarchy (co-mounted controllers share one).
    public var directories: [String] {
        var seen = Set<String>()
        return Self.controllers.compactMap(dir).filter { seen.insert($0).inserted }
    }

    public func create(_ limits: CgroupLimits) throws {
        for d in directories {
            try Cgroup.underParent {
                try Sys.mkdirAll(d, mode: 0o755, group: .cgroup, why: "one cgroup per container in each v1 hierarchy, under vitro's own parent")
            }
        }
        if let root = mounts["cpuset"], let parent = parent("cpuset"), let mine = dir("cpuset") {
            for file in ["cpuset.cpus", "cpuset.mems"] {
                let inherited = (try? Sys.readText(root + "/" + file))?.trimmingNewline ?? ""
                if ((try? Sys.readText(parent + "/" + file))?.trimmingNewline ?? "").isEmpty {
                    try Cgroup.write(parent + "/" + file, inherited, "a new v1 cpuset cgroup starts empty and accepts no process until \(file) is set", counterpart: "v2 inherits the parent's \(file).effective")
                }
                let value = file == "cpuset.cpus" ? (limits.cpusetCpus ?? inherited) : inherited
                try Cgroup.write(mine + "/" + file, value, file == "cpuset.cpus" && limits.cpusetCpus != nil ? "--cpuset-cpus: the CPUs the container may run on" : "copy \(file) down so a process may join", counterpart: "v2 \(file)")
            }
        }
        if let m = dir("memory") {
            if let v = limits.memory {
                try Cgroup.write(m + "/memory.limit_in_bytes", String(v), "-m: the hard memory limit; above it the OOM killer acts", counterpart: "v2 memory.max")
            }
            if let v = limits.memorySwap {
                if Sys.fileKind(m + "/memory.memsw.limit_in_bytes") == .regular {
                    try Cgroup.write(m + "/memory.memsw.limit_in_bytes", String(v), "--memory-swap: memory plus swap together", counterpart: "v2 memory.swap.max, which counts swap alone")
                } else {
                    Tracer.shared.note("memsw", group: .cgroup, args: ["file": .string("memory.memsw.limit_in_bytes")], why: "swap accounting is off in this kernel (swapaccount=0), so the swap limit cannot be set")
                }
            }
            if let v = limits.memoryReservation {
                try Cgroup.write(m + "/memory.soft_limit_in_bytes", String(v), "--memory-reservation: the soft limit reclaimed towards under memory pressure", counterpart: "v2 memory.low")
            }
        }
        if let c = dir("cpu") {
            if let p = limits.cpuPeriod {
                try Cgroup.write(c + "/cpu.cfs_period_us", String(p), "the CFS bandwidth period, in microseconds", counterpart: "v2 cpu.max, second number")
            }
            if let q = limits.cpuQuota {
                try Cgroup.write(c + "/cpu.cfs_quota_us", String(q), "--cpus/--cpu-quota: CPU time allowed per period, in microseconds", counterpart: "v2 cpu.max, first number")
            }
            if let s = limits.cpuShares {
                try Cgroup.write(c + "/cpu.shares", String(s), "--cpu-shares: relative weight when CPUs are contended (1024 is normal)", counterpart: "v2 cpu.weight, scaled to 1-10000")
            }
        }
        if let p = dir("pids"), let v = limits.pidsLimit {
            try Cgroup.write(p + "/pids.max", String(v), "--pids-limit: fork fails with EAGAIN beyond this many tasks", counterpart: "v2 pids.max")
        }
        if let d = dir("devices"), let access = limits.devices {
            switch access {
            case .all:
                try Cgroup.write(d + "/devices.allow", "a", "--privileged: every device may be opened and created", counterpart: "v2 has no devices files; there no device program is attached")
            case .rules(let rules):
                try Cgroup.write(d + "/devices.deny", "a", "deny every device first; the allowlist follows", counterpart: "v2 starts its BPF_CGROUP_DEVICE program with r0 = 0")
                for r in rules {
                    try Cgroup.write(
                        d + (r.allow ? "/devices.allow" : "/devices.deny"), r.description,
                        r.allow ? "allow \(r): one of Docker's default device rules" : "deny \(r) (fuse) even though it may be created",
                        counterpart: "one block of v2's BPF_CGROUP_DEVICE program")
                }
            }
        }
        if let b = dir("blkio"), let w = limits.blkioWeight {
            let file = [b + "/blkio.weight", b + "/blkio.bfq.weight"].first { Sys.fileKind($0) == .regular }
            if let file {
                try Cgroup.write(file, String(w), "--blkio-weight: relative block I/O weight", counterpart: "v2 io.weight (or io.bfq.weight)")
            } else {
                Tracer.shared.note("blkio-weight", group: .cgroup, args: ["weight": .int(Int64(w))], why: "this kernel's blkio controller has no weight file (it needs the BFQ I/O scheduler); the weight is ignored, as Docker does")
            }
        }
    }

    /// The same files as `create`; when memory grows past the current memory+swap
    /// limit, that one is raised first (the kernel refuses memory above memsw).
    public func update(_ limits: CgroupLimits) throws {
        guard directories.allSatisfy({ Sys.isDirectory($0) }) else { throw CgroupError("cgroup of \(id.prefix(12)) not found") }
        if let m = dir("memory"), let memory = limits.memory, let swap = limits.memorySwap,
            let current = Cgroup.readNumber(m + "/memory.memsw.limit_in_bytes"), memory > current
        {
            try Cgroup.write(m + "/memory.memsw.limit_in_bytes", String(swap), "raise memory+swap first: memory may not exceed it", counterpart: "v2 memory.swap.max")
        }
        try create(limits)
    }

    public var joinFiles: [String] { directories.map { $0 + "/tasks" } }

    /// v1's freezer: FROZEN or THAWED in freezer.state; the kernel may report FREEZING
    /// for a moment, so the state is read back until it settles.
    public func setFrozen(_ frozen: Bool) throws {
        guard let f = dir("freezer") else { throw CgroupError("this host has no v1 freezer controller") }
        let want = frozen ? "FROZEN" : "THAWED"
        try Cgroup.write(f + "/freezer.state", want, frozen ? "pause: stop every task of the container" : "unpause: let them run again", counterpart: "v2 cgroup.freeze (1 or 0)")
        for _ in 0..<500 {
            if (try? Sys.readText(f + "/freezer.state"))?.hasPrefix(want) == true { return }
            Sys.sleep(milliseconds: 2)
        }
        throw CgroupError("freezer of \(id.prefix(12)) did not reach \(want)")
    }

    public func processes() -> [Int32] {
        guard let d = dir("pids") ?? dir("memory") ?? directories.first, let text = try? Sys.readText(d + "/cgroup.procs") else { return [] }
        return text.split(separator: "\n").compactMap { Int32($0) }
    }

    public func oomKills() -> Int {
        dir("memory").flatMap { Cgroup.readKey($0 + "/memory.oom_control", "oom_kill") }.map(Int.init) ?? 0
    }

    public func stats() -> CgroupStats {
        var s = CgroupStats()
        if let m = dir("memory") {
            let usage = Cgroup.readNumber(m + "/memory.usage_in_bytes") ?? 0
            // Docker shows usage without the page cache that can be dropped at once.
            let inactive = Cgroup.readKey(m + "/memory.stat", "total_inactive_file") ?? 0
            s.memoryUsage = max(0, usage - inactive)
            s.memoryLimit = Cgroup.readNumber(m + "/memory.limit_in_bytes")
        }
        if let c = dir("cpuacct") { s.cpuNanos = UInt64(max(0, Cgroup.readNumber(c + "/cpuacct.usage") ?? 0)) }
        if let p = dir("pids") { s.pids = Cgroup.readNumber(p + "/pids.current") ?? 0 }
        return s
    }

    public func destroy() throws {
        for d in directories {
            try Cgroup.remove(d, why: "the container has ended; its cgroup goes with it")
        }
        var seen = Set<String>()
        for c in Self.controllers {
            guard let p = parent(c), seen.insert(p).inserted else { continue }
            try? Sys.rmdir(p, group: .cgroup, why: "vitro's parent cgroup goes with its last container; while another container's cgroup is under it, the kernel refuses with EBUSY")
        }
    }
}
