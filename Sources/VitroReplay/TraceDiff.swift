// Chapter 12: `vitro trace diff A B`, for "it works on my machine": two runs of the
// same thing, the first place where they part, and what differs there.
//
// Both traces are normalised first (TraceNormalizer: times, pids, container ids,
// the rootfs, the state root and vitro's directory replaced), so what is left to
// differ is what the runs did. Then, stage by stage in pipeline order, the events of
// each process are lined up by call (a longest common subsequence of call names, Myers'
// O(ND) algorithm), so an extra or missing call shows as one, not as everything after
// it. Two events at the same place of the alignment that differ in args, ret or errno
// are a *changed* call; one with no partner is *only in A* or *only in B*. The
// divergences are ordered by where they happen in A (B for events only B has), and the
// first one is what the command leads with.
//
// Left out of the comparison: times, durations and seq (timing), the order in which the
// events of different processes were merged (timing too), `waitpid` (when vitro
// reaps a child is timing; what the child did is in its own events), the address IPAM
// gave the container (the `address` note says which) and nftables rule handles.
//
// Some divergences say only that one machine had something already: the first run on
// a machine makes vitro's directories and the bridge, a later one finds them (its
// lookup succeeds where the first one's failed with ENODEV, and the creating calls are
// missing). Such a divergence is marked `foundThere` and the report leads with the
// first divergence that is not: that is where the runs really part.

import VitroTrace

public struct TraceDivergence: Sendable, Equatable {
    public enum Kind: String, Sendable { case changed, onlyInA = "only in A", onlyInB = "only in B" }
    public var kind: Kind
    public var stage: Stage
    /// The events (normalised), when the side has one.
    public var a: TraceEvent?
    public var b: TraceEvent?
    /// What differs, one item per field: `errno: (none) -> EADDRINUSE`.
    public var differences: [String]
    /// Why the divergence only shows what one machine had already, when it does: a
    /// lookup that found nothing on one side, or a call that makes what the other side
    /// found there (a directory, the bridge and its address).
    public var foundThere: String?
    /// Position for ordering: A's event index (for an event only B has, the index of
    /// the A event it comes before), then B's events before A's at one place.
    var order: (Int, Int, Int)

    public static func == (x: TraceDivergence, y: TraceDivergence) -> Bool {
        x.kind == y.kind && x.stage == y.stage && x.a == y.a && x.b == y.b && x.differences == y.differences && x.foundThere == y.foundThere
    }

    /// The call it is about.
    public var call: String { (a ?? b)?.name ?? "" }
}

public struct TraceDiff: Sendable {
    public var divergences: [TraceDivergence]
    public var eventsA: Int
    public var eventsB: Int

    public var identical: Bool { divergences.isEmpty }
    /// The first divergence not explained by what one machine had already (the first of
    /// all when every one is).
    public var first: TraceDivergence? { divergences.first { $0.foundThere == nil } ?? divergences.first }

    /// Compares two traces (whole files, header included when they have one).
    public init(_ a: Trace, _ b: Trace) {
        let na = TraceDiff.prepare(a)
        let nb = TraceDiff.prepare(b)
        eventsA = na.count
        eventsB = nb.count
        var out: [TraceDivergence] = []
        let stages = TraceDiff.stageOrder(na.map(\.1) + nb.map(\.1))
        // Each side's events by stage, once (not a pass over the trace per stage).
        var byStageA: [Stage: [(Int, TraceEvent)]] = [:], byStageB: [Stage: [(Int, TraceEvent)]] = [:]
        for x in na { byStageA[x.1.stage, default: []].append(x) }
        for x in nb { byStageB[x.1.stage, default: []].append(x) }
        for (n, stage) in stages.enumerated() {
            let sa = byStageA[stage] ?? []
            let sb = byStageB[stage] ?? []
            // Where this stage would be in A when A has none of it: before A's first
            // event of a later stage.
            let later = Set(stages[(n + 1)...])
            let stageEnd = sa.last.map { $0.0 + 1 } ?? na.first(where: { later.contains($0.1.stage) })?.0 ?? (na.last.map { $0.0 + 1 } ?? 0)
            let pids = TraceDiff.ordered(sa.map(\.1.pid) + sb.map(\.1.pid))
            var byPidA: [Int32: [(Int, TraceEvent)]] = [:], byPidB: [Int32: [(Int, TraceEvent)]] = [:]
            for x in sa { byPidA[x.1.pid, default: []].append(x) }
            for x in sb { byPidB[x.1.pid, default: []].append(x) }
            for pid in pids {
                let pa = byPidA[pid] ?? []
                let pb = byPidB[pid] ?? []
                out += TraceDiff.align(pa, pb, stage: stage, end: pa.last.map { $0.0 + 1 } ?? stageEnd)
            }
        }
        divergences = out.sorted { $0.order < $1.order }.map { d in
            var d = d
            d.foundThere = TraceDiff.foundThere(d)
            return d
        }
    }

