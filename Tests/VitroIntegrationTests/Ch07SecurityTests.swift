// Chapter 07: the container's root keeps Docker's default capabilities and nothing more.

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
    }
}
