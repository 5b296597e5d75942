// Chapter 12: reading traces back (and refusing what is not one), filters, the
// narrated `trace show` text, keys from a raw terminal, and where run traces are kept.

import Foundation
import Testing

@testable import VitroReplay
@testable import VitroRuntime
@testable import VitroTrace

@Suite struct ReplayReader {
    @Test func everyGoldenTraceReads() throws {
        for name in ReplayFixtures.goldenNames {
            let t = try ReplayFixtures.golden(name)
            let lines = try ReplayFixtures.goldenText(name).split(separator: "\n").count
            #expect(t.events.count + (t.header == nil ? 0 : 1) == lines, "\(name)")
            #expect(t.lines.count == t.events.count)
            #expect(t.isTimeless, "\(name): goldens are normalised")
            #expect(!t.stages.isEmpty)
        }
        let tour = try ReplayFixtures.golden("00-tour.jsonl")
        #expect(tour.header?.name == "trace" && tour.schema == 1 && tour.argv == ["/bin/sh", "-c", "echo hello"])
        #expect(tour.stages == [.rootfs, .namespaces, .cgroups, .network, .exec])
        // A stage-filtered golden has no header line; that is allowed.
        #expect(try ReplayFixtures.golden("05-network.jsonl").header == nil)
    }

    func error(_ text: String) -> TraceReadError? {
        do {
            _ = try TraceReader.read(Array(text.utf8))
            return nil
        } catch {
            return error
        }
    }

    @Test func aTruncatedTraceNamesTheLine() throws {
        let text = try ReplayFixtures.goldenText("00-tour.jsonl")
        let lines = text.split(separator: "\n")
        let cut = lines.prefix(40).joined(separator: "\n") + "\n" + lines[40].prefix(50)
        let e = try #require(error(cut))
        #expect(e.line == 41)
        #expect(e.description.hasPrefix("line 41: ") && e.message.contains("truncated"), "\(e)")
    }

    @Test func aNewerSchemaIsRefusedOnLineOne() throws {
        let text = try ReplayFixtures.goldenText("00-tour.jsonl").replacingOccurrences(of: #"{"schema":1,"#, with: #"{"schema":2,"#)
        let e = try #require(error(text))
        #expect(e.line == 1 && e.message.contains("schema version 2") && e.message.contains("newer"), "\(e)")
    }

    @Test func aFileThatIsNotATraceSaysSo() throws {
        let notJSON = try #require(error("hello, world\nsecond line\n"))
        #expect(notJSON.line == 1 && notJSON.message.contains("not a vitro trace"), "\(notJSON)")
        let otherJSON = try #require(error(#"{"name":"x","version":3}"# + "\n"))
        #expect(otherJSON.line == 1 && otherJSON.message.contains("not a vitro trace") && otherJSON.message.contains("\"seq\""), "\(otherJSON)")
        #expect(error("")?.message.contains("empty") == true)
        #expect(error("[1,2,3]\n")?.line == 1)
        // A bad line in the middle names its own number.
        var lines = try ReplayFixtures.goldenText("05-network.jsonl").split(separator: "\n").map(String.init)
        lines[6] = #"{"seq":97,"ts":0,"ph":"Q","name":"x","cat":"stage","pid":1,"tid":1,"stage":"network","group":"stage"}"#
        let phase = try #require(error(lines.joined(separator: "\n") + "\n"))
        #expect(phase.line == 7 && phase.message.contains("unknown phase"), "\(phase)")
        lines[6] = #"{"seq":97,"ts":0,"ph":"X","name":"x","cat":"stage","pid":1,"tid":1,"stage":"launch","group":"stage"}"#
        #expect(error(lines.joined(separator: "\n") + "\n")?.message.contains("unknown stage") == true)
        lines[6] = "not json at all"
        let bad = try #require(error(lines.joined(separator: "\n") + "\n"))
        #expect(bad.line == 7 && bad.message.contains("not a trace event"), "\(bad)")
        // Deep nesting is an error, not a crash.
        #expect(error(String(repeating: "[", count: 100_000) + "\n")?.line == 1)
    }

    @Test func filtersByStageGroupCallErrnoAndTime() throws {
        let net = try ReplayFixtures.golden("05-network.jsonl")
        var f = TraceFilter()
        f.errnos = ["any"]
        let failed = try #require(net.events.first { $0.errno != nil }?.seq)
        #expect(f.indexes(in: net).map { net.events[$0].seq } == [failed])
        f = TraceFilter()
        f.errnos = ["EADDRINUSE"]
        #expect(f.indexes(in: net).isEmpty)
        f = TraceFilter()
        f.groups = [.netfilter]
        #expect(f.indexes(in: net).map { net.events[$0].name } == ["bind", "nft"])
        f.calls = ["nft"]
        #expect(f.indexes(in: net).count == 1)
        let tour = try ReplayFixtures.golden("00-tour.jsonl")
        f = TraceFilter()
        f.stages = try TraceFilter.parseStages(["cgroups,network"])
        #expect(Set(f.indexes(in: tour).map { tour.events[$0].stage }) == [.cgroups, .network])
        // Times are from the start of the trace.
        let p = ReplayFixtures.packetTrace()
        f = TraceFilter()
        f.since = try TraceFilter.parseTime("10us")
        f.until = try TraceFilter.parseTime("0.013ms")
        #expect(f.indexes(in: p).map { p.events[$0].seq } == [5, 6, 7])
        #expect(try TraceFilter.parseTime("2s") == 2_000_000_000)
        #expect(try TraceFilter.parseTime("250ns") == 250)
        #expect(throws: FilterError.self) { try TraceFilter.parseTime("12") }
        #expect(throws: FilterError.self) { try TraceFilter.parseStages(["launch"]) }
        #expect(throws: FilterError.self) { try TraceFilter.parseGroups(["kernel"]) }
    }

    @Test func showNarratesWithSeqAndExplains() throws {
        let net = try ReplayFixtures.golden("05-network.jsonl")
        var f = TraceFilter()
        f.errnos = ["any"]
        let text = TraceNarrator(explain: true).narrate(net, indexes: f.indexes(in: net))
        #expect(text.hasPrefix("== network: wire the network\n"), "\(text)")
        let failed = try #require(net.events.first { $0.errno != nil }?.seq)
        #expect(text.contains("#\(failed)") && text.contains("RTM_GETLINK vgold0 failed: ENODEV"))
        #expect(text.contains("why: does the bridge exist already?") && text.contains("$ ip link show vgold0"))
        // With times, each line starts with its offset.
        let p = ReplayFixtures.packetTrace()
        let timed = TraceNarrator().narrate(p, indexes: Array(p.events.indices))
        #expect(timed.contains("  0.009 ms  #4 "), "\(timed)")
    }

    @Test func keysFromARawTerminal() {
        var d = KeyDecoder()
        #expect(d.feed(Array("jk?".utf8)) == [.char("j"), .char("k"), .char("?")])
        #expect(d.feed([0x1B, 0x5B, 0x41, 0x1B, 0x5B, 0x42, 0x1B, 0x4F, 0x43]) == [.up, .down, .right])
        #expect(d.feed([0x1B, 0x5B, 0x36, 0x7E, 0x1B, 0x5B, 0x35, 0x7E, 0x1B, 0x5B, 0x48, 0x1B, 0x5B, 0x46]) == [.pageDown, .pageUp, .home, .end])
        // A sequence split across two reads.
        #expect(d.feed([0x1B, 0x5B]) == [])
        #expect(d.feed([0x44]) == [.left])
        #expect(d.feed([0x1B]) == [.escape])
        #expect(d.feed([13, 9, 127, 3]) == [.enter, .tab, .backspace, .control("c")])
        #expect(d.feed(Array("é".utf8)) == [.char("é")])
        #expect(d.feed([0x1B, 0x5B, 0x5A]) == [.backTab])
    }
}

@Suite struct RunTraceStore {
    func scratch() throws -> String {
        let dir = NSTemporaryDirectory() + "vitro-unit-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test func namesSayKindContainerAndRun() {
        let first = TraceStore.Entry(name: "run-0123456789ab.jsonl")
        #expect(first?.kind == "run" && first?.container == "0123456789ab" && first?.number == 1)
        let third = TraceStore.Entry(name: "exec-0123456789ab.3.jsonl")
        #expect(third?.kind == "exec" && third?.number == 3)
        for bad in ["run-0123.jsonl", "run-0123456789ab.1.jsonl", "pull-0123456789ab.jsonl", "run-0123456789ab.txt", "run-0123456789zz.jsonl", "run-0123456789ab.2.3.jsonl", "run-0123456789ab..jsonl", "run-.jsonl"] {
            #expect(TraceStore.Entry(name: bad) == nil, "\(bad)")
        }
        #expect(TraceStore.Entry.name(kind: "run", container: "0123456789abcdef", number: 2) == "run-0123456789ab.2.jsonl")
    }

