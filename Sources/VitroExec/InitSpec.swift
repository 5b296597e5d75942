// Chapter 07: the contract between vitro and vitro-init.
//
// vitro-init is started with these descriptors (see Sources/vitro-init/main.swift):
//
//   0, 1, 2  the container's stdin, stdout and stderr, passed on to the command
//   3        the spec: an `InitSpec`, read to end of file
//   4        the trace: JSON Lines events, written before each sync message, fork and execve
//   5        sync: a SOCK_SEQPACKET socket carrying `SyncMessage`s both ways
//   6        only with a `cgroup` in the spec (v2): the cgroup's directory, for clone3
//
// With `tty`, pid 1 replaces 0, 1 and 2 with the slave of a pty it opens in the
// container's devpts, and sends the master to vitro with the `pty` message (SCM_RIGHTS).
//
// The spec is a list of NUL-terminated `key=value` records (a list repeats its key),
// simple to read in a process that must not pull in Foundation to parse JSON.

import VitroNamespaces
import VitroSys
import VitroVolumes

public struct InitSpec: Sendable, Equatable {
    public var rootfs: String
    public var argv: [String]
    public var env: [String]
    public var cwd: String
    public var hostname: String
    public var namespaces: NamespaceSet
    /// overlayfs mount data (`lowerdir=…,upperdir=…,workdir=…`) when the root is an
    /// image's layers; empty when `rootfs` is a plain directory to bind-mount.
    public var overlay = ""
    /// learn run: wait for the parent's word before each stage, even when it has no
    /// work of its own to do in between.
    public var learn: Bool
    /// Files bind-mounted over the image's before pivot_root (/etc/hosts and friends).
    public var files: [FileMount] = []
    /// Volumes and other mounts, made inside the root before the files (chapter 06).
    public var mounts = MountPlan()
    /// The capabilities the command keeps (numbers); nil keeps them all (--privileged).
    public var capabilities: Set<Int32>?
    /// `run -t`: pid 1 makes a pty in the container's devpts; its slave becomes the
    /// command's stdin, stdout, stderr and controlling terminal.
    public var tty = false
    /// `vitro exec`: the host pid of a running container's pid 1, whose namespaces and
    /// cgroups vitro-init joins instead of making new ones (0: make a new container).
    public var join: Int32 = 0
    /// `--net container:NAME`: the host pid of that container's pid 1, whose network
    /// namespace vitro-init enters before it makes the others (0: none to join).
    public var joinNetwork: Int32 = 0
    /// v2: the container's cgroup, made before vitro-init started; its directory is open
    /// on fd 6 (`InitFD.cgroup`) and pid 1 is forked into it with clone3(CLONE_INTO_CGROUP).
    /// Empty: pid 1 is forked plainly and joins its cgroup at `ready`.
    public var cgroup = ""
    /// The compiled seccomp filter, loaded just before execve; nil: none.
    public var seccomp: SeccompLoad?
    /// `--security-opt no-new-privileges`.
    public var noNewPrivileges = false
    /// `--user`, the image's User or `exec -u`, looked up inside; empty: root.
    public var user = ""
    /// `--ulimit`s, set just before execve.
    public var ulimits: [Ulimit] = []
    /// `--tmpfs` mounts, made with the root.
    public var tmpfs: [TmpfsMount] = []
    /// Paths of /proc and /sys to mask and to make read-only (empty with --privileged).
    public var maskedPaths: [String] = []
    public var readonlyPaths: [String] = []
    /// `--read-only`.
    public var readOnlyRootfs = false
    /// `--init`: vitro-init stays as pid 1 and reaps; the command is its child.
    public var initProcess = false

    public init(
        rootfs: String, argv: [String], env: [String], cwd: String = "/", hostname: String,
        namespaces: NamespaceSet = .container, learn: Bool = false
    ) {
        self.rootfs = rootfs
        self.argv = argv
        self.env = env
        self.cwd = cwd
        self.hostname = hostname
        self.namespaces = namespaces
        self.learn = learn
    }

