// Chapter 07: `vitro exec`, another process in a running container. It is a run
// without the rootfs and cgroups stages: vitro spawns vitro-init with `InitSpec.join`
// set to pid 1's host pid, and vitro-init joins pid 1's cgroups and namespaces instead
// of making new ones (VitroExec/ContainerInit+Join.swift). The rest is `ContainerRun`'s:
// the sync protocol, the trace (kept as `exec-ID.jsonl`), signals forwarded to the
// exec'd process, the pty of -t, and the command's exit code as vitro's. The container's
// record is not changed: the process is not the container's pid 1.
//
// The exec'd process gets the container's security profile, as `docker exec` does: its
// capabilities, seccomp filter, no_new_privs and ulimits, and its user unless -u names
// another (the run's --user, else the image's User).

import VitroExec
import VitroImage
import VitroSys

public struct ExecOptions: Sendable {
    public var argv: [String]
    public var env: [String] = []
    public var workdir: String?
    public var tty = false
    public var interactive = false
    public var stdio: [Int32] = [0, 1, 2]
    /// `-u`: the user to run as; nil: the container's.
    public var user: String?
    /// The container's security settings and capabilities (from its run options).
    public var security = SecuritySettings()
    public var capabilities: Set<Int32>? = Capabilities.dockerDefault
    public init(argv: [String]) { self.argv = argv }
}

public enum ContainerExec {
    /// Runs `exec.argv` in the running container `r`; returns its exit code.
    public static func run(_ store: ContainerStore, _ r: ContainerRecord, _ exec: ExecOptions, stateRoot: StateRoot) throws(RunError) -> Int32 {
        guard store.liveStatus(r) == .running else {
            throw RunError(code: 1, "container \(r.id.prefix(12)) is not running")
        }
        var options = RunOptions(rootfs: nil, argv: exec.argv)
        options.join = r.state.pid
        options.containerID = r.id
        options.hostname = r.config.hostname
        options.containerEnv = r.config.env
        options.env = exec.env
        options.workdir = exec.workdir ?? r.config.workdir
        options.tty = exec.tty
        options.interactive = exec.interactive
        options.stdio = exec.stdio
        options.stateRoot = stateRoot
        options.capabilities = exec.capabilities
        options.security = exec.security
        let imageUser = r.config.image.isEmpty ? nil : (try? ImageStore(root: stateRoot.path).image(r.config.image))?.config.user
        options.security.user = exec.user ?? exec.security.user ?? imageUser ?? ""
        return try ContainerRun(options: options).run()
    }
}
