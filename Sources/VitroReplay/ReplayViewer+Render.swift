// Chapter 12: drawing the replay viewer. A frame is computed from the model alone, for
// any size from 80x24 up (smaller works, with less in it): only the visible rows of
// the event list are formatted, so a trace of 100,000 events draws as fast as one of
// a hundred.

import VitroTrace

extension ReplayViewer {
    public static let minimumColumns = 40
    public static let minimumRows = 10

    public func frame(rows: Int, columns: Int) -> Frame {
        guard rows >= Self.minimumRows, columns >= Self.minimumColumns else {
            return Frame(rows: [StyledLine("window too small (\(columns)x\(rows)); at least \(Self.minimumColumns)x\(Self.minimumRows)", .error)], columns: columns)
        }
        var out: [StyledLine] = [titleBar(columns)]
        let listRows = max(3, (rows - 3) / 3)
        let paneRows = rows - 3 - listRows
        out += listLines(listRows, columns)
        out.append(tabBar(columns))
        var body = showingHelp ? helpLines(columns) : paneLines(columns)
        let maxScroll = max(0, body.count - paneRows)
        if paneScroll > maxScroll { paneScroll = maxScroll }
        body = Array(body.dropFirst(paneScroll).prefix(paneRows))
        if !showingHelp, maxScroll > 0, var last = body.popLast() {
            let more = paneScroll < maxScroll ? "  [J/PgDn: \(maxScroll - paneScroll) more lines]" : "  [K/PgUp: back up]"
            if body.count + 1 == paneRows { last = StyledLine(more, .dim) }
            body.append(last)
        }
        while body.count < paneRows { body.append(StyledLine()) }
        out += body
        out.append(statusLine(columns))
        return Frame(rows: out, columns: columns)
    }

    // MARK: bars

    /// Position first, the file last: what is cut at 80 columns is the file's name.
    func titleBar(_ width: Int) -> StyledLine {
        var t = " vitro replay  \(count == 0 ? 0 : current + 1)/\(count)"
        if let e = event { t += "  #\(e.seq)  \(stageName(e.stage))" }
        if !breakpoints.isEmpty { t += "  break: " + breakpoints.joined(separator: ",") }
        t += "  " + title
        let help = "  ? keys  q quit "
        if t.count + help.count <= width { t += String(repeating: " ", count: width - t.count - help.count) + help }
        return StyledLine(t, .reverse, fill: .reverse)
    }

    func tabBar(_ width: Int) -> StyledLine {
        var line = StyledLine("")
        for p in Pane.allCases {
            line.add(" ")
            line.add("\(p.rawValue) \(p.title)", p == pane && !showingHelp ? .reverse : .bold)
        }
        line.add("   (Tab switches)", .dim)
        var fill = StyledLine(String(repeating: "-", count: max(0, width - line.count)), .dim)
        fill.spans = line.spans + fill.spans
        return fill
    }

    func statusLine(_ width: Int) -> StyledLine {
        if let p = prompt {
            let label: String
            switch p.kind {
            case .search: label = "search: "
            case .breakpoint: label = "break on a group or call (Enter: this call \"\(event?.name ?? "")\"): "
            case .seq: label = "go to seq: "
            }
            return StyledLine(label, .bold) + StyledLine(p.text + "_")
        }
        if let m = message { return StyledLine(m, .bold) }
        return StyledLine("j/k event  [/] stage  e error  b break  c continue  / search  Tab pane  ? keys", .dim)
    }

    // MARK: the event list

    func listLines(_ rows: Int, _ width: Int) -> [StyledLine] {
        guard count > 0 else { return [StyledLine("(the trace has no events)", .dim)] + Array(repeating: StyledLine(), count: rows - 1) }
        // Keep the current event in view, a third from the top when scrolling.
        if current < top || current >= top + rows { top = max(0, min(current - rows / 3, count - rows)) }
        var out: [StyledLine] = []
        for i in top..<min(top + rows, count) {
            out.append(listRow(i, width))
        }
        while out.count < rows { out.append(StyledLine()) }
        return out
    }

