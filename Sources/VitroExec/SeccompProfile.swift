// Chapter 07: a seccomp profile in Docker's JSON format (moby's profiles/seccomp), the
// format of `docker run --security-opt seccomp=FILE` and of Docker's default profile.
//
// A profile is a default action (Docker's: SCMP_ACT_ERRNO with errno 1, EPERM) and a
// list of rules, each naming syscalls, an action, optional argument comparisons, and
// `includes`/`excludes` conditions on the container's capabilities, the machine's
// architecture and the kernel's version. `resolve` evaluates those conditions for one
// container, as moby's setupSeccomp does, and leaves a plain `SeccompFilter`; that one
// is compiled to BPF (SeccompFilter.swift).
//
// Parsed here by hand with VitroTrace's JSON reader: no Foundation on the start path.

import VitroTrace

/// A profile that cannot be read or used; the message names what is wrong.
public struct SeccompError: Error, CustomStringConvertible, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// What the kernel does with a matching syscall (seccomp(2), SECCOMP_RET_*).
public enum SeccompAction: Sendable, Equatable, CustomStringConvertible {
    case allow
    /// Fail the call with this errno (Docker's default: 1, EPERM).
    case errno(UInt16)
    case killThread
    case killProcess
    case trap
    case trace(UInt16)
    case log

    /// SCMP_ACT_ERRNO and friends; `errnoRet` is the profile's value, if any.
    static func parse(_ name: String, errnoRet: UInt16?) throws(SeccompError) -> SeccompAction {
        switch name {
        case "SCMP_ACT_ALLOW": return .allow
        case "SCMP_ACT_ERRNO": return .errno(errnoRet ?? 1)
        case "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD": return .killThread
        case "SCMP_ACT_KILL_PROCESS": return .killProcess
        case "SCMP_ACT_TRAP": return .trap
        case "SCMP_ACT_TRACE": return .trace(errnoRet ?? 1)
        case "SCMP_ACT_LOG": return .log
        case "SCMP_ACT_NOTIFY": throw SeccompError("action SCMP_ACT_NOTIFY needs a listener, which vitro does not provide")
        default: throw SeccompError("unknown action \"\(name)\"")
        }
    }

    /// libseccomp's encoding of the action (seccomp.h, SCMP_ACT_*).
    public var raw: UInt32 {
        switch self {
        case .allow: return 0x7fff_0000
        case .errno(let e): return 0x0005_0000 | UInt32(e)
        case .killThread: return 0
        case .killProcess: return 0x8000_0000
        case .trap: return 0x0003_0000
        case .trace(let v): return 0x7ff0_0000 | UInt32(v)
        case .log: return 0x7ffc_0000
        }
    }

    public var description: String {
        switch self {
        case .allow: return "SCMP_ACT_ALLOW"
        case .errno(let e): return "SCMP_ACT_ERRNO(\(e))"
        case .killThread: return "SCMP_ACT_KILL_THREAD"
        case .killProcess: return "SCMP_ACT_KILL_PROCESS"
        case .trap: return "SCMP_ACT_TRAP"
        case .trace(let v): return "SCMP_ACT_TRACE(\(v))"
        case .log: return "SCMP_ACT_LOG"
        }
    }
}

/// One comparison of a syscall argument (`{"index":0,"value":40,"op":"SCMP_CMP_GT"}`).
/// For SCMP_CMP_MASKED_EQ, `value` is the mask and `valueTwo` what the masked
/// argument must equal.
public struct SeccompArg: Sendable, Equatable {
    public enum Op: UInt32, Sendable {
        case ne = 1, lt, le, eq, ge, gt, maskedEq
        static let names: [String: Op] = [
            "SCMP_CMP_NE": .ne, "SCMP_CMP_LT": .lt, "SCMP_CMP_LE": .le, "SCMP_CMP_EQ": .eq, "SCMP_CMP_GE": .ge,
            "SCMP_CMP_GT": .gt, "SCMP_CMP_MASKED_EQ": .maskedEq,
        ]
    }
    public var index: UInt32
    public var value: UInt64
    public var valueTwo: UInt64
    public var op: Op

    public init(index: UInt32, value: UInt64, valueTwo: UInt64 = 0, op: Op) {
        self.index = index
        self.value = value
        self.valueTwo = valueTwo
        self.op = op
    }
}

/// `includes` / `excludes`: the rule applies only with (or without) these.
public struct SeccompCondition: Sendable, Equatable {
    public var caps: [String] = []
    /// Architectures as Go names them: amd64, x86, x32, arm64, arm, s390x, …
    public var arches: [String] = []
    /// "4.8": kernel 4, major revision 8.
    public var minKernel: KernelVersion?
}

