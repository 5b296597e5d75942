// Chapter 12: `trace diff`: two runs lined up by stage and call, pids, times and
// temporary paths aside, and the first divergence named.

import Foundation
import Testing

@testable import VitroReplay
@testable import VitroTrace

@Suite struct ReplayDiff {
    /// The tour's golden trace as a real run would have written it: its own pids, times,
    /// state root and rootfs (what the normaliser replaces).
    func asRun(_ text: String, pidBase: Int, root: String, rootfs: String, id: String) -> String {
        var t = text.replacingOccurrences(of: "<root>", with: root).replacingOccurrences(of: "<rootfs>", with: rootfs)
        t = t.replacingOccurrences(of: "<id12>", with: String(id.prefix(12))).replacingOccurrences(of: "<id>", with: id)
        for (old, new) in [(300, pidBase + 7), (200, pidBase + 3), (100, pidBase)] {
            t = t.replacingOccurrences(of: "\"pid\":\(old),", with: "\"pid\":\(new),").replacingOccurrences(of: "\"tid\":\(old),", with: "\"tid\":\(new),")
            t = t.replacingOccurrences(of: "\"ret\":\(old),", with: "\"ret\":\(new),").replacingOccurrences(of: "/proc/\(old)/", with: "/proc/\(new)/")
            t = t.replacingOccurrences(of: "tmp-\(old)\"", with: "tmp-\(new)\"").replacingOccurrences(of: "\"value\":\"\(old)\"", with: "\"value\":\"\(new)\"")
        }
        var n = 0
        return t.split(separator: "\n").map { line -> String in
            n += 1
            return line.replacingOccurrences(of: "\"ts\":0.000", with: "\"ts\":\(n * 17 + pidBase % 7).250")
        }.joined(separator: "\n") + "\n"
    }

    @Test func twoRunsThatDidTheSameAreTheSame() throws {
        let golden = try ReplayFixtures.goldenText("00-tour.jsonl")
        let a = try ReplayFixtures.read(asRun(golden, pidBase: 4242, root: "/tmp/vitro-a/state", rootfs: "/tmp/vitro-a/rootfs", id: String(repeating: "a1", count: 32)))
        let b = try ReplayFixtures.read(asRun(golden, pidBase: 9100, root: "/tmp/vitro-bb/state", rootfs: "/tmp/x/rootfs", id: String(repeating: "b2", count: 32)))
        #expect(a.events[20].pid == 4242 + 7 || a.events.contains { $0.pid == 4249 })
        let d = TraceDiff(a, b)
        #expect(d.identical, "\(d.report(nameA: "a", nameB: "b", all: true))")
        #expect(d.report(nameA: "a", nameB: "b").hasPrefix("no divergence"))
        #expect(TraceDiff(try ReplayFixtures.golden("05-network.jsonl"), try ReplayFixtures.golden("05-network.jsonl")).identical)
    }

    @Test func aMissingDNATRuleIsTheFirstDivergence() throws {
        let good = try ReplayFixtures.golden("05-network.jsonl")
        var bad = good
        bad.events.removeAll { $0.name == "nft" }
        let d = TraceDiff(good, bad)
        let f = try #require(d.first)
        #expect(f.kind == .onlyInA && f.call == "nft" && f.stage == .network)
        let report = d.report(nameA: "good", nameB: "bad")
        #expect(report.contains("first divergence: stage network, call nft (only in A)"), "\(report)")
        #expect(report.contains("dnat") || report.contains("0.0.0.0:8080->80/tcp"), "\(report)")
    }

    @Test func aPortInUseIsTheFirstDivergenceWithItsErrno() throws {
        let good = try ReplayFixtures.golden("05-network.jsonl")
        var bad = good
        // What a run whose host port was taken writes: bind fails, the stage ends with
        // the error, nothing after it.
        let bind = try #require(bad.events.firstIndex { $0.name == "bind" })
        bad.events[bind].ret = -1
        bad.events[bind].errno = "EADDRINUSE"
        var end = bad.events[bad.events.count - 1]
        end.args = ["error": .string("bind 0.0.0.0:8080: address already in use")]
        bad.events = Array(bad.events.prefix(bind + 1)) + [end]
        let d = TraceDiff(good, bad)
        let f = try #require(d.first)
        #expect(f.kind == .changed && f.call == "bind")
        #expect(f.differences.contains("errno: (none) -> EADDRINUSE") && f.differences.contains("ret: 3 -> -1"), "\(f.differences)")
        let report = d.report(nameA: "good", nameB: "bad")
        #expect(report.contains("EADDRINUSE: address already in use"), "\(report)")
        #expect(report.contains("more divergences after it"))
        #expect(d.report(nameA: "good", nameB: "bad", all: true).contains("only in A: nft"))
    }