    func listRow(_ i: Int, _ width: Int) -> StyledLine {
        let e = trace.events[i]
        let isCurrent = i == current
        let failed = e.failed || (e.phase == .end && e.args["error"] != nil)
        var line = StyledLine(fill: isCurrent ? .reverse : .plain)
        line.add(isCurrent ? ">" : " ")
        line.add(failed ? "!" : (hits(e) ? "*" : " "), failed ? .error : .bold)
        line.add(pad("#\(e.seq)", 6) + " ")
        if !timeless { line.add(pad(TraceNarrator.millis(e.tsNanos >= start ? e.tsNanos - start : 0), 11)) }
        line.add(pad(e.stage == .none ? "-" : e.stage.rawValue, 11))
        line.add(Self.label(e), failed && !isCurrent ? .error : (e.phase == .begin && !isCurrent ? .heading : .plain))
        return line
    }

    /// One line for an event: `unshare CLONE_NEWNS|... = 0`, `== namespaces: ...`.
    static func label(_ e: TraceEvent) -> String {
        switch e.phase {
        case .begin: return "== \(e.name): \(e.args["title"]?.text ?? "")"
        case .end: return "== end of \(e.name)" + (e.args["error"].map { ": FAILED \($0.text)" } ?? "")
        case .metadata: return "(header)"
        case .instant:
            if e.group == .packet, let h = PacketHop(e, index: 0) {
                return "~~ packet hop \(h.hop) \(h.place) \(h.direction) \(h.src) > \(h.dst)" + (h.natDst.map { " (dnat \($0))" } ?? "") + (h.natSrc.map { " (snat \($0))" } ?? "")
            }
            return "-- \(e.name) " + summary(e.args)
        case .complete:
            var s = "\(e.name) " + summary(e.args)
            if let errno = e.errno { s += " = -1 \(errno)" } else if let r = e.ret { s += " = \(r)" }
            return s
        }
    }

    static func summary(_ args: Args) -> String {
        args.items.prefix(3).map { $0.value.text.replacingAll("\n", " ") }.joined(separator: " ")
    }

    // MARK: the lower pane

    func paneLines(_ width: Int) -> [StyledLine] {
        guard let e = event else { return [StyledLine("(no event)", .dim)] }
        let lines: [StyledLine]
        switch pane {
        case .details: lines = detailLines(e, width)
        case .state: lines = stateLines(e, width)
        case .packet: lines = packetLines(e, width)
        }
        return lines.flatMap { $0.wrapped(width: width, indent: 4) }
    }

    func detailLines(_ e: TraceEvent, _ width: Int) -> [StyledLine] {
        var out: [StyledLine] = []
        let kind: String
        switch e.phase {
        case .complete: kind = "kernel call"
        case .begin: kind = "stage begins"
        case .end: kind = "stage ends"
        case .instant: kind = e.group == .packet ? "packet seen" : "note"
        case .metadata: kind = "header"
        }
        var head = StyledLine("#\(e.seq) \(e.name)", .bold)
        head.add("  \(kind), group \(e.group.rawValue), stage \(stageName(e.stage)), pid \(e.pid)" + (e.tid != e.pid ? " tid \(e.tid)" : ""), .dim)
        out.append(head)
        if !timeless || trace.lines.indices.contains(current) {
            var when = ""
            if !timeless {
                when += "at " + TraceNarrator.millis(e.tsNanos >= start ? e.tsNanos - start : 0)
                if let d = e.durNanos { when += ", took \(formatMillis(d))" }
            }
            if trace.lines.indices.contains(current) { when += (when.isEmpty ? "" : ", ") + "line \(trace.lines[current]) of the file" }
            out.append(StyledLine(when, .dim))
        }
        if let code = e.code {
            out.append(StyledLine("code ", .heading) + StyledLine(code))
        }
        if let errno = e.errno {
            var l = StyledLine("FAILED ", .error)
            l.add("ret \(e.ret ?? -1), errno \(errno)", .error)
            if let d = Errnos.describe(errno) { l.add(": " + d) }
            out.append(l)
        } else if let r = e.ret {
            out.append(StyledLine("ret ", .bold) + StyledLine("\(r)"))
        }
        if e.phase == .end, let err = e.args["error"]?.text {
            out.append(StyledLine("the stage failed: ", .error) + StyledLine(err))
        }
        let shown = e.args.items
        if !shown.isEmpty {
            out.append(StyledLine("args", .heading))
            let keyWidth = min(14, (shown.map(\.key.count).max() ?? 0) + 1)
            for (k, v) in shown {
                out.append(contentsOf: argLines(e, k, v, keyWidth: keyWidth))
            }
        }
        if let why = e.why { out.append(StyledLine("why ", .heading) + StyledLine(why)) }
        if let shell = e.shell {
            let parts = shell.split(separator: "\n", omittingEmptySubsequences: false)
            out.append(StyledLine("shell ", .heading) + StyledLine("$ " + (parts.first.map(String.init) ?? "")))
            for p in parts.dropFirst() { out.append(StyledLine("    " + p)) }
        }
        let changes = kernel.before(current).changes(to: kernel.after(current))
        if changes.isEmpty {
            out.append(StyledLine("kernel state: ", .heading) + StyledLine(e.failed ? "unchanged (the call failed)" : "no change the trace records (2: the state)", .dim))
        } else {
            out.append(StyledLine("kernel state changed ", .heading) + StyledLine("(2: before and after)", .dim))
            out += changeLines(changes)
        }
        if e.group == .packet { out.append(StyledLine("3: the packet's hops and where it is", .dim)) }
        return out
    }

