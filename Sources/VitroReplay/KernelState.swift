// Chapter 12: the kernel's state as the trace recorded it. Replaying the events in
// order onto an empty model gives, before and after any event, what the traced
// processes had made: their namespaces, mounts, cgroup directories and files, links,
// addresses and routes, nftables rules, the files vitro wrote, the hostname and the
// capabilities dropped. It is the state the trace *says* the run made (successful
// calls only), not a reading of the live kernel: what existed before the run (the
// host's own mounts and links) is not in it.

import VitroTrace

/// Lines of one kind of kernel object, keyed, in the order they were made.
public struct StateSection: Sendable, Equatable {
    public var name: String
    public private(set) var keys: [String] = []
    public private(set) var lines: [String: String] = [:]

    public init(name: String) { self.name = name }

    public var isEmpty: Bool { keys.isEmpty }
    public var orderedLines: [String] { keys.compactMap { lines[$0] } }

    public mutating func set(_ key: String, _ line: String) {
        if lines[key] == nil { keys.append(key) }
        lines[key] = line
    }

    public mutating func remove(_ key: String) {
        guard lines.removeValue(forKey: key) != nil else { return }
        keys.removeAll { $0 == key }
    }

    public mutating func removeAll(where drop: (String, String) -> Bool) {
        let gone = keys.filter { drop($0, lines[$0] ?? "") }
        guard !gone.isEmpty else { return }
        let set = Set(gone)
        keys.removeAll { set.contains($0) }
        for k in gone { lines.removeValue(forKey: k) }
    }

    public func line(_ key: String) -> String? { lines[key] }
}

public struct KernelState: Sendable, Equatable {
    public static let sectionNames = [
        "namespaces", "processes", "mounts", "cgroups", "links", "addresses", "routes", "nftables", "files", "hostname",
        "capabilities",
    ]
    public private(set) var sections: [StateSection] = KernelState.sectionNames.map { StateSection(name: $0) }

    /// Per pid: namespace kind -> where it came from ("new" or "pid N's").
    var namespaces: [Int32: [(String, String)]] = [:]
    /// Per pid: namespaces its next children get (after unshare(CLONE_NEWPID)).
    var forChildren: [Int32: [(String, String)]] = [:]
    var cwd: [Int32: String] = [:]
    /// After pivot_root: the new root, whose mounts are renamed relative to it.
    var pivotedRoot: String?
    /// The process that pivoted: its later absolute paths are inside the new root.
    var pivotedBy: Int32?
    var dropped: [Int32: [String]] = [:]
    var layerEntries = 0

    public init() {}

    public static func == (a: KernelState, b: KernelState) -> Bool { a.sections == b.sections }

    public func section(_ name: String) -> StateSection? { sections.first { $0.name == name } }

    mutating func edit(_ name: String, _ change: (inout StateSection) -> Void) {
        guard let i = sections.firstIndex(where: { $0.name == name }) else { return }
        change(&sections[i])
    }

    // MARK: applying events

