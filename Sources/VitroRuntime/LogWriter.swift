// Chapter 08: Docker's json-file log format. Each line a container writes becomes one
// JSON object: {"log":"Hello world\n","stream":"stdout","time":"2026-…Z"}. A chunk
// read from a pipe can end mid-line, so each stream keeps its unfinished line until the
// newline arrives (or 16 KiB have gathered, as Docker splits long lines).
//
// Rotation (`--log-opt max-size=10m --log-opt max-file=3`): before a write would take
// the log past max-size, ID-json.log becomes ID-json.log.1 (.1 becomes .2, and so on;
// the oldest beyond max-file goes) and a new log is started, as Docker's jsonfile
// driver does. `vitro logs` reads the rotated files oldest first.

import VitroSys
import VitroTrace

#if canImport(Glibc)
import Glibc
#endif

public final class LogWriter {
    let path: String
    let options: LogOptions
    var fd: Int32
    var size: Int
    var partial: [String: [UInt8]] = [:]
    static let maxLine = 16 * 1024

    public init(path: String, options: LogOptions = LogOptions()) throws {
        self.path = path
        self.options = options
        fd = try Self.open(path, driver: options.driver)
        size = Int(Sys.fileSize(path) ?? 0)
    }

    static func open(_ path: String, driver: String) throws -> Int32 {
        if driver == "none" { return try Sys.open("/dev/null", flags: O_WRONLY | O_CLOEXEC, trace: false) }
        return try Sys.open(path, flags: O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, mode: 0o640, why: "the container's log, in Docker's json-file format")
    }

    deinit { Sys.close(fd) }

    /// The files of a log, oldest first: ID-json.log.N … ID-json.log.1, ID-json.log.
    public static func files(_ path: String) -> [String] {
        var rotated: [String] = []
        var n = 1
        while Sys.fileKind("\(path).\(n)") != .missing {
            rotated.insert("\(path).\(n)", at: 0)
            n += 1
        }
        return rotated + [path]
    }

    /// Shifts the rotated files up by one and starts a new log.
    func rotate() {
        Sys.close(fd)
        if options.maxFile > 1 {
            for i in stride(from: options.maxFile - 1, to: 0, by: -1) {
                let from = i == 1 ? path : "\(path).\(i - 1)"
                if Sys.fileKind(from) != .missing { try? Sys.rename(from, to: "\(path).\(i)", why: "rotate the log: max-size reached") }
            }
        } else {
            try? Sys.unlink(path, why: "max-size reached and max-file is 1: the log starts again")
        }
        fd = (try? Self.open(path, driver: options.driver)) ?? -1
        size = 0
    }

    func append(_ bytes: [UInt8]) {
        if let max = options.maxSize, size > 0, size + bytes.count > max { rotate() }
        guard fd >= 0 else { return }
        writeAll(fd, bytes)
        size += bytes.count
    }

    public func write(_ chunk: [UInt8], stream: String) {
        // --log-driver none keeps nothing: no line to split, no JSON to make.
        guard options.driver != "none" else { return }
        var buf = (partial[stream] ?? []) + chunk
        var out: [UInt8] = []
        var start = 0
        for (i, b) in buf.enumerated() where b == 10 || i - start >= LogWriter.maxLine {
            let entry = line(Array(buf[start...i]), stream: stream)
            // With rotation, each line is a write of its own: rotation is decided line by
            // line, as Docker's driver decides it per message.
            if options.maxSize != nil { append(entry) } else { out += entry }
            start = i + 1
        }
        buf.removeFirst(start)
        partial[stream] = buf
        if !out.isEmpty { append(out) }
    }

    /// Writes what is left of unfinished lines (the container has ended).
    public func flush() {
        for (stream, rest) in partial where !rest.isEmpty { append(line(rest, stream: stream)) }
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
