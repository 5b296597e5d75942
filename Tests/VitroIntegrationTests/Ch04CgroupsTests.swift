// Chapter 04 on the real kernel: limits enforced, OOM reported, cgroups removed.

import Foundation
import Testing
import VitroCgroups

extension Integration {
    @Suite struct Ch04Cgroups {
        static func v2Driver(id: String) throws -> any CgroupDriver { CgroupV2(id: id, root: unified) }
        static func noLimits() -> CgroupLimits { CgroupLimits() }

        static let isV1 = FileManager.default.fileExists(atPath: "/sys/fs/cgroup/memory/memory.limit_in_bytes")

        @Test(.enabled(if: isV1, "needs a cgroup v1 memory hierarchy (this machine's layout)"))
        func memoryLimitEndsInAnOOMKillReportedAs137() throws {
            try leavesNothing {
                let box = try Sandbox()
                let trace = box.dir + "/t.jsonl"
                                // ulimit -v bounds the shell even if the cgroup were not applied: a bug
                // must fail this test, not exhaust the host's memory.
                let o = try box.run(["/bin/sh", "-c", "ulimit -v 262144; a=aaaaaaaaaaaaaaaa; while :; do a=$a$a; done"], extra: ["-m", "16m", "--trace", trace, "--name", "oom"])
                #expect(o.status == 137)
                #expect(try box.vitro(["inspect", "-f", "{{.State.OOMKilled}} {{.State.ExitCode}}", "oom"]).stdout == "true 137\n")
                let exit = try readTrace(trace).last { ($0["name"] as? String) == "exit" }
                #expect(((exit?["args"] as? [String: Any])?["oom_killed"] as? Bool) == true)
                // A SIGKILL that is not the OOM killer's is not reported as OOM.
                let o2 = try box.run(["/bin/sh", "-c", "true"], extra: ["-m", "16m", "--trace", trace])
                #expect(o2.status == 0)
                let exit2 = try readTrace(trace).last { ($0["name"] as? String) == "exit" }
                #expect(((exit2?["args"] as? [String: Any])?["oom_killed"] as? Bool) == false)
            }
        }

