// vitro trace replay: step through a recorded run in the terminal (VitroReplay's
// ReplayViewer; the terminal side is ReplayTerminal.swift).

import VitroCommandLine
import VitroReplay
import VitroSys

struct TraceReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay", abstract: "Step through a trace in the terminal: events, stages, errors, breakpoints, kernel state, packet hops.")

    @OptionGroup var global: GlobalOptions
    @Option("--break", help: "Start with a breakpoint on this group or call (repeatable).") var breaks: [String] = []
    @Flag("--error", help: "Start at the first failed call (or failed stage).") var error = false
    @Option("--keys", help: "Press these keys first, as if typed (e.g. ']]2' or '/pivot_root\\r').") var keys: String?
    @Flag("--print", help: "Print the screen as text and exit, without a terminal (with --keys: the screen after them).") var print = false
    @Option("--size", help: "The size for --print, COLUMNSxROWS (default 80x24).") var size: String = "80x24"
    @Argument("trace", help: "A trace file, a name from `vitro trace ls`, or a container.") var trace: String

    func run() throws {
        let input = TraceInput.load(trace, root: global.stateRoot)
        let viewer = ReplayViewer(trace: input.trace, title: input.label)
        for b in breaks { viewer.addBreakpoint(b) }
        if error { viewer.handle(.char("e")) }
        if let keys {
            var decoder = KeyDecoder()
            for k in decoder.feed(Array(keys.split(separator: "\\r", omittingEmptySubsequences: false).joined(separator: "\r").utf8)) { viewer.handle(k) }
        }
        if print {
            let parts = size.split(separator: "x").compactMap { Int($0) }
            guard parts.count == 2, parts[0] >= ReplayViewer.minimumColumns, parts[1] >= ReplayViewer.minimumRows else {
                fail("--size \(size): COLUMNSxROWS, at least \(ReplayViewer.minimumColumns)x\(ReplayViewer.minimumRows)", code: 1)
            }
            writeStdout(viewer.frame(rows: parts[1], columns: parts[0]).text + "\n")
            return
        }
        guard Sys.isTerminal(0), Sys.isTerminal(1) else {
            fail("trace replay needs a terminal on stdin and stdout; `vitro trace show \(trace)` prints the trace as text", code: 1)
        }
        do {
            try ReplayTerminal(viewer: viewer).run()
        } catch {
            fail("trace replay: \(error)")
        }
    }
}
