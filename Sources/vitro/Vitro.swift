// The vitro command line: argument parsing and output only, one file per command.
// The work is done by VitroRuntime (run), VitroLearn (learn) and VitroImage.

import VitroCommandLine
import VitroRuntime

#if canImport(Glibc)
import Glibc
#endif

@main
struct Vitro: ParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "vitro",
        abstract: "A container engine that shows its work.",
        version: "vitro version \(version)",
        subcommands: [
            RunCommand.self, CreateCommand.self, ExecCommand.self, AttachCommand.self, PsCommand.self, LogsCommand.self, KillCommand.self, StopCommand.self, RmCommand.self,
            WaitCommand.self, InspectCommand.self, PullCommand.self, ImagesCommand.self, TagCommand.self,
            RmiCommand.self, HistoryCommand.self, DiffCommand.self, CommitCommand.self, BuildCommand.self, ExportCommand.self, ImportCommand.self,
            SaveCommand.self, LoadCommand.self, PushCommand.self, LoginCommand.self, LogoutCommand.self, SearchCommand.self, PortCommand.self, StatsCommand.self, UpdateCommand.self, StartCommand.self, RestartCommand.self, PauseCommand.self, UnpauseCommand.self, TopCommand.self, RenameCommand.self, VolumeCommand.self, LearnCommand.self, MkrootfsCommand.self, TraceCommand.self,
        ])

    /// `vitro --version` is answered before anything else is built; everything else goes
    /// down the command tree (VitroCommandLine).
    static func main() {
        if CommandLine.argc == 2, let arg = CommandLine.unsafeArgv[1], strcmp(arg, "--version") == 0 {
            writeStdout("vitro version \(version)\n")
            Glibc.exit(0)
        }
        main(nil)
    }
}

/// Options every command that touches state takes.
struct GlobalOptions: ParsableArguments {
    @Option("--root", help: "Root of vitro's state (default: $VITRO_ROOT or /var/lib/vitro).")
    var root: String?

    var stateRoot: StateRoot { StateRoot(path: root) }
}

/// Prints `vitro: MESSAGE` on stderr and exits with `code` (125 for vitro's own errors,
/// as Docker uses).
func fail(_ message: String, code: Int32 = 125) -> Never {
    writeStderr("vitro: \(message)\n")
    exit(code)
}

func writeStdout(_ s: String) {
    var bytes = Array(s.utf8)
    _ = bytes.withUnsafeMutableBytes { write(1, $0.baseAddress, $0.count) }
}

func writeStderr(_ s: String) {
    var bytes = Array(s.utf8)
    _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
}
