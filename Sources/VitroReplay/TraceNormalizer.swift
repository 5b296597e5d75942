// Chapter 12 (replay), first piece: normalising a trace so that two runs can be
// compared. What differs between two runs of the same command is replaced: times,
// pids (numbered by first appearance), the container id, the rootfs path, the
// directory of vitro's binaries, and the line of each event's code location (lines move
// with every edit; the file that made the call stays). Traces/ keeps normalised golden
// traces; a test checks that a fresh run still matches them.
//
// VitroReplay depends on VitroTrace alone, and imports no Foundation (vitro links it).

import VitroTrace

public struct TraceNormalizer {
    /// Literal strings to replace, longest first.
    public var replacements: [(String, String)] = []

    public init(replacements: [(String, String)] = []) {
        self.replacements = replacements
    }

    /// Finds what to replace from the trace itself: the rootfs (the `rootfs` note), the
    /// directory vitro-init was spawned from, and the state root (the header's `root`).
    public static func detecting(_ events: [TraceEvent]) -> TraceNormalizer {
        var r: [(String, String)] = []
        if let rootfs = events.first(where: { $0.name == "rootfs" && $0.phase == .instant })?.args["path"]?.text {
            r.append((rootfs, "<rootfs>"))
        }
        if let root = events.first(where: { $0.phase == .metadata })?.args["root"]?.text, !root.isEmpty {
            r.append((root, "<root>"))
        }
        if let spawn = events.first(where: { $0.name == "execve" && $0.args["via"] != nil })?.args["path"]?.text,
            let slash = spawn.lastIndex(of: "/")
        {
            r.append((String(spawn[..<slash]), "<bin>"))
        }
        r += imageReplacements(events)
        r.sort { $0.0.count > $1.0.count }
        return TraceNormalizer(replacements: r)
    }

    public func normalize(_ events: [TraceEvent]) -> [TraceEvent] {
        var pids: [Int64: Int64] = [:]
        func pid(_ p: Int64) -> Int64 {
            if p <= 1 { return p }
            if let m = pids[p] { return m }
            let m = Int64(pids.count + 1) * 100
            pids[p] = m
            return m
        }
        func known(_ p: Int64) -> Int64? { pids[p] }
        return events.map { e in
            var e = e
            e.tsNanos = 0
            if e.durNanos != nil { e.durNanos = 0 }
            e.pid = Int32(pid(Int64(e.pid)))
            e.tid = e.tid == 1 ? 1 : Int32(pid(Int64(e.tid)))
            // A write's size follows the ids, names and paths in what it wrote.
            let sizedWrite = e.name == "write" && e.args["bytes"] != nil
            if sizedWrite, e.ret.map({ $0 > 0 }) == true { e.ret = 0 }
            let returnsPid = e.name == "fork" || (e.name == "execve" && e.args["via"] != nil) || e.name == "waitpid"
            if returnsPid, let r = e.ret, r > 0 { e.ret = pid(r) }
            // A new descriptor's number depends on what else the process had open.
            if ["socket", "bind", "open", "openat"].contains(e.name), let r = e.ret, r > 0 { e.ret = 3 }
            var args = Args()
            for (k, v) in e.args.items {
                switch v {
                case .int(let i) where k == "pid": args.append(k, .int(pid(i)))
                case .int where k == "bytes" && sizedWrite: args.append(k, .int(0))
                case .string(let s) where k == "wall_clock_start": args.append(k, .string(s.isEmpty ? s : "<time>"))
                case .string(let s): args.append(k, .string(text(s, known: known)))
                case .flags(let s): args.append(k, .flags(text(s, known: known)))
                case .list(let l): args.append(k, .list(l.map { text($0, known: known) }))
                default: args.append(k, v)
                }
            }
            e.args = args
            e.why = e.why.map { text($0, known: known) }
            e.shell = e.shell.map { text($0, known: known) }
            e.code = e.code.map(Self.withoutLine)
            return e
        }
    }

    /// `Sources/X/Y.swift:57` without its line.
    static func withoutLine(_ code: String) -> String {
        guard let colon = code.lastIndex(of: ":"), code[code.index(after: colon)...].allSatisfy(\.isNumber) else { return code }
        return String(code[..<colon])
    }

    /// Replaces the known paths, then every run of 12 or 64 lower-case hex digits
    /// (container ids), then every number that is a pid seen in the trace, then the pid
    /// in any other `/proc/PID/` (a process the trace names but did not record, such as
    /// the running container `vitro exec` joins).
    func text(_ s: String, known: (Int64) -> Int64?) -> String {
        var s = s
        for (from, to) in replacements where !from.isEmpty { s = replacingAll(s, from, to) }
        return replaceNumbers(replaceProcPids(replaceIDs(s), known: known), known: known)
    }

