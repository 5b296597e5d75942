// Chapter 07: the container's root keeps Docker's default capabilities and nothing more;
// Docker's seccomp profile, no-new-privileges, masked and read-only /proc paths, the
// device allowlist, --read-only, --tmpfs, --user, --ulimit and --init, each checked from
// inside a container against the real kernel.

import Foundation
import Testing

extension Integration {
    @Suite struct Ch07Security {
        /// Docker's default set (CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, SETGID, SETUID,
        /// SETPCAP, NET_BIND_SERVICE, NET_RAW, SYS_CHROOT, MKNOD, AUDIT_WRITE, SETFCAP).
        static let dockerCapEff = "00000000a80425fb"

        func capabilities(_ o: Output) -> [String: String] {
            var out: [String: String] = [:]
            for line in o.stdout.split(separator: "\n") where line.hasPrefix("Cap") {
                let f = line.split(separator: "\t")
                if f.count == 2 { out[String(f[0].dropLast())] = String(f[1]) }
            }
            return out
        }

        @Test func rootInsideHasDockersDefaultCapabilitiesOnly() throws {
            try leavesNothing {
                let box = try Sandbox()
                let o = try box.run(["/bin/sh", "-c", "grep ^Cap /proc/self/status; mount -t tmpfs none /tmp 2>&1; echo mount=$?; unshare -m true 2>&1; echo unshare=$?"])
                let caps = capabilities(o)
                #expect(caps["CapEff"] == Self.dockerCapEff && caps["CapPrm"] == Self.dockerCapEff && caps["CapBnd"] == Self.dockerCapEff, "\(caps)")
                #expect(caps["CapInh"] == "0000000000000000" && caps["CapAmb"] == "0000000000000000")
                #expect(o.stdout.contains("Operation not permitted"), "\(o.stdout)")
                #expect(o.stdout.contains("mount=255") || o.stdout.contains("mount=1"), "\(o.stdout)")
                #expect(o.stdout.contains("unshare=1"))
            }
        }

        @Test func capAddAndDropChangeTheSet() throws {
            let box = try Sandbox()
            let o = try box.run(["/bin/sh", "-c", "grep ^CapEff /proc/self/status; mount -t tmpfs none /tmp && echo mounted"], extra: ["--cap-add", "SYS_ADMIN", "--cap-drop", "net_raw"])
            // + CAP_SYS_ADMIN (bit 21), - CAP_NET_RAW (bit 13).
            #expect(capabilities(o)["CapEff"] == "00000000a82405fb", "\(o.stdout)")
            #expect(o.stdout.contains("mounted"))
            let bad = try box.run(["/bin/true"], extra: ["--cap-add", "CAP_BOGUS"])
            #expect(bad.status == 125 && bad.stderr == "vitro: --cap-add CAP_BOGUS: unknown capability (see capabilities(7))\n")
        }

        @Test func theTraceShowsEachDroppedCapability() throws {
            let box = try Sandbox()
            let trace = box.dir + "/t.jsonl"
            _ = try box.run(["/bin/true"], extra: ["--trace", trace])
            let drops = try readTrace(trace).filter { ($0["group"] as? String) == "capability" }
            let names = drops.compactMap { ($0["args"] as? [String: Any])?["cap"] as? String }
            #expect(names.contains("CAP_SYS_ADMIN") && names.contains("CAP_NET_ADMIN"))
            #expect(!names.contains("CAP_CHOWN") && !names.contains("CAP_NET_RAW"))
            #expect(drops.allSatisfy { ($0["stage"] as? String) == "exec" })
        }

