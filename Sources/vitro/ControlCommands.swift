// vitro kill, stop, rm, wait: acting on containers by name or id.

import VitroCommandLine
import VitroRuntime
import VitroSys

#if canImport(Glibc)
import Glibc
#endif

/// Runs `body` for each named container; errors are printed per container and make
/// the command exit 1 at the end, as docker does.
func eachContainer(_ refs: [String], _ root: StateRoot, echo: Bool = true, _ body: (ContainerStore, ContainerRecord) throws -> Void) {
    let store = ContainerStore(root: root)
    var failed = false
    for ref in refs {
        do {
            try body(store, try store.find(ref))
            // docker prints each container as it was named on the command line.
            if echo { writeStdout(ref + "\n") }
        } catch {
            writeStderr("vitro: \((error as? RunError)?.message ?? String(describing: error))\n")
            failed = true
        }
    }
    if failed { Glibc.exit(1) }
}

struct KillCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "kill", abstract: "Kill one or more running containers.")
    @OptionGroup var global: GlobalOptions
    @Option("-s", "--signal", help: "Signal to send (default KILL).") var signal = "KILL"
    @Argument("containers", help: "Containers.") var containers: [String]

    func run() throws {
        guard let sig = SignalName.number(signal), sig > 0, sig < 65 else { fail("invalid signal: \(signal)", code: 1) }
        eachContainer(containers, global.stateRoot) { store, r in
            try ContainerControl.kill(store, r, signal: sig)
        }
    }
}

struct StopCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stop", abstract: "Stop one or more running containers.")
    @OptionGroup var global: GlobalOptions
    @Option("-t", "--time", help: "Seconds to wait before killing it.") var time = 10
    @Argument("containers", help: "Containers.") var containers: [String]

    func run() throws {
        eachContainer(containers, global.stateRoot) { store, r in
            try ContainerControl.stop(store, r, seconds: max(0, time))
        }
    }
}

struct RmCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove one or more containers.")
    @OptionGroup var global: GlobalOptions
    @Flag("-f", "--force", help: "Force the removal of a running container.") var force = false
    @Flag("-v", "--volumes", help: "Remove the container's anonymous volumes too (unless another container uses them).") var volumes = false
    @Argument("containers", help: "Containers.") var containers: [String]

    func run() throws {
        eachContainer(containers, global.stateRoot) { store, r in
            try ContainerControl.remove(store, r, force: force, volumes: volumes)
        }
    }
}

struct WaitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "wait", abstract: "Block until containers stop, then print their exit codes.")
    @OptionGroup var global: GlobalOptions
    @Argument("containers", help: "Containers.") var containers: [String]

    func run() throws {
        eachContainer(containers, global.stateRoot, echo: false) { store, r in
            guard let code = ContainerControl.wait(store, r.id) else { throw RunError("container \(r.id.prefix(12)) was removed") }
            writeStdout("\(code)\n")
        }
    }
}