    public func encode() -> [UInt8] {
        var out: [UInt8] = []
        func put(_ k: String, _ v: String) {
            out.append(contentsOf: Array("\(k)=\(v)".utf8))
            out.append(0)
        }
        put("rootfs", rootfs)
        for a in argv { put("arg", a) }
        for e in env { put("env", e) }
        put("cwd", cwd)
        put("hostname", hostname)
        put("namespaces", String(namespaces.rawValue))
        put("learn", learn ? "1" : "0")
        if !overlay.isEmpty { put("overlay", overlay) }
        for f in files { put("file", f.source + "\t" + f.target) }
        for m in mounts.records() { put("mount", m) }
        if tty { put("tty", "1") }
        if let capabilities { put("caps", capabilities.sorted().map(String.init).joined(separator: ",")) }
        if join > 0 { put("join", String(join)) }
        if joinNetwork > 0 { put("netjoin", String(joinNetwork)) }
        if !cgroup.isEmpty { put("cgroup", cgroup) }
        if let seccomp {
            put("seccomp", InitSpec.hex(seccomp.bpf))
            put("seccomp-info", [seccomp.profile, seccomp.defaultAction, String(seccomp.rules), seccomp.architectures.joined(separator: ",")].joined(separator: "\t"))
        }
        if noNewPrivileges { put("nnp", "1") }
        if !user.isEmpty { put("user", user) }
        for u in ulimits { put("ulimit", u.text) }
        for t in tmpfs { put("tmpfs", t.text) }
        for m in maskedPaths { put("mask", m) }
        for r in readonlyPaths { put("ro-path", r) }
        if readOnlyRootfs { put("read-only", "1") }
        if initProcess { put("init", "1") }
        return out
    }

    public static func decode(_ bytes: [UInt8]) throws(InitError) -> InitSpec {
        var fields: [String: [String]] = [:]
        // A plain loop over the bytes: the generic `split` compares each of the spec's
        // ~20 KB (most of it the seccomp program) through a protocol witness, which cost
        // vitro-init a quarter of a millisecond before the namespaces.
        var start = 0
        while start < bytes.count {
            var end = start
            var eq = -1
            while end < bytes.count && bytes[end] != 0 {
                if eq < 0 && bytes[end] == UInt8(ascii: "=") { eq = end }
                end += 1
            }
            if end > start {
                guard eq >= 0 else { throw InitError(code: 125, "spec: record without '='") }
                let key = String(decoding: bytes[start..<eq], as: UTF8.self)
                fields[key, default: []].append(String(decoding: bytes[(eq + 1)..<end], as: UTF8.self))
            }
            start = end + 1
        }
        func one(_ k: String) throws(InitError) -> String {
            guard let v = fields[k]?.first else { throw InitError(code: 125, "spec: missing \(k)") }
            return v
        }
        guard let ns = Int32(try one("namespaces")) else { throw InitError(code: 125, "spec: bad namespaces") }
        let argv = fields["arg"] ?? []
        guard !argv.isEmpty else { throw InitError(code: 125, "spec: no command") }
        var spec = InitSpec(
            rootfs: try one("rootfs"), argv: argv, env: fields["env"] ?? [], cwd: try one("cwd"),
            hostname: try one("hostname"), namespaces: NamespaceSet(rawValue: ns), learn: try one("learn") == "1")
        spec.overlay = fields["overlay"]?.first ?? ""
        for f in fields["file"] ?? [] {
            let parts = f.split(separator: "\t", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { throw InitError(code: 125, "spec: bad file record") }
            spec.files.append(FileMount(source: parts[0], target: parts[1]))
        }
        do { spec.mounts = try MountPlan(records: fields["mount"] ?? []) } catch { throw InitError(code: 125, error.message) }
        spec.tty = fields["tty"]?.first == "1"
        if let caps = fields["caps"]?.first {
            spec.capabilities = Set(caps.split(separator: ",").compactMap { Int32($0) })
        }
        spec.join = fields["join"]?.first.flatMap { Int32($0) } ?? 0
        spec.joinNetwork = fields["netjoin"]?.first.flatMap { Int32($0) } ?? 0
        spec.cgroup = fields["cgroup"]?.first ?? ""
        if let hex = fields["seccomp"]?.first {
            guard let bpf = InitSpec.unhex(hex), bpf.count % 8 == 0 else { throw InitError(code: 125, "spec: bad seccomp program") }
            let info = (fields["seccomp-info"]?.first ?? "").split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard info.count == 4, let rules = Int(info[2]) else { throw InitError(code: 125, "spec: bad seccomp-info") }
            spec.seccomp = SeccompLoad(
                bpf: bpf, defaultAction: info[1], rules: rules, architectures: info[3].split(separator: ",").map(String.init), profile: info[0])
        }
        spec.noNewPrivileges = fields["nnp"]?.first == "1"
        spec.user = fields["user"]?.first ?? ""
        for u in fields["ulimit"] ?? [] { spec.ulimits.append(try Ulimit.parse(u)) }
        for t in fields["tmpfs"] ?? [] {
            do { spec.tmpfs.append(try TmpfsMount.parse(t)) } catch { throw InitError(code: 125, "spec: \(error.message)") }
        }
        spec.maskedPaths = fields["mask"] ?? []
        spec.readonlyPaths = fields["ro-path"] ?? []
        spec.readOnlyRootfs = fields["read-only"]?.first == "1"
        spec.initProcess = fields["init"]?.first == "1"
        return spec
    }
}

extension InitSpec {
    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func unhex(_ text: String) -> [UInt8]? {
        var text = text
        return text.withUTF8 { unhex(bytes: $0) }
    }

