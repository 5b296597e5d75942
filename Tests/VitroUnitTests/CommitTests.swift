// Chapter 09 without root: the tar writer (its header bytes are the bytes of the
// hand-made writer the layer tests check against GNU tar; pax for what ustar cannot
// hold; read back by chapter 02's reader and by GNU tar), gzip and zstd sinks read back
// by chapter 02's sources and by gzip(1) and zstd(1), blobs ingested and published,
// the -c instructions, a new image's config, and a tree written as a layer.

import Foundation
import Testing

@testable import VitroCommit
@testable import VitroImage
@testable import VitroLayers
import VitroSys
import VitroTrace

/// Writes `entries` (with contents) with VitroCommit's tar writer; the archive's bytes.
func written(_ entries: [(TarEntry, [UInt8])]) throws -> [UInt8] {
    let sink = CollectingSink()
    let w = VitroCommit.TarWriter(sink)
    for (e, content) in entries {
        try w.append(e)
        if !content.isEmpty { try content.withUnsafeBytes { try w.writeContent($0) } }
    }
    try w.finish()
    return sink.bytes
}

@Suite struct TarWriting {
    @Test func ustarHeaderIsTheCheckedFixtureByteForByte() throws {
        // The fixture writer's header was checked against GNU tar's bytes (LayersTests).
        let content = Array("hello\n".utf8)
        let bytes = try written([(TarEntry(index: 1, path: "hello.txt", kind: .regular, mode: 0o644, uid: 1000, gid: 1000, size: 6, modified: FileTime(seconds: 1_700_000_000)), content)])
        let expected = TarWriter.header(name: "hello.txt", mode: 0o644, uid: 1000, gid: 1000, size: 6, mtime: 1_700_000_000)
        #expect(Array(bytes[0..<512]) == expected)
        #expect(Array(bytes[512..<518]) == content)
        #expect(bytes.count == 512 + 512 + 1024, "content padded to a block, then two zero blocks")
        #expect(bytes[1024...].allSatisfy { $0 == 0 })
    }

    @Test func whatUstarCannotHoldGoesIntoPaxAndReadsBack() throws {
        let long = String(repeating: "d/", count: 90) + "file"   // 184 bytes with slashes past 155: pax
        let unicode = "caf\u{e9}/men\u{fc}.txt"
        let target = String(repeating: "t", count: 150)
        let entries: [(TarEntry, [UInt8])] = [
            (TarEntry(index: 1, path: "dir", kind: .directory, mode: 0o750, modified: FileTime(seconds: 5)), []),
            (TarEntry(index: 2, path: long, kind: .regular, mode: 0o600, size: 3, modified: FileTime(seconds: 6)), Array("abc".utf8)),
            (TarEntry(index: 3, path: unicode, kind: .regular, uid: 3_000_000, gid: 4_000_000, size: 0), []),
            (TarEntry(index: 4, path: "link", kind: .symlink, mode: 0o777, linkTarget: target), []),
            (TarEntry(index: 5, path: "hard", kind: .hardLink, linkTarget: "dir"), []),
            (TarEntry(index: 6, path: "bin/ping", kind: .regular, mode: 0o755, size: 1, xattrs: [ExtendedAttribute(name: "security.capability", value: [1, 0, 0, 2, 0x20, 0, 0, 0])]), [7]),
            (TarEntry(index: 7, path: "dev/null", kind: .characterDevice, mode: 0o666, deviceMajor: 1, deviceMinor: 3), []),
            (TarEntry(index: 8, path: "fifo", kind: .fifo, mode: 0o600), []),
            (TarEntry(index: 9, path: "old", kind: .regular, size: 0, modified: FileTime(seconds: -100)), []),
        ]
        let back = try readAll(try written(entries))
        #expect(back.count == entries.count)
        #expect(back[0].0.path == "dir/" && back[0].0.kind == .directory && back[0].0.mode == 0o750)
        #expect(back[1].0.path == long && back[1].1 == Array("abc".utf8))
        #expect(back[2].0.path == unicode && back[2].0.uid == 3_000_000 && back[2].0.gid == 4_000_000)
        #expect(back[3].0.kind == .symlink && back[3].0.linkTarget == target)
        #expect(back[4].0.kind == .hardLink && back[4].0.linkTarget == "dir")
        #expect(back[5].0.xattrs == [ExtendedAttribute(name: "security.capability", value: [1, 0, 0, 2, 0x20, 0, 0, 0])] && back[5].1 == [7])
        #expect(back[6].0.kind == .characterDevice && back[6].0.deviceMajor == 1 && back[6].0.deviceMinor == 3)
        #expect(back[7].0.kind == .fifo)
        #expect(back[8].0.modified.seconds == -100)
    }

