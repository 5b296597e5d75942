// Chapter 12: replay and debugging, end to end with the built vitro.
//
// - `vitro trace replay` driven through tmux as a person would (keys, screen captures)
//   over every golden trace in Traces/: every stage reached, an event's details (args
//   with flags by name, ret, why, shell), the kernel state before and after, the key
//   help, a resize, and the terminal as it was after `q`.
// - `trace diff` of a working run and a real second run with a real fault (the host
//   port already taken) names that fault as the first divergence.
// - The HTML export in headless Chromium: no console errors, the stages and the event
//   details rendered, a screenshot kept in .build/test-artifacts; a 100,000-event
//   export renders only the rows in view.
// - tshark reads the pcapng export (packet events are synthetic: the packet-path
//   capture of issue #5 is not built yet).
// - traces per container and per run (`trace ls`, `trace show CONTAINER`), and bad
//   input: a truncated trace, a newer schema, a file that is not a trace.

import Foundation
import Testing

@testable import VitroTrace

extension Integration {
    @Suite struct Ch12Replay {
        static let traces = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Traces")
        static let packageRoot = traces.deletingLastPathComponent()
        static let goldens = ["00-tour.jsonl", "03-namespaces.jsonl", "04-cgroups.jsonl", "05-network.jsonl"]
        static let hasTmux = FileManager.default.isExecutableFile(atPath: "/usr/bin/tmux")
        static let chromiumPath = "/usr/bin/chromium"
        static let hasChromium = FileManager.default.isExecutableFile(atPath: chromiumPath)
        static let hasTshark = FileManager.default.isExecutableFile(atPath: "/usr/bin/tshark")
        typealias Pane = Ch07Terminal.Pane

        /// The visible screen (tmux shows the alternate screen while the viewer runs).
        static func visible(_ pane: Pane) throws -> String {
            try pane.tmux(["capture-pane", "-p", "-t", pane.name]).stdout
        }

        /// The seq of a golden trace's first failed call (it moves when earlier stages change).
        static func firstErrorSeq(_ golden: String) throws -> Int {
            try firstSeq(golden) { $0["errno"] != nil }
        }

        /// The seq of a golden trace's first event that `matches`.
        static func firstSeq(_ golden: String, _ matches: ([String: Any]) -> Bool) throws -> Int {
            let text = try String(contentsOf: traces.appendingPathComponent(golden), encoding: .utf8)
            for line in text.split(separator: "\n") {
                guard let o = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], matches(o), let seq = o["seq"] as? Int else { continue }
                return seq
            }
            throw SandboxError(message: "\(golden) has no such event")
        }

        static func waitVisible(_ pane: Pane, for what: String, timeout: Double = 15, _ ok: (String) -> Bool) throws -> String {
            let deadline = Date().addingTimeInterval(timeout)
            var text = ""
            while Date() < deadline {
                text = try visible(pane)
                if ok(text) { return text }
                usleep(50_000)
            }
            Issue.record("the viewer never showed \(what); it shows:\n\(text)")
            return text
        }

        static func keys(_ pane: Pane, _ keys: String...) throws {
            for k in keys { try pane.tmux(["send-keys", "-t", pane.name, k]) }
        }

        static func literal(_ pane: Pane, _ text: String) throws {
            try pane.tmux(["send-keys", "-t", pane.name, "-l", text])
        }

        /// The stage the title bar names: " vitro replay  5/29  #95  network  ...".
        static func stage(in screen: String) -> String? {
            guard let title = screen.split(separator: "\n").first else { return nil }
            let parts = title.components(separatedBy: "  ").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            guard let seq = parts.firstIndex(where: { $0.hasPrefix("#") }), seq + 1 < parts.count else { return nil }
            return parts[seq + 1]
        }

