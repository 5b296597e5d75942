// vitro trace diff A B: where two runs part. Both traces are normalised (times, pids,
// ids, temporary paths), lined up stage by stage and call by call, and the first
// divergence is printed with what differs (VitroReplay's TraceDiff). Exit status as
// diff(1): 0 when they did the same, 1 when they differ.

import VitroCommandLine
import VitroReplay

#if canImport(Glibc)
import Glibc
#endif

struct TraceDiffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff", abstract: "Compare two traces: the first divergence by stage and call, and what differs.")

    @OptionGroup var global: GlobalOptions
    @Flag("--all", help: "List every divergence, not only the first.") var all = false
    @Argument("a", help: "The trace that worked (file, name from `vitro trace ls`, or container).") var a: String
    @Argument("b", help: "The trace to compare with it.") var b: String

    func run() throws {
        let ta = TraceInput.load(a, root: global.stateRoot)
        let tb = TraceInput.load(b, root: global.stateRoot)
        let diff = TraceDiff(ta.trace, tb.trace)
        writeStdout(diff.report(nameA: ta.path, nameB: tb.path, all: all))
        if !diff.identical { Glibc.exit(1) }
    }
}