    /// Calls vitro makes only when what they make is missing.
    static let makesWhatWasMissing: Set<String> = [
        "mkdir", "mkdirat", "mknod", "mknodat", "symlink", "symlinkat", "RTM_NEWLINK", "RTM_NEWADDR", "RTM_GETROUTE", "RTM_GETLINK",
    ]
    static let notFound: Set<String> = ["ENOENT", "ENODEV", "ESRCH", "ENXIO"]

    static func foundThere(_ d: TraceDivergence) -> String? {
        switch d.kind {
        case .onlyInA, .onlyInB:
            guard let e = d.a ?? d.b, !e.failed, e.phase == .complete else { return nil }
            let other = d.kind == .onlyInA ? "B" : "A"
            let creates = (e.name == "open" || e.name == "openat") && (e.args["flags"]?.text.contains("O_CREAT") ?? false)
            let sysctl = e.name == "write" && (e.args["path"]?.text.hasPrefix("/proc/sys/") ?? false)
            if makesWhatWasMissing.contains(e.name) || creates || sysctl {
                return "\(d.kind == .onlyInA ? "A" : "B") made or set up what \(other) found there already"
            }
            return nil
        case .changed:
            guard let a = d.a, let b = d.b, d.differences.allSatisfy({ $0.hasPrefix("ret:") || $0.hasPrefix("errno:") }) else { return nil }
            if let e = a.errno, notFound.contains(e), b.errno == nil { return "A looked and found nothing (\(e)); B found it there" }
            if let e = b.errno, notFound.contains(e), a.errno == nil { return "B looked and found nothing (\(e)); A found it there" }
            return nil
        }
    }

    /// The events to compare, normalised, with their index in the trace; no header, no
    /// waitpid.
    static func prepare(_ t: Trace) -> [(Int, TraceEvent)] {
        let all = t.allEvents
        let normal = TraceNormalizer.detecting(all).normalize(all)
        // The container's address: IPAM's choice, like a pid.
        let address = all.first { $0.name == "address" && $0.phase == .instant }?.args["address"]?.text.split(separator: "/").first.map(String.init)
        var out: [(Int, TraceEvent)] = []
        var i = 0
        for e in normal {
            defer { i += 1 }
            if e.phase == .metadata || e.name == "waitpid" { continue }
            out.append((i, scrub(e, address: address)))
        }
        return out
    }

    /// The event with the container's address and nft rule handles replaced.
    static func scrub(_ e: TraceEvent, address: String?) -> TraceEvent {
        func text(_ s: String) -> String {
            var s = s
            if let address { s = replacingAddress(s, address) }
            return replacingHandles(s)
        }
        var e = e
        var args = Args()
        for (k, v) in e.args.items {
            switch v {
            case .string(let x): args.append(k, .string(text(x)))
            case .list(let l): args.append(k, .list(l.map(text)))
            default: args.append(k, v)
            }
        }
        e.args = args
        e.shell = e.shell.map(text)
        return e
    }

