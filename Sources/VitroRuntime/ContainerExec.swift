// Chapter 07: `vitro exec`, another process in a running container. It is a run
// without the rootfs and cgroups stages: vitro spawns vitro-init with `InitSpec.join`
// set to pid 1's host pid, and vitro-init joins pid 1's cgroups and namespaces instead
// of making new ones (VitroExec/ContainerInit+Join.swift). The rest is `ContainerRun`'s:
// the sync protocol, the trace (kept as `exec-ID.jsonl`), signals forwarded to the
// exec'd process, the pty of -t, and the command's exit code as vitro's. The container's
// record is not changed: the process is not the container's pid 1.

import VitroSys

public struct ExecOptions: Sendable {
    public var argv: [String]
    public var env: [String] = []
    public var workdir: String?
    public var tty = false
    public var interactive = false
    public var stdio: [Int32] = [0, 1, 2]
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
        return try ContainerRun(options: options).run()
    }
}