/// A kernel version as the profile compares it: only the first two numbers count.
public struct KernelVersion: Sendable, Equatable, Comparable {
    public var kernel: Int
    public var major: Int
    public init(kernel: Int, major: Int) {
        self.kernel = kernel
        self.major = major
    }
    /// "6.1.0-18-amd64" → 6.1; "4.8" → 4.8.
    public init?(_ text: String) {
        let parts = text.split(separator: ".", maxSplits: 2)
        guard parts.count >= 2, let k = Int(parts[0]) else { return nil }
        guard let m = Int(parts[1].prefix(while: { $0.isNumber })) else { return nil }
        kernel = k
        major = m
    }
    public static func < (a: KernelVersion, b: KernelVersion) -> Bool {
        (a.kernel, a.major) < (b.kernel, b.major)
    }
}

public struct SeccompRule: Sendable, Equatable {
    public var names: [String]
    public var action: SeccompAction
    public var args: [SeccompArg] = []
    public var includes = SeccompCondition()
    public var excludes = SeccompCondition()
}

public struct SeccompProfile: Sendable, Equatable {
    public var defaultAction: SeccompAction
    /// `architectures`: SCMP_ARCH_* names, used as given.
    public var architectures: [String] = []
    /// `archMap`: for each native architecture, the sub-architectures to allow with it.
    public var archMap: [(arch: String, sub: [String])] = []
    public var rules: [SeccompRule] = []

    public static func == (a: SeccompProfile, b: SeccompProfile) -> Bool {
        a.defaultAction == b.defaultAction && a.architectures == b.architectures && a.rules == b.rules
            && a.archMap.map(\.arch) == b.archMap.map(\.arch) && a.archMap.map(\.sub) == b.archMap.map(\.sub)
    }

    /// Reads a profile in Docker's format. Throws on bad JSON or a bad field, naming it.
    public static func parse(_ bytes: [UInt8]) throws(SeccompError) -> SeccompProfile {
        let v: JSONValue
        do { v = try JSONReader.parse(bytes) } catch { throw SeccompError("\(error)") }
        guard v.members != nil else { throw SeccompError("a profile is a JSON object") }
        guard let defaultName = v["defaultAction"]?.string else { throw SeccompError("no \"defaultAction\"") }
        var profile = SeccompProfile(
            defaultAction: try SeccompAction.parse(defaultName, errnoRet: try errno(v["defaultErrnoRet"], "defaultErrnoRet")))
        profile.architectures = try strings(v["architectures"], "architectures")
        for (i, a) in (try list(v["archMap"], "archMap")).enumerated() {
            guard let arch = a["architecture"]?.string else { throw SeccompError("archMap[\(i)]: no \"architecture\"") }
            profile.archMap.append((arch, try strings(a["subArchitectures"], "archMap[\(i)].subArchitectures")))
        }
        if !profile.architectures.isEmpty && !profile.archMap.isEmpty {
            throw SeccompError("both 'architectures' and 'archMap' are specified in the seccomp profile, use either 'architectures' or 'archMap'")
        }
        for (i, s) in (try list(v["syscalls"], "syscalls")).enumerated() {
            let at = "syscalls[\(i)]"
            var names = try strings(s["names"], at + ".names")
            if let name = s["name"]?.string {
                guard names.isEmpty else { throw SeccompError("\(at): both 'name' and 'names' are specified, use either 'name' or 'names'") }
                names = [name]
            }
            guard let actionName = s["action"]?.string else { throw SeccompError("\(at): no \"action\"") }
            let action: SeccompAction
            do { action = try SeccompAction.parse(actionName, errnoRet: try errno(s["errnoRet"], at + ".errnoRet")) } catch {
                throw SeccompError("\(at): \(error.message)")
            }
            var rule = SeccompRule(names: names, action: action)
            for (j, a) in (try list(s["args"], at + ".args")).enumerated() {
                let where_ = "\(at).args[\(j)]"
                guard let opName = a["op"]?.string, let op = SeccompArg.Op.names[opName] else {
                    throw SeccompError("\(where_): unknown \"op\" \(a["op"]?.string ?? "(none)")")
                }
                rule.args.append(
                    SeccompArg(
                        index: UInt32(try number(a["index"], where_ + ".index", max: 5)), value: try number(a["value"], where_ + ".value"),
                        valueTwo: try number(a["valueTwo"], where_ + ".valueTwo", optional: true), op: op))
            }
            rule.includes = try condition(s["includes"], at + ".includes")
            rule.excludes = try condition(s["excludes"], at + ".excludes")
            profile.rules.append(rule)
        }
        return profile
    }

    static func list(_ v: JSONValue?, _ field: String) throws(SeccompError) -> [JSONValue] {
        guard let v, v != .null else { return [] }
        guard let a = v.array else { throw SeccompError("\"\(field)\" must be a list") }
        return a
    }

