// vitro logs: what a container wrote, from its json-file log.

import VitroCommandLine
import VitroRuntime
import VitroSys
import VitroTrace

struct LogsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "logs", abstract: "Fetch the logs of a container.")

    @OptionGroup var global: GlobalOptions
    @Flag("-f", "--follow", help: "Follow log output.") var follow = false
    @Flag("-t", "--timestamps", help: "Show timestamps.") var timestamps = false
    @Option("--tail", help: "Number of lines to show from the end of the logs (or \"all\").") var tail: String = "all"
    @Option("--since", help: "Show logs since a timestamp (RFC 3339) or relative (e.g. 42s, 5m).") var since: String?
    @Argument("container", help: "Container name or id.") var container: String

    func run() throws {
        let store = ContainerStore(root: global.stateRoot)
        let r: ContainerRecord
        do { r = try store.find(container) } catch { fail(error.message, code: 1) }
        if r.config.logOptions.driver == "none" { fail("configured logging driver does not support reading", code: 1) }
        guard tail == "all" || Int(tail) != nil else { fail("--tail \(tail): a number or \"all\"", code: 1) }
        var sinceTime: WallTime?
        if let since {
            if let t = WallTime(rfc3339: since) {
                sinceTime = t
            } else if let n = Int(since.dropLast()), let unit = since.last, let mult = ["s": 1, "m": 60, "h": 3600][String(unit)] {
                sinceTime = WallTime(seconds: WallTime.now().seconds - n * mult)
            } else {
                fail("--since \(since): an RFC 3339 time or a duration like 42s, 5m, 2h", code: 1)
            }
        }
        let path = store.logPath(r.id)
        var offset = 0
        var first = true
        while true {
            // The first pass reads the rotated files too, oldest first (--log-opt max-file).
            var text = ""
            if first {
                for f in LogWriter.files(path).dropLast() { text += String(decoding: (try? Sys.readFile(f)) ?? [], as: UTF8.self) }
            }
            var bytes = (try? Sys.readFile(path)) ?? []
            if bytes.count < offset {
                // Rotated while we followed: the rest of the old log is now ID-json.log.1.
                let old = (try? Sys.readFile(path + ".1")) ?? []
                if old.count > offset { text += String(decoding: old[offset...], as: UTF8.self) }
                offset = 0
                bytes = (try? Sys.readFile(path)) ?? []
            }
            if bytes.count > offset {
                // Only whole lines; a line being written is read on the next pass.
                let end = (bytes.lastIndex(of: 10).map { $0 + 1 }) ?? offset
                text += String(decoding: bytes[offset..<max(offset, end)], as: UTF8.self)
                offset = max(offset, end)
            }
            if !text.isEmpty {
                var entries = LogEntry.parse(text)
                if let s = sinceTime { entries = entries.filter { (WallTime(rfc3339: $0.time) ?? s) >= s } }
                if first, let n = Int(tail) { entries = Array(entries.suffix(n)) }
                for e in entries {
                    let text = (timestamps ? e.time + " " : "") + e.log
                    if e.stream == "stderr" { writeStderr(text) } else { writeStdout(text) }
                }
            }
            first = false
            guard follow else { return }
            guard let now = store.load(r.id), [.running, .created, .restarting, .paused].contains(store.liveStatus(now)) else {
                if (try? Sys.readFile(path))?.count ?? 0 > offset { continue }
                return
            }
            Sys.sleep(milliseconds: 100)
        }
    }
}
