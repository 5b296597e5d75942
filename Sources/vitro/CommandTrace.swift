// `--trace FILE` for commands other than run: the events of one command as a JSON
// Lines trace, in one stage (a pull's HTTP requests and store writes are stage `pull`).

import VitroSys
import VitroTrace

#if canImport(Glibc)
import Glibc
#endif

struct CommandTrace {
    let fd: Int32
    let stage: Stage

    /// Starts tracing into `path` (nil: no trace file, events go nowhere).
    init?(path: String?, stage: Stage, root: String? = nil) {
        guard let path else { return nil }
        guard let fd = try? Sys.open(path, flags: O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode: 0o600, trace: false) else {
            fail("trace \"\(path)\": cannot be written")
        }
        self.fd = fd
        self.stage = stage
        let sink = JSONLinesSink(fd: fd, epochNanos: MonotonicClock.now(), buffered: true)
        sink.writeHeader(argv: Self.redacted(CommandLine.arguments), extra: root.map { ["root": .string($0)] } ?? [:])
        Tracer.shared.addSink(sink)
        Tracer.shared.beginStage(stage)
    }

    /// The command line without the value of --password: a trace is shared, a password not.
    static func redacted(_ argv: [String]) -> [String] {
        var out: [String] = []
        var hideNext = false
        for a in argv {
            if hideNext {
                out.append("***")
                hideNext = false
            } else if a.hasPrefix("--password=") {
                out.append("--password=***")
            } else {
                hideNext = a == "--password"
                out.append(a)
            }
        }
        return out
    }

    func finish(error: String? = nil) {
        Tracer.shared.endStage(stage, error: error)
        Tracer.shared.flush()
        Tracer.shared.removeAllSinks()
        Sys.close(fd)
    }
}