    /// Every `address` not followed by another digit (10.0.0.2 but not 10.0.0.25).
    static func replacingAddress(_ s: String, _ address: String) -> String {
        guard s.contains(address) else { return s }
        var out = ""
        var rest = Substring(s)
        while let r = rest.firstRange(of: address) {
            let next = rest[r.upperBound...].first
            let before = r.lowerBound > rest.startIndex ? rest[rest.index(before: r.lowerBound)] : " "
            let whole = !(next?.isNumber ?? false) && !before.isNumber && before != "."
            out += rest[..<r.lowerBound] + (whole ? "<address>" : address)
            rest = rest[r.upperBound...]
        }
        return out + rest
    }

    /// `handle 12` -> `handle <n>`.
    static func replacingHandles(_ s: String) -> String {
        guard s.contains("handle ") else { return s }
        var out = ""
        var rest = Substring(s)
        while let r = rest.firstRange(of: "handle ") {
            out += rest[..<r.upperBound]
            rest = rest[r.upperBound...]
            let digits = rest.prefix { $0.isNumber }
            if !digits.isEmpty {
                out += "<n>"
                rest = rest.dropFirst(digits.count)
            }
        }
        return out + rest
    }

    static func stageOrder(_ events: [TraceEvent]) -> [Stage] {
        let present = Set(events.map(\.stage))
        return Stage.allCases.filter { present.contains($0) }
    }

    static func ordered(_ pids: [Int32]) -> [Int32] {
        var seen: Set<Int32> = []
        return pids.filter { seen.insert($0).inserted }
    }

    /// What makes two events "the same call" for the alignment.
    static func key(_ e: TraceEvent) -> String {
        "\(e.phase.rawValue) \(e.group.rawValue) \(e.name)"
    }

    /// `end`: the position in A for events only B has after A's last.
    static func align(_ a: [(Int, TraceEvent)], _ b: [(Int, TraceEvent)], stage: Stage, end: Int) -> [TraceDivergence] {
        let ops = Myers.diff(a.map { key($0.1) }, b.map { key($0.1) })
        var out: [TraceDivergence] = []
        // Position of the next A event, for events only B has.
        func anchor(_ ai: Int) -> Int { ai < a.count ? a[ai].0 : end }
        var pendingA: [Int] = []
        var pendingB: [Int] = []
        func flush(_ ai: Int) {
            // A run of deletions and insertions at one place: each is a divergence of
            // its own (a call replaced by another is two).
            for i in pendingA {
                out.append(TraceDivergence(kind: .onlyInA, stage: stage, a: a[i].1, b: nil, differences: ["only in A"], order: (a[i].0, 1, 0)))
            }
            for j in pendingB {
                out.append(TraceDivergence(kind: .onlyInB, stage: stage, a: nil, b: b[j].1, differences: ["only in B"], order: (anchor(ai), 0, b[j].0)))
            }
            pendingA = []
            pendingB = []
        }
        for op in ops {
            switch op {
            case .same(let i, let j):
                flush(i)
                let d = differences(a[i].1, b[j].1)
                if !d.isEmpty {
                    out.append(TraceDivergence(kind: .changed, stage: stage, a: a[i].1, b: b[j].1, differences: d, order: (a[i].0, 1, 0)))
                }
            case .delete(let i): pendingA.append(i)
            case .insert(let j): pendingB.append(j)
            }
        }
        flush(a.count)
        return out
    }

    /// The fields in which two events of the same call differ.
    public static func differences(_ a: TraceEvent, _ b: TraceEvent) -> [String] {
        var d: [String] = []
        func show(_ v: String?) -> String { v.map { "\"\($0.replacingAll("\n", "\\n"))\"" } ?? "(none)" }
        if a.ret != b.ret { d.append("ret: \(a.ret.map(String.init) ?? "(none)") -> \(b.ret.map(String.init) ?? "(none)")") }
        if a.errno != b.errno { d.append("errno: \(a.errno ?? "(none)") -> \(b.errno ?? "(none)")") }
        var keys: [String] = a.args.items.map(\.key)
        for k in b.args.items.map(\.key) where !keys.contains(k) { keys.append(k) }
        for k in keys where a.args[k] != b.args[k] {
            d.append("args.\(k): \(show(a.args[k]?.text)) -> \(show(b.args[k]?.text))")
        }
        if a.shell != b.shell {
            d.append("shell: " + lineDifference(a.shell ?? "", b.shell ?? ""))
        }
        return d
    }

