// Chapter 07 without root: Docker's seccomp profile read from its JSON, the rules it
// leaves for a container's capabilities, arch and kernel, and the BPF program that
// libseccomp makes of them, run here in a small classic-BPF interpreter against
// seccomp_data the way the kernel would; and the parsing of --ulimit, --user, --tmpfs,
// --security-opt and the spec that carries them to vitro-init.

import Foundation
import Testing

@testable import VitroCgroups
@testable import VitroExec
@testable import VitroNamespaces
@testable import VitroTrace

/// The kernel's view of a system call for a filter (struct seccomp_data) and a
/// classic BPF interpreter for the instructions libseccomp emits.
struct SeccompMachine {
    static let x86_64: UInt32 = 0xC000_003E
    static let i386: UInt32 = 0x4000_0003
    static let aarch64: UInt32 = 0xC000_00B7

    let program: [(code: UInt16, jt: UInt8, jf: UInt8, k: UInt32)]

    init(bpf: [UInt8]) {
        var p: [(UInt16, UInt8, UInt8, UInt32)] = []
        var i = 0
        while i + 8 <= bpf.count {
            let code = UInt16(bpf[i]) | UInt16(bpf[i + 1]) << 8
            let k = UInt32(bpf[i + 4]) | UInt32(bpf[i + 5]) << 8 | UInt32(bpf[i + 6]) << 16 | UInt32(bpf[i + 7]) << 24
            p.append((code, bpf[i + 2], bpf[i + 3], k))
            i += 8
        }
        program = p
    }

    /// The filter's verdict (SECCOMP_RET_*) for syscall `nr` with `args`.
    func run(nr: Int32, arch: UInt32 = x86_64, args: [UInt64] = []) -> UInt32 {
        var data = [UInt8](repeating: 0, count: 64)
        func put32(_ v: UInt32, _ at: Int) { for b in 0..<4 { data[at + b] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(b))) } }
        put32(UInt32(bitPattern: nr), 0)
        put32(arch, 4)
        for (n, a) in args.enumerated() {
            put32(UInt32(truncatingIfNeeded: a), 16 + 8 * n)
            put32(UInt32(truncatingIfNeeded: a >> 32), 20 + 8 * n)
        }
        func load(_ at: Int) -> UInt32 { (0..<4).reduce(UInt32(0)) { $0 | UInt32(data[at + $1]) << (8 * UInt32($1)) } }
        var a: UInt32 = 0, x: UInt32 = 0
        var mem = [UInt32](repeating: 0, count: 16)
        var pc = 0
        while pc < program.count {
            let ins = program[pc]
            pc += 1
            let src = ins.code & 0x08 == 0 ? ins.k : x
            switch ins.code & 0x07 {
            case 0x00:  // LD
                switch ins.code & 0xe0 {
                case 0x00: a = ins.k
                case 0x20: a = load(Int(ins.k))
                case 0x60: a = mem[Int(ins.k)]
                default: Issue.record("ld mode \(ins.code)"); return 0
                }
            case 0x01:  // LDX
                x = ins.code & 0xe0 == 0x60 ? mem[Int(ins.k)] : ins.k
            case 0x02: mem[Int(ins.k)] = a
            case 0x03: mem[Int(ins.k)] = x
            case 0x04:  // ALU
                switch ins.code & 0xf0 {
                case 0x00: a = a &+ src
                case 0x10: a = a &- src
                case 0x40: a |= src
                case 0x50: a &= src
                case 0x60: a <<= src
                case 0x70: a >>= src
                case 0xa0: a ^= src
                default: Issue.record("alu op \(ins.code)"); return 0
                }
            case 0x05:  // JMP
                let taken: Bool
                switch ins.code & 0xf0 {
                case 0x00: pc += Int(ins.k); continue
                case 0x10: taken = a == src
                case 0x20: taken = a > src
                case 0x30: taken = a >= src
                case 0x40: taken = a & src != 0
                default: Issue.record("jmp op \(ins.code)"); return 0
                }
                pc += Int(taken ? ins.jt : ins.jf)
            case 0x06:  // RET
                return ins.code & 0x18 == 0x10 ? a : ins.k
            default:  // MISC
                if ins.code & 0xf8 == 0x80 { a = x } else { x = a }
            }
        }
        Issue.record("fell off the end of the program")
        return 0
    }

    static let allow: UInt32 = 0x7fff_0000
    static func errno(_ e: UInt32) -> UInt32 { 0x0005_0000 | e }
}

