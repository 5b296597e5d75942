// Chapter 09: `vitro load`, images into the store from an archive: a docker-archive (as
// `docker save` and `vitro save` write it; newer Dockers put an OCI layout beside
// manifest.json, which is read the same way) or an OCI layout in a tar (`skopeo copy …
// oci-archive:`, `vitro save --format oci`). The archive may itself be gzip- or
// zstd-compressed.
//
// A tar is read front to back once and its members can come in any order
// (`docker save` writes manifest.json last), so every member is taken in first: small
// ones (JSON documents) into memory, big ones (layers) into the ingest area, hashed as
// they stream. Then the index is read and each image checked: its config must be the
// bytes its name promises, it must list as many diffIDs as it has layers, and each
// layer, decompressed, must hash to its diffID and contain only names that `run` would
// unpack (no `../`, no absolute names). Only when every image passes are the blobs
// published and the names recorded; anything else removes what was staged.

import VitroImage
import VitroLayers
import VitroSys
import VitroTrace

public struct LoadedImage: Sendable {
    public var id: Digest
    public var names: [Reference]
}

extension ImageArchive {
    /// A member of the archive, taken in.
    enum Member {
        case memory([UInt8])
        case staged(StagedBlob)

        var size: Int64 {
            switch self {
            case .memory(let b): return Int64(b.count)
            case .staged(let s): return s.size
            }
        }

        func source() throws -> any ByteSource {
            switch self {
            case .memory(let b): return MemorySource(b)
            case .staged(let s): return try FileSource(path: s.temporary)
            }
        }
    }

    static let inMemoryLimit: Int64 = 1 << 20

