// Chapter 04: the device allowlist as a cgroup v2 eBPF program. On v1 the kernel keeps
// the allowlist (devices.allow, devices.deny); on v2 the container engine writes a
// program that the kernel runs on every open(2) and mknod(2) of a device node, with a
// pointer to struct bpf_cgroup_dev_ctx in r1 (linux/bpf.h):
//
//     u32 access_type   low 16 bits: the device type (1 block, 2 char)
//                       high 16 bits: the access (1 mknod, 2 read, 4 write)
//     u32 major, minor
//
// The program returns 1 to allow; 0 makes the call fail with EPERM.
//
// The rules are the same list v1 is given, with the same meaning: everything starts
// denied (`deny a`), and each rule that matches the request decides it anew, so the
// last matching rule wins, as in runc (which walks its rules last to first,
// libcontainer/cgroups/devices/devicefilter.go). vitro's program reads like the v1 file
// writes: r0 starts at 0 (deny), then one block per rule in the order given; a block
// that matches sets r0 to 1 (allow) or 0 (deny) and falls through to the next; the
// program ends with `exit`, returning r0. A rule matches when its type and numbers match
// (`a`, `*` match anything) and, for an allow, when it grants every access asked for;
// for a deny, when it names any access asked for (so `deny c 1:3 w` refuses an open for
// reading and writing but not one for reading). One known difference from v1: v1 merges
// two allows of the same device (`r` then `w`) into `rw`; here each rule is judged
// alone, so that request is denied. Docker's rules never split a device that way.

/// The eBPF program that enforces `rules` on cgroup v2.
public struct DeviceFilter: Sendable, Equatable {
    public let rules: [DeviceRule]
    public let instructions: [BPFInstruction]
    /// A comment per instruction index (the rule a block checks, what a register holds).
    public let comments: [Int: String]

    // Registers: r1 the context, then the request's parts.
    static let context: UInt8 = 1, type: UInt8 = 2, access: UInt8 = 3, major: UInt8 = 4, minor: UInt8 = 5
    static let scratch: UInt8 = 1, verdict: UInt8 = 0

    /// BPF_DEVCG_DEV_BLOCK, BPF_DEVCG_DEV_CHAR.
    public static func typeCode(_ t: String) -> Int32? {
        switch t {
        case "b": return 1
        case "c": return 2
        default: return nil
        }
    }

    /// BPF_DEVCG_ACC_MKNOD (1), _READ (2), _WRITE (4) of an access string like "rwm".
    public static func accessBits(_ access: String) -> Int32 {
        (access.contains("m") ? 1 : 0) | (access.contains("r") ? 2 : 0) | (access.contains("w") ? 4 : 0)
    }

    public init(rules: [DeviceRule]) {
        self.rules = rules
        var a = BPFAssembler()
        a.emit(.loadWord(Self.type, from: Self.context, offset: 0), "access_type")
        a.emit(.and32(Self.type, 0xffff), "its low 16 bits: the device type (1 block, 2 char)")
        a.emit(.loadWord(Self.access, from: Self.context, offset: 0), "access_type")
        a.emit(.rsh32(Self.access, 16), "its high 16 bits: the access (1 mknod, 2 read, 4 write)")
        a.emit(.loadWord(Self.major, from: Self.context, offset: 4), "major")
        a.emit(.loadWord(Self.minor, from: Self.context, offset: 8), "minor")
        a.emit(.mov32(Self.verdict, 0), "deny a: nothing is allowed until a rule says so")
        for rule in rules {
            let next = a.label()
            var first: String? = (rule.allow ? "allow " : "deny ") + rule.description
            func say() -> String? {
                defer { first = nil }
                return first
            }
            if rule.type != "a" {
                guard let t = Self.typeCode(rule.type) else { preconditionFailure("bug: device rule type \(rule.type) (a, b or c)") }
                a.emit(.jumpIfNotEqual(Self.type, t), to: next, say())
                if let m = rule.major { a.emit(.jumpIfNotEqual(Self.major, Int32(m)), to: next, say()) }
                if let m = rule.minor { a.emit(.jumpIfNotEqual(Self.minor, Int32(m)), to: next, say()) }
            }
            // `a` is every type, number and access, as in v1's devices.allow.
            let bits = rule.type == "a" ? 7 : Self.accessBits(rule.access)
            if bits != 7 {
                a.emit(.mov32(Self.scratch, register: Self.access), say())
                a.emit(.and32(Self.scratch, bits))
                if rule.allow {
                    a.emit(.jumpIfNotEqual(Self.scratch, register: Self.access), to: next, "an allow must grant every access asked for")
                } else {
                    a.emit(.jumpIfEqual(Self.scratch, 0), to: next, "a deny refuses if it names any access asked for")
                }
            }
            a.emit(.mov32(Self.verdict, rule.allow ? 1 : 0), say())
            a.bind(next)
        }
        a.emit(.exit, "return r0: 1 allows, 0 fails the call with EPERM")
        instructions = a.finish()
        comments = a.comments
    }

    /// The instructions as the kernel reads them.
    public var bytes: [UInt8] { instructions.flatMap(\.bytes) }

    /// The program as the kernel's disassembler prints it, one line per instruction,
    /// with the rule each block checks: `  7: (55) if r2 != 0x2 goto pc+5   ; allow c 1:5 rwm`.
    public var listing: [String] {
        instructions.enumerated().map { i, insn in
            let head = String(repeating: " ", count: max(0, 3 - String(i).count)) + "\(i): " + insn.text
            guard let c = comments[i] else { return head }
            return head + String(repeating: " ", count: max(1, 38 - head.count)) + "; " + c
        }
    }
}
