// Chapter 04: the cgroup vocabulary. `CgroupLimits` is what a container may use, in
// Docker's terms (`-m 512m`, `--cpus 0.5`, `--pids-limit 100`); the v1 and v2 drivers
// translate it into the files each version has. Parsing and validation happen here,
// before anything is created, so bad input never leaves a half-made cgroup behind.

import VitroSys

public struct CgroupError: Error, CustomStringConvertible, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

public struct CgroupLimits: Sendable, Equatable {
    /// `-m`: hard memory limit in bytes.
    public var memory: Int64?
    /// `--memory-swap`: memory plus swap, in bytes; -1 for unlimited swap.
    public var memorySwap: Int64?
    /// `--memory-reservation`: the soft limit the kernel reclaims towards under pressure.
    public var memoryReservation: Int64?
    /// `--cpu-quota` and `--cpu-period` (CFS bandwidth, microseconds); `--cpus N` sets
    /// both (period 100 ms, quota N × period).
    public var cpuQuota: Int64?
    public var cpuPeriod: UInt64?
    /// `--cpu-shares`: the relative weight under contention (1024 is the default).
    public var cpuShares: UInt64?
    /// `--cpuset-cpus`: the CPUs it may run on ("0-1,3").
    public var cpusetCpus: String?
    /// `--pids-limit`: the most processes (and threads); nil or -1 for no limit.
    public var pidsLimit: Int64?
    /// `--blkio-weight`: relative block I/O weight, 10 to 1000.
    public var blkioWeight: UInt16?
    /// The device allowlist (DeviceRules.swift); nil leaves the devices cgroup as it is
    /// (`vitro update` never changes it).
    public var devices: DeviceAccess?

    public init() {}

    /// Docker's minimum for -m and --memory-reservation.
    public static let minimumMemory: Int64 = 6 * 1024 * 1024
    public static let defaultCPUPeriod: UInt64 = 100_000

    /// Reads the flags as the user typed them; nil flags are unset. `onlineCPUs` is
    /// the set of CPUs the host has (from /sys/devices/system/cpu/online).
    public static func parse(
        memory: String? = nil, memorySwap: String? = nil, memoryReservation: String? = nil, cpus: String? = nil,
        cpuShares: Int64? = nil, cpuQuota: Int64? = nil, cpuPeriod: Int64? = nil, cpusetCpus: String? = nil,
        pidsLimit: Int64? = nil, blkioWeight: Int64? = nil, onlineCPUs: Set<Int>
    ) throws(CgroupError) -> CgroupLimits {
        var l = CgroupLimits()
        if let memory {
            let v = try bytes(memory, flag: "--memory")
            guard v >= minimumMemory else { throw CgroupError("--memory \(memory): the minimum memory limit is 6MB") }
            l.memory = v
        }
        if let memorySwap {
            guard l.memory != nil else { throw CgroupError("--memory-swap needs --memory as well") }
            let v = memorySwap == "-1" ? -1 : try bytes(memorySwap, flag: "--memory-swap")
            if v != -1, let m = l.memory, v < m {
                throw CgroupError("--memory-swap \(memorySwap): must be at least --memory (it counts memory plus swap)")
            }
            l.memorySwap = v
        } else if let m = l.memory {
            // Docker: with -m alone, the container may use as much swap as memory.
            l.memorySwap = 2 * m
        }
        if let memoryReservation {
            let v = try bytes(memoryReservation, flag: "--memory-reservation")
            guard v >= minimumMemory else { throw CgroupError("--memory-reservation \(memoryReservation): the minimum is 6MB") }
            if let m = l.memory, v > m { throw CgroupError("--memory-reservation must be smaller than --memory") }
            l.memoryReservation = v
        }
        if let cpus {
            guard cpuQuota == nil, cpuPeriod == nil else {
                throw CgroupError("--cpus cannot be combined with --cpu-quota or --cpu-period")
            }
            guard let n = Double(cpus), n.isFinite, n > 0 else { throw CgroupError("--cpus \(cpus): must be a number greater than 0") }
            let count = max(onlineCPUs.count, 1)
            guard n <= Double(count) else {
                throw CgroupError("--cpus \(cpus): this machine has only \(count) CPUs (the range is 0.01 to \(count).00)")
            }
            l.cpuPeriod = defaultCPUPeriod
            l.cpuQuota = Int64((n * Double(defaultCPUPeriod)).rounded())
            guard (l.cpuQuota ?? 0) >= 1000 else { throw CgroupError("--cpus \(cpus): the smallest is 0.01") }
        }
        if let cpuPeriod {
            guard (1000...1_000_000).contains(cpuPeriod) else {
                throw CgroupError("--cpu-period \(cpuPeriod): must be between 1000 and 1000000 microseconds")
            }
            l.cpuPeriod = UInt64(cpuPeriod)
        }
        if let cpuQuota {
            guard cpuQuota == -1 || cpuQuota >= 1000 else {
                throw CgroupError("--cpu-quota \(cpuQuota): must be at least 1000 microseconds (or -1)")
            }
            l.cpuQuota = cpuQuota
            if l.cpuPeriod == nil { l.cpuPeriod = defaultCPUPeriod }
        }
        if let cpuShares {
            guard (2...262_144).contains(cpuShares) else { throw CgroupError("--cpu-shares \(cpuShares): must be between 2 and 262144") }
            l.cpuShares = UInt64(cpuShares)
        }
        if let cpusetCpus {
            let wanted = try cpuList(cpusetCpus, flag: "--cpuset-cpus")
            let missing = wanted.subtracting(onlineCPUs).sorted()
            guard missing.isEmpty else {
                throw CgroupError("--cpuset-cpus \(cpusetCpus): CPU \(missing.map(String.init).joined(separator: ",")) not available (online: \(CgroupLimits.formatCPUList(onlineCPUs)))")
            }
            l.cpusetCpus = cpusetCpus
        }
        if let pidsLimit {
            guard pidsLimit == -1 || pidsLimit > 0 else { throw CgroupError("--pids-limit \(pidsLimit): must be positive (or -1 for no limit)") }
            l.pidsLimit = pidsLimit == -1 ? nil : pidsLimit
        }
        if let blkioWeight, blkioWeight != 0 {
            guard (10...1000).contains(blkioWeight) else { throw CgroupError("--blkio-weight \(blkioWeight): must be between 10 and 1000") }
            l.blkioWeight = UInt16(blkioWeight)
        }
        return l
    }

