// Chapter 12: the terminal viewer's model, driven by keys as the terminal would drive
// it, and drawn at 80x24; the kernel state replayed from a trace; packet hops.

import Foundation
import Testing

@testable import VitroReplay
@testable import VitroTrace

@Suite struct ReplayViewerModel {
    func viewer(_ name: String) throws -> ReplayViewer {
        ReplayViewer(trace: try ReplayFixtures.golden(name), title: name)
    }

    func press(_ v: ReplayViewer, _ keys: String) {
        var d = KeyDecoder()
        for k in d.feed(Array(keys.utf8)) { v.handle(k) }
    }

    func screen(_ v: ReplayViewer, rows: Int = 24, columns: Int = 80) -> String {
        let f = v.frame(rows: rows, columns: columns)
        #expect(f.rows.count == rows)
        let text = f.text
        #expect(text.split(separator: "\n", omittingEmptySubsequences: false).allSatisfy { $0.count <= columns })
        return text
    }

    @Test func framesFitEightyByTwentyFourAndLarger() throws {
        for name in ReplayFixtures.goldenNames {
            let v = try viewer(name)
            for (rows, cols) in [(24, 80), (30, 100), (50, 200), (10, 40)] {
                for _ in 0..<3 {
                    let text = screen(v, rows: rows, columns: cols)
                    #expect(text.contains("vitro replay"))
                    press(v, "j")
                }
            }
            let small = v.frame(rows: 8, columns: 30)
            #expect(small.text.contains("window too small"))
            // The ANSI form: cursor home first, every row cleared to its end.
            let ansi = v.frame(rows: 24, columns: 80).ansi
            #expect(ansi.hasPrefix("\u{1B}[H") && ansi.components(separatedBy: "\u{1B}[K").count == 25)
        }
    }

    @Test func nextStageReachesEveryStage() throws {
        for name in ReplayFixtures.goldenNames {
            let t = try ReplayFixtures.golden(name)
            let v = ReplayViewer(trace: t, title: name)
            var seen: [Stage] = [v.event?.stage ?? .none]
            for _ in 0..<20 {
                press(v, "]")
                if let s = v.event?.stage, s != seen.last { seen.append(s) }
            }
            #expect(Set(seen) == Set(t.events.map(\.stage)), "\(name): \(seen)")
            #expect(screen(v).contains("no stage after this one"))
            press(v, "[")
            #expect(v.current < t.events.count - 1)
        }
    }

    @Test func nextErrorShowsItsDetails() throws {
        let v = try viewer("05-network.jsonl")
        // The golden's one error (its seq moves when earlier stages change).
        let failed = try #require(try ReplayFixtures.golden("05-network.jsonl").events.first { $0.errno != nil }?.seq)
        press(v, "e")
        #expect(v.event?.seq == failed)
        let text = screen(v)
        #expect(text.contains("FAILED ret -1, errno ENODEV: no such device"), "\(text)")
        #expect(text.contains("why does the bridge exist already?"))
        #expect(text.contains("shell $ ip link show vgold0"))
        #expect(text.contains("ifname") && text.contains("vgold0"))
        press(v, "e")
        #expect(screen(v).contains("no error after this event") && v.event?.seq == failed)
        press(v, "G")
        press(v, "E")
        #expect(v.event?.seq == failed)
    }

    @Test func flagsShowByName() throws {
        let v = try viewer("00-tour.jsonl")
        press(v, "/flags=CLONE_NEWNS\r")
        #expect(v.event?.name == "unshare")
        let text = screen(v, rows: 40, columns: 120)
        #expect(text.contains("CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID | CLONE_NEWNET"), "\(text)")
        // A trace from before open's flags were named: the number, and the names.
        var t = try ReplayFixtures.golden("00-tour.jsonl")
        let open = try #require(t.events.firstIndex { $0.name == "open" })
        t.events[open].args = ["path": .string("/x"), "flags": .int(655937)]
        let old = ReplayViewer(trace: t, title: "old")
        old.move(to: open)
        #expect(screen(old, rows: 40, columns: 120).contains("655937 (O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC)"))
    }

    @Test func breakpointsOnAGroupAndOnACall() throws {
        let v = try viewer("05-network.jsonl")
        press(v, "bnetfilter\r")
        #expect(v.breakpoints == ["netfilter"])
        #expect(screen(v).contains("breakpoint on group netfilter (2 events)"))
        press(v, "c")
        #expect(v.event?.name == "bind")
        press(v, "c")
        #expect(v.event?.name == "nft")
        press(v, "c")
        #expect(screen(v).contains("no breakpoint hit after this event") && v.event?.name == "nft")
        press(v, "C")
        #expect(v.event?.name == "bind")
        press(v, "B")
        press(v, "bRTM_NEWROUTE\r")
        press(v, "c")
        #expect(v.event?.name == "RTM_NEWROUTE" && screen(v).contains("break: RTM_NEWROUTE"))
        // Enter alone breaks on the current call.
        press(v, "B")
        press(v, "b\r")
        #expect(v.breakpoints == ["RTM_NEWROUTE"])
        // Escape cancels a prompt.
        press(v, "b")
        v.handle(.escape)
        #expect(v.breakpoints == ["RTM_NEWROUTE"])
    }

