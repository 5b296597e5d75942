// Chapter 03 and the first container: `vitro run --rootfs`.

import Foundation
import Testing

extension Integration {
    @Suite struct Ch03Namespaces {
        @Test func pidOneHostnameAndExitCode() throws {
            try leavesNothing {
                let box = try Sandbox()
                let o = try box.run(["/bin/sh", "-c", "echo $$; hostname; exit 3"], extra: ["-h", "lab1"])
                #expect(o.status == 3)
                #expect(o.stdout == "1\nlab1\n")
                #expect(o.stderr == "")
            }
        }

        @Test func defaultHostnameIsTheShortContainerID() throws {
            let box = try Sandbox()
            let o = try box.run(["/bin/hostname"])
            #expect(o.status == 0)
            let name = o.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(name.count == 12 && name.allSatisfy(\.isHexDigit), "hostname \(name)")
        }

        @Test func procShowsOnlyTheContainersProcesses() throws {
            try leavesNothing {
                let box = try Sandbox()
                // pid 1 is sh; `ls` is its child. Nothing of the host may appear.
                let o = try box.run(["/bin/sh", "-c", "ls /proc | grep -E '^[0-9]+$' | sort -n | tr '\\n' ' '"])
                #expect(o.status == 0)
                let pids = o.stdout.split(separator: " ").compactMap { Int($0) }
                // sh, ls, grep, sort and tr: five processes, numbered from 1.
                #expect(pids == Array(1...pids.count), "container sees pids \(pids)")
                #expect(pids.count <= 6)
            }
        }

        @Test func theHostMountTableIsUnchanged() throws {
            let before = try String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)
            let box = try Sandbox()
            let o = try box.run(["/bin/sh", "-c", "mount | wc -l; test -c /dev/null && test -L /dev/ptmx && test -d /dev/pts && test -d /dev/shm"])
            #expect(o.status == 0, "\(o.stderr)")
            let after = try String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)
            #expect(before == after)
        }

        @Test func sysIsReadOnlyAndDevHasOnlyTheAllowedNodes() throws {
            let box = try Sandbox()
            let o = try box.run(["/bin/sh", "-c", "touch /sys/x 2>/dev/null && echo writable; ls /dev | tr '\\n' ' '"])
            #expect(o.status == 0)
            #expect(!o.stdout.contains("writable"))
            let names = Set(o.stdout.split(separator: " ").map(String.init))
            // Docker's /dev: mqueue is a mount of its own; core only where /proc/kcore exists.
            var want: Set<String> = ["null", "zero", "full", "random", "urandom", "tty", "pts", "ptmx", "shm", "mqueue", "fd", "stdin", "stdout", "stderr"]
            if FileManager.default.fileExists(atPath: "/proc/kcore") { want.insert("core") }
            #expect(names == want)
        }

        @Test func namespacesDifferFromTheHost() throws {
            let box = try Sandbox()
            let o = try box.run(["/bin/sh", "-c", "for n in mnt uts ipc pid net cgroup; do readlink /proc/1/ns/$n; done"])
            #expect(o.status == 0)
            let inside = o.stdout.split(separator: "\n").map(String.init)
            let host = ["mnt", "uts", "ipc", "pid", "net", "cgroup"].map { (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/\($0)")) ?? "" }
            #expect(inside.count == 6)
            for (a, b) in zip(inside, host) { #expect(a != b, "\(a) is the host's namespace") }
        }

        @Test func stdinEnvAndWorkdirPassThrough() throws {
            let box = try Sandbox()
            let o = try box.run(["/bin/sh", "-c", "cat; echo \"$GREETING\"; pwd"], extra: ["-i", "-e", "GREETING=hi there", "-w", "/tmp/work"], input: "from stdin\n")
            #expect(o.status == 0, "\(o.stderr)")
            #expect(o.stdout == "from stdin\nhi there\n/tmp/work\n")
            // Docker creates a missing working directory in the container's root.
            #expect(FileManager.default.fileExists(atPath: box.rootfs + "/tmp/work"))
        }

        @Test func withoutDashIStdinIsEmpty() throws {
            let box = try Sandbox()
            let o = try box.run(["/bin/cat"], input: "not for the container\n")
            #expect(o.status == 0 && o.stdout == "")
        }

        @Test func sigtermIsForwardedToTheContainer() throws {
            let box = try Sandbox()
            let p = Process()
            p.executableURL = URL(fileURLWithPath: Binaries.vitro)
            p.arguments = ["run", "--rootfs", box.rootfs, "/bin/sh", "-c", "trap 'echo got TERM; exit 7' TERM; echo up; while :; do sleep 0.05; done"]
            p.environment = box.env
            let out = Pipe()
            p.standardOutput = out
            try p.run()
            // Wait for the container to say it is up, then signal vitro.
            let handle = out.fileHandleForReading
            let first = handle.availableData
            #expect(String(decoding: first, as: UTF8.self) == "up\n")
            kill(p.processIdentifier, SIGTERM)
            p.waitUntilExit()
            let rest = String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
            #expect(rest == "got TERM\n")
            #expect(p.terminationStatus == 7)
        }

        @Test func killedBySignalReports128PlusN() throws {
            try leavesNothing {
                let box = try Sandbox()
                let p = Process()
                p.executableURL = URL(fileURLWithPath: Binaries.vitro)
                p.arguments = ["run", "--rootfs", box.rootfs, "/bin/sh", "-c", "echo up; exec sleep 30"]
                p.environment = box.env
                let out = Pipe()
                p.standardOutput = out
                try p.run()
                _ = out.fileHandleForReading.availableData
                // pid 1 is vitro's child (vitro is a subreaper): find it and SIGKILL it,
                // which a pid 1 cannot ignore when it comes from outside its namespace.
                let children = (try? String(contentsOfFile: "/proc/\(p.processIdentifier)/task/\(p.processIdentifier)/children", encoding: .utf8)) ?? ""
                let pid1 = children.split(separator: " ").compactMap { Int32($0) }.first
                #expect(pid1 != nil)
                if let pid1 { kill(pid1, SIGKILL) }
                p.waitUntilExit()
                #expect(p.terminationStatus == 137)
            }
        }
    }
}
