// The last steps of pid 1 before execve (chapter 07): resource limits, the user and
// groups the command runs as, no_new_privs, and the seccomp filter. Each is one traced
// call; the shell line is what a person would type for the same effect (prlimit(1),
// setpriv(1)), or the `docker run` flag that asks for it.

import CVitroShim
import VitroTrace

#if canImport(Glibc)
import Glibc
#endif

extension Sys {
    /// prlimit(2) on this process: RLIMIT_`resource` becomes soft/hard; nil is
    /// unlimited (RLIM_INFINITY). The limits survive execve.
    public static func setResourceLimit(
        _ resource: Int32, name: String, soft: UInt64?, hard: UInt64?, why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) {
        func text(_ v: UInt64?) -> String { v.map(String.init) ?? "unlimited" }
        let option = "--" + name.lowercased().replacingOccurrences("rlimit_", "")
        try invoke(
            file: file, line: line, "prlimit64", .process, object: name,
            args: ["resource": .string(name), "soft": .string(text(soft)), "hard": .string(text(hard))], why: why,
            shell: "prlimit --pid $$ \(option)=\(text(soft)):\(text(hard))",
            hint: { e in e == EPERM ? "raising a hard limit needs CAP_SYS_RESOURCE" : nil }
        ) { Int(vitro_setrlimit(resource, soft ?? UInt64.max, hard ?? UInt64.max)) }
    }

    /// setgroups(2): the supplementary groups.
    public static func setGroups(
        _ groups: [UInt32], why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) {
        let list = groups.map(String.init).joined(separator: ",")
        try invoke(
            file: file, line: line, "setgroups", .process, object: list.isEmpty ? "none" : list,
            args: ["groups": .list(groups.map(String.init))], why: why,
            shell: groups.isEmpty ? "setpriv --clear-groups" : "setpriv --groups=\(list)"
        ) { groups.withUnsafeBufferPointer { Int(vitro_setgroups($0.baseAddress, Int32(groups.count))) } }
    }

    /// setresgid(2): real, effective and saved group id.
    public static func setGroupID(
        _ gid: UInt32, why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) {
        try invoke(
            file: file, line: line, "setresgid", .process, object: String(gid), args: ["gid": .int(Int64(gid))], why: why, shell: "setpriv --regid=\(gid)") {
            Int(vitro_setresgid(gid))
        }
    }

    /// setresuid(2): real, effective and saved user id. Leaving uid 0 clears the
    /// permitted and effective capability sets (capabilities(7), "Effect of user ID
    /// changes on capabilities").
    public static func setUserID(
        _ uid: UInt32, why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) {
        try invoke(
            file: file, line: line, "setresuid", .process, object: String(uid), args: ["uid": .int(Int64(uid))], why: why, shell: "setpriv --reuid=\(uid)") {
            Int(vitro_setresuid(uid))
        }
    }

    /// prctl(PR_SET_NO_NEW_PRIVS): execve can no longer grant privileges (setuid bits,
    /// file capabilities are ignored). It cannot be undone, and children inherit it.
    public static func setNoNewPrivileges(
        why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) {
        try invoke(
            file: file, line: line, "prctl", .capability, object: "PR_SET_NO_NEW_PRIVS", args: ["option": .string("PR_SET_NO_NEW_PRIVS"), "arg": .int(1)],
            why: why, shell: "setpriv --no-new-privs"
        ) { Int(vitro_set_no_new_privs()) }
    }

    /// seccomp(SECCOMP_SET_MODE_FILTER): `program` (8-byte struct sock_filter
    /// instructions) judges every later system call of this thread and its descendants.
    /// `summary` describes the filter for the trace (default action, rules, arches).
    public static func loadSeccompFilter(
        _ program: [UInt8], summary: Args, shell: String, why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) {
        let count = program.count / 8
        var args: Args = ["operation": .string("SECCOMP_SET_MODE_FILTER"), "instructions": .int(Int64(count))]
        for item in summary.items { args.append(item.key, item.value) }
        try invoke(
            file: file, line: line, "seccomp", .seccomp, object: "filter", args: args, why: why, shell: shell,
            hint: { e in
                switch e {
                case EACCES: return "needs CAP_SYS_ADMIN or no_new_privs"
                case EINVAL: return "the BPF program is not valid"
                default: return nil
                }
            }
        ) { program.withUnsafeBytes { Int(vitro_seccomp_set_filter($0.baseAddress, UInt16(truncatingIfNeeded: count))) } }
    }

