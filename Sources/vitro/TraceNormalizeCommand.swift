// vitro trace normalize: a trace with times, pids, ids and temporary paths replaced, so
// that two runs can be compared line by line (scripts/make-golden makes the golden
// traces in Traces/ with it).

import VitroCommandLine
import VitroReplay
import VitroTrace

struct TraceNormalizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "normalize",
        abstract: "Print a trace with times, pids, ids and temporary paths replaced.")

    @OptionGroup var global: GlobalOptions

    @Option("--stage", help: "Keep only the events of this stage.")
    var stage: String?

    @Argument("file", help: "A JSON Lines trace file (or a container, or a name from `trace ls`).")
    var file: String

    func run() throws {
        let input = TraceInput.load(file, root: global.stateRoot)
        let all = input.trace.allEvents
        var events = TraceNormalizer.detecting(all).normalize(all)
        if let stage {
            guard let s = Stage(rawValue: stage), s != .none else { fail("unknown stage \"\(stage)\"") }
            events = events.filter { $0.stage == s && $0.phase != .metadata }
        }
        var out: [UInt8] = []
        for e in events {
            out += Array(e.jsonLine(epochNanos: 0).utf8)
            out.append(10)
        }
        writeAll(1, out)
    }
}