    /// The state after `e`. Failed calls change nothing.
    public mutating func apply(_ e: TraceEvent) {
        guard !e.failed, e.ret.map({ $0 >= 0 }) ?? true else { return }
        let a = e.args
        func s(_ k: String) -> String { a[k]?.text ?? "" }
        switch (e.phase, e.name) {
        case (.complete, "unshare"): replayUnshare(e.pid, s("flags"))
        case (.complete, "setns"): replaySetns(e.pid, fd: s("fd"), kind: s("nstype"))
        case (.complete, "fork"):
            if let child = e.ret, child > 0 { forked(parent: e.pid, child: Int32(truncatingIfNeeded: child)) }
        case (.complete, "execve"):
            if a["via"] != nil, let child = e.ret, child > 0 {
                let c = Int32(truncatingIfNeeded: child)
                forked(parent: e.pid, child: c)
                edit("processes") { $0.set("pid \(c)", "pid \(c): \(s("path")) (spawned by pid \(e.pid))") }
            } else {
                edit("processes") { $0.set("pid \(e.pid)", "pid \(e.pid): exec \(a["argv"]?.text ?? s("path"))") }
            }
        case (.complete, "waitpid"):
            if let p = a["pid"]?.text {
                let reaped = "\(s("status")) (reaped by pid \(e.pid))"
                // What the process was (its exec), then how it ended: once, even when
                // a pid comes back (a normalised trace numbers pids per run).
                edit("processes") { sec in
                    let was = sec.line("pid \(p)").map { String($0.split(separator: ";", maxSplits: 1)[0]) + "; " } ?? "pid \(p): "
                    sec.set("pid \(p)", was + reaped)
                }
            }
        case (.instant, "exit"):
            edit("processes") { $0.set("container", "the container's process: \(s("status"))") }
        case (.complete, "chdir"): cwd[e.pid] = resolve(s("path"), pid: e.pid)
        case (.complete, "mount"): replayMount(e)
        case (.complete, "umount2"), (.complete, "umount"): unmount(resolve(s("target"), pid: e.pid), pid: e.pid)
        case (.complete, "pivot_root"): pivot(e)
        case (.complete, "sethostname"): edit("hostname") { $0.set("uts of pid \(e.pid)", "\(s("name")) (uts namespace of pid \(e.pid))") }
        case (.complete, "prctl") where s("option") == "PR_CAPBSET_DROP":
            if !(dropped[e.pid]?.contains(s("cap")) ?? false) { dropped[e.pid, default: []].append(s("cap")) }
            let caps = dropped[e.pid] ?? []
            edit("capabilities") { $0.set("pid \(e.pid)", "pid \(e.pid) dropped from its bounding set (\(caps.count)): " + caps.joined(separator: " ")) }
        case (.complete, "mkdir"), (.complete, "mkdirat"):
            let p = s("path")
            if isCgroup(p) { edit("cgroups") { $0.set(p, p + "/") } }
        case (.complete, "rmdir"):
            let p = s("path")
            let section = isCgroup(p) ? "cgroups" : "files"
            edit(section) { $0.removeAll { k, _ in k == p || k.hasPrefix(p + "/") } }
        case (.complete, "write"): write(e)
        case (.complete, "rename"):
            let from = s("from"), to = s("to")
            edit("files") { sec in
                guard let line = sec.line(from) else { return }
                sec.remove(from)
                sec.set(to, to + line.dropFirst(from.count))
            }
        case (.complete, "unlink"): edit("files") { $0.remove(s("path")) }
        case (.complete, "mknod"), (.complete, "mknodat"):
            if e.group != .layer { edit("files") { $0.set(s("path"), "\(s("path")): device \(s("dev")) mode \(s("mode"))") } }
        case (.complete, "symlink"), (.complete, "symlinkat"):
            if e.group != .layer { edit("files") { $0.set(s("path"), "\(s("path")) -> \(s("target"))") } }
        case (.complete, "RTM_NEWLINK"): newLink(e)
        case (.complete, "RTM_DELLINK"):
            let key = netns(e) + " " + s("ifname")
            edit("links") { $0.remove(key) }
            edit("addresses") { $0.removeAll { k, _ in k.hasPrefix(key + " ") } }
        case (.complete, "RTM_NEWADDR"):
            let ns = netns(e)
            edit("addresses") { $0.set("\(ns) \(s("ifname")) \(s("address"))", "[\(ns)] \(s("ifname")) \(s("address"))" + (a["broadcast"].map { " brd \($0.text)" } ?? "")) }
        case (.complete, "RTM_DELADDR"):
            let key = "\(netns(e)) \(s("ifname")) \(s("address"))"
            edit("addresses") { $0.remove(key) }
        case (.complete, "RTM_NEWROUTE"):
            let ns = netns(e)
            var line = "[\(ns)] \(s("dst"))"
            if let g = a["gateway"] { line += " via \(g.text)" }
            if let d = a["dev"] { line += " dev \(d.text)" }
            edit("routes") { $0.set("\(ns) \(s("dst"))", line) }
        case (.complete, "RTM_DELROUTE"):
            let key = "\(netns(e)) \(s("dst"))"
            edit("routes") { $0.remove(key) }
        case (.complete, "nft"): nft(e)
        default:
            if e.group == .layer { layerEntries += 1 }
        }
    }

