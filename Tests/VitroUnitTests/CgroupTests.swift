// Chapter 04 without root: flag parsing and validation, layout detection, and what each
// driver writes, checked against a cgroupfs made of plain files in a temp directory.

import Foundation
import Testing

@testable import VitroCgroups
@testable import VitroTrace
import VitroSys

@Suite struct CgroupFlags {
    let two: Set<Int> = [0, 1]

    @Test func sizesAsDockerReadsThem() throws {
        #expect(try CgroupLimits.bytes("512m", flag: "-m") == 512 << 20)
        #expect(try CgroupLimits.bytes("1G", flag: "-m") == 1 << 30)
        #expect(try CgroupLimits.bytes("100kb", flag: "-m") == 100 << 10)
        #expect(try CgroupLimits.bytes("7340032", flag: "-m") == 7_340_032)
        #expect(try CgroupLimits.bytes("1.5g", flag: "-m") == 3 << 29)
        for bad in ["1x", "", "m", "-5m", "1..2m", "12 m"] {
            #expect(throws: CgroupError.self, "\(bad)") { try CgroupLimits.bytes(bad, flag: "-m") }
        }
    }

    @Test func badInputIsRefusedWithOneLine() {
        func message(_ f: () throws -> CgroupLimits) -> String {
            do { _ = try f(); return "" } catch { return (error as? CgroupError)?.message ?? "\(error)" }
        }
        #expect(message { try CgroupLimits.parse(memory: "1x", onlineCPUs: two) } == "--memory 1x: invalid size (use a number with b, k, m, g or t)")
        #expect(message { try CgroupLimits.parse(cpus: "-1", onlineCPUs: two) } == "--cpus -1: must be a number greater than 0")
        #expect(message { try CgroupLimits.parse(cpus: "3", onlineCPUs: two) } == "--cpus 3: this machine has only 2 CPUs (the range is 0.01 to 2.00)")
        #expect(message { try CgroupLimits.parse(memory: "1m", onlineCPUs: two) } == "--memory 1m: the minimum memory limit is 6MB")
        #expect(message { try CgroupLimits.parse(cpusetCpus: "99", onlineCPUs: two) } == "--cpuset-cpus 99: CPU 99 not available (online: 0,1)")
        #expect(message { try CgroupLimits.parse(cpusetCpus: "1-0", onlineCPUs: two) }.hasPrefix("--cpuset-cpus 1-0: invalid CPU list"))
        #expect(message { try CgroupLimits.parse(memory: "64m", memorySwap: "32m", onlineCPUs: two) }.hasPrefix("--memory-swap 32m: must be at least --memory"))
        #expect(message { try CgroupLimits.parse(memorySwap: "1g", onlineCPUs: two) } == "--memory-swap needs --memory as well")
        #expect(message { try CgroupLimits.parse(cpus: "1", cpuQuota: 50000, onlineCPUs: two) } == "--cpus cannot be combined with --cpu-quota or --cpu-period")
        #expect(message { try CgroupLimits.parse(pidsLimit: 0, onlineCPUs: two) }.hasPrefix("--pids-limit 0"))
        #expect(message { try CgroupLimits.parse(blkioWeight: 5, onlineCPUs: two) }.hasPrefix("--blkio-weight 5"))
        #expect(message { try CgroupLimits.parse(cpuShares: 1, onlineCPUs: two) }.hasPrefix("--cpu-shares 1"))
    }

    @Test func dockerDefaultsFollow() throws {
        let l = try CgroupLimits.parse(memory: "64m", cpus: "0.5", pidsLimit: -1, onlineCPUs: two)
        #expect(l.memory == 64 << 20)
        #expect(l.memorySwap == 128 << 20, "-m alone allows as much swap as memory")
        #expect(l.cpuQuota == 50_000 && l.cpuPeriod == 100_000)
        #expect(l.pidsLimit == nil)
        #expect(try CgroupLimits.parse(onlineCPUs: two).isEmpty)
        #expect(CgroupV2.weight(shares: 1024) == 39)
        #expect(CgroupV2.weight(shares: 2) == 1 && CgroupV2.weight(shares: 262_144) == 10_000)
        #expect(CgroupV2.ioWeight(blkio: 500) == 4950)
    }
}

