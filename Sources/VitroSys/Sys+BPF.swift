// eBPF for cgroup v2's device allowlist (bpf(2)). v2 has no devices.allow file: the
// allowlist is a small program of type BPF_PROG_TYPE_CGROUP_DEVICE that the kernel runs
// on every open(2) and mknod(2) of a device node by a process of the cgroup; it returns
// 1 to allow and 0 to deny (EPERM). vitro loads the program (BPF_PROG_LOAD), attaches it
// to the container's cgroup directory (BPF_PROG_ATTACH, attach type BPF_CGROUP_DEVICE)
// and closes its descriptor: the attachment holds the program until the cgroup is
// removed. runc, crun and youki do the same (runc: libcontainer/cgroups/devices/ebpf_linux.go).
//
// The program's instructions come from VitroCgroups' DeviceFilter; this file only hands
// them to the kernel. When the verifier refuses a program, the load is repeated with a
// log buffer and the end of the verifier's log goes into the error.

import CVitroShim
import VitroTrace

#if canImport(Glibc)
import Glibc
#endif

extension Sys {
    /// bpf(BPF_PROG_LOAD) of a BPF_PROG_TYPE_CGROUP_DEVICE program: `program` is its
    /// instructions (8-byte struct bpf_insn each), `listing` their disassembly for the
    /// trace. Returns the program's descriptor (close-on-exec).
    public static func loadCgroupDeviceProgram(
        _ program: [UInt8], listing: [String], name: String, why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) -> Int32 {
        precondition(program.count % 8 == 0, "bug: an eBPF program is a whole number of 8-byte instructions")
        let count = program.count / 8
        var verifierLog = ""
        let license = "Apache-2.0"
        let fd = try invoke(
            file: file, line: line, "bpf", .cgroup, object: "BPF_PROG_LOAD " + name,
            args: [
                "cmd": .string("BPF_PROG_LOAD"), "prog_type": .string("BPF_PROG_TYPE_CGROUP_DEVICE"),
                "insns": .int(Int64(count)), "license": .string(license), "program": .list(listing),
            ],
            why: why,
            shell: "bpftool prog load \(shellQuote(name)).o /sys/fs/bpf/\(shellQuote(name)) type cgroup/dev",
            hint: { e in
                switch e {
                case EPERM: return "loading a BPF program needs CAP_BPF or CAP_SYS_ADMIN"
                case EINVAL, EACCES: return verifierLog.isEmpty ? "the kernel refused the program" : "verifier: " + verifierLog
                default: return nil
                }
            }
        ) {
            let r = program.withUnsafeBytes { p in
                license.withCString { Int(vitro_bpf_load_cgroup_device(p.baseAddress, UInt32(count), $0, nil, 0)) }
            }
            guard r < 0, errno == EINVAL || errno == EACCES else { return r }
            // Refused: load again with a log buffer to learn why (the log costs verifier
            // time, so the first attempt goes without it).
            let saved = errno
            verifierLog = verifierTail(program: program, count: count, license: license)
            Glibc.errno = saved
            return r
        }
        return Int32(fd)
    }

    /// The last lines of the verifier's log for a program it refuses, on one line.
    static func verifierTail(program: [UInt8], count: Int, license: String) -> String {
        let size = 1 << 20
        var log = [CChar](repeating: 0, count: size)
        let fd = program.withUnsafeBytes { p in
            license.withCString { l in
                log.withUnsafeMutableBufferPointer { vitro_bpf_load_cgroup_device(p.baseAddress, UInt32(count), l, $0.baseAddress, UInt32(size)) }
            }
        }
        if fd >= 0 { close(fd) }  // refused once, accepted now: only the log is wanted
        let text = String(decoding: log.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let lines = text.split(separator: "\n").map(String.init).filter { !$0.isEmpty }
        return lines.suffix(6).joined(separator: "; ")
    }

    /// bpf(BPF_PROG_ATTACH) of a loaded device program to the cgroup v2 directory `cgroup`,
    /// with BPF_F_ALLOW_MULTI: the programs of the cgroup and of its ancestors all run,
    /// and a device is allowed only if every one of them allows it.
    public static func attachCgroupDeviceProgram(
        _ program: Int32, cgroup: String, name: String, why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) {
        let dir = try open(cgroup, flags: O_RDONLY | O_DIRECTORY | O_CLOEXEC, trace: false)
        defer { close(dir) }
        try invoke(
            file: file, line: line, "bpf", .cgroup, object: "BPF_PROG_ATTACH " + cgroup,
            args: [
                "cmd": .string("BPF_PROG_ATTACH"), "cgroup": .string(cgroup), "attach_type": .string("BPF_CGROUP_DEVICE"),
                "attach_flags": .flags("BPF_F_ALLOW_MULTI"),
            ],
            why: why,
            shell: "bpftool cgroup attach \(shellQuote(cgroup)) device pinned /sys/fs/bpf/\(shellQuote(name)) multi",
            hint: { e in e == EINVAL ? "is this a cgroup v2 directory, and does the kernel have CONFIG_CGROUP_BPF?" : nil }
        ) { Int(vitro_bpf_attach_cgroup_device(dir, program)) }
    }

    /// The ids of the device programs attached to the cgroup v2 directory itself (not its
    /// ancestors'): bpf(BPF_PROG_QUERY). A query; not traced.
    public static func cgroupDevicePrograms(_ cgroup: String) throws(SysError) -> [UInt32] {
        let dir = try open(cgroup, flags: O_RDONLY | O_DIRECTORY | O_CLOEXEC, trace: false)
        defer { close(dir) }
        var ids = [UInt32](repeating: 0, count: 64)
        var n = UInt32(ids.count)
        try retrying("bpf", object: "BPF_PROG_QUERY " + cgroup) { Int(vitro_bpf_query_cgroup_device(dir, &ids, &n)) }
        return Array(ids.prefix(Int(n)))
    }

    /// bpf(BPF_PROG_DETACH) of every device program attached to the cgroup directory
    /// (each found by id with BPF_PROG_QUERY and BPF_PROG_GET_FD_BY_ID). Removing the
    /// cgroup detaches them too; this is for a cgroup that stays.
    public static func detachCgroupDevicePrograms(
        cgroup: String, why: String? = nil, file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) {
        let ids = try cgroupDevicePrograms(cgroup)
        let dir = try open(cgroup, flags: O_RDONLY | O_DIRECTORY | O_CLOEXEC, trace: false)
        defer { close(dir) }
        for id in ids {
            let prog = Int32(try retrying("bpf", object: "BPF_PROG_GET_FD_BY_ID \(id)") { Int(vitro_bpf_prog_fd_by_id(id)) })
            defer { close(prog) }
            try invoke(
                file: file, line: line, "bpf", .cgroup, object: "BPF_PROG_DETACH " + cgroup,
                args: ["cmd": .string("BPF_PROG_DETACH"), "cgroup": .string(cgroup), "attach_type": .string("BPF_CGROUP_DEVICE"), "prog_id": .int(Int64(id))],
                why: why, shell: "bpftool cgroup detach \(shellQuote(cgroup)) device id \(id)"
            ) { Int(vitro_bpf_detach_cgroup_device(dir, prog)) }
        }
    }
}