    static func unhex(bytes s: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
        guard s.count % 2 == 0 else { return nil }
        func v(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: return c - 48
            case 97...102: return c - 87
            default: return nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(s.count / 2)
        var i = 0
        while i < s.count {
            guard let hi = v(s[i]), let lo = v(s[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }
}

/// An error inside vitro-init, with the exit code the container run reports for it:
/// 125 for a setup failure, 126 for a command that cannot be run, 127 for one not found
/// (Docker's codes).
public struct InitError: Error, CustomStringConvertible {
    public var code: Int32
    public var message: String
    public init(code: Int32, _ message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { message }
}

/// The messages on the sync socket, in the order they flow.
public enum SyncMessage: Sendable, Equatable {
    /// init → vitro: the host pid of the container's pid 1.
    case pid(Int32)
    /// pid 1 → vitro: the root is ready; waiting for `exec`. vitro has pid 1 join its
    /// cgroup (`cgroups`) and wires its network namespace now, before any user code runs. It carries
    /// pid 1's host pid too: stage A's `pid` message may not have arrived yet, because
    /// the scheduler can run the child through all its mounts before the parent sends.
    case ready(Int32)
    /// pid 1 → vitro, before `ready` and only with `tty`: the pty master comes with this
    /// message as an SCM_RIGHTS descriptor.
    case pty
    /// vitro → pid 1, after `ready`: the container's cgroup files (`CgroupDriver.joinFiles`),
    /// opened by vitro and attached in the same order as SCM_RIGHTS descriptors. pid 1
    /// writes `0` into each (after pivot_root it could not open them itself) and
    /// answers `joined`.
    case cgroups([String])
    /// pid 1 → vitro: it is in every cgroup `cgroups` named.
    case joined
    /// vitro → pid 1: unshare the cgroup namespace and exec the command.
    case exec
    /// init → vitro: a step failed; the process exits with `code`.
    case error(code: Int32, message: String)

    public func encode() -> [UInt8] {
        switch self {
        case .pid(let p): return Array("pid \(p)".utf8)
        case .ready(let p): return Array("ready \(p)".utf8)
        case .exec: return Array("exec".utf8)
        case .cgroups(let paths): return Array(("cgroups " + paths.joined(separator: "\n")).utf8)
        case .joined: return Array("joined".utf8)
        case .pty: return Array("pty".utf8)
        case .error(let c, let m): return Array("error \(c) \(m)".utf8)
        }
    }

    public static func decode(_ bytes: [UInt8]) -> SyncMessage? {
        let s = String(decoding: bytes, as: UTF8.self)
        if s.hasPrefix("cgroups ") { return .cgroups(s.dropFirst(8).split(separator: "\n").map(String.init)) }
        let parts = s.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
        switch parts.first {
        case "ready": return parts.count == 2 ? Int32(parts[1]).map { .ready($0) } : nil
        case "exec": return .exec
        case "joined": return .joined
        case "pty": return .pty
        case "pid": return parts.count == 2 ? Int32(parts[1]).map { .pid($0) } : nil
        case "error":
            guard parts.count == 3, let c = Int32(parts[1]) else { return nil }
            return .error(code: c, message: parts[2])
        default: return nil
        }
    }
}

/// The fixed descriptor numbers of the contract.
public enum InitFD {
    public static let spec: Int32 = 3
    public static let trace: Int32 = 4
    public static let sync: Int32 = 5
    /// Only when the spec names a `cgroup`: its directory, for clone3(CLONE_INTO_CGROUP).
    public static let cgroup: Int32 = 6
}
