// VitroTrace: the event's JSON form, the reader, and the narrated rendering.

import Testing

#if canImport(Glibc)
import Glibc
#endif

@testable import VitroTrace

@Suite struct TraceFormat {
    func sample() -> TraceEvent {
        TraceEvent(
            seq: 7, tsNanos: 1_500_250, durNanos: 42_000, phase: .complete, name: "mount", group: .mount,
            stage: .namespaces, pid: 1234, tid: 1234,
            args: ["target": .string("/r/proc"), "flags": .flags("MS_NOSUID|MS_NODEV"), "n": .int(3), "argv": .list(["a", "b \"c\""])],
            ret: 0, why: "a \"quoted\" reason\n", shell: "mount -t proc proc /r/proc")
    }

    /// vitro merges vitro-init's lines without parsing them when its trace file is the
    /// only sink: renumbered and moved onto the run's time line, each must come out as
    /// the bytes parsing it and writing it again would give.
    @Test func mergedLinesMatchParsingAndWritingAgain() throws {
        var instant = sample()
        instant.durNanos = nil
        instant.phase = .instant
        instant.ret = nil
        instant.tsNanos = 35_025_118_971_123
        var begin = TraceEvent(tsNanos: 999, phase: .begin, name: "exec", group: .stage, stage: .exec, pid: 9, tid: 9)
        begin.code = "Sources/VitroExec/ContainerInit.swift:3"
        for e in [sample(), instant, begin] {
            let wire = e.jsonLine(epochNanos: 0)  // as vitro-init writes it
            var parsed = try TraceEvent(jsonLine: wire)
            for seq: UInt64 in [0, 7, 10, 4242, 99_999_999_999] {
                parsed.seq = seq
                for epoch: UInt64 in [0, 500, 1_000_000, 35_025_118_000_000, UInt64.max] {
                    let line = try #require(EventLine(Array(wire.utf8)[...]), "\(wire)")
                    #expect(String(decoding: line.bytes(seq: seq, epochNanos: epoch), as: UTF8.self) == parsed.jsonLine(epochNanos: epoch))
                }
            }
        }
        for bad in ["", "{}", #"{"seq":1}"#, #"{"seq":,"ts":1.000,"ph":"i"}"#, #"{"seq":1,"ts":1.5,"ph":"i"}"#, #"{"seq":1,"ts":1.0000,"ph":"i"}"#, #"{"seq":1,"ts":1.000,"ph":"i""#, #"{"ts":1.000,"seq":1}"#] {
            #expect(EventLine(Array(bad.utf8)[...]) == nil, "\(bad)")
        }
    }

    @Test func jsonLineHasChromeFieldsAndVitroFields() {
        let line = sample().jsonLine(epochNanos: 1_000_000)
        #expect(line == #"{"seq":7,"ts":500.250,"dur":42.000,"ph":"X","name":"mount","cat":"mount","pid":1234,"tid":1234,"stage":"namespaces","group":"mount","args":{"target":"/r/proc","flags":"MS_NOSUID|MS_NODEV","n":3,"argv":["a","b \"c\""]},"ret":0,"why":"a \"quoted\" reason\n","shell":"mount -t proc proc /r/proc"}"#)
    }

    /// vitro-init's sink buffers, and writes what it has in pieces of at most PIPE_BUF
    /// bytes that end at a line's end, so that stage A's and pid 1's writes to their
    /// shared pipe never cut into each other's lines. A SOCK_SEQPACKET pair keeps each
    /// write(2) as one message, so the test sees the writes themselves.
    @Test func bufferedAtomicWritesEndAtLineEndsAndFitPipeBuf() throws {
        var fds: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue), 0, &fds) == 0)
        defer { close(fds[0]); close(fds[1]) }
        let sink = JSONLinesSink(fd: fds[1], epochNanos: 1_000_000, buffered: true, atomicWrites: true)
        var e = sample()
        var expected = ""
        for i in 0..<40 {
            e.seq = UInt64(i)
            if i == 20 { e.args = ["long": .string(String(repeating: "x", count: 5000))] }  // a line longer than PIPE_BUF
            sink.receive(e)
            expected += e.jsonLine(epochNanos: 1_000_000) + "\n"
        }
        #expect(expected.utf8.count > 3 * 4096)
        sink.flush()
        var got = ""
        var writes = 0
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fds[0], &buf, buf.count, Int32(MSG_DONTWAIT))
            if n <= 0 { break }
            writes += 1
            let piece = String(decoding: buf[0..<n], as: UTF8.self)
            #expect(piece.hasSuffix("\n"), "each write ends at a line's end")
            #expect(n <= 4096 || !piece.dropLast().contains("\n"), "a write above PIPE_BUF is one long line alone (\(n) bytes)")
            got += piece
        }
        #expect(got == expected)
        #expect(writes > 3 && writes < 40, "batched, not one write per event: \(writes)")
    }

    @Test func jsonLineRoundTrips() throws {
        let e = sample()
        let back = try TraceEvent(jsonLine: e.jsonLine(epochNanos: 1_000_000), epochNanos: 1_000_000)
        #expect(back == e)
    }

    @Test func readerRejectsBrokenJSON() {
        #expect(throws: JSONError.self) { try JSONReader.parse("{\"a\":") }
        #expect(throws: JSONError.self) { try JSONReader.parse("[1,2] x") }
        #expect(throws: JSONError.self) { try TraceEvent(jsonLine: "{\"seq\":1}") }
    }

    @Test func readerHandlesEscapesAndUnicode() throws {
        let v = try JSONReader.parse(#"{"s":"tab\there \u00e9 \ud83d\ude00","n":-1.5e2,"a":[true,false,null]}"#)
        #expect(v["s"]?.string == "tab\there é 😀")
        #expect(v["n"]?.number == -150)
        #expect(v["a"] == .array([.bool(true), .bool(false), .null]))
    }

    @Test func narrationReadsLikeANotebook() {
        let sink = NarratedSink(fd: -1, explain: true, width: 80)
        let text = sink.render(sample())
        #expect(text == "=> mount /r/proc done (0.04 ms)\n   a \"quoted\" reason\n\n   $ mount -t proc proc /r/proc\n")
        var failed = sample()
        failed.errno = "ENOENT"
        #expect(NarratedSink(fd: -1).render(failed) == "=> mount /r/proc failed: ENOENT (0.04 ms)\n")
    }

    @Test func narrationFitsTheWidth() {
        var e = sample()
        e.args = ["target": .string("/" + String(repeating: "x", count: 200))]
        let line = NarratedSink(fd: -1, width: 80).render(e)
        #expect(line.count - 1 <= 80)
        #expect(line.contains("…"))
    }

    @Test func tracerNumbersEventsAndTracksTheStage() {
        let tracer = Tracer()
        let mem = MemorySink()
        tracer.addSink(mem)
        tracer.beginStage(.namespaces)
        tracer.call("unshare", group: .namespace, start: MonotonicClock.now(), args: [:], ret: 0, errno: nil, why: nil, shell: nil)
        tracer.endStage(.namespaces)
        tracer.note("after")
        let events = mem.events
        #expect(events.map(\.seq) == [1, 2, 3, 4])
        #expect(events.map(\.phase) == [.begin, .complete, .end, .instant])
        #expect(events[1].stage == .namespaces)
        #expect(events[3].stage == Stage.none)
        tracer.enabled = false
        tracer.note("dropped")
        #expect(mem.events.count == 4)
    }
}