    // MARK: namespaces and processes

    static let kinds: [(String, String)] = [
        ("CLONE_NEWNS", "mnt"), ("CLONE_NEWUTS", "uts"), ("CLONE_NEWIPC", "ipc"), ("CLONE_NEWPID", "pid"),
        ("CLONE_NEWNET", "net"), ("CLONE_NEWCGROUP", "cgroup"), ("CLONE_NEWUSER", "user"),
    ]

    mutating func replayUnshare(_ pid: Int32, _ flags: String) {
        let names = flags.split(separator: "|").map(String.init)
        var mine = namespaces[pid] ?? []
        var children = forChildren[pid] ?? mine
        for (flag, kind) in Self.kinds where names.contains(flag) {
            let origin = "new, unshare by pid \(pid)"
            if kind == "pid" {
                // unshare(CLONE_NEWPID) moves the caller's children, not the caller.
                children.removeAll { $0.0 == kind }
                children.append((kind, origin))
                continue
            }
            mine.removeAll { $0.0 == kind }
            mine.append((kind, origin))
            children.removeAll { $0.0 == kind }
            children.append((kind, origin))
        }
        namespaces[pid] = mine
        forChildren[pid] = children
        describe(pid)
    }

    mutating func replaySetns(_ pid: Int32, fd: String, kind flag: String) {
        guard let kind = Self.kinds.first(where: { $0.0 == flag })?.1 else { return }
        var mine = namespaces[pid] ?? []
        mine.removeAll { $0.0 == kind }
        if !fd.contains("host") { mine.append((kind, "joined \(fd)")) }
        namespaces[pid] = mine
        forChildren[pid] = mine
        describe(pid)
    }

    mutating func forked(parent: Int32, child: Int32) {
        let inherited = forChildren[parent] ?? namespaces[parent] ?? []
        namespaces[child] = inherited
        forChildren[child] = inherited
        if !inherited.isEmpty { describe(child) }
        cwd[child] = cwd[parent]
    }

    mutating func describe(_ pid: Int32) {
        let mine = namespaces[pid] ?? []
        edit("namespaces") { sec in
            if mine.isEmpty {
                sec.set("pid \(pid)", "pid \(pid): the host's namespaces")
                return
            }
            var groups: [(String, [String])] = []
            for (kind, origin) in mine {
                if let i = groups.firstIndex(where: { $0.0 == origin }) { groups[i].1.append(kind) } else { groups.append((origin, [kind])) }
            }
            sec.set("pid \(pid)", "pid \(pid): " + groups.map { "\($0.1.joined(separator: " ")) (\($0.0))" }.joined(separator: "; "))
        }
    }

    // MARK: mounts

    /// An absolute path for `path` as process `pid` named it. A normalised trace's
    /// `<rootfs>/...` and `<root>/...` are absolute too.
    func resolve(_ path: String, pid: Int32) -> String {
        if path.hasPrefix("<") { return path }
        if path.hasPrefix("/") {
            guard let root = pivotedRoot, pid == pivotedBy else { return path }
            return path == "/" ? root : root + path
        }
        let base = cwd[pid] ?? "/"
        if path == "." || path.isEmpty { return base }
        return (base == "/" ? "" : base) + "/" + path
    }