@Suite struct CgroupLayouts {
    static let hybrid = """
        33 25 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
        34 33 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
        35 33 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
        36 33 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
        37 33 0:32 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
        38 33 0:33 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
        """
    static let comounted = "40 33 0:40 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
    static let unified = "30 25 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n"

    @Test func detectsEachLayout() throws {
        #expect(try CgroupLayout.detect(mountinfo: Self.hybrid) == .hybrid(["cpu": "/sys/fs/cgroup/cpu", "cpuacct": "/sys/fs/cgroup/cpuacct", "memory": "/sys/fs/cgroup/memory"], unified: "/sys/fs/cgroup/unified"))
        #expect(try CgroupLayout.detect(mountinfo: Self.unified) == .v2("/sys/fs/cgroup"))
        #expect(try CgroupLayout.detect(mountinfo: Self.comounted) == .v1(["cpu": "/sys/fs/cgroup/cpu,cpuacct", "cpuacct": "/sys/fs/cgroup/cpu,cpuacct"]))
        #expect(throws: CgroupError.self) { try CgroupLayout.detect(mountinfo: "22 27 0:21 / /proc rw - proc proc rw\n") }
    }

    /// VITRO_CGROUP=v2 on a hybrid host: the cgroup2 mount with the v2 driver.
    @Test func vitroCgroupV2ChoosesTheUnifiedMountOfAHybridHost() throws {
        let hybrid = try CgroupLayout.detect(mountinfo: Self.hybrid)
        #expect(try hybrid.choosing("v2") == .v2("/sys/fs/cgroup/unified"))
        #expect(try hybrid.choosing(nil) == hybrid && hybrid.choosing("") == hybrid)
        #expect(try CgroupLayout.v2("/sys/fs/cgroup").choosing("v2") == .v2("/sys/fs/cgroup"))
        #expect(throws: CgroupError.self) { try CgroupLayout.v1(["memory": "/m"]).choosing("v2") }
        #expect(throws: CgroupError.self) { try hybrid.choosing("v3") }
    }

    @Test func coMountedControllersShareOneDirectory() {
        let v1 = CgroupV1(id: "c1", mounts: ["cpu": "/cg/cpu,cpuacct", "cpuacct": "/cg/cpu,cpuacct", "memory": "/cg/memory"])
        #expect(v1.directories == ["/cg/cpu,cpuacct/vitro/c1", "/cg/memory/vitro/c1"])
    }
}

