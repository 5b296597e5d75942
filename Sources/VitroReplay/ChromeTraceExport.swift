// Chapter 12: a trace as Chrome's Trace Event Format (JSON object form), which Perfetto
// UI (ui.perfetto.dev, "Open trace file") and chrome://tracing load.
//
// Each process of the run is a track (process_name/thread_name metadata names them:
// vitro, vitro-init, the container's pid 1). On vitro's track, one slice spans the run
// and the stages nest in it as B/E slices, as vitro's trace has them; every kernel call,
// note and packet is an instant event (ph "i", scope thread) on the track of the process
// that made it, with its args, ret, errno, duration, why and shell in `args`, so
// clicking one in Perfetto shows all of it.
//
// A normalised trace has no times (every ts is 0): the export then places the event
// with seq N at N microseconds, so the order still shows. Every time is 1 us later than
// in the trace, so that the run's slice starts before the first event.
//
// Reference: "Trace Event Format" (Google, the document linked from
// https://perfetto.dev/docs/getting-started/other-formats); Traces/chrome-trace.schema.json
// holds the rules the tests check.

import VitroTrace

public enum ChromeTraceExport {
    public static func export(_ trace: Trace) -> [UInt8] {
        let timeless = trace.isTimeless
        let base = trace.startNanos
        // Events start 1 us in, so that the run's slice begins strictly before its first
        // stage (Perfetto nests slices by time, not by the order in the file).
        func micros(_ e: TraceEvent) -> Double {
            1 + (timeless ? Double(e.seq) : Double(e.tsNanos >= base ? e.tsNanos - base : 0) / 1000)
        }
        func end(_ e: TraceEvent) -> Double { micros(e) + (timeless ? 0 : Double(e.durNanos ?? 0) / 1000) }
        let names = processNames(trace)
        let mainPid = trace.header?.pid ?? trace.events.first?.pid ?? 0

        var w = JSONWriter()
        w.beginObject()
        w.key("traceEvents")
        w.beginArray()
        for (pid, name) in names {
            for kind in ["process_name", "thread_name"] {
                w.beginObject()
                w.key("name"); w.string(kind)
                w.key("ph"); w.string("M")
                w.key("pid"); w.int(Int64(pid))
                w.key("tid"); w.int(Int64(pid))
                w.key("args"); w.beginObject(); w.key("name"); w.string(name); w.endObject()
                w.endObject()
            }
        }
        let first = (trace.events.map(micros).min() ?? 1) - 1
        let last = max(trace.events.map(end).max() ?? 1, first) + 1
        // The run: one slice around everything on vitro's track.
        slice(&w, "B", name: "vitro run", pid: mainPid, ts: first, args: [("argv", .list(trace.argv))])
        var open: [String] = []
        for e in trace.events {
            switch e.phase {
            case .begin:
                open.append(e.name)
                slice(&w, "B", name: e.name, pid: e.pid, ts: micros(e), args: e.args.items.map { ($0.key, $0.value) } + [("seq", .int(Int64(e.seq)))])
            case .end:
                // Only an E that closes the innermost open stage (Perfetto needs nesting).
                guard open.last == e.name else { continue }
                open.removeLast()
                slice(&w, "E", name: e.name, pid: e.pid, ts: micros(e), args: e.args.items.map { ($0.key, $0.value) })
            case .complete, .instant:
                instant(&w, e, ts: micros(e))
            case .metadata:
                continue
            }
        }
        // A trace cut short leaves stages open: close them at its end.
        for name in open.reversed() { slice(&w, "E", name: name, pid: mainPid, ts: last - 0.5, args: [("error", .string("the trace ends inside this stage"))]) }
        slice(&w, "E", name: "vitro run", pid: mainPid, ts: last, args: [])
        w.endArray()
        w.key("displayTimeUnit"); w.string("ms")
        w.key("otherData")
        w.beginObject()
        w.key("producer"); w.string("vitro trace export --format chrome")
        w.key("schema"); w.string("vitro trace schema \(trace.schema)")
        if let c = trace.container { w.key("container"); w.string(c) }
        if timeless { w.key("times"); w.string("normalised trace: event seq N is placed at N us") }
        w.endObject()
        w.endObject()
        return w.bytes + [10]
    }

    static func slice(_ w: inout JSONWriter, _ ph: String, name: String, pid: Int32, ts: Double, args: [(String, ArgValue)]) {
        w.beginObject()
        w.key("name"); w.string(name)
        w.key("cat"); w.string("stage")
        w.key("ph"); w.string(ph)
        w.key("ts"); w.decimal(ts, places: 3)
        w.key("pid"); w.int(Int64(pid))
        w.key("tid"); w.int(Int64(pid))
        if !args.isEmpty {
            w.key("args")
            w.beginObject()
            for (k, v) in args { w.key(k); w.arg(v) }
            w.endObject()
        }
        w.endObject()
    }

    static func instant(_ w: inout JSONWriter, _ e: TraceEvent, ts: Double) {
        w.beginObject()
        w.key("name"); w.string(e.name)
        w.key("cat"); w.string(e.group.rawValue)
        w.key("ph"); w.string("i")
        w.key("s"); w.string("t")
        w.key("ts"); w.decimal(ts, places: 3)
        w.key("pid"); w.int(Int64(e.pid))
        w.key("tid"); w.int(Int64(e.tid))
        w.key("args")
        w.beginObject()
        w.key("seq"); w.uint(e.seq)
        if !e.stage.rawValue.isEmpty { w.key("stage"); w.string(e.stage.rawValue) }
        for (k, v) in e.args.items { w.key(k); w.arg(v) }
        if let r = e.ret { w.key("ret"); w.int(r) }
        if let x = e.errno { w.key("errno"); w.string(x) }
        if let d = e.durNanos { w.key("dur_us"); w.decimal(Double(d) / 1000, places: 3) }
        if let x = e.why { w.key("why"); w.string(x) }
        if let x = e.shell { w.key("shell"); w.string(x) }
        if let x = e.code { w.key("code"); w.string(x) }
        w.endObject()
        w.endObject()
    }


    /// A name for each process of the trace, in order of appearance: vitro (the one that
    /// wrote the header), vitro-init (what vitro spawned), the container's pid 1 (what
    /// vitro-init forked), "pid N" for the rest.
    public static func processNames(_ trace: Trace) -> [(Int32, String)] {
        var order: [Int32] = []
        var names: [Int32: String] = [:]
        if let h = trace.header { order.append(h.pid); names[h.pid] = "vitro" }
        for e in trace.events {
            if !order.contains(e.pid) { order.append(e.pid) }
            if names[e.pid] == nil, order.first == e.pid { names[e.pid] = "vitro" }
            if e.name == "execve", e.args["via"] != nil, let child = e.ret, child > 0 {
                let c = Int32(truncatingIfNeeded: child)
                if names[c] == nil { names[c] = (e.args["path"]?.text.split(separator: "/").last.map(String.init) ?? "child") }
            }
            if e.name == "fork", let child = e.ret, child > 0 {
                let c = Int32(truncatingIfNeeded: child)
                if names[c] == nil { names[c] = names[e.pid] == "vitro-init" ? "container pid 1" : "child of \(e.pid)" }
            }
        }
        return order.map { ($0, (names[$0] ?? "pid") + " (pid \($0))") }
    }
}
