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

#if canImport(Glibc)
import Glibc
#endif

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
        try ContainerRun(options: options(store, r, exec, stateRoot: stateRoot)).run()
    }

    /// `exec -d`: the command runs in the background, its output discarded (as Docker
    /// discards it); vitro returns once it has been exec'd, or with the error that kept
    /// it from starting. A forked vitro stays with it to reap it and end its trace.
    public static func runDetached(_ store: ContainerStore, _ r: ContainerRecord, _ exec: ExecOptions, stateRoot: StateRoot) throws(RunError) {
        var options = try options(store, r, exec, stateRoot: stateRoot)
        let ready: (read: Int32, write: Int32)
        let child: Int32
        do {
            ready = try Sys.pipe()
            child = try Sys.fork(why: "exec -d: a copy of vitro stays with the command after this one returns")
        } catch { throw RunError(String(describing: error)) }
        if child == 0 {
            Sys.close(ready.read)
            var code: Int32 = 0
            // Keep only the ready pipe (as fd 3): whatever else this process inherited
            // (a pipe its caller reads to the end) must not stay open with the command.
            let readyFD: Int32 = 3
            do {
                if ready.write != readyFD { try Sys.dup2(ready.write, readyFD, why: "exec -d keeps one inherited descriptor, the ready pipe") }
                try Sys.closeDescriptors(from: 4, why: "drop every other inherited descriptor")
                try Sys.setCloseOnExec(readyFD, true)
                try Sys.setsid(why: "exec -d: leave the terminal's session")
                let null = try Sys.open("/dev/null", flags: O_RDWR | O_CLOEXEC, trace: false)
                for fd: Int32 in [0, 1, 2] { try Sys.dup2(null, fd, why: "exec -d: the command's output goes nowhere") }
                options.stdio = [0, 1, 2]
                let run = ContainerRun(options: options)
                run.onStarted = { _ in
                    Sys.write(readyFD, Array("started".utf8))
                    Sys.close(readyFD)
                }
                code = try run.run()
            } catch {
                let e = error as? RunError ?? RunError(String(describing: error))
                Sys.write(readyFD, Array("error \(e.code) \(e.message)".utf8))
                code = e.code
            }
            Sys.exitNow(code)
        }
        Sys.close(ready.write)
        var message: [UInt8] = []
        while let chunk = try? Sys.read(ready.read), !chunk.isEmpty { message += chunk }
        Sys.close(ready.read)
        let text = String(decoding: message, as: UTF8.self)
        if text == "started" { return }
        let parts = text.split(separator: " ", maxSplits: 2).map(String.init)
        if parts.count == 3, parts[0] == "error", let code = Int32(parts[1]) { throw RunError(code: code, parts[2]) }
        throw RunError("exec -d: the command ended before it started")
    }

    static func options(_ store: ContainerStore, _ r: ContainerRecord, _ exec: ExecOptions, stateRoot: StateRoot) throws(RunError) -> RunOptions {
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
        return options
    }
}