@Suite struct SeccompProfiles {
    static let amd64 = SeccompTarget(
        arch: "amd64", scmpArch: "SCMP_ARCH_X86_64", kernel: KernelVersion(kernel: 6, major: 1),
        capabilities: Set(Capabilities.dockerDefault.map { Capabilities.name($0) }))

    @Test func dockersDefaultProfileParses() throws {
        let p = try SeccompProfile.dockerDefault()
        #expect(p.defaultAction == .errno(1))
        #expect(p.archMap.first?.arch == "SCMP_ARCH_X86_64" && p.archMap.first?.sub == ["SCMP_ARCH_X86", "SCMP_ARCH_X32"])
        #expect(p.rules.count == 33)
        #expect(p.rules[0].action == .allow && p.rules[0].names.contains("read") && !p.rules[0].names.contains("mount"))
        let clone3 = p.rules.first { $0.names == ["clone3"] && $0.action != .allow }
        #expect(clone3?.action == .errno(38) && clone3?.excludes.caps == ["CAP_SYS_ADMIN"])
        let ptrace = p.rules.first { $0.names.contains("ptrace") && $0.includes.minKernel != nil }
        #expect(ptrace?.includes.minKernel == KernelVersion(kernel: 4, major: 8))
    }

    @Test func conditionsFollowCapabilitiesArchAndKernel() throws {
        let p = try SeccompProfile.dockerDefault()
        let f = p.resolve(for: Self.amd64)
        #expect(f.architectures == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
        func rules(_ f: SeccompFilter, _ name: String) -> [SeccompFilter.Rule] { f.rules.filter { $0.syscall == name } }
        #expect(rules(f, "mount").isEmpty && rules(f, "unshare").isEmpty && rules(f, "keyctl").isEmpty)
        // clone: allowed only without namespace flags (arg 0 on x86; arg 1 on s390).
        #expect(rules(f, "clone") == [SeccompFilter.Rule(syscall: "clone", action: .allow, args: [SeccompArg(index: 0, value: 0x7E02_0000, op: .maskedEq)])])
        #expect(rules(f, "clone3").map(\.action) == [.errno(38)])
        #expect(rules(f, "arch_prctl").count == 1 && rules(f, "s390_runtime_instr").isEmpty)
        #expect(rules(f, "ptrace").count == 1, "kernel 6.1 >= 4.8")
        #expect(rules(f, "chroot").count == 1, "CAP_SYS_CHROOT is a default capability")

        var admin = Self.amd64
        admin.capabilities.insert("CAP_SYS_ADMIN")
        let g = p.resolve(for: admin)
        #expect(rules(g, "mount").count == 1 && rules(g, "unshare").count == 1)
        #expect(rules(g, "clone").map(\.args) == [[]], "with CAP_SYS_ADMIN clone is allowed whatever its flags")
        #expect(rules(g, "clone3").map(\.action) == [.allow])

        var old = Self.amd64
        old.kernel = KernelVersion(kernel: 4, major: 4)
        #expect(rules(p.resolve(for: old), "ptrace").isEmpty)

        var s390 = Self.amd64
        s390.arch = "s390x"
        s390.scmpArch = "SCMP_ARCH_S390X"
        let s = p.resolve(for: s390)
        #expect(s.architectures == ["SCMP_ARCH_S390X", "SCMP_ARCH_S390"])
        #expect(rules(s, "clone").first?.args.first?.index == 1)
        #expect(rules(s, "arch_prctl").isEmpty && rules(s, "s390_runtime_instr").count == 1)
    }