    @Test func namesSplitIntoPrefixAndName() {
        let name = Array((String(repeating: "a", count: 120) + "/" + String(repeating: "b", count: 90)).utf8)
        let split = VitroCommit.TarWriter.split(name)
        #expect(split?.0.count == 120 && split?.1.count == 90)
        #expect(VitroCommit.TarWriter.split(Array(String(repeating: "x", count: 101).utf8)) == nil, "no slash to split at")
        #expect(VitroCommit.TarWriter.split(Array("short".utf8))?.1 == Array("short".utf8))
    }

    @Test func paxRecordLengthsCountThemselves() {
        // "30 path=…" — a record of exactly 9 + digits bytes tips over to the next length.
        for n in [1, 80, 89, 90, 91, 985, 995, 1000] {
            let value = [UInt8](repeating: 0x61, count: n)
            let record = VitroCommit.TarWriter.paxRecords([("path", value)])
            let length = Int(String(decoding: record.prefix { $0 != 32 }, as: UTF8.self))
            #expect(length == record.count, "value of \(n) bytes")
        }
    }

    @Test func contentMustMatchTheHeader() throws {
        let w = VitroCommit.TarWriter(CollectingSink())
        try w.append(TarEntry(index: 1, path: "f", kind: .regular, size: 4))
        #expect(throws: TarWriteError.self) { try [UInt8](repeating: 1, count: 5).withUnsafeBytes { try w.writeContent($0) } }
        try [UInt8](repeating: 1, count: 2).withUnsafeBytes { try w.writeContent($0) }
        #expect(throws: TarWriteError.self) { try w.append(TarEntry(index: 2, path: "g", kind: .regular)) }
        let short = VitroCommit.TarWriter(CollectingSink())
        try short.append(TarEntry(index: 1, path: "f", kind: .regular, size: 10))
        #expect(throws: TarWriteError.self) { try short.writeContent(from: MemorySource([1, 2, 3])) }
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/tar"), "needs GNU tar"))
    func gnuTarListsWhatWeWrite() throws {
        let s = try Scratch()
        let long = String(repeating: "n", count: 120) + "/" + String(repeating: "m", count: 130)
        let bytes = try written([
            (TarEntry(index: 1, path: "a", kind: .directory, mode: 0o755), []),
            (TarEntry(index: 2, path: "a/file", kind: .regular, size: 5, modified: FileTime(seconds: 1_700_000_000)), Array("hello".utf8)),
            (TarEntry(index: 3, path: long, kind: .regular, size: 1), [9]),
            (TarEntry(index: 4, path: "a/.wh.gone", kind: .regular, mode: 0o600), []),
        ])
        try Data(bytes).write(to: URL(fileURLWithPath: s.dir + "/t.tar"))
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/tar")
        p.arguments = ["-tf", s.dir + "/t.tar"]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let listed = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        #expect(listed == "a/\na/file\n\(long)\na/.wh.gone\n")
    }
}

@Suite struct Compressing {
    static let payload: [UInt8] = noise(400_000) + [UInt8](repeating: 3, count: 300_000)

    func compress(_ make: (any ByteSink) throws -> any ByteSink) throws -> [UInt8] {
        let out = CollectingSink()
        let sink = try make(out)
        var i = 0
        // Odd-sized writes, as a tar writer's flushes are.
        while i < Self.payload.count {
            let n = min(77_777, Self.payload.count - i)
            try Self.payload[i..<(i + n)].withUnsafeBytes { try sink.write($0) }
            i += n
        }
        try sink.finish()
        return out.bytes
    }

