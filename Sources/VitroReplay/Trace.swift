// Chapter 12: a recorded trace, read back. A trace is what `vitro run` wrote (JSON
// Lines, Traces/trace-event.schema.json): a header line (ph "M") and the events. The
// replay tools (show, replay, diff, export) all start from a `Trace`, which keeps the
// events in order and indexes what a reader jumps between: stages, errors, packets.
//
// The reader is strict where a person needs to know: a file that is not a trace, a
// trace cut short (vitro killed while writing), a trace of a newer schema version than
// this vitro reads, each get an error naming the line. Golden traces of one stage have
// no header line; that is allowed.
//
// VitroReplay reads bytes it is given and returns bytes to write: the CLI does the
// file I/O through VitroSys (only VitroSys calls the kernel).

import VitroTrace

public struct TraceReadError: Error, CustomStringConvertible, Equatable {
    /// 1-based line of the file.
    public var line: Int
    public var message: String
    public var description: String { "line \(line): \(message)" }
}

public struct Trace: Sendable {
    /// The header (ph "M"), when the trace has one.
    public var header: TraceEvent?
    /// The events after the header, in the order of the file (seq order).
    public var events: [TraceEvent]
    /// The file's line of each event (for messages).
    public var lines: [Int]

    public init(header: TraceEvent? = nil, events: [TraceEvent]) {
        self.header = header
        self.events = events
        self.lines = []
    }

    /// Every event, the header first: what the file held.
    public var allEvents: [TraceEvent] { (header.map { [$0] } ?? []) + events }

    /// Schema version of the header (1 when there is no header).
    public var schema: Int {
        if case .int(let i)? = header?.args["schema"] { return Int(i) }
        return 1
    }

    /// What was run, from the header.
    public var argv: [String] {
        if case .list(let l)? = header?.args["argv"] { return l }
        return []
    }

    /// The container's id, from the header.
    public var container: String? { header?.args["container"]?.text }

    /// Wall-clock start of the trace in nanoseconds since the epoch (0 when unknown,
    /// e.g. a normalised trace).
    public var wallStartNanos: UInt64 {
        guard let s = header?.args["wall_clock_start"]?.text else { return 0 }
        let parts = s.split(separator: ".", maxSplits: 1)
        guard let whole = parts.first.flatMap({ UInt64($0) }) else { return 0 }
        var frac = parts.count > 1 ? String(parts[1].prefix(9)) : ""
        guard frac.allSatisfy(\.isNumber) else { return 0 }
        while frac.count < 9 { frac += "0" }
        return whole &* 1_000_000_000 &+ (UInt64(frac) ?? 0)
    }

    /// True when every time is zero: a normalised (golden) trace. Exports then place
    /// events by their order instead.
    public var isTimeless: Bool { events.allSatisfy { $0.tsNanos == 0 && ($0.durNanos ?? 0) == 0 } }

    /// The stages in the order they begin (a stage-filtered trace may have no B event:
    /// then in the order its events appear).
    public var stages: [Stage] {
        var seen: [Stage] = []
        for e in events where e.stage != .none && !seen.contains(e.stage) { seen.append(e.stage) }
        return seen
    }

    /// Where each run of one stage begins: the index of the first event of every stretch
    /// of events that share a stage (work outside the stages, stage "", counts as one).
    public var stageStarts: [(stage: Stage, index: Int)] {
        var out: [(stage: Stage, index: Int)] = []
        for (i, e) in events.enumerated() where i == 0 || e.stage != events[i - 1].stage {
            out.append((stage: e.stage, index: i))
        }
        return out
    }

    /// Indexes of failed calls and failed stage ends.
    public var errorIndexes: [Int] {
        events.indices.filter { events[$0].failed || (events[$0].phase == .end && events[$0].args["error"] != nil) }
    }

    /// The events with `tsNanos` relative to the first event (for display).
    public var startNanos: UInt64 { events.map(\.tsNanos).min() ?? 0 }
}

