// Chapter 07: from a resolved profile to the BPF program the kernel runs on every
// system call. libseccomp does the compiling, as it does for runc and crun: it knows
// each architecture's syscall numbers, checks `seccomp_data.arch` first (a 32-bit x86
// call on a 64-bit kernel has other numbers; x86_64, x86 and x32 each get their own
// branch), and builds the argument comparisons. vitro only asks it for the program
// (seccomp_export_bpf) and loads it itself in pid 1 (Sys.loadSeccompFilter), so
// compiling happens in vitro, before anything is created: a bad profile leaves nothing
// behind, and vitro-init's last steps are a few plain system calls.
//
// `SeccompFilter` is the seam: the rules after the profile's conditions were applied,
// one per syscall name, which unit tests check without libseccomp or a kernel.

import CSeccomp
import VitroSys

#if canImport(Glibc)
import Glibc
#endif

public struct SeccompFilter: Sendable, Equatable {
    public struct Rule: Sendable, Equatable {
        public var syscall: String
        public var action: SeccompAction
        public var args: [SeccompArg]
    }
    public var defaultAction: SeccompAction
    /// SCMP_ARCH_* names (the native one is always in the filter).
    public var architectures: [String]
    public var rules: [Rule]

    /// The compiled program and what it holds, for the trace.
    public struct Program: Sendable, Equatable {
        /// struct sock_filter instructions, 8 bytes each.
        public var bpf: [UInt8]
        /// Rules libseccomp took (names it does not know on any arch are skipped, as
        /// runc skips them; so are rules whose action is the default's).
        public var rules: Int
        public var skipped: [String]
        public var architectures: [String]
        public var defaultAction: String

        /// KEY NUL `rules N` NUL skipped NUL arches NUL default NUL BPF.
        func cacheFile(key: String) -> [UInt8] {
            var out: [UInt8] = []
            for field in [key, String(rules), skipped.joined(separator: ","), architectures.joined(separator: ","), defaultAction] {
                out += Array(field.utf8)
                out.append(0)
            }
            return out + bpf
        }

        init(bpf: [UInt8], rules: Int, skipped: [String], architectures: [String], defaultAction: String) {
            self.bpf = bpf
            self.rules = rules
            self.skipped = skipped
            self.architectures = architectures
            self.defaultAction = defaultAction
        }

        /// A cache entry, if it is whole and its key is exactly `key`.
        init?(cacheFile bytes: [UInt8], key: String) {
            var fields: [String] = []
            var start = 0
            var i = 0
            while fields.count < 5, i < bytes.count {
                if bytes[i] == 0 {
                    fields.append(String(decoding: bytes[start..<i], as: UTF8.self))
                    start = i + 1
                }
                i += 1
            }
            let bpf = Array(bytes[min(start, bytes.count)...])
            guard fields.count == 5, fields[0] == key, let rules = Int(fields[1]), !bpf.isEmpty, bpf.count % 8 == 0 else { return nil }
            func list(_ s: String) -> [String] { s.isEmpty ? [] : s.split(separator: ",").map(String.init) }
            self.init(bpf: bpf, rules: rules, skipped: list(fields[2]), architectures: list(fields[3]), defaultAction: fields[4])
        }
    }

    /// Everything the compiled program depends on, as text: libseccomp's version, the
    /// default action, the architectures and every rule. Two filters with the same key
    /// compile to the same program.
    public var cacheKey: String {
        var lines = ["vitro seccomp cache 2 (binary tree)", Self.libraryVersion ?? "libseccomp", "default \(defaultAction)", "arch " + architectures.joined(separator: ",")]
        for r in rules {
            let args = r.args.map { "\($0.index):\($0.op.rawValue):\($0.value):\($0.valueTwo)" }.joined(separator: ",")
            lines.append("\(r.syscall) \(r.action) \(args)")
        }
        return lines.joined(separator: "\n")
    }

    /// `compile()`, through a cache in `directory` (vitro's run directory): libseccomp
    /// takes some 25 ms for Docker's profile on three architectures, every run, for the
    /// same program. An entry holds its whole key, compared in full before it is used.
    public func compile(cacheDirectory directory: String) throws(SeccompError) -> Program {
        try Self.loadLibrary()
        let key = cacheKey
        if let cached = Self.cached(key: key, cacheDirectory: directory) { return cached }
        let program = try compile()
        Self.store(program, key: key, cacheDirectory: directory)
        return program
    }

    /// The cache entry whose whole key is `key`, if there is one.
    static func cached(key: String, cacheDirectory directory: String) -> Program? {
        Program(cacheFile: (try? Sys.readFile(cachePath(key: key, directory: directory))) ?? [], key: key)
    }

    static func store(_ program: Program, key: String, cacheDirectory directory: String) {
        Sys.writeCacheFile(cachePath(key: key, directory: directory), program.cacheFile(key: key))
    }

    static func cachePath(key: String, directory: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a, 64 bits: the file's name only
        for b in key.utf8 {
            hash ^= UInt64(b)
            hash = hash &* 0x100_0000_01b3
        }
        return directory + "/" + String(hash, radix: 16) + ".bpf"
    }

