// Chapter 12: `vitro trace replay`, a recorded run stepped through like a debugger.
//
// This is the viewer's model: where it stands in the trace, what it shows, and what
// each key does. It draws frames (ReplayViewer+Render.swift) as styled lines and knows
// nothing of terminals: the CLI reads keys in raw mode and writes frames
// (Sources/vitro/ReplayTerminal.swift), and the tests drive it with keys directly.
//
// The screen, top to bottom: a title bar (trace, position, stage, breakpoints); the
// event list around the current event; a tab bar; the lower pane, one of
//   1 details   the event's args (flags by name), ret, errno, why, shell, source,
//               and what it changed in the kernel state
//   2 state     the kernel state before and after it, as replayed from the trace
//   3 packet    for a packet event: the hop table and the host-bridge-veth-container
//               drawing with the current hop marked
// and a status line (messages, prompts). `?` shows the keys.

import VitroTrace

public final class ReplayViewer {
    public enum Pane: Int, Sendable, CaseIterable {
        case details = 1, state, packet
        var title: String {
            switch self {
            case .details: return "Details"
            case .state: return "Kernel state"
            case .packet: return "Packet path"
            }
        }
    }

    enum PromptKind { case search, breakpoint, seq }

    public let trace: Trace
    public let title: String
    public private(set) var current = 0
    public private(set) var pane: Pane = .details
    public private(set) var breakpoints: [String] = []
    public private(set) var quit = false
    public private(set) var showingHelp = false
    var top = 0
    var paneScroll = 0
    var prompt: (kind: PromptKind, text: String)?
    var search: String?
    var message: String?
    let stageStarts: [(stage: Stage, index: Int)]
    let errors: [Int]
    let packets: PacketPath
    lazy var kernel = KernelReplay(trace.events)
    let start: UInt64
    let timeless: Bool

    public init(trace: Trace, title: String) {
        self.trace = trace
        self.title = title
        stageStarts = trace.stageStarts
        errors = trace.errorIndexes
        packets = PacketPath(trace)
        start = trace.startNanos
        timeless = trace.isTimeless
    }

    var count: Int { trace.events.count }
    public var event: TraceEvent? { trace.events.indices.contains(current) ? trace.events[current] : nil }

    // MARK: keys

    public func handle(_ key: Key) {
        if showingHelp {
            showingHelp = false
            if key == .char("q") { quit = true }
            return
        }
        if prompt != nil {
            handlePrompt(key)
            return
        }
        message = nil
        switch key {
        case .char("j"), .down, .char(" "), .enter: move(to: current + 1)
        case .char("k"), .up: move(to: current - 1)
        case .char("]"), .char("l"), .right: nextStage(+1)
        case .char("["), .char("h"), .left: nextStage(-1)
        case .char("e"): jump(errors, forward: true, none: "no error after this event")
        case .char("E"): jump(errors, forward: false, none: "no error before this event")
        case .char("p"): jump(packets.hops.map(\.index), forward: true, none: packets.isEmpty ? "no packet events in this trace" : "no packet event after this one")
        case .char("P"): jump(packets.hops.map(\.index), forward: false, none: packets.isEmpty ? "no packet events in this trace" : "no packet event before this one")
        case .char("g"), .home: move(to: 0)
        case .char("G"), .end: move(to: count - 1)
        case .char("b"): prompt = (.breakpoint, "")
        case .char("B"):
            message = breakpoints.isEmpty ? "no breakpoints" : "breakpoints cleared"
            breakpoints = []
        case .char("c"): continueToBreakpoint(forward: true)
        case .char("C"): continueToBreakpoint(forward: false)
        case .char("/"): prompt = (.search, "")
        case .char("n"): findNext(forward: true)
        case .char("N"): findNext(forward: false)
        case .char(":"): prompt = (.seq, "")
        case .tab: switchPane(Pane(rawValue: pane.rawValue % 3 + 1) ?? .details)
        case .backTab: switchPane(Pane(rawValue: (pane.rawValue + 1) % 3 + 1) ?? .details)
        case .char("1"): switchPane(.details)
        case .char("2"): switchPane(.state)
        case .char("3"): switchPane(.packet)
        case .char("J"): paneScroll += 1
        case .char("K"): paneScroll = max(0, paneScroll - 1)
        case .pageDown, .control("f"), .control("d"): paneScroll += 10
        case .pageUp, .control("b"), .control("u"): paneScroll = max(0, paneScroll - 10)
        case .char("?"): showingHelp = true
        case .char("q"), .control("c"): quit = true
        case .control("l"): break
        default: message = "unknown key: ? shows the keys"
        }
    }

