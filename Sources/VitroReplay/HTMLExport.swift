// Chapter 12: a trace as one self-contained HTML file: open it in any browser, with no
// network and nothing else installed. It shows a timeline of the stages (click one to
// filter), the event list with filters (stage, group, call or text, errors only), a
// details panel (args with flags by name, ret, errno, why, shell) and, for packet
// events, the hop table with NAT's rewrites highlighted and the host-bridge-veth-
// container picture with the current hop marked.
//
// The trace travels inside the page as JSON (its events in the trace's own JSON Lines
// form) in a <script type="application/json"> element, every "<" escaped as \u003c so
// no text in the trace can end that element. The list draws only the rows in view
// (a virtualised list), so a trace of 100,000 events scrolls as one of a hundred does.
// The page's script and style are in HTMLExport+Page.swift.

import VitroTrace

public enum HTMLExport {
    public static func export(_ trace: Trace, title: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(trace.events.count * 400 + 40_000)
        out += Array(HTMLPage.head(title: escape(title)).utf8)
        out += Array(#"<script id="trace-data" type="application/json">"#.utf8)
        var w = JSONWriter()
        w.beginObject()
        w.key("title"); w.string(title)
        w.key("schema"); w.int(Int64(trace.schema))
        w.key("timeless"); w.bool(trace.isTimeless)
        w.key("argv"); w.beginArray(); for a in trace.argv { w.string(a) }; w.endArray()
        if let c = trace.container { w.key("container"); w.string(c) }
        w.key("start"); w.uint(trace.startNanos)
        w.key("stageTitles")
        w.beginObject()
        for s in Stage.allCases where s != .none { w.key(s.rawValue); w.string(s.title) }
        w.endObject()
        w.key("events")
        w.beginArray()
        out += scriptSafe(w.bytes)
        for (n, e) in trace.events.enumerated() {
            var line = JSONWriter()
            e.write(to: &line, epochNanos: 0)
            if n > 0 { out.append(UInt8(ascii: ",")) }
            out.append(10)
            out += scriptSafe(line.bytes)
        }
        out += Array("]}</script>\n".utf8)
        out += Array(HTMLPage.body.utf8)
        return out
    }

    /// JSON that can sit inside a script element: "<" as \u003c (only inside strings
    /// can JSON have one).
    static func scriptSafe(_ bytes: [UInt8]) -> [UInt8] {
        guard bytes.contains(UInt8(ascii: "<")) else { return bytes }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + 16)
        for b in bytes {
            if b == UInt8(ascii: "<") { out += Array(#"\u003c"#.utf8) } else { out.append(b) }
        }
        return out
    }

    static func escape(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "&": out += "&amp;"
            case "\"": out += "&quot;"
            default: out.append(c)
            }
        }
        return out
    }
}