    @Test func theCompiledFilterJudgesCallsAsDockersDoes() throws {
        let program = try SeccompProfile.dockerDefault().resolve(for: Self.amd64).compile()
        #expect(program.architectures == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
        #expect(program.defaultAction == "SCMP_ACT_ERRNO(1)")
        #expect(program.rules > 300 && program.bpf.count / 8 > 300)
        let m = SeccompMachine(bpf: program.bpf)
        let eperm = SeccompMachine.errno(1)
        // x86_64 numbers: read 0, mkdir 83, mount 165, unshare 272, keyctl 250, clone 56,
        // clone3 435, socket 41, personality 135, reboot 169, setns 308.
        #expect(m.run(nr: 0) == SeccompMachine.allow)
        #expect(m.run(nr: 83) == SeccompMachine.allow)
        for denied: Int32 in [165, 272, 250, 169, 308] { #expect(m.run(nr: denied) == eperm, "syscall \(denied)") }
        #expect(m.run(nr: 56, args: [0x0120_0011]) == SeccompMachine.allow, "fork's clone flags")
        #expect(m.run(nr: 56, args: [0x0002_0000 | 17]) == eperm, "clone(CLONE_NEWNS)")
        #expect(m.run(nr: 56, args: [0x4000_0000 | 17]) == eperm, "clone(CLONE_NEWNET)")
        #expect(m.run(nr: 435) == SeccompMachine.errno(38), "clone3: ENOSYS, so libc falls back to clone")
        #expect(m.run(nr: 41, args: [2, 1, 0]) == SeccompMachine.allow, "socket(AF_INET)")
        #expect(m.run(nr: 41, args: [40, 1, 0]) == eperm, "socket(AF_VSOCK)")
        #expect(m.run(nr: 135, args: [8]) == SeccompMachine.allow)
        #expect(m.run(nr: 135, args: [0x0040_0000]) == eperm, "personality(READ_IMPLIES_EXEC)")
        // The 32-bit x86 table has its own numbers: read 3, mount 21, keyctl 288.
        #expect(m.run(nr: 3, arch: SeccompMachine.i386) == SeccompMachine.allow)
        #expect(m.run(nr: 21, arch: SeccompMachine.i386) == eperm)
        #expect(m.run(nr: 288, arch: SeccompMachine.i386) == eperm)
        // An architecture the filter does not know never gets to its rules.
        #expect(m.run(nr: 0, arch: SeccompMachine.aarch64) != SeccompMachine.allow)
    }

    @Test func aCustomProfileBlocksWhatItNames() throws {
        let json = #"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":13}]}"#
        let p = try SeccompProfile.parse(Array(json.utf8))
        let f = p.resolve(for: Self.amd64)
        #expect(f.architectures.isEmpty, "no archMap: the native arch only")
        let program = try f.compile()
        let m = SeccompMachine(bpf: program.bpf)
        #expect(m.run(nr: 83) == SeccompMachine.errno(13))
        #expect(m.run(nr: 258) == SeccompMachine.errno(13), "mkdirat")
        #expect(m.run(nr: 165) == SeccompMachine.allow)
        #expect(program.rules == 2)
    }

    @Test func compiledProgramsAreCachedByTheirWholeKey() throws {
        let dir = NSTemporaryDirectory() + "vitro-seccomp-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let f = try SeccompProfile.dockerDefault().resolve(for: Self.amd64)
        let first = try f.compile(cacheDirectory: dir)
        let files = try FileManager.default.contentsOfDirectory(atPath: dir)
        #expect(files.count == 1 && files[0].hasSuffix(".bpf"))
        #expect(try f.compile(cacheDirectory: dir) == first)
        #expect(first == (try f.compile()))
        // Another capability set is another program, in another entry.
        var admin = Self.amd64
        admin.capabilities.insert("CAP_SYS_ADMIN")
        let g = try SeccompProfile.dockerDefault().resolve(for: admin)
        #expect(g.cacheKey != f.cacheKey)
        #expect(try g.compile(cacheDirectory: dir) != first)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).count == 2)
        // An entry whose key does not match exactly is not used (and is replaced).
        let path = dir + "/" + files[0]
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[0] ^= 1
        try bytes.write(to: URL(fileURLWithPath: path))
        #expect(SeccompFilter.Program(cacheFile: Array(bytes), key: f.cacheKey) == nil)
        #expect(try f.compile(cacheDirectory: dir) == first)
    }

    /// Docker's default profile is found in the cache under what it depends on (this
    /// binary, libseccomp, the target) without being parsed again; the program is the
    /// one the full path compiles.
    @Test func theDefaultProfileIsCachedUnderTheBinaryAndTarget() throws {
        let dir = NSTemporaryDirectory() + "vitro-seccomp-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let s = SecuritySettings()
        let uncached = try s.seccompLoad(capabilities: [0, 1])
        let first = try s.seccompLoad(capabilities: [0, 1], cacheDirectory: dir)
        #expect(first == uncached)
        // The entry of the whole rule set and the one of the default profile's key.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).count == 2)
        #expect(try s.seccompLoad(capabilities: [0, 1], cacheDirectory: dir) == uncached)
        // Other capabilities: another key, another program.
        let more = try s.seccompLoad(capabilities: [0, 1, 21], cacheDirectory: dir)
        #expect(more != nil && more?.bpf != uncached?.bpf)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).count == 4)
    }

    @Test func repeatedArgumentComparisonsBecomeSeparateRules() {
        let a = SeccompArg(index: 0, value: 1, op: .eq), b = SeccompArg(index: 0, value: 2, op: .eq), c = SeccompArg(index: 1, value: 3, op: .eq)
        #expect(SeccompFilter.conditionSets([a, c]) == [[a, c]])
        #expect(SeccompFilter.conditionSets([a, b]) == [[a], [b]])
        #expect(SeccompFilter.conditionSets([]) == [[]])
    }

    @Test func badProfilesAreRefusedWithOneLine() {
        func message(_ json: String) -> String {
            do { _ = try SeccompProfile.parse(Array(json.utf8)); return "" } catch { return error.message }
        }
        #expect(message("{bad").hasPrefix("json: "))
        #expect(message("[]") == "a profile is a JSON object")
        #expect(message(#"{"syscalls":[]}"#) == "no \"defaultAction\"")
        #expect(message(#"{"defaultAction":"SCMP_ACT_BOGUS"}"#) == "unknown action \"SCMP_ACT_BOGUS\"")
        #expect(message(#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":1,"op":"SCMP_CMP_ALMOST"}]}]}"#).contains("unknown \"op\""))
        #expect(message(#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"name":"read","names":["write"],"action":"SCMP_ACT_ALLOW"}]}"#).contains("both 'name' and 'names'"))
        #expect(message(#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86"],"archMap":[{"architecture":"SCMP_ARCH_X86_64"}]}"#).contains("both 'architectures' and 'archMap'"))
        #expect(message(#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","includes":{"minKernel":"4"}}]}"#).contains("invalid kernel version"))
        #expect(message(#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":7,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#).contains("index"))
    }

    @Test func unknownArchitecturesAreRefusedWhenCompiled() {
        let f = SeccompFilter(defaultAction: .errno(1), architectures: ["SCMP_ARCH_PDP11"], rules: [])
        #expect(throws: SeccompError.self) { try f.compile() }
    }

    @Test func kernelVersionsCompareByTheFirstTwoNumbers() {
        #expect(KernelVersion("6.1.0-18-amd64") == KernelVersion(kernel: 6, major: 1))
        #expect(KernelVersion("6.18.44-fc-v657") == KernelVersion(kernel: 6, major: 18))
        #expect(KernelVersion("4.8") ?? KernelVersion(kernel: 0, major: 0) < KernelVersion(kernel: 4, major: 10))
        #expect(KernelVersion("banana") == nil)
    }

    @Test func securityOptionsAreCheckedBeforeAnythingRuns() throws {
        func message(_ opts: [String], files: [String: String] = [:]) -> String {
            var s = SecuritySettings()
            do {
                try s.apply(securityOpts: opts) { path in
                    guard let t = files[path] else { throw SeccompError("no such file") }
                    return Array(t.utf8)
                }
                return ""
            } catch { return error.message }
        }
        #expect(message(["seccomp=unconfined", "no-new-privileges"]) == "")
        #expect(message(["seccomp=/p.json"]) == "opening seccomp profile /p.json failed: no such file")
        #expect(message(["seccomp=/p.json"], files: ["/p.json": "{"]).hasPrefix("decoding seccomp profile /p.json failed: json:"))
        #expect(message(["bogus"]) == "invalid --security-opt bogus: use seccomp=FILE|unconfined or no-new-privileges")
        #expect(message(["no-new-privileges=maybe"]).contains("true or false"))
        var s = SecuritySettings()
        try s.apply(securityOpts: ["seccomp:unconfined", "no-new-privileges:true"]) { _ in [] }
        #expect(s.noNewPrivileges)
        if case .unconfined = s.seccomp {} else { Issue.record("seccomp:unconfined (Docker's older syntax)") }
        s.privileged = true
        s.seccomp = .dockerDefault
        #expect(try s.seccompLoad(capabilities: nil) == nil, "--privileged loads no filter")
    }
}

@Suite struct PrivilegeInputs {
    @Test func ulimitsAsDockerNamesThem() throws {
        #expect(try Ulimit.parse("nofile=100:200") == Ulimit(name: "nofile", soft: 100, hard: 200))
        #expect(try Ulimit.parse("core=0") == Ulimit(name: "core", soft: 0, hard: 0))
        #expect(try Ulimit.parse("nproc=-1") == Ulimit(name: "nproc", soft: nil, hard: nil))
        #expect(try Ulimit.parse("nofile=100:200").resource == 7)
        #expect(try Ulimit.parse("nofile=100:200").kernelName == "RLIMIT_NOFILE")
        func message(_ s: String) -> String {
            do { _ = try Ulimit.parse(s); return "" } catch { return error.message }
        }
        #expect(message("bogus=1").hasPrefix("--ulimit bogus=1: invalid ulimit type: bogus"))
        #expect(message("nofile=200:100") == "--ulimit nofile=200:100: ulimit soft limit must be less than or equal to hard limit: 200 > 100")
        #expect(message("nofile").hasPrefix("--ulimit nofile: expected"))
        #expect(message("nofile=x").contains("invalid ulimit value"))
        #expect(try Ulimit.parse(Ulimit.parse("stack=8192:-1").text) == Ulimit(name: "stack", soft: 8192, hard: nil))
    }

