// Chapter 07: `vitro exec`, vitro-init's second mode. Instead of making namespaces it
// joins those of a running container's pid 1 (`InitSpec.join`, its host pid):
//
//   stage A (the process vitro spawned)
//     1. join pid 1's cgroups: read /proc/PID/cgroup while /proc and /sys/fs/cgroup are
//        still the host's, and write our pid into each of those cgroup.procs
//     2. setns(2) into pid 1's ipc, uts, net, pid and cgroup namespaces. Joining a pid
//        namespace only places our children in it, so
//     3. fork: the child is a process of the container; tell vitro its host pid; exit
//   stage B (the child)
//     4. setns into the mount namespace last: that also sets root and working directory
//        to the container's root (after pivot_root), and leaves /proc as the
//        container's. Before it, the fork above read our host pid from the host's /proc.
//     5. setsid; with a tty, open a pty in the container's devpts (as `run -t` does)
//     6. `ready`, wait for `exec`; chdir, find the command on PATH, execve
//
// Like nsenter(1) and runc's `exec` (libcontainer/nsenter/nsexec.c), minus the user
// namespace, which vitro's containers do not have yet.

import VitroNamespaces
import VitroSys
import VitroTrace

#if canImport(Glibc)
import Glibc
#endif

extension ContainerInit {
    static func join(_ spec: InitSpec) throws -> Never {
        let pid = spec.join
        try Sys.setParentDeathSignal(SIGKILL, why: "if vitro dies before the command starts, this helper dies too")
        try joinCgroups(of: pid)
        let early: [(NamespaceSet, String)] = [(.ipc, "ipc"), (.uts, "uts"), (.net, "net"), (.pid, "pid"), (.cgroup, "cgroup")]
        for (kind, name) in early {
            try Sys.setns(path: "/proc/\(pid)/ns/\(name)", kind: kind, why: "enter the container's \(name) namespace, as its pid 1 has it")
        }
        let child = try Sys.fork(why: "setns(CLONE_NEWPID) places only children in the container's pid namespace")
        if child > 0 {
            try send(.pid(child))
            Sys.exitNow(0)
        }
        try Sys.setns(path: "/proc/\(pid)/ns/mnt", kind: .mount, why: "the container's mounts last: root and working directory become the container's root")
        try Sys.setsid(why: "a session of its own, like pid 1's: a terminal can become its controlling terminal")
        if spec.tty { try openTerminal(console: false) }
        try send(.ready(Tracer.shared.pid))
        try expect(.exec)
        Tracer.shared.stage = .exec
        try execCommand(spec)
    }

    /// Moves us into every cgroup of pid 1 other than a hierarchy's root, by writing `0`
    /// (ourselves): into v1's `tasks`, which moves this single thread without the
    /// host-wide lock a move by pid takes (VitroCgroups/Cgroup.swift, joinFiles), and
    /// into v2's `cgroup.procs`. The paths in /proc/PID/cgroup are relative to our
    /// cgroup namespace, the host's here.
    static func joinCgroups(of pid: Int32) throws {
        let text: String
        do { text = try Sys.readText("/proc/\(pid)/cgroup") } catch {
            throw InitError(code: 125, "the container's pid 1 (\(pid)) is gone: \(error)")
        }
        let unified = Sys.fileKind("/sys/fs/cgroup/cgroup.controllers") == .regular ? "/sys/fs/cgroup" : "/sys/fs/cgroup/unified"
        for line in text.split(separator: "\n") {
            let f = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
            guard f.count == 3, f[2] != "/" else { continue }
            let v1 = !f[1].isEmpty
            let hierarchy = v1 ? "/sys/fs/cgroup/" + (f[1].hasPrefix("name=") ? String(f[1].dropFirst(5)) : f[1]) : unified
            let file = hierarchy + f[2] + (v1 ? "/tasks" : "/cgroup.procs")
            guard Sys.fileKind(file) == .regular else { continue }
            try Sys.writeFile(
                file, "0", create: false, group: .cgroup,
                why: v1
                    ? "join the container's cgroup: 0 is this single thread, which moves without a host-wide lock; the exec'd command inherits it"
                    : "join the container's cgroup: 0 is this process; its limits apply to the exec'd command too")
        }
    }
}
