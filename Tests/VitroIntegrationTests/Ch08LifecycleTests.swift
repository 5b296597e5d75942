// Chapter 08: detached containers, their logs and state, and the commands that act on
// them — the "long-running worker" section of the tutorial, with vitro for docker.

import Foundation
import Testing

extension Integration {
    @Suite struct Ch08Lifecycle {
        @Test func theTutorialsWorker() throws {
            try leavesNothing {
                let box = try Sandbox()
                let run = try box.vitro(["run", "-d", "--rootfs", box.rootfs, "/bin/sh", "-c", "while true; do echo Hello world; sleep 0.2; done"])
                #expect(run.status == 0, "\(run.stderr)")
                let job = run.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                #expect(job.count == 64 && job.allSatisfy(\.isHexDigit))
                usleep(700_000)
                let logs = try box.vitro(["logs", job])
                #expect(logs.status == 0)
                let lines = logs.stdout.split(separator: "\n")
                #expect(lines.count >= 2 && lines.allSatisfy { $0 == "Hello world" }, "\(logs.stdout)")
                let ps = try box.vitro(["ps", "-q"])
                #expect(ps.stdout == String(job.prefix(12)) + "\n")
                let pid = try box.vitro(["inspect", "-f", "{{.State.Pid}} {{.State.Running}}", job])
                let fields = pid.stdout.split(separator: " ")
                #expect(fields.count == 2 && (Int(fields[0]) ?? 0) > 1 && fields[1] == "true\n", "\(pid.stdout)")
                let kill = try box.vitro(["kill", job])
                #expect(kill.status == 0 && kill.stdout == job + "\n")
                let wait = try box.vitro(["wait", job])
                #expect(wait.stdout == "137\n")
                let state = try box.vitro(["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}} {{json .State.Running}}", job])
                #expect(state.stdout == "exited 137 false\n")
                #expect(try box.vitro(["ps", "-q"]).stdout == "")
                #expect(try box.vitro(["ps", "-a", "-q"]).stdout == String(job.prefix(12)) + "\n")
                let rm = try box.vitro(["rm", job])
                #expect(rm.status == 0)
                #expect(try box.vitro(["ps", "-a", "-q"]).stdout == "")
                let gone = try box.vitro(["logs", job])
                #expect(gone.status == 1 && gone.stderr == "vitro: no such container: \(job)\n")
            }
        }

        @Test func namesAreUniqueAndStopUsesSIGTERMFirst() throws {
            try leavesNothing {
                let box = try Sandbox()
                let a = try box.vitro(["run", "-d", "--name", "web", "--rootfs", box.rootfs, "/bin/sh", "-c", "trap 'echo bye; exit 3' TERM; while :; do sleep 0.1; done"])
                #expect(a.status == 0)
                let b = try box.vitro(["run", "-d", "--name", "web", "--rootfs", box.rootfs, "/bin/true"])
                #expect(b.status == 125)
                #expect(b.stderr.hasPrefix("vitro: the container name \"/web\" is already in use"))
                let rmRunning = try box.vitro(["rm", "web"])
                #expect(rmRunning.status == 1 && rmRunning.stderr.contains("cannot remove a running container"))
                usleep(300_000)
                let stop = try box.vitro(["stop", "-t", "5", "web"])
                #expect(stop.status == 0 && stop.stdout == "web\n")
                #expect(try box.vitro(["inspect", "-f", "{{.State.ExitCode}}", "web"]).stdout == "3\n")
                #expect(try box.vitro(["logs", "web"]).stdout == "bye\n")
                #expect(try box.vitro(["rm", "web"]).status == 0)
            }
        }