    @Test func aChangedArgumentIsNamed() throws {
        let good = try ReplayFixtures.golden("05-network.jsonl")
        let text = try ReplayFixtures.goldenText("05-network.jsonl").replacingOccurrences(of: "dnat to 10.203.0.2:80", with: "dnat to 10.203.0.2:8000")
            .replacingOccurrences(of: "0.0.0.0:8080->80/tcp", with: "0.0.0.0:8080->8000/tcp")
        let d = TraceDiff(good, try ReplayFixtures.read(text))
        let f = try #require(d.first)
        #expect(f.call == "nft" && d.divergences.count == 1)
        #expect(f.differences.contains("args.ports: \"0.0.0.0:8080->80/tcp\" -> \"0.0.0.0:8080->8000/tcp\""), "\(f.differences)")
        // The container's address is IPAM's choice: the diff does not count it.
        #expect(f.differences.contains(#"shell: "add rule ip vitro ports tcp dport 8080 dnat to <address>:80 comment "vitro:<id12>"" -> "add rule ip vitro ports tcp dport 8080 dnat to <address>:8000 comment "vitro:<id12>"""#), "\(f.differences)")
    }

    /// The first run on a machine makes the bridge; a later one finds it. That is not
    /// the fault: the report says so and leads with the divergence after it.
    @Test func whatOneMachineHadAlreadyIsNotTheFault() throws {
        let first = try ReplayFixtures.golden("05-network.jsonl")
        var later = first
        let bridgeMade: Set<String> = ["RTM_GETROUTE", "RTM_NEWLINK", "RTM_NEWADDR", "mkdir"]
        let getlink = try #require(later.events.firstIndex { $0.name == "RTM_GETLINK" })
        // The second look at the bridge (its index, once made) is not made either.
        let again = later.events.filter { $0.name == "RTM_GETLINK" }.dropFirst().first?.seq
        later.events[getlink].ret = 0
        later.events[getlink].errno = nil
        later.events.removeAll { e in
            (bridgeMade.contains(e.name) && e.args["ifname"]?.text != "eth0" && e.args["ifname"]?.text != "lo" && e.args["kind"]?.text != "veth")
                || (e.name == "RTM_GETLINK" && e.seq == again) || e.args["path"]?.text == "/proc/sys/net/ipv4/ip_forward"
        }
        // A different container address and rule handle: IPAM's and nftables' choices.
        let text = ReplayFixtures.text(later).replacingOccurrences(of: "10.203.0.2/", with: "10.203.0.7/").replacingOccurrences(of: "10.203.0.2:", with: "10.203.0.7:")
            .replacingOccurrences(of: "dnat to 10.203.0.7:80", with: "dnat to 10.203.0.7:8000").replacingOccurrences(of: "->80/tcp", with: "->8000/tcp")
        let d = TraceDiff(first, try ReplayFixtures.read(text))
        let found = d.divergences.filter { $0.foundThere != nil }
        #expect(found.count == 7, "\(d.report(nameA: "first", nameB: "later", all: true))")
        #expect(found.contains { $0.call == "RTM_GETLINK" && $0.foundThere?.contains("ENODEV") == true })
        #expect(d.first?.call == "nft" && d.first?.foundThere == nil)
        #expect(!d.divergences.contains { $0.call == "RTM_NEWADDR" && $0.a?.args["ifname"]?.text == "eth0" }, "the address is IPAM's choice")
        let report = d.report(nameA: "first", nameB: "later")
        #expect(report.contains("before it, 7 differences of what one machine had already (not the fault):"), "\(report)")
        #expect(report.contains("first divergence: stage network, call nft (changed)"))
    }

    @Test func anExtraCallInBIsPlacedWhereItHappened() throws {
        let good = try ReplayFixtures.golden("05-network.jsonl")
        var more = good
        let route = try #require(more.events.firstIndex { $0.name == "RTM_NEWROUTE" })
        var extra = more.events[route]
        extra.args = ["dst": .string("10.99.0.0/16"), "dev": .string("eth0")]
        more.events.insert(extra, at: route + 1)
        let d = TraceDiff(good, more)
        #expect(d.divergences.count == 1)
        #expect(d.first?.kind == .onlyInB && d.first?.b?.args["dst"]?.text == "10.99.0.0/16")
    }

    @Test func myersFindsTheShortestEdit() {
        let ops = Myers.diff(["a", "b", "c", "a", "b", "b", "a"], ["c", "b", "a", "b", "a", "c"])
        let edits = ops.filter { if case .same = $0 { return false } else { return true } }
        #expect(edits.count == 5)
        #expect(Myers.diff([], ["x"]) == [.insert(0)])
        #expect(Myers.diff(["x"], []) == [.delete(0)])
        #expect(Myers.diff(["x", "y"], ["x", "y"]) == [.same(0, 0), .same(1, 1)])
        // Past the limit, the plain alignment: head and tail kept.
        let a = (0..<3000).map { "a\($0)" }, b = (0..<3000).map { "b\($0)" }
        let big = Myers.diff(["h"] + a + ["t"], ["h"] + b + ["t"])
        #expect(big.first == .same(0, 0) && big.last == .same(3001, 3001) && big.count == 6002)
    }
}
