// The three places a trace goes: a JSON Lines file (or vitro-init's trace pipe), the
// terminal as a narrated lab notebook, and memory (tests, learn run).

import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Writes all of `bytes` to `fd`, retrying short writes and EINTR. Returns false when
/// the descriptor is gone (a closed pipe); a trace must never stop the engine.
@discardableResult
public func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
    var off = 0
    while off < bytes.count {
        let n = bytes.withUnsafeBufferPointer { p -> Int in
            guard let base = p.baseAddress else { return 0 }
            return Glibc.write(fd, base + off, p.count - off)
        }
        if n < 0 {
            if errno == EINTR { continue }
            return false
        }
        off += n
    }
    return true
}

/// A line another process's tracer wrote, as `seq` and `ts` start it, ready to be
/// renumbered and moved onto this trace's time line without being parsed: what vitro
/// does with each of vitro-init's events when the run's only sink is its trace file.
public struct EventLine: Sendable {
    /// The time the line gives, in nanoseconds since its epoch (zero on vitro-init's pipe).
    public let tsNanos: UInt64
    /// Everything after `ts`'s value: `,"ph":…}`.
    let rest: ArraySlice<UInt8>

    /// Reads `{"seq":N,"ts":M.UUU,…}` as TraceEvent.write starts every line; nil for
    /// anything else (such a line goes the parsing way).
    public init?(_ line: ArraySlice<UInt8>) {
        let seqKey = Array("{\"seq\":".utf8), tsKey = Array(",\"ts\":".utf8)
        guard line.starts(with: seqKey) else { return nil }
        var i = line.startIndex + seqKey.count
        let seqStart = i
        while i < line.endIndex, line[i] >= 48, line[i] <= 57 { i += 1 }
        guard i > seqStart, line[i...].starts(with: tsKey) else { return nil }
        i += tsKey.count
        var micros: UInt64 = 0, digits = 0
        while i < line.endIndex, line[i] >= 48, line[i] <= 57, digits < 18 {
            micros = micros * 10 + UInt64(line[i] - 48)
            i += 1
            digits += 1
        }
        guard digits > 0, digits < 18, i < line.endIndex, line[i] == UInt8(ascii: ".") else { return nil }
        i += 1
        var frac: UInt64 = 0, places = 0
        while i < line.endIndex, line[i] >= 48, line[i] <= 57 {
            guard places < 3 else { return nil }
            frac = frac * 10 + UInt64(line[i] - 48)
            i += 1
            places += 1
        }
        guard places == 3, i < line.endIndex, line[i] == UInt8(ascii: ","), line.last == UInt8(ascii: "}") else { return nil }
        tsNanos = micros * 1000 + frac
        rest = line[i...]
    }

    /// Writes the line with its new number and its time relative to `epochNanos`, as
    /// TraceEvent.write would have written them.
    func write(to w: inout JSONWriter, seq: UInt64, epochNanos: UInt64) {
        w.bytes.append(contentsOf: "{\"seq\":".utf8)
        w.uint(seq)
        w.bytes.append(contentsOf: ",\"ts\":".utf8)
        w.micros(nanos: tsNanos >= epochNanos ? tsNanos - epochNanos : 0)
        w.bytes.append(contentsOf: rest)
    }

    func bytes(seq: UInt64, epochNanos: UInt64) -> [UInt8] {
        var w = JSONWriter()
        write(to: &w, seq: seq, epochNanos: epochNanos)
        return w.bytes
    }
}

/// Keeps every event, in order. For tests and for learn run's "what happened".
public final class MemorySink: TraceSink {
    private let store = Mutex<[TraceEvent]>([])
    public init() {}
    public func receive(_ event: TraceEvent) { store.withLock { $0.append(event) } }
    public func flush() {}
    public var events: [TraceEvent] { store.withLock { $0 } }
    public func removeAll() { store.withLock { $0.removeAll() } }
}