/// A cgroupfs made of plain files: real cgroupfs makes the control files itself.
struct FakeCgroupfs {
    let root = NSTemporaryDirectory() + "vitro-cgfs-" + UUID().uuidString
    func write(_ rel: String, _ s: String) throws {
        let p = root + "/" + rel
        try FileManager.default.createDirectory(atPath: (p as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try s.write(toFile: p, atomically: false, encoding: .utf8)
    }
    func read(_ rel: String) -> String? { try? String(contentsOfFile: root + "/" + rel, encoding: .utf8) }
    func remove() { try? FileManager.default.removeItem(atPath: root) }
}

@Suite struct CgroupDrivers {
    @Test func v2WritesEachFlagToItsFile() throws {
        let fs = FakeCgroupfs()
        defer { fs.remove() }
        try fs.write("cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n")
        try fs.write("cgroup.subtree_control", "")
        let limits = try CgroupLimits.parse(
            memory: "64m", memorySwap: "96m", memoryReservation: "32m", cpus: "0.5", cpuShares: 512,
            cpusetCpus: "1", pidsLimit: 50, onlineCPUs: [0, 1])
        let mem = MemorySink()
        Tracer.shared.addSink(mem)
        let v2 = CgroupV2(id: "c1", root: fs.root)
        try v2.create(limits)
        #expect(fs.read("cgroup.subtree_control") == "+cpuset +cpu +io +memory +pids")
        #expect(fs.read("vitro/cgroup.subtree_control") == "+cpuset +cpu +io +memory +pids")
        let c = "vitro/c1/"
        #expect(fs.read(c + "memory.max") == String(64 << 20))
        #expect(fs.read(c + "memory.swap.max") == String(32 << 20), "v2 limits swap alone: 96m - 64m")
        #expect(fs.read(c + "memory.low") == String(32 << 20))
        #expect(fs.read(c + "cpu.max") == "50000 100000")
        #expect(fs.read(c + "cpu.weight") == "20")
        #expect(fs.read(c + "cpuset.cpus") == "1")
        #expect(fs.read(c + "pids.max") == "50")
        #expect(v2.joinFiles == [fs.root + "/" + c + "cgroup.procs"], "v2 moves whole processes only: pid 1 writes 0 into cgroup.procs")
        // Each write is traced with the counterpart on v1.
        let w = mem.events.first { $0.args["path"] == .string(fs.root + "/" + c + "memory.max") }
        #expect(w?.group == .cgroup)
        #expect(w?.why?.contains("v1 memory.limit_in_bytes") == true)
        #expect(w?.shell == "echo \(64 << 20) > \(fs.root)/\(c)memory.max")
    }

    /// `vitro update` on v2 writes limits only: the device program is attached once, at
    /// creation (a second one would run beside the first).
    @Test func v2UpdateAttachesNoSecondDeviceProgram() throws {
        let fs = FakeCgroupfs()
        defer { fs.remove() }
        try fs.write("cgroup.controllers", "pids\n")
        try fs.write("cgroup.subtree_control", "")
        try fs.write("vitro/c1/cgroup.procs", "")
        let mem = MemorySink()
        Tracer.shared.addSink(mem)
        var limits = CgroupLimits()
        limits.pidsLimit = 7
        limits.devices = .rules(DeviceRule.dockerDefault)
        try CgroupV2(id: "c1", root: fs.root).update(limits)
        #expect(fs.read("vitro/c1/pids.max") == "7")
        // Had update attached, the load or the attach (this is no cgroup) would have thrown.
        #expect(!mem.events.contains { $0.name == "bpf" && ($0.args["cgroup"]?.text ?? "").hasPrefix(fs.root) })
    }

    @Test func v2ReadsOOMAndStats() throws {
        let fs = FakeCgroupfs()
        defer { fs.remove() }
        try fs.write("vitro/c1/memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
        try fs.write("vitro/c1/memory.current", "1048576\n")
        try fs.write("vitro/c1/memory.stat", "anon 1000\ninactive_file 4096\n")
        try fs.write("vitro/c1/memory.max", "max\n")
        try fs.write("vitro/c1/cpu.stat", "usage_usec 1500\nuser_usec 1000\n")
        try fs.write("vitro/c1/pids.current", "3\n")
        let v2 = CgroupV2(id: "c1", root: fs.root)
        #expect(v2.oomKills() == 1)
        #expect(v2.stats() == CgroupStats(memoryUsage: 1_048_576 - 4096, memoryLimit: nil, cpuNanos: 1_500_000, pids: 3))
    }

    @Test func underParentRunsAgainOnlyWhenSomethingVanished() throws {
        var runs = 0
        try Cgroup.underParent {
            runs += 1
            if runs < 3 { throw SysError(operation: "mkdir", object: "/sys/fs/cgroup/pids/vitro/c1", errno: ENOENT) }
        }
        #expect(runs == 3)
        runs = 0
        #expect(throws: SysError.self) {
            try Cgroup.underParent {
                runs += 1
                throw SysError(operation: "mkdir", object: "/sys/fs/cgroup/pids/vitro/c1", errno: EACCES)
            }
        }
        #expect(runs == 1)
    }

    /// Another vitro whose container just ended removes vitro's parent cgroup when it
    /// sees it empty, which it is between this vitro's mkdir of the parent and of its own
    /// cgroup. Here a thread plays that vitro, removing the parent whenever it can, while
    /// containers' cgroups are made and removed: every create must succeed.
    @Test func aParentRemovedByAnotherVitroMeanwhileIsMadeAgain() throws {
        let fs = FakeCgroupfs()
        defer { fs.remove() }
        try fs.write("pids/.keep", "")
        let parent = fs.root + "/pids/vitro"
        final class Stop: @unchecked Sendable {
            let lock = NSLock()
            var value = false
            var isSet: Bool { lock.withLock { value } }
            func set() { lock.withLock { value = true } }
        }
        let stop = Stop()
        let done = DispatchSemaphore(value: 0)
        let other = Thread {
            // It removes the parent only when it is empty, as vitro does; at most 100 times.
            var removed = 0
            while !stop.isSet && removed < 100 {
                if Glibc.rmdir(parent) == 0 { removed += 1 }
                usleep(100)
            }
            done.signal()
        }
        other.start()
        var failures: [String] = []
        for i in 0..<300 {
            let v1 = CgroupV1(id: "c\(i)", mounts: ["pids": fs.root + "/pids"])
            do {
                try v1.create(CgroupLimits())
                try v1.destroy()
            } catch {
                failures.append("\(error)")
            }
        }
        stop.set()
        done.wait()
        #expect(failures.count == 0, "the first of the failed creates: \(failures.first ?? "")")
    }

    @Test func v1WritesEachFlagToItsHierarchy() throws {
        let fs = FakeCgroupfs()
        defer { fs.remove() }
        var mounts: [String: String] = [:]
        for c in ["cpuset", "cpu", "cpuacct", "memory", "pids", "blkio"] { mounts[c] = fs.root + "/" + c }
        try fs.write("cpuset/cpuset.cpus", "0-1\n")
        try fs.write("cpuset/cpuset.mems", "0\n")
        try fs.write("memory/vitro/c1/memory.memsw.limit_in_bytes", "")
        let limits = try CgroupLimits.parse(memory: "64m", memoryReservation: "32m", cpus: "1.5", cpuShares: 512, pidsLimit: 50, blkioWeight: 300, onlineCPUs: [0, 1])
        let v1 = CgroupV1(id: "c1", mounts: mounts)
        try v1.create(limits)
        #expect(fs.read("cpuset/vitro/cpuset.cpus") == "0-1", "the parent gets the root's CPUs")
        #expect(fs.read("cpuset/vitro/c1/cpuset.mems") == "0")
        #expect(fs.read("memory/vitro/c1/memory.limit_in_bytes") == String(64 << 20))
        #expect(fs.read("memory/vitro/c1/memory.memsw.limit_in_bytes") == String(128 << 20))
        #expect(fs.read("memory/vitro/c1/memory.soft_limit_in_bytes") == String(32 << 20))
        #expect(fs.read("cpu/vitro/c1/cpu.cfs_quota_us") == "150000")
        #expect(fs.read("cpu/vitro/c1/cpu.cfs_period_us") == "100000")
        #expect(fs.read("cpu/vitro/c1/cpu.shares") == "512")
        #expect(fs.read("pids/vitro/c1/pids.max") == "50")
        #expect(fs.read("blkio/vitro/c1/blkio.weight") == nil, "no weight file: ignored, as Docker does")
        #expect(
            v1.joinFiles.sorted() == ["cpuset", "cpu", "cpuacct", "memory", "pids", "blkio"].map { fs.root + "/" + $0 + "/vitro/c1/tasks" }.sorted(),
            "v1: pid 1 writes 0 into tasks in every hierarchy")
    }
}