    @Test func searchAndGoToSeq() throws {
        let v = try viewer("00-tour.jsonl")
        press(v, "/new_root=\r")
        #expect(v.event?.name == "pivot_root")
        press(v, "g/mknod\r")
        let first = v.current
        press(v, "n")
        #expect(v.event?.name == "mknod" && v.current > first)
        press(v, "N")
        #expect(v.current == first)
        press(v, "/no such text\r")
        #expect(screen(v).contains("not found"))
        let execve = try #require(v.trace.events.last { $0.name == "execve" }).seq
        press(v, ":\(execve)\r")
        #expect(v.event?.seq == execve && v.event?.name == "execve")
        press(v, "g")
        #expect(v.current == 0)
    }

    @Test func helpAndQuit() throws {
        let v = try viewer("04-cgroups.jsonl")
        press(v, "?")
        let help = screen(v)
        for key in ["next stage", "next / previous error", "break on a group or call", "search", "quit"] {
            #expect(help.contains(key), "\(key)")
        }
        press(v, "j")
        #expect(v.current == 0 && !v.showingHelp, "a key closes the help")
        #expect(!v.quit)
        press(v, "q")
        #expect(v.quit)
        let w = try viewer("04-cgroups.jsonl")
        w.handle(.control("c"))
        #expect(w.quit)
    }

    @Test func kernelStateBeforeAndAfter() throws {
        let v = try viewer("00-tour.jsonl")
        press(v, "/fstype=proc\r")
        #expect(v.event?.name == "mount")
        var text = screen(v, rows: 40, columns: 120)
        #expect(text.contains("kernel state changed") && text.contains("+ <rootfs>/proc: proc type proc (MS_NOSUID|MS_NODEV|MS_NOEXEC)"), "\(text)")
        let mount = v.event?.seq ?? 0
        press(v, "2")
        text = screen(v, rows: 60, columns: 120)
        #expect(text.contains("kernel state before and after #\(mount) mount"))
        #expect(text.contains("pid 200: mnt uts ipc net (new, unshare by pid 200)") || text.contains("pid 300: mnt uts ipc"), "\(text)")
        // After pivot_root the mounts read from the new root.
        press(v, "/new_root=\r")
        text = screen(v, rows: 80, columns: 140)
        #expect(text.contains("+ /proc: proc type proc") && text.contains("root of pid 300's mount namespace: <rootfs> (pivot_root)"), "\(text)")
        // A failed call changed nothing.
        let net = try viewer("05-network.jsonl")
        press(net, "e2")
        #expect(screen(net).contains("this call failed: it changed nothing"))
    }

    @Test func kernelStateReplaysTheTour() throws {
        let t = try ReplayFixtures.golden("00-tour.jsonl")
        let replay = KernelReplay(t.events, stride: 16)
        let end = replay.before(t.events.count)
        #expect(end.section("hostname")?.orderedLines == ["<id12> (uts namespace of pid 300)"])
        #expect(end.section("namespaces")?.line("pid 300")?.contains("mnt uts ipc pid net") == true)
        #expect(end.section("namespaces")?.line("pid 300")?.contains("cgroup") == true)
        #expect(end.section("mounts")?.orderedLines.contains { $0.hasPrefix("(old root)") } == false, "the old root is detached")
        #expect(end.section("capabilities")?.line("pid 300")?.contains("CAP_SYS_ADMIN") == true)
        #expect(end.section("cgroups")?.isEmpty == true, "the cgroups are removed at the end")
        let processes = end.section("processes")?.orderedLines ?? []
        #expect(processes.contains { $0.hasPrefix("pid 300: exec /bin/sh -c echo hello") } && processes.contains("the container's process: exited 0"), "\(processes)")
        // Mid-run (once the container's command runs) the cgroup is there with pid 1 in
        // it: pid 1 joins after `ready`, before `exec`.
        let mid = try #require(t.events.firstIndex { $0.phase == .end && $0.stage == .exec })
        #expect(replay.before(mid).section("cgroups")?.line("/sys/fs/cgroup/memory/vitro/<id>/tasks") == "/sys/fs/cgroup/memory/vitro/<id>/tasks <- 0")
        // Stepping back gives the same states as going forward.
        for i in stride(from: t.events.count, through: 0, by: -7) {
            var fresh = KernelState()
            for e in t.events[..<i] { fresh.apply(e) }
            #expect(replay.before(i) == fresh, "state before \(i)")
        }
        // The network: links, addresses, routes and rules.
        let net = try ReplayFixtures.golden("05-network.jsonl")
        let after = KernelReplay(net.events).before(net.events.count)
        #expect(after.section("links")?.orderedLines.contains("[host] vgold0: bridge, mtu 1500, up") == true)
        #expect(after.section("links")?.orderedLines.contains("[netns of pid 300] eth0: veth (peer of vx<id12>), up") == true, "\(after.section("links")?.orderedLines ?? [])")
        #expect(after.section("routes")?.orderedLines == ["[netns of pid 300] default via 10.203.0.1 dev eth0"])
        #expect(after.section("nftables")?.orderedLines.contains(#"rule in ip vitro ports: tcp dport 8080 dnat to 10.203.0.2:80 comment "vitro:<id12>""#) == true)
        // Deleting the container's rules by handle removes them from the model too.
        var gone = after
        gone.apply(TraceEvent(
            tsNanos: 0, durNanos: 0, phase: .complete, name: "nft", group: .netfilter, stage: .none, pid: 100, tid: 100,
            args: ["container": .string("<id12>")], ret: 0, shell: "nft -f - <<'EOF'\ndelete rule ip vitro ports handle 7\nEOF"))
        #expect(gone.section("nftables")?.orderedLines.contains { $0.contains("dnat to") } == false)
        #expect(gone.section("nftables")?.orderedLines.contains { $0.contains("masquerade") } == true)
    }

