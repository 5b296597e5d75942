// vitro exec: run another command in a running container, as `docker exec` does. Its
// exit code is vitro's. Without -i the command's stdin is empty. The command gets the
// container's capabilities, seccomp filter, no-new-privileges and ulimits (read from
// the options of the run that made it) and its user unless -u says otherwise.

import VitroCommandLine
import VitroExec
import VitroRuntime
import VitroSys

#if canImport(Glibc)
import Glibc
#endif

struct ExecCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exec", abstract: "Run a command in a running container.", helpNames: [.long])

    @OptionGroup var global: GlobalOptions

    @Flag("-i", "--interactive", help: "Keep stdin open: the command reads vitro's stdin.")
    var interactive = false

    @Flag("-t", "--tty", help: "Allocate a pseudo-terminal for the command.")
    var tty = false

    @Flag("-d", "--detach", help: "Detached: run the command in the background (its output is discarded).")
    var detach = false

    @Option("-e", "--env", help: "Set an environment variable (K=V, or K to copy it from vitro's environment).")
    var env: [String] = []

    @Option("-w", "--workdir", help: "Working directory inside the container.")
    var workdir: String?

    @Option("-u", "--user", help: "Run as this user: UID[:GID] or NAME[:GROUP].")
    var user: String?

    @Argument("container", help: "The container (name or id).")
    var container: String

    @Argument("command", parsing: .captureForPassthrough, help: "COMMAND [ARG...]")
    var command: [String] = []

    func run() throws {
        guard !command.isEmpty else { fail("\"exec\" requires a container and a command", code: 1) }
        if let workdir, !workdir.hasPrefix("/") { fail("the working directory \"\(workdir)\" is not an absolute path", code: 1) }
        let store = ContainerStore(root: global.stateRoot)
        let r: ContainerRecord
        do { r = try store.find(container) } catch { fail(error.message, code: 1) }
        var exec = ExecOptions(argv: command)
        exec.env = env
        exec.workdir = workdir
        exec.tty = tty
        exec.interactive = interactive
        if let user {
            do { _ = try UserSpec(user) } catch { fail(error.message, code: 1) }
            exec.user = user
        }
        if let run = try? RunCommand.parse(r.config.runArgs) { (exec.capabilities, exec.security) = run.security() }
        if !interactive {
            guard let null = try? Sys.open("/dev/null", flags: O_RDONLY | O_CLOEXEC, trace: false) else { fail("cannot open /dev/null") }
            exec.stdio = [null, 1, 2]
        }
        do {
            if detach {
                exec.tty = false
                exec.interactive = false
                try ContainerExec.runDetached(store, r, exec, stateRoot: global.stateRoot)
                Glibc.exit(0)
            }
            Glibc.exit(try ContainerExec.run(store, r, exec, stateRoot: global.stateRoot))
        } catch {
            fail(error.message, code: error.code)
        }
    }
}
