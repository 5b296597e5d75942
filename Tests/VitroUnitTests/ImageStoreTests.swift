// The content store and the image index in a temporary root: verified writes, nothing
// half-written left behind, locks that exclude, records that survive concurrent writers,
// lookups by name and id, and garbage collection.

import Foundation
import Testing
import VitroSys

@testable import VitroImage

@Suite struct ImageStoreTests {
    final class TempRoot {
        let path = NSTemporaryDirectory() + "vitro-store-" + UUID().uuidString.prefix(8).lowercased()
        deinit { try? FileManager.default.removeItem(atPath: path) }
        func files(_ sub: String) -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: path + "/" + sub)) ?? []).sorted() }
    }

    func descriptor(_ bytes: [UInt8]) -> Descriptor {
        Descriptor(mediaType: "application/octet-stream", digest: Digest.sha256(bytes), size: Int64(bytes.count))
    }

    @Test func verifiedBlobsAreStoredUnderTheirDigest() throws {
        let t = TempRoot()
        let store = ContentStore(root: t.path)
        try store.prepare()
        let bytes = Array("hello, layer".utf8)
        let d = descriptor(bytes)
        try store.write(bytes, as: d)
        #expect(store.contains(d.digest))
        #expect(try store.read(d.digest) == bytes)
        #expect(t.files("blobs/sha256") == [d.digest.hex])
        #expect(t.files("ingest").isEmpty)
    }

    @Test func aDigestMismatchLeavesNothingBehind() throws {
        let t = TempRoot()
        let store = ContentStore(root: t.path)
        try store.prepare()
        let promised = descriptor(Array("the real bytes".utf8))
        let evil = Array("other bytes!!!".utf8)
        #expect(evil.count == Int(promised.size))
        #expect { try store.write(evil, as: promised) } throws: {
            ($0 as? ImageError)?.message == "blob \(promised.digest): digest mismatch (got \(Digest.sha256(evil)))"
        }
        #expect(t.files("blobs/sha256").isEmpty)
        #expect(t.files("ingest").isEmpty)

        let short = Array("the real".utf8)
        #expect { try store.write(short, as: promised) } throws: {
            ($0 as? ImageError)?.message == "blob \(promised.digest): size mismatch (got 8 bytes, expected 14)"
        }
        let long = Array("the real bytes and more".utf8)
        #expect { try store.write(long, as: promised) } throws: { ($0 as? ImageError)?.message.contains("size mismatch") == true }
        #expect(t.files("blobs/sha256").isEmpty)
        #expect(t.files("ingest").isEmpty)
    }

    @Test func aRetriedDownloadStartsOver() throws {
        let t = TempRoot()
        let store = ContentStore(root: t.path)
        try store.prepare()
        let bytes = Array(repeating: UInt8(7), count: 1000)
        let w = BlobWriter(store: store, descriptor: descriptor(bytes))
        try w.begin()
        try bytes.prefix(600).withUnsafeBytes { try w.write($0) }
        try w.begin()  // the connection broke; the retry sends everything again
        try bytes.withUnsafeBytes { try w.write($0) }
        try w.commit()
        #expect(try store.read(Digest.sha256(bytes)) == bytes)
    }

    @Test func blobLocksExcludeAndVanish() throws {
        let t = TempRoot()
        let store = ContentStore(root: t.path)
        try store.prepare()
        let d = Digest.sha256([1, 2, 3])
        let first = try store.lock(d, wait: false)
        #expect(first != nil)
        #expect(try store.lock(d, wait: false) == nil, "a second open file description cannot take it")
        if let first { Sys.unlock(first) }
        #expect(t.files("ingest").isEmpty, "the lock file goes with the lock")
        let again = try store.lock(d, wait: false)
        #expect(again != nil)
        if let again { Sys.unlock(again) }
    }

    @Test func atomicWritesLeaveNoTemporaryFile() throws {
        let t = TempRoot()
        try FileManager.default.createDirectory(atPath: t.path, withIntermediateDirectories: true)
        try Sys.writeFileAtomically(t.path + "/f", Array("one".utf8))
        try Sys.writeFileAtomically(t.path + "/f", Array("two".utf8))
        #expect(try String(contentsOfFile: t.path + "/f", encoding: .utf8) == "two")
        #expect(t.files("") == ["f"])
        #expect(throws: SysError.self) { try Sys.writeFileAtomically(t.path + "/missing/f", [1]) }
    }

    /// An image made of real blobs in the store, and its record.
    func addImage(_ store: ImageStore, name: String, tag: String?, layer: String) throws -> ImageRecord {
        let layerBytes = Array(layer.utf8)
        let l = descriptor(layerBytes)
        try store.content.write(layerBytes, as: l)
        let config = Array(#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["\#(l.digest)"]}}"#.utf8)
        let c = descriptor(config)
        try store.content.write(config, as: c)
        let manifest = Array("""
            {"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",\
            "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\(c.digest)","size":\(c.size)},\
            "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"\(l.digest)","size":\(l.size)}]}
            """.utf8)
        let m = descriptor(manifest)
        try store.content.write(manifest, as: m)
        let r = ImageRecord(name: name, tag: tag, digest: m.digest, manifest: m.digest, config: c.digest, tagged: 1)
        try store.record(r)
        return r
    }

    @Test func recordsLookupAndGarbageCollection() throws {
        let t = TempRoot()
        let store = ImageStore(root: t.path)
        try store.content.prepare()
        let a = try addImage(store, name: "docker.io/library/busybox", tag: "latest", layer: "layer a")
        let b = try addImage(store, name: "127.0.0.1:5000/other", tag: "1", layer: "layer b")
        #expect(try store.records() == [a, b])
        #expect(try store.lookup("busybox") == [a])
        #expect(try store.lookup("docker.io/library/busybox:latest") == [a])
        #expect(try store.lookup(String(a.config.hex.prefix(12))) == [a])
        #expect(try store.lookup("sha256:" + b.config.hex) == [b])
        #expect(try store.lookup("busybox:other").isEmpty)
        #expect(try store.lookup("127.0.0.1:5000/other@" + b.digest.description) == [b])
        #expect(try store.image("busybox")?.config.architecture == "amd64")

        // Re-recording the same name and tag replaces; another tag adds.
        try store.record(a)
        var alias = a
        alias.name = "docker.io/library/alias"
        try store.record(alias)
        #expect(try store.records().count == 3)
        #expect(try store.image(id: a.config)?.records.count == 2)

        #expect(try store.remove([alias]).isEmpty, "busybox:latest still names the image")
        #expect(t.files("blobs/sha256").count == 6)
        #expect(try store.remove([a]) == [a.config])
        #expect(t.files("blobs/sha256").count == 3, "only b's blobs are left")
        #expect(try store.records() == [b])
        #expect(t.files("images") == ["index.json", "lock"])
    }

    @Test func concurrentWritersLoseNoRecord() throws {
        let t = TempRoot()
        let store = ImageStore(root: t.path)
        let config = Digest.sha256([1])
        DispatchQueue.concurrentPerform(iterations: 16) { i in
            try? store.record(ImageRecord(name: "docker.io/library/x", tag: "t\(i)", digest: config, manifest: config, config: config, tagged: Int64(i)))
        }
        #expect(try store.records().count == 16)
        #expect(t.files("images") == ["index.json", "lock"])
    }
}