    static let propagation: Set<String> = ["MS_PRIVATE", "MS_SLAVE", "MS_SHARED", "MS_UNBINDABLE", "MS_REC"]

    mutating func replayMount(_ e: TraceEvent) {
        let target = resolve(e.args["target"]?.text ?? "", pid: e.pid)
        let flags = e.args["flags"]?.text ?? ""
        let names = flags.split(separator: "|").map(String.init)
        let source = e.args["source"]?.text
        if source == nil, !names.isEmpty, names.allSatisfy({ Self.propagation.contains($0) }) {
            let line = "\(shown(target)): propagation \(flags)"
            edit("mounts") { $0.set("propagation " + target, line) }
            return
        }
        var line = "\(shown(target)): "
        if names.contains("MS_BIND") {
            line += "bind of \(source ?? "?")"
        } else {
            line += "\(source ?? "none") type \(e.args["fstype"]?.text ?? "?")"
        }
        if !flags.isEmpty { line += " (\(flags))" }
        if let data = e.args["data"]?.text { line += " \(data)" }
        edit("mounts") { $0.set(target, line) }
    }

    /// How a mount point reads: relative to the new root once pivoted.
    func shown(_ path: String) -> String {
        guard let root = pivotedRoot else { return path }
        if path == root { return "/" }
        if path.hasPrefix(root + "/") { return String(path.dropFirst(root.count)) }
        return path
    }

    mutating func unmount(_ target: String, pid: Int32) {
        let old = "(old root)"
        if pivotedRoot != nil, target == pivotedRoot || target == "/" || target == "." {
            // After pivot_root(".", "."), the old root is stacked on "/": unmounting "."
            // detaches it, with every host mount under it.
            edit("mounts") { $0.removeAll { _, line in line.hasPrefix(old) } }
            edit("mounts") { $0.remove("old root") }
            return
        }
        edit("mounts") { $0.removeAll { k, _ in k == target || k.hasPrefix(target + "/") || k == "propagation " + target } }
    }

    mutating func pivot(_ e: TraceEvent) {
        let newRoot = resolve(e.args["new_root"]?.text ?? ".", pid: e.pid)
        pivotedRoot = newRoot
        pivotedBy = e.pid
        edit("mounts") { sec in
            // Mounts outside the new root are now under the old root.
            for k in sec.keys {
                guard let line = sec.line(k) else { continue }
                let target = k.hasPrefix("propagation ") ? String(k.dropFirst(12)) : k
                if target == newRoot || target.hasPrefix(newRoot + "/") {
                    let rel = target == newRoot ? "/" : String(target.dropFirst(newRoot.count))
                    if let colon = line.firstIndex(of: ":") { sec.set(k, rel + line[colon...]) }
                } else {
                    sec.set(k, "(old root) " + line)
                }
            }
            sec.set("old root", "(old root) the previous / is stacked on the new root until it is unmounted")
        }
        edit("mounts") { $0.set("root", "root of pid \(e.pid)'s mount namespace: \(newRoot) (pivot_root)") }
    }

    // MARK: files and cgroups

    func isCgroup(_ path: String) -> Bool { path.hasPrefix("/sys/fs/cgroup/") }

    mutating func write(_ e: TraceEvent) {
        guard let path = e.args["path"]?.text, e.group != .layer else { return }
        var value = e.args["value"]?.text.replacingAll("\n", "\\n") ?? ""
        if value.count > 60 { value = String(value.prefix(57)) + "..." }
        if isCgroup(path) {
            let line = path.hasSuffix("/cgroup.procs") || path.hasSuffix("/tasks") ? "\(path) <- \(value)" : "\(path) = \(value)"
            edit("cgroups") { $0.set(path, line) }
            return
        }
        let line = e.args["value"] != nil ? "\(path) = \(value)" : "\(path) (written)"
        edit("files") { $0.set(path, line) }
    }

    // MARK: links, addresses, routes