/// Reads a JSON Lines trace.
public enum TraceReader {
    /// Parses `bytes`, the whole file.
    public static func read(_ bytes: [UInt8]) throws(TraceReadError) -> Trace {
        var trace = Trace(events: [])
        trace.events.reserveCapacity(bytes.count / 300)
        trace.lines.reserveCapacity(bytes.count / 300)
        var lineNo = 0
        var start = 0
        let endsWithNewline = bytes.last == 10
        var sawLine = false
        while start < bytes.count {
            let end = bytes[start...].firstIndex(of: 10) ?? bytes.count
            lineNo += 1
            defer { start = end + 1 }
            let line = bytes[start..<end]
            if line.allSatisfy({ $0 == 32 || $0 == 9 || $0 == 13 }) { continue }
            sawLine = true
            let isLast = end == bytes.count
            let value: JSONValue
            do {
                value = try JSONReader.parse(Array(line))
            } catch {
                if isLast && !endsWithNewline {
                    throw TraceReadError(line: lineNo, message: "the trace ends in the middle of an event (truncated: was vitro stopped while writing it?)")
                }
                if lineNo == 1 {
                    throw TraceReadError(line: 1, message: "not a vitro trace: the first line is not JSON (\(error)); a trace is JSON Lines from `vitro run --trace FILE`")
                }
                throw TraceReadError(line: lineNo, message: "not a trace event: \(error)")
            }
            let event = try decode(value, line: lineNo)
            if event.phase == .metadata && trace.header == nil && trace.events.isEmpty {
                let schema = value["args"]?["schema"]?.int ?? 0
                if schema > Int64(traceSchemaVersion) {
                    throw TraceReadError(line: lineNo, message: "the trace has schema version \(schema), newer than this vitro reads (\(traceSchemaVersion)); replay it with a newer vitro")
                }
                if schema < 1 {
                    throw TraceReadError(line: lineNo, message: "the header has no schema version (args.schema)")
                }
                trace.header = event
                continue
            }
            trace.events.append(event)
            trace.lines.append(lineNo)
        }
        if !sawLine { throw TraceReadError(line: 1, message: "the file is empty, not a trace") }
        return trace
    }

    static let phases: Set<String> = ["X", "B", "E", "i", "M"]

    /// One event, with its fields checked against the schema's vocabulary. One pass
    /// over the object's members (this is most of the time it takes to open a trace).
    static func decode(_ v: JSONValue, line: Int) throws(TraceReadError) -> TraceEvent {
        guard case .object(let members) = v else {
            throw TraceReadError(line: line, message: line == 1 ? "not a vitro trace: the first line is not a JSON object" : "not a trace event: not a JSON object")
        }
        var seq: Int64?, ts: Double?, dur: Double?, ph: String?, name: String?
        var stage: Stage = .none, group: Group?, cat: Group?
        var pid: Int64 = 0, tid: Int64 = 0, ret: Int64?, errno: String?, why: String?, shell: String?, code: String?
        var args = Args()
        func bad(_ what: String) -> TraceReadError { TraceReadError(line: line, message: what) }
        for (key, x) in members {
            switch key {
            case "seq":
                guard let n = x.int, n >= 0 else { throw bad("\"seq\" is not a non-negative integer") }
                seq = n
            case "ts":
                guard let n = x.number, n >= 0, n.isFinite else { throw bad("\"ts\" is not a non-negative number") }
                ts = n
            case "dur": dur = x.number
            case "ph":
                guard let p = x.string, phases.contains(p) else { throw bad("unknown phase \(describe(x))") }
                ph = p
            case "name":
                guard let n = x.string else { throw bad("\"name\" is not a string") }
                name = n
            case "stage":
                guard let n = x.string, let st = Stage(rawValue: n) else { throw bad("unknown stage \(describe(x))") }
                stage = st
            case "group", "cat":
                guard let n = x.string, let g = Group(rawValue: n) else { throw bad("unknown group \(describe(x))") }
                if key == "group" { group = g } else { cat = g }
            case "pid": pid = x.int ?? 0
            case "tid": tid = x.int ?? 0
            case "ret": ret = x.int
            case "errno": errno = x.string
            case "why": why = x.string
            case "shell": shell = x.string
            case "code": code = x.string
            case "args":
                for (k, a) in x.members ?? [] {
                    switch a {
                    case .string(let s): args.append(k, k.hasSuffix("flags") ? .flags(s) : .string(s))
                    case .number: args.append(k, .int(a.int ?? 0))
                    case .bool(let b): args.append(k, .bool(b))
                    case .array(let l): args.append(k, .list(l.compactMap(\.string)))
                    default: args.append(k, .string(""))
                    }
                }
            default: continue
            }
        }
        for (key, present) in [("seq", seq != nil), ("ts", ts != nil), ("ph", ph != nil), ("name", name != nil)] where !present {
            throw bad(line == 1 ? "not a vitro trace: no \"\(key)\" field; a trace is JSON Lines from `vitro run --trace FILE`" : "not a trace event: no \"\(key)\" field")
        }
        return TraceEvent(
            seq: UInt64(seq ?? 0), tsNanos: TraceEvent.nanos(micros: ts ?? 0), durNanos: dur.map(TraceEvent.nanos(micros:)),
            phase: Phase(rawValue: ph ?? "i") ?? .instant, name: name ?? "", group: group ?? cat ?? .stage, stage: stage,
            pid: Int32(truncatingIfNeeded: pid), tid: Int32(truncatingIfNeeded: tid), args: args, ret: ret, errno: errno, why: why,
            shell: shell, code: code)
    }

    static func describe(_ v: JSONValue) -> String {
        var w = JSONWriter()
        w.value(v)
        let s = w.text
        return s.count > 40 ? String(s.prefix(40)) + "…" : s
    }
}