    func argLines(_ e: TraceEvent, _ key: String, _ value: ArgValue, keyWidth: Int) -> [StyledLine] {
        let k = "  " + pad(key, keyWidth)
        switch value {
        case .flags(let f):
            let names = f.split(separator: "|").map(String.init)
            return [StyledLine(k) + StyledLine(names.joined(separator: " | "), .bold)]
        case .int(let i) where key.hasSuffix("flags") && (e.name == "open" || e.name == "openat"):
            // Traces written before open's flags were named carry the number.
            return [StyledLine(k) + StyledLine("\(i) ") + StyledLine("(" + OpenFlagNames.names(i).joined(separator: " | ") + ")", .bold)]
        case .list(let l):
            return [StyledLine(k) + StyledLine("[" + l.map { "\"\($0)\"" }.joined(separator: ", ") + "]")]
        case .string(let s) where s.contains("\n"):
            let parts = s.split(separator: "\n", omittingEmptySubsequences: false)
            return [StyledLine(k) + StyledLine(String(parts[0]))] + parts.dropFirst().map { StyledLine(String(repeating: " ", count: keyWidth + 2) + $0) }
        default:
            return [StyledLine(k) + StyledLine(value.text)]
        }
    }

    func changeLines(_ changes: [StateChange]) -> [StyledLine] {
        var out: [StyledLine] = []
        for c in changes {
            out.append(StyledLine("  " + c.section, .bold))
            for r in c.removed { out.append(StyledLine("  - " + r, .error)) }
            for a in c.added { out.append(StyledLine("  + ", .bold) + StyledLine(a)) }
        }
        return out
    }

    func stateLines(_ e: TraceEvent, _ width: Int) -> [StyledLine] {
        let before = kernel.before(current)
        let after = kernel.after(current)
        var out = [StyledLine("kernel state before and after #\(e.seq) \(e.name)", .bold) + StyledLine(" (replayed from the trace's events)", .dim)]
        let changes = before.changes(to: after)
        if changes.isEmpty {
            out.append(StyledLine(e.failed ? "this call failed: it changed nothing" : "this event changed nothing the trace records", .dim))
        } else {
            out.append(StyledLine("changed (- before, + after):", .heading))
            out += changeLines(changes)
        }
        out.append(StyledLine("after this event:", .heading))
        var any = false
        for s in after.sections where !s.isEmpty {
            any = true
            out.append(StyledLine("  " + s.name, .bold))
            for l in s.orderedLines { out.append(StyledLine("    " + l)) }
        }
        if !any { out.append(StyledLine("  (nothing made yet)", .dim)) }
        return out
    }

    func packetLines(_ e: TraceEvent, _ width: Int) -> [StyledLine] {
        if packets.isEmpty {
            return [
                StyledLine("no packet events in this trace", .bold),
                StyledLine("A packet-path trace (group packet) shows each hop a packet took: host, bridge,", .dim),
                StyledLine("veth, container, with the NAT rewrites. p / P jump between packet events.", .dim),
            ]
        }
        let hops = packets.packet(at: current)
        guard !hops.isEmpty else {
            return [StyledLine("not a packet event: p / P go to the next / previous one (\(packets.hops.count) in this trace)", .dim)]
        }
        return packets.topology(hops, current: current, width: width) + packets.table(hops, current: current, width: width)
    }

