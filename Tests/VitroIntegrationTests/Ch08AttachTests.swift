// Chapter 08: `vitro attach` and `start -a -i` against real detached containers: input
// through a monitor's stdin pipe, the exit code, two clients, signals passed on, a
// stopped container refused, and `run -dit` driven through tmux as a person would use
// it (detach with Ctrl-P Ctrl-Q, attach again, a window resize seen inside).

import Foundation
import Testing

extension Integration {
    @Suite struct Ch08Attach {
        /// A vitro started in the background; its stdout and stderr go to files that the
        /// test reads as they grow, its stdin is a pipe the test writes.
        final class Background {
            let process = Process()
            let input = Pipe()
            let out: String
            let err: String

            init(_ box: Sandbox, _ args: [String], stdin: Bool = true) throws {
                let tag = UUID().uuidString.prefix(8)
                out = box.dir + "/out-\(tag)"
                err = box.dir + "/err-\(tag)"
                _ = FileManager.default.createFile(atPath: out, contents: nil)
                _ = FileManager.default.createFile(atPath: err, contents: nil)
                process.executableURL = URL(fileURLWithPath: Binaries.vitro)
                process.arguments = args
                process.environment = ProcessInfo.processInfo.environment.merging(box.env) { $1 }
                process.standardInput = stdin ? input : FileHandle.nullDevice
                process.standardOutput = FileHandle(forWritingAtPath: out)
                process.standardError = FileHandle(forWritingAtPath: err)
                try process.run()
            }

            func send(_ s: String) { input.fileHandleForWriting.write(Data(s.utf8)) }
            func closeInput() { try? input.fileHandleForWriting.close() }
            var stdout: String { (try? String(contentsOfFile: out, encoding: .utf8)) ?? "" }
            var stderr: String { (try? String(contentsOfFile: err, encoding: .utf8)) ?? "" }

            /// Waits (up to 10 s) until stdout satisfies `ok`; returns it.
            @discardableResult
            func waitForOutput(_ what: String, _ ok: (String) -> Bool) -> String {
                for _ in 0..<200 {
                    if ok(stdout) { return stdout }
                    usleep(50_000)
                }
                Issue.record("never saw \(what); stdout: \(stdout) stderr: \(stderr)")
                return stdout
            }

            /// Waits (up to `seconds`) for the process to end; its exit status, or nil
            /// (and it is killed) when it did not.
            func waitForExit(seconds: Double = 10) -> Int32? {
                let deadline = Date().addingTimeInterval(seconds)
                while process.isRunning && Date() < deadline { usleep(20_000) }
                if process.isRunning {
                    kill(process.processIdentifier, SIGKILL)
                    process.waitUntilExit()
                    return nil
                }
                closeInput()
                return process.terminationStatus
            }
        }

        func id(_ o: Output) -> String { o.stdout.trimmingCharacters(in: .whitespacesAndNewlines) }

        /// Waits (up to 5 s) until the container's monitor has removed its socket.
        func socketGone(_ box: Sandbox, _ id: String) -> Bool {
            let path = box.root + "/containers/\(id)/attach.sock"
            for _ in 0..<100 {
                if !FileManager.default.fileExists(atPath: path) { return true }
                usleep(50_000)
            }
            return false
        }

        @Test func inputGoesThroughCatAndTheClientGetsTheExitCode() throws {
            try leavesNothing {
                let box = try Sandbox()
                let run = try box.vitro(["run", "-d", "-i", "--rootfs", box.rootfs, "cat"])
                #expect(run.status == 0, "\(run.stderr)")
                let job = id(run)
                let sock = box.root + "/containers/\(job)/attach.sock"
                let attrs = try FileManager.default.attributesOfItem(atPath: sock)
                #expect(attrs[.type] as? FileAttributeType == .typeSocket && (attrs[.posixPermissions] as? Int) == 0o600)
                let client = try Background(box, ["attach", job])
                client.send("hello\n")
                client.waitForOutput("cat's echo") { $0 == "hello\n" }
                client.send("again\n")
                client.waitForOutput("the second line") { $0 == "hello\nagain\n" }
                // The client's stdin ends: the container's does not (run -d -i keeps it
                // open), and the client stays until the container ends.
                client.closeInput()
                usleep(300_000)
                #expect(client.process.isRunning)
                #expect(try box.vitro(["inspect", "-f", "{{.State.Running}}", job]).stdout == "true\n")
                #expect(try box.vitro(["kill", job]).status == 0)
                #expect(client.waitForExit() == 137, "attach exits with the container's code")
                #expect(try box.vitro(["logs", job]).stdout == "hello\nagain\n", "the log has what the client saw")
                #expect(socketGone(box, job), "the monitor removed its socket")
                #expect(try box.vitro(["rm", job]).status == 0)
            }
        }

