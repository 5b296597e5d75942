// Chapter 03: which namespaces a container gets, and how to see them.
//
// A namespace is a kernel object that gives the processes inside it their own view of
// one resource: mount points, hostname, IPC objects, process ids, network, cgroup root.
// /proc/PID/ns/KIND is a handle to the namespace a process is in; two processes share a
// namespace exactly when those links name the same inode.

import VitroSys
import VitroTrace

extension NamespaceSet {
    /// What `docker run` gives a container by default: everything but a user namespace.
    /// The cgroup namespace is made last, after the process is in its cgroup, so that
    /// the container sees that cgroup as its root (see `ContainerInit`).
    public static let container: NamespaceSet = [.mount, .uts, .ipc, .pid, .net, .cgroup]
}

/// One line of `ls -l /proc/PID/ns`: the kind and the namespace's identity.
public struct NamespaceIdentity: Sendable, Equatable {
    public var kind: String
    /// `net:[4026531840]`: the type and the inode number of the namespace.
    public var link: String

    /// Reads /proc/PID/ns/* for the kinds vitro creates ("self" for this process).
    public static func of(pid: String) -> [NamespaceIdentity] {
        NamespaceSet.procNames.compactMap { _, kind in
            guard kind != "user", let link = Sys.readlink("/proc/\(pid)/ns/\(kind)") else { return nil }
            return NamespaceIdentity(kind: kind, link: link)
        }
    }
}