    // MARK: help

    func helpLines(_ width: Int) -> [StyledLine] {
        let keys: [(String, String)] = [
            ("j Down Space", "next event"), ("k Up", "previous event"),
            ("] l Right", "next stage"), ("[ h Left", "previous stage"),
            ("e / E", "next / previous error"), ("p / P", "next / previous packet"),
            ("b", "break on a group or call"), ("B", "clear breakpoints"),
            ("c / C", "continue to next / prev break"), ("/", "search"),
            ("n / N", "next / previous match"), (": N", "go to seq N"),
            ("Tab 1 2 3", "details, state, packet"), ("J K PgDn PgUp", "scroll the pane"),
            ("g G Home End", "first / last event"), ("q", "quit"),
        ]
        var out = [StyledLine("keys (any key closes this help)", .bold)]
        let col = width >= 80 ? 2 : 1
        var row = StyledLine()
        for (n, (k, what)) in keys.enumerated() {
            row.add(" " + pad(k, 14), .bold)
            row.add(pad(what, 24))
            if n % col == col - 1 {
                out.append(row)
                row = StyledLine()
            }
        }
        if row.count > 0 { out.append(row) }
        out.append(StyledLine(" A breakpoint is a group (netfilter, mount, ...) or a call (bind, mount, ...).", .dim))
        return out
    }
}

/// What an errno means, for the details pane (errno(3)'s texts, for the errnos a
/// container engine meets).
enum Errnos {
    static let texts: [String: String] = [
        "EPERM": "operation not permitted", "ENOENT": "no such file or directory", "ESRCH": "no such process",
        "EINTR": "interrupted system call", "EIO": "input/output error", "EBADF": "bad file descriptor",
        "ECHILD": "no child processes", "EAGAIN": "resource temporarily unavailable", "ENOMEM": "cannot allocate memory",
        "EACCES": "permission denied", "EBUSY": "device or resource busy", "EEXIST": "file exists",
        "EXDEV": "invalid cross-device link", "ENODEV": "no such device", "ENOTDIR": "not a directory",
        "EISDIR": "is a directory", "EINVAL": "invalid argument", "EMFILE": "too many open files",
        "ENOSPC": "no space left on device", "EROFS": "read-only file system", "ENOSYS": "function not implemented",
        "ENOTEMPTY": "directory not empty", "ELOOP": "too many levels of symbolic links",
        "EADDRINUSE": "address already in use", "EADDRNOTAVAIL": "cannot assign requested address",
        "ENETUNREACH": "network is unreachable", "ECONNREFUSED": "connection refused", "ETIMEDOUT": "connection timed out",
        "EHOSTUNREACH": "no route to host", "EOPNOTSUPP": "operation not supported", "ENOEXEC": "exec format error",
        "E2BIG": "argument list too long", "ENXIO": "no such device or address", "EFAULT": "bad address",
    ]

    static func describe(_ name: String) -> String? { texts[name] }
}

/// open(2)'s flag bits by name, for traces written before they were named.
enum OpenFlagNames {
    static let bits: [(Int64, String)] = [
        (0o1, "O_WRONLY"), (0o2, "O_RDWR"), (0o100, "O_CREAT"), (0o200, "O_EXCL"), (0o400, "O_NOCTTY"),
        (0o1000, "O_TRUNC"), (0o2000, "O_APPEND"), (0o4000, "O_NONBLOCK"), (0o200000, "O_DIRECTORY"),
        (0o400000, "O_NOFOLLOW"), (0o2000000, "O_CLOEXEC"), (0o10000000, "O_PATH"),
    ]

    static func names(_ v: Int64) -> [String] {
        var rest = v
        var out: [String] = []
        for (bit, name) in bits where v & bit != 0 {
            out.append(name)
            rest &= ~bit
        }
        if rest != 0 { out.append("0o" + String(rest, radix: 8)) }
        return out.isEmpty ? ["O_RDONLY"] : out
    }
}