    /// Which network namespace a netlink event was made in: the shell line says
    /// `nsenter --net=/proc/PID/ns/net ...` for the container's side.
    func netns(_ e: TraceEvent) -> String {
        guard let shell = e.shell, shell.hasPrefix("nsenter --net=") else { return "host" }
        let path = shell.dropFirst(14).prefix { $0 != " " }
        let parts = path.split(separator: "/")
        if parts.count >= 2, parts[0] == "proc" { return "netns of pid \(parts[1])" }
        return String(path)
    }

    mutating func newLink(_ e: TraceEvent) {
        let ns = netns(e)
        let name = e.args["ifname"]?.text ?? "?"
        let key = ns + " " + name
        let up = (e.args["flags"]?.text ?? "").contains("IFF_UP")
        if let kind = e.args["kind"]?.text {
            var line = "[\(ns)] \(name): \(kind)"
            if let m = e.args["master"] { line += ", master \(m.text)" }
            if let mtu = e.args["mtu"] { line += ", mtu \(mtu.text)" }
            line += up ? ", up" : ", down"
            if let peer = e.args["peer"]?.text {
                let peerNS = e.args["peer_netns"].map { "netns of pid \($0.text)" } ?? ns
                line += "; peer \(peer) in [\(peerNS)]"
                edit("links") { $0.set(peerNS + " " + peer, "[\(peerNS)] \(peer): \(kind) (peer of \(name)), down") }
            }
            edit("links") { $0.set(key, line) }
            return
        }
        // A change to an existing link (or lo, which every namespace has).
        edit("links") { sec in
            var line = sec.line(key) ?? "[\(ns)] \(name): existing link"
            for suffix in [", up", ", down"] where line.hasSuffix(suffix) { line = String(line.dropLast(suffix.count)) }
            if let r = line.firstRange(of: ", down") { line.replaceSubrange(r, with: "") }
            sec.set(key, line + (up ? ", up" : ", down"))
        }
    }

    // MARK: nftables

    /// Applies the commands of an nft event: its script is in `shell`
    /// (`nft -f - <<'EOF' ... EOF`) or is the one command after `nft `.
    mutating func nft(_ e: TraceEvent) {
        guard let shell = e.shell else { return }
        var commands: [String] = []
        let lines = shell.split(separator: "\n").map(String.init)
        if let first = lines.first, first.hasPrefix("nft -f") {
            commands = lines.dropFirst().filter { $0 != "EOF" }
        } else if shell.hasPrefix("nft ") {
            commands = [String(shell.dropFirst(4))]
        }
        let container = e.args["container"]?.text
        for c in commands { nftCommand(c.trimmingSpaces, container: container) }
    }