    @Test func gzipReadsBackThroughGzipSourceAndGzip() throws {
        let gz = try compress { try GzipSink($0, level: 1) }
        #expect(Compression.detect(Array(gz.prefix(4))) == .gzip)
        #expect(try drain(GzipSource(MemorySource(gz))) == Self.payload)
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/gzip") {
            #expect(try filter("/usr/bin/gzip", ["-dc"], gz) == Self.payload)
        }
    }

    @Test func zstdReadsBackThroughZstdSourceAndZstd() throws {
        for workers: Int32 in [0, 2] {
            let z = try compress { try ZstdSink($0, level: 3, workers: workers) }
            #expect(Compression.detect(Array(z.prefix(4))) == .zstd)
            #expect(try drain(ZstdSource(MemorySource(z))) == Self.payload, "workers \(workers)")
            if FileManager.default.isExecutableFile(atPath: "/usr/bin/zstd") {
                #expect(try filter("/usr/bin/zstd", ["-dc"], z) == Self.payload)
            }
        }
    }

    @Test func hashingSinkGivesTheDigestOfWhatPassed() throws {
        let out = CollectingSink()
        let h = HashingSink(out)
        try h.write(Self.payload)
        try h.finish()
        #expect(h.digest == Digest.sha256(Self.payload))
        #expect(h.count == Int64(Self.payload.count) && out.bytes == Self.payload)
    }
}

@Suite struct Ingesting {
    @Test func aBlobIsNamedByItsBytesOnlyWhenPublished() throws {
        let s = try Scratch()
        let store = ContentStore(root: s.dir)
        let bytes = noise(10_000)
        let w = try BlobIngester(store: store)
        try w.write(bytes)
        let staged = try w.stage()
        #expect(staged.digest == Digest.sha256(bytes) && staged.size == 10_000)
        #expect(!store.contains(staged.digest), "not under its name before publish")
        try store.publish([staged], durable: false)
        #expect(store.contains(staged.digest))
        #expect(try store.read(staged.digest) == bytes)
        #expect(Sys.listDirectory(store.ingestDir).isEmpty)
        // The same bytes again: the stored blob is kept, the copy removed.
        let again = try BlobIngester.stage(bytes, in: store)
        try store.publish([again], durable: false)
        #expect(Sys.listDirectory(store.ingestDir).isEmpty)
    }

    @Test func bigChunksAreHashedOnASecondThreadToTheSameDigest() throws {
        let s = try Scratch()
        let store = ContentStore(root: s.dir)
        let bytes = noise(3_000_000)
        let w = try BlobIngester(store: store)
        // Chunks above and below the thread's threshold, in turn.
        var i = 0
        for n in [1 << 20, 1000, 300_000, 5, 1 << 20] {
            try bytes[i..<min(i + n, bytes.count)].withUnsafeBytes { try w.write($0) }
            i = min(i + n, bytes.count)
        }
        try bytes[i...].withUnsafeBytes { try w.write($0) }
        let staged = try w.stage()
        #expect(staged.digest == Digest.sha256(bytes) && staged.size == 3_000_000)
        let discarded = try BlobIngester(store: store)
        try bytes.withUnsafeBytes { try discarded.write($0) }
        discarded.discard()
        store.discard([staged])
        #expect(Sys.listDirectory(store.ingestDir).isEmpty)
    }

    @Test func aDiscardedBlobLeavesNothing() throws {
        let s = try Scratch()
        let store = ContentStore(root: s.dir)
        let w = try BlobIngester(store: store)
        try w.write([1, 2, 3])
        w.discard()
        #expect(Sys.listDirectory(store.ingestDir).isEmpty)
        #expect(Sys.listDirectory(store.blobsDir).isEmpty)
    }
}