    func switchPane(_ p: Pane) {
        pane = p
        paneScroll = 0
    }

    public func move(to index: Int) {
        guard count > 0 else { return }
        let i = min(max(index, 0), count - 1)
        if i != index { message = index < 0 ? "first event" : "last event" }
        if i != current { paneScroll = 0 }
        current = i
    }

    func nextStage(_ direction: Int) {
        if direction > 0 {
            if let s = stageStarts.first(where: { $0.index > current }) {
                move(to: s.index)
                message = "stage \(stageName(s.stage))"
            } else {
                message = "no stage after this one"
            }
        } else {
            // Back to the start of this stretch, or of the one before when already there.
            if let s = stageStarts.last(where: { $0.index < current }) {
                move(to: s.index)
                message = "stage \(stageName(s.stage))"
            } else {
                message = "no stage before this one"
            }
        }
    }

    func stageName(_ s: Stage) -> String { s == .none ? "(outside the stages)" : s.rawValue }

    func jump(_ targets: [Int], forward: Bool, none: String) {
        let t = forward ? targets.first { $0 > current } : targets.last { $0 < current }
        if let t { move(to: t) } else { message = none }
    }

    // MARK: breakpoints

    /// A breakpoint is a group (every call of it) or a call name.
    public func addBreakpoint(_ spec: String) {
        let s = spec.trimmingSpaces
        let name = s.isEmpty ? (event?.name ?? "") : s
        guard !name.isEmpty else { return }
        if breakpoints.contains(name) {
            message = "already breaking on \(name)"
            return
        }
        breakpoints.append(name)
        let what = Group(rawValue: name) != nil ? "group" : "call"
        let count = trace.events.filter { hits($0) }.count
        message = "breakpoint on \(what) \(name) (\(count) events); c continues to the next, C to the previous"
    }

    func hits(_ e: TraceEvent) -> Bool {
        breakpoints.contains { e.group.rawValue == $0 || e.name == $0 }
    }

    func continueToBreakpoint(forward: Bool) {
        guard !breakpoints.isEmpty else {
            message = "no breakpoints: b sets one on a group or call"
            return
        }
        let range: [Int] = forward ? Array(stride(from: current + 1, to: count, by: 1)) : Array(stride(from: current - 1, through: 0, by: -1))
        if let i = range.first(where: { hits(trace.events[$0]) }) {
            move(to: i)
            message = "breakpoint: \(trace.events[i].group.rawValue) \(trace.events[i].name)"
        } else {
            message = forward ? "no breakpoint hit after this event" : "no breakpoint hit before this event"
        }
    }

    // MARK: search and prompts

    func handlePrompt(_ key: Key) {
        guard var p = prompt else { return }
        switch key {
        case .escape, .control("c"), .control("g"):
            prompt = nil
            message = "cancelled"
        case .backspace:
            if p.text.isEmpty {
                prompt = nil
            } else {
                p.text.removeLast()
                prompt = p
            }
        case .enter:
            prompt = nil
            switch p.kind {
            case .search:
                if !p.text.isEmpty { search = p.text }
                findNext(forward: true)
            case .breakpoint: addBreakpoint(p.text)
            case .seq:
                if let n = UInt64(p.text), let i = trace.events.firstIndex(where: { $0.seq >= n }) {
                    move(to: i)
                } else {
                    message = "no event with seq \(p.text)"
                }
            }
        case .char(let c): p.text.append(c); prompt = p
        default: break
        }
    }

    /// The text a search looks in: the call, its args, ret, errno, why and shell.
    static func searchable(_ e: TraceEvent) -> String {
        var s = e.name + " " + e.group.rawValue + " " + e.stage.rawValue
        for (k, v) in e.args.items { s += " \(k)=\(v.text)" }
        if let x = e.errno { s += " " + x }
        if let x = e.why { s += " " + x }
        if let x = e.shell { s += " " + x }
        return s.lowercased()
    }

    public func setSearch(_ text: String) { search = text }

    func findNext(forward: Bool) {
        guard let q = search?.lowercased(), !q.isEmpty else {
            message = "no search: / starts one"
            return
        }
        let range: [Int] = forward ? Array(stride(from: current + 1, to: count, by: 1)) : Array(stride(from: current - 1, through: 0, by: -1))
        if let i = range.first(where: { Self.searchable(trace.events[$0]).contains(q) }) {
            move(to: i)
            message = "found \"\(q)\"; n / N for the next / previous"
        } else {
            message = "\"\(q)\" not found " + (forward ? "after" : "before") + " this event"
        }
    }
}
