// Chapter 08: Docker's json-file log format. Each line a container writes becomes one
// JSON object: {"log":"Hello world\n","stream":"stdout","time":"2026-…Z"}. A chunk
// read from a pipe can end mid-line, so each stream keeps its unfinished line until the
// newline arrives (or 16 KiB have gathered, as Docker splits long lines).

import VitroSys
import VitroTrace

#if canImport(Glibc)
import Glibc
#endif

public final class LogWriter {
    let fd: Int32
    var partial: [String: [UInt8]] = [:]
    static let maxLine = 16 * 1024

    public init(path: String) throws {
        fd = try Sys.open(path, flags: O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, mode: 0o640, why: "the container's log, in Docker's json-file format")
    }

    deinit { Sys.close(fd) }

    public func write(_ chunk: [UInt8], stream: String) {
        var buf = (partial[stream] ?? []) + chunk
        var out: [UInt8] = []
        var start = 0
        for (i, b) in buf.enumerated() where b == 10 || i - start >= LogWriter.maxLine {
            out += line(Array(buf[start...i]), stream: stream)
            start = i + 1
        }
        buf.removeFirst(start)
        partial[stream] = buf
        if !out.isEmpty { writeAll(fd, out) }
    }

    /// Writes what is left of unfinished lines (the container has ended).
    public func flush() {
        for (stream, rest) in partial where !rest.isEmpty { writeAll(fd, line(rest, stream: stream)) }
        partial.removeAll()
    }

    func line(_ bytes: [UInt8], stream: String) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.key("log"); w.string(String(decoding: bytes, as: UTF8.self))
        w.key("stream"); w.string(stream)
        w.key("time"); w.string(WallTime.now().rfc3339)
        w.endObject()
        return w.bytes + [10]
    }
}

/// One entry of a json-file log.
public struct LogEntry: Sendable {
    public var log: String
    public var stream: String
    public var time: String

    public static func parse(_ text: String) -> [LogEntry] {
        text.split(separator: "\n").compactMap { line in
            guard let v = try? JSONReader.parse(String(line)) else { return nil }
            return LogEntry(log: v["log"]?.string ?? "", stream: v["stream"]?.string ?? "stdout", time: v["time"]?.string ?? "")
        }
    }
}