@Suite struct ConfigChanges {
    @Test func instructionsParse() throws {
        #expect(try ConfigInstruction.parse("CMD [\"sh\", \"-c\", \"echo hi\"]") == .cmd(["sh", "-c", "echo hi"]))
        #expect(try ConfigInstruction.parse("cmd echo hi") == .cmd(["/bin/sh", "-c", "echo hi"]))
        #expect(try ConfigInstruction.parse("ENTRYPOINT [\"/bin/app\"]") == .entrypoint(["/bin/app"]))
        #expect(try ConfigInstruction.parse("ENV A=1 B=\"two words\" C='x y'") == .env([("A", "1"), ("B", "two words"), ("C", "x y")]))
        #expect(try ConfigInstruction.parse("ENV GREETING hello world") == .env([("GREETING", "hello world")]))
        #expect(try ConfigInstruction.parse("EXPOSE 80 53/udp 8080/TCP") == .expose(["80/tcp", "53/udp", "8080/tcp"]))
        #expect(try ConfigInstruction.parse("LABEL a=b \"c d\"=e") == .label([("a", "b"), ("c d", "e")]))
        #expect(try ConfigInstruction.parse("USER nobody") == .user("nobody"))
        #expect(try ConfigInstruction.parse("VOLUME [\"/data\", \"/logs\"]") == .volume(["/data", "/logs"]))
        #expect(try ConfigInstruction.parse("VOLUME /data /logs") == .volume(["/data", "/logs"]))
        #expect(try ConfigInstruction.parse("WORKDIR /srv") == .workdir("/srv"))
        #expect(try ConfigInstruction.parse("STOPSIGNAL SIGINT") == .stopSignal("SIGINT"))
    }

