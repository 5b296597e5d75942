// Chapter 00: the trace is complete (checked against strace) and in order.

import Foundation
import Testing

extension Integration {
    @Suite struct Ch00Trace {
        @Test func traceIsMergedInOrderWithEveryStage() throws {
            try leavesNothing {
                let box = try Sandbox()
                let tracePath = box.dir + "/t.jsonl"
                let o = try box.run(["/bin/true"], extra: ["--trace", tracePath])
                #expect(o.status == 0)
                let events = try readTrace(tracePath)
                #expect((events.first?["ph"] as? String) == "M")
                #expect(((events.first?["args"] as? [String: Any])?["schema"] as? Int) == 1)
                // The header is seq 0; the events count up from 1 with no gap.
                let seqs = events.compactMap { $0["seq"] as? Int }
                #expect(seqs == Array(0..<seqs.count), "seq must count up with no gap")
                let stages = events.filter { ($0["ph"] as? String) == "B" }.compactMap { $0["name"] as? String }
                #expect(stages == ["rootfs", "namespaces", "cgroups", "network", "exec"])
                let names = events.compactMap { $0["name"] as? String }
                for call in ["unshare", "fork", "mount", "pivot_root", "umount2", "sethostname", "execve"] {
                    #expect(names.contains(call), "no \(call) in the trace")
                }
                // Events of vitro-init's pid 1 carry its host pid, not 1.
                let pivot = events.first { ($0["name"] as? String) == "pivot_root" }
                #expect((pivot?["pid"] as? Int ?? 1) > 1)
                #expect((pivot?["stage"] as? String) == "namespaces")
                #expect(pivot?["why"] is String && pivot?["shell"] is String)
                // Flags print by name.
                let bind = events.first { ($0["name"] as? String) == "mount" && (($0["args"] as? [String: Any])?["flags"] as? String) == "MS_BIND|MS_REC" }
                #expect(bind != nil)
                // The container's execve comes after every mount, in the exec stage.
                let lastMount = events.lastIndex { ($0["name"] as? String) == "mount" } ?? 0
                let exec = events.lastIndex { ($0["name"] as? String) == "execve" } ?? 0
                #expect(exec > lastMount)
                #expect((events[exec]["stage"] as? String) == "exec")
            }
        }

        /// Runs a container under strace and returns what strace saw and vitro's trace.
        func straceRun(_ box: Sandbox) throws -> ([StraceCall], [[String: Any]]) {
            let tracePath = box.dir + "/t.jsonl"
            let straceOut = box.dir + "/strace.txt"
            let o = try runProcess(
                "/usr/bin/strace",
                ["-f", "-qq", "-s", "4096", "-o", straceOut, "-e", "trace=" + StraceCheck.covered.sorted().joined(separator: ","),
                 Binaries.vitro, "run", "--rootfs", box.rootfs, "--trace", tracePath, "--ulimit", "nofile=1000:2000",
                 "--security-opt", "no-new-privileges", "/bin/true"],
                env: box.env)
            #expect(o.status == 0, "\(o.stderr)")
            let calls = StraceCheck.parse(try String(contentsOfFile: straceOut, encoding: .utf8))
            return (calls, try readTrace(tracePath))
        }

        @Test(.enabled(if: Conditions.hasStrace, "needs strace (apt-get install strace)"))
        func everyPrivilegedCallStraceSawIsInTheTrace() throws {
            try leavesNothing {
                let box = try Sandbox()
                let (calls, trace) = try straceRun(box)
                let covered = calls.filter { StraceCheck.covered.contains($0.name) }
                #expect(covered.filter { $0.name == "mount" }.count >= 6, "strace saw too few mounts: \(covered)")
                #expect(covered.contains { $0.name == "pivot_root" })
                for name in ["seccomp", "prlimit64", "setresuid", "setresgid", "setgroups"] {
                    #expect(covered.contains { $0.name == name && StraceCheck.key(strace: $0) != nil }, "strace saw no \(name)")
                }
                let missing = StraceCheck.missing(strace: calls, trace: trace)
                #expect(missing.isEmpty, "in strace but not in vitro's trace: \(missing)")
            }
        }

