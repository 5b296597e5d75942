// Chapter 07: `vitro exec` into a detached container: the same hostname and files, a
// process in the container's /proc and cgroups, -e and -w, the command's exit code.

import Foundation
import Testing

extension Integration {
    @Suite struct Ch07Exec {
        @Test func execJoinsARunningContainer() throws {
            try leavesNothing {
                let box = try Sandbox()
                let d = try box.vitro(["run", "-d", "--name", "host", "--hostname", "inside", "--rootfs", box.rootfs, "/bin/sh", "-c", "echo marker > /tmp/m; exec sleep 60"])
                #expect(d.status == 0, "\(d.stderr)")
                usleep(300_000)
                let o = try box.vitro(["exec", "host", "/bin/sh", "-c", "hostname; cat /tmp/m; echo pid=$$; ls /proc | grep -x $$; cat /proc/1/cmdline | tr '\\0' ' '; echo; exit 7"])
                #expect(o.status == 7, "\(o.stderr)")
                let lines = o.stdout.split(separator: "\n").map(String.init)
                #expect(lines.count == 5, "\(o.stdout)")
                if lines.count == 5 {
                    #expect(lines[0] == "inside")
                    #expect(lines[1] == "marker")
                    // A small pid of the container's pid namespace, listed in its /proc.
                    #expect(lines[2].hasPrefix("pid=") && (Int(lines[2].dropFirst(4)) ?? 999) < 100)
                    #expect(lines[3] == String(lines[2].dropFirst(4)))
                    #expect(lines[4] == "sleep 60 ")
                }
                // In the container's cgroups: inside its cgroup namespace, the exec'd
                // process sees the same cgroup paths as pid 1 (a process outside would
                // see paths above the namespace's root, `/..`).
                let cg = try box.vitro(["exec", "host", "/bin/sh", "-c", "cat /proc/self/cgroup; echo --; cat /proc/1/cgroup"])
                let halves = cg.stdout.components(separatedBy: "--\n")
                #expect(halves.count == 2 && halves[0] == halves[1] && !cg.stdout.contains("/.."), "\(cg.stdout)")
                let env = try box.vitro(["exec", "-e", "FOO=bar", "-w", "/tmp", "host", "/bin/sh", "-c", "echo $FOO $HOSTNAME $(pwd)"])
                #expect(env.stdout == "bar inside /tmp\n")
                let tty = try box.vitro(["exec", "-t", "host", "tty"])
                #expect(tty.status == 0 && tty.stdout == "/dev/pts/0\r\n", "\(tty.stdout)")
                let missing = try box.vitro(["exec", "host", "no-such-command"])
                #expect(missing.status == 127)
                #expect(try box.vitro(["rm", "-f", "host"]).status == 0)
                let gone = try box.vitro(["exec", "host", "true"])
                #expect(gone.status == 1 && gone.stderr == "vitro: no such container: host\n")
            }
        }
    }
}