        @Test func anExecdProcessSeesOnlyItsStdioAndBadControlInputIsOneLine() throws {
            try leavesNothing {
                let box = try Sandbox()
                #expect(try box.vitro(["run", "-d", "--name", "web", "--rootfs", box.rootfs, "/bin/sh", "-c", "sleep 30"]).status == 0)
                // fd 3 is ls's own directory stream (closed by the time ls reads its link);
                // nothing of vitro's is inherited.
                let fds = try box.vitro(["exec", "web", "ls", "-l", "/proc/self/fd"])
                let names = fds.stdout.split(separator: "\n").compactMap { l -> String? in
                    let f = l.split(separator: " ", omittingEmptySubsequences: true)
                    return f.count > 8 ? String(f[8]) : nil
                }
                #expect(names == ["0", "1", "2", "3"], "\(fds.stdout)")
                for (args, message) in [
                    (["kill", "-s", "BOGUS", "web"], "vitro: invalid signal: BOGUS\n"),
                    (["kill", "nosuch"], "vitro: no such container: nosuch\n"),
                    (["stop", "nosuch"], "vitro: no such container: nosuch\n"),
                    (["exec", "nosuch", "true"], "vitro: no such container: nosuch\n"),
                ] {
                    let o = try box.vitro(args)
                    #expect(o.status != 0 && o.stderr == message, "\(args): \(o.stderr)")
                }
                #expect(try box.vitro(["rm", "-f", "web"]).status == 0)
            }
        }