    /// How two commands differ; for scripts (an nft transaction) the lines only one of
    /// them has, since a transaction that also made the table has more lines before the
    /// ones that matter.
    static func lineDifference(_ a: String, _ b: String) -> String {
        let la = a.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let lb = b.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if la.count <= 1 && lb.count <= 1 { return "\"\(a)\" -> \"\(b)\"" }
        var onlyA = la.filter { !lb.contains($0) }, onlyB = lb.filter { !la.contains($0) }
        // The same statement with another value ("add rule ip vitro ports ..."): a pair.
        func head(_ l: String) -> ArraySlice<Substring> { l.split(separator: " ").prefix(5) }
        var parts: [String] = []
        for x in onlyA {
            guard let i = onlyB.firstIndex(where: { head($0) == head(x) && head(x).count == 5 }) else { continue }
            parts.append("\"\(x)\" -> \"\(onlyB[i])\"")
            onlyB.remove(at: i)
            onlyA.removeAll { $0 == x }
        }
        func list(_ lines: [String]) -> String {
            lines.prefix(2).map { "\"\($0)\"" }.joined(separator: ", ") + (lines.count > 2 ? " and \(lines.count - 2) more" : "")
        }
        if !onlyA.isEmpty { parts.append("only A's has \(list(onlyA))") }
        if !onlyB.isEmpty { parts.append("only B's has \(list(onlyB))") }
        return parts.isEmpty ? "the same lines in another order" : parts.joined(separator: "\n")
    }

    // MARK: report

    /// The report `trace diff` prints: the first divergence in full, then (with `all`)
    /// every other one a line each, else their count.
    public func report(nameA: String, nameB: String, all: Bool = false) -> String {
        guard let f = first else {
            return "no divergence: \(nameA) and \(nameB) did the same (\(eventsA) events, times, pids and temporary paths aside)\n"
        }
        var s = "A: \(nameA)\nB: \(nameB)\n"
        let found = divergences.prefix { $0 != f }.filter { $0.foundThere != nil }
        if !found.isEmpty {
            s += "before it, \(found.count) difference\(found.count == 1 ? "" : "s") of what one machine had already (not the fault):\n"
            for d in found.prefix(all ? found.count : 4) { s += "  \((d.a ?? d.b).map(Self.line) ?? ""): \(d.foundThere ?? "")\n" }
            if !all && found.count > 4 { s += "  ...\n" }
        }
        s += "first divergence: stage \(f.stage == .none ? "(outside the stages)" : f.stage.rawValue), call \(f.call) (\(f.kind.rawValue))\n"
        if let a = f.a { s += "  A #\(a.seq): \(Self.line(a))\n" } else { s += "  A: (no such call here)\n" }
        if let b = f.b { s += "  B #\(b.seq): \(Self.line(b))\n" } else { s += "  B: (no such call here)\n" }
        if f.kind == .changed {
            s += "  what differs:\n"
            for d in f.differences { s += "    " + d.split(separator: "\n").joined(separator: "\n      ") + "\n" }
        }
        if let why = (f.a ?? f.b)?.why { s += "  why vitro makes this call: \(why)\n" }
        if let b = f.b, let errno = b.errno, let text = Errnos.describe(errno) { s += "  \(errno): \(text)\n" }
        if let a = f.a, f.b?.errno == nil, let errno = a.errno, let text = Errnos.describe(errno) { s += "  \(errno): \(text)\n" }
        let rest = divergences.drop { $0 != f }.dropFirst()
        if rest.isEmpty {
            s += "no other divergence\n"
        } else if all {
            s += "then:\n"
            for d in rest {
                let e = d.a ?? d.b
                s += "  \(d.stage.rawValue.isEmpty ? "-" : d.stage.rawValue) \(d.kind.rawValue): \(e.map(Self.line) ?? "")"
                if d.kind == .changed { s += "  [" + d.differences.joined(separator: "; ").split(separator: "\n").joined(separator: "; ") + "]" }
                if let why = d.foundThere { s += "  (\(why))" }
                s += "\n"
            }
        } else {
            s += "\(rest.count) more divergence\(rest.count == 1 ? "" : "s") after it (--all lists them)\n"
        }
        return s
    }