    /// Loads every image in the archive that `source` gives.
    public static func load(_ source: any ByteSource, name: String, store: ImageStore, platform: Platform = .current) throws -> [LoadedImage] {
        let content = store.content
        return try content.collecting {
            var members: [String: Member] = [:]
            var links: [String: String] = [:]
            var publish: [StagedBlob] = []
            defer {
                // Whatever was not published goes (publish moved what it used).
                content.discard(members.values.compactMap { if case .staged(let s) = $0 { return s } else { return nil } })
                content.discard(publish)
            }
            let (plain, _) = try Compression.decompressing(source, name: name)
            let reader = TarReader(plain)
            while let entry = try reader.next() {
                try LayerNames.check(entry)
                let path = clean(entry.path)
                switch entry.kind {
                case .regular:
                    if entry.size <= inMemoryLimit {
                        var bytes = [UInt8](repeating: 0, count: Int(entry.size))
                        var got = 0
                        while got < bytes.count {
                            let n = try bytes.withUnsafeMutableBytes { try reader.readContent(into: UnsafeMutableRawBufferPointer(rebasing: $0[got...])) }
                            if n == 0 { break }
                            got += n
                        }
                        members[path] = .memory(bytes)
                    } else {
                        let w = try BlobIngester(store: content)
                        do {
                            var buffer = [UInt8](repeating: 0, count: 1 << 20)
                            while true {
                                let n = try buffer.withUnsafeMutableBytes { try reader.readContent(into: $0) }
                                if n == 0 { break }
                                try buffer.withUnsafeBytes { try w.write(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                            }
                            members[path] = .staged(try w.stage())
                        } catch {
                            w.discard()
                            throw error
                        }
                    }
                case .symlink:
                    // `docker save` links a layer it already wrote: <id>/layer.tar -> ../<other>/layer.tar.
                    let dir = path.split(separator: "/").dropLast().joined(separator: "/")
                    links[path] = clean((dir.isEmpty ? "" : dir + "/") + entry.linkTarget)
                case .hardLink:
                    links[path] = clean(entry.linkTarget)
                default:
                    continue
                }
            }
            func member(_ name: String) -> Member? {
                var n = clean(name)
                for _ in 0..<8 {
                    if let m = members[n] { return m }
                    guard let t = links[n] else { return nil }
                    n = t
                }
                return nil
            }

            // The images, as the archive lists them.
            var found: [(config: Digest, configBytes: [UInt8], layers: [Member], names: [Reference], manifest: [UInt8]?)] = []
            if case .memory(let bytes)? = member("manifest.json") {
                let list = try JSONReader.parse(bytes).array ?? []
                guard !list.isEmpty else { throw CommitError("\(name): manifest.json lists no image") }
                for item in list {
                    guard let configName = item["Config"]?.string, let configMember = member(configName) else {
                        throw CommitError("\(name): manifest.json names a config that is not in the archive")
                    }
                    let configBytes = try readAll(configMember)
                    var layers: [Member] = []
                    for l in item["Layers"]?.array ?? [] {
                        guard let ln = l.string, let m = member(ln) else { throw CommitError("\(name): layer \(l.string ?? "?") is not in the archive") }
                        layers.append(m)
                    }
                    var names: [Reference] = []
                    for t in item["RepoTags"]?.array?.compactMap(\.string) ?? [] {
                        do { names.append(try Reference.parse(t)) } catch { throw CommitError("\(name): RepoTags \"\(t)\": \(error)") }
                    }
                    found.append((Digest.sha256(configBytes), configBytes, layers, names, nil))
                }
            } else if case .memory(let bytes)? = member("index.json") {
                for d in try manifests(in: bytes, member: member, platform: platform, archive: name) {
                    guard case .manifest(let m) = try ManifestDocument.parse(d.bytes) else { continue }
                    guard let cm = member("blobs/sha256/" + m.config.digest.hex) else {
                        throw CommitError("\(name): config \(m.config.digest) is not in the archive")
                    }
                    let configBytes = try readAll(cm)
                    guard Digest.sha256(configBytes) == m.config.digest else { throw CommitError("\(name): config \(m.config.digest) does not match its digest") }
                    var layers: [Member] = []
                    for l in m.layers {
                        guard let lm = member("blobs/sha256/" + l.digest.hex) else { throw CommitError("\(name): layer \(l.digest) is not in the archive") }
                        layers.append(lm)
                    }
                    found.append((m.config.digest, configBytes, layers, d.names, nil))
                }
            } else {
                throw CommitError("\(name): not an image archive (it has neither manifest.json, as docker save writes, nor index.json, as an OCI layout has)")
            }

            // Check each image; stage what it needs.
            var toRecord: [(Digest, Digest, [Reference])] = []
            for image in found {
                let config = try ImageConfig.parse(image.configBytes)
                guard config.diffIDs.count == image.layers.count else {
                    throw CommitError("\(name): image \(image.config.short) lists \(config.diffIDs.count) diffIDs and has \(image.layers.count) layers")
                }
                var descriptors: [Descriptor] = []
                for (i, layer) in image.layers.enumerated() {
                    let start = MonotonicClock.now()
                    let label = "\(name): layer \(i + 1) of image \(image.config.short)"
                    let (plain, compression) = try Compression.decompressing(try layer.source(), name: label)
                    let hashing = HashingSource(plain)
                    let tar = TarReader(hashing)
                    var entries = 0
                    do {
                        while let e = try tar.next() {
                            try LayerNames.check(e)
                            entries += 1
                        }
                        try tar.drain()
                    } catch {
                        throw CommitError("\(label): \(error)")
                    }
                    guard hashing.digest == config.diffIDs[i] else {
                        throw CommitError("\(label): its tar hashes to \(hashing.digest?.description ?? "?"), the image config says \(config.diffIDs[i])")
                    }
                    let blob: StagedBlob
                    switch layer {
                    case .staged(let s): blob = s
                    case .memory(let b): blob = try BlobIngester.stage(b, in: content)
                    }
                    publish.append(blob)
                    descriptors.append(Descriptor(mediaType: NewImage.layerType(compression), digest: blob.digest, size: blob.size))
                    Sys.record(
                        "layer", .layer, start: start,
                        args: ["image": .string(image.config.description), "digest": .string(blob.digest.description), "diff_id": .string(config.diffIDs[i].description),
                            "compression": .string(compression.rawValue), "entries": .int(Int64(entries))],
                        why: "every layer is read through before anything is stored: its diffID must match the config and each name must be one run would unpack",
                        shell: nil)
                }
                let configBlob = try BlobIngester.stage(image.configBytes, in: content)
                publish.append(configBlob)
                let manifest = NewImage.manifest(config: Descriptor(mediaType: MediaType.ociConfig, digest: configBlob.digest, size: configBlob.size), layers: descriptors)
                let manifestBlob = try BlobIngester.stage(manifest, in: content)
                publish.append(manifestBlob)
                toRecord.append((manifestBlob.digest, configBlob.digest, image.names))
            }
            try content.publish(publish)
            var loaded: [LoadedImage] = []
            for (manifest, config, names) in toRecord {
                if names.isEmpty {
                    try NewImage.record(store, ref: nil, manifest: manifest, config: config)
                }
                for n in names { try NewImage.record(store, ref: n, manifest: manifest, config: config) }
                loaded.append(LoadedImage(id: config, names: names))
            }
            return loaded
        }
    }

    /// The manifests an OCI index.json names (through nested indexes, one platform's),
    /// with the names its annotations give.
    static func manifests(
        in indexBytes: [UInt8], member: (String) -> Member?, platform: Platform, archive: String
    ) throws -> [(bytes: [UInt8], names: [Reference])] {
        guard case .index(let index) = try ManifestDocument.parse(indexBytes) else { throw CommitError("\(archive): index.json is not an image index") }
        var out: [(bytes: [UInt8], names: [Reference])] = []
        for d in index.manifests {
            var names: [Reference] = []
            // containerd's annotation carries the full name; the OCI one, a tag or a name.
            if let full = d.annotations["io.containerd.image.name"], let r = try? Reference.parse(full) {
                names.append(r)
            } else if let ref = d.annotations["org.opencontainers.image.ref.name"], ref.contains("/") || ref.contains(":"), let r = try? Reference.parse(ref) {
                names.append(r)
            }
            guard let m = member("blobs/sha256/" + d.digest.hex) else { throw CommitError("\(archive): manifest \(d.digest) is not in the archive") }
            let bytes = try readAll(m)
            guard Digest.sha256(bytes) == d.digest else { throw CommitError("\(archive): manifest \(d.digest) does not match its digest") }
            switch try ManifestDocument.parse(bytes) {
            case .manifest:
                if let i = out.firstIndex(where: { $0.bytes == bytes }) { out[i].names += names } else { out.append((bytes, names)) }
            case .index(let inner):
                guard let chosen = platform.select(from: inner.manifests), let cm = member("blobs/sha256/" + chosen.digest.hex) else {
                    throw CommitError("\(archive): no manifest for \(platform) in index \(d.digest)")
                }
                out.append((try readAll(cm), names))
            }
        }
        return out
    }

    static func readAll(_ m: Member) throws -> [UInt8] {
        switch m {
        case .memory(let b): return b
        case .staged(let s):
            guard s.size <= 64 << 20 else { throw CommitError("\(s.temporary): a document of \(s.size) bytes is too big") }
            return try Sys.readFile(s.temporary)
        }
    }

    /// "./a//b/" → "a/b".
    static func clean(_ path: String) -> String {
        var parts: [Substring] = []
        for p in path.split(separator: "/") {
            if p == "." { continue }
            if p == ".." { _ = parts.popLast(); continue }
            parts.append(p)
        }
        return parts.joined(separator: "/")
    }
}
