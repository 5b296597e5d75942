// Chapter 12: a trace as OpenTelemetry spans, in OTLP's JSON encoding: one document
// with one `resourceSpans` entry, as an OTLP/HTTP collector takes it
// (POST /v1/traces, Content-Type application/json) or `otel-cli`/Jaeger import it.
//
//   resource    service.name "vitro", the container id, the command line
//   spans       "vitro run" (the root), one span per stage (its child), one per kernel
//               call (a child of its stage's span, or of the root outside the stages)
//   span events notes and packet events, on the span of their stage
//
// Per the OTLP JSON mapping (opentelemetry-proto, "JSON Protobuf Encoding"): trace and
// span ids are lower-case hex (16 and 8 bytes), 64-bit integers are decimal strings,
// enum values are numbers (kind 1 = INTERNAL, status code 2 = ERROR). Ids are derived
// from the trace's content (FNV-1a), so the same trace always exports the same
// document. A normalised trace has no clock: its events are placed at seq microseconds
// after the epoch.

import VitroTrace

public enum OTLPExport {
    public static func export(_ trace: Trace) -> [UInt8] {
        let timeless = trace.isTimeless
        let base = trace.startNanos
        let wall = trace.wallStartNanos
        func start(_ e: TraceEvent) -> UInt64 {
            timeless ? e.seq &* 1000 : wall &+ (e.tsNanos >= base ? e.tsNanos - base : 0)
        }
        func end(_ e: TraceEvent) -> UInt64 { start(e) &+ (timeless ? 0 : (e.durNanos ?? 0)) }

        var seed = Self.fnv(Array((trace.container ?? "").utf8) + Array(trace.argv.joined(separator: " ").utf8))
        for e in trace.events.prefix(64) { seed = Self.fnv(Array(e.name.utf8), seed: seed) }
        let traceID = hex(seed, 16) + hex(Self.fnv([1], seed: seed), 16)
        func spanID(_ n: UInt64) -> String { hex(Self.fnv(Array(String(n).utf8), seed: seed) | 1, 16) }
        let rootID = spanID(0)

        // Stage spans: from their B to their E (or the last event of the stage).
        struct StageSpan {
            var stage: Stage
            var id: String
            var start: UInt64
            var end: UInt64
            var error: String?
            var events: [TraceEvent] = []
        }
        var stages: [StageSpan] = []
        var stageIndex: [Stage: Int] = [:]
        for e in trace.events where e.stage != .none {
            if stageIndex[e.stage] == nil {
                stageIndex[e.stage] = stages.count
                stages.append(StageSpan(stage: e.stage, id: spanID(1_000_000 + UInt64(stages.count)), start: start(e), end: end(e)))
            }
            guard let i = stageIndex[e.stage] else { continue }
            stages[i].start = min(stages[i].start, start(e))
            stages[i].end = max(stages[i].end, end(e))
            if e.phase == .end, let err = e.args["error"]?.text { stages[i].error = err }
            if e.phase == .instant { stages[i].events.append(e) }
        }
        let runStart = trace.events.map(start).min() ?? wall
        let runEnd = max(trace.events.map(end).max() ?? runStart, runStart)
        let failed = stages.first { $0.error != nil }

        var w = JSONWriter()
        w.beginObject()
        w.key("resourceSpans")
        w.beginArray()
        w.beginObject()
        w.key("resource")
        w.beginObject()
        w.key("attributes")
        w.beginArray()
        attribute(&w, "service.name", .string("vitro"))
        if let c = trace.container { attribute(&w, "vitro.container.id", .string(c)) }
        if !trace.argv.isEmpty { attribute(&w, "process.command_args", .list(trace.argv)) }
        attribute(&w, "vitro.trace.schema", .int(Int64(trace.schema)))
        w.endArray()
        w.endObject()
        w.key("scopeSpans")
        w.beginArray()
        w.beginObject()
        w.key("scope"); w.beginObject(); w.key("name"); w.string("vitro"); w.key("version"); w.string("1"); w.endObject()
        w.key("spans")
        w.beginArray()
        span(&w, traceID: traceID, id: rootID, parent: nil, name: "vitro run", start: runStart, end: runEnd,
             attributes: [("vitro.argv", .list(trace.argv))], error: failed.map { "stage \($0.stage.rawValue): \($0.error ?? "")" }, events: trace.events.filter { $0.stage == .none && $0.phase == .instant }, eventTime: start)
        for s in stages {
            span(&w, traceID: traceID, id: s.id, parent: rootID, name: s.stage.rawValue, start: s.start, end: s.end,
                 attributes: [("vitro.stage", .string(s.stage.rawValue)), ("vitro.stage.title", .string(s.stage.title))], error: s.error, events: s.events, eventTime: start)
        }
        for e in trace.events where e.phase == .complete {
            let parent = stageIndex[e.stage].map { stages[$0].id } ?? rootID
            var attrs: [(String, ArgValue)] = [("vitro.seq", .int(Int64(e.seq))), ("vitro.group", .string(e.group.rawValue)), ("process.pid", .int(Int64(e.pid)))]
            if e.stage != .none { attrs.append(("vitro.stage", .string(e.stage.rawValue))) }
            for (k, v) in e.args.items { attrs.append(("vitro.args." + k, v)) }
            if let r = e.ret { attrs.append(("vitro.ret", .int(r))) }
            if let x = e.errno { attrs.append(("vitro.errno", .string(x))) }
            if let x = e.why { attrs.append(("vitro.why", .string(x))) }
            if let x = e.shell { attrs.append(("vitro.shell", .string(x))) }
            if let x = e.code {
                // OpenTelemetry's semantic conventions for where the code is (a
                // normalised trace has the file alone).
                let colon = x.lastIndex(of: ":")
                let line = colon.flatMap { Int64(x[x.index(after: $0)...]) }
                attrs.append(("code.filepath", .string(line == nil ? x : String(x[..<(colon ?? x.endIndex)]))))
                if let line { attrs.append(("code.lineno", .int(line))) }
            }
            span(&w, traceID: traceID, id: spanID(e.seq &+ 2_000_000), parent: parent, name: e.name, start: start(e), end: end(e),
                 attributes: attrs, error: e.errno, events: [], eventTime: start)
        }
        w.endArray()
        w.endObject()
        w.endArray()
        w.endObject()
        w.endArray()
        w.endObject()
        return w.bytes + [10]
    }