    /// setpgid(0, 0): a process group of our own (an --init child, as tini makes one).
    public static func setOwnProcessGroup(
        why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) {
        try invoke(
            file: file, line: line, "setpgid", .process, object: "0", args: ["pid": .int(0), "pgid": .int(0)], why: why, shell: nil) {
            Int(vitro_setpgid_self())
        }
    }

    /// tcsetpgrp(fd, getpgrp()): our process group becomes the terminal's foreground.
    public static func takeTerminalForeground(
        _ fd: Int32, why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) {
        try invoke(
            file: file, line: line, "tcsetpgrp", .process, object: "fd \(fd)", args: ["fd": .int(Int64(fd))], why: why, shell: nil) {
            Int(vitro_tcsetpgrp_self(fd))
        }
    }

    /// memfd_create(2): an anonymous in-memory file (plumbing, not traced).
    public static func memoryFile(_ name: String) throws(SysError) -> Int32 {
        let fd = vitro_memfd(name)
        guard fd >= 0 else { throw SysError(operation: "memfd_create", object: name, errno: errno) }
        return fd
    }

    /// The machine name from uname(2) (`x86_64`) and the kernel release (`6.1.0-…`).
    public static func machine() -> (machine: String, release: String) {
        var u = utsname()
        guard uname(&u) == 0 else { return ("", "") }
        func text<T>(_ field: T) -> String {
            withUnsafeBytes(of: field) { b in String(decoding: b.prefix(while: { $0 != 0 }), as: UTF8.self) }
        }
        return (text(u.machine), text(u.release))
    }

    /// This process's executable, as `device:inode size mtime` (stat(2) of
    /// /proc/self/exe): another build, even at the same path, is another identity. For
    /// caches of what the binary itself determines. Nil if it cannot be read.
    public static func executableIdentity() -> String? {
        var st = stat()
        guard Glibc.fstatat(AT_FDCWD, "/proc/self/exe", &st, 0) == 0 else { return nil }
        return "\(st.st_dev):\(st.st_ino) \(st.st_size) \(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)"
    }
}

extension Sys {
    /// Everything in a file descriptor from offset 0 (a memfd just written).
    public static func readFromStart(_ fd: Int32) throws(SysError) -> [UInt8] {
        guard lseek(fd, 0, SEEK_SET) == 0 else { throw SysError(operation: "lseek", object: "fd \(fd)", errno: errno) }
        var out: [UInt8] = []
        while let chunk = try read(fd), !chunk.isEmpty { out += chunk }
        return out
    }
}

extension Sys {
    /// Writes a cache file of vitro's own (a compiled seccomp program): temporary file
    /// and rename, so readers see all of it or nothing; the directory is made 0700.
    /// Not traced: it changes nothing about any container, and whether a run finds the
    /// entry or writes it must not make two runs' traces differ. Errors are ignored:
    /// a cache that cannot be written is only slower.
    public static func writeCacheFile(
        _ path: String, _ bytes: [UInt8],
        file: StaticString = #fileID, line: UInt = #line
    ) {
        guard let slash = path.lastIndex(of: "/") else { return }
        let dir = String(path[..<slash])
        var partial = ""
        for part in dir.split(separator: "/") {
            partial += "/" + part
            _ = Glibc.mkdir(partial, 0o700)
        }
        let tmp = path + ".tmp-\(getpid())"
        guard let fd = try? open(tmp, flags: O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode: 0o600, trace: false, file: file, line: line) else { return }
        let ok = writeAll(fd, bytes)
        close(fd)
        if !ok || Glibc.rename(tmp, path) != 0 { _ = Glibc.unlink(tmp) }
    }
}
