// Chapter 04: which cgroup version this host runs. Linux has two: v1, one hierarchy per
// controller (/sys/fs/cgroup/memory, /sys/fs/cgroup/cpu, …), and v2, one unified tree
// (/sys/fs/cgroup with cgroup.controllers). Some hosts run both ("hybrid": v1
// controllers plus a cgroup2 mount holding what v1 does not use). vitro reads the mount
// table to find out, as runc and systemd do.

import VitroNamespaces
import VitroSys

#if canImport(Glibc)
import Glibc
#endif

public enum CgroupLayout: Sendable, Equatable {
    /// Only v1 hierarchies: controller name → mount point.
    case v1([String: String])
    /// Only the unified hierarchy, at this mount point.
    case v2(String)
    /// Both: v1 controllers in use, and a cgroup2 mount at the given point. vitro uses
    /// the v1 driver for the controllers, as runc does.
    case hybrid([String: String], unified: String)

    /// Reads the cgroup mounts from a mountinfo text (/proc/self/mountinfo).
    public static func detect(mountinfo: String) throws(CgroupError) -> CgroupLayout {
        var v1: [String: String] = [:]
        var unified: String?
        for e in MountTable.parse(mountinfo).entries {
            if e.fstype == "cgroup2" {
                unified = unified ?? e.mountPoint
            } else if e.fstype == "cgroup" {
                // The super options (after the dash in mountinfo) name the controllers
                // of a v1 hierarchy: `rw,memory`, or `rw,cpu,cpuacct` when co-mounted.
                for opt in e.superOptions.split(separator: ",") where knownControllers.contains(String(opt)) {
                    v1[String(opt)] = v1[String(opt)] ?? e.mountPoint
                }
            }
        }
        switch (v1.isEmpty, unified) {
        case (false, .some(let u)): return .hybrid(v1, unified: u)
        case (false, .none): return .v1(v1)
        case (true, .some(let u)): return .v2(u)
        case (true, .none): throw CgroupError("no cgroup filesystem is mounted (looked in /proc/self/mountinfo)")
        }
    }

    /// The host's layout. `VITRO_CGROUP=v2` in the environment makes a hybrid host use
    /// its cgroup2 mount with the v2 driver (no v1 controller is touched then): it is how
    /// the v2 path, the device program included, runs for real on a hybrid machine.
    /// Every vitro command of a container must see the same setting.
    public static func detect() throws(CgroupError) -> CgroupLayout {
        guard let text = try? Sys.readText("/proc/self/mountinfo") else { throw CgroupError("cannot read /proc/self/mountinfo") }
        return try detect(mountinfo: text).choosing(getenv("VITRO_CGROUP").map { String(cString: $0) })
    }

    /// Applies a VITRO_CGROUP setting ("v2", or nil / empty for the host's choice).
    public func choosing(_ setting: String?) throws(CgroupError) -> CgroupLayout {
        switch (setting ?? "", self) {
        case ("", _), ("v2", .v2): return self
        case ("v2", .hybrid(_, let unified)): return .v2(unified)
        case ("v2", .v1): throw CgroupError("VITRO_CGROUP=v2: this host has no cgroup2 mount")
        default: throw CgroupError("VITRO_CGROUP=\(setting ?? ""): unknown setting (v2, or unset)")
        }
    }

    static let knownControllers: Set<String> = ["cpu", "cpuacct", "cpuset", "memory", "pids", "blkio", "freezer", "devices"]

    public var name: String {
        switch self {
        case .v1: return "v1"
        case .v2: return "v2"
        case .hybrid: return "hybrid (v1 controllers)"
        }
    }
}