/// One JSON object per line. With `buffered`, lines are collected and written on
/// `flush` or when 64 KiB have gathered; otherwise each line is one write(2), which is
/// what vitro-init uses so its parent sees each event as it happens.
/// PIPE_BUF on Linux: a write of at most this many bytes to a pipe is never interleaved
/// with another writer's.
let pipeAtomicBytes = 4096

public final class JSONLinesSink: TraceSink {
    private struct State {
        var buffer: [UInt8] = []
        var epoch: UInt64
    }
    private let fd: Int32
    private let buffered: Bool
    private let atomicWrites: Bool
    private let state: Mutex<State>

    /// `atomicWrites`: for a pipe that other processes write into too (vitro-init's
    /// stage A and pid 1 share one): buffered lines go out in writes of at most
    /// PIPE_BUF bytes that end at a line's end, so pipe(7) keeps each whole.
    public init(fd: Int32, epochNanos: UInt64, buffered: Bool, atomicWrites: Bool = false) {
        self.fd = fd
        self.buffered = buffered
        self.atomicWrites = atomicWrites
        self.state = Mutex(State(epoch: epochNanos))
    }

    private func write(_ bytes: [UInt8]) {
        guard atomicWrites, bytes.count > pipeAtomicBytes else {
            writeAll(fd, bytes)
            return
        }
        var start = 0
        while start < bytes.count {
            // The last line end within PIPE_BUF bytes; a longer line goes alone.
            var end = min(start + pipeAtomicBytes, bytes.count)
            if end < bytes.count {
                if let nl = bytes[start..<end].lastIndex(of: 10) {
                    end = nl + 1
                } else {
                    end = (bytes[start...].firstIndex(of: 10) ?? (bytes.count - 1)) + 1
                }
            }
            writeAll(fd, Array(bytes[start..<end]))
            start = end
        }
    }

    /// The header line: schema version and what produced the trace.
    public func writeHeader(argv: [String], extra: Args = [:]) {
        var args: Args = [
            "schema": .int(Int64(traceSchemaVersion)),
            "argv": .list(argv),
            "wall_clock_start": .string(fixed(MonotonicClock.wallSeconds(), 6)),
        ]
        for (k, v) in extra.items { args.append(k, v) }
        let epoch = state.withLock { $0.epoch }
        let header = TraceEvent(
            tsNanos: epoch, phase: .metadata, name: "trace", group: .stage, stage: .none,
            pid: getpid(), tid: getpid(), args: args,
            why: "the first line says which schema the rest follows and what was run")
        receive(header)
    }

    public func receive(_ event: TraceEvent) {
        let out: [UInt8]? = state.withLock { s in
            var w = JSONWriter()
            event.write(to: &w, epochNanos: s.epoch)
            w.bytes.append(10)
            if !buffered { return w.bytes }
            s.buffer.append(contentsOf: w.bytes)
            if s.buffer.count >= 65536 {
                defer { s.buffer.removeAll(keepingCapacity: true) }
                return s.buffer
            }
            return nil
        }
        if let out { write(out) }
    }

    public func flush() {
        let out = state.withLock { s in
            defer { s.buffer.removeAll(keepingCapacity: true) }
            return s.buffer
        }
        if !out.isEmpty { write(out) }
    }

    public var takesLines: Bool { true }

    public func receive(line: EventLine, seq: UInt64) {
        let out: [UInt8]? = state.withLock { s in
            if !buffered {
                var bytes = line.bytes(seq: seq, epochNanos: s.epoch)
                bytes.append(10)
                return bytes
            }
            // Written straight into the buffer: the writer borrows it.
            var w = JSONWriter()
            swap(&w.bytes, &s.buffer)
            line.write(to: &w, seq: seq, epochNanos: s.epoch)
            w.bytes.append(10)
            swap(&w.bytes, &s.buffer)
            if s.buffer.count >= 65536 {
                defer { s.buffer.removeAll(keepingCapacity: true) }
                return s.buffer
            }
            return nil
        }
        if let out { write(out) }
    }
}

