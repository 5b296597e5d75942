// Chapter 04 (used from chapter 07 on): which device nodes a container may use. A
// device node is only a name for (type, major, minor); whoever may create one with
// mknod(2) (CAP_MKNOD is in Docker's default set) could reach the host's disks through
// it. The devices controller stops that: v1's devices.deny and devices.allow hold an
// allowlist of (type, major, minor, access), checked on open(2) and mknod(2).
//
// Docker's default (moby's daemon/pkg/oci/defaults.go plus runc's AllowedDevices):
// deny everything, then allow mknod of any node (so images can still ship device
// files), and read/write/mknod of the few devices every container has: null, zero,
// full, random, urandom, tty, console, ptmx and the pty slaves; fuse (10:229) stays
// denied. cgroup v2 has no such files: there the allowlist is an eBPF program attached
// to the cgroup (BPF_CGROUP_DEVICE), made from the same rules by DeviceFilter.

/// One line of devices.allow / devices.deny: `c 1:3 rwm`, `b *:* m`, `a`.
public struct DeviceRule: Sendable, Equatable, CustomStringConvertible {
    public var allow: Bool
    /// "a" (all), "c" (character) or "b" (block).
    public var type: String
    /// nil: any (`*`).
    public var major: Int?
    public var minor: Int?
    /// Any of r (read), w (write), m (mknod).
    public var access: String

    public init(allow: Bool, type: String, major: Int?, minor: Int?, access: String) {
        self.allow = allow
        self.type = type
        self.major = major
        self.minor = minor
        self.access = access
    }

    /// What the kernel's file takes.
    public var description: String {
        if type == "a" { return "a" }
        return "\(type) \(major.map(String.init) ?? "*"):\(minor.map(String.init) ?? "*") \(access)"
    }

    static func allow(_ t: String, _ major: Int?, _ minor: Int?, _ access: String = "rwm") -> DeviceRule {
        DeviceRule(allow: true, type: t, major: major, minor: minor, access: access)
    }

    /// Docker's default rules, in the order runc writes them (after `a` is denied).
    public static let dockerDefault: [DeviceRule] = [
        allow("c", 1, 5), allow("c", 1, 3), allow("c", 1, 9), allow("c", 1, 8), allow("c", 5, 0), allow("c", 5, 1),
        DeviceRule(allow: false, type: "c", major: 10, minor: 229, access: "rwm"),
        allow("c", nil, nil, "m"), allow("b", nil, nil, "m"), allow("c", 1, 7), allow("c", 136, nil), allow("c", 5, 2),
        allow("c", 10, 200),
    ]
}

/// What the container's devices cgroup says.
public enum DeviceAccess: Sendable, Equatable {
    /// Deny all, then these rules (Docker's default).
    case rules([DeviceRule])
    /// `--privileged`: every device.
    case all
}