    /// Docker's sizes: a number and an optional unit b, k, m, g, t (powers of 1024),
    /// upper or lower case, with an optional trailing b ("512m", "1g", "1kb").
    public static func bytes(_ text: String, flag: String) throws(CgroupError) -> Int64 {
        var s = text.lowercased()
        if s.hasSuffix("ib") { s.removeLast(2); s += "b" }
        var unit: Int64 = 1
        if s.count > 1, s.hasSuffix("b"), let c = s.dropLast().last, "kmgt".contains(c) { s.removeLast() }
        if let c = s.last, !c.isNumber {
            switch c {
            case "b": unit = 1
            case "k": unit = 1 << 10
            case "m": unit = 1 << 20
            case "g": unit = 1 << 30
            case "t": unit = 1 << 40
            default: throw CgroupError("\(flag) \(text): invalid size (use a number with b, k, m, g or t)")
            }
            s.removeLast()
        }
        guard !s.isEmpty, let n = Double(s), n >= 0, n.isFinite, s.allSatisfy({ $0.isNumber || $0 == "." }) else {
            throw CgroupError("\(flag) \(text): invalid size (use a number with b, k, m, g or t)")
        }
        let v = n * Double(unit)
        guard v < 9.2e18 else { throw CgroupError("\(flag) \(text): too large") }
        return Int64(v)
    }

    /// "0-2,5" → {0, 1, 2, 5}.
    public static func cpuList(_ text: String, flag: String) throws(CgroupError) -> Set<Int> {
        var out = Set<Int>()
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let ends = part.split(separator: "-", omittingEmptySubsequences: false)
            guard (1...2).contains(ends.count), let lo = Int(ends[0]), let hi = Int(ends.last ?? ""), lo >= 0, lo <= hi, hi < 4096 else {
                throw CgroupError("\(flag) \(text): invalid CPU list (use numbers and ranges like 0-2,5)")
            }
            for c in lo...hi { out.insert(c) }
        }
        return out
    }

    public static func formatCPUList(_ cpus: Set<Int>) -> String {
        cpus.sorted().map(String.init).joined(separator: ",")
    }

    /// The CPUs this machine has online.
    public static func onlineCPUs(sysfs: String = "/sys") -> Set<Int> {
        guard let text = try? Sys.readText(sysfs + "/devices/system/cpu/online") else { return [0] }
        return (try? cpuList(text.trimmingNewline, flag: "online")) ?? [0]
    }

    public var isEmpty: Bool { self == CgroupLimits() }
}

extension String {
    var trimmingNewline: String {
        var s = self
        while s.last == "\n" || s.last == " " { s.removeLast() }
        return s
    }
}