/// The terminal rendering: reads like a lab notebook.
///
///     == namespaces: create namespaces and the container's root
///     => unshare CLONE_NEWNS|CLONE_NEWUTS|… done (0.05 ms)
///     => pivot_root /var/lib/vitro/… done (0.02 ms)
///
/// With `explain`, each call also shows its `why` and the equivalent shell command.
public final class NarratedSink: TraceSink {
    private let fd: Int32
    private let explain: Bool
    private let width: Int
    /// Repeats of one call for one reason are shown twice, then counted.
    private struct Repeat {
        var key = ""
        var count = 0
        var name = ""
    }
    private let lock = Mutex(Repeat())

    public init(fd: Int32 = 2, explain: Bool = false, width: Int = 80) {
        self.fd = fd
        self.explain = explain
        self.width = max(width, 40)
    }

    public func receive(_ event: TraceEvent) {
        lock.withLock { r in
            let key = event.phase == .complete && !event.failed ? event.name + "\u{0}" + (event.why ?? "") : ""
            var text = ""
            if !key.isEmpty, key == r.key {
                r.count += 1
                if r.count > 2 { return }
            } else {
                text += summary(r)
                r = Repeat(key: key, count: 1, name: event.name)
            }
            text += render(event)
            if !text.isEmpty { _ = writeAll(fd, Array(text.utf8)) }
        }
    }

    private func summary(_ r: Repeat) -> String {
        r.count > 2 ? "   … and \(r.count - 2) more \(r.name) calls for the same reason\n" : ""
    }

    public func flush() {
        lock.withLock { r in
            let text = summary(r)
            r = Repeat()
            if !text.isEmpty { _ = writeAll(fd, Array(text.utf8)) }
        }
    }

    public func render(_ e: TraceEvent) -> String {
        switch e.phase {
        case .metadata:
            return ""
        case .begin:
            return "== \(e.name): \(e.args["title"]?.text ?? "")\n"
        case .end:
            if let err = e.args["error"]?.text { return "== \(e.name) failed: \(err)\n" }
            return ""
        case .instant:
            var s = "-- \(fit(e.label, width - 3))\n"
            if explain, let why = e.why { s += wrap(why, indent: "   ") }
            return s
        case .complete:
            let dur = formatMillis(e.durNanos ?? 0)
            let tail = e.failed ? " failed: \(e.errno ?? "") (\(dur))" : " done (\(dur))"
            var s = "=> " + fit(e.label, width - 3 - tail.count) + tail + "\n"
            if explain {
                if let why = e.why { s += wrap(why, indent: "   ") }
                if let shell = e.shell { s += wrap("$ " + shell, indent: "   ") }
            }
            return s
        }
    }

    /// Shortens `s` to `n` characters by cutting out its middle.
    func fit(_ s: String, _ n: Int) -> String {
        guard s.count > n, n > 5 else { return s }
        let keep = n - 1
        return String(s.prefix(keep / 2)) + "…" + String(s.suffix(keep - keep / 2))
    }

    /// Word-wraps `s` to the width, each line starting with `indent` (continuations two
    /// spaces deeper); a word longer than a line (a long path) is broken at the edge.
    func wrap(_ s: String, indent: String) -> String {
        let cont = indent + "  "
        var lines: [String] = []
        var line = indent
        for word in s.split(separator: " ", omittingEmptySubsequences: false).map(String.init) {
            let fresh = line == indent || line == cont
            let sep = fresh ? "" : " "
            if sep.count + word.count <= width - line.count {
                line += sep + word
                continue
            }
            if !fresh {
                lines.append(line)
                line = cont
            }
            var rest = Substring(word)
            while rest.count > width - line.count {
                let room = width - line.count
                line += rest.prefix(room)
                rest = rest.dropFirst(room)
                lines.append(line)
                line = cont
            }
            line += rest
        }
        lines.append(line)
        return lines.joined(separator: "\n") + "\n"
    }
}
