// Chapter 12: the exports: Chrome Trace Event JSON (Perfetto), OTLP JSON, pcapng
// (golden bytes, annotated) and the self-contained HTML page.

import Foundation
import Testing

@testable import VitroReplay
@testable import VitroTrace

@Suite struct ReplayExport {
    static let python = "/usr/bin/python3"
    static let hasJSONSchema: Bool = {
        guard FileManager.default.isExecutableFile(atPath: python) else { return false }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = ["-c", "import jsonschema"]
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return false }
        p.waitUntilExit()
        return p.terminationStatus == 0
    }()

    func json(_ bytes: [UInt8]) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    }

    // MARK: Chrome

    /// What Perfetto needs of B/E: per thread, every E closes the innermost open B of
    /// the same name, no later than... no earlier than it began, and nothing stays open.
    func checkNesting(_ events: [[String: Any]]) -> [String] {
        var stacks: [String: [(String, Double)]] = [:]
        var problems: [String] = []
        for e in events {
            let ph = e["ph"] as? String ?? ""
            guard ph == "B" || ph == "E" else { continue }
            let key = "\(e["pid"] ?? 0)/\(e["tid"] ?? 0)", name = e["name"] as? String ?? "", ts = e["ts"] as? Double ?? -1
            if ph == "B" {
                stacks[key, default: []].append((name, ts))
            } else if let open = stacks[key]?.popLast() {
                if open.0 != name { problems.append("E \(name) closes B \(open.0)") }
                if ts < open.1 { problems.append("E \(name) at \(ts) before its B at \(open.1)") }
            } else {
                problems.append("E \(name) without a B")
            }
        }
        for (k, s) in stacks where !s.isEmpty { problems.append("\(k): \(s.map(\.0)) left open") }
        return problems
    }

    @Test func chromeJSONNestsStagesAndHasAnInstantPerCall() throws {
        for name in ReplayFixtures.goldenNames {
            let trace = try ReplayFixtures.golden(name)
            let doc = try json(ChromeTraceExport.export(trace))
            let events = try #require(doc["traceEvents"] as? [[String: Any]])
            #expect(checkNesting(events).isEmpty, "\(name): \(checkNesting(events))")
            let stages = events.filter { $0["ph"] as? String == "B" }.compactMap { $0["name"] as? String }
            #expect(stages.first == "vitro run")
            #expect(Set(stages.dropFirst()) == Set(trace.events.filter { $0.phase == .begin }.map(\.name)), "\(name)")
            let instants = events.filter { $0["ph"] as? String == "i" }
            #expect(instants.count == trace.events.filter { $0.phase == .complete || $0.phase == .instant }.count)
            #expect(instants.allSatisfy { $0["s"] as? String == "t" && $0["ts"] is Double })
            // A normalised trace is laid out by seq: one event per microsecond, in order.
            let ts = instants.compactMap { $0["ts"] as? Double }
            #expect(ts == ts.sorted() && Set(ts).count == ts.count)
        }
        let tour = try json(ChromeTraceExport.export(try ReplayFixtures.golden("00-tour.jsonl")))
        let events = try #require(tour["traceEvents"] as? [[String: Any]])
        let names = events.filter { $0["name"] as? String == "process_name" }.compactMap { ($0["args"] as? [String: Any])?["name"] as? String }
        #expect(names == ["vitro (pid 100)", "vitro-init (pid 200)", "container pid 1 (pid 300)"])
        let pivot = try #require(events.first { $0["name"] as? String == "pivot_root" })
        let args = try #require(pivot["args"] as? [String: Any])
        #expect(args["ret"] as? Int == 0 && (args["why"] as? String)?.contains("rootfs") == true && args["stage"] as? String == "namespaces")
        #expect(pivot["pid"] as? Int == 300 && pivot["cat"] as? String == "mount")
    }

    @Test func chromeJSONKeepsRealTimesAndClosesACutStage() throws {
        var t = ReplayFixtures.packetTrace()
        t.events.removeLast()  // the network stage's end: a trace cut short
        let doc = try json(ChromeTraceExport.export(t))
        let events = try #require(doc["traceEvents"] as? [[String: Any]])
        #expect(checkNesting(events).isEmpty, "\(checkNesting(events))")
        let hop = try #require(events.first { ($0["args"] as? [String: Any])?["seq"] as? Int == 7 })
        // 13 us after the trace's first event at 1 us, plus the 1 us shift.
        #expect(hop["ts"] as? Double == 13.0)
        let closed = events.last { $0["ph"] as? String == "E" && $0["name"] as? String == "network" }
        #expect((closed?["args"] as? [String: Any])?["error"] as? String == "the trace ends inside this stage")
    }

    @Test(.enabled(if: hasJSONSchema, "needs /usr/bin/python3 with jsonschema (python3-jsonschema)"))
    func chromeJSONPassesTheTraceEventFormatSchema() throws {
        let dir = NSTemporaryDirectory() + "vitro-unit-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var files: [String] = []
        let traces = try ReplayFixtures.goldenNames.map(ReplayFixtures.golden) + [ReplayFixtures.packetTrace()]
        for (n, trace) in traces.enumerated() {
            let f = dir + "/\(n).json"
            try Data(ChromeTraceExport.export(trace)).write(to: URL(fileURLWithPath: f))
            files.append(f)
        }
        // The schema must also catch what it is there for: an X event without dur.
        let bad = dir + "/bad.json"
        try Data(#"{"traceEvents":[{"name":"x","ph":"X","ts":1,"pid":1,"tid":1}]}"#.utf8).write(to: URL(fileURLWithPath: bad))
        let script = """
            import json, sys, jsonschema
            schema = json.load(open(sys.argv[1]))
            jsonschema.Draft202012Validator.check_schema(schema)
            v = jsonschema.Draft202012Validator(schema)
            bad = list(v.iter_errors(json.load(open(sys.argv[2]))))
            if not bad: print("the schema let an X event without dur through"); sys.exit(1)
            for f in sys.argv[3:]:
                for err in v.iter_errors(json.load(open(f))):
                    print(f, err.message); sys.exit(1)
            print("ok", len(sys.argv) - 3)
            """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.python)
        p.arguments = ["-c", script, ReplayFixtures.traces.appendingPathComponent("chrome-trace.schema.json").path, bad] + files
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        p.waitUntilExit()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(p.terminationStatus == 0 && text.hasPrefix("ok 5"), "\(text)")
    }

    // MARK: OTLP

    @Test func otlpIsOneResourceSpansDocumentWithATreeOfSpans() throws {
        let trace = try ReplayFixtures.golden("00-tour.jsonl")
        let bytes = OTLPExport.export(trace)
        #expect(bytes == OTLPExport.export(trace), "the same trace exports the same document")
        let doc = try json(bytes)
        let resourceSpans = try #require(doc["resourceSpans"] as? [[String: Any]])
        #expect(resourceSpans.count == 1 && doc.count == 1)
        let resource = try #require(resourceSpans[0]["resource"] as? [String: Any])
        let attrs = try #require(resource["attributes"] as? [[String: Any]])
        #expect(attrs.contains { $0["key"] as? String == "service.name" && ($0["value"] as? [String: Any])?["stringValue"] as? String == "vitro" })
        let scope = try #require((resourceSpans[0]["scopeSpans"] as? [[String: Any]])?.first)
        let spans = try #require(scope["spans"] as? [[String: Any]])
        let calls = trace.events.filter { $0.phase == .complete }.count
        #expect(spans.count == 1 + trace.stages.count + calls)
        let ids = Set(spans.compactMap { $0["spanId"] as? String })
        #expect(ids.count == spans.count, "span ids are unique")
        let traceIDs = Set(spans.compactMap { $0["traceId"] as? String })
        #expect(traceIDs.count == 1 && traceIDs.first?.count == 32 && traceIDs.first?.allSatisfy(\.isHexDigit) == true)
        #expect(ids.allSatisfy { $0.count == 16 && $0.allSatisfy(\.isHexDigit) })
        let roots = spans.filter { $0["parentSpanId"] == nil }
        #expect(roots.count == 1 && roots.first?["name"] as? String == "vitro run")
        for s in spans {
            if let parent = s["parentSpanId"] as? String { #expect(ids.contains(parent)) }
            let start = UInt64(s["startTimeUnixNano"] as? String ?? "x"), end = UInt64(s["endTimeUnixNano"] as? String ?? "x")
            #expect(start != nil && end != nil && (start ?? 0) <= (end ?? 0))
            #expect(s["kind"] as? Int == 1)
        }
        let pivot = try #require(spans.first { $0["name"] as? String == "pivot_root" })
        let stage = try #require(spans.first { $0["name"] as? String == "namespaces" })
        #expect(pivot["parentSpanId"] as? String == stage["spanId"] as? String)
        let pivotAttrs = pivot["attributes"] as? [[String: Any]] ?? []
        let file = pivotAttrs.first { $0["key"] as? String == "code.filepath" }?["value"] as? [String: Any]
        #expect(file?["stringValue"] as? String == "Sources/VitroNamespaces/RootfsPlan.swift", "where pivot_root is called")
        // A live trace has the line too.
        var live = trace
        if let i = live.events.firstIndex(where: { $0.name == "pivot_root" }) { live.events[i].code = "Sources/VitroNamespaces/RootfsPlan.swift:280" }
        let liveSpans = ((try json(OTLPExport.export(live))["resourceSpans"] as? [[String: Any]])?.first?["scopeSpans"] as? [[String: Any]])?.first?["spans"] as? [[String: Any]] ?? []
        let livePivot = liveSpans.first { $0["name"] as? String == "pivot_root" }?["attributes"] as? [[String: Any]] ?? []
        let line = livePivot.first { $0["key"] as? String == "code.lineno" }?["value"] as? [String: Any]
        #expect(line?["intValue"] as? String == "280", "\(livePivot)")
    }

    @Test func otlpMarksFailedCallsAndCarriesPacketsAsEvents() throws {
        let net = try json(OTLPExport.export(try ReplayFixtures.golden("05-network.jsonl")))
        let spans = ((net["resourceSpans"] as? [[String: Any]])?.first?["scopeSpans"] as? [[String: Any]])?.first?["spans"] as? [[String: Any]] ?? []
        let failed = try #require(spans.first { $0["name"] as? String == "RTM_GETLINK" && ($0["status"] as? [String: Any])?["code"] != nil })
        #expect((failed["status"] as? [String: Any])?["code"] as? Int == 2 && (failed["status"] as? [String: Any])?["message"] as? String == "ENODEV")
        let p = try json(OTLPExport.export(ReplayFixtures.packetTrace()))
        let pspans = ((p["resourceSpans"] as? [[String: Any]])?.first?["scopeSpans"] as? [[String: Any]])?.first?["spans"] as? [[String: Any]] ?? []
        let network = try #require(pspans.first { $0["name"] as? String == "network" })
        let events = try #require(network["events"] as? [[String: Any]])
        #expect(events.count == 8 && events.allSatisfy { $0["name"] as? String == "packet" })
        // Times: the header's wall clock plus the offset: 1700000000 s + 10 us.
        #expect(events.first?["timeUnixNano"] as? String == "1700000000000009000")
    }

    // MARK: pcapng

    /// Two hops of the SYN of the fixture: in on the host's outside link (where DNAT
    /// rewrites it) and in on the container's eth0.
    func twoHops() -> Trace {
        let full = ReplayFixtures.packetTrace()
        return Trace(header: full.header, events: full.events.filter { $0.seq == 4 || $0.seq == 7 })
    }

    /// The golden bytes, block by block (little-endian; pcapng, draft-ietf-opsawg-pcapng).
    static let golden: [String] = [
        // SHB: type 0a0d0d0a, length 44, byte-order magic 1a2b3c4d, version 1.0,
        // section length -1 (unknown), shb_userappl(4) len 5 "vitro" + 3 pad, end of
        // options, length 44 again.
        "0a 0d 0d 0a 2c 00 00 00 4d 3c 2b 1a 01 00 00 00",
        "ff ff ff ff ff ff ff ff 04 00 05 00 76 69 74 72",
        "6f 00 00 00 00 00 00 00 2c 00 00 00",
        // IDB 0: type 1, length 92, link type 101 (RAW: IP), reserved, snaplen 0,
        // if_name(2) len 9 "host/vth0", if_description(3) len 37
        // "vth0 in network namespace host (host)", if_tsresol(9) len 1 = 9 (ns), end.
        "01 00 00 00 5c 00 00 00 65 00 00 00 00 00 00 00",
        "02 00 09 00 68 6f 73 74 2f 76 74 68 30 00 00 00",
        "03 00 25 00 76 74 68 30 20 69 6e 20 6e 65 74 77",
        "6f 72 6b 20 6e 61 6d 65 73 70 61 63 65 20 68 6f",
        "73 74 20 28 68 6f 73 74 29 00 00 00 09 00 01 00",
        "09 00 00 00 00 00 00 00 5c 00 00 00",
        // EPB: type 6, length 216, interface 0, time 1700000000 s in ns as high and low
        // 32 bits (17979cfe 362a0000), captured and original length 40,
        "06 00 00 00 d8 00 00 00 00 00 00 00 fe 9c 97 17",
        "00 00 2a 36 28 00 00 00 28 00 00 00",
        // then the packet, built from the event's fields: IPv4 (45, length 40, id 1,
        // DF, ttl 64, tcp, checksum 233b, 10.201.1.2 > 10.201.1.1), TCP 40000 > 8080,
        // seq 0, ack 0, offset 5, SYN, window 64240, checksum e18c,
        "45 00 00 28",
        "00 01 40 00 40 06 23 3b 0a c9 01 02 0a c9 01 01",
        "9c 40 1f 90 00 00 00 00 00 00 00 00 50 02 fa f0",
        "e1 8c 00 00",
        // opt_comment(1) len 126: "vitro hop 1 in on host/vth0; dnat 10.201.1.1:8080
        // -> 10.203.0.2:80; rule: ip vitro ports: tcp dport 8080 dnat to 10.203.0.2:80"
        // + 2 pad, epb_flags(2) len 4 = 1 (inbound), end, length 216 again.
        "01 00 7e 00 76 69 74 72 6f 20 68 6f",
        "70 20 31 20 69 6e 20 6f 6e 20 68 6f 73 74 2f 76",
        "74 68 30 3b 20 64 6e 61 74 20 31 30 2e 32 30 31",
        "2e 31 2e 31 3a 38 30 38 30 20 2d 3e 20 31 30 2e",
        "32 30 33 2e 30 2e 32 3a 38 30 3b 20 72 75 6c 65",
        "3a 20 69 70 20 76 69 74 72 6f 20 70 6f 72 74 73",
        "3a 20 74 63 70 20 64 70 6f 72 74 20 38 30 38 30",
        "20 64 6e 61 74 20 74 6f 20 31 30 2e 32 30 33 2e",
        "30 2e 32 3a 38 30 00 00 02 00 04 00 01 00 00 00",
        "00 00 00 00 d8 00 00 00",
        // IDB 1: the container's eth0, the first time a packet was seen there.
        "01 00 00 00 68 00 00 00 65 00 00 00 00 00 00 00",
        "02 00 0e 00 63 6f 6e 74 61 69 6e 65 72 2f 65 74",
        "68 30 00 00 03 00 2f 00 65 74 68 30 20 69 6e 20",
        "6e 65 74 77 6f 72 6b 20 6e 61 6d 65 73 70 61 63",
        "65 20 63 6f 6e 74 61 69 6e 65 72 20 28 63 6f 6e",
        "74 61 69 6e 65 72 29 00 09 00 01 00 09 00 00 00",
        "00 00 00 00 68 00 00 00",
        // EPB on interface 1, 3 us later (low word 362a0bb8): after DNAT the
        // destination is 10.203.0.2:80 (ip checksum 2438, tcp checksum 01ca).
        "06 00 00 00 78 00 00 00 01 00 00 00 fe 9c 97 17",
        "b8 0b 2a 36 28 00 00 00 28 00 00 00 45 00 00 28",
        "00 01 40 00 40 06 24 38 0a c9 01 02 0a cb 00 02",
        "9c 40 00 50 00 00 00 00 00 00 00 00 50 02 fa f0",
        "01 ca 00 00 01 00 20 00 76 69 74 72 6f 20 68 6f",
        "70 20 34 20 69 6e 20 6f 6e 20 63 6f 6e 74 61 69",
        "6e 65 72 2f 65 74 68 30 02 00 04 00 01 00 00 00",
        "00 00 00 00 78 00 00 00",
    ]

    @Test func pcapngGoldenBytes() throws {
        let want = Self.golden.joined(separator: " ").split(separator: " ").compactMap { UInt8($0, radix: 16) }
        let got = PcapngExport(twoHops())
        #expect(got.packets == 2 && got.skipped == 0 && got.interfaces == ["host/vth0", "container/eth0"])
        #expect(got.bytes.count == want.count)
        if let i = zip(got.bytes, want).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset {
            Issue.record("first different byte at \(i): got \(String(got.bytes[i], radix: 16)), want \(String(want[i], radix: 16))")
        }
    }

    @Test func pcapngHasOneInterfacePerNetnsAndInterface() throws {
        let p = PcapngExport(ReplayFixtures.packetTrace())
        #expect(p.packets == 8)
        #expect(p.interfaces == ["host/vth0", "host/vgold0", "host/vx0123456789ab", "container/eth0"])
        // Walk the blocks: every length adds up and every EPB names a known interface.
        var i = 0, idbs = 0, epbs = 0
        func u32(_ at: Int) -> Int { Int(p.bytes[at]) | Int(p.bytes[at + 1]) << 8 | Int(p.bytes[at + 2]) << 16 | Int(p.bytes[at + 3]) << 24 }
        while i < p.bytes.count {
            let type = u32(i), length = u32(i + 4)
            #expect(length % 4 == 0 && u32(i + length - 4) == length)
            if type == 1 { idbs += 1 }
            if type == 6 {
                epbs += 1
                #expect(u32(i + 8) < idbs)
            }
            i += length
        }
        #expect(i == p.bytes.count && idbs == 4 && epbs == 8)
        // Captured bytes in an event are used as they are.
        var t = twoHops()
        t.events[0].args.append("data", .string("45000014000100004001f9e9c0a80001c0a80002"))
        let raw = PcapngExport(t)
        #expect(raw.packets == 2)
        #expect(raw.bytes.count == PcapngExport(twoHops()).bytes.count - 20)
        // Not IPv4 and no bytes: left out, counted.
        var v6 = twoHops()
        v6.events[1].args = ["hop": .int(4), "netns": .string("container"), "interface": .string("eth0"), "src": .string("[fd00::2]:80"), "dst": .string("[fd00::1]:80")]
        #expect(PcapngExport(v6).skipped == 1)
    }

    @Test func checksumIsRFC1071() {
        // RFC 1071's example: 0001 f203 f4f5 f6f7 sums to ddf2, its complement 220d.
        #expect(PcapngExport.checksum([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]) == 0x220d)
    }

    // MARK: HTML

    @Test func htmlIsOneFileThatNeedsNoNetwork() throws {
        var trace = try ReplayFixtures.golden("05-network.jsonl")
        // A trace can hold anything; nothing in it may end the script element.
        trace.events[1].why = "</script><script>alert(1)</script> <!-- "
        let page = String(decoding: HTMLExport.export(trace, title: "net <golden>"), as: UTF8.self)
        #expect(page.hasPrefix("<!DOCTYPE html>") && page.hasSuffix("</html>\n"))
        #expect(page.contains("<title>vitro trace: net &lt;golden&gt;</title>"))
        for external in ["src=\"http", "href=\"http", "@import", "url(http", "fetch(", "XMLHttpRequest"] {
            #expect(!page.contains(external), "\(external)")
        }
        let open = #"<script id="trace-data" type="application/json">"#
        let start = try #require(page.range(of: open)).upperBound
        let end = try #require(page.range(of: "</script>", range: start..<page.endIndex)).lowerBound
        let json = String(page[start..<end])
        #expect(!json.contains("<"))
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let events = try #require(doc["events"] as? [[String: Any]])
        #expect(events.count == trace.events.count)
        #expect(events[1]["why"] as? String == "</script><script>alert(1)</script> <!-- ")
        #expect(doc["timeless"] as? Bool == true && doc["title"] as? String == "net <golden>")
        // One script element of data, one of code, one that records errors.
        #expect(page.components(separatedBy: "<script").count - 1 == 3)
    }
}
