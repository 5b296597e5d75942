// Chapter 04 without root: the cgroup v2 device program. Its bytes are checked against
// an encoding worked out by hand (annotated hex), and its meaning by running the bytes
// in a small eBPF interpreter written here, independent of the assembler, against a
// reference statement of the rule semantics (deny a, the last matching rule decides).

import Testing

@testable import VitroCgroups

/// Runs a device program's bytes on one request, as the kernel would: r1 points at
/// bpf_cgroup_dev_ctx { access_type = access << 16 | type, major, minor }.
func runDeviceProgram(_ bytes: [UInt8], type: UInt32, access: UInt32, major: UInt32, minor: UInt32) -> UInt64? {
    let code = BPFInstruction.decode(bytes)
    let ctx: [UInt32] = [access << 16 | type, major, minor]
    let contextPointer: UInt64 = 0xC0DE  // r1 at entry; loads must go through it
    var r = [UInt64](repeating: 0, count: 11)
    r[1] = contextPointer
    var pc = 0
    var steps = 0
    while pc < code.count, steps < 10_000 {
        steps += 1
        let i = code[pc]
        let d = Int(i.dst), s = Int(i.src)
        let k = UInt64(bitPattern: Int64(i.imm))
        pc += 1
        switch i.opcode {
        case 0x61:
            guard r[s] == contextPointer, i.offset % 4 == 0, i.offset >= 0, Int(i.offset) / 4 < ctx.count else { return nil }
            r[d] = UInt64(ctx[Int(i.offset) / 4])
        case 0x54: r[d] = (r[d] & 0xffff_ffff) & (k & 0xffff_ffff)
        case 0x74: r[d] = (r[d] & 0xffff_ffff) >> (k & 31)
        case 0xb4: r[d] = k & 0xffff_ffff
        case 0xbc: r[d] = r[s] & 0xffff_ffff
        case 0x55: if r[d] != k { pc += Int(i.offset) }
        case 0x5d: if r[d] != r[s] { pc += Int(i.offset) }
        case 0x15: if r[d] == k { pc += Int(i.offset) }
        case 0x95: return r[0]
        default: return nil
        }
    }
    return nil
}

/// true: allowed, false: denied, nil: the program did something the kernel would refuse.
func run(_ f: DeviceFilter, _ type: String, _ access: String, _ major: UInt32, _ minor: UInt32) -> Bool? {
    runDeviceProgram(f.bytes, type: type == "b" ? 1 : 2, access: UInt32(DeviceFilter.accessBits(access)), major: major, minor: minor).map { $0 == 1 }
}

/// The semantics stated plainly: deny everything, then each rule that matches decides.
func reference(_ rules: [DeviceRule], _ type: String, _ access: String, _ major: Int, _ minor: Int) -> Bool {
    var allowed = false
    let want = DeviceFilter.accessBits(access)
    for rule in rules {
        let typeOK = rule.type == "a" || rule.type == type
        let numbersOK = rule.type == "a" || ((rule.major ?? major) == major && (rule.minor ?? minor) == minor)
        let has = rule.type == "a" ? 7 : DeviceFilter.accessBits(rule.access)
        let accessOK = rule.allow ? (want & has) == want : (want & has) != 0
        if typeOK && numbersOK && accessOK { allowed = rule.allow }
    }
    return allowed
}

@Suite struct DeviceFilterProgram {
    static func allow(_ t: String, _ ma: Int?, _ mi: Int?, _ acc: String = "rwm") -> DeviceRule {
        DeviceRule(allow: true, type: t, major: ma, minor: mi, access: acc)
    }
    static func deny(_ t: String, _ ma: Int?, _ mi: Int?, _ acc: String = "rwm") -> DeviceRule {
        DeviceRule(allow: false, type: t, major: ma, minor: mi, access: acc)
    }