        /// pid 1 moves itself: vitro opens each hierarchy's `tasks` and passes the
        /// descriptors; pid 1 writes `0`. The host sees the container's processes in
        /// the container's cgroup in every hierarchy, and the trace says who wrote.
        @Test(.enabled(if: isV1, "needs cgroup v1 hierarchies (this machine's layout)"))
        func pid1JoinsEveryHierarchyByWritingZeroIntoTasks() throws {
            try leavesNothing {
                let box = try Sandbox()
                let trace = box.dir + "/t.jsonl"
                let o = try box.run(["/bin/sh", "-c", "sleep 0.3 & wait"], extra: ["--trace", trace, "--name", "joiner"])
                #expect(o.status == 0, "\(o.stderr)")
                let events = try readTrace(trace)
                let id = try box.vitro(["inspect", "-f", "{{.Id}}", "joiner"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                #expect(id.count == 64)
                let pid1 = events.first { ($0["name"] as? String) == "sethostname" }?["pid"] as? Int
                let joins = events.filter {
                    ($0["name"] as? String) == "write" && ((($0["args"] as? [String: Any])?["path"] as? String)?.hasSuffix("/tasks") == true)
                }
                let hierarchies = ["cpuset", "cpu", "cpuacct", "memory", "pids", "blkio", "freezer", "devices"]
                    .filter { FileManager.default.fileExists(atPath: "/sys/fs/cgroup/\($0)/tasks") }
                #expect(joins.count == hierarchies.count, "one write of 0 per hierarchy: \(joins.count)")
                for h in hierarchies {
                    let e = joins.first { (($0["args"] as? [String: Any])?["path"] as? String) == "/sys/fs/cgroup/\(h)/vitro/\(id)/tasks" }
                    #expect(e != nil, "no join of \(h)")
                    #expect(((e?["args"] as? [String: Any])?["value"] as? String) == "0")
                    #expect(e?["pid"] as? Int == pid1, "pid 1 wrote it, not vitro")
                    #expect(e?["stage"] as? String == "cgroups")
                }
                #expect(!events.contains { ((($0["args"] as? [String: Any])?["path"] as? String)?.hasSuffix("/cgroup.procs") == true) && ($0["name"] as? String) == "write" },
                        "nothing writes a pid into cgroup.procs")
                // vitro made the cgroup while vitro-init built the namespaces: its span
                // lies inside theirs, and pid 1 had joined before they ended.
                let spans = events.filter { ($0["cat"] as? String) == "stage" && ["B", "E"].contains($0["ph"] as? String ?? "") }
                    .map { "\($0["ph"] as? String ?? "") \($0["name"] as? String ?? "")" }
                let nested = ["B namespaces", "B cgroups", "E cgroups", "E namespaces"]
                #expect(spans.filter { nested.contains($0) } == nested, "\(spans)")
                let seq = { (e: [String: Any]) in e["seq"] as? Int ?? -1 }
                let nsEnd = events.first { ($0["ph"] as? String) == "E" && ($0["name"] as? String) == "namespaces" }.map(seq) ?? -1
                #expect(joins.allSatisfy { seq($0) < nsEnd }, "pid 1 joins before the namespaces stage ends")
            }
        }

        /// While a container runs, the host sees its pid 1 and the children it started in
        /// the container's cgroup in every hierarchy (the move took the whole process).
        @Test(.enabled(if: isV1, "needs cgroup v1 hierarchies (this machine's layout)"))
        func theWholeContainerIsInItsCgroups() throws {
            try leavesNothing {
                let box = try Sandbox()
                let d = try box.vitro(["run", "-d", "--name", "held", "--rootfs", box.rootfs, "/bin/sh", "-c", "sleep 30 & sleep 30 & wait"])
                #expect(d.status == 0, "\(d.stderr)")
                defer { _ = try? box.vitro(["rm", "-f", "held"]) }
                let id = d.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                let pid = try box.vitro(["inspect", "-f", "{{.State.Pid}}", "held"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                var members: [String] = []
                for _ in 0..<100 {
                    members = try String(contentsOfFile: "/sys/fs/cgroup/pids/vitro/\(id)/cgroup.procs", encoding: .utf8).split(separator: "\n").map(String.init)
                    if members.count >= 3 { break }
                    usleep(20_000)
                }
                #expect(members.contains(pid), "pid 1 (\(pid)) in cgroup.procs: \(members)")
                #expect(members.count == 3, "pid 1 and its two sleeps: \(members)")
                let text = try String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8)
                for h in ["cpu", "memory", "pids", "freezer", "devices"] where FileManager.default.fileExists(atPath: "/sys/fs/cgroup/\(h)/tasks") {
                    #expect(text.split(separator: "\n").contains { $0.contains(":\(h)") && $0.hasSuffix(":/vitro/\(id)") }, "\(h): \(text)")
                }
            }
        }

        @Test(.enabled(if: isV1, "needs a cgroup v1 memory hierarchy (this machine's layout)"))
        func theContainerSeesItsOwnCgroupAsRootAndTheLimitIsWritten() throws {
            try leavesNothing {
                let box = try Sandbox()
                let trace = box.dir + "/t.jsonl"
                let o = try box.run(["/bin/sh", "-c", "cat /proc/self/cgroup"], extra: ["-m", "32m", "--trace", trace])
                #expect(o.status == 0)
                let lines = o.stdout.split(separator: "\n")
                #expect(lines.contains("4:memory:/") || lines.contains { $0.hasSuffix(":memory:/") }, "\(o.stdout)")
                let writes = try readTrace(trace).filter { ($0["group"] as? String) == "cgroup" && ($0["name"] as? String) == "write" }
                let paths = writes.compactMap { ($0["args"] as? [String: Any])?["path"] as? String }
                #expect(paths.contains { $0.hasSuffix("/memory.limit_in_bytes") })
                let limit = writes.first { (($0["args"] as? [String: Any])?["path"] as? String)?.hasSuffix("/memory.limit_in_bytes") == true }
                #expect(((limit?["args"] as? [String: Any])?["value"] as? String) == String(32 << 20))
                #expect((limit?["why"] as? String)?.contains("memory.max") == true)
            }
        }

        @Test(.enabled(if: FileManager.default.fileExists(atPath: "/sys/fs/cgroup/pids/cgroup.procs"), "needs the v1 pids controller"))
        func aForkBombIsContainedByThePidsLimit() throws {
            try leavesNothing {
                let box = try Sandbox()
                let p = Process()
                p.executableURL = URL(fileURLWithPath: Binaries.vitro)
                                // A bounded bomb (at most 2^9 processes even with no limit at all), so that a
                // bug fails this test instead of taking the host down. pid 1 forks only the
                // bomb's root and then counts with builtins: busybox sh exits when a fork
                // fails, and pid 1 must outlive the bomb.
                let bomb = "f(){ if [ $1 -gt 0 ]; then f $(($1-1)) & f $(($1-1)) & fi; i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; }; "
                    + "(f 8) 2>/dev/null & i=0; while [ $i -lt 1000000 ]; do i=$((i+1)); done"
                p.arguments = ["run", "--rootfs", box.rootfs, "--pids-limit", "20", "/bin/sh", "-c", bomb]
                p.environment = box.env
                p.standardOutput = FileHandle.nullDevice
                p.standardError = FileHandle.nullDevice
                try p.run()
                // Sample the container's pids cgroup from the host while the bomb runs, and
                // check the host still starts a process promptly.
                var most: Int64 = 0
                var limitHit: Int64 = 0
                var slowest = 0.0
                while p.isRunning {
                    for id in (try? FileManager.default.contentsOfDirectory(atPath: "/sys/fs/cgroup/pids/vitro")) ?? [] where id.count == 64 {
                        let dir = "/sys/fs/cgroup/pids/vitro/" + id
                        if let n = Int64((try? String(contentsOfFile: dir + "/pids.current", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") { most = max(most, n) }
                        if let ev = try? String(contentsOfFile: dir + "/pids.events", encoding: .utf8), let n = Int64(ev.split(separator: " ").last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") { limitHit = max(limitHit, n) }
                    }
                    let t = Date()
                    _ = try? runProcess("/bin/true", [])
                    slowest = max(slowest, Date().timeIntervalSince(t))
                    usleep(20_000)
                }
                #expect(most > 1 && most <= 20, "pids.current peaked at \(most)")
                #expect(limitHit > 0, "the limit was never reached: the bomb did not run")
                #expect(slowest < 1.0, "the host took \(slowest) s to start /bin/true")
            }
        }

        @Test(.enabled(if: isV1, "needs the v1 cpu controller"))
        func halfACPUHoldsABusyLoopToHalfACore() throws {
            let box = try Sandbox()
            let o = try box.run(["/bin/sh", "-c", "time timeout 3 sh -c 'while :; do :; done'"], extra: ["--cpus", "0.5"])
            // busybox time: "real\t0m 3.00s\nuser\t0m 1.52s\nsys\t0m 0.00s" on stderr.
            func seconds(_ key: String) -> Double {
                guard let line = o.stderr.split(separator: "\n").first(where: { $0.hasPrefix(key + "\t") }) else { return 0 }
                let parts = line.dropFirst(key.count + 1).split(whereSeparator: { $0 == " " || $0 == "m" || $0 == "s" })
                return (Double(parts.first ?? "0") ?? 0) * 60 + (Double(parts.dropFirst().first ?? "0") ?? 0)
            }
            let real = seconds("real"), used = seconds("user") + seconds("sys")
            #expect(real > 2.5, "\(o.stderr)")
            let share = used / real
            #expect(share >= 0.4 && share <= 0.6, "used \(used) s of CPU in \(real) s: \(share) of a core")
        }

        @Test(.enabled(if: isV1, "needs the v1 memory and cpu controllers"))
        func statsReadsTheCgroupAndUpdateChangesIt() throws {
            try leavesNothing {
                let box = try Sandbox()
                let run = try box.vitro(["run", "-d", "--name", "busy", "-m", "64m", "--rootfs", box.rootfs, "/bin/sh", "-c", "while :; do :; done"])
                #expect(run.status == 0, "\(run.stderr)")
                let id = run.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                defer { _ = try? box.vitro(["rm", "-f", "busy"]) }
                func row() throws -> [String] {
                    let o = try box.vitro(["stats", "--no-stream", "busy"])
                    let line = o.stdout.split(separator: "\n").dropFirst().first.map(String.init) ?? ""
                    return line.components(separatedBy: "   ").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
                }
                func cpu(_ r: [String]) -> Double { Double(r.count > 2 ? r[2].dropLast() : "0") ?? 0 }
                usleep(300_000)
                var r = try row()
                #expect(r.count == 7 && r[1] == "busy", "\(r)")
                // A busy loop takes a core, or what a busy machine leaves it (other work
                // competes for this machine's two cores): well above the limit set below.
                #expect(cpu(r) > 40, "a busy loop uses (most of) a core: \(r)")
                #expect(r[3].hasSuffix(" / 64.00MiB"), "\(r)")
                #expect(r[6] == "1")
                // update: the files change, and stats follows.
                #expect(try box.vitro(["update", "-m", "128m", "--cpus", "0.2", "busy"]).status == 0)
                let limit = try String(contentsOfFile: "/sys/fs/cgroup/memory/vitro/\(id)/memory.limit_in_bytes", encoding: .utf8)
                #expect(limit == "134217728\n")
                let quota = try String(contentsOfFile: "/sys/fs/cgroup/cpu/vitro/\(id)/cpu.cfs_quota_us", encoding: .utf8)
                #expect(quota == "20000\n")
                usleep(500_000)
                r = try row()
                #expect(r.count == 7 && r[3].hasSuffix(" / 128.00MiB"), "\(r)")
                // The quota is a ceiling whatever else runs: at most a fifth of a core.
                #expect(cpu(r) > 5 && cpu(r) < 27, "--cpus 0.2 holds it to a fifth of a core: \(r)")
                let none = try box.vitro(["update", "busy"])
                #expect(none.status == 125 && none.stderr == "vitro: you must provide one or more flags when using this command\n")
            }
        }

        static let unified = "/sys/fs/cgroup/unified"
        static let hasUnified = FileManager.default.fileExists(atPath: unified + "/cgroup.procs")

        /// The v2 driver on this machine's real cgroup2 mount. It holds no memory, cpu or
        /// pids controller here (only hugetlb), so limits cannot be checked on it; what it
        /// allows is checked: the driver's mkdir, cgroup.procs, rmdir, and the kernel's
        /// cgroup.freeze and cgroup.events.
        @Test(.enabled(if: hasUnified, "needs a cgroup2 mount at /sys/fs/cgroup/unified (this machine's hybrid layout)"))
        func theV2DriverOnTheRealCgroup2Mount() throws {
            try leavesNothing {
                let id = String(repeating: "e", count: 64)
                let v2 = try Self.v2Driver(id: id)
                let sleeper = Process()
                sleeper.executableURL = URL(fileURLWithPath: "/bin/sleep")
                sleeper.arguments = ["30"]
                try sleeper.run()
                defer { sleeper.terminate(); sleeper.waitUntilExit() }
                try v2.create(Self.noLimits())
                try "\(sleeper.processIdentifier)".write(toFile: v2.joinFiles[0], atomically: false, encoding: .utf8)
                let dir = Self.unified + "/vitro/" + id
                let procs = try String(contentsOfFile: dir + "/cgroup.procs", encoding: .utf8)
                #expect(procs == "\(sleeper.processIdentifier)\n")
                #expect(try String(contentsOfFile: "/proc/\(sleeper.processIdentifier)/cgroup", encoding: .utf8).contains("0::/vitro/\(id)"))
                try "1".write(toFile: dir + "/cgroup.freeze", atomically: false, encoding: .utf8)
                var frozen = false
                for _ in 0..<50 where !frozen {
                    frozen = (try String(contentsOfFile: dir + "/cgroup.events", encoding: .utf8)).contains("frozen 1")
                    if !frozen { usleep(20_000) }
                }
                #expect(frozen, "cgroup.events never said frozen 1")
                let state = try String(contentsOfFile: "/proc/\(sleeper.processIdentifier)/stat", encoding: .utf8).split(separator: " ")[2]
                #expect(state == "S" || state == "D", "a frozen task sleeps (state \(state))")
                try "0".write(toFile: dir + "/cgroup.freeze", atomically: false, encoding: .utf8)
                sleeper.terminate()
                sleeper.waitUntilExit()
                try v2.destroy()
                #expect(!FileManager.default.fileExists(atPath: dir))
                #expect(!FileManager.default.fileExists(atPath: Self.unified + "/vitro"))
            }
        }

        @Test func badLimitsCreateNothing() throws {
            try leavesNothing {
                let box = try Sandbox()
                for (flags, message) in [
                    (["-m", "1x"], "vitro: --memory 1x: invalid size (use a number with b, k, m, g or t)\n"),
                    (["--cpus", "-1"], "vitro: --cpus -1: must be a number greater than 0\n"),
                    (["-m", "1k"], "vitro: --memory 1k: the minimum memory limit is 6MB\n"),
                    (["--cpuset-cpus", "99"], nil),
                ] {
                    let o = try box.run(["/bin/true"], extra: flags)
                    #expect(o.status == 125, "\(flags)")
                    if let message { #expect(o.stderr == message) } else { #expect(o.stderr.hasPrefix("vitro: --cpuset-cpus 99: CPU 99 not available")) }
                }
                #expect(!FileManager.default.fileExists(atPath: box.root + "/traces"), "a refused run must not even start a trace")
            }
        }

        @Test(.enabled(if: isV1, "needs a cgroup v1 memory hierarchy"))
        func aDeadRunsCgroupIsRemovedByTheNextRun() throws {
            try leavesNothing {
                let box = try Sandbox()
                // A cgroup as a killed vitro would leave it: no lock held, no process.
                let id = String(repeating: "d", count: 64)
                let dirs = ["memory", "pids", "cpu"].map { "/sys/fs/cgroup/\($0)/vitro/\(id)" }
                for d in dirs { try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true) }
                let o = try box.run(["/bin/true"])
                #expect(o.status == 0)
                for d in dirs { #expect(!FileManager.default.fileExists(atPath: d), "\(d) is still there") }
            }
        }
    }
}
