// vitro run: one container in the foreground, from a rootfs directory or the built-in
// busybox image.

import ArgumentParser
import VitroCgroups
import VitroNetwork
import VitroRuntime

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

    @Option(name: .long, help: "Use this directory as the container's root filesystem.")
    var rootfs: String?

    @Option(name: [.customShort("h"), .long], help: "Container host name (default: the short container id).")
    var hostname: String?

    @Option(name: [.customShort("e"), .long], help: "Set an environment variable (K=V, or K to copy it from vitro's environment).")
    var env: [String] = []

    @Option(name: [.customShort("w"), .long], help: "Working directory inside the container.")
    var workdir: String = "/"

    @Option(name: .long, help: "Write the trace (JSON Lines) to this file.")
    var trace: String?

    @Flag(name: .long, help: "Record no trace.")
    var traceOff = false

    @Flag(name: .long, help: "Narrate each kernel call on stderr as it happens.")
    var narrate = false

    @OptionGroup(title: "Resource limits (cgroups)") var limits: LimitOptions

    @OptionGroup(title: "Network") var network: NetworkOptions

    @Argument(parsing: .captureForPassthrough, help: "[IMAGE] COMMAND [ARG...]")
    var words: [String] = []

    func run() throws {
        var words = self.words
        if rootfs == nil {
            guard let image = words.first else { fail("\"run\" requires an image or --rootfs DIR, and a command") }
            guard image == "busybox" || image == "vitro/busybox" else {
                fail("image \"\(image)\": not found (this build has only the built-in busybox image; use --rootfs DIR for others)")
            }
            words.removeFirst()
        }
        guard !words.isEmpty else { fail("\"run\" requires a command") }
        guard workdir.hasPrefix("/") else { fail("the working directory \"\(workdir)\" is not an absolute path") }
        var options = RunOptions(rootfs: rootfs, argv: words)
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
        do {
            let code = try ContainerRun(options: options).run()
            Glibc.exit(code)
        } catch {
            fail(error.message, code: error.code)
        }
    }
}
