// The JSON Lines form of an event (Traces/trace-event.schema.json).
//
// Times are written in microseconds with three decimals, as Chrome's format has them,
// relative to an epoch: the trace's start for a trace file, zero on the wire between
// vitro-init and vitro (so the parent can place them on its own time line).

extension TraceEvent {
    public func jsonLine(epochNanos: UInt64) -> String {
        var w = JSONWriter()
        write(to: &w, epochNanos: epochNanos)
        return w.text
    }

    public func write(to w: inout JSONWriter, epochNanos: UInt64) {
        w.beginObject()
        w.key("seq"); w.uint(seq)
        let rel = tsNanos >= epochNanos ? tsNanos - epochNanos : 0
        w.key("ts"); w.micros(nanos: rel)
        if let durNanos { w.key("dur"); w.micros(nanos: durNanos) }
        w.key("ph"); w.string(phase.rawValue)
        w.key("name"); w.string(name)
        w.key("cat"); w.string(group.rawValue)
        w.key("pid"); w.int(Int64(pid))
        w.key("tid"); w.int(Int64(tid))
        w.key("stage"); w.string(stage.rawValue)
        w.key("group"); w.string(group.rawValue)
        if !args.isEmpty {
            w.key("args")
            w.beginObject()
            for (k, v) in args.items {
                w.key(k)
                w.arg(v)
            }
            w.endObject()
        }
        if let ret { w.key("ret"); w.int(ret) }
        if let errno { w.key("errno"); w.string(errno) }
        if let why { w.key("why"); w.string(why) }
        if let shell { w.key("shell"); w.string(shell) }
        if let code { w.key("code"); w.string(code) }
        w.endObject()
    }

    /// Reads one line of a trace. Times come back relative to the line's epoch.
    public init(jsonLine line: String, epochNanos: UInt64 = 0) throws {
        try self.init(json: try JSONReader.parse(line), epochNanos: epochNanos)
    }

    /// Reads one parsed event. Fields the schema requires must be there; unknown phases,
    /// stages and groups fall back to an instant note, no stage, and `stage` (a reader
    /// that must refuse them checks the JSON itself: VitroReplay's TraceReader does).
    public init(json v: JSONValue, epochNanos: UInt64 = 0) throws {
        func need(_ key: String) throws -> JSONValue {
            guard let x = v[key] else { throw JSONError(offset: 0, message: "event without \"\(key)\"") }
            return x
        }
        let ts = try need("ts").number ?? 0
        var args = Args()
        for (k, x) in v["args"]?.members ?? [] {
            switch x {
            case .string(let s): args.append(k, k.hasSuffix("flags") ? .flags(s) : .string(s))
            case .number: args.append(k, .int(x.int ?? 0))
            case .bool(let b): args.append(k, .bool(b))
            case .array(let a): args.append(k, .list(a.compactMap(\.string)))
            default: args.append(k, .string(""))
            }
        }
        self.init(
            seq: UInt64(max(try need("seq").int ?? 0, 0)),
            tsNanos: epochNanos &+ Self.nanos(micros: ts),
            durNanos: v["dur"]?.number.map(Self.nanos(micros:)),
            phase: Phase(rawValue: try need("ph").string ?? "i") ?? .instant,
            name: try need("name").string ?? "",
            group: Group(rawValue: v["group"]?.string ?? v["cat"]?.string ?? "") ?? .stage,
            stage: Stage(rawValue: v["stage"]?.string ?? "") ?? .none,
            pid: Int32(truncatingIfNeeded: v["pid"]?.int ?? 0),
            tid: Int32(truncatingIfNeeded: v["tid"]?.int ?? 0),
            args: args,
            ret: v["ret"]?.int,
            errno: v["errno"]?.string,
            why: v["why"]?.string,
            shell: v["shell"]?.string,
            code: v["code"]?.string)
    }

    /// Microseconds (as the JSON has them) to nanoseconds; negative, huge or not a
    /// number is 0.
    public static func nanos(micros: Double) -> UInt64 {
        let n = (micros * 1000).rounded()
        return n.isFinite && n > 0 && n < 1.8e19 ? UInt64(n) : 0
    }
}

extension JSONWriter {
    /// One argument of an event, as its JSON value (flags are strings of names).
    public mutating func arg(_ v: ArgValue) {
        switch v {
        case .string(let s), .flags(let s): string(s)
        case .int(let i): int(i)
        case .bool(let b): bool(b)
        case .list(let l):
            beginArray()
            for x in l { string(x) }
            endArray()
        }
    }
}