        @Test func anotherClientCarriesOnTypingAndTheCodeIsTheCommands() throws {
            try leavesNothing {
                let box = try Sandbox()
                let run = try box.vitro(["run", "-d", "-i", "--name", "reader", "--rootfs", box.rootfs, "/bin/sh", "-c", "while read l; do echo got:$l; echo err:$l >&2; [ $l = quit ] && exit 7; done"])
                #expect(run.status == 0, "\(run.stderr)")
                let first = try Background(box, ["attach", "reader"])
                first.send("one\n")
                first.waitForOutput("got:one") { $0 == "got:one\n" }
                // Ctrl-P Ctrl-Q from a pipe detaches too (Docker's keys apply to any stdin).
                first.send("\u{10}\u{11}")
                #expect(first.waitForExit() == 0)
                #expect((try String(contentsOfFile: first.err, encoding: .utf8)) == "err:one\n")
                let second = try Background(box, ["attach", "reader"])
                second.send("two\nquit\n")
                #expect(second.waitForExit() == 7)
                #expect(second.stdout == "got:two\ngot:quit\n" && second.stderr == "err:two\nerr:quit\n", "\(second.stdout) \(second.stderr)")
                #expect(try box.vitro(["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "reader"]).stdout == "exited 7\n")
                #expect(socketGone(box, id(run)))
                #expect(try box.vitro(["rm", "reader"]).status == 0)
            }
        }