    static func line(_ e: TraceEvent) -> String {
        var s = ReplayViewer.label(e)
        if s.count > 150 { s = String(s.prefix(149)) + "…" }
        return s
    }
}

/// Myers' diff of two sequences: the edit script as matches, deletions (from A) and
/// insertions (from B), in order.
enum Myers {
    enum Op: Equatable { case same(Int, Int), delete(Int), insert(Int) }

    static func diff(_ a: [String], _ b: [String]) -> [Op] {
        let n = a.count, m = b.count
        let max = n + m
        if max == 0 { return [] }
        // The edit distance bounds the work; past `limit` edits the sequences are too
        // different for an alignment to help. Each step keeps only the frontier's
        // diagonals -d...d, so the memory is O(D^2), not O(D*(N+M)).
        let limit = 2000
        var v = [Int](repeating: 0, count: 2 * max + 2)
        var frontiers: [[Int]] = []
        let offset = max + 1
        outer: for d in 0...max {
            if d > limit { return naive(a, b) }
            // Diagonals -d-1...d+1 of the frontier before this step (what the walk back reads).
            let lo = Swift.max(offset - d - 1, 0), hi = Swift.min(offset + d + 1, v.count - 1)
            frontiers.append(Array(v[lo...hi]))
            for k in stride(from: -d, through: d, by: 2) {
                var x: Int
                if k == -d || (k != d && v[offset + k - 1] < v[offset + k + 1]) {
                    x = v[offset + k + 1]
                } else {
                    x = v[offset + k - 1] + 1
                }
                var y = x - k
                while x < n, y < m, a[x] == b[y] {
                    x += 1
                    y += 1
                }
                v[offset + k] = x
                if x >= n && y >= m { break outer }
            }
        }
        // Walk back through the saved frontiers.
        var ops: [Op] = []
        var x = n, y = m
        for d in stride(from: frontiers.count - 1, through: 0, by: -1) {
            let f = frontiers[d]
            let base = Swift.max(offset - d - 1, 0)
            func at(_ k: Int) -> Int { f[offset + k - base] }
            let k = x - y
            let prevK: Int
            if k == -d || (k != d && at(k - 1) < at(k + 1)) {
                prevK = k + 1
            } else {
                prevK = k - 1
            }
            let prevX = d == 0 ? 0 : at(prevK)
            let prevY = prevX - prevK
            while x > prevX && y > prevY {
                x -= 1
                y -= 1
                ops.append(.same(x, y))
            }
            if d > 0 {
                if x == prevX { ops.append(.insert(prevY)) } else { ops.append(.delete(prevX)) }
            }
            x = prevX
            y = prevY
        }
        return ops.reversed()
    }

    /// Common head and tail matched, the middle deleted and inserted.
    static func naive(_ a: [String], _ b: [String]) -> [Op] {
        var head = 0
        while head < a.count, head < b.count, a[head] == b[head] { head += 1 }
        var tail = 0
        while tail < a.count - head, tail < b.count - head, a[a.count - 1 - tail] == b[b.count - 1 - tail] { tail += 1 }
        var ops: [Op] = (0..<head).map { .same($0, $0) }
        ops += (head..<(a.count - tail)).map { .delete($0) }
        ops += (head..<(b.count - tail)).map { .insert($0) }
        ops += (0..<tail).map { .same(a.count - tail + $0, b.count - tail + $0) }
        return ops
    }
}