    /// Compiles with libseccomp. Runs in vitro, unprivileged: nothing is loaded here.
    public func compile() throws(SeccompError) -> Program {
        try Self.loadLibrary()
        guard let ctx = cseccomp_init(defaultAction.raw) else { throw SeccompError("seccomp_init failed") }
        defer { cseccomp_release(ctx) }
        // vitro sets no_new_privs itself when asked (--security-opt no-new-privileges),
        // as runc does; libseccomp would otherwise set it whenever it loads a filter.
        _ = cseccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0)
        // The system-call checks as a binary tree, not a list (libseccomp 2.5): a call
        // reaches its rule in about ten comparisons instead of hundreds, and the kernel,
        // which runs the filter once per system-call number when it loads it (to cache
        // the always-allowed ones), loads Docker's profile in 0.26 ms instead of 0.61.
        // An older libseccomp refuses the attribute and builds the list.
        _ = cseccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2)
        var arches: [String] = []
        for name in architectures {
            let libName = name.hasPrefix("SCMP_ARCH_") ? String(name.dropFirst(10)).lowercased() : name.lowercased()
            let token = cseccomp_arch_resolve_name(libName)
            guard token != 0 else { throw SeccompError("unknown architecture \"\(name)\"") }
            let r = cseccomp_arch_add(ctx, token)
            guard r == 0 || r == -EEXIST else { throw SeccompError("architecture \(name): \(Errno.name(-r))") }
            arches.append(name)
        }
        var added = 0
        var skipped: [String] = []
        for rule in rules {
            let nr = cseccomp_syscall_resolve_name(rule.syscall)
            if nr == __NR_SCMP_ERROR {
                skipped.append(rule.syscall)
                continue
            }
            if rule.action == defaultAction && rule.args.isEmpty { continue }
            for conditions in SeccompFilter.conditionSets(rule.args) {
                let cmps = conditions.map { a in
                    scmp_arg_cmp(arg: a.index, op: scmp_compare(rawValue: a.op.rawValue), datum_a: a.value, datum_b: a.valueTwo)
                }
                let r = cmps.withUnsafeBufferPointer { buf in
                    cseccomp_rule_add_array(ctx, rule.action.raw, nr, UInt32(buf.count), buf.baseAddress)
                }
                guard r == 0 else { throw SeccompError("rule for \(rule.syscall): \(Errno.name(-r))") }
            }
            added += 1
        }
        let fd: Int32
        do { fd = try Sys.memoryFile("vitro-seccomp") } catch { throw SeccompError("\(error)") }
        defer { Sys.close(fd) }
        let r = cseccomp_export_bpf(ctx, fd)
        guard r == 0 else { throw SeccompError("seccomp_export_bpf: \(Errno.name(-r))") }
        let bpf: [UInt8]
        do { bpf = try Sys.readFromStart(fd) } catch { throw SeccompError("\(error)") }
        guard bpf.count % 8 == 0, bpf.count / 8 <= 4096 else {
            throw SeccompError("the filter has \(bpf.count / 8) instructions; the kernel takes at most 4096")
        }
        return Program(bpf: bpf, rules: added, skipped: skipped, architectures: arches, defaultAction: defaultAction.description)
    }

    /// `libseccomp 2.5.4`: the version of the libseccomp this process opened; nil if it
    /// cannot be opened.
    static var libraryVersion: String? {
        guard cseccomp_load() != 0 else { return nil }
        var v = "libseccomp"
        if let version = cseccomp_version() { v += " \(version.pointee.major).\(version.pointee.minor).\(version.pointee.micro)" }
        return v
    }

    /// Opens libseccomp (CSeccomp/shim.h: loaded on first use, not linked, so
    /// vitro-init, which shares this module, never maps it).
    static func loadLibrary() throws(SeccompError) {
        guard cseccomp_load() != 0 else { throw SeccompError("load \(CSECCOMP_SONAME): \(Sys.libraryLoadError)") }
    }

    /// runc's rule for several comparisons: on distinct arguments they must all hold
    /// (one libseccomp rule); when one argument is compared more than once, each
    /// comparison is a rule of its own (any may match), since libseccomp cannot AND two
    /// comparisons of the same argument.
    static func conditionSets(_ args: [SeccompArg]) -> [[SeccompArg]] {
        if args.isEmpty { return [[]] }
        let indexes = args.map(\.index)
        return Set(indexes).count == indexes.count ? [args] : args.map { [$0] }
    }
}

/// The filter vitro-init loads, as carried in the spec: the program and its summary.
public struct SeccompLoad: Sendable, Equatable {
    public var bpf: [UInt8]
    public var defaultAction: String
    public var rules: Int
    public var architectures: [String]
    /// "default" (Docker's profile, built in) or the profile file's path.
    public var profile: String

    public init(program: SeccompFilter.Program, profile: String) {
        bpf = program.bpf
        defaultAction = program.defaultAction
        rules = program.rules
        architectures = program.architectures
        self.profile = profile
    }

    public init(bpf: [UInt8], defaultAction: String, rules: Int, architectures: [String], profile: String) {
        self.bpf = bpf
        self.defaultAction = defaultAction
        self.rules = rules
        self.architectures = architectures
        self.profile = profile
    }
}