    /// `/proc/12345/` → `/proc/<pid>/` when 12345 is not a pid of the trace (those are
    /// numbered by replaceNumbers).
    func replaceProcPids(_ s: String, known: (Int64) -> Int64?) -> String {
        let prefix = Array("/proc/".utf8)
        let b = Array(s.utf8)
        guard b.count > prefix.count else { return s }
        var out: [UInt8] = []
        var i = 0
        var changed = false
        while i < b.count {
            if i + prefix.count < b.count, b[i] == 47, b[i..<(i + prefix.count)].elementsEqual(prefix) {
                var j = i + prefix.count
                while j < b.count, b[j] >= 48 && b[j] <= 57 { j += 1 }
                let digits = String(decoding: b[(i + prefix.count)..<j], as: UTF8.self)
                if j > i + prefix.count, j < b.count, b[j] == 47, let n = Int64(digits), known(n) == nil {
                    out += prefix
                    out += Array("<pid>".utf8)
                    i = j
                    changed = true
                    continue
                }
            }
            out.append(b[i])
            i += 1
        }
        return changed ? String(decoding: out, as: UTF8.self) : s
    }

    /// Every occurrence of `target` replaced, searched in the UTF-8 bytes (the generic
    /// substring search costs most of the time on a large trace).
    func replacingAll(_ s: String, _ target: String, _ replacement: String) -> String {
        let t = Array(target.utf8)
        guard let first = t.first else { return s }
        let b = Array(s.utf8)
        guard b.count >= t.count else { return s }
        var out: [UInt8] = []
        var i = 0
        var last = 0
        while i + t.count <= b.count {
            if b[i] == first && b[i..<(i + t.count)].elementsEqual(t) {
                if out.isEmpty { out.reserveCapacity(b.count) }
                out += b[last..<i]
                out += Array(replacement.utf8)
                i += t.count
                last = i
            } else {
                i += 1
            }
        }
        guard last > 0 else { return s }
        out += b[last...]
        return String(decoding: out, as: UTF8.self)
    }

    /// Runs of exactly 64 or 12 lower-case hex digits. Works on the UTF-8 bytes: this
    /// runs over every string of every event.
    func replaceIDs(_ s: String) -> String {
        let b = Array(s.utf8)
        func isHex(_ c: UInt8) -> Bool { (c >= 48 && c <= 57) || (c >= 97 && c <= 102) }
        var out: [UInt8] = []
        out.reserveCapacity(b.count)
        var changed = false
        var i = 0
        while i < b.count {
            guard isHex(b[i]) else {
                out.append(b[i])
                i += 1
                continue
            }
            var j = i
            while j < b.count, isHex(b[j]) { j += 1 }
            switch j - i {
            case 64: out += Array("<id>".utf8); changed = true
            case 12: out += Array("<id12>".utf8); changed = true
            default: out += b[i..<j]
            }
            i = j
        }
        return changed ? String(decoding: out, as: UTF8.self) : s
    }

    /// Every run of digits that is a pid seen in the trace, unless it follows a letter
    /// (`eth0`, `vx300`).
    func replaceNumbers(_ s: String, known: (Int64) -> Int64?) -> String {
        let b = Array(s.utf8)
        guard b.contains(where: { $0 >= 48 && $0 <= 57 }) else { return s }
        var out: [UInt8] = []
        out.reserveCapacity(b.count)
        var changed = false
        var i = 0
        while i < b.count {
            guard b[i] >= 48 && b[i] <= 57 else {
                out.append(b[i])
                i += 1
                continue
            }
            var j = i
            while j < b.count, b[j] >= 48 && b[j] <= 57 { j += 1 }
            let afterLetter: Bool
            if let p = out.last {
                afterLetter = p < 0x80 ? ((p >= 65 && p <= 90) || (p >= 97 && p <= 122)) : (String(decoding: out.suffix(4), as: UTF8.self).last?.isLetter ?? false)
            } else {
                afterLetter = false
            }
            if !afterLetter, let n = Int64(String(decoding: b[i..<j], as: UTF8.self)), let m = known(n) {
                out += Array(String(m).utf8)
                changed = true
            } else {
                out += b[i..<j]
            }
            i = j
        }
        return changed ? String(decoding: out, as: UTF8.self) : s
    }
}