        static func golden(_ name: String) throws -> [[String: Any]] {
            try String(contentsOf: traces.appendingPathComponent(name), encoding: .utf8).split(separator: "\n").map {
                try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] ?? [:]
            }
        }

        // MARK: the terminal viewer

        @Test(.enabled(if: hasTmux, "needs tmux (scripts/install-deps)"))
        func replayEveryGoldenTraceThroughTmux() throws {
            try leavesNothing {
                let box = try Sandbox()
                for name in Self.goldens {
                    try replay(name, box: box)
                }
            }
        }

        func replay(_ name: String, box: Sandbox) throws {
            let file = Self.traces.appendingPathComponent(name).path
            let events = try Self.golden(name).filter { $0["ph"] as? String != "M" }
            let pane = try Pane(columns: 80, rows: 24)
            defer { pane.close() }
            let before = box.dir + "/stty-before-\(name)", after = box.dir + "/stty-after-\(name)"
            try pane.type("stty -g > \(before); \(Binaries.vitro) trace replay \(file); echo replay-exit=$?; stty -g > \(after)")
            var screen = try Self.waitVisible(pane, for: "the title bar") { $0.hasPrefix(" vitro replay") }
            #expect(screen.contains(name))

            // Every stage, with "]" (next stage) until there is none.
            var reached: [String] = Self.stage(in: screen).map { [$0] } ?? []
            for _ in 0..<12 {
                try Self.keys(pane, "]")
                usleep(80_000)
                screen = try Self.waitVisible(pane, for: "a redraw") { $0.hasPrefix(" vitro replay") }
                if screen.contains("no stage after this one") { break }
                if let s = Self.stage(in: screen), s != reached.last { reached.append(s) }
                // Each stage's first event shows its details.
                #expect(screen.contains("1 Details") && screen.contains("#"))
            }
            var want: [String] = []
            for e in events {
                let s = e["stage"] as? String ?? ""
                let shown = s.isEmpty ? "(outside" : s
                if want.last != shown { want.append(shown) }
            }
            #expect(reached.map { $0.hasPrefix("(outside") ? "(outside" : $0 } == want, "\(name): reached \(reached), want \(want)")

            // An event with flags, why and shell: its details, then its kernel state.
            let detailed = events.first { e in
                (e["args"] as? [String: Any])?.contains { $0.key.hasSuffix("flags") && ($0.value as? String)?.contains("|") == true } == true
                    && e["why"] != nil && e["shell"] != nil
            } ?? events.first { $0["why"] != nil && $0["shell"] != nil }
            let e = try #require(detailed, "\(name) has an event with why and shell")
            let seq = e["seq"] as? Int ?? 0
            try Self.literal(pane, ":\(seq)")
            try Self.keys(pane, "Enter")
            screen = try Self.waitVisible(pane, for: "event #\(seq)") { $0.contains("#\(seq) \(e["name"] as? String ?? "")") }
            let why = (e["why"] as? String ?? "").prefix(30)
            #expect(screen.contains("why " + why), "\(name): why of #\(seq)\n\(screen)")
            let shell = (e["shell"] as? String ?? "").split(separator: "\n").first.map { String($0.prefix(30)) } ?? ""
            #expect(screen.contains("shell $ " + shell), "\(name): shell of #\(seq)\n\(screen)")
            if let ret = e["ret"] as? Int { #expect(screen.contains("ret \(ret)"), "\(name)\n\(screen)") }
            let code = try #require(e["code"] as? String, "\(name): event #\(seq) says where in the sources it was made")
            #expect(screen.contains("code " + code), "\(name): code of #\(seq)\n\(screen)")
            if let flags = (e["args"] as? [String: Any])?.first(where: { $0.key.hasSuffix("flags") })?.value as? String, flags.contains("|") {
                let named = flags.split(separator: "|").prefix(2).joined(separator: " | ")
                #expect(screen.contains(named), "\(name): flags by name \(named)\n\(screen)")
            }
            try Self.keys(pane, "2")
            screen = try Self.waitVisible(pane, for: "the kernel state") { $0.contains("kernel state before and after #\(seq)") }
            #expect(screen.contains("after this event:") || screen.contains("changed (- before, + after):"), "\(screen)")
            try Self.keys(pane, "1")

            // A failed call, when the trace has one.
            if let failed = events.first(where: { $0["errno"] != nil }) {
                try Self.keys(pane, "g", "e")
                screen = try Self.waitVisible(pane, for: "the first error") { $0.contains("FAILED ret -1, errno \(failed["errno"] as? String ?? "")") }
                #expect(screen.contains("#\(failed["seq"] as? Int ?? 0)"))
            }

            // Keys on "?"; any key closes it.
            try Self.keys(pane, "?")
            screen = try Self.waitVisible(pane, for: "the key help") { $0.contains("keys (any key closes this help)") }
            #expect(screen.contains("next stage") && screen.contains("break on a group or call"))
            try Self.keys(pane, "Space")
            _ = try Self.waitVisible(pane, for: "the help closed") { !$0.contains("keys (any key closes this help)") }

            // A bigger window: the frame follows (SIGWINCH).
            try pane.tmux("resize-window", "-t", pane.name, "-x", "100", "-y", "30")
            screen = try Self.waitVisible(pane, for: "a 100-column title bar") { $0.split(separator: "\n").first?.hasSuffix("? keys  q quit") == true && $0.split(separator: "\n").first?.count == 99 }
            // The status line is the 30th row now.
            #expect(screen.split(separator: "\n", omittingEmptySubsequences: false).prefix(30).last?.hasPrefix("j/k event") == true, "\(screen)")

            // q quits, the shell's screen and terminal settings come back.
            try Self.keys(pane, "q")
            let done = try pane.wait(for: "the viewer's exit") { $0.contains("replay-exit=0") }
            #expect(!done.contains("vitro replay  "), "the alternate screen is gone")
            try pane.wait(for: "the settings written after") { _ in FileManager.default.fileExists(atPath: after) }
            usleep(200_000)
            let saved = try String(contentsOfFile: before, encoding: .utf8), restored = try String(contentsOfFile: after, encoding: .utf8)
            #expect(!saved.isEmpty && saved == restored, "\(name): the viewer left the terminal changed")
        }

        @Test(.enabled(if: hasTmux, "needs tmux (scripts/install-deps)"))
        func breakpointsAndSearchThroughTmux() throws {
            let pane = try Pane(columns: 80, rows: 24)
            defer { pane.close() }
            try pane.type("\(Binaries.vitro) trace replay \(Self.traces.appendingPathComponent("05-network.jsonl").path); echo replay-exit=$?")
            _ = try Self.waitVisible(pane, for: "the title bar") { $0.hasPrefix(" vitro replay") }
            try Self.literal(pane, "bnetfilter")
            try Self.keys(pane, "Enter")
            _ = try Self.waitVisible(pane, for: "the breakpoint") { $0.contains("breakpoint on group netfilter (2 events)") }
            let bind = try Self.firstSeq("05-network.jsonl") { $0["name"] as? String == "bind" }
            let nft = try Self.firstSeq("05-network.jsonl") { $0["name"] as? String == "nft" }
            let forward = try Self.firstSeq("05-network.jsonl") { ($0["args"] as? [String: Any])?["path"] as? String == "/proc/sys/net/ipv4/ip_forward" }
            try Self.keys(pane, "c")
            var screen = try Self.waitVisible(pane, for: "the bind") { $0.contains("#\(bind) bind") }
            #expect(screen.contains("break: netfilter"))
            try Self.keys(pane, "c")
            screen = try Self.waitVisible(pane, for: "the nft transaction") { $0.contains("#\(nft) nft") }
            try Self.literal(pane, "/ip_forward")
            try Self.keys(pane, "Enter")
            screen = try Self.waitVisible(pane, for: "no match after") { $0.contains("not found after this event") }
            try Self.keys(pane, "N")
            screen = try Self.waitVisible(pane, for: "the sysctl") { $0.contains("#\(forward) write") }
            #expect(screen.contains("/proc/sys/net/ipv4/ip_forward"))
            // Ctrl-C in raw mode is a key: it quits too.
            try Self.keys(pane, "C-c")
            _ = try pane.wait(for: "the exit") { $0.contains("replay-exit=0") }
        }

        /// 100,000 events open in the viewer in under a second in a release build. The
        /// test binaries are a debug build, several times slower; the bound is checked
        /// when a release vitro at least as new as the debug one is there (`make
        /// release`), else the time is reported and only a gross regression fails.
        @Test(.enabled(if: hasTmux, "needs tmux (scripts/install-deps)"))
        func aHundredThousandEventsOpenInUnderASecond() throws {
            let box = try Sandbox()
            let big = box.dir + "/big.jsonl"
            try Self.bigTrace(100_000).write(toFile: big, atomically: true, encoding: .utf8)
            let release = URL(fileURLWithPath: Binaries.dir).deletingLastPathComponent().appendingPathComponent("release/vitro").path
            let fm = FileManager.default
            func modified(_ p: String) -> Date { ((try? fm.attributesOfItem(atPath: p))?[.modificationDate] as? Date) ?? .distantPast }
            let fresh = fm.isExecutableFile(atPath: release) && modified(release) >= modified(Binaries.vitro)
            let binary = fresh ? release : Binaries.vitro
            let pane = try Pane(columns: 80, rows: 24)
            defer { pane.close() }
            let start = Date()
            try pane.type("\(binary) trace replay \(big)")
            let screen = try Self.waitVisible(pane, for: "the first frame", timeout: 60) { $0.hasPrefix(" vitro replay  1/100000") }
            let took = Date().timeIntervalSince(start)
            print("100,000 events: first frame after \(String(format: "%.2f", took)) s (\(fresh ? "release" : "debug") build)")
            #expect(screen.contains("#1 "))
            if fresh { #expect(took < 1.0, "the release build took \(took) s") } else { #expect(took < 30, "\(took) s") }
            // The last stage and back stay quick.
            try Self.keys(pane, "G")
            _ = try Self.waitVisible(pane, for: "the last event", timeout: 30) { $0.hasPrefix(" vitro replay  100000/100000") }
            try Self.keys(pane, "q")
        }

        /// `n` events made of the golden tour's, renumbered, 1.5 us apart.
        static func bigTrace(_ n: Int) throws -> String {
            let lines = try String(contentsOf: traces.appendingPathComponent("00-tour.jsonl"), encoding: .utf8).split(separator: "\n")
            var events = try lines.map { try TraceEvent(jsonLine: String($0)) }
            let header = events.removeFirst()
            var out = header.jsonLine(epochNanos: 0) + "\n"
            out.reserveCapacity(n * 320)
            var seq: UInt64 = 1
            while seq <= UInt64(n) {
                for var e in events where seq <= UInt64(n) {
                    e.seq = seq
                    e.tsNanos = seq * 1500
                    out += e.jsonLine(epochNanos: 0) + "\n"
                    seq += 1
                }
            }
            return out
        }

        // MARK: diff of a real fault

        /// A run that works, then the same run with its host port taken by another
        /// program: the diff's first divergence is the bind that failed.
        @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/nsenter"), "needs nsenter"))
        func diffNamesAPortAlreadyInUse() throws {
            try leavesNothing {
                let lab = try NetLab()
                defer { lab.close() }
                let good = lab.box.dir + "/good.jsonl", bad = lab.box.dir + "/bad.jsonl"
                // Each run gets a rootfs of its own, as two machines would: a run writes
                // into its rootfs (the empty /etc/hostname it mounts on), and the second
                // run of one rootfs would differ there first.
                let rootfsB = lab.box.dir + "/rootfs-b"
                #expect(try lab.box.vitro(["mkrootfs", rootfsB]).status == 0)
                let ok = try lab.run(["/bin/true"], extra: ["-p", "8080:80", "--trace", good])
                #expect(ok.status == 0, "\(ok.stderr)")
                // The fault: something else listens on the host's port 8080 already.
                let holder = Process()
                holder.executableURL = URL(fileURLWithPath: NetLab.nsenter)
                holder.arguments = ["--net=/run/netns/" + lab.host, "/bin/busybox", "nc", "-l", "-p", "8080"]
                holder.standardInput = Pipe()
                holder.standardOutput = FileHandle.nullDevice
                try holder.run()
                defer {
                    // SIGKILL: the test process may have SIGTERM blocked, and a child
                    // inherits that (busybox nc then outlives terminate()).
                    kill(holder.processIdentifier, SIGKILL)
                    holder.waitUntilExit()
                }
                var listening = false
                for _ in 0..<50 where !listening {
                    listening = try lab.inHost(["/usr/bin/ss", "-ltnH", "sport = :8080"]).stdout.contains("8080")
                    if !listening { usleep(50_000) }
                }
                #expect(listening, "the port holder never listened")
                let failed = try lab.vitro(["run", "--rootfs", rootfsB] + lab.bridgeFlags + ["-p", "8080:80", "--trace", bad, "/bin/true"])
                #expect(failed.status == 125 && failed.stderr.contains("8080"), "\(failed.stderr)")

                let d = try lab.box.vitro(["trace", "diff", good, bad])
                #expect(d.status == 1, "\(d.stdout)\(d.stderr)")
                #expect(d.stdout.contains("first divergence: stage network, call bind (changed)"), "\(d.stdout)")
                #expect(d.stdout.contains("errno: (none) -> EADDRINUSE") && d.stdout.contains("ret: 3 -> -1"), "\(d.stdout)")
                #expect(d.stdout.contains("EADDRINUSE: address already in use"))
                // The same two traces the other way round: the fault is still the bind.
                let back = try lab.box.vitro(["trace", "diff", bad, good])
                #expect(back.stdout.contains("call bind (changed)") && back.stdout.contains("errno: EADDRINUSE -> (none)"), "\(back.stdout)")
                // A run against itself: no divergence, exit 0.
                let same = try lab.box.vitro(["trace", "diff", good, good])
                #expect(same.status == 0 && same.stdout.hasPrefix("no divergence"), "\(same.stdout)")
                // show finds the failure by errno.
                let show = try lab.box.vitro(["trace", "show", "--errno", "EADDRINUSE", "-x", bad])
                #expect(show.status == 0 && show.stdout.contains("=> bind 0.0.0.0 failed: EADDRINUSE"), "\(show.stdout)\(show.stderr)")
            }
        }

        // MARK: exports others open

        static let artifacts = packageRoot.appendingPathComponent(".build/test-artifacts")

        func chromium(_ box: Sandbox, _ args: [String]) throws -> Output {
            try runProcess(
                Self.chromiumPath,
                ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--user-data-dir=\(box.dir)/chromium", "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000"] + args,
                env: ["HOME": box.dir], timeout: 120)
        }

        @Test(.enabled(if: hasChromium, "needs chromium (scripts/install-deps)"))
        func htmlExportRendersInHeadlessChromium() throws {
            let box = try Sandbox()
            let html = box.dir + "/tour.html"
            let export = try box.vitro(["trace", "export", "--format", "html", "-o", html, Self.traces.appendingPathComponent("00-tour.jsonl").path])
            #expect(export.status == 0, "\(export.stderr)")
            let dom = try chromium(box, ["--dump-dom", "file://" + html])
            #expect(dom.status == 0)
            let console = dom.stderr.split(separator: "\n").filter { $0.contains(":CONSOLE") }
            #expect(console.isEmpty, "console messages: \(console)")
            #expect(!dom.stdout.contains("data-errors="), "script errors: \(dom.stdout.prefix(300))")
            let events = try String(contentsOf: Self.traces.appendingPathComponent("00-tour.jsonl"), encoding: .utf8).split(separator: "\n").count - 1
            #expect(dom.stdout.contains("data-ready=\"\(events)\""), "every event of the golden (less its header)")
            for stage in ["rootfs", "namespaces", "cgroups", "network", "exec"] {
                #expect(dom.stdout.contains("data-stage=\"\(stage)\""), "stage \(stage) in the timeline")
            }
            // The details panel shows the first event; the list has rows.
            #expect(dom.stdout.contains("<h2>#1 rootfs</h2>"))
            #expect(dom.stdout.contains("<h3>code</h3><code>Sources/VitroRuntime/ContainerRun.swift</code>"), "where the stage is opened")
            #expect(dom.stdout.contains("class=\"row"), "rows in the list")
            // A screenshot, kept for people to look at.
            try FileManager.default.createDirectory(at: Self.artifacts, withIntermediateDirectories: true)
            let png = Self.artifacts.appendingPathComponent("replay-00-tour.png").path
            try? FileManager.default.removeItem(atPath: png)
            let shot = try chromium(box, ["--window-size=1280,900", "--screenshot=" + png, "file://" + html])
            #expect(shot.status == 0)
            let header = (try? Data(contentsOf: URL(fileURLWithPath: png)).prefix(8)) ?? Data()
            #expect(header == Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]), "a PNG at \(png)")
        }

        @Test(.enabled(if: hasChromium, "needs chromium (scripts/install-deps)"))
        func htmlExportOfAFailedRunAndOfPacketsAndOfABigTrace() throws {
            let box = try Sandbox()
            // The network golden: its first error is selected and explained.
            let net = box.dir + "/net.html"
            #expect(try box.vitro(["trace", "export", "--format", "html", "-o", net, Self.traces.appendingPathComponent("05-network.jsonl").path]).status == 0)
            var dom = try chromium(box, ["--dump-dom", "file://" + net])
            #expect(!dom.stdout.contains("data-errors=") && !dom.stderr.contains(":CONSOLE"), "\(dom.stderr.suffix(500))")
            let failed = try Self.firstErrorSeq("05-network.jsonl")
            #expect(dom.stdout.contains("<h2>#\(failed) RTM_GETLINK</h2>") && dom.stdout.contains("errno ENODEV (no such device)"), "\(dom.stdout.suffix(2000))")
            // Packets: the hop view with the NAT rewrite highlighted and the hop marked.
            let packets = box.dir + "/packets.jsonl"
            try Self.packetTrace().write(toFile: packets, atomically: true, encoding: .utf8)
            let ph = box.dir + "/packets.html"
            #expect(try box.vitro(["trace", "export", "--format", "html", "--group", "packet", "-o", ph, packets]).status == 0)
            dom = try chromium(box, ["--dump-dom", "file://" + ph])
            #expect(!dom.stdout.contains("data-errors="), "\(dom.stdout.prefix(500))")
            #expect(dom.stdout.contains("<span class=\"nat\">10.203.0.2:80</span>"), "\(dom.stdout.suffix(3000))")
            #expect(dom.stdout.contains("class=\"box here\" data-role=\"host\""))
            // 100,000 events: the page loads, and only the rows in view are in the DOM.
            let bigTrace = box.dir + "/big.jsonl", big = box.dir + "/big.html"
            try Self.bigTrace(100_000).write(toFile: bigTrace, atomically: true, encoding: .utf8)
            #expect(try box.vitro(["trace", "export", "--format", "html", "-o", big, bigTrace], timeout: 120).status == 0)
            let started = Date()
            dom = try chromium(box, ["--dump-dom", "file://" + big])
            let took = Date().timeIntervalSince(started)
            #expect(dom.stdout.contains("data-ready=\"100000\"") && !dom.stdout.contains("data-errors="))
            let rows = dom.stdout.components(separatedBy: "class=\"row").count - 1
            #expect(rows > 10 && rows < 200, "\(rows) rows in the DOM for 100,000 events")
            print("100,000-event HTML: \(rows) rows in the DOM, loaded and dumped in \(String(format: "%.1f", took)) s")
        }

        @Test(.enabled(if: hasTshark, "needs tshark (scripts/install-deps)"))
        func tsharkReadsThePcapngExport() throws {
            let box = try Sandbox()
            let packets = box.dir + "/packets.jsonl", pcap = box.dir + "/packets.pcapng"
            try Self.packetTrace().write(toFile: packets, atomically: true, encoding: .utf8)
            let export = try box.vitro(["trace", "export", "--format", "pcapng", "-o", pcap, packets])
            #expect(export.status == 0, "\(export.stderr)")
            let o = try runProcess(
                "/usr/bin/tshark",
                ["-r", pcap, "-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE", "-T", "fields", "-E", "separator=,",
                 "-e", "frame.interface_name", "-e", "ip.src", "-e", "ip.dst", "-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "ip.checksum.status", "-e", "tcp.checksum.status", "-e", "frame.comment"],
                env: ["HOME": box.dir])
            #expect(o.status == 0, "\(o.stderr)")
            let lines = o.stdout.split(separator: "\n").map(String.init)
            #expect(lines.count == 8, "\(o.stdout)")
            #expect(lines.first?.hasPrefix("host/vth0,10.201.1.2,10.201.1.1,40000,8080,1,1,vitro hop 1 in on host/vth0; dnat 10.201.1.1:8080 -> 10.203.0.2:80") == true, "\(o.stdout)")
            #expect(lines.map { $0.split(separator: ",").first.map(String.init) ?? "" } == [
                "host/vth0", "host/vgold0", "host/vx0123456789ab", "container/eth0", "container/eth0", "host/vx0123456789ab", "host/vgold0", "host/vth0",
            ])
            #expect(lines[3].hasPrefix("container/eth0,10.201.1.2,10.203.0.2,40000,80,1,1"), "after DNAT: \(lines[3])")
            // One interface description per (netns, interface).
            let capinfo = try runProcess("/usr/bin/tshark", ["-r", pcap, "-q", "-z", "io,phs"], env: ["HOME": box.dir])
            #expect(capinfo.status == 0)
            // A trace without packet events has nothing to write.
            let none = try box.vitro(["trace", "export", "--format", "pcapng", "-o", box.dir + "/none.pcapng", Self.traces.appendingPathComponent("05-network.jsonl").path])
            #expect(none.status == 1 && none.stderr.contains("no packet events"), "\(none.stderr)")
        }

        /// The SYN of a connection to a published port, four hops in (DNAT on the first),
        /// and the SYN-ACK four hops out (SNAT back on the last). Synthetic: the
        /// packet-path capture that writes such events (issue #5) is not built yet.
        static func packetTrace() -> String {
            let outside = "10.201.1.2:40000", published = "10.201.1.1:8080", container = "10.203.0.2:80"
            let hops: [(Int, Int, String, String, String, String, String, String?, String?)] = [
                (1, 1, "host", "vth0", "in", outside, published, nil, container),
                (1, 2, "host", "vgold0", "out", outside, container, nil, nil),
                (1, 3, "host", "vx0123456789ab", "out", outside, container, nil, nil),
                (1, 4, "container", "eth0", "in", outside, container, nil, nil),
                (2, 1, "container", "eth0", "out", container, outside, nil, nil),
                (2, 2, "host", "vx0123456789ab", "in", container, outside, nil, nil),
                (2, 3, "host", "vgold0", "in", container, outside, nil, nil),
                (2, 4, "host", "vth0", "out", container, outside, published, nil),
            ]
            var out = TraceEvent(
                tsNanos: 0, phase: .metadata, name: "trace", group: .stage, stage: .none, pid: 100, tid: 100,
                args: ["schema": .int(1), "argv": .list(["/bin/nc", "-l", "-p", "80"]), "wall_clock_start": .string("1700000000.000000")]
            ).jsonLine(epochNanos: 0) + "\n"
            for (n, h) in hops.enumerated() {
                var args: Args = [
                    "hop": .int(Int64(h.1)), "packet": .int(Int64(h.0)), "netns": .string(h.2), "interface": .string(h.3), "direction": .string(h.4),
                    "proto": .string("tcp"), "src": .string(h.5), "dst": .string(h.6), "tcp_flags": .string(h.0 == 1 ? "SYN" : "SYN|ACK"),
                ]
                if let s = h.7 { args.append("nat_src", .string(s)) }
                if let d = h.8 { args.append("nat_dst", .string(d)) }
                if h.7 != nil || h.8 != nil { args.append("rule", .string(h.8 != nil ? "ip vitro ports: tcp dport 8080 dnat to 10.203.0.2:80" : "conntrack: reply of the DNAT'ed connection")) }
                out += TraceEvent(
                    seq: UInt64(n + 1), tsNanos: UInt64(n + 1) * 1000, phase: .instant, name: "packet", group: .packet, stage: .network, pid: 100, tid: 100, args: args
                ).jsonLine(epochNanos: 0) + "\n"
            }
            return out
        }

        // MARK: traces kept per container and per run; bad input

        @Test func traceLsAndShowByContainer() throws {
            try leavesNothing {
                let box = try Sandbox()
                let first = try box.run(["/bin/sh", "-c", "echo one"], extra: ["--name", "replayed"])
                #expect(first.status == 0, "\(first.stderr)")
                let again = try box.vitro(["start", "-a", "replayed"])
                #expect(again.status == 0, "\(again.stderr)")
                let ls = try box.vitro(["trace", "ls"])
                #expect(ls.status == 0, "\(ls.stderr)")
                let rows = ls.stdout.split(separator: "\n").filter { $0.contains("replayed") }
                #expect(rows.count == 2, "\(ls.stdout)")
                #expect(rows.first?.contains("run 1") == true && rows.last?.contains("run 2") == true, "\(ls.stdout)")
                #expect(ls.stdout.contains("2 traces") && ls.stdout.contains("newest 100"))
                let paths = try box.vitro(["trace", "ls", "-q", "replayed"]).stdout.split(separator: "\n").map(String.init)
                #expect(paths.count == 2 && paths.allSatisfy { $0.hasPrefix(box.root + "/traces/run-") })
                #expect(paths.last?.hasSuffix(".2.jsonl") == true)
                // show CONTAINER: the newest run, narrated; filters.
                let show = try box.vitro(["trace", "show", "replayed"])
                #expect(show.status == 0 && show.stdout.contains("== namespaces: create namespaces") && show.stdout.contains("=> pivot_root"), "\(show.stderr)")
                let exec = try box.vitro(["trace", "show", "--stage", "exec", "--call", "execve", "-a", "replayed"])
                #expect(exec.stdout.contains("=> execve /bin/sh done") && exec.stdout.contains("args: path=/bin/sh argv=\"/bin/sh -c echo one\""), "\(exec.stdout)")
                let json = try box.vitro(["trace", "show", "--json", "--group", "mount", "replayed"])
                #expect(!json.stdout.isEmpty && json.stdout.split(separator: "\n").allSatisfy { $0.contains("\"group\":\"mount\"") })
                // A trace outlives its container: by name from `ls`, and by id prefix.
                let id = try box.vitro(["inspect", "-f", "{{.Id}}", "replayed"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                #expect(try box.vitro(["rm", "replayed"]).status == 0)
                let gone = try box.vitro(["trace", "ls"])
                #expect(gone.stdout.contains("(removed)"), "\(gone.stdout)")
                #expect(try box.vitro(["trace", "show", String(id.prefix(8))]).stdout.contains("== exec"))
                let byName = try box.vitro(["trace", "show", "run-\(id.prefix(12)).jsonl"])
                #expect(byName.status == 0 && byName.stdout.contains("== rootfs: prepare the root filesystem"), "\(byName.stderr)")
                // Exports write files; replay --print draws a screen without a terminal.
                let chrome = try box.vitro(["trace", "export", "--format", "chrome", "-o", box.dir + "/t.json", String(id.prefix(8))])
                #expect(chrome.status == 0 && FileManager.default.fileExists(atPath: box.dir + "/t.json"))
                let printed = try box.vitro(["trace", "replay", "--print", "--keys", "e", String(id.prefix(8))])
                #expect(printed.status == 0 && printed.stdout.hasPrefix(" vitro replay") && printed.stdout.split(separator: "\n", omittingEmptySubsequences: false).count == 25, "\(printed.stdout)\(printed.stderr)")
                let noTerminal = try box.vitro(["trace", "replay", String(id.prefix(8))])
                #expect(noTerminal.status == 1 && noTerminal.stderr.contains("needs a terminal"))
                #expect(try box.vitro(["trace", "show", "no-such-container"]).stderr == "vitro: no such trace file or container: no-such-container\n")
            }
        }

        @Test func badInputGetsAnErrorNamingTheLine() throws {
            let box = try Sandbox()
            let tour = try String(contentsOf: Self.traces.appendingPathComponent("00-tour.jsonl"), encoding: .utf8)
            let lines = tour.split(separator: "\n")
            let cases: [(String, String, String)] = [
                ("truncated", lines.prefix(10).joined(separator: "\n") + "\n" + lines[10].prefix(40), "line 11: the trace ends in the middle of an event (truncated"),
                ("newer", tour.replacingOccurrences(of: #"{"schema":1,"#, with: #"{"schema":7,"#), "line 1: the trace has schema version 7, newer than this vitro reads (1)"),
                ("notatrace", "# a shell script\necho hello\n", "line 1: not a vitro trace"),
                ("middle", lines.prefix(5).joined(separator: "\n") + "\n{\"seq\":5}\n", "line 6: not a trace event: no \"ts\" field"),
                ("empty", "", "line 1: the file is empty, not a trace"),
            ]
            for (name, text, message) in cases {
                let path = box.dir + "/\(name).jsonl"
                try text.write(toFile: path, atomically: true, encoding: .utf8)
                for command in [["trace", "show"], ["trace", "replay", "--print"], ["trace", "export", "--format", "chrome"], ["trace", "diff", path]] {
                    let o = try box.vitro(command + [path])
                    #expect(o.status == 125, "\(name) \(command): \(o.status)")
                    #expect(o.stderr.hasPrefix("vitro: trace \(path): \(message)") && o.stderr.split(separator: "\n").count == 1, "\(name) \(command): \(o.stderr)")
                    #expect(o.stdout.isEmpty)
                }
            }
            let missing = try box.vitro(["trace", "show", box.dir + "/nope.jsonl"])
            #expect(missing.status == 1 && missing.stderr.contains("no such file"))
            let badTime = try box.vitro(["trace", "show", "--since", "12", Self.traces.appendingPathComponent("05-network.jsonl").path])
            #expect(badTime.status == 1 && badTime.stderr.contains("a number with a unit"))
        }
    }
}
