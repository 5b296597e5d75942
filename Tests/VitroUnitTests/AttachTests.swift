// The attach protocol's bytes, the detach keys, and the unix socket a monitor listens
// on (no root needed: a socket in a temporary directory whose path is too long for
// sun_path).

import Foundation
import Testing

@testable import VitroRuntime
import VitroSys

@Suite struct AttachProtocolTests {
    @Test func framesHaveDockersStreamHeader() {
        // kind, three zero bytes, the length as a big-endian u32, the payload.
        #expect(AttachFrame(.stdout, Array("hi\n".utf8)).encode() == [1, 0, 0, 0, 0, 0, 0, 3, 0x68, 0x69, 0x0a])
        #expect(AttachFrame(.stdin, []).encode() == [0, 0, 0, 0, 0, 0, 0, 0])
        #expect(AttachFrame.hello(tty: true, openStdin: true).encode() == [16, 0, 0, 0, 0, 0, 0, 1, 3])
        #expect(AttachFrame.hello(tty: false, openStdin: true).encode().last == 2)
        #expect(AttachFrame.resize(rows: 30, columns: 300).encode() == [17, 0, 0, 0, 0, 0, 0, 4, 0, 30, 1, 44])
        #expect(AttachFrame.signal(2).encode() == [18, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 2])
        #expect(AttachFrame.exit(137).encode() == [19, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 137])
        #expect(AttachFrame(.stdinEnd).encode() == [20, 0, 0, 0, 0, 0, 0, 0])
    }

    @Test func controlFramesDecode() {
        #expect(AttachFrame.resize(rows: 24, columns: 80).size.map { [$0.rows, $0.columns] } == [24, 80])
        #expect(AttachFrame.exit(-1).number == -1)
        #expect(AttachFrame.signal(15).number == 15)
        let hello = AttachFrame.hello(tty: false, openStdin: true).hello
        #expect(hello?.tty == false && hello?.openStdin == true)
        #expect(AttachFrame(.stdout, [1]).number == nil)
    }

    @Test func theReaderWaitsForWholeFrames() throws {
        let stream = AttachFrame(.stdout, Array("one".utf8)).encode() + AttachFrame(.stderr, Array("two".utf8)).encode()
            + AttachFrame.exit(3).encode()
        // Fed one byte at a time, it hands out the same three frames.
        var reader = AttachFrameReader()
        var got: [AttachFrame] = []
        for b in stream {
            reader.append([b])
            while let f = try reader.next() { got.append(f) }
        }
        #expect(got == [AttachFrame(.stdout, Array("one".utf8)), AttachFrame(.stderr, Array("two".utf8)), AttachFrame.exit(3)])
        #expect(try reader.next() == nil)
        // And all at once.
        var whole = AttachFrameReader()
        whole.append(stream)
        var n = 0
        while try whole.next() != nil { n += 1 }
        #expect(n == 3)
    }

    @Test func anUnknownKindOrAnOversizedFrameIsAnError() {
        var unknown = AttachFrameReader()
        unknown.append([7, 0, 0, 0, 0, 0, 0, 0])
        #expect(throws: AttachProtocolError.self) { try unknown.next() }
        var big = AttachFrameReader()
        let n = UInt32(AttachFrame.maxPayload + 1)
        big.append([1, 0, 0, 0, UInt8(n >> 24), UInt8(n >> 16 & 0xff), UInt8(n >> 8 & 0xff), UInt8(n & 0xff)])
        #expect(throws: AttachProtocolError.self) { try big.next() }
    }
}

@Suite struct DetachKeyTests {
    @Test func parsesDockersFormat() throws {
        #expect(try DetachKeys.parse("ctrl-p,ctrl-q") == DetachKeys.dockerDefault)
        #expect(try DetachKeys.parse("ctrl-a,x").bytes == [1, UInt8(ascii: "x")])
        #expect(try DetachKeys.parse("ctrl-@,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_").bytes == [0, 27, 28, 29, 30, 31])
        #expect(try DetachKeys.parse("CTRL-Z").bytes == [26])
        for bad in ["ctrl-", "ctrl-1", "ab", "ctrl-p,", "ctrl-pq"] {
            #expect(throws: RunError.self, "\(bad)") { try DetachKeys.parse(bad) }
        }
    }

    @Test func theSequenceDetachesAndABrokenOneIsPassedOn() {
        var s = DetachKeyScanner(.dockerDefault)
        #expect(s.scan(Array("ls\n".utf8)) == (Array("ls\n".utf8), false))
        // Ctrl-P alone is held back until the next byte says what it was.
        #expect(s.scan([0x10]) == ([], false))
        #expect(s.scan([0x11, 0x61]) == ([], true))
        // Ctrl-P then something else: both go on.
        var t = DetachKeyScanner(.dockerDefault)
        #expect(t.scan([0x10, 0x61]) == ([0x10, 0x61], false))
        // Ctrl-P Ctrl-P Ctrl-Q: the first goes on, the last two detach.
        var u = DetachKeyScanner(.dockerDefault)
        #expect(u.scan([0x61, 0x10, 0x10, 0x11]) == ([0x61, 0x10], true))
        // One key.
        var one = DetachKeyScanner(DetachKeys(bytes: [0x1d]))
        #expect(one.scan([0x62, 0x1d, 0x63]) == ([0x62], true))
    }
}

@Suite struct UnixSocketTests {
    @Test func aSocketWhosePathIsTooLongForSunPathWorksThroughItsDirectory() throws {
        let dir = NSTemporaryDirectory() + "vitro-unit-" + UUID().uuidString + "/" + String(repeating: "d", count: 90)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: (dir as NSString).deletingLastPathComponent) }
        let path = dir + "/attach.sock"
        #expect(path.utf8.count > 108)
        let listener = try Sys.listenUnix(path)
        defer { Sys.close(listener) }
        let attrs = try FileManager.default.attributesOfItem(atPath: path)
        #expect(attrs[.type] as? FileAttributeType == .typeSocket)
        #expect((attrs[.posixPermissions] as? Int) == 0o600)
        let client = try Sys.connectUnix(path)
        var accepted: Int32?
        for _ in 0..<50 where accepted == nil {
            accepted = Sys.accept(listener)
            if accepted == nil { usleep(10_000) }
        }
        let server = try #require(accepted)
        defer { Sys.close(server) }
        #expect(try Sys.sendSome(server, ArraySlice(AttachFrame.exit(7).encode())) == 12)
        let ready = try Sys.poll([client: .readable], timeoutMillis: 1000)
        #expect(ready[client] == .readable)
        var reader = AttachFrameReader()
        reader.append(try Sys.read(client) ?? [])
        #expect(try reader.next() == AttachFrame.exit(7))
        // A listener made again at the same path replaces a stale socket file.
        let again = try Sys.listenUnix(path)
        Sys.close(again)
        // The peer gone: send reports it instead of raising SIGPIPE.
        Sys.close(client)
        var failed = false
        for _ in 0..<10 where !failed {
            do { _ = try Sys.sendSome(server, ArraySlice([1, 2, 3])) } catch { failed = true }
        }
        #expect(failed)
    }
}
