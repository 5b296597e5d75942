// Chapter 12: `vitro trace show`, a recorded trace in the narrated form that
// `run --narrate` prints while it happens (VitroTrace's NarratedSink), with each line's
// time from the start of the trace and its seq, so a line can be found again in the
// viewer (`:` seq) or in the JSON.
//
//     == network: wire the network
//      0.412 ms  #91  => bind 0.0.0.0 failed: EADDRINUSE (0.02 ms)
//                        why: hold the host port for the container ...

import VitroTrace

public struct TraceNarrator {
    public var explain: Bool
    public var showArgs: Bool
    public var width: Int

    public init(explain: Bool = false, showArgs: Bool = false, width: Int = 100) {
        self.explain = explain
        self.showArgs = showArgs
        self.width = max(width, 60)
    }

    /// The narrated text of the events at `indexes` of `trace`. A stage's heading is
    /// printed before its first shown event even when its B event is filtered out.
    public func narrate(_ trace: Trace, indexes: [Int]) -> String {
        let start = trace.startNanos
        let timeless = trace.isTimeless
        let sink = NarratedSink(fd: -1, explain: false, width: width - 18)
        var out = ""
        var stage: Stage? = nil
        for i in indexes {
            let e = trace.events[i]
            if e.stage != stage {
                stage = e.stage
                if e.phase != .begin {
                    out += e.stage == .none ? "== (outside the stages)\n" : "== \(e.stage.rawValue): \(e.stage.title)\n"
                }
            }
            if e.phase == .begin {
                out += sink.render(e)
                continue
            }
            // A normalised trace has no times: only the seq then.
            let time = timeless ? "" : Self.pad(Self.millis(e.tsNanos >= start ? e.tsNanos - start : 0), 10) + "  "
            let prefix = time + Self.pad("#\(e.seq)", 6, left: true) + " "
            var body = sink.render(e)
            if body.isEmpty { body = e.phase == .end ? "== end of \(e.name)\n" : "\(e.name)\n" }
            out += prefix + body
            let indent = String(repeating: " ", count: prefix.count + 3)
            if showArgs, !e.args.isEmpty {
                out += indent + "args: " + e.args.items.map { "\($0.key)=\(Self.quoteIfNeeded($0.value.text))" }.joined(separator: " ") + "\n"
            }
            if let r = e.ret, showArgs { out += indent + "ret: \(r)" + (e.errno.map { " (\($0))" } ?? "") + "\n" }
            if explain {
                if let why = e.why { out += indent + "why: " + why + "\n" }
                if let shell = e.shell { out += indent + "$ " + shell.split(separator: "\n", omittingEmptySubsequences: false).joined(separator: "\n" + indent + "  ") + "\n" }
            }
        }
        return out
    }

    /// `12.345 ms`.
    static func millis(_ nanos: UInt64) -> String {
        let micros = nanos / 1000
        var frac = String(micros % 1000)
        while frac.count < 3 { frac = "0" + frac }
        return "\(micros / 1000).\(frac) ms"
    }

    static func pad(_ s: String, _ n: Int, left: Bool = false) -> String {
        s.count >= n ? s : left ? s + String(repeating: " ", count: n - s.count) : String(repeating: " ", count: n - s.count) + s
    }

    static func quoteIfNeeded(_ s: String) -> String {
        let flat = s.replacingAll("\n", "\\n")
        return flat.contains(" ") || flat.isEmpty ? "\"" + flat + "\"" : flat
    }
}

extension String {
    /// Every occurrence of `target` replaced (Foundation's replacingOccurrences, without Foundation).
    func replacingAll(_ target: String, _ replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var out = ""
        var rest = Substring(self)
        while let r = rest.firstRange(of: target) {
            out += rest[..<r.lowerBound] + replacement
            rest = rest[r.upperBound...]
        }
        return out + rest
    }
}