    static func strings(_ v: JSONValue?, _ field: String) throws(SeccompError) -> [String] {
        var out: [String] = []
        for x in try list(v, field) {
            guard let s = x.string else { throw SeccompError("\"\(field)\" must be a list of strings") }
            out.append(s)
        }
        return out
    }

    /// A whole number in 0...max (JSON numbers are doubles here; 2^53 is as far as
    /// they are exact, and no syscall argument a profile compares needs more).
    static func number(_ v: JSONValue?, _ field: String, max: UInt64 = 1 << 53, optional: Bool = false) throws(SeccompError) -> UInt64 {
        guard let v, v != .null else {
            if optional { return 0 }
            throw SeccompError("no \"\(field)\"")
        }
        guard let d = v.number, d >= 0, d == d.rounded(), d <= Double(max) else {
            throw SeccompError("\"\(field)\" must be a whole number from 0 to \(max)")
        }
        return UInt64(d)
    }

    static func errno(_ v: JSONValue?, _ field: String) throws(SeccompError) -> UInt16? {
        guard let v, v != .null else { return nil }
        return UInt16(try number(v, field, max: 4095))
    }

    static func condition(_ v: JSONValue?, _ field: String) throws(SeccompError) -> SeccompCondition {
        guard let v, v != .null else { return SeccompCondition() }
        guard v.members != nil else { throw SeccompError("\"\(field)\" must be an object") }
        var c = SeccompCondition()
        c.caps = try strings(v["caps"], field + ".caps")
        c.arches = try strings(v["arches"], field + ".arches")
        if let k = v["minKernel"], k != .null {
            guard let text = k.string, let version = KernelVersion(text), text.split(separator: ".").count == 2 else {
                throw SeccompError("\(field).minKernel: invalid kernel version, expected \"<kernel>.<major>\"")
            }
            c.minKernel = version
        }
        return c
    }
}

/// The machine a filter is made for: its architecture by both of Docker's names, the
/// kernel version, and the capabilities the container keeps.
public struct SeccompTarget: Sendable {
    /// Go's name, used by `includes.arches`: amd64, arm64, …
    public var arch: String
    /// libseccomp's, used by `archMap`: SCMP_ARCH_X86_64, …
    public var scmpArch: String
    public var kernel: KernelVersion
    /// CAP_* names.
    public var capabilities: Set<String>

    public init(arch: String, scmpArch: String, kernel: KernelVersion, capabilities: Set<String>) {
        self.arch = arch
        self.scmpArch = scmpArch
        self.kernel = kernel
        self.capabilities = capabilities
    }

    /// uname(2)'s machine name → (Go name, SCMP_ARCH_*).
    public static func architecture(uname machine: String) -> (String, String)? {
        switch machine {
        case "x86_64": return ("amd64", "SCMP_ARCH_X86_64")
        case "aarch64": return ("arm64", "SCMP_ARCH_AARCH64")
        case "i386", "i486", "i586", "i686": return ("x86", "SCMP_ARCH_X86")
        case "armv7l", "armv6l", "arm": return ("arm", "SCMP_ARCH_ARM")
        case "ppc64le": return ("ppc64le", "SCMP_ARCH_PPC64LE")
        case "s390x": return ("s390x", "SCMP_ARCH_S390X")
        case "riscv64": return ("riscv64", "SCMP_ARCH_RISCV64")
        case "loongarch64": return ("loong64", "SCMP_ARCH_LOONGARCH64")
        default: return nil
        }
    }
}

extension SeccompProfile {
    /// Evaluates the rules' conditions for `target`, as moby's setupSeccomp does: a
    /// rule is dropped when an excluded arch is ours, an excluded capability is kept,
    /// or the kernel is at least an excluded minKernel; and unless every included arch,
    /// capability and minKernel holds.
    public func resolve(for target: SeccompTarget) -> SeccompFilter {
        var arches = architectures
        if arches.isEmpty, let entry = archMap.first(where: { $0.arch == target.scmpArch }) {
            arches = [entry.arch] + entry.sub
        }
        var out: [SeccompFilter.Rule] = []
        for rule in applicableRules(for: target) {
            for name in rule.names {
                out.append(SeccompFilter.Rule(syscall: name, action: rule.action, args: rule.args))
            }
        }
        return SeccompFilter(defaultAction: defaultAction, architectures: arches, rules: out)
    }

    func applicableRules(for t: SeccompTarget) -> [SeccompRule] {
        rules.filter { r in
            let ex = r.excludes
            if ex.arches.contains(t.arch) { return false }
            if ex.caps.contains(where: { t.capabilities.contains($0) }) { return false }
            if let k = ex.minKernel, t.kernel >= k { return false }
            let inc = r.includes
            if !inc.arches.isEmpty && !inc.arches.contains(t.arch) { return false }
            if !inc.caps.allSatisfy({ t.capabilities.contains($0) }) { return false }
            if let k = inc.minKernel, t.kernel < k { return false }
            return true
        }
    }
}