    static let passwd = """
        root:x:0:0:root:/root:/bin/sh
        # a comment
        daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
        app:x:1000:1000:App:/home/app:/bin/sh
        nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
        """
    static let group = """
        root:x:0:
        wheel:x:10:root,app
        audio:x:29:app
        app:x:1000:
        staff:x:50:
        nogroup:x:65534:
        """

    @Test func usersResolveFromTheImagesFiles() throws {
        func r(_ s: String) throws -> ResolvedUser { try UserSpec(s).resolve(passwd: Self.passwd, group: Self.group) }
        #expect(try r("app") == ResolvedUser(uid: 1000, gid: 1000, groups: [10, 29], home: "/home/app"))
        #expect(try r("app:staff") == ResolvedUser(uid: 1000, gid: 50, groups: [], home: "/home/app"), "an explicit group: no supplementary groups (runc)")
        #expect(try r("1000") == ResolvedUser(uid: 1000, gid: 1000, groups: [10, 29], home: "/home/app"))
        #expect(try r("1000:1000") == ResolvedUser(uid: 1000, gid: 1000, groups: [], home: "/home/app"))
        #expect(try r("4242:4343") == ResolvedUser(uid: 4242, gid: 4343, groups: [], home: "/"))
        #expect(try r("4242") == ResolvedUser(uid: 4242, gid: 0, groups: [], home: "/"))
        #expect(try r("0") == ResolvedUser(uid: 0, gid: 0, groups: [10], home: "/root"))
        #expect(try r("nobody") == ResolvedUser(uid: 65534, gid: 65534, groups: [], home: "/nonexistent"))
        #expect(try UserSpec("0").resolve(passwd: "", group: "") == ResolvedUser(uid: 0, gid: 0, groups: [], home: "/"))
        func message(_ s: String) -> String {
            do { _ = try r(s); return "" } catch { return (error as? InitError)?.message ?? "\(error)" }
        }
        #expect(message("bogus") == "unable to find user bogus: no matching entries in passwd file")
        #expect(message("app:bogus") == "unable to find group bogus: no matching entries in group file")
        #expect(message(":1").hasPrefix("invalid user"))
        #expect(message("app:").hasPrefix("invalid user"))
    }

