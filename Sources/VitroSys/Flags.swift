// Typed flags that print by name. A trace says `MS_BIND|MS_REC`, never `20480`.
// Values are the kernel's (include/uapi/linux/mount.h, sched.h).

public protocol NamedFlags: OptionSet, Sendable where RawValue: FixedWidthInteger, Element == Self {
    static var names: [(Self, String)] { get }
}

extension NamedFlags {
    /// `MS_BIND|MS_REC`; unknown bits are shown in hex; no bits is `0`.
    public var names: String {
        var parts: [String] = []
        var rest = rawValue
        for (flag, name) in Self.names where contains(flag) {
            parts.append(name)
            rest &= ~flag.rawValue
        }
        if rest != 0 { parts.append("0x" + String(rest, radix: 16)) }
        return parts.isEmpty ? "0" : parts.joined(separator: "|")
    }
}

/// mount(2) flags.
public struct MountFlags: NamedFlags {
    public let rawValue: UInt
    public init(rawValue: UInt) { self.rawValue = rawValue }

    /// MS_RDONLY: mount read-only.
    public static let readOnly = MountFlags(rawValue: 1)
    /// MS_NOSUID: ignore set-user-ID and set-group-ID bits.
    public static let noSuid = MountFlags(rawValue: 2)
    /// MS_NODEV: no access to device nodes.
    public static let noDev = MountFlags(rawValue: 4)
    /// MS_NOEXEC: no program may be executed from it.
    public static let noExec = MountFlags(rawValue: 8)
    /// MS_REMOUNT: change the flags of an existing mount.
    public static let remount = MountFlags(rawValue: 32)
    /// MS_NOATIME.
    public static let noAtime = MountFlags(rawValue: 1024)
    /// MS_NODIRATIME.
    public static let noDirAtime = MountFlags(rawValue: 2048)
    /// MS_BIND: make a file or tree visible at another place.
    public static let bind = MountFlags(rawValue: 4096)
    /// MS_MOVE: move a mount.
    public static let move = MountFlags(rawValue: 8192)
    /// MS_REC: apply to the whole subtree.
    public static let recursive = MountFlags(rawValue: 16384)
    /// MS_UNBINDABLE.
    public static let unbindable = MountFlags(rawValue: 1 << 17)
    /// MS_PRIVATE: mount and unmount events do not propagate to or from peers.
    public static let `private` = MountFlags(rawValue: 1 << 18)
    /// MS_SLAVE: receive events from the master, send none.
    public static let slave = MountFlags(rawValue: 1 << 19)
    /// MS_SHARED: share events with peers.
    public static let shared = MountFlags(rawValue: 1 << 20)
    /// MS_RELATIME.
    public static let relatime = MountFlags(rawValue: 1 << 21)
    /// MS_STRICTATIME.
    public static let strictAtime = MountFlags(rawValue: 1 << 24)

    public static let names: [(MountFlags, String)] = [
        (.readOnly, "MS_RDONLY"), (.noSuid, "MS_NOSUID"), (.noDev, "MS_NODEV"), (.noExec, "MS_NOEXEC"),
        (.remount, "MS_REMOUNT"), (.noAtime, "MS_NOATIME"), (.noDirAtime, "MS_NODIRATIME"), (.bind, "MS_BIND"), (.move, "MS_MOVE"),
        (.recursive, "MS_REC"), (.unbindable, "MS_UNBINDABLE"), (.private, "MS_PRIVATE"),
        (.slave, "MS_SLAVE"), (.shared, "MS_SHARED"), (.relatime, "MS_RELATIME"),
        (.strictAtime, "MS_STRICTATIME"),
    ]

    public static let propagation: MountFlags = [.private, .slave, .shared, .unbindable]
}

/// openat2(2)'s `resolve` flags: how the path is walked (linux/openat2.h).
public struct ResolveFlags: NamedFlags {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    /// RESOLVE_NO_XDEV: fail rather than cross a mount point.
    public static let noCrossDevice = ResolveFlags(rawValue: 0x01)
    /// RESOLVE_NO_MAGICLINKS: fail on /proc/PID/fd-style links.
    public static let noMagicLinks = ResolveFlags(rawValue: 0x02)
    /// RESOLVE_NO_SYMLINKS: fail on any symlink.
    public static let noSymlinks = ResolveFlags(rawValue: 0x04)
    /// RESOLVE_BENEATH: fail if the path would leave the directory.
    public static let beneath = ResolveFlags(rawValue: 0x08)
    /// RESOLVE_IN_ROOT: treat the directory as "/": absolute links and ".." stop there.
    public static let inRoot = ResolveFlags(rawValue: 0x10)
    public static let names: [(ResolveFlags, String)] = [
        (.noCrossDevice, "RESOLVE_NO_XDEV"), (.noMagicLinks, "RESOLVE_NO_MAGICLINKS"),
        (.noSymlinks, "RESOLVE_NO_SYMLINKS"), (.beneath, "RESOLVE_BENEATH"), (.inRoot, "RESOLVE_IN_ROOT"),
    ]
}