    static func span(
        _ w: inout JSONWriter, traceID: String, id: String, parent: String?, name: String, start: UInt64, end: UInt64,
        attributes: [(String, ArgValue)], error: String?, events: [TraceEvent], eventTime: (TraceEvent) -> UInt64
    ) {
        w.beginObject()
        w.key("traceId"); w.string(traceID)
        w.key("spanId"); w.string(id)
        if let parent { w.key("parentSpanId"); w.string(parent) }
        w.key("name"); w.string(name)
        w.key("kind"); w.int(1)
        w.key("startTimeUnixNano"); w.string(String(start))
        w.key("endTimeUnixNano"); w.string(String(max(end, start)))
        w.key("attributes")
        w.beginArray()
        for (k, v) in attributes { attribute(&w, k, v) }
        w.endArray()
        if !events.isEmpty {
            w.key("events")
            w.beginArray()
            for e in events {
                w.beginObject()
                w.key("timeUnixNano"); w.string(String(eventTime(e)))
                w.key("name"); w.string(e.name)
                w.key("attributes")
                w.beginArray()
                attribute(&w, "vitro.seq", .int(Int64(e.seq)))
                attribute(&w, "vitro.group", .string(e.group.rawValue))
                for (k, v) in e.args.items { attribute(&w, "vitro.args." + k, v) }
                if let x = e.why { attribute(&w, "vitro.why", .string(x)) }
                w.endArray()
                w.endObject()
            }
            w.endArray()
        }
        w.key("status")
        w.beginObject()
        if let error {
            w.key("code"); w.int(2)
            w.key("message"); w.string(error)
        }
        w.endObject()
        w.endObject()
    }

    static func attribute(_ w: inout JSONWriter, _ key: String, _ v: ArgValue) {
        w.beginObject()
        w.key("key"); w.string(key)
        w.key("value")
        w.beginObject()
        switch v {
        case .string(let s), .flags(let s): w.key("stringValue"); w.string(s)
        case .int(let i): w.key("intValue"); w.string(String(i))
        case .bool(let b): w.key("boolValue"); w.bool(b)
        case .list(let l):
            w.key("arrayValue")
            w.beginObject()
            w.key("values")
            w.beginArray()
            for x in l { w.beginObject(); w.key("stringValue"); w.string(x); w.endObject() }
            w.endArray()
            w.endObject()
        }
        w.endObject()
        w.endObject()
    }

    /// FNV-1a, 64 bits.
    static func fnv(_ bytes: [UInt8], seed: UInt64 = 0xcbf2_9ce4_8422_2325) -> UInt64 {
        var h = seed
        for b in bytes {
            h ^= UInt64(b)
            h = h &* 0x100_0000_01b3
        }
        return h
    }

    static func hex(_ v: UInt64, _ digits: Int) -> String {
        var s = String(v, radix: 16)
        while s.count < digits { s = "0" + s }
        return s
    }
}