        @Test func twoClientsSeeTheSameOutput() throws {
            try leavesNothing {
                let box = try Sandbox()
                let run = try box.vitro(["run", "-d", "--name", "ticker", "--rootfs", box.rootfs, "/bin/sh", "-c", "i=0; while :; do echo tick$i; echo tock$i >&2; i=$((i+1)); sleep 0.05; done"])
                #expect(run.status == 0, "\(run.stderr)")
                let a = try Background(box, ["attach", "ticker"], stdin: false)
                let b = try Background(box, ["attach", "--no-stdin", "ticker"])
                func ticks(_ s: String) -> [Int] { s.split(separator: "\n").compactMap { $0.hasPrefix("tick") ? Int($0.dropFirst(4)) : nil } }
                a.waitForOutput("ticks on the first client") { ticks($0).count >= 10 }
                b.waitForOutput("ticks on the second client") { ticks($0).count >= 10 }
                #expect(try box.vitro(["stop", "-t", "0", "ticker"]).status == 0)
                #expect(a.waitForExit() == 137 && b.waitForExit() == 137)
                // Each saw an unbroken run of the container's lines, and they overlap.
                let ta = ticks(a.stdout), tb = ticks(b.stdout)
                for t in [ta, tb] { #expect(!t.isEmpty && t == Array((t.first ?? 0)..<((t.first ?? 0) + t.count)), "\(t)") }
                #expect(Set(ta).intersection(tb).count >= 10, "\(ta) \(tb)")
                #expect(a.stderr.hasPrefix("tock") && b.stderr.hasPrefix("tock"))
                #expect(socketGone(box, id(run)))
                #expect(try box.vitro(["rm", "ticker"]).status == 0)
            }
        }

        @Test func signalsArePassedOnWithoutATerminal() throws {
            try leavesNothing {
                let box = try Sandbox()
                let script = "trap 'echo got-int; exit 9' INT; while :; do sleep 0.05; done"
                let a = try box.vitro(["run", "-d", "--name", "trapper", "--rootfs", box.rootfs, "/bin/sh", "-c", script])
                #expect(a.status == 0, "\(a.stderr)")
                // Ctrl-C in a terminal is SIGINT for the client: --sig-proxy passes it on.
                let proxied = try Background(box, ["attach", "trapper"])
                usleep(500_000)
                kill(proxied.process.processIdentifier, SIGINT)
                #expect(proxied.waitForExit() == 9)
                #expect(proxied.stdout == "got-int\n")
                // --sig-proxy=false: the signal ends the client only.
                let b = try box.vitro(["run", "-d", "--name", "keeper", "--rootfs", box.rootfs, "/bin/sh", "-c", script])
                #expect(b.status == 0)
                let plain = try Background(box, ["attach", "--sig-proxy=false", "keeper"])
                usleep(500_000)
                kill(plain.process.processIdentifier, SIGINT)
                #expect(plain.waitForExit() == 130)
                #expect(try box.vitro(["inspect", "-f", "{{.State.Running}}", "keeper"]).stdout == "true\n")
                #expect(try box.vitro(["rm", "-f", "trapper", "keeper"]).status == 0)
            }
        }

        @Test func aStoppedContainerIsRefused() throws {
            try leavesNothing {
                let box = try Sandbox()
                let done = try box.vitro(["run", "-d", "--name", "done", "--rootfs", box.rootfs, "/bin/true"])
                #expect(done.status == 0)
                _ = try box.vitro(["wait", "done"])
                let o = try box.vitro(["attach", "done"])
                #expect(o.status == 1 && o.stderr == "vitro: you cannot attach to a stopped container, start it first\n", "\(o.stderr)")
                #expect(socketGone(box, id(done)))
                let created = try box.vitro(["create", "--name", "fresh", "--rootfs", box.rootfs, "/bin/true"])
                #expect(created.status == 0)
                #expect(try box.vitro(["attach", "fresh"]).stderr == "vitro: you cannot attach to a stopped container, start it first\n")
                #expect(try box.vitro(["attach", "nosuch"]).stderr == "vitro: no such container: nosuch\n")
                let keys = try box.vitro(["attach", "--detach-keys", "ctrl-1", "done"])
                #expect(keys.status == 1 && keys.stderr.hasPrefix("vitro: invalid detach keys (ctrl-1) provided"), "\(keys.stderr)")
                #expect(try box.vitro(["rm", "done", "fresh"]).status == 0)
            }
        }

        @Test func startAIAttachesStdinToo() throws {
            try leavesNothing {
                let box = try Sandbox()
                let c = try box.vitro(["create", "-i", "--name", "catter", "--rootfs", box.rootfs, "/bin/sh", "-c", "cat; echo done; exit 3"])
                #expect(c.status == 0, "\(c.stderr)")
                // A container made by create -i loses its stdin with the client's
                // (Docker's StdinOnce): cat sees the end and the command goes on.
                let o = try box.vitro(["start", "-ai", "catter"], input: "hello\n")
                #expect(o.status == 3 && o.stdout == "hello\ndone\n", "\(o.status) \(o.stdout) \(o.stderr)")
                let again = try box.vitro(["start", "-a", "-i", "catter"], input: "twice\n")
                #expect(again.status == 3 && again.stdout == "twice\ndone\n", "\(again.stdout) \(again.stderr)")
                #expect(socketGone(box, id(c)))
                #expect(try box.vitro(["rm", "catter"]).status == 0)
            }
        }

        @Test func aSlowClientMissesNothingAndBigInputDoesNotStall() throws {
            try leavesNothing {
                let box = try Sandbox()
                // 8 MB, far more than the monitor queues for a client (1 MB) and the
                // pipes hold: the container waits while the client sleeps.
                let big = try box.vitro(["create", "--name", "big", "--log-driver", "none", "--rootfs", box.rootfs, "/bin/sh", "-c", "head -c 8000000 /dev/zero; exit 6"])
                #expect(big.status == 0, "\(big.stderr)")
                let env = box.env.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
                let slow = try runProcess("/bin/sh", ["-c", "env \(env) \(Binaries.vitro) start -a big | (sleep 2; wc -c)"], timeout: 60)
                #expect(slow.stdout.hasPrefix("8000000\n"), "\(slow.stdout) \(slow.stderr)")
                // Input and output at once through cat: the client keeps reading output
                // while its input waits, so neither side waits for ever.
                let input = box.dir + "/input"
                let text = (0..<60_000).map { "line \($0) of the input\n" }.joined()
                try text.write(toFile: input, atomically: true, encoding: .utf8)
                let c = try box.vitro(["create", "-i", "--name", "pipe", "--log-driver", "none", "--rootfs", box.rootfs, "cat"])
                #expect(c.status == 0)
                let through = try runProcess("/bin/sh", ["-c", "env \(env) \(Binaries.vitro) start -ai pipe < \(input) | cksum; cksum < \(input)"], timeout: 60)
                let sums = through.stdout.split(separator: "\n")
                #expect(sums.count == 2 && sums[0] == sums[1], "\(through.stdout) \(through.stderr)")
                #expect(try box.vitro(["inspect", "-f", "{{.State.ExitCode}}", "big"]).stdout == "6\n")
                #expect(try box.vitro(["rm", "big", "pipe"]).status == 0)
            }
        }

        @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/tmux"), "needs tmux (scripts/install-deps)"))
        func runDitThroughTmuxDetachAndAttachAgain() throws {
            try leavesNothing {
                let box = try Sandbox()
                let run = try box.vitro(["run", "-dit", "--name", "shell", "--rootfs", box.rootfs, "/bin/sh"])
                #expect(run.status == 0, "\(run.stderr)")
                let pane = try Ch07Terminal.Pane(columns: 80, rows: 24)
                defer { pane.close() }
                let attach = "VITRO_NETWORK=none VITRO_ROOT=\(box.root) \(Binaries.vitro) attach shell; echo attach-exit=$?"
                try pane.type(attach)
                usleep(500_000)
                try pane.type("tty; stty size; echo $((6*7))")
                var text = try pane.wait(for: "42") { Ch07Terminal.count("42", in: $0) == 1 }
                #expect(Ch07Terminal.count("/dev/pts/0", in: text) == 1, "tty inside: \(text)")
                #expect(Ch07Terminal.count("24 80", in: text) == 1, "the pty took the client's size: \(text)")

                try pane.tmux("resize-window", "-t", pane.name, "-x", "100", "-y", "30")
                usleep(300_000)
                try pane.type("stty size")
                try pane.wait(for: "30 100") { Ch07Terminal.count("30 100", in: $0) == 1 }

                // Ctrl-P Ctrl-Q: the client leaves with 0, printing nothing, and the
                // container runs on.
                try pane.tmux("send-keys", "-t", pane.name, "C-p", "C-q")
                text = try pane.wait(for: "the client's exit") { $0.contains("attach-exit=0") }
                #expect(!text.contains("escape"), "nothing else printed: \(text)")
                #expect(try box.vitro(["inspect", "-f", "{{.State.Running}}", "shell"]).stdout == "true\n")
                #expect(try box.vitro(["ps", "-q"]).stdout == String(id(run).prefix(12)) + "\n")

                // Attach again: the same shell, and its exit code becomes the client's.
                try pane.type(attach)
                usleep(500_000)
                try pane.type("echo back-$((2+3))")
                try pane.wait(for: "back-5") { Ch07Terminal.count("back-5", in: $0) == 1 }
                try pane.type("exit 5")
                try pane.wait(for: "the container's exit code") { $0.contains("attach-exit=5") }
                #expect(try box.vitro(["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "shell"]).stdout == "exited 5\n")
                #expect(socketGone(box, id(run)))
                #expect(try box.vitro(["rm", "shell"]).status == 0)
            }
        }
    }
}