/// umount2(2) flags.
public struct UnmountFlags: NamedFlags {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }
    /// MNT_FORCE.
    public static let force = UnmountFlags(rawValue: 1)
    /// MNT_DETACH: lazy unmount; the tree disappears once nothing uses it.
    public static let detach = UnmountFlags(rawValue: 2)
    /// UMOUNT_NOFOLLOW: do not follow a symlink at the target.
    public static let noFollow = UnmountFlags(rawValue: 8)
    public static let names: [(UnmountFlags, String)] = [
        (.force, "MNT_FORCE"), (.detach, "MNT_DETACH"), (.noFollow, "UMOUNT_NOFOLLOW"),
    ]
}

/// The namespace kinds, as the CLONE_NEW* bits of clone(2), unshare(2) and setns(2).
public struct NamespaceSet: NamedFlags {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }
    /// CLONE_NEWNS: a new mount namespace (the first namespace Linux had, hence "NS").
    public static let mount = NamespaceSet(rawValue: 0x0002_0000)
    /// CLONE_NEWCGROUP: a new cgroup namespace.
    public static let cgroup = NamespaceSet(rawValue: 0x0200_0000)
    /// CLONE_NEWUTS: hostname and domain name.
    public static let uts = NamespaceSet(rawValue: 0x0400_0000)
    /// CLONE_NEWIPC: System V IPC and POSIX message queues.
    public static let ipc = NamespaceSet(rawValue: 0x0800_0000)
    /// CLONE_NEWUSER: user and group ids.
    public static let user = NamespaceSet(rawValue: 0x1000_0000)
    /// CLONE_NEWPID: process ids; applies to children created afterwards.
    public static let pid = NamespaceSet(rawValue: 0x2000_0000)
    /// CLONE_NEWNET: network devices, addresses, routes, firewall.
    public static let net = NamespaceSet(rawValue: 0x4000_0000)

    public static let names: [(NamespaceSet, String)] = [
        (.mount, "CLONE_NEWNS"), (.uts, "CLONE_NEWUTS"), (.ipc, "CLONE_NEWIPC"), (.pid, "CLONE_NEWPID"),
        (.net, "CLONE_NEWNET"), (.cgroup, "CLONE_NEWCGROUP"), (.user, "CLONE_NEWUSER"),
    ]

    /// The name of each kind under /proc/PID/ns/.
    public static let procNames: [(NamespaceSet, String)] = [
        (.cgroup, "cgroup"), (.ipc, "ipc"), (.mount, "mnt"), (.net, "net"), (.pid, "pid"),
        (.user, "user"), (.uts, "uts"),
    ]

    /// `unshare --mount --uts …`: the util-linux spelling of the same set.
    public var unshareOptions: String {
        let long: [(NamespaceSet, String)] = [
            (.mount, "--mount"), (.uts, "--uts"), (.ipc, "--ipc"), (.pid, "--pid --fork"),
            (.net, "--net"), (.cgroup, "--cgroup"), (.user, "--user"),
        ]
        return long.filter { contains($0.0) }.map(\.1).joined(separator: " ")
    }
}

/// Signal names for traces and messages.
public enum SignalName {
    static let table: [Int32: String] = [
        1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 6: "SIGABRT", 7: "SIGBUS", 8: "SIGFPE",
        9: "SIGKILL", 10: "SIGUSR1", 11: "SIGSEGV", 12: "SIGUSR2", 13: "SIGPIPE", 14: "SIGALRM",
        15: "SIGTERM", 17: "SIGCHLD", 18: "SIGCONT", 19: "SIGSTOP", 20: "SIGTSTP", 21: "SIGTTIN",
        22: "SIGTTOU", 28: "SIGWINCH",
    ]
    public static func name(_ sig: Int32) -> String { table[sig] ?? "SIG\(sig)" }
    public static func number(_ name: String) -> Int32? {
        let up = name.uppercased()
        let full = up.hasPrefix("SIG") ? up : "SIG" + up
        if let n = Int32(name) { return n }
        return table.first(where: { $0.value == full })?.key
    }
}