    @Test func badInstructionsSayWhy() {
        for (text, says) in [
            ("RUN make", "RUN is not one of"), ("EXPOSE http", "invalid port \"http\""), ("EXPOSE 70000", "invalid port"),
            ("ENV", "ENV requires"), ("LABEL novalue", "is not KEY=VALUE"), ("ENV A=\"open", "unterminated quote"), ("", "empty instruction"),
        ] {
            #expect {
                _ = try ConfigInstruction.parse(text)
            } throws: { e in
                "\(e)".contains(says) && "\(e)".hasPrefix("invalid change")
            }
        }
    }

    @Test func instructionsChangeTheRunConfig() throws {
        var c = RunConfig(try JSONReader.parse(#"{"Env":["PATH=/bin","A=old"],"Cmd":["sh"],"WorkingDir":"/srv","Healthcheck":{"Test":["NONE"]}}"#))
        for text in ["ENV A=new B=2", "EXPOSE 80", "EXPOSE 80/tcp", "LABEL k=v", "WORKDIR app", "WORKDIR ../x", "USER 1000", "ENTRYPOINT [\"/e\"]"] {
            try ConfigInstruction.parse(text).apply(to: &c)
        }
        #expect(c.strings("Env") == ["PATH=/bin", "A=new", "B=2"])
        #expect(c["ExposedPorts"]?.members?.map(\.0) == ["80/tcp"])
        #expect(c["Labels"]?["k"]?.string == "v")
        #expect(c["WorkingDir"]?.string == "/srv/x")
        #expect(c["User"]?.string == "1000")
        #expect(c.strings("Entrypoint") == ["/e"] && c["Cmd"] == .null, "ENTRYPOINT drops the image's CMD")
        #expect(c["Healthcheck"] != nil, "fields vitro does not model are kept")
    }
}

@Suite struct NewImages {
    @Test func theConfigGrowsByOneLayerAndOneStep() throws {
        let base = try JSONReader.parse(#"""
            {"architecture":"arm64","os":"linux","docker_version":"20.10","author":"someone","custom":1,
             "config":{"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:\#(String(repeating: "a", count: 64))"]},
             "history":[{"created":"2024-01-01T00:00:00Z","created_by":"ADD x"}]}
            """#)
        var run = RunConfig(base["config"])
        run.setStrings("Cmd", ["true"])
        let diffID = Digest.sha256([1])
        let bytes = NewImage.config(
            base: base, run: run, diffID: diffID, step: HistoryStep(created: "2026-01-01T00:00:00Z", createdBy: "sh -c touch x", author: "me", comment: "msg"),
            author: "me", comment: "msg", container: "abc")
        let c = try ImageConfig.parse(bytes)
        let raw = try JSONReader.parse(bytes)
        #expect(c.diffIDs.count == 2 && c.diffIDs.last == diffID)
        #expect(c.history.count == 2 && c.history.last?.createdBy == "sh -c touch x" && c.history.last?.comment == "msg")
        #expect(c.architecture == "arm64" && c.cmd == ["true"] && c.author == "me")
        #expect(raw["custom"]?.int == 1 && raw["docker_version"] == nil && raw["comment"]?.string == "msg" && raw["container"]?.string == "abc")
    }

    @Test func aManifestParsesBack() throws {
        let layer = Descriptor(mediaType: MediaType.ociLayer, digest: Digest.sha256([2]), size: 10)
        let config = Descriptor(mediaType: MediaType.ociConfig, digest: Digest.sha256([3]), size: 20)
        guard case .manifest(let m) = try ManifestDocument.parse(NewImage.manifest(config: config, layers: [layer])) else {
            Issue.record("not a manifest")
            return
        }
        #expect(m.config.digest == config.digest && m.layers.map(\.digest) == [layer.digest] && m.mediaType == MediaType.ociManifest)
        #expect(NewImage.ociLayerType(MediaType.dockerLayerGzip) == MediaType.ociLayerGzip)
    }
}

@Suite struct TreesAsLayers {
    /// A small tree with a hard link, a symlink and nested directories.
    func tree() throws -> Scratch {
        let s = try Scratch()
        let fm = FileManager.default
        try fm.createDirectory(atPath: s.dir + "/t/b/c", withIntermediateDirectories: true)
        try Data("one".utf8).write(to: URL(fileURLWithPath: s.dir + "/t/b/one"))
        try Data("zz".utf8).write(to: URL(fileURLWithPath: s.dir + "/t/a"))
        try fm.linkItem(atPath: s.dir + "/t/b/one", toPath: s.dir + "/t/b/c/two")
        try fm.createSymbolicLink(atPath: s.dir + "/t/link", withDestinationPath: "../etc/passwd")
        return s
    }

    @Test func aTreeIsWrittenParentsFirstInByteOrder() throws {
        let s = try tree()
        let sink = CollectingSink()
        let tar = VitroCommit.TarWriter(sink)
        let w = LayerWriter(root: s.dir + "/t", mode: .plain)
        try w.write(to: tar)
        try tar.finish()
        let back = try readAll(sink.bytes)
        #expect(back.map(\.0.path) == ["a", "b/", "b/c/", "b/c/two", "b/one", "link"])
        #expect(back[3].0.kind == .regular && back[3].1 == Array("one".utf8), "the first name of a linked file carries the content")
        #expect(back[4].0.kind == .hardLink && back[4].0.linkTarget == "b/c/two")
        #expect(back[5].0.kind == .symlink && back[5].0.linkTarget == "../etc/passwd", "a symlink is stored, never followed")
        #expect(w.summary.files == 2 && w.summary.hardLinks == 1 && w.summary.directories == 2)
    }

    @Test func theSameTreeGivesTheSameBytes() throws {
        let s = try tree()
        func digest() throws -> Digest? {
            let h = HashingSink(nil)
            let tar = VitroCommit.TarWriter(h)
            try LayerWriter(root: s.dir + "/t", mode: .plain).write(to: tar)
            try tar.finish()
            return h.digest
        }
        #expect(try digest() == digest())
    }

    @Test func changesAgainstALowerLayerWithoutWhiteouts() throws {
        let s = try Scratch()
        let fm = FileManager.default
        for d in ["lower/etc", "lower/usr/bin", "upper/etc", "upper/new/deep"] { try fm.createDirectory(atPath: s.dir + "/" + d, withIntermediateDirectories: true) }
        try Data("a".utf8).write(to: URL(fileURLWithPath: s.dir + "/lower/etc/passwd"))
        try Data("b".utf8).write(to: URL(fileURLWithPath: s.dir + "/upper/etc/passwd"))
        try Data("c".utf8).write(to: URL(fileURLWithPath: s.dir + "/upper/etc/added"))
        try Data("d".utf8).write(to: URL(fileURLWithPath: s.dir + "/upper/new/deep/f"))
        let changes = try ContainerChanges.diff(upper: s.dir + "/upper", lower: LowerView(topFirst: [s.dir + "/lower"]))
        let text = changes.map(\.description)
        // etc's mtime differs from the lower one (a file was added): changed.
        #expect(text == ["C /etc", "A /etc/added", "C /etc/passwd", "A /new", "A /new/deep", "A /new/deep/f"])
    }
}