    @Test func tmpfsOptionsSplitIntoFlagsAndData() throws {
        let plain = try TmpfsMount.parse("/run")
        #expect(plain.target == "/run" && plain.flags == [.noExec, .noSuid, .noDev] && plain.data == "")
        let t = try TmpfsMount.parse("/tmp:rw,exec,size=64m,mode=1777")
        #expect(t.flags == [.noSuid, .noDev] && t.data == "size=64m,mode=1777")
        #expect(try TmpfsMount.parse(t.text) == t)
        #expect(try TmpfsMount.parse("/ro:ro").flags.contains(.readOnly))
        for bad in ["relative", "/", "/a/../b", "/x:bogus", "/x:size"] {
            #expect(throws: RootfsError.self, "\(bad)") { try TmpfsMount.parse(bad) }
        }
    }

    @Test func theSpecCarriesTheSecuritySettings() throws {
        var spec = InitSpec(rootfs: "/r", argv: ["/bin/sh"], env: [], hostname: "h")
        spec.seccomp = SeccompLoad(bpf: [6, 0, 0, 0, 0, 0, 0xff, 0x7f], defaultAction: "SCMP_ACT_ALLOW", rules: 0, architectures: ["SCMP_ARCH_X86_64"], profile: "/p.json")
        spec.noNewPrivileges = true
        spec.user = "app:staff"
        spec.ulimits = [Ulimit(name: "nofile", soft: 100, hard: 200)]
        spec.tmpfs = [try TmpfsMount.parse("/tmp:size=1m")]
        spec.maskedPaths = ["/proc/kcore"]
        spec.readonlyPaths = ["/proc/sys"]
        spec.readOnlyRootfs = true
        spec.initProcess = true
        #expect(try InitSpec.decode(spec.encode()) == spec)
        #expect(InitSpec.unhex("0g") == nil && InitSpec.unhex("abc") == nil)
    }