        /// A tiny static C program put into the rootfs as /bin/sectest: `euid` prints the
        /// effective uid (made setuid root for the no-new-privileges test), `keyctl`
        /// asks for the session keyring (which only seccomp stops), `zombies` makes an
        /// orphan that exits at once and counts the zombies left a moment later.
        static let helperSource = #"""
            #include <stdio.h>
            #include <string.h>
            #include <errno.h>
            #include <dirent.h>
            #include <unistd.h>
            #include <sys/syscall.h>
            int main(int argc, char **argv) {
                if (argc < 2) return 2;
                if (!strcmp(argv[1], "euid")) { printf("euid=%d\n", (int)geteuid()); return 0; }
                if (!strcmp(argv[1], "keyctl")) {
                    long r = syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3 /* session */, 0);
                    printf("keyctl=%s\n", r < 0 ? strerrorname_np(errno) : "ok");
                    return 0;
                }
                if (!strcmp(argv[1], "zombies")) {
                    pid_t c = fork();
                    if (c == 0) { if (fork() == 0) _exit(0); _exit(0); }
                    usleep(100000);
                    waitpid(c, NULL, 0);
                    usleep(400000);
                    int z = 0;
                    DIR *d = opendir("/proc");
                    struct dirent *e;
                    while ((e = readdir(d))) {
                        char path[300], buf[512];
                        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
                        FILE *f = fopen(path, "r");
                        if (!f) continue;
                        if (fgets(buf, sizeof buf, f)) { char *p = strrchr(buf, ')'); if (p && p[2] == 'Z') z++; }
                        fclose(f);
                    }
                    char comm[64] = "";
                    FILE *f = fopen("/proc/1/comm", "r");
                    if (f) { fgets(comm, sizeof comm, f); fclose(f); }
                    printf("zombies=%d pid1=%s", z, comm);
                    return 0;
                }
                return 2;
            }
            """#

        /// Compiles the helper into the sandbox's rootfs (gcc -static).
        func installHelper(_ box: Sandbox, setuid: Bool = false) throws {
            let src = box.dir + "/sectest.c"
            try Self.helperSource.write(toFile: src, atomically: true, encoding: .utf8)
            let out = box.rootfs + "/bin/sectest"
            let cc = try runProcess("/usr/bin/gcc", ["-static", "-O1", "-include", "sys/wait.h", "-o", out, src])
            guard cc.status == 0 else { throw SandboxError(message: "gcc: \(cc.stderr)") }
            try FileManager.default.setAttributes([.posixPermissions: setuid ? 0o4755 : 0o755], ofItemAtPath: out)
        }

        func status(_ o: Output, _ key: String) -> String? {
            o.stdout.split(separator: "\n").first { $0.hasPrefix(key + ":") }.map { $0.dropFirst(key.count + 1).trimmingCharacters(in: .whitespaces) }
        }

        /// The container directories in the sandbox's state.
        func containers(_ box: Sandbox) -> [String] {
            (try? FileManager.default.contentsOfDirectory(atPath: box.root + "/containers")) ?? []
        }

        @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/gcc"), "needs gcc (and libc.a) to build the static helper"))
        func theDefaultProfileDeniesWhatDockersDenies() throws {
            try leavesNothing {
                let box = try Sandbox()
                try installHelper(box)
                let d = try box.run(["/bin/sh", "-c", "grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status; /bin/sectest keyctl; unshare -U true 2>&1; echo unshare=$?"])
                #expect(status(d, "Seccomp") == "2", "\(d.stdout)")
                #expect(status(d, "NoNewPrivs") == "0")
                #expect(d.stdout.contains("keyctl=EPERM"), "\(d.stdout)")
                #expect(d.stdout.contains("unshare=1") && d.stdout.contains("Operation not permitted"))
                let u = try box.run(["/bin/sh", "-c", "grep -E '^Seccomp:' /proc/self/status; /bin/sectest keyctl"], extra: ["--security-opt", "seccomp=unconfined"])
                #expect(status(u, "Seccomp") == "0", "\(u.stdout)")
                #expect(u.stdout.contains("keyctl=") && !u.stdout.contains("keyctl=EPERM"), "\(u.stdout)")
                let p = try box.run(["/bin/sh", "-c", "grep -E '^Seccomp:' /proc/self/status"], extra: ["--privileged"])
                #expect(status(p, "Seccomp") == "0", "--privileged loads no filter")
            }
        }

        @Test func aProfileFileIsObeyedAndABadOneRefused() throws {
            try leavesNothing {
                let box = try Sandbox()
                let profile = box.dir + "/nomkdir.json"
                try #"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":1}]}"#.write(toFile: profile, atomically: true, encoding: .utf8)
                let o = try box.run(["/bin/sh", "-c", "mkdir /made 2>&1; echo mkdir=$?; touch /file && echo touched"], extra: ["--security-opt", "seccomp=" + profile])
                #expect(o.stdout.contains("Operation not permitted") && o.stdout.contains("mkdir=1") && o.stdout.contains("touched"), "\(o.stdout)")
                let before = containers(box)
                let bad = box.dir + "/bad.json"
                try #"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_SOMETIMES"}]}"#.write(toFile: bad, atomically: true, encoding: .utf8)
                let b = try box.run(["/bin/true"], extra: ["--security-opt", "seccomp=" + bad])
                #expect(b.status == 125 && b.stderr == "vitro: decoding seccomp profile \(bad) failed: syscalls[0]: unknown action \"SCMP_ACT_SOMETIMES\"\n", "\(b.stderr)")
                let missing = try box.run(["/bin/true"], extra: ["--security-opt", "seccomp=/nonexistent.json"])
                #expect(missing.status == 125 && missing.stderr.hasPrefix("vitro: opening seccomp profile /nonexistent.json failed:"), "\(missing.stderr)")
                #expect(containers(box) == before, "bad input leaves no container behind")
            }
        }

        @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/gcc"), "needs gcc (and libc.a) to build the static helper"))
        func noNewPrivilegesStopsASetuidBinary() throws {
            try leavesNothing {
                let box = try Sandbox()
                try installHelper(box, setuid: true)
                let plain = try box.run(["/bin/sectest", "euid"], extra: ["--user", "1000"])
                #expect(plain.stdout == "euid=0\n", "a setuid-root binary makes uid 1000 root: \(plain.stdout) \(plain.stderr)")
                let nnp = try box.run(["/bin/sh", "-c", "grep ^NoNewPrivs: /proc/self/status; /bin/sectest euid"], extra: ["--user", "1000", "--security-opt", "no-new-privileges"])
                #expect(status(nnp, "NoNewPrivs") == "1", "\(nnp.stdout)")
                #expect(nnp.stdout.contains("euid=1000"), "\(nnp.stdout) \(nnp.stderr)")
            }
        }

        @Test func procPathsAreMaskedAndReadOnly() throws {
            try leavesNothing {
                let box = try Sandbox()
                let readOnly = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
                let script = "wc -c < /proc/interrupts; wc -c < /proc/timer_list; ls /sys/firmware | wc -l; echo x > /proc/sys/kernel/hostname; "
                    + "for p in \(readOnly.joined(separator: " ")); do grep -q \" $p ro,\" /proc/self/mountinfo && echo ro:$p; done"
                let o = try box.run(["/bin/sh", "-c", script])
                let lines = o.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
                #expect(lines.prefix(3) == ["0", "0", "0"], "masked: \(o.stdout)")
                #expect(o.stderr.contains("/proc/sys/kernel/hostname: Read-only file system"), "\(o.stderr)")
                // Those this kernel has (no /proc/sysrq-trigger without CONFIG_MAGIC_SYSRQ).
                let present = readOnly.filter { FileManager.default.fileExists(atPath: $0) }
                #expect(lines.filter { $0.hasPrefix("ro:") } == present.map { "ro:" + $0 }, "\(o.stdout)")
                let p = try box.run(["/bin/sh", "-c", "wc -c < /proc/interrupts"], extra: ["--privileged"])
                #expect((Int(p.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) > 0, "--privileged masks nothing: \(p.stdout)")
            }
        }

        @Test(.enabled(if: FileManager.default.fileExists(atPath: "/sys/fs/cgroup/devices/devices.allow"), "this test checks v1's devices controller; v2's BPF device program is checked in Ch04DeviceProgramTests"))
        func devicesOutsideTheAllowlistCannotBeOpened() throws {
            try leavesNothing {
                let box = try Sandbox()
                let script = "mknod /tmp/disk b 8 0 && echo made; head -c1 /tmp/disk; echo open=$?; head -c1 /dev/zero | wc -c; ls /dev | tr '\\n' ' '"
                let o = try box.run(["/bin/sh", "-c", script])
                #expect(o.stdout.contains("made") && o.stdout.contains("open=1"), "\(o.stdout)")
                #expect(o.stderr.contains("/tmp/disk: Operation not permitted"), "\(o.stderr)")
                #expect(o.stdout.contains("\n1\n"), "/dev/zero is on the list")
                for d in ["null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts", "shm", "mqueue", "fd", "stdin", "stdout", "stderr"] {
                    #expect(o.stdout.contains(" \(d) ") || o.stdout.hasSuffix("\(d) ") || o.stdout.contains("\n\(d) "), "/dev/\(d): \(o.stdout)")
                }
                let p = try box.run(["/bin/sh", "-c", "mknod /tmp/disk b 8 0; head -c1 /tmp/disk"], extra: ["--privileged"])
                #expect(!p.stderr.contains("Operation not permitted"), "--privileged allows every device: \(p.stderr)")
            }
        }

        @Test func aReadOnlyRootStillHasTmpfsDevAndProc() throws {
            try leavesNothing {
                let box = try Sandbox()
                let script = "touch /file 2>&1; touch /tmp/file && echo tmp-ok; echo hi > /dev/null && echo dev-ok; cat /proc/self/stat > /dev/null && echo proc-ok; grep ' /tmp ' /proc/self/mountinfo"
                let o = try box.run(["/bin/sh", "-c", script], extra: ["--read-only", "--tmpfs", "/tmp:size=1m"])
                #expect(o.stdout.contains("Read-only file system"), "\(o.stdout)")
                for ok in ["tmp-ok", "dev-ok", "proc-ok"] { #expect(o.stdout.contains(ok), "\(ok): \(o.stdout)") }
                #expect(o.stdout.contains("nosuid,nodev,noexec") && o.stdout.contains("size=1024k"), "Docker's --tmpfs defaults: \(o.stdout)")
                #expect(!FileManager.default.fileExists(atPath: box.rootfs + "/file"))
                let bad = try box.run(["/bin/true"], extra: ["--tmpfs", "/x:bogus"])
                #expect(bad.status == 125 && bad.stderr == "vitro: --tmpfs /x:bogus: unknown tmpfs option \"bogus\"\n", "\(bad.stderr)")
            }
        }

        @Test func usersComeFromTheImagesPasswd() throws {
            try leavesNothing {
                let box = try Sandbox()
                let n = try box.run(["/bin/sh", "-c", "id; echo HOME=$HOME; grep ^CapEff /proc/self/status"], extra: ["--user", "1000:1000"])
                #expect(n.stdout.hasPrefix("uid=1000 gid=1000\n"), "\(n.stdout) \(n.stderr)")
                #expect(n.stdout.contains("HOME=/\n") && n.stdout.contains("CapEff:\t0000000000000000"), "a non-root user keeps no capability: \(n.stdout)")
                let nobody = try box.run(["/bin/sh", "-c", "id; echo HOME=$HOME"], extra: ["--user", "nobody"])
                #expect(nobody.stdout.hasPrefix("uid=65534(nobody) gid=65534(nogroup)"), "\(nobody.stdout)")
                #expect(nobody.stdout.contains("HOME=/nonexistent"))
                let root = try box.run(["/bin/sh", "-c", "id -u; echo HOME=$HOME"])
                #expect(root.stdout == "0\nHOME=/root\n", "\(root.stdout)")
                let bad = try box.run(["/bin/true"], extra: ["--user", "bogus"])
                #expect(bad.status == 125 && bad.stderr == "vitro: unable to find user bogus: no matching entries in passwd file\n", "\(bad.stderr)")
                let badGroup = try box.run(["/bin/true"], extra: ["--user", "nobody:bogus"])
                #expect(badGroup.status == 125 && badGroup.stderr == "vitro: unable to find group bogus: no matching entries in group file\n", "\(badGroup.stderr)")
            }
        }

        // vitro-init is spawned before vitro has checked the run's input; when the input
        // is refused it is killed and reaped having made nothing: no namespace, no mount.
        @Test func refusedInputEndsTheWaitingVitroInit() throws {
            try leavesNothing {
                let box = try Sandbox()
                let trace = box.dir + "/bad-user.jsonl"
                let bad = try box.run(["/bin/true"], extra: ["--user", "bogus", "--trace", trace])
                #expect(bad.status == 125 && bad.stderr == "vitro: unable to find user bogus: no matching entries in passwd file\n", "\(bad.stderr)")
                let events = try readTrace(trace)
                func args(_ e: [String: Any]) -> [String: Any] { e["args"] as? [String: Any] ?? [:] }
                let spawn = events.first { ($0["name"] as? String) == "execve" && (args($0)["path"] as? String ?? "").hasSuffix("/vitro-init") }
                let helper = spawn?["ret"] as? Int ?? 0
                #expect(helper > 0, "vitro-init was spawned: \(String(describing: spawn))")
                let killed = events.first { ($0["name"] as? String) == "kill" && args($0)["pid"] as? Int == helper }
                #expect(args(killed ?? [:])["sig"] as? String == "SIGKILL", "the waiting vitro-init is killed")
                #expect(events.contains { ($0["name"] as? String) == "waitpid" && args($0)["pid"] as? Int == helper && $0["ret"] as? Int == helper }, "and reaped by vitro")
                for made in ["unshare", "mount", "pivot_root", "clone3", "fork"] {
                    #expect(!events.contains { ($0["name"] as? String) == made }, "nothing was made: \(made) in the trace")
                }
                let end = events.last { ($0["ph"] as? String) == "E" && ($0["name"] as? String) == "namespaces" }
                #expect(args(end ?? [:])["error"] as? String == "unable to find user bogus: no matching entries in passwd file")
                #expect(kill(pid_t(helper), 0) == -1 && errno == ESRCH, "vitro-init \(helper) is gone")
            }
        }

        // The v2 path (VITRO_CGROUP=v2 on this hybrid host) makes the cgroup before the
        // spawn, so that pid 1 can be born in it; a refused run removes it again.
        @Test(.enabled(if: Integration.Ch04Cgroups.hasUnified, "needs a cgroup2 mount at /sys/fs/cgroup/unified (this machine's hybrid layout)"))
        func refusedInputOnTheV2PathRemovesTheCgroupMadeFirst() throws {
            try leavesNothing {
                let box = try Sandbox()
                let trace = box.dir + "/bad-user-v2.jsonl"
                let bad = try runProcess(
                    Binaries.vitro, ["run", "--rootfs", box.rootfs, "--user", "bogus", "--trace", trace, "/bin/true"],
                    env: box.env.merging(["VITRO_CGROUP": "v2"]) { $1 })
                #expect(bad.status == 125 && bad.stderr == "vitro: unable to find user bogus: no matching entries in passwd file\n", "\(bad.stderr)")
                let events = try readTrace(trace)
                func args(_ e: [String: Any]) -> [String: Any] { e["args"] as? [String: Any] ?? [:] }
                let made = events.lastIndex { ($0["name"] as? String) == "mkdir" && (args($0)["path"] as? String ?? "").hasPrefix(Integration.Ch04Cgroups.unified + "/") }
                let spawn = events.firstIndex { ($0["name"] as? String) == "execve" && (args($0)["path"] as? String ?? "").hasSuffix("/vitro-init") }
                #expect(made != nil && spawn != nil && (made ?? 0) < (spawn ?? 0), "the v2 cgroup is made before vitro-init is spawned")
                let dir = made.flatMap { args(events[$0])["path"] as? String } ?? "?"
                #expect(events.contains { ($0["name"] as? String) == "kill" && args($0)["sig"] as? String == "SIGKILL" }, "the waiting vitro-init is killed")
                #expect(events.contains { ($0["name"] as? String) == "rmdir" && args($0)["path"] as? String == dir }, "and the cgroup removed: \(dir)")
                #expect(!FileManager.default.fileExists(atPath: dir))
                #expect(!events.contains { ["unshare", "mount", "clone3"].contains($0["name"] as? String ?? "") }, "nothing else was made")
            }
        }

        @Test func ulimitsReachTheCommand() throws {
            try leavesNothing {
                let box = try Sandbox()
                let o = try box.run(["/bin/sh", "-c", "ulimit -n; ulimit -Hn; ulimit -c"], extra: ["--ulimit", "nofile=100:200", "--ulimit", "core=0"])
                #expect(o.stdout == "100\n200\n0\n", "\(o.stdout) \(o.stderr)")
                let before = containers(box)
                let bad = try box.run(["/bin/true"], extra: ["--ulimit", "bogus=1"])
                #expect(bad.status == 125 && bad.stderr.hasPrefix("vitro: --ulimit bogus=1: invalid ulimit type: bogus"), "\(bad.stderr)")
                let user = try box.run(["/bin/true"], extra: ["--user", "bogus"])
                #expect(user.status == 125)
                #expect(containers(box) == before, "bad input leaves no container behind")
            }
        }

        @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/gcc"), "needs gcc (and libc.a) to build the static helper"))
        func initReapsOrphansAndPassesTheExitCode() throws {
            try leavesNothing {
                let box = try Sandbox()
                try installHelper(box)
                let bare = try box.run(["/bin/sectest", "zombies"])
                #expect(bare.stdout.hasPrefix("zombies=1 pid1=sectest"), "pid 1 that never waits keeps the orphan as a zombie: \(bare.stdout)")
                let reaped = try box.run(["/bin/sectest", "zombies"], extra: ["--init"])
                #expect(reaped.stdout.hasPrefix("zombies=0 pid1=vitro-init"), "\(reaped.stdout) \(reaped.stderr)")
                let code = try box.run(["/bin/sh", "-c", "exit 3"], extra: ["--init"])
                #expect(code.status == 3)
                // pid 1 ignores SIGTERM without a handler; the command under --init does not.
                let term = try box.run(["/bin/sh", "-c", "kill -TERM $$; sleep 5; echo survived"], extra: ["--init"])
                #expect(term.status == 143 && !term.stdout.contains("survived"), "\(term.status) \(term.stdout)")
                // `vitro stop` signals pid 1, which forwards SIGTERM to the shell: no 5 s wait.
                let id = try box.vitro(["run", "-d", "--init", "--rootfs", box.rootfs, "/bin/sh", "-c", "sleep 100"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                defer { _ = try? box.vitro(["rm", "-f", id]) }
                let start = Date()
                #expect(try box.vitro(["stop", "-t", "5", id]).status == 0)
                #expect(Date().timeIntervalSince(start) < 3, "SIGTERM was not forwarded")
                #expect(try box.vitro(["inspect", "-f", "{{.State.ExitCode}}", id]).stdout == "143\n")
            }
        }

        @Test func execRunsUnderTheContainersProfile() throws {
            try leavesNothing {
                let box = try Sandbox()
                let id = try box.vitro(["run", "-d", "--rootfs", box.rootfs, "--user", "nobody", "--ulimit", "nofile=64", "/bin/sleep", "30"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                defer { _ = try? box.vitro(["rm", "-f", id]) }
                let e = try box.vitro(["exec", id, "/bin/sh", "-c", "id -u; ulimit -n; grep -E '^(Seccomp|CapBnd):' /proc/self/status"])
                #expect(e.stdout.hasPrefix("65534\n64\n"), "\(e.stdout) \(e.stderr)")
                #expect(status(e, "Seccomp") == "2" && status(e, "CapBnd") == Self.dockerCapEff, "\(e.stdout)")
                let u = try box.vitro(["exec", "-u", "0:0", id, "id"])
                #expect(u.stdout.hasPrefix("uid=0(root) gid=0(root)"), "\(u.stdout)")
                let bad = try box.vitro(["exec", "-u", "bogus", id, "id"])
                #expect(bad.status == 125 && bad.stderr.contains("unable to find user bogus"), "\(bad.status) \(bad.stderr)")
            }
        }

        @Test func theTraceShowsTheFilterLimitsAndUser() throws {
            let box = try Sandbox()
            let trace = box.dir + "/t.jsonl"
            _ = try box.run(["/bin/true"], extra: ["--trace", trace, "--ulimit", "nofile=100:200", "--user", "nobody"])
            let events = try readTrace(trace)
            func named(_ n: String) -> [[String: Any]] { events.filter { ($0["name"] as? String) == n && ($0["ph"] as? String) == "X" } }
            let seccomp = named("seccomp")
            #expect(seccomp.count == 1)
            let args = seccomp.first?["args"] as? [String: Any] ?? [:]
            #expect(args["default_action"] as? String == "SCMP_ACT_ERRNO(1)" && (args["rules"] as? Int ?? 0) > 300, "\(args)")
            #expect((args["arch"] as? [String])?.first == "SCMP_ARCH_X86_64")
            #expect((seccomp.first?["shell"] as? String)?.hasPrefix("docker run --security-opt seccomp=") == true)
            #expect((seccomp.first?["group"] as? String) == "seccomp")
            let limit = named("prlimit64").first?["args"] as? [String: Any]
            #expect(limit?["resource"] as? String == "RLIMIT_NOFILE" && limit?["soft"] as? String == "100")
            #expect((named("setresuid").first?["args"] as? [String: Any])?["uid"] as? Int == 65534)
            #expect((named("setresgid").first?["args"] as? [String: Any])?["gid"] as? Int == 65534)
            // Under uid 65534 without no_new_privs, the filter goes in before the user switch.
            let order = events.compactMap { $0["name"] as? String }.filter { ["seccomp", "setresuid", "execve"].contains($0) }
            #expect(order.suffix(3) == ["seccomp", "setresuid", "execve"], "\(order)")
            let masks = named("mount").filter { (($0["args"] as? [String: Any])?["target"] as? String) == "/proc/interrupts" }
            #expect(masks.count == 1 && (masks.first?["why"] as? String)?.hasPrefix("mask /proc/interrupts") == true)
        }
    }
}
