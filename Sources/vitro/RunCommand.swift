// vitro run: one container in the foreground, from a rootfs directory or the built-in
// busybox image.

import VitroCommandLine
import VitroCgroups
import VitroExec
import VitroImage
import VitroNetwork
import VitroRuntime
import VitroSys

#if canImport(Glibc)
import Glibc
#endif

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a command in a new container.",
        discussion: """
            With --rootfs DIR the directory is the container's root (like runc); otherwise \
            IMAGE names an image (only the built-in `busybox` for now).
            """,
        helpNames: [.long])

    @OptionGroup var global: GlobalOptions

    @Option("--rootfs", help: "Use this directory as the container's root filesystem.")
    var rootfs: String?

    @Flag("-d", "--detach", help: "Run in the background and print the container id.")
    var detach = false

    @Flag("-i", "--interactive", help: "Keep stdin open: the container reads vitro's stdin.")
    var interactive = false

    @Flag("-t", "--tty", help: "Allocate a pseudo-terminal for the container (with -i, vitro's terminal is in raw mode meanwhile).")
    var tty = false

    @Option("--cap-add", help: "Add a Linux capability (or ALL).")
    var capAdd: [String] = []

    @Option("--cap-drop", help: "Drop a Linux capability (or ALL).")
    var capDrop: [String] = []

    @Flag("--privileged", help: "Keep every capability and every device; no seccomp filter, no masked /proc paths.")
    var privileged = false

    @Option("--restart", help: "Restart policy when the container exits: no, on-failure[:N], always or unless-stopped.")
    var restart: String?

    @Option("--log-driver", help: "Logging driver: json-file (default) or none.")
    var logDriver: String?

    @Option("--log-opt", help: "Log driver option: max-size=SIZE, max-file=N (json-file rotation).")
    var logOpt: [String] = []

    @Option("--name", help: "A name for the container.")
    var name: String?

    @Flag("--rm", help: "Remove the container when it exits.")
    var rm = false

    @Option("-h", "--hostname", help: "Container host name (default: the short container id).")
    var hostname: String?

    @Option("-e", "--env", help: "Set an environment variable (K=V, or K to copy it from vitro's environment).")
    var env: [String] = []

    @Option("-w", "--workdir", help: "Working directory inside the container.")
    var workdir: String?

    @Option("--insecure-registry", help: "Reach this registry (host[:port]) over plain HTTP when pulling. Repeatable.")
    var insecureRegistry: [String] = []

    @Option("--registry-mirror", help: "Ask this mirror (http[s]://host[:port]) for Docker Hub's images first when pulling. Repeatable; default: $VITRO_REGISTRY_MIRROR.")
    var registryMirror: [String] = []

    @Option("--trace", help: "Write the trace (JSON Lines) to this file.")
    var trace: String?

    @Flag("--trace-off", help: "Record no trace.")
    var traceOff = false

    @Flag("--trace-packets", help: "Capture the container's packets on every hop of its path, with nftables trace events, into its trace while it runs (--net bridge).")
    var tracePackets = false

    @Flag("--narrate", help: "Narrate each kernel call on stderr as it happens.")
    var narrate = false

    @OptionGroup(title: "Resource limits (cgroups)") var limits: LimitOptions

    @OptionGroup(title: "Network") var network: NetworkOptions

    @OptionGroup(title: "Volumes") var volumes: VolumeOptions
    @OptionGroup(title: "Security") var securityFlags: SecurityOptions

    @Argument("words", parsing: .captureForPassthrough, help: "[IMAGE] COMMAND [ARG...]")
    var words: [String] = []

    /// The run's options from its flags; `start` calls this on the flags it recorded.
    func makeOptions() -> (RunOptions, LifecycleOptions, String) {
        var words = self.words
        var image = ""
        if rootfs == nil {
            guard !words.isEmpty else { fail("\"run\" requires an image (or --rootfs DIR) and, unless the image has one, a command") }
            image = words.removeFirst()
            do { _ = try Reference.parse(image) } catch { fail("\(error)") }
        } else if words.isEmpty {
            fail("\"run --rootfs\" requires a command")
        }
        if let workdir, !workdir.hasPrefix("/") { fail("the working directory \"\(workdir)\" is not an absolute path") }
        var options = RunOptions(rootfs: rootfs, argv: words)
        options.image = rootfs == nil ? image : nil
        options.pull.insecureRegistries = insecureRegistry
        do { options.pull.registryMirrors = try PullOptions.mirrors(flags: registryMirror) } catch { fail("\(error)") }
        options.env = env
        options.workdir = workdir
        options.hostname = hostname
        options.traceFile = trace
        options.traceOff = traceOff
        options.narrate = narrate
        options.stateRoot = global.stateRoot
        do {
            options.cgroupLimits = try limits.parse()
        } catch {
            fail(error.message)
        }
        do {
            options.network = try network.parse(warn: { writeStderr("vitro: warning: \($0)\n") })
        } catch {
            fail(error.message)
        }
        (options.capabilities, options.security) = security()
        options.links = network.link
        if case .container = options.network.mode, hostname != nil {
            fail("conflicting options: --hostname and --net \(options.network.mode) (the container takes the other's hostname)")
        }
        do {
            (options.volumes, options.volumesFrom) = try volumes.parse()
        } catch {
            fail(error.message)
        }
        var life = LifecycleOptions()
        do {
            life.restart = try RestartPolicy.parse(restart ?? "no")
            life.logOptions = try LogOptions.parse(driver: logDriver, options: logOpt)
        } catch {
            fail(error.message)
        }
        if rm && life.restart != .no { fail("conflicting options: --restart and --rm") }
        life.name = name
        life.detach = detach
        life.autoRemove = rm
        life.image = image
        options.tty = tty
        options.interactive = interactive
        // As docker run: without -i the container's stdin is empty.
        if !interactive && !detach {
            guard let null = try? Sys.open("/dev/null", flags: O_RDONLY | O_CLOEXEC, trace: false) else { fail("cannot open /dev/null") }
            options.stdio = [null, 1, 2]
        }
        return (options, life, image)
    }

    func run() throws {
        var (options, life, image) = makeOptions()
        if tracePackets {
            if traceOff { fail("conflicting options: --trace-packets and --trace-off") }
            guard options.network.mode == .bridge else { fail("--trace-packets needs --net bridge (the container's path is its bridge and veth), not --net \(options.network.mode)") }
        }
        if !detach && life.restart != .no {
            // Docker's daemon restarts a container its client started attached; vitro's
            // monitor exists only for -d.
            writeStderr("vitro: warning: --restart applies to detached containers (-d); this run will not be restarted\n")
        }
        // The arguments after `run`, for `start` and `restart` to run it again.
        let all = CommandLine.arguments
        if let at = all.firstIndex(of: "run") { life.runArgs = Array(all[(at + 1)...]) }

        let progress = PullProgressPrinter()
        let needsPull = options.image.map { $0 != BuiltinImage.name && (try? ImageStore(root: global.stateRoot.path).image($0)) == nil } ?? false
        if needsPull { progress.say("Unable to find image '\(image)' locally") }
        do {
            if detach {
                if needsPull { try ContainerLifecycle.ensureImage(image, options, observer: progress) }
                // The monitor runs the capture, for the container's life (each run of it).
                let id = try ContainerLifecycle.runDetached(options, life, configure: tracePackets ? PacketRunCapture(stateRoot: global.stateRoot).attach : nil)
                writeStdout(id + "\n")
                Glibc.exit(0)
            }
            let packets = tracePackets ? PacketRunCapture(stateRoot: global.stateRoot) : nil
            let result = Result { () throws(RunError) in
                try ContainerLifecycle.runForeground(options, life, pullObserver: progress, configure: packets?.attach)
            }
            // exit(3) runs no deinit: the capture's trace chains go here, either way.
            packets?.remove()
            Glibc.exit(try result.get())
        } catch {
            fail(error.message, code: error.code)
        }
    }
}
