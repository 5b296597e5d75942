// Chapter 04: one container's cgroup, on either version. `Cgroup.make` picks the driver
// for the host's layout; the drivers share this interface and differ only in the files
// they write. Every write is a traced `write` in group `cgroup` whose `why` names the
// file on this version and its counterpart on the other, so a trace teaches both.

import VitroSys
import VitroTrace

#if canImport(Glibc)
import Glibc
#endif

/// What `vitro stats` shows, read from the cgroup's own files.
public struct CgroupStats: Sendable, Equatable {
    public var memoryUsage: Int64 = 0
    public var memoryLimit: Int64?
    /// CPU time used, in nanoseconds.
    public var cpuNanos: UInt64 = 0
    public var pids: Int64 = 0
}

public protocol CgroupDriver: Sendable {
    /// "v1" or "v2".
    var version: String { get }
    /// The directories that make up this cgroup (one per v1 hierarchy, one on v2).
    var directories: [String] { get }
    /// Creates the cgroup (and vitro's parent cgroup if needed) and writes the limits.
    func create(_ limits: CgroupLimits) throws
    /// Changes the limits of an existing cgroup (`vitro update`): only the given ones.
    func update(_ limits: CgroupLimits) throws
    /// Freezes (`pause`) or thaws (`unpause`) every process of the cgroup.
    func setFrozen(_ frozen: Bool) throws
    /// The pids (host) of the processes in the cgroup.
    func processes() -> [Int32]
    /// The files a process writes `0` (itself) into to move itself in: v1's `tasks` in
    /// every hierarchy, v2's `cgroup.procs`. vitro opens them and hands the descriptors to
    /// pid 1, which writes from inside (after pivot_root it could not open them).
    ///
    /// Why `0` into `tasks`: it moves the writing thread alone, and the kernel (6.0 and
    /// later) then skips the lock that freezes every fork and exit on the host
    /// (cgroup_threadgroup_rwsem), whose first taking waits for an RCU grace period:
    /// 12-20 ms here, most of a container's start when vitro wrote pid 1's number into
    /// cgroup.procs. pid 1 is single-threaded, so its thread is the whole process, and
    /// every process it starts is born in the cgroup. v2 moves only whole processes
    /// across cgroups (a thread may move only within a threaded subtree), so a move there
    /// takes the lock: on v2 pid 1 is forked into its cgroup instead
    /// (clone3 CLONE_INTO_CGROUP), and `0` into cgroup.procs is the fallback for kernels
    /// that refuse that.
    var joinFiles: [String] { get }
    /// How many times the kernel's OOM killer killed a process of this cgroup.
    func oomKills() -> Int
    func stats() -> CgroupStats
    /// Removes the cgroup (it must have no processes left), and vitro's parent if empty.
    func destroy() throws
}

public enum Cgroup {
    /// The cgroup under which every container's cgroup is made.
    public static let parentName = "vitro"

    /// The driver for container `id` on this layout.
    public static func make(id: String, layout: CgroupLayout) -> any CgroupDriver {
        switch layout {
        case .v1(let mounts), .hybrid(let mounts, _):
            return CgroupV1(id: id, mounts: mounts)
        case .v2(let root):
            return CgroupV2(id: id, root: root)
        }
    }

    /// Writes one cgroup file. `counterpart` names the same knob on the other version.
    static func write(_ path: String, _ value: String, _ what: String, counterpart: String) throws {
        try Sys.writeFile(path, value, group: .cgroup, why: "\(what); on the other cgroup version: \(counterpart)")
    }

    /// Makes a container's cgroup under vitro's parent cgroup. Another vitro whose
    /// container just ended removes the parent when it sees it empty, which it may be
    /// between this vitro's mkdir of the parent and of its own cgroup: the second mkdir
    /// then fails with ENOENT, and `make` (which creates both) is simply run again.
    /// (Found by the parallel-start benchmark: 8 workers hit it within 400 starts.)
    static func underParent(_ make: () throws -> Void) throws {
        var attempt = 0
        while true {
            do {
                try make()
                return
            } catch let error as SysError where error.errno == ENOENT && attempt < 100 {
                attempt += 1
            }
        }
    }

    /// Removes a cgroup directory. rmdir fails with EBUSY for a moment after the last
    /// process exits (the kernel frees it asynchronously), so it is tried a few times.
    static func remove(_ dir: String, why: String) throws {
        var attempt = 0
        while true {
            do {
                try Sys.rmdir(dir, group: .cgroup, why: why)
                return
            } catch {
                if error.errno == ENOENT { return }
                attempt += 1
                guard error.errno == EBUSY, attempt < 50 else { throw error }
                Sys.sleep(milliseconds: 2)
            }
        }
    }

    static func readNumber(_ path: String) -> Int64? {
        guard let t = try? Sys.readText(path) else { return nil }
        return Int64(t.trimmingNewline)
    }

    /// A `key value` line from a flat-keyed file (memory.events, memory.oom_control).
    static func readKey(_ path: String, _ key: String) -> Int64? {
        guard let t = try? Sys.readText(path) else { return nil }
        for line in t.split(separator: "\n") {
            let f = line.split(separator: " ")
            if f.count == 2, f[0] == key { return Int64(f[1]) }
        }
        return nil
    }
}
