// The tracer: numbers events, stamps them with the current stage and hands them to
// sinks. One tracer per process (`Tracer.shared`); vitro-init's tracer writes to its
// trace descriptor, and vitro's merges those lines into the run's trace.

import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Where events go: a file, the terminal, memory.
public protocol TraceSink: AnyObject, Sendable {
    func receive(_ event: TraceEvent)
    func flush()
    /// Whether the sink takes another tracer's lines as they are (`receive(line:seq:)`).
    var takesLines: Bool { get }
    func receive(line: EventLine, seq: UInt64)
}

extension TraceSink {
    public var takesLines: Bool { false }
    public func receive(line: EventLine, seq: UInt64) {}
}

public final class Tracer: Sendable {
    /// The process's tracer. VitroSys reports every kernel call here.
    public static let shared = Tracer()

    private struct State {
        var sinks: [any TraceSink] = []
        var seq: UInt64 = 0
        var stage: Stage = .none
        var pid: Int32 = getpid()
        var enabled = true
    }
    private let state = Mutex(State())

    public init() {}

    public var stage: Stage {
        get { state.withLock { $0.stage } }
        set { state.withLock { $0.stage = newValue } }
    }

    /// The pid that events carry. vitro-init's pid 1 sets its host pid here, because
    /// getpid() inside a new pid namespace says 1.
    public var pid: Int32 {
        get { state.withLock { $0.pid } }
        set { state.withLock { $0.pid = newValue } }
    }

    public var enabled: Bool {
        get { state.withLock { $0.enabled } }
        set { state.withLock { $0.enabled = newValue } }
    }

    public func addSink(_ sink: any TraceSink) { state.withLock { $0.sinks.append(sink) } }
    public func removeAllSinks() { state.withLock { $0.sinks.removeAll() } }

    /// Numbers an event (unless it already came numbered from elsewhere and `renumber`
    /// is false) and passes it to each sink.
    public func emit(_ event: TraceEvent, renumber: Bool = true) {
        let (sinks, e): ([any TraceSink], TraceEvent) = state.withLock { s in
            guard s.enabled, !s.sinks.isEmpty else { return ([], event) }
            var e = event
            if renumber {
                s.seq += 1
                e.seq = s.seq
            }
            return (s.sinks, e)
        }
        for sink in sinks { sink.receive(e) }
    }

    /// Merges one line of another process's trace (vitro-init's pipe, epoch zero). When
    /// every sink takes lines as they are (a run traced to its file alone), the line is
    /// renumbered and moved onto this trace's time line without being parsed: the same
    /// bytes parsing and writing it again would give, for a fifth of the work. Otherwise,
    /// or when the line does not start as an event does, it is parsed.
    public func merge(line: ArraySlice<UInt8>) {
        if let raw = EventLine(line) {
            let taken: (sinks: [any TraceSink], seq: UInt64)? = state.withLock { s in
                guard s.enabled, !s.sinks.isEmpty else { return ([], 0) }
                guard s.sinks.allSatisfy(\.takesLines) else { return nil }
                s.seq += 1
                return (s.sinks, s.seq)
            }
            if let taken {
                for sink in taken.sinks { sink.receive(line: raw, seq: taken.seq) }
                return
            }
        }
        if let e = try? TraceEvent(jsonLine: String(decoding: line, as: UTF8.self)) { emit(e) }
    }

    /// Records a finished kernel call. VitroSys calls this for every wrapper.
    public func call(
        _ name: String, group: Group, start: UInt64, args: Args, ret: Int64?, errno: String?,
        why: String?, shell: String?, tid: Int32? = nil, file: StaticString = #fileID, line: UInt = #line
    ) {
        let (pid, stage) = state.withLock { ($0.pid, $0.stage) }
        let now = MonotonicClock.now()
        emit(
            TraceEvent(
                tsNanos: start, durNanos: now &- start, phase: .complete, name: name, group: group,
                stage: stage, pid: pid, tid: tid ?? pid, args: args, ret: ret,
                errno: errno, why: why, shell: shell, code: sourceLocation(file, line)))
    }

    /// Opens a stage: the span every event until `endStage` belongs to.
    public func beginStage(_ stage: Stage, why: String? = nil, file: StaticString = #fileID, line: UInt = #line) {
        let pid = state.withLock { s in
            s.stage = stage
            return s.pid
        }
        emit(
            TraceEvent(
                tsNanos: MonotonicClock.now(), phase: .begin, name: stage.rawValue, group: .stage,
                stage: stage, pid: pid, tid: pid, args: ["title": .string(stage.title)], why: why,
                code: sourceLocation(file, line)))
    }

    public func endStage(_ stage: Stage, error: String? = nil, file: StaticString = #fileID, line: UInt = #line) {
        let pid = state.withLock { s in
            s.stage = .none
            return s.pid
        }
        emit(
            TraceEvent(
                tsNanos: MonotonicClock.now(), phase: .end, name: stage.rawValue, group: .stage,
                stage: stage, pid: pid, tid: pid, args: error.map { ["error": .string($0)] } ?? [:],
                code: sourceLocation(file, line)))
    }

    /// A note in the trace: something vitro decided rather than asked of the kernel.
    public func note(
        _ name: String, group: Group = .stage, args: Args = [:], why: String? = nil, file: StaticString = #fileID,
        line: UInt = #line
    ) {
        let (pid, stage) = state.withLock { ($0.pid, $0.stage) }
        emit(
            TraceEvent(
                tsNanos: MonotonicClock.now(), phase: .instant, name: name, group: group, stage: stage,
                pid: pid, tid: pid, args: args, why: why, code: sourceLocation(file, line)))
    }

    public func flush() {
        let sinks = state.withLock { $0.sinks }
        for sink in sinks { sink.flush() }
    }
}
