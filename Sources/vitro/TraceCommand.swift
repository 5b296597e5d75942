// vitro trace: tools for recorded traces (chapter 12). Each subcommand has its own
// file: ls, show, replay, diff, export, and normalize (which makes a trace comparable
// with another run's, and is how the golden traces in Traces/ are made).
//
// A trace is named by a FILE (any path), by a name `trace ls` prints, or by a
// CONTAINER (name, id or id prefix): its newest run trace (TraceInput.swift).

import VitroCommandLine

struct TraceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trace",
        abstract: "Work with recorded traces: list, show, replay, diff, export.",
        subcommands: [
            TraceLsCommand.self, TraceShowCommand.self, TraceReplayCommand.self, TraceDiffCommand.self,
            TraceExportCommand.self, TraceNormalizeCommand.self, TraceNetCommand.self,
        ])
}
