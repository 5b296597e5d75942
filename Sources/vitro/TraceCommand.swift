// vitro trace: tools for recorded traces. For now `normalize`, which makes a trace
// comparable with another run's (and is how the golden traces in Traces/ are made).

import ArgumentParser
import VitroReplay
import VitroSys
import VitroTrace

#if canImport(Glibc)
import Glibc
#endif

struct TraceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trace",
        abstract: "Work with recorded traces.",
        subcommands: [TraceNormalizeCommand.self])
}

struct TraceNormalizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "normalize",
        abstract: "Print a trace with times, pids, ids and temporary paths replaced.")

    @Option(name: .long, help: "Keep only the events of this stage.")
    var stage: String?

    @Argument(help: "A JSON Lines trace file.")
    var file: String

    func run() throws {
        let text: String
        do { text = try Sys.readText(file) } catch { fail(String(describing: error)) }
        var events: [TraceEvent] = []
        for (n, line) in text.split(separator: "\n").enumerated() {
            do { events.append(try TraceEvent(jsonLine: String(line))) } catch { fail("\(file):\(n + 1): \(error)") }
        }
        events = TraceNormalizer.detecting(events).normalize(events)
        if let stage {
            guard let s = Stage(rawValue: stage) else { fail("unknown stage \"\(stage)\"") }
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
