// Chapter 07/08: `vitro run -it` driven through tmux as a person would use it
// (TESTING.md, "Terminals"): a prompt, commands, a window resize seen inside, Ctrl-C as
// a character, `exit 3` as vitro's exit code, and the pane's terminal settings as they
// were before. Also `-t` with a stdin that is not a terminal.

import Foundation
import Testing

extension Integration {
    @Suite(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/tmux"), "needs tmux (scripts/install-deps)"))
    struct Ch07Terminal {
        /// One tmux session running bash; killed when the test ends.
        final class Pane {
            let name = "vitro-tty-" + UUID().uuidString.prefix(8).lowercased()

            init(columns: Int, rows: Int) throws {
                // The first new-session starts tmux's server, which daemonizes. Started
                // through Foundation's Process, that left the test waiting for a client
                // that had exited; posix_spawn and waitpid, with stdio on /dev/null so
                // the server holds no pipe of ours, are plain.
                let status = Self.spawnAndWait(["/usr/bin/tmux", "new-session", "-d", "-s", name, "-x", "\(columns)", "-y", "\(rows)", "/bin/bash --norc --noprofile"])
                guard status == 0 else { throw SandboxError(message: "tmux new-session failed (status \(status))") }
            }

            static func spawnAndWait(_ argv: [String]) -> Int32 {
                var actions = posix_spawn_file_actions_t()
                posix_spawn_file_actions_init(&actions)
                defer { posix_spawn_file_actions_destroy(&actions) }
                for fd: Int32 in [0, 1, 2] { posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", O_RDWR, 0) }
                var cargs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
                defer { for p in cargs { free(p) } }
                var pid: pid_t = 0
                guard posix_spawn(&pid, argv[0], &actions, nil, &cargs, environ) == 0 else { return -1 }
                var status: Int32 = 0
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                return status
            }

            @discardableResult
            func tmux(_ args: [String]) throws -> Output { try runProcess("/usr/bin/tmux", args, timeout: 10) }
            func tmux(_ args: String...) throws { try tmux(args) }
            func type(_ line: String) throws { try tmux(["send-keys", "-t", name, "-l", line]); try tmux("send-keys", "-t", name, "Enter") }
            func screen() throws -> String { try tmux(["capture-pane", "-p", "-J", "-S", "-200", "-t", name]).stdout }

            /// Waits until the pane's text satisfies `ok` (up to 10 s); returns the text.
            @discardableResult
            func wait(for what: String, _ ok: (String) -> Bool) throws -> String {
                var text = ""
                for _ in 0..<100 {
                    text = try screen()
                    if ok(text) { return text }
                    usleep(100_000)
                }
                Issue.record("the pane never showed \(what); it shows:\n\(text)")
                return text
            }

            /// Ends the session; called by each test on its way out (deinit as a backstop).
            func close() { _ = try? tmux(["kill-session", "-t", name]) }
            deinit { close() }
        }

        /// Whether a line starts with `vitro-exit=` and a digit (not the typed command
        /// line, which has `vitro-exit=$?`).
        static func showsExit(_ text: String) -> Bool {
            text.split(separator: "\n").contains { $0.hasPrefix("vitro-exit=") && $0.dropFirst(11).first?.isNumber == true }
        }

        /// Lines that are exactly `s`.
        static func count(_ s: String, in text: String) -> Int {
            text.split(separator: "\n").filter { $0.trimmingCharacters(in: .whitespaces) == s }.count
        }

        @Test func runItThroughTmux() throws {
            try leavesNothing {
                let box = try Sandbox()
                let pane = try Pane(columns: 80, rows: 24)
                defer { pane.close() }
                let before = box.dir + "/stty-before", after = box.dir + "/stty-after"
                // The pane's shell records its terminal's settings, runs vitro, then
                // records the settings again and vitro's exit code.
                try pane.type(
                    "stty -g > \(before); VITRO_NETWORK=none VITRO_ROOT=\(box.root) \(Binaries.vitro) run -it --rootfs \(box.rootfs) /bin/sh; "
                        + "echo vitro-exit=$?; stty -g > \(after)")
                try pane.wait(for: "the container's prompt") { $0.contains("/ # ") }
                try pane.type("tty; stty size; echo $((6*7))")
                var text = try pane.wait(for: "42") { Self.count("42", in: $0) == 1 }
                #expect(Self.count("/dev/pts/0", in: text) == 1, "tty inside: \(text)")
                #expect(Self.count("24 80", in: text) == 1, "stty size inside: \(text)")

                try pane.tmux("resize-window", "-t", pane.name, "-x", "100", "-y", "30")
                usleep(300_000)
                try pane.type("stty size")
                text = try pane.wait(for: "30 100") { Self.count("30 100", in: $0) == 1 }

                // Ctrl-C is a byte through the pty; the container's line discipline
                // makes it SIGINT for the foreground job, and the shell goes on.
                try pane.type("sleep 30")
                usleep(300_000)
                try pane.tmux("send-keys", "-t", pane.name, "C-c")
                try pane.type("echo still-$((1+1))")
                try pane.wait(for: "the shell still there after Ctrl-C") { Self.count("still-2", in: $0) == 1 }

                try pane.type("exit 3")
                text = try pane.wait(for: "vitro's exit code") { Self.showsExit($0) }
                #expect(Self.count("vitro-exit=3", in: text) == 1, "\(text)")
                try pane.wait(for: "the settings written after") { _ in FileManager.default.fileExists(atPath: after) }
                usleep(200_000)
                let saved = try String(contentsOfFile: before, encoding: .utf8)
                let restored = try String(contentsOfFile: after, encoding: .utf8)
                #expect(!saved.isEmpty && saved == restored, "vitro left the pane's terminal changed")
            }
        }

        @Test func ctrlDEndsTheShellWithItsCode() throws {
            try leavesNothing {
                let box = try Sandbox()
                let pane = try Pane(columns: 80, rows: 24)
                defer { pane.close() }
                try pane.type("VITRO_NETWORK=none VITRO_ROOT=\(box.root) \(Binaries.vitro) run -it --rootfs \(box.rootfs) /bin/sh; echo vitro-exit=$?")
                try pane.wait(for: "the container's prompt") { $0.contains("/ # ") }
                try pane.type("false")
                usleep(200_000)
                try pane.tmux("send-keys", "-t", pane.name, "C-d")
                let text = try pane.wait(for: "vitro's exit code") { Self.showsExit($0) }
                #expect(Self.count("vitro-exit=1", in: text) == 1, "\(text)")
            }
        }

        @Test func ttyWithoutATerminalOnStdin() throws {
            try leavesNothing {
                let box = try Sandbox()
                let o = try box.run(["/bin/sh", "-c", "test -t 0 && echo tty; tty"], extra: ["-t"])
                #expect(o.status == 0, "\(o.stderr)")
                // The pty's line discipline turns \n into \r\n, as Docker's -t output has.
                #expect(o.stdout == "tty\r\n/dev/pts/0\r\n")
                let piped = try box.run(["/bin/sh", "-c", "read line; echo got:$line; exit 4"], extra: ["-i", "-t"], input: "abc\n")
                #expect(piped.status == 4)
                #expect(piped.stdout.contains("got:abc\r\n"), "\(piped.stdout)")
                let plain = try box.run(["/bin/sh", "-c", "test -t 0 || echo no-tty"])
                #expect(plain.stdout == "no-tty\n")
            }
        }
    }
}
