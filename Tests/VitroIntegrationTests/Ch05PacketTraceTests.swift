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
                    "/bin/sh", "-c", "exec \"$0\" trace net --duration 4 -o \"$1\" \"$2\" 2>\"$3\"", Binaries.vitro, pcap, String(id.prefix(12)), errFile,
                ]
                tracer.standardOutput = FileHandle.nullDevice
                try tracer.run()
                defer { try? FileManager.default.removeItem(atPath: pcap); try? FileManager.default.removeItem(atPath: jsonl); try? FileManager.default.removeItem(atPath: errFile) }
                for _ in 0..<100 where !((try? String(contentsOfFile: errFile, encoding: .utf8)) ?? "").contains("capturing on") { usleep(50_000) }
                // While it captures, its trace chains are in vitro's table (and only there).
                let during = try lab.inHost(["/usr/sbin/nft", "list", "table", "ip", "vitro"]).stdout
                #expect(during.contains("chain trace-pre-") && during.contains("meta nftrace set 1"), "\(during)")
                #expect(try lab.tcp(from: lab.outside, lab.hostAddress, 8080) == "hello")
                // The host's own 127.0.0.1: the userland proxy carries it.
                #expect(try lab.tcp(from: lab.host, "127.0.0.1", 8080) == "hello")
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
                // The rule is the kernel's: nf_tables' trace named it, with its handle and verdict.
                #expect(s(syn, "rule_source") == "nftrace", "\(syn)")
                #expect(s(syn, "rule").hasPrefix("ip vitro ports: ") && s(syn, "nft_chain") == "ip vitro ports" && s(syn, "nft_verdict") == "accept", "\(syn)")
                let handle = s(syn, "nft_handle")
                let listed = try lab.inHost(["/usr/sbin/nft", "-a", "list", "chain", "ip", "vitro", "ports"]).stdout
                #expect(!handle.isEmpty && listed.contains("dnat to \(inside) comment") && listed.contains("# handle \(handle)"), "\(listed)")
                let verdicts = (syn["nftrace"] as? [String]) ?? []
                #expect(verdicts.contains("ip vitro prerouting rule fib daddr type local jump ports (verdict jump ports)"), "\(verdicts)")
                #expect(verdicts.contains { $0.hasPrefix("ip vitro ports rule tcp dport 8080 dnat to \(inside)") && $0.hasSuffix("(verdict accept)") }, "\(verdicts)")
                // Leaving the host towards the bridge, the SYN meets postrouting's policy.
                #expect(((hops[1]["nftrace"] as? [String]) ?? []).contains("ip vitro postrouting policy accept"), "\(hops[1])")

                // 127.0.0.1:8080: the SYN on lo, then the proxy's own connection from the
                // bridge's address to the container, seen on the bridge, veth and eth0.
                let loSyn = try #require(events.first { s($0, "interface") == "lo" && s($0, "tcp_flags") == "SYN" && s($0, "dst") == "127.0.0.1:8080" }, "no SYN on lo in \(text)")
                #expect(s(loSyn, "kind") == "host" && s(loSyn, "nat_dst").isEmpty)
                let loHops = events.filter { s($0, "packet") == s(loSyn, "packet") }
                #expect(loHops.map { s($0, "interface") + "/" + s($0, "direction") } == ["lo/in"], "libpcap shows a loopback packet once, as received: \(loHops)")
                #expect(loHops.flatMap { ($0["nftrace"] as? [String]) ?? [] }.contains("ip vitro output policy accept"), "\(loHops)")
                let gateway = lab.containerNet + "1"
                let proxySyn = try #require(
                    events.first { s($0, "tcp_flags") == "SYN" && s($0, "src").hasPrefix(gateway + ":") && s($0, "dst") == inside && s($0, "hop") == "1" },
                    "no SYN from the proxy in \(text)")
                let proxyHops = events.filter { s($0, "packet") == s(proxySyn, "packet") }
                #expect(proxyHops.map { s($0, "kind") } == ["bridge", "veth", "container"], "\(proxyHops)")
                #expect(Int(s(loSyn, "packet")) ?? 0 < Int(s(proxySyn, "packet")) ?? 0, "lo first, then the proxy's connection")

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
                #expect(rows.contains(["host/lo", "127.0.0.1", "127.0.0.1"]), "\(t.stdout)")
                #expect(rows.contains(["host/" + lab.bridge, gateway, container]), "\(t.stdout)")
                #expect(Set(rows.compactMap(\.first)).count == 5)
                // The capture removed its trace chains.
                let after = try lab.inHost(["/usr/sbin/nft", "list", "table", "ip", "vitro"]).stdout
                #expect(!after.contains("trace-") && !after.contains("nftrace"), "\(after)")

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

        @Test(.enabled(if: canTrace, "needs nft, nsenter, gcc and tshark"))
        func runTracePacketsWritesTheContainersPacketsIntoItsTrace() throws {
            try leavesNothing {
                let lab = try NetLab()
                defer { lab.close() }
                let traceFile = lab.box.root + "/../run-packets.jsonl"
                let pcap = lab.box.root + "/../run-packets.pcapng"
                defer { try? FileManager.default.removeItem(atPath: traceFile); try? FileManager.default.removeItem(atPath: pcap) }
                let c = try lab.background(
                    ["/bin/sh", "-c", "(while true; do echo hello | nc -l -p 80; done) & read x; true"],
                    extra: ["-p", "8080:80", "--trace-packets", "--trace", traceFile])
                _ = try #require(lab.runningContainer())
                // The capture starts once the command runs: its trace chains appear.
                var table = ""
                for _ in 0..<100 {
                    table = try lab.inHost(["/usr/sbin/nft", "list", "table", "ip", "vitro"]).stdout
                    if table.contains("chain trace-pre-") { break }
                    usleep(50_000)
                }
                #expect(table.contains("chain trace-pre-") && table.contains("chain trace-out-"), "\(table)")
                #expect(try lab.tcp(from: lab.outside, lab.hostAddress, 8080) == "hello")
                #expect(c.stop() == 0)

                // The packets are in the container's own trace, named by the kernel's trace.
                let text = try String(contentsOfFile: traceFile, encoding: .utf8)
                let lines = text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
                #expect(lines.contains { $0["name"] as? String == "capture" && $0["group"] as? String == "packet" })
                let events = lines.filter { $0["group"] as? String == "packet" && $0["name"] as? String == "packet" }.compactMap { $0["args"] as? [String: Any] }
                func s(_ a: [String: Any], _ k: String) -> String { (a[k] as? String) ?? (a[k].map { "\($0)" } ?? "") }
                let syn = try #require(events.first { s($0, "tcp_flags") == "SYN" && s($0, "dst") == "\(lab.hostAddress):8080" && s($0, "hop") == "1" }, "no SYN in \(text)")
                #expect(s(syn, "rule_source") == "nftrace" && s(syn, "nft_chain") == "ip vitro ports", "\(syn)")
                #expect(s(syn, "nat_dst").hasPrefix(lab.containerNet) && s(syn, "rule").contains("dnat to \(s(syn, "nat_dst"))"), "\(syn)")
                #expect(events.filter { s($0, "packet") == s(syn, "packet") }.map { s($0, "kind") } == ["host", "bridge", "veth", "container"])
                // The packet events come before the exit note, in the same trace.
                let exitSeq = lines.first { $0["name"] as? String == "exit" }?["seq"] as? Int ?? 0
                let lastPacket = lines.filter { $0["name"] as? String == "packet" }.compactMap { $0["seq"] as? Int }.max() ?? Int.max
                #expect(lastPacket < exitSeq)

                // Exported as pcapng, tshark shows the hops' interfaces.
                let e = try lab.vitro(["trace", "export", "--format", "pcapng", "-o", pcap, traceFile])
                #expect(e.status == 0, "\(e.stderr)")
                let t = try runProcess("/usr/bin/tshark", ["-r", pcap, "-T", "fields", "-e", "frame.interface_name"])
                let names = Set(t.stdout.split(separator: "\n").map(String.init))
                #expect(names.contains("host/vth" + lab.tag) && names.contains("host/" + lab.bridge) && names.contains { $0.hasPrefix("host/vx") }, "\(names)")
                #expect(names.contains { $0.hasSuffix("/eth0") && !$0.hasPrefix("host/") }, "\(names)")

                // No trace chain is left once the container has ended.
                let after = try lab.inHost(["/usr/sbin/nft", "list", "table", "ip", "vitro"]).stdout
                #expect(!after.contains("trace-"), "\(after)")

                // With -d the monitor captures, for the container's life.
                let dTrace = lab.box.root + "/../run-packets-d.jsonl"
                defer { try? FileManager.default.removeItem(atPath: dTrace) }
                let d = try lab.run(
                    ["/bin/sh", "-c", "while true; do echo hello | nc -l -p 80; done"], extra: ["-d", "-p", "8081:80", "--trace-packets", "--trace", dTrace])
                #expect(d.status == 0, "\(d.stderr)")
                let dID = d.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                for _ in 0..<100 {
                    if try lab.inHost(["/usr/sbin/nft", "list", "table", "ip", "vitro"]).stdout.contains("chain trace-pre-") { break }
                    usleep(50_000)
                }
                #expect(try lab.tcp(from: lab.outside, lab.hostAddress, 8081) == "hello")
                #expect(try lab.vitro(["rm", "-f", dID]).status == 0)
                var dText = ""
                for _ in 0..<100 {
                    dText = (try? String(contentsOfFile: dTrace, encoding: .utf8)) ?? ""
                    if dText.contains("\"name\":\"exit\"") { break }
                    usleep(50_000)
                }
                let dEvents = dText.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
                    .filter { $0["name"] as? String == "packet" }.compactMap { $0["args"] as? [String: Any] }
                #expect(dEvents.contains { s($0, "dst") == "\(lab.hostAddress):8081" && s($0, "rule_source") == "nftrace" }, "\(dText.suffix(3000))")

                // What it cannot capture is refused before anything is made.
                let none = try lab.vitro(["run", "--rootfs", lab.box.rootfs, "--net", "none", "--trace-packets", "true"])
                #expect(none.status == 125 && none.stderr.contains("--net bridge"), "\(none.stderr)")
                #expect(try lab.leftovers() == [])
            }
        }

        @Test(.enabled(if: canTrace, "needs nft, nsenter, gcc and tshark"))
        func aCaptureKilledWithSIGKILLLeavesChainsTheNextOneRemoves() throws {
            try leavesNothing {
                let lab = try NetLab()
                defer { lab.close() }
                let c = try lab.background(["/bin/sh", "-c", "read x; true"], extra: ["-p", "8080:80"])
                let id = try #require(lab.runningContainer())
                let out = lab.box.root + "/../killed"
                defer { for ext in [".pcapng", ".jsonl", ".err"] { try? FileManager.default.removeItem(atPath: out + ext) } }
                let env = lab.box.env.map { "\($0.key)=\($0.value)" }
                let tracer = Process()
                tracer.executableURL = URL(fileURLWithPath: NetLab.nsenter)
                tracer.arguments = ["--net=/run/netns/" + lab.host, "/usr/bin/env"] + env + [
                    Binaries.vitro, "trace", "net", "--duration", "30", "-o", out + ".pcapng", String(id.prefix(12)),
                ]
                tracer.standardOutput = FileHandle.nullDevice
                tracer.standardError = FileHandle.nullDevice
                try tracer.run()
                var table = ""
                for _ in 0..<100 {
                    table = try lab.inHost(["/usr/sbin/nft", "list", "table", "ip", "vitro"]).stdout
                    if table.contains("chain trace-out-") { break }
                    usleep(50_000)
                }
                // nsenter execs env, which execs vitro: the process is vitro itself.
                let pid = tracer.processIdentifier
                #expect(table.contains("chain trace-pre-\(pid)") && table.contains("chain trace-out-\(pid)"), "\(table)")
                kill(pid, SIGKILL)
                tracer.waitUntilExit()
                let left = try lab.inHost(["/usr/sbin/nft", "list", "table", "ip", "vitro"]).stdout
                #expect(left.contains("chain trace-pre-\(pid)"), "a killed capture cannot remove its chains: \(left)")
                // The next capture finds them named after a process that is gone.
                let n = try lab.vitro(["trace", "net", "--duration", "0.5", "-o", out + ".pcapng", String(id.prefix(12))])
                #expect(n.status == 0, "\(n.stderr)")
                let after = try lab.inHost(["/usr/sbin/nft", "list", "table", "ip", "vitro"]).stdout
                #expect(!after.contains("trace-"), "\(after)")
                #expect(c.stop() == 0)
                #expect(try lab.leftovers() == [])
            }
        }
    }
}
