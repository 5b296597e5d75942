// Chapter 08: restart policies applied by the monitor, json-file log rotation, create
// then start, and exec -d — each against real containers.

import Foundation
import Testing

extension Integration {
    @Suite struct Ch08Restart {
        /// Polls `inspect -f FORMAT` until it prints `want` (or 10 s pass); returns the last output.
        func poll(_ box: Sandbox, _ ref: String, _ format: String, _ want: String) throws -> String {
            var last = ""
            for _ in 0..<200 {
                last = try box.vitro(["inspect", "-f", format, ref]).stdout
                if last == want { break }
                usleep(50_000)
            }
            return last
        }

        @Test func onFailureRestartsUpToItsLimitAndAlwaysStopsWhenStopped() throws {
            try leavesNothing {
                let box = try Sandbox()
                let failing = try box.vitro(["run", "-d", "--restart", "on-failure:2", "--name", "flaky", "--rootfs", box.rootfs, "/bin/sh", "-c", "echo try; exit 3"])
                #expect(failing.status == 0, "\(failing.stderr)")
                #expect(try poll(box, "flaky", "{{.RestartCount}} {{.State.Status}} {{.State.ExitCode}}", "2 exited 3\n") == "2 exited 3\n")
                #expect(try box.vitro(["logs", "flaky"]).stdout == "try\ntry\ntry\n", "one run and two restarts")
                #expect(try box.vitro(["inspect", "-f", "{{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}}", "flaky"]).stdout == "on-failure 2\n")
                // A success is not a failure: on-failure leaves it exited.
                let ok = try box.vitro(["run", "-d", "--restart", "on-failure", "--name", "fine", "--rootfs", box.rootfs, "/bin/true"])
                #expect(ok.status == 0)
                #expect(try poll(box, "fine", "{{.State.Status}}", "exited\n") == "exited\n")
                usleep(400_000)
                #expect(try box.vitro(["inspect", "-f", "{{.RestartCount}}", "fine"]).stdout == "0\n")
                // always: restarts after every exit until a person stops it.
                let always = try box.vitro(["run", "-d", "--restart", "always", "--name", "loop", "--rootfs", box.rootfs, "/bin/sh", "-c", "echo up; sleep 0.1"])
                #expect(always.status == 0)
                var count = 0
                for _ in 0..<200 where count < 2 {
                    count = Int(try box.vitro(["inspect", "-f", "{{.RestartCount}}", "loop"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
                    usleep(50_000)
                }
                #expect(count >= 2, "restarted at least twice")
                let stop = try box.vitro(["stop", "-t", "1", "loop"])
                #expect(stop.status == 0, "\(stop.stderr)")
                let after = try box.vitro(["inspect", "-f", "{{.RestartCount}}", "loop"]).stdout
                usleep(800_000)
                #expect(try box.vitro(["inspect", "-f", "{{.State.Status}} {{.RestartCount}}", "loop"]).stdout == "exited " + after, "no restart after stop")
                #expect(try box.vitro(["ps", "-q"]).stdout == "")
                let rm = try box.vitro(["rm", "flaky", "fine", "loop"])
                #expect(rm.status == 0, "\(rm.stderr)")
            }
        }

        @Test func rmForceEndsARestartingContainer() throws {
            try leavesNothing {
                let box = try Sandbox()
                let o = try box.vitro(["run", "-d", "--restart", "always", "--name", "crashy", "--rootfs", box.rootfs, "/bin/false"])
                #expect(o.status == 0)
                usleep(500_000)
                let began = Date()
                let rm = try box.vitro(["rm", "-f", "crashy"])
                #expect(rm.status == 0, "\(rm.stderr)")
                #expect(Date().timeIntervalSince(began) < 3, "rm -f does not wait out timeouts")
                usleep(500_000)
                #expect(try box.vitro(["ps", "-a", "-q"]).stdout == "", "nothing came back")
                #expect(try runProcess("/usr/bin/pgrep", ["-f", "crashy"]).stdout == "")
            }
        }

        @Test func logsRotateAtMaxSizeAndKeepMaxFile() throws {
            try leavesNothing {
                let box = try Sandbox()
                let o = try box.vitro(["run", "-d", "--log-opt", "max-size=2k", "--log-opt", "max-file=3", "--name", "chatty", "--rootfs", box.rootfs,
                    "/bin/sh", "-c", "i=0; while [ $i -lt 300 ]; do echo line$i; i=$((i+1)); done"])
                #expect(o.status == 0, "\(o.stderr)")
                let id = o.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                #expect(try poll(box, "chatty", "{{.State.Status}}", "exited\n") == "exited\n")
                let dir = box.root + "/containers/" + id
                let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.contains("-json.log") }.sorted()
                #expect(files == ["\(id)-json.log", "\(id)-json.log.1", "\(id)-json.log.2"], "\(files)")
                for f in files {
                    let size = (try FileManager.default.attributesOfItem(atPath: dir + "/" + f)[.size] as? Int) ?? 0
                    #expect(size > 0 && size <= 2000, "\(f): \(size) bytes")
                }
                // logs reads the kept files oldest first and ends with the last line.
                let lines = try box.vitro(["logs", "chatty"]).stdout.split(separator: "\n").map(String.init)
                #expect(lines.last == "line299")
                #expect(lines.count > 40 && lines.count < 300, "older lines rotated away: \(lines.count)")
                let numbers = lines.compactMap { Int($0.dropFirst(4)) }
                #expect(numbers == Array((numbers.first ?? 0)...299), "consecutive, oldest first")
                #expect(try box.vitro(["inspect", "-f", "{{json .HostConfig.LogConfig}}", "chatty"]).stdout == #"{"Type":"json-file","Config":{"max-size":"2000","max-file":"3"}}"# + "\n")
                let none = try box.vitro(["run", "-d", "--log-driver", "none", "--name", "quiet", "--rootfs", box.rootfs, "/bin/echo", "hi"])
                #expect(none.status == 0)
                _ = try poll(box, "quiet", "{{.State.Status}}", "exited\n")
                let logs = try box.vitro(["logs", "quiet"])
                #expect(logs.status == 1 && logs.stderr == "vitro: configured logging driver does not support reading\n")
                #expect(try box.vitro(["rm", "chatty", "quiet"]).status == 0)
            }
        }

        @Test func createThenStartAndExecDetached() throws {
            try leavesNothing {
                let box = try Sandbox()
                let c = try box.vitro(["create", "--name", "later", "-e", "WHO=world", "--rootfs", box.rootfs, "/bin/sh", "-c", "echo hello $WHO"])
                #expect(c.status == 0, "\(c.stderr)")
                let id = c.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                #expect(id.count == 64)
                #expect(try box.vitro(["inspect", "-f", "{{.State.Status}}", "later"]).stdout == "created\n")
                #expect(try box.vitro(["ps", "-a"]).stdout.contains("Created"))
                let start = try box.vitro(["start", "-a", "later"])
                #expect(start.status == 0 && start.stdout == "hello world\n", "\(start.stderr)")
                #expect(try box.vitro(["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", id]).stdout == "exited 0\n")
                let taken = try box.vitro(["create", "--name", "later", "--rootfs", box.rootfs, "/bin/true"])
                #expect(taken.status == 125 && taken.stderr.hasPrefix("vitro: the container name \"/later\" is already in use"))

                let bg = try box.vitro(["run", "-d", "--name", "bg", "--rootfs", box.rootfs, "/bin/sh", "-c", "sleep 30"])
                #expect(bg.status == 0)
                // The command waits for /tmp/go: exec -d must return while it waits.
                let d = try box.vitro(["exec", "-d", "bg", "/bin/sh", "-c", "while [ ! -e /tmp/go ]; do sleep 0.05; done; echo done > /tmp/mark"], timeout: 20)
                #expect(d.status == 0 && d.stdout == "", "exec -d returns at once: \(d.stderr)")
                #expect(try box.vitro(["exec", "bg", "cat", "/tmp/mark"]).status != 0, "not written yet: it runs in the background")
                #expect(try box.vitro(["exec", "bg", "touch", "/tmp/go"]).status == 0)
                var mark = ""
                for _ in 0..<100 where mark.isEmpty {
                    mark = try box.vitro(["exec", "bg", "cat", "/tmp/mark"]).stdout
                    usleep(50_000)
                }
                #expect(mark == "done\n")
                let missing = try box.vitro(["exec", "-d", "bg", "/nosuch"])
                #expect(missing.status == 127 && missing.stderr == "vitro: exec: \"/nosuch\": no such file or directory\n", "\(missing.stderr)")
                #expect(try box.vitro(["rm", "-f", "bg", "later"]).status == 0)
            }
        }

        @Test func badRestartAndLogOptionsAreOneLineAndMakeNothing() throws {
            try leavesNothing {
                let box = try Sandbox()
                for (flags, message) in [
                    (["--restart", "sometimes"], "vitro: --restart sometimes: invalid restart policy (no, on-failure[:N], always or unless-stopped)\n"),
                    (["--restart", "on-failure:x"], "vitro: --restart on-failure:x: the retry count must be a number (on-failure:N)\n"),
                    (["--restart", "always", "--rm"], "vitro: conflicting options: --restart and --rm\n"),
                    (["--log-opt", "max-size=lots"], "vitro: --log-opt max-size=lots: a size such as 10k, 10m or 1g\n"),
                    (["--log-opt", "colour=blue"], "vitro: --log-opt colour: unknown log option for json-file (max-size, max-file)\n"),
                    (["--log-driver", "syslog"], "vitro: --log-driver syslog: not supported (json-file or none)\n"),
                ] {
                    let o = try box.vitro(["run", "-d"] + flags + ["--rootfs", box.rootfs, "/bin/true"])
                    #expect(o.status == 125 && o.stderr == message, "\(flags): \(o.stderr)")
                    let c = try box.vitro(["create"] + flags + ["--rootfs", box.rootfs, "/bin/true"])
                    #expect(c.status == 125 && c.stderr == message, "create \(flags): \(c.stderr)")
                }
                let left = ((try? FileManager.default.contentsOfDirectory(atPath: box.root + "/containers")) ?? []).filter { !$0.hasPrefix(".") }
                #expect(left.isEmpty, "no record was made: \(left)")
            }
        }
    }
}