    mutating func nftCommand(_ c: String, container: String?) {
        let words = c.split(separator: " ").map(String.init)
        guard words.count >= 4 else { return }
        let verb = words[0], what = words[1]
        let table = words[2] + " " + words[3]
        switch (verb, what) {
        case ("add", "table"), ("create", "table"):
            edit("nftables") { $0.set("table \(table)", "table \(table)") }
        case ("add", "chain"), ("create", "chain"):
            guard words.count >= 5 else { return }
            let rest = words.count > 5 ? " " + words[5...].joined(separator: " ") : ""
            edit("nftables") { $0.set("chain \(table) \(words[4])", "chain \(table) \(words[4])\(rest)") }
        case ("add", "set"):
            guard words.count >= 5 else { return }
            edit("nftables") { $0.set("set \(table) \(words[4])", "set \(table) \(words[4])") }
        case ("add", "element"):
            guard words.count >= 5 else { return }
            let key = "set \(table) \(words[4])"
            let elements = words[5...].joined(separator: " ").trimmingBraces
            edit("nftables") { sec in
                let old = sec.line(key) ?? key
                guard !old.hasSuffix(": " + elements) && !old.contains(": " + elements + ",") && !old.contains(", " + elements) else { return }
                sec.set(key, old.contains(": ") ? old + ", " + elements : old + ": " + elements)
            }
        case ("add", "rule"), ("insert", "rule"):
            guard words.count >= 5 else { return }
            let chain = "\(table) \(words[4])"
            edit("nftables") { sec in
                var n = 1
                while sec.line("rule \(chain) #\(n)") != nil { n += 1 }
                sec.set("rule \(chain) #\(n)", "rule in \(chain): " + words[5...].joined(separator: " "))
            }
        case ("flush", "chain"):
            guard words.count >= 5 else { return }
            let chain = "\(table) \(words[4])"
            edit("nftables") { $0.removeAll { k, _ in k.hasPrefix("rule \(chain) #") } }
        case ("delete", "rule"):
            // Rules are deleted by handle; the trace names the container whose rules go.
            guard words.count >= 5, let container else { return }
            let chain = "\(table) \(words[4])"
            edit("nftables") { $0.removeAll { k, line in k.hasPrefix("rule \(chain) #") && line.contains("vitro:\(container)") } }
        case ("delete", "chain"):
            guard words.count >= 5 else { return }
            let chain = "\(table) \(words[4])"
            edit("nftables") { $0.removeAll { k, _ in k == "chain \(chain)" || k.hasPrefix("rule \(chain) #") } }
        case ("delete", "table"):
            edit("nftables") { $0.removeAll { k, _ in k.contains(" \(table)") || k == "table \(table)" } }
        default:
            break
        }
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " || s.first == "\t" { s = s.dropFirst() }
        while s.last == " " || s.last == "\t" { s = s.dropLast() }
        return String(s)
    }

    var trimmingBraces: String {
        var s = trimmingSpaces
        if s.hasPrefix("{") { s = String(s.dropFirst()) }
        if s.hasSuffix("}") { s = String(s.dropLast()) }
        return s.trimmingSpaces
    }
}

/// What one event changed: per section, the lines that went and came.
public struct StateChange: Sendable, Equatable {
    public var section: String
    public var removed: [String]
    public var added: [String]
}

extension KernelState {
    /// The differences from `self` (before) to `after`, section by section.
    public func changes(to after: KernelState) -> [StateChange] {
        var out: [StateChange] = []
        for (b, a) in zip(sections, after.sections) where b != a {
            var removed: [String] = []
            var added: [String] = []
            for k in b.keys where b.line(k) != a.line(k) { removed.append(b.line(k) ?? "") }
            for k in a.keys where b.line(k) != a.line(k) { added.append(a.line(k) ?? "") }
            if !removed.isEmpty || !added.isEmpty { out.append(StateChange(section: a.name, removed: removed, added: added)) }
        }
        return out
    }
}

/// The state before and after any event of one trace, replayed from the start, with a
/// checkpoint every `stride` events so that stepping back in a long trace is cheap.
public final class KernelReplay {
    let events: [TraceEvent]
    let stride: Int
    var checkpoints: [KernelState] = [KernelState()]
    /// The last state computed and the index of the event it is the state *before*.
    var cached: (index: Int, state: KernelState) = (0, KernelState())

    public init(_ events: [TraceEvent], stride: Int = 1024) {
        self.events = events
        self.stride = max(stride, 1)
    }

    /// The state before `events[index]` (index == events.count: after the last).
    public func before(_ index: Int) -> KernelState {
        let index = min(max(index, 0), events.count)
        var (at, state) = cached
        if index < at {
            let c = min(index / stride, checkpoints.count - 1)
            at = c * stride
            state = checkpoints[c]
        }
        while at < index {
            state.apply(events[at])
            at += 1
            if at % stride == 0 && at / stride == checkpoints.count { checkpoints.append(state) }
        }
        cached = (at, state)
        return state
    }

    /// The state after `events[index]`.
    public func after(_ index: Int) -> KernelState { before(index + 1) }
}
