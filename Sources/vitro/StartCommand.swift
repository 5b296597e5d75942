// vitro start and vitro restart: run an existing container again, with the options of
// the `vitro run` that made it (kept in its record) and its own writable layer, so what
// it wrote before is still there.

import VitroCommandLine
import VitroRuntime

#if canImport(Glibc)
import Glibc
#endif

/// Starts a stopped container: detached (printing its name as given), or attached to
/// its output (and with `attach.stdin`, its input) when `attach` is given, returning its
/// exit code. An attached start of a running container attaches to it, as Docker does.
func startContainer(_ store: ContainerStore, _ r: ContainerRecord, attach: AttachOptions? = nil) throws -> Int32 {
    if store.liveStatus(r) == .running {
        if let attach { return try ContainerAttach.attach(store, r, attach) }
        return 0
    }
    let parsed: RunCommand
    do { parsed = try RunCommand.parse(r.config.runArgs) } catch {
        throw RunError("container \(r.id.prefix(12)) cannot be started again: its run options were not recorded")
    }
    var (options, life, _) = parsed.makeOptions()
    life.existing = r.config
    life.name = r.config.name
    life.detach = true
    life.runArgs = r.config.runArgs
    if let attach { return try ContainerLifecycle.runAttached(options, life, attach) }
    _ = try ContainerLifecycle.runDetached(options, life)
    return 0
}

struct StartCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "start", abstract: "Start one or more stopped containers.")
    @OptionGroup var global: GlobalOptions
    @Flag("-a", "--attach", help: "Attach its output and return its exit code.") var attach = false
    @Flag("-i", "--interactive", help: "Attach its stdin too (for a container made with -i).") var interactive = false
    @Option("--detach-keys", help: "Override the key sequence for detaching a container (default ctrl-p,ctrl-q).") var detachKeys: String?
    @Argument("containers", help: "Containers.") var containers: [String]

    func run() throws {
        // As Docker: -i attaches too.
        if attach || interactive {
            guard containers.count == 1, let ref = containers.first else { fail("you cannot start and attach multiple containers at once", code: 1) }
            let store = ContainerStore(root: global.stateRoot)
            var options = AttachOptions()
            options.stdin = interactive
            do {
                if let detachKeys, !detachKeys.isEmpty { options.detachKeys = try DetachKeys.parse(detachKeys) }
                let code = try startContainer(store, try store.find(ref), attach: options)
                Glibc.exit(code)
            } catch {
                fail((error as? RunError)?.message ?? String(describing: error), code: (error as? RunError)?.code ?? 1)
            }
        }
        eachContainer(containers, global.stateRoot) { store, r in
            _ = try startContainer(store, r)
        }
    }
}

struct RestartCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "restart", abstract: "Restart one or more containers.")
    @OptionGroup var global: GlobalOptions
    @Option("-t", "--time", help: "Seconds to wait for it to stop before killing it.") var time = 10
    @Argument("containers", help: "Containers.") var containers: [String]

    func run() throws {
        eachContainer(containers, global.stateRoot) { store, r in
            try ContainerControl.stop(store, r, seconds: max(0, time))
            ContainerControl.waitForMonitor(r)
            guard let again = store.load(r.id) else { throw RunError("no such container: \(r.id)") }
            _ = try startContainer(store, again)
        }
    }
}
