// vitro trace replay: step through a recorded run in the terminal (VitroReplay's
// ReplayViewer; the terminal side is ReplayTerminal.swift).

import ArgumentParser
import VitroReplay
import VitroSys

struct TraceReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay", abstract: "Step through a trace in the terminal: events, stages, errors, breakpoints, kernel state, packet hops.")

    @OptionGroup var global: GlobalOptions
    @Option(name: .customLong("break"), help: "Start with a breakpoint on this group or call (repeatable).") var breaks: [String] = []
    @Flag(name: .long, help: "Start at the first failed call (or failed stage).") var error = false
    @Argument(help: "A trace file, a name from `vitro trace ls`, or a container.") var trace: String

    func run() throws {
        let input = TraceInput.load(trace, root: global.stateRoot)
        guard Sys.isTerminal(0), Sys.isTerminal(1) else {
            fail("trace replay needs a terminal on stdin and stdout; `vitro trace show \(trace)` prints the trace as text", code: 1)
        }
        let viewer = ReplayViewer(trace: input.trace, title: input.label)
        for b in breaks { viewer.addBreakpoint(b) }
        if error { viewer.handle(.char("e")) }
        do {
            try ReplayTerminal(viewer: viewer).run()
        } catch {
            fail("trace replay: \(error)")
        }
    }
}