    @Test func everyRunOfAContainerGetsItsOwnTrace() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = TraceStore(directory: dir)
        let id = "0123456789abcdef" + String(repeating: "0", count: 48)
        var paths: [String] = []
        for _ in 0..<3 {
            let made = try store.create(kind: "run", container: id)
            paths.append(made.path)
            close(made.fd)
        }
        let exec = try store.create(kind: "exec", container: id)
        close(exec.fd)
        #expect(paths.map { ($0 as NSString).lastPathComponent } == ["run-0123456789ab.jsonl", "run-0123456789ab.2.jsonl", "run-0123456789ab.3.jsonl"])
        #expect(store.traces(of: id).count == 4)
        #expect(store.traces(of: "ffffffffffff").isEmpty)
    }

    @Test func pruningKeepsTheNewestWithinCountAndBytes() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fm = FileManager.default
        let now = Date()
        func name(_ i: Int) -> String { "run-\(String(format: "%012x", i)).jsonl" }
        for i in 0..<10 {
            let p = dir + "/" + name(i)
            _ = fm.createFile(atPath: p, contents: Data(count: 1000))
            try fm.setAttributes([.modificationDate: now.addingTimeInterval(Double(i - 100))], ofItemAtPath: p)
        }
        let store = TraceStore(directory: dir)
        #expect(store.prune(keep: 10, maxBytes: 10_000).isEmpty)
        // By count: the oldest go.
        #expect(store.prune(keep: 8, maxBytes: 1 << 30) == [name(0), name(1)])
        // By bytes: 8 traces of 1000 bytes, at most 5500 bytes: three more go.
        #expect(store.prune(keep: 100, maxBytes: 5500) == [name(2), name(3), name(4)])
        // The trace just written stays even when it alone is over the limit.
        #expect(store.prune(keep: 0, maxBytes: 0, spare: name(9)).count == 4)
        #expect(try fm.contentsOfDirectory(atPath: dir) == [name(9)])
    }
}