        @Test func concurrentRunsWithDuplicateNamesHaveOneWinnerEach() throws {
            try leavesNothing {
                let box = try Sandbox()
                // All fifty start at once (Process.run does not wait), so the names overlap.
                var procs: [(Process, Pipe)] = []
                for i in 0..<50 {
                    let p = Process()
                    p.executableURL = URL(fileURLWithPath: Binaries.vitro)
                    p.arguments = ["run", "--rm", "--name", "n\(i % 10)", "--rootfs", box.rootfs, "/bin/sleep", "3"]
                    p.environment = box.env
                    let err = Pipe()
                    p.standardError = err
                    p.standardOutput = FileHandle.nullDevice
                    p.standardInput = FileHandle.nullDevice
                    try p.run()
                    procs.append((p, err))
                }
                var codes: [Int32] = []
                var errors: [String] = []
                for (p, err) in procs {
                    errors.append(String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
                    p.waitUntilExit()
                    codes.append(p.terminationStatus)
                }
                #expect(codes.filter { $0 == 0 }.count == 10, "exit codes \(codes)")
                #expect(errors.filter { $0.contains("is already in use") }.count == 40, "\(errors)")
                #expect(try box.vitro(["ps", "-a", "-q"]).stdout == "")
                let locks = (try? FileManager.default.contentsOfDirectory(atPath: box.root + "/containers")) ?? []
                #expect(locks.allSatisfy { $0.hasPrefix(".") }, "left in the store: \(locks)")
            }
        }

        /// The files bound into a container's /etc live in the run root, not with its
        /// record: inspect names them, `start` after a reboot (the run root emptied) writes
        /// them again, `rm` and `--rm` remove them, and the record is made durable only
        /// for a container that outlives its run.
        @Test func runTimeFilesLiveInTheRunRoot() throws {
            try leavesNothing {
                let box = try Sandbox()
                let first = try box.run(["/bin/cat", "/etc/hostname"], extra: ["--name", "files", "--hostname", "filebox"])
                #expect(first.status == 0 && first.stdout == "filebox\n", "\(first.stderr)")
                let id = try box.vitro(["inspect", "-f", "{{.Id}}", "files"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                let dir = box.runRoot + "/containers/" + id
                let paths = try box.vitro(["inspect", "-f", "{{.HostnamePath}} {{.HostsPath}} {{.ResolvConfPath}}", "files"]).stdout
                #expect(paths == "\(dir)/hostname \(dir)/hosts \(dir)/resolv.conf\n")
                #expect(try String(contentsOfFile: dir + "/hostname", encoding: .utf8) == "filebox\n")
                let record = try FileManager.default.contentsOfDirectory(atPath: box.root + "/containers/" + id)
                #expect(!record.contains("hosts") && !record.contains("hostname") && !record.contains("resolv.conf"), "\(record)")
                // A reboot empties /run: start writes the files again.
                try FileManager.default.removeItem(atPath: box.runRoot)
                let again = try box.vitro(["start", "-a", "files"])
                #expect(again.status == 0 && again.stdout == "filebox\n", "\(again.stderr)")
                #expect(FileManager.default.fileExists(atPath: dir + "/hosts"))
                #expect(try box.vitro(["rm", "files"]).status == 0)
                #expect(!FileManager.default.fileExists(atPath: dir), "rm removes the run-time files")
                // --rm: nothing is left in either root.
                let gone = try box.run(["/bin/cat", "/etc/hosts"], extra: ["--rm"])
                #expect(gone.status == 0 && gone.stdout.hasPrefix("127.0.0.1\tlocalhost\n"), "\(gone.stderr)")
                #expect(((try? FileManager.default.contentsOfDirectory(atPath: box.runRoot + "/containers")) ?? []).isEmpty)
                #expect(((try? FileManager.default.contentsOfDirectory(atPath: box.root + "/containers")) ?? []).allSatisfy { $0.hasPrefix(".") })
            }
        }

        /// A `--rm` run waits for no disk: no fsync at all. A container that outlives its
        /// run gets its record fsync'ed once its command has started.
        @Test(.enabled(if: Conditions.hasStrace, "needs strace"))
        func onlyARecordThatOutlivesItsRunIsMadeDurable() throws {
            try leavesNothing {
                let box = try Sandbox()
                func syncs(_ extra: [String]) throws -> [String] {
                    let out = box.dir + "/strace.txt"
                    let o = try runProcess(
                        "/usr/bin/strace", ["-f", "-e", "trace=fsync,fdatasync,sync,syncfs", "-o", out, Binaries.vitro, "run"] + extra + ["--rootfs", box.rootfs, "/bin/true"],
                        env: box.env)
                    #expect(o.status == 0, "\(o.stderr)")
                    return try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n").map(String.init).filter { $0.contains("sync") && !$0.contains("exited") }
                }
                #expect(try syncs(["--rm"]).isEmpty)
                let kept = try syncs(["--name", "kept"])
                #expect(kept.count == 3, "config.json, its directory, containers/: \(kept)")
                #expect(try box.vitro(["rm", "kept"]).status == 0)
            }
        }

        @Test func startAndRestartRunTheSameContainerAgain() throws {
            try leavesNothing {
                let box = try Sandbox()
                let first = try box.run(["/bin/sh", "-c", "echo run >> /tmp/runs; wc -l < /tmp/runs; exit 4"], extra: ["--name", "again"])
                #expect(first.status == 4 && first.stdout.trimmingCharacters(in: .whitespaces) == "1\n")
                // start: detached, prints the name, and the container sees what it wrote before.
                let start = try box.vitro(["start", "again"])
                #expect(start.status == 0 && start.stdout == "again\n", "\(start.stderr)")
                #expect(try box.vitro(["wait", "again"]).stdout == "4\n")
                #expect(try box.vitro(["logs", "again"]).stdout.trimmingCharacters(in: .whitespaces) == "2\n")
                // start -a: in the foreground, with the command's exit code.
                let attached = try box.vitro(["start", "-a", "again"])
                #expect(attached.status == 4 && attached.stdout.trimmingCharacters(in: .whitespaces) == "3\n")
                // restart: stop (SIGTERM first), then start again under the same id.
                let d = try box.vitro(["run", "-d", "--name", "loop", "--rootfs", box.rootfs, "/bin/sh", "-c", "trap 'exit 0' TERM; echo up; while :; do sleep 0.1; done"])
                let id = d.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                usleep(300_000)
                #expect(try box.vitro(["restart", "-t", "3", "loop"]).stdout == "loop\n")
                usleep(300_000)
                #expect(try box.vitro(["ps", "-q", "--no-trunc"]).stdout == id + "\n")
                #expect(try box.vitro(["logs", "loop"]).stdout == "up\nup\n")
                #expect(try box.vitro(["rm", "-f", "loop", "again"]).status == 0)
            }
        }

        @Test(.enabled(if: FileManager.default.fileExists(atPath: "/sys/fs/cgroup/freezer/cgroup.procs") || FileManager.default.fileExists(atPath: "/sys/fs/cgroup/cgroup.freeze"), "needs a freezer (v1 freezer controller or v2)"))
        func pauseTopAndRename() throws {
            try leavesNothing {
                let box = try Sandbox()
                let d = try box.vitro(["run", "-d", "--name", "counter", "--rootfs", box.rootfs, "/bin/sh", "-c", "i=0; while :; do i=$((i+1)); echo $i > /tmp/count; sleep 0.05; done"])
                let id = d.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                usleep(400_000)
                let top = try box.vitro(["top", "counter"])
                #expect(top.stdout.hasPrefix("UID   PID") && top.stdout.contains("/bin/sh -c i=0"), "\(top.stdout)")
                #expect(try box.vitro(["pause", "counter"]).stdout == "counter\n")
                #expect(try box.vitro(["ps"]).stdout.contains("(Paused)"))
                let frozen = try String(contentsOfFile: box.rootfs + "/tmp/count", encoding: .utf8)
                usleep(400_000)
                #expect(try String(contentsOfFile: box.rootfs + "/tmp/count", encoding: .utf8) == frozen, "the counter moved while paused")
                #expect(try box.vitro(["unpause", "counter"]).status == 0)
                usleep(400_000)
                #expect(try String(contentsOfFile: box.rootfs + "/tmp/count", encoding: .utf8) != frozen, "the counter did not move after unpause")
                #expect(try box.vitro(["unpause", "counter"]).stderr == "vitro: container \(id.prefix(12)) is not paused\n")
                #expect(try box.vitro(["rename", "counter", "renamed"]).status == 0)
                #expect(try box.vitro(["inspect", "-f", "{{.Name}}", id]).stdout == "/renamed\n")
                // A paused container can still be removed by force.
                _ = try box.vitro(["pause", "renamed"])
                #expect(try box.vitro(["rm", "-f", "renamed"]).status == 0)
            }
        }

        @Test func foregroundRunsAreRecordedAndRmRemovesThem() throws {
            try leavesNothing {
                let box = try Sandbox()
                _ = try box.run(["/bin/sh", "-c", "exit 4"], extra: ["--name", "once"])
                #expect(try box.vitro(["inspect", "-f", "{{.State.ExitCode}} {{.Name}}", "once"]).stdout == "4 /once\n")
                _ = try box.run(["/bin/true"], extra: ["--rm", "--name", "gone"])
                let o = try box.vitro(["inspect", "gone"])
                #expect(o.status == 1)
                let detachedRm = try box.vitro(["run", "-d", "--rm", "--name", "dd", "--rootfs", box.rootfs, "/bin/true"])
                #expect(detachedRm.status == 0)
                usleep(500_000)
                #expect(try box.vitro(["ps", "-a", "-q"]).stdout.split(separator: "\n").count == 1, "only `once` remains")
            }
        }

        @Test func aDetachedCommandThatCannotStartIsReported() throws {
            try leavesNothing {
                let box = try Sandbox()
                let o = try box.vitro(["run", "-d", "--rootfs", box.rootfs, "no-such-command"])
                #expect(o.status == 127)
                #expect(o.stderr == "vitro: exec: \"no-such-command\": executable file not found in $PATH\n")
                #expect(o.stdout == "")
            }
        }

        @Test func logsTailAndTimestamps() throws {
            let box = try Sandbox()
            _ = try box.run(["/bin/sh", "-c", "echo one; echo two >&2; echo three"], extra: ["--name", "t"])
            // A foreground run's output went to the terminal, not to a log.
            let d = try box.vitro(["run", "-d", "--name", "lg", "--rootfs", box.rootfs, "/bin/sh", "-c", "echo one; echo two >&2; echo three"])
            #expect(d.status == 0)
            _ = try box.vitro(["wait", "lg"])
            let all = try box.vitro(["logs", "lg"])
            #expect(all.stdout == "one\nthree\n" && all.stderr == "two\n")
            // stdout and stderr are separate pipes, so which of "two" and "three" was
            // logged last is a race (as in Docker); --tail counts both streams.
            let last = try box.vitro(["logs", "--tail", "1", "lg"])
            #expect([last.stdout, last.stderr].sorted() == ["", "three\n"] || [last.stdout, last.stderr].sorted() == ["", "two\n"])
            let ts = try box.vitro(["logs", "-t", "lg"]).stdout.split(separator: "\n")
            #expect(ts.count == 2 && ts.allSatisfy { $0.hasPrefix("20") && $0.contains("Z ") })
        }
    }
}

