// vitro attach: this terminal to a detached container's output (and, with -i, its
// stdin), through its monitor's attach socket. Ctrl-P Ctrl-Q detaches.

import VitroCommandLine
import VitroRuntime

#if canImport(Glibc)
import Glibc
#endif

struct AttachCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attach", abstract: "Attach local standard input, output, and error streams to a running container.")
    @OptionGroup var global: GlobalOptions
    @Flag("--no-stdin", help: "Do not attach stdin.") var noStdin = false
    @Flag("--sig-proxy", help: "Proxy all received signals to the process (non-TTY mode only): --sig-proxy=false turns it off.")
    var sigProxy = true
    @Option("--detach-keys", help: "Override the key sequence for detaching a container (default ctrl-p,ctrl-q).") var detachKeys: String?
    @Argument("container", help: "Container.") var container: String

    func run() throws {
        let store = ContainerStore(root: global.stateRoot)
        var options = AttachOptions()
        options.stdin = !noStdin
        options.sigProxy = sigProxy
        do {
            if let detachKeys, !detachKeys.isEmpty { options.detachKeys = try DetachKeys.parse(detachKeys) }
            let code = try ContainerAttach.attach(store, try store.find(container), options)
            Glibc.exit(code)
        } catch {
            fail(error.message, code: error.code == 125 ? 1 : error.code)
        }
    }
}
