// unshare(2), setns(2), sethostname(2): entering and making namespaces (chapter 03).

import CVitroShim
import VitroTrace

#if canImport(Glibc)
import Glibc
#endif

extension Sys {
    /// unshare(2): move the calling process into new namespaces of the given kinds.
    public static func unshare(
        _ kinds: NamespaceSet, why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) {
        try invoke(
            file: file, line: line, "unshare", .namespace, object: kinds.names, args: ["flags": .flags(kinds.names)], why: why,
            shell: "unshare \(kinds.unshareOptions)",
            hint: { e in e == EINVAL && kinds.contains(.user) ? "a multi-threaded process cannot unshare a user namespace" : nil }
        ) { Int(vitro_unshare(kinds.rawValue)) }
    }

    /// setns(2) through a /proc/PID/ns/KIND file.
    public static func setns(
        path: String, kind: NamespaceSet, why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) {
        let fd = try open(path, flags: O_RDONLY | O_CLOEXEC, why: nil, trace: false, file: file, line: line)
        defer { close(fd) }
        try invoke(
            file: file, line: line, "setns", .namespace, object: path, args: ["fd": .string(path), "nstype": .flags(kind.names)],
            why: why, shell: "nsenter --\(kind.procNameLong)=\(shellQuote(path))"
        ) { Int(vitro_setns(fd, kind.rawValue)) }
    }

    /// sethostname(2), inside the container's UTS namespace.
    public static func sethostname(
        _ name: String, why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) {
        try invoke(
            file: file, line: line, "sethostname", .namespace, object: name, args: ["name": .string(name)], why: why,
            shell: "hostname \(shellQuote(name))"
        ) { Int(vitro_sethostname(name, name.utf8.count)) }
    }
}

extension NamespaceSet {
    var procNameLong: String {
        switch self {
        case .mount: return "mount"
        case .uts: return "uts"
        case .ipc: return "ipc"
        case .net: return "net"
        case .pid: return "pid"
        case .cgroup: return "cgroup"
        case .user: return "user"
        default: return names
        }
    }
}
