// Chapter 04 on the real kernel: cgroup v2's device allowlist. This machine is hybrid:
// v1 controllers, plus a cgroup2 mount at /sys/fs/cgroup/unified that holds only
// hugetlb. A BPF_CGROUP_DEVICE program attaches to any cgroup2 directory whatever its
// controllers, so the program vitro builds is loaded, verified and attached here for
// real, and a shell moved into the cgroup is held to it. The shell stays in the root
// cgroup of v1's devices hierarchy, which allows every device, and the same device node
// opens from outside the cgroup: what is refused inside is refused by the program.

import Foundation
import Testing
import VitroCgroups
import VitroSys
import VitroTrace

extension Integration.Ch04Cgroups {
    static let noBPF = "needs the cgroup2 mount at /sys/fs/cgroup/unified (this machine's hybrid layout) and root for bpf(2)"
    static let canBPF = hasUnified && getuid() == 0

    /// Runs `script` with /bin/sh. With `move`, the shell waits on stdin until `move` has
    /// been given its pid (to put it in a cgroup), so no line runs outside the cgroup.
    static func shell(_ script: String, move: ((Int32) throws -> Void)? = nil) throws -> (out: String, err: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", "read go; " + script]
        let input = Pipe(), out = Pipe(), err = Pipe()
        p.standardInput = input
        p.standardOutput = out
        p.standardError = err
        try p.run()
        do {
            try move?(p.processIdentifier)
        } catch {
            p.terminate()
            p.waitUntilExit()
            throw error
        }
        input.fileHandleForWriting.write(Data("go\n".utf8))
        try input.fileHandleForWriting.close()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    /// A directory for device nodes, on a filesystem mounted without nodev.
    static func nodeDir() throws -> String {
        let d = "/var/tmp/vitro-devnodes-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: false)
        return d
    }

    /// The engine's v2 driver, given Docker's rules, attaches one program to the
    /// container's cgroup; a process in it may use null and zero and create any node,
    /// but not open /dev/kmsg (c 1:11) or a disk (b 8:0) through a node it made.
    @Test(.enabled(if: canBPF, "\(noBPF)"))
    func theV2DriverEnforcesDockersDeviceRulesWithABPFProgram() throws {
        try leavesNothing {
            let id = String(repeating: "d", count: 64)
            let v2 = CgroupV2(id: id, root: Self.unified)
            let dir = Self.unified + "/vitro/" + id
            let nodes = try Self.nodeDir()
            defer { try? FileManager.default.removeItem(atPath: nodes) }
            let sink = MemorySink()
            Tracer.shared.addSink(sink)
            var limits = CgroupLimits()
            limits.devices = .rules(DeviceRule.dockerDefault)
            try v2.create(limits)
            var destroyed = false
            defer { if !destroyed { try? v2.destroy() } }
            #expect(try Sys.cgroupDevicePrograms(dir).count == 1, "one BPF_CGROUP_DEVICE program on the container's cgroup")

            let script = """
                grep ':devices:' /proc/self/cgroup; grep '^0::' /proc/self/cgroup
                mknod \(nodes)/kmsg c 1 11 && echo mknod-c-ok
                true < \(nodes)/kmsg && echo open-kmsg-ok
                mknod \(nodes)/disk b 8 0 && echo mknod-b-ok
                true < \(nodes)/disk && echo open-disk-ok
                head -c1 /dev/zero | wc -c
                echo x > /dev/null && echo null-ok
                """
            let r = try Self.shell(script) { try "\($0)".write(toFile: v2.joinFiles[0], atomically: false, encoding: .utf8) }
            #expect(r.out.contains("5:devices:/\n") || r.out.contains(":devices:/\n"), "v1's devices cgroup is the root, which allows all: \(r.out)")
            #expect(r.out.contains("0::/vitro/\(id)\n"), "the shell is in the v2 cgroup: \(r.out)")
            #expect(r.out.contains("mknod-c-ok") && r.out.contains("mknod-b-ok"), "c *:* m and b *:* m: any node may be made: \(r.out) \(r.err)")
            #expect(!r.out.contains("open-kmsg-ok") && !r.out.contains("open-disk-ok"), "\(r.out)")
            #expect(r.err.contains("\(nodes)/kmsg: Operation not permitted"), "\(r.err)")
            #expect(r.err.contains("\(nodes)/disk: Operation not permitted"), "\(r.err)")
            #expect(r.out.contains("\n1\n") && r.out.contains("null-ok"), "/dev/zero and /dev/null are on the list: \(r.out) \(r.err)")

            // The same node opens from outside the cgroup: the program refused it.
            let outside = try Self.shell("true < \(nodes)/kmsg && echo open-kmsg-ok") { _ in }
            #expect(outside.out == "open-kmsg-ok\n", "\(outside.err)")

            // The trace: the load carries the program's disassembly, the attach names the cgroup.
            let bpf = sink.events.filter { $0.name == "bpf" }
            let load = bpf.first { $0.args["cmd"] == .string("BPF_PROG_LOAD") }
            guard case .list(let listing)? = load?.args["program"] else {
                Issue.record("no BPF_PROG_LOAD event with the program's listing")
                return
            }
            #expect(listing.count == DeviceFilter(rules: DeviceRule.dockerDefault).instructions.count)
            #expect(listing.first?.contains("(61) r2 = *(u32 *)(r1 +0)") == true && listing.last?.contains("(95) exit") == true)
            #expect(listing.contains { $0.hasSuffix("; deny c 10:229 rwm") })
            #expect(load?.ret ?? -1 >= 0)
            let attach = bpf.first { $0.args["cmd"] == .string("BPF_PROG_ATTACH") }
            #expect(attach?.args["cgroup"] == .string(dir) && attach?.args["attach_flags"] == .flags("BPF_F_ALLOW_MULTI"))
            #expect(attach?.shell?.hasPrefix("bpftool cgroup attach \(dir) device pinned") == true)
            #expect(!sink.events.contains { $0.args["enforced"] == .bool(false) }, "the old \"not enforced\" note is gone")

            // Removing the cgroup detaches and frees the program.
            try v2.destroy()
            destroyed = true
            #expect(!FileManager.default.fileExists(atPath: dir))
        }
    }

    /// vitro's loader and attacher with rule lists of the test's own, on a cgroup of the
    /// test's own: a later deny overrides an earlier allow, `a` allows everything, no m
    /// rule means no mknod; detaching gives the devices back.
    @Test(.enabled(if: canBPF, "\(noBPF)"))
    func ruleOrderHoldsOnTheRealKernelAndDetachingUndoesIt() throws {
        try leavesNothing {
            let dir = Self.unified + "/vitro-bpftest-\(getpid())"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false)
            defer {
                // rmdir, not removeItem: a cgroup's control files cannot be unlinked. It
                // may say EBUSY for a moment after the last process exits.
                for _ in 0..<100 where rmdir(dir) != 0 && errno == EBUSY { usleep(10_000) }
            }
            let nodes = try Self.nodeDir()
            defer { try? FileManager.default.removeItem(atPath: nodes) }
            let move: (Int32) throws -> Void = { pid in try "\(pid)".write(toFile: dir + "/cgroup.procs", atomically: false, encoding: .utf8) }
            func attach(_ rules: [DeviceRule]) throws {
                let f = DeviceFilter(rules: rules)
                let fd = try Sys.loadCgroupDeviceProgram(f.bytes, listing: f.listing, name: "vitro_test")
                defer { Sys.close(fd) }
                try Sys.attachCgroupDeviceProgram(fd, cgroup: dir, name: "vitro_test")
            }
            let script = """
                true < /dev/null && echo null-r
                echo x > /dev/null && echo null-w
                true < /dev/zero && echo zero-r
                echo x > /dev/zero && echo zero-w
                mknod \(nodes)/n$$ c 1 3 && echo mknod
                """

            // allow null rwm, then deny its w; zero read only; deny every mknod.
            try attach([
                DeviceRule(allow: true, type: "c", major: 1, minor: 3, access: "rwm"),
                DeviceRule(allow: true, type: "c", major: 1, minor: 5, access: "r"),
                DeviceRule(allow: false, type: "c", major: 1, minor: 3, access: "w"),
                DeviceRule(allow: false, type: "c", major: nil, minor: nil, access: "m"),
            ])
            let a = try Self.shell(script, move: move)
            #expect(a.out == "null-r\nzero-r\n", "\(a.out) \(a.err)")
            #expect(a.err.contains("/dev/null: Operation not permitted") && a.err.contains("Operation not permitted"), "\(a.err)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: nodes).isEmpty, "mknod was refused")
            try Sys.detachCgroupDevicePrograms(cgroup: dir)
            #expect(try Sys.cgroupDevicePrograms(dir).isEmpty)

            // `a`, then deny zero: everything but zero.
            try attach([
                DeviceRule(allow: true, type: "a", major: nil, minor: nil, access: "rwm"),
                DeviceRule(allow: false, type: "c", major: 1, minor: 5, access: "rwm"),
            ])
            let b = try Self.shell(script, move: move)
            #expect(b.out == "null-r\nnull-w\nmknod\n", "\(b.out) \(b.err)")
            #expect(b.err.contains("/dev/zero: Operation not permitted"), "\(b.err)")
            try Sys.detachCgroupDevicePrograms(cgroup: dir)

            // Detached: the cgroup's processes may use every device again.
            let c = try Self.shell(script, move: move)
            #expect(c.out == "null-r\nnull-w\nzero-r\nzero-w\nmknod\n", "\(c.out) \(c.err)")
        }
    }