    /// allow c 1:3 rwm; deny c 1:3 w; allow b *:* m — encoded by hand from linux/bpf.h.
    @Test func goldenEncodingOfASmallRuleSet() {
        let f = DeviceFilter(rules: [Self.allow("c", 1, 3), Self.deny("c", 1, 3, "w"), Self.allow("b", nil, nil, "m")])
        let golden: [String] = [
            // op   regs  offset  imm
            "61 12 0000 00000000",  //  0 r2 = *(u32 *)(r1 +0)     access_type
            "54 02 0000 ffff0000",  //  1 w2 &= 0xffff             type
            "61 13 0000 00000000",  //  2 r3 = *(u32 *)(r1 +0)
            "74 03 0000 10000000",  //  3 w3 >>= 16                access
            "61 14 0400 00000000",  //  4 r4 = *(u32 *)(r1 +4)     major
            "61 15 0800 00000000",  //  5 r5 = *(u32 *)(r1 +8)     minor
            "b4 00 0000 00000000",  //  6 w0 = 0                   deny a
            "55 02 0300 02000000",  //  7 if r2 != 2 goto 11       allow c 1:3 rwm
            "55 04 0200 01000000",  //  8 if r4 != 1 goto 11
            "55 05 0100 03000000",  //  9 if r5 != 3 goto 11
            "b4 00 0000 01000000",  // 10 w0 = 1
            "55 02 0600 02000000",  // 11 if r2 != 2 goto 18       deny c 1:3 w
            "55 04 0500 01000000",  // 12 if r4 != 1 goto 18
            "55 05 0400 03000000",  // 13 if r5 != 3 goto 18
            "bc 31 0000 00000000",  // 14 w1 = w3
            "54 01 0000 04000000",  // 15 w1 &= 4 (write)
            "15 01 0100 00000000",  // 16 if r1 == 0 goto 18
            "b4 00 0000 00000000",  // 17 w0 = 0
            "55 02 0400 01000000",  // 18 if r2 != 1 goto 23      allow b *:* m
            "bc 31 0000 00000000",  // 19 w1 = w3
            "54 01 0000 01000000",  // 20 w1 &= 1 (mknod)
            "5d 31 0100 00000000",  // 21 if r1 != r3 goto 23
            "b4 00 0000 01000000",  // 22 w0 = 1
            "95 00 0000 00000000",  // 23 exit
        ]
        let hex = f.bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }
        let lines = stride(from: 0, to: hex.count, by: 8).map { i in
            "\(hex[i]) \(hex[i + 1]) \(hex[i + 2])\(hex[i + 3]) \(hex[i + 4])\(hex[i + 5])\(hex[i + 6])\(hex[i + 7])"
        }
        #expect(lines == golden)
        #expect(BPFInstruction.decode(f.bytes) == f.instructions, "decode is the inverse of bytes")
    }

    @Test func theListingReadsAsTheKernelsDisassembler() {
        let f = DeviceFilter(rules: [Self.allow("c", 1, 3), Self.deny("c", 1, 3, "w"), Self.allow("b", nil, nil, "m")])
        let l = f.listing
        #expect(l.count == 24)
        #expect(l[0].hasPrefix("  0: (61) r2 = *(u32 *)(r1 +0)") && l[0].hasSuffix("; access_type"))
        #expect(l[1].hasPrefix("  1: (54) w2 &= 65535"))
        #expect(l[6].hasPrefix("  6: (b4) w0 = 0") && l[6].contains("; deny a"))
        #expect(l[7].hasPrefix("  7: (55) if r2 != 0x2 goto pc+3") && l[7].hasSuffix("; allow c 1:3 rwm"))
        #expect(l[14].hasPrefix(" 14: (bc) w1 = w3"))
        #expect(l[16].hasPrefix(" 16: (15) if r1 == 0x0 goto pc+1"))
        #expect(l[18].hasSuffix("; allow b *:* m"))
        #expect(l[21].hasPrefix(" 21: (5d) if r1 != r3 goto pc+1"))
        #expect(l[23].hasPrefix(" 23: (95) exit"))
    }

    @Test func dockersDefaultRules() {
        let f = DeviceFilter(rules: DeviceRule.dockerDefault)
        #expect(run(f, "c", "r", 1, 3) == true, "/dev/null")
        #expect(run(f, "c", "rw", 1, 5) == true, "/dev/zero")
        #expect(run(f, "c", "rw", 136, 7) == true, "a pty slave: c 136:* (wildcard minor)")
        #expect(run(f, "c", "rw", 5, 2) == true, "/dev/ptmx")
        #expect(run(f, "c", "r", 1, 1) == false, "/dev/mem is not on the list")
        #expect(run(f, "c", "m", 1, 1) == true, "but any node may be created (c *:* m)")
        #expect(run(f, "b", "m", 8, 0) == true, "b *:* m")
        #expect(run(f, "b", "r", 8, 0) == false, "the host's disk cannot be opened")
        #expect(run(f, "c", "rw", 10, 229) == false, "fuse stays denied")
        #expect(run(f, "c", "m", 10, 229) == true, "v1 and runc: c *:* m comes after the fuse deny, so fuse may be created")
        #expect(run(f, "c", "rw", 10, 200) == true, "tun")
    }

    @Test func aLaterRuleOverridesAnEarlierOne() {
        let allowThenDeny = DeviceFilter(rules: [Self.allow("c", 1, 3), Self.deny("c", 1, 3, "w")])
        #expect(run(allowThenDeny, "c", "r", 1, 3) == true)
        #expect(run(allowThenDeny, "c", "w", 1, 3) == false, "the later deny wins")
        #expect(run(allowThenDeny, "c", "rw", 1, 3) == false, "a deny refuses when it names any access asked for")
        #expect(run(allowThenDeny, "c", "m", 1, 3) == true)
        let denyThenAllow = DeviceFilter(rules: [Self.deny("c", 1, 3), Self.allow("c", 1, 3, "r")])
        #expect(run(denyThenAllow, "c", "r", 1, 3) == true, "the later allow wins for what it grants")
        #expect(run(denyThenAllow, "c", "rw", 1, 3) == false, "an allow must grant every access asked for")
        let wildcardDeny = DeviceFilter(rules: [Self.allow("c", 1, 3), Self.deny("c", nil, nil, "m")])
        #expect(run(wildcardDeny, "c", "m", 1, 3) == false)
        #expect(run(wildcardDeny, "c", "rw", 1, 3) == true)
    }

    @Test func wildcardsAndTheAllType() {
        let anyMajor = DeviceFilter(rules: [Self.allow("c", nil, 5, "r")])
        #expect(run(anyMajor, "c", "r", 9, 5) == true)
        #expect(run(anyMajor, "c", "r", 9, 6) == false)
        #expect(run(anyMajor, "b", "r", 9, 5) == false, "the type still counts")
        #expect(run(anyMajor, "c", "w", 9, 5) == false)
        let all = DeviceFilter(rules: [DeviceRule(allow: true, type: "a", major: nil, minor: nil, access: "")])
        #expect(run(all, "b", "rwm", 8, 0) == true, "a: every type, number and access")
        let allButBlock = DeviceFilter(rules: [Self.allow("a", nil, nil), Self.deny("b", nil, nil)])
        #expect(run(allButBlock, "c", "rw", 1, 1) == true)
        #expect(run(allButBlock, "b", "r", 8, 0) == false)
        let none = DeviceFilter(rules: [])
        #expect(none.instructions.count == 8 && run(none, "c", "r", 1, 3) == false, "no rules: deny a")
    }

    /// Random rule lists against the plain statement of the semantics, on every request
    /// over a small grid of numbers.
    @Test func randomRuleListsMatchTheReference() {
        var seed: UInt64 = 0x5eed
        func next(_ n: Int) -> Int {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((seed >> 33) % UInt64(n))
        }
        let accesses = ["r", "w", "m", "rw", "rm", "wm", "rwm"]
        for _ in 0..<200 {
            let rules = (0..<next(6)).map { _ in
                DeviceRule(
                    allow: next(2) == 0, type: ["a", "b", "c", "c"][next(4)], major: next(3) == 0 ? nil : next(3),
                    minor: next(3) == 0 ? nil : next(3), access: accesses[next(accesses.count)])
            }
            let f = DeviceFilter(rules: rules)
            for t in ["b", "c"] {
                for acc in accesses {
                    for major in 0..<3 {
                        for minor in 0..<3 {
                            let got = run(f, t, acc, UInt32(major), UInt32(minor))
                            let want = reference(rules, t, acc, major, minor)
                            #expect(got == want, "\(rules) on \(t) \(major):\(minor) \(acc)")
                        }
                    }
                }
            }
        }
    }
}