        @Test(.enabled(if: Conditions.hasStrace, "needs strace (apt-get install strace)"))
        func theCheckFailsWhenAGroupIsDropped() throws {
            let box = try Sandbox()
            let (calls, trace) = try straceRun(box)
            for group in ["mount", "namespace", "process", "capability", "seccomp"] {
                let dropped = trace.filter { ($0["group"] as? String) != group }
                let missing = StraceCheck.missing(strace: calls, trace: dropped)
                #expect(!missing.isEmpty, "dropping the \(group) group went unnoticed")
            }
            let mountMissing = StraceCheck.missing(strace: calls, trace: trace.filter { ($0["group"] as? String) != "mount" })
            #expect(Set(mountMissing.map(\.name)) == ["mount", "umount2", "pivot_root"])
        }
    }

    @Suite struct LearnRun {
        @Test func walkthroughRunsThroughEveryStage() throws {
            try leavesNothing {
                let box = try Sandbox()
                let o = try box.vitro(["learn", "run", "--auto"])
                #expect(o.status == 0, "\(o.stderr)")
                for heading in ["Stage 1: prepare the root filesystem", "Stage 2: create namespaces", "Stage 3: apply cgroup limits", "Stage 4: wire the network", "Stage 5: exec the container's process", "Done"] {
                    #expect(o.stdout.contains(heading), "missing \(heading)")
                }
                #expect(o.stdout.contains("I am pid 1"))
                #expect(o.stdout.contains("$ pivot_root . ."))
                #expect(o.stdout.contains("The code that made them: Sources/VitroNamespaces/RootfsPlan.swift ("), "each stage names the files its calls came from")
                #expect(o.stdout.contains("The host's mount table is exactly as before"))
                let wide = o.stdout.split(separator: "\n").filter { $0.count > 80 }
                #expect(wide.isEmpty, "lines wider than 80 columns: \(wide.prefix(3))")
            }
        }

        /// The walkthrough keeps the stages one after the other (a plain run on v1 makes
        /// the cgroup while vitro-init builds the namespaces), so each can be paused on.
        @Test func walkthroughStagesDoNotOverlap() throws {
            try leavesNothing {
                let box = try Sandbox()
                let trace = box.dir + "/learn.jsonl"
                let o = try box.vitro(["learn", "run", "--auto", "--trace", trace])
                #expect(o.status == 0, "\(o.stderr)")
                let spans = try readTrace(trace).filter { ($0["cat"] as? String) == "stage" && ["B", "E"].contains($0["ph"] as? String ?? "") }
                    .map { "\($0["ph"] as? String ?? "") \($0["name"] as? String ?? "")" }
                #expect(spans == ["B rootfs", "E rootfs", "B namespaces", "E namespaces", "B cgroups", "E cgroups", "B network", "E network", "B exec", "E exec"]
                        || spans == ["B rootfs", "E rootfs", "B cgroups", "E cgroups", "B namespaces", "E namespaces", "B network", "E network", "B exec", "E exec"], "\(spans)")
            }
        }

        @Test func pausesWaitForEnterAndQQuitsCleanly() throws {
            try leavesNothing {
                let box = try Sandbox()
                // Three Enters get through rootfs, namespaces and cgroups; q at the exec
                // pause quits with pid 1 made and in its cgroup, which must all go.
                let o = try box.vitro(["learn", "run"], input: "\n\n\nq\n")
                #expect(o.status == 125)
                #expect(o.stdout.contains("Stage 3"))
                #expect(!o.stdout.contains("I am pid 1"))
                #expect(o.stderr == "vitro: walkthrough stopped\n")
            }
        }
    }
}
