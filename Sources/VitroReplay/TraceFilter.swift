// Chapter 12: choosing events. `trace show` and `trace export` take the same filters:
// stages, groups, calls, errnos and a time range from the start of the trace. Empty
// lists let everything through; values within one filter are alternatives, filters
// together must all hold.

import VitroTrace

public struct TraceFilter: Sendable, Equatable {
    public var stages: [Stage] = []
    public var groups: [Group] = []
    /// Call (or note, or stage) names.
    public var calls: [String] = []
    /// Symbolic errnos; "any" (or "*") matches every failed call.
    public var errnos: [String] = []
    /// Nanoseconds from the start of the trace, inclusive.
    public var since: UInt64?
    public var until: UInt64?

    public init() {}

    public var isEmpty: Bool { self == TraceFilter() }

    public func matches(_ e: TraceEvent, start: UInt64) -> Bool {
        if !stages.isEmpty && !stages.contains(e.stage) { return false }
        if !groups.isEmpty && !groups.contains(e.group) { return false }
        if !calls.isEmpty && !calls.contains(e.name) { return false }
        if !errnos.isEmpty {
            let failed = e.errno ?? (e.phase == .end ? e.args["error"].map { _ in "any" } : nil)
            guard let failed else { return false }
            if !errnos.contains(where: { $0 == "any" || $0 == "*" || $0 == failed }) { return false }
        }
        let t = e.tsNanos >= start ? e.tsNanos - start : 0
        if let since, t < since { return false }
        if let until, t > until { return false }
        return true
    }

    /// The indexes of `trace.events` that match.
    public func indexes(in trace: Trace) -> [Int] {
        let start = trace.startNanos
        return trace.events.indices.filter { matches(trace.events[$0], start: start) }
    }

    /// Reads a comma-separated list of stages ("namespaces,network"); the error names
    /// the stages there are.
    public static func parseStages(_ values: [String]) throws(FilterError) -> [Stage] {
        var out: [Stage] = []
        for v in values.flatMap({ $0.split(separator: ",").map(String.init) }) {
            guard let s = Stage(rawValue: v), s != .none else {
                throw FilterError("unknown stage \"\(v)\" (stages: \(Stage.allCases.filter { $0 != .none }.map(\.rawValue).joined(separator: ", ")))")
            }
            out.append(s)
        }
        return out
    }

    public static func parseGroups(_ values: [String]) throws(FilterError) -> [Group] {
        var out: [Group] = []
        for v in values.flatMap({ $0.split(separator: ",").map(String.init) }) {
            guard let g = Group(rawValue: v) else {
                throw FilterError("unknown group \"\(v)\" (groups: \(Group.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            out.append(g)
        }
        return out
    }

    public static func parseList(_ values: [String]) -> [String] {
        values.flatMap { $0.split(separator: ",").map(String.init) }
    }

    /// A time from the start of the trace: `250us`, `1.5ms`, `2s`, `100ns`.
    public static func parseTime(_ s: String) throws(FilterError) -> UInt64 {
        let units: [(String, Double)] = [("ns", 1), ("us", 1e3), ("µs", 1e3), ("ms", 1e6), ("s", 1e9)]
        for (unit, scale) in units where s.hasSuffix(unit) {
            if let n = Double(s.dropLast(unit.count)), n >= 0, n.isFinite, n * scale < 1.8e19 {
                return UInt64((n * scale).rounded())
            }
            break
        }
        throw FilterError("time \"\(s)\": a number with a unit, from the start of the trace (250us, 1.5ms, 2s)")
    }
}

public struct FilterError: Error, CustomStringConvertible, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
