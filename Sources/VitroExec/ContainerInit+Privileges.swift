// Chapter 07: pid 1's last privileged steps, after the PATH lookup and just before
// execve, in runc's order (libcontainer/standard_init_linux.go, finalizeNamespace):
//
//   1. setrlimit each --ulimit (raising a hard limit needs CAP_SYS_RESOURCE: first)
//   2. look the user up in the container's /etc/passwd and /etc/group; HOME from it
//      unless the environment has one
//   3. drop every capability not kept from the bounding set
//   4. no_new_privs, when asked
//   5. the seccomp filter, if switching to another user would lose the right to load
//      it (without no_new_privs, seccomp(2) needs CAP_SYS_ADMIN)
//   6. setgroups, setresgid, setresuid: leaving uid 0 empties the permitted and
//      effective capability sets, so a non-root command starts with none
//   7. otherwise the seccomp filter now, as late as possible: every system call after
//      it, execve included, is judged by it
//
// The filter was compiled by vitro (SeccompFilter.swift) and comes in the spec.

import VitroSys
import VitroTrace

#if canImport(Glibc)
import Glibc
#endif

extension ContainerInit {
    /// Steps 1–7. Returns the environment for execve (with HOME).
    static func dropPrivileges(_ spec: InitSpec) throws -> [String] {
        for u in spec.ulimits {
            try Sys.setResourceLimit(
                u.resource, name: u.kernelName, soft: u.soft, hard: u.hard,
                why: "--ulimit \(u.text): the command and everything it starts inherit this limit")
        }
        let user = try lookUpUser(spec.user)
        var env = spec.env
        if !env.contains(where: { $0.hasPrefix("HOME=") }) { env.append("HOME=" + user.home) }
        if let keep = spec.capabilities {
            for cap in 0...Sys.lastCapability() where !keep.contains(cap) {
                try Sys.dropBoundingCapability(cap, name: Capabilities.name(cap), why: "not in the container's capability set: root inside must not have it")
            }
        }
        if spec.noNewPrivileges {
            try Sys.setNoNewPrivileges(why: "--security-opt no-new-privileges: setuid binaries and file capabilities grant nothing from here on")
        }
        let early = user.uid != 0 && !spec.noNewPrivileges
        if early, let filter = spec.seccomp { try loadSeccomp(filter, why: "loaded before leaving uid 0: without no_new_privs, installing a filter needs CAP_SYS_ADMIN") }
        try Sys.setGroups(user.groups, why: "the supplementary groups of \(spec.user.isEmpty ? "root" : spec.user) in the image's /etc/group")
        try Sys.setGroupID(user.gid, why: "the command's group id")
        try Sys.setUserID(user.uid, why: user.uid == 0 ? "the command runs as root (of the container)" : "the command's user id; leaving uid 0 clears the permitted and effective capabilities")
        if !early, let filter = spec.seccomp { try loadSeccomp(filter, why: "the last step before execve: every system call from here on, execve included, is checked against the profile") }
        return env
    }

    /// The user of the spec (root when empty), from the container's own files.
    static func lookUpUser(_ text: String) throws(InitError) -> ResolvedUser {
        let spec = try UserSpec(text.isEmpty ? "0" : text)
        let passwd = (try? Sys.readText("/etc/passwd")) ?? ""
        let group = (try? Sys.readText("/etc/group")) ?? ""
        return try spec.resolve(passwd: passwd, group: group)
    }

    static func loadSeccomp(_ filter: SeccompLoad, why: String) throws {
        let profile = filter.profile == "default" ? "default.json" : filter.profile
        try Sys.loadSeccompFilter(
            filter.bpf,
            summary: [
                "profile": .string(filter.profile), "default_action": .string(filter.defaultAction), "rules": .int(Int64(filter.rules)),
                "arch": .list(filter.architectures),
            ],
            shell: "docker run --security-opt seccomp=\(Sys.shellQuote(profile)) IMAGE",
            why: why)
    }
}