    /// A program the verifier refuses (it returns r0 without setting it) fails the load
    /// with the verifier's own words in the error.
    @Test(.enabled(if: canBPF, "\(noBPF)"))
    func aRefusedProgramCarriesTheVerifierLog() throws {
        let exitOnly = BPFInstruction.exit.bytes
        do {
            let fd = try Sys.loadCgroupDeviceProgram(exitOnly, listing: ["0: (95) exit"], name: "vitro_bad")
            Sys.close(fd)
            Issue.record("the verifier accepted a program that never sets r0")
        } catch {
            #expect(error.errno == EACCES || error.errno == EINVAL)
            #expect(error.description.contains("verifier: ") && error.description.contains("R0 !read_ok"), "\(error)")
            #expect(!error.description.contains("\n"), "one line")
        }
    }

    /// On v2 pid 1 is born in its cgroup: the cgroup stage runs before the namespaces and
    /// vitro-init forks pid 1 with clone3(CLONE_INTO_CGROUP); nothing writes cgroup.procs.
    /// The host sees pid 1 and what it starts in the container's v2 cgroup.
    @Test(.enabled(if: Integration.Ch04Cgroups.hasUnified, "needs a cgroup2 mount at /sys/fs/cgroup/unified (this machine's hybrid layout)"))
    func onV2Pid1IsBornInItsCgroup() throws {
        try leavesNothing {
            let box = try Sandbox()
            let env = box.env.merging(["VITRO_CGROUP": "v2"]) { $1 }
            let trace = box.dir + "/t.jsonl"
            let d = try runProcess(Binaries.vitro, ["run", "-d", "--name", "born", "--rootfs", box.rootfs, "--trace", trace, "/bin/sh", "-c", "sleep 30 & wait"], env: env)
            #expect(d.status == 0, "\(d.stderr)")
            defer { _ = try? runProcess(Binaries.vitro, ["rm", "-f", "born"], env: env) }
            let id = d.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let pid = try runProcess(Binaries.vitro, ["inspect", "-f", "{{.State.Pid}}", "born"], env: env).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let dir = Integration.Ch04Cgroups.unified + "/vitro/" + id
            var members: [String] = []
            for _ in 0..<100 {
                members = ((try? String(contentsOfFile: dir + "/cgroup.procs", encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
                if members.count >= 2 { break }
                usleep(20_000)
            }
            #expect(members.contains(pid) && members.count == 2, "pid 1 (\(pid)) and its sleep: \(members)")
            #expect(try String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8).contains("0::/vitro/\(id)\n"))
            _ = try runProcess(Binaries.vitro, ["rm", "-f", "born"], env: env)
            let events = try readTrace(trace)
            let stages = events.filter { ($0["ph"] as? String) == "B" && ($0["cat"] as? String) == "stage" }.compactMap { $0["name"] as? String }
            #expect(Array(stages.prefix(3)) == ["rootfs", "cgroups", "namespaces"], "the cgroup first: \(stages)")
            #expect(stages.filter { $0 == "cgroups" }.count == 1)
            // Two events: stage A's (returns pid 1's pid) and pid 1's own (returns 0).
            let clones = events.filter { ($0["name"] as? String) == "clone3" && (($0["args"] as? [String: Any])?["cgroup"] as? String) == dir }
            #expect(clones.count == 2 && clones.allSatisfy { (($0["args"] as? [String: Any])?["flags"] as? String) == "CLONE_INTO_CGROUP" }, "pid 1 forked into \(dir): \(clones)")
            #expect(clones.contains { ($0["ret"] as? Int ?? 0) > 0 } && clones.contains { ($0["ret"] as? Int) == 0 })
            #expect(!events.contains { ($0["name"] as? String) == "write" && ((($0["args"] as? [String: Any])?["path"] as? String)?.hasSuffix("/cgroup.procs") == true) },
                    "nothing moves into the cgroup")
        }
    }

    /// A whole `vitro run` on the v2 path: VITRO_CGROUP=v2 makes this hybrid host use its
    /// cgroup2 mount with the v2 driver, so the container's only device allowlist is the
    /// BPF program (v1 is not touched; the container stays in v1's root devices cgroup).
    @Test(.enabled(if: canBPF, "\(noBPF)"))
    func aContainerOnTheV2PathIsHeldToTheDeviceProgram() throws {
        try leavesNothing {
            let box = try Sandbox()
            let env = box.env.merging(["VITRO_CGROUP": "v2"]) { $1 }
            let trace = box.dir + "/t.jsonl"
            let script = "grep -c ':/$' /proc/self/cgroup; mknod /tmp/disk b 8 0 && echo made; head -c1 /tmp/disk; echo open=$?; head -c1 /dev/zero | wc -c; echo x > /dev/null && echo null-ok"
            let o = try runProcess(Binaries.vitro, ["run", "--rootfs", box.rootfs, "--trace", trace, "/bin/sh", "-c", script], env: env)
            #expect(o.status == 0, "\(o.stderr)")
            #expect(o.stdout.contains("made\nopen=1\n1\nnull-ok\n"), "\(o.stdout)")
            #expect(o.stderr.contains("/tmp/disk: Operation not permitted"), "\(o.stderr)")
            let events = try readTrace(trace)
            let note = events.first { ($0["name"] as? String) == "cgroup" }
            #expect(((note?["args"] as? [String: Any])?["layout"] as? String) == "v2", "the v2 driver ran")
            let bpf = events.filter { ($0["name"] as? String) == "bpf" }.compactMap { ($0["args"] as? [String: Any])?["cmd"] as? String }
            #expect(bpf == ["BPF_PROG_LOAD", "BPF_PROG_ATTACH"])
            #expect(!events.contains { ($0["name"] as? String) == "write" && (($0["args"] as? [String: Any])?["path"] as? String ?? "").contains("devices.") }, "no v1 devices file is written")

            // --privileged: no program; the disk node opens past the cgroup (whatever the
            // disk driver then says, it is not EPERM).
            let p = try runProcess(Binaries.vitro, ["run", "--rootfs", box.rootfs, "--privileged", "--trace", box.dir + "/p.jsonl", "/bin/sh", "-c", "mknod /tmp/disk b 8 0; head -c1 /tmp/disk > /dev/null"], env: env)
            #expect(!p.stderr.contains("Operation not permitted"), "\(p.stderr)")
            #expect(!(try readTrace(box.dir + "/p.jsonl")).contains { ($0["name"] as? String) == "bpf" })

            // -t: the container's terminal is a pty slave (c 136:N), on the list; script(1)
            // gives vitro a terminal of its own.
            if FileManager.default.isExecutableFile(atPath: "/usr/bin/script") {
                let cmd = "\(Binaries.vitro) run -t --rm --rootfs \(box.rootfs) /bin/sh -c 'tty; echo to-tty > /dev/tty; echo to-console > /dev/console'"
                let t = try runProcess("/usr/bin/script", ["-qc", cmd, "/dev/null"], env: env)
                #expect(t.status == 0 && t.stdout.contains("/dev/pts/0") && t.stdout.contains("to-tty") && t.stdout.contains("to-console"), "\(t.stdout) \(t.stderr)")
            }
        }
    }
}
