// vitro learn run: the run pipeline, paused and explained between stages.

import VitroCommandLine
import VitroLearn
import VitroRuntime

#if canImport(Glibc)
import Glibc
#endif

struct LearnCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "learn",
        abstract: "Step through what vitro does, with explanations.",
        subcommands: [LearnRunCommand.self])
}

struct LearnRunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a container one stage at a time, explaining each.",
        helpNames: [.long])

    static let defaultCommand = [
        "/bin/sh", "-c", "echo \"hello from $(hostname): I am pid $$\"; ps -o pid,comm; echo bye",
    ]

    @OptionGroup var global: GlobalOptions

    @Flag("--auto", help: "Do not pause between stages.")
    var auto = false

    @Option("--rootfs", help: "Use this directory as the root filesystem instead of the built-in busybox image.")
    var rootfs: String?

    @Option("--image", help: "Run this image (pulled if needed) instead of the built-in busybox image.")
    var image: String?

    @Option("--trace", help: "Write the trace (JSON Lines) to this file.")
    var trace: String?

    @Argument("command", parsing: .captureForPassthrough, help: "Command to run (default: a greeting and ps).")
    var command: [String] = []

    func run() throws {
        var options = RunOptions(rootfs: rootfs, argv: command.isEmpty && image == nil ? Self.defaultCommand : command)
        options.image = rootfs == nil ? image : nil
        options.stateRoot = global.stateRoot
        options.traceFile = trace
        options.narrate = true
        options.narrateFD = 1
        options.explain = true
        let walkthrough = Walkthrough(auto: auto)
        do {
            let code = try ContainerLifecycle.runForeground(options, LifecycleOptions(), observer: walkthrough)
            Glibc.exit(code)
        } catch {
            fail(error.message, code: error.code)
        }
    }
}