    @Test func packetHopsTopologyAndNAT() throws {
        let t = ReplayFixtures.packetTrace()
        let v = ReplayViewer(trace: t, title: "packets")
        press(v, "p")
        #expect(v.event?.seq == 4)
        press(v, "3")
        let f = v.frame(rows: 24, columns: 80)
        let text = f.text
        #expect(text.contains("| host       |----| bridge     |----| veth       |====| container  |"), "\(text)")
        #expect(text.contains("| vth0       |    | vgold0     |    | vx012345678|    | eth0       |"), "\(text)")
        #expect(text.contains(" ^ hop 1"))
        #expect(text.contains("NAT here: dst 10.201.1.1:8080 -> 10.203.0.2:80"))
        #expect(text.contains("rule: ip vitro ports: tcp dport 8080 dnat to 10.203.0.2:80"))
        // The rewritten field is highlighted, and the current box marked.
        let styled = f.rows.flatMap(\.spans)
        #expect(styled.contains { $0.style == .highlight && $0.text.hasPrefix("10.203.0.2:80") })
        #expect(styled.contains { $0.style == .marked && $0.text.contains("host") })
        // The fourth hop is in the container.
        press(v, "ppp")
        #expect(v.event?.seq == 7)
        let inside = v.frame(rows: 24, columns: 80)
        #expect(inside.rows.flatMap(\.spans).contains { $0.style == .marked && $0.text.contains("container") })
        #expect(inside.text.contains(" ^ hop 4"))
        // The reply: SNAT on its last hop.
        press(v, "pppp")
        #expect(v.event?.seq == 11)
        #expect(v.frame(rows: 24, columns: 80).text.contains("NAT here: src 10.203.0.2:80 -> 10.201.1.1:8080"))
        // Without the netlink events, the bridge is the host interface next to the veth.
        var bare = t
        bare.events.removeAll { $0.group == .netlink }
        let path = PacketPath(bare)
        #expect(path.bridges.isEmpty)
        #expect(path.hops.map(path.role) == ["host", "bridge", "veth", "container", "container", "veth", "bridge", "host"])
        // A trace without packets says so.
        let none = try viewer("05-network.jsonl")
        press(none, "3")
        #expect(screen(none).contains("no packet events in this trace"))
        press(none, "p")
        #expect(screen(none).contains("no packet events in this trace"))
    }

    @Test func aHundredThousandEventsOpenQuickly() throws {
        let text = try ReplayFixtures.big(100_000)
        let bytes = Array(text.utf8)
        let clock = ContinuousClock()
        var trace: Trace?
        let read = clock.measure { trace = try? TraceReader.read(bytes) }
        let t = try #require(trace)
        #expect(t.events.count == 100_000)
        var v: ReplayViewer?
        let open = clock.measure {
            let viewer = ReplayViewer(trace: t, title: "big")
            _ = viewer.frame(rows: 24, columns: 80)
            v = viewer
        }
        let viewer = try #require(v)
        let step = clock.measure {
            for _ in 0..<50 { viewer.handle(.char("]")) }
            viewer.handle(.char("G"))
            viewer.handle(.char("2"))
            _ = viewer.frame(rows: 24, columns: 80)
            viewer.handle(.char("g"))
            _ = viewer.frame(rows: 24, columns: 80)
        }
        print("100,000 events: read \(read), viewer \(open), stepping \(step) (debug build)")
        // The one-second budget is for a release build (Benchmarks/README.md measures
        // it); a debug build is several times slower, so this bound only catches
        // something quadratic.
        #expect(open < .seconds(2) && step < .seconds(20), "viewer \(open), stepping \(step)")
    }
}