    @Test func dockersDeviceRulesInTheOrderRuncWritesThem() throws {
        #expect(DeviceRule.dockerDefault.map(\.description) == [
            "c 1:5 rwm", "c 1:3 rwm", "c 1:9 rwm", "c 1:8 rwm", "c 5:0 rwm", "c 5:1 rwm", "c 10:229 rwm", "c *:* m", "b *:* m",
            "c 1:7 rwm", "c 136:* rwm", "c 5:2 rwm", "c 10:200 rwm",
        ])
        let fs = FakeCgroupfs()
        defer { fs.remove() }
        let mem = MemorySink()
        Tracer.shared.addSink(mem)
        var limits = CgroupLimits()
        limits.devices = .rules(DeviceRule.dockerDefault)
        try CgroupV1(id: "c1", mounts: ["devices": fs.root + "/devices"]).create(limits)
        let writes = mem.events.filter { ($0.args["path"]?.text ?? "").hasPrefix(fs.root + "/devices/vitro/c1/devices.") }
        let lines = writes.map { "\(($0.args["path"]?.text ?? "").split(separator: "/").last ?? "") \($0.args["value"]?.text ?? "")" }
        #expect(lines.first == "devices.deny a", "deny everything first")
        #expect(lines.contains("devices.allow c 136:* rwm") && lines.contains("devices.deny c 10:229 rwm"))
        #expect(lines.count == 14)
        // `vitro update` leaves the rules alone.
        mem.removeAll()
        try CgroupV1(id: "c1", mounts: ["devices": fs.root + "/devices"]).create(CgroupLimits())
        #expect(!mem.events.contains { ($0.args["path"]?.text ?? "").hasPrefix(fs.root) })
    }
}
