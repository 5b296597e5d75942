// Chapter 05's packet-path trace on the real kernel, in a NetLab: a request from the
// outside namespace to a published port, captured by `vitro trace net` at each hop.

import Foundation
import Testing

extension Integration {
    @Suite struct Ch05PacketTrace {
        static let canTrace = Ch05Network.canNet && FileManager.default.isExecutableFile(atPath: "/usr/bin/tshark")

        @Test(.enabled(if: canTrace, "needs nft, nsenter, gcc and tshark"))
        func aRequestToAPublishedPortIsSeenAtEachHopWithItsDNAT() throws {
            try leavesNothing {
                let lab = try NetLab()
                defer { lab.close() }
                let c = try lab.background(["/bin/sh", "-c", "(while true; do echo hello | nc -l -p 80; done) & read x; true"], extra: ["-p", "8080:80"])
                let id = try #require(lab.runningContainer())
                #expect(try lab.tcp(from: lab.outside, lab.hostAddress, 8080) == "hello")

                let pcap = lab.box.root + "/../net.pcapng"
                let jsonl = lab.box.root + "/../net.jsonl"
                let errFile = lab.box.root + "/../net.err"
                let env = lab.box.env.map { "\($0.key)=\($0.value)" }
                let tracer = Process()
                tracer.executableURL = URL(fileURLWithPath: NetLab.nsenter)
                tracer.arguments = ["--net=/run/netns/" + lab.host, "/usr/bin/env"] + env + [
                    "/bin/sh", "-c", "exec \"$0\" trace net --duration 3 -o \"$1\" \"$2\" 2>\"$3\"", Binaries.vitro, pcap, String(id.prefix(12)), errFile,
                ]
                tracer.standardOutput = FileHandle.nullDevice
                try tracer.run()
                defer { try? FileManager.default.removeItem(atPath: pcap); try? FileManager.default.removeItem(atPath: jsonl); try? FileManager.default.removeItem(atPath: errFile) }
                for _ in 0..<100 where !((try? String(contentsOfFile: errFile, encoding: .utf8)) ?? "").contains("capturing on") { usleep(50_000) }
                #expect(try lab.tcp(from: lab.outside, lab.hostAddress, 8080) == "hello")
                tracer.waitUntilExit()
                #expect(tracer.terminationStatus == 0, "\((try? String(contentsOfFile: errFile, encoding: .utf8)) ?? "")")

                // The SYN from outside: its hops in order, DNAT at the first.
                let text = try String(contentsOfFile: jsonl, encoding: .utf8)
                let events = text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
                    .filter { $0["group"] as? String == "packet" }.compactMap { $0["args"] as? [String: Any] }
                func s(_ a: [String: Any], _ k: String) -> String { (a[k] as? String) ?? (a[k].map { "\($0)" } ?? "") }
                let syn = try #require(events.first { s($0, "tcp_flags") == "SYN" && s($0, "dst") == "\(lab.hostAddress):8080" && s($0, "hop") == "1" }, "no SYN to the published port in \(text)")
                let hops = events.filter { s($0, "packet") == s(syn, "packet") }
                #expect(hops.map { s($0, "kind") } == ["host", "bridge", "veth", "container"], "\(hops)")
                #expect(hops.map { s($0, "interface") }.first == "vth" + lab.tag)
                #expect(hops.map { s($0, "interface") }.dropFirst().first == lab.bridge)
                #expect(hops.map { s($0, "interface") }.last == "eth0")
                #expect(hops.map { s($0, "direction") } == ["in", "out", "out", "in"])
                let inside = s(syn, "nat_dst")
                #expect(inside.hasPrefix(lab.containerNet) && inside.hasSuffix(":80"), "DNAT: \(syn)")
                #expect(s(syn, "rule").contains("dport 8080 dnat to \(inside)"))
                #expect(hops.dropFirst().allSatisfy { s($0, "dst") == inside && s($0, "src") == s(syn, "src") })
                // The answer goes back with its source rewritten to the host's.
                #expect(events.contains { s($0, "tcp_flags") == "SYN|ACK" && s($0, "kind") == "host" && s($0, "src") == "\(lab.hostAddress):8080" })

                // tshark reads the pcapng: one interface per (netns, interface).
                let t = try runProcess("/usr/bin/tshark", ["-r", pcap, "-T", "fields", "-e", "frame.interface_name", "-e", "ip.src", "-e", "ip.dst"])
                #expect(t.status == 0, "\(t.stderr)")
                let rows = t.stdout.split(separator: "\n").map { $0.split(separator: "\t").map(String.init) }
                let outsideIP = lab.outsideAddress, container = String(inside.dropLast(3))
                #expect(rows.contains(["host/vth" + lab.tag, outsideIP, lab.hostAddress]), "\(t.stdout)")
                #expect(rows.contains(["host/" + lab.bridge, outsideIP, container]))
                #expect(rows.contains { $0.count == 3 && $0[0].hasPrefix("host/vx") && $0[1] == outsideIP && $0[2] == container })
                #expect(rows.contains { $0.count == 3 && $0[0].hasSuffix("/eth0") && !$0[0].hasPrefix("host/") && $0[1] == outsideIP && $0[2] == container })
                #expect(Set(rows.compactMap(\.first)).count == 4)

                // The trace is a trace: export reads it.
                let e = try lab.vitro(["trace", "export", "--format", "pcapng", "-o", "/dev/null", jsonl])
                // Written into the device, never renamed over it (that once replaced the
                // machine's /dev/null with a regular file).
                #expect((try? FileManager.default.attributesOfItem(atPath: "/dev/null")[.type] as? FileAttributeType) == .typeCharacterSpecial, "/dev/null is still a device")
                #expect(e.status == 0, "\(e.stderr)")

                #expect(c.stop() == 0)
                // A container that is not running: one line, nothing written.
                let gone = lab.box.root + "/../gone.pcapng"
                let n = try lab.vitro(["trace", "net", "--duration", "1", "-o", gone, String(id.prefix(12))])
                #expect(n.status == 1 && n.stderr.hasPrefix("vitro: trace net ") && n.stderr.contains("not running"), "\(n.stderr)")
                #expect(!FileManager.default.fileExists(atPath: gone) && !FileManager.default.fileExists(atPath: lab.box.root + "/../gone.jsonl"))
                #expect(try lab.vitro(["trace", "net", "no-such-container"]).status == 1)
                #expect(try lab.leftovers() == [])
            }
        }
    }
}
