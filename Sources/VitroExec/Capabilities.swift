// Chapter 07: which capabilities a container's root keeps. Docker's default is these
// fourteen (moby's oci/caps/defaults.go); everything else — CAP_SYS_ADMIN (mount,
// unshare, …), CAP_NET_ADMIN, CAP_SYS_MODULE, CAP_SYS_PTRACE and the rest — is dropped
// from the bounding set just before execve, so even root inside cannot get it back.

public enum Capabilities {
    /// Every capability Linux 6.x defines, by number (include/uapi/linux/capability.h).
    public static let names: [String] = [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
        "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO",
        "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
        "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
        "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
        "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
    ]

    /// Docker's default set.
    public static let dockerDefault: Set<Int32> = Set(
        [
            "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
            "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
            "CAP_AUDIT_WRITE",
        ].compactMap { number($0) })

    public static func name(_ cap: Int32) -> String {
        cap >= 0 && Int(cap) < names.count ? names[Int(cap)] : "CAP_\(cap)"
    }

    /// "SYS_ADMIN", "cap_sys_admin" and "CAP_SYS_ADMIN" all name 21.
    public static func number(_ text: String) -> Int32? {
        let up = text.uppercased()
        let full = up.hasPrefix("CAP_") ? up : "CAP_" + up
        return names.firstIndex(of: full).map { Int32($0) }
    }

    /// Docker's rules: start from the default, add `--cap-add`, remove `--cap-drop`;
    /// "ALL" in either means every capability. Throws on an unknown name.
    public static func resolve(add: [String], drop: [String]) throws(InitError) -> Set<Int32> {
        let all = Set((0..<Int32(names.count)).map { $0 })
        func parse(_ list: [String], _ flag: String) throws(InitError) -> Set<Int32> {
            var out = Set<Int32>()
            for n in list {
                if n.uppercased() == "ALL" { return all }
                guard let c = number(n) else { throw InitError(code: 125, "\(flag) \(n): unknown capability (see capabilities(7))") }
                out.insert(c)
            }
            return out
        }
        return dockerDefault.union(try parse(add, "--cap-add")).subtracting(try parse(drop, "--cap-drop"))
    }
}
