// Chapter 09: `vitro save`, images out of the store as one archive, in one of two forms.
//
// docker-archive (what `docker save` writes and `docker load` reads):
//
//     <config-hex>.json          the config blob, byte for byte (so the image id stays)
//     <chain-hex>/layer.tar      each layer, uncompressed (its digest is its diffID)
//     <chain-hex>/VERSION, json  the v1 leftovers old loaders look for
//     manifest.json              [{"Config": …, "RepoTags": ["busybox:latest"], "Layers": […]}]
//     repositories               {"busybox": {"latest": "<top layer dir>"}}
//
// OCI image layout (image-spec image-layout.md), as a tar (`--format oci`) or a
// directory (`--format oci-dir`):
//
//     oci-layout                 {"imageLayoutVersion":"1.0.0"}
//     blobs/sha256/<hex>         config, layers (gzip by default, or zstd, or none), manifests
//     index.json                 the manifests, named by `org.opencontainers.image.ref.name`
//                                (the tag) and `io.containerd.image.name` (the full name)
//
// The formats want layers in different forms: docker-archive uncompressed, OCI usually
// compressed. Layers travel as the store has them when that is the form wanted (a
// pulled gzip layer into an OCI archive); otherwise they are decompressed (checked
// against their diffID on the way) or compressed into a spool file first, because a
// tar header needs the size before the content. A new OCI manifest is written for
// the layers' new digests; the config is never changed, so the image keeps its id.

import VitroImage
import VitroLayers
import VitroSys
import VitroTrace

public enum ArchiveFormat: String, Sendable, CaseIterable {
    case docker
    /// An OCI layout in a tar.
    case oci
    /// An OCI layout in a directory.
    case ociDirectory = "oci-dir"
}

public struct SaveOptions: Sendable {
    public var format = ArchiveFormat.docker
    /// Layer compression in OCI archives (docker-archive layers are always plain tar).
    public var compression = Compression.gzip
    /// gzip 1–9 (6), zstd 1–19 (3).
    public var level: Int32?
    /// Threads for zstd (0: one).
    public var workers: Int32 = 0
    public var platform = Platform.current
    public init() {}
}

public enum ImageArchive {
    /// An image to save: what to call it in the archive.
    struct Wanted {
        var image: StoredImage
        /// `busybox:latest` (familiar form) for docker-archive, full references for OCI.
        var names: [Reference]
    }

    /// Resolves the words of `vitro save` to images, and the names to give them.
    static func wanted(_ words: [String], store: ImageStore) throws -> [Wanted] {
        var out: [Wanted] = []
        for word in words {
            let found = try store.lookup(word)
            guard let first = found.first, let image = try store.image(id: first.config) else {
                throw CommitError("no such image: \(word)")
            }
            // By name: that name. By id: no name, as Docker saves it.
            let byName = (try? Reference.parse(word)).map { ref in found.contains { $0.name == ref.name } } ?? false
            let names = byName ? found.filter { !$0.isDangling && $0.tag != nil }.map(\.reference) : []
            if let i = out.firstIndex(where: { $0.image.id == image.id }) {
                for n in names where !out[i].names.contains(n) { out[i].names.append(n) }
            } else {
                out.append(Wanted(image: image, names: names))
            }
        }
        return out
    }

    /// Writes the images named by `words` to `output` (finished at the end).
    static func save(_ words: [String], store: ImageStore, options: SaveOptions, output: any ArchiveOutput) throws {
        let images = try wanted(words, store: store)
        var spools: [Spool] = []
        defer { for s in spools { s.remove() } }
        switch options.format {
        case .docker: try saveDocker(images, store: store, output: output, spools: &spools)
        case .oci, .ociDirectory: try saveOCI(images, store: store, options: options, output: output, spools: &spools)
        }
        try output.finish()
    }

    public static func save(_ words: [String], store: ImageStore, options: SaveOptions, to sink: any ByteSink) throws {
        try save(words, store: store, options: options, output: TarOutput(sink, time: FileTime(seconds: 0)))
    }

    public static func save(_ words: [String], store: ImageStore, options: SaveOptions, directory: String) throws {
        try save(words, store: store, options: options, output: DirectoryOutput(root: directory))
    }

    // MARK: docker-archive

    static func saveDocker(_ images: [Wanted], store: ImageStore, output: any ArchiveOutput, spools: inout [Spool]) throws {
        var manifest: [JSONValue] = []
        var repositories: [(String, [(String, JSONValue)])] = []
        var written: Set<String> = []
        for w in images {
            let configName = w.image.id.hex + ".json"
            if written.insert(configName).inserted { try output.file(configName, bytes: w.image.configBytes) }
            let chain = ChainID.chain(w.image.config.diffIDs)
            var layerNames: [String] = []
            var parent: String?
            for (i, layer) in w.image.manifest.layers.enumerated() {
                let dir = chain[i].hex
                let name = dir + "/layer.tar"
                layerNames.append(name)
                if written.insert(dir).inserted {
                    try output.directory(dir)
                    try output.file(dir + "/VERSION", bytes: Array("1.0".utf8))
                    var v1 = JSONWriter()
                    v1.beginObject()
                    v1.key("id"); v1.string(dir)
                    if let parent { v1.key("parent"); v1.string(parent) }
                    v1.endObject()
                    try output.file(dir + "/json", bytes: v1.bytes)
                    let (source, size) = try layerAs(.none, layer, diffID: w.image.config.diffIDs[i], store: store, options: SaveOptions(), spools: &spools).plain
                    try output.file(name, size: size, from: source)
                }
                parent = dir
            }
            let tags = w.names.compactMap { r in r.tag.map { r.familiarName + ":" + $0 } }
            manifest.append(.object([
                ("Config", .string(configName)), ("RepoTags", tags.isEmpty ? .null : .array(tags.map(JSONValue.string))),
                ("Layers", .array(layerNames.map(JSONValue.string))),
            ]))
            for r in w.names {
                guard let tag = r.tag, let top = parent else { continue }
                if let i = repositories.firstIndex(where: { $0.0 == r.familiarName }) {
                    repositories[i].1.append((tag, .string(top)))
                } else {
                    repositories.append((r.familiarName, [(tag, .string(top))]))
                }
            }
            Tracer.shared.note(
                "saved", group: .layer,
                args: ["image": .string(w.image.id.description), "names": .list(tags), "layers": .int(Int64(layerNames.count))],
                why: "docker-archive: the config as stored, each layer uncompressed under its chain ID, listed in manifest.json")
        }
        var m = JSONWriter()
        m.value(.array(manifest))
        try output.file("manifest.json", bytes: m.bytes)
        if !repositories.isEmpty {
            var r = JSONWriter()
            r.value(.object(repositories.map { ($0.0, .object($0.1)) }))
            try output.file("repositories", bytes: r.bytes)
        }
    }

    // MARK: OCI

    static func saveOCI(_ images: [Wanted], store: ImageStore, options: SaveOptions, output: any ArchiveOutput, spools: inout [Spool]) throws {
        try output.file("oci-layout", bytes: Array(#"{"imageLayoutVersion":"1.0.0"}"#.utf8))
        try output.directory("blobs")
        try output.directory("blobs/sha256")
        var written: Set<Digest> = []
        var entries: [JSONValue] = []
        func blob(_ digest: Digest, size: Int64, _ source: () throws -> any ByteSource) throws {
            guard written.insert(digest).inserted else { return }
            try output.file("blobs/sha256/" + digest.hex, size: size, from: try source())
        }
        for w in images {
            try blob(w.image.id, size: Int64(w.image.configBytes.count)) { MemorySource(w.image.configBytes) }
            var layers: [Descriptor] = []
            for (i, layer) in w.image.manifest.layers.enumerated() {
                let out = try layerAs(options.compression, layer, diffID: w.image.config.diffIDs[i], store: store, options: options, spools: &spools)
                layers.append(Descriptor(mediaType: NewImage.layerType(options.compression), digest: out.digest, size: out.plain.1))
                try blob(out.digest, size: out.plain.1) { out.plain.0 }
            }
            let manifest = NewImage.manifest(config: Descriptor(mediaType: MediaType.ociConfig, digest: w.image.id, size: Int64(w.image.configBytes.count)), layers: layers)
            let digest = Digest.sha256(manifest)
            try blob(digest, size: Int64(manifest.count)) { MemorySource(manifest) }
            let names: [Reference?] = w.names.isEmpty ? [nil] : w.names
            for n in names {
                var annotations: [(String, JSONValue)] = []
                if let n {
                    annotations.append(("io.containerd.image.name", .string(n.description)))
                    annotations.append(("org.opencontainers.image.ref.name", .string(n.tag ?? Reference.defaultTag)))
                }
                var d: [(String, JSONValue)] = [
                    ("mediaType", .string(MediaType.ociManifest)), ("digest", .string(digest.description)), ("size", .number(Double(manifest.count))),
                ]
                if !annotations.isEmpty { d.append(("annotations", .object(annotations))) }
                entries.append(.object(d))
            }
            Tracer.shared.note(
                "saved", group: .layer,
                args: ["image": .string(w.image.id.description), "manifest": .string(digest.description), "compression": .string(options.compression.rawValue)],
                why: "OCI layout: the config as stored, each layer \(options.compression == .none ? "uncompressed" : "as " + options.compression.rawValue), a new manifest for their digests")
        }
        var index = JSONWriter()
        index.value(.object([
            ("schemaVersion", .number(2)), ("mediaType", .string(MediaType.ociIndex)), ("manifests", .array(entries)),
        ]))
        try output.file("index.json", bytes: index.bytes)
    }

    // MARK: layers in the form wanted

    struct LayerOut {
        var digest: Digest
        /// A source of the bytes and their count.
        var plain: (any ByteSource, Int64)
    }

    /// A stored layer in the compression wanted: as stored when it already is; else
    /// converted into a spool file (decompressed layers are checked against their
    /// diffID on the way).
    static func layerAs(
        _ want: Compression, _ layer: Descriptor, diffID: Digest, store: ImageStore, options: SaveOptions, spools: inout [Spool]
    ) throws -> LayerOut {
        let path = store.content.path(of: layer.digest)
        let have = try storedCompression(path)
        if have == want { return LayerOut(digest: layer.digest, plain: (try FileSource(path: path), layer.size)) }
        let spool = try Spool(store: store.content)
        spools.append(spool)
        let start = MonotonicClock.now()
        let (plain, _) = try Compression.decompressing(try FileSource(path: path), name: layer.digest.description)
        let sink: any ByteSink
        switch want {
        case .none: sink = spool.ingester
        case .gzip: sink = try GzipSink(spool.ingester, level: options.level ?? 6)
        case .zstd: sink = try ZstdSink(spool.ingester, level: options.level ?? 3, workers: options.workers)
        }
        // The diffID is checked on the plain stream, whatever the output.
        let check = HashingSink(sink)
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = try buffer.withUnsafeMutableBytes { try plain.read(into: $0) }
            if n == 0 { break }
            try buffer.withUnsafeBytes { try check.write(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        }
        try check.finish()
        guard check.digest == diffID else {
            throw CommitError("layer \(layer.digest): its tar hashes to \(check.digest?.description ?? "?"), the image says \(diffID)")
        }
        let staged = try spool.ingester.stage()
        Sys.record(
            want == .none ? "decompress" : "compress", .layer, start: start,
            args: ["layer": .string(layer.digest.description), "from": .string(have.rawValue), "to": .string(want.rawValue), "digest": .string(staged.digest.description), "bytes": .int(staged.size)],
            why: want == .none ? "this archive format wants plain tar layers: decompressed, and checked against the diffID on the way"
                : "this layer is kept uncompressed on the machine; it is compressed as it leaves",
            shell: want == .none ? "gzip -dc BLOB > layer.tar" : want == .gzip ? "gzip -c layer.tar" : "zstd -c layer.tar")
        return LayerOut(digest: staged.digest, plain: (try spool.source(), staged.size))
    }

    /// What the first bytes of a stored blob say it is.
    static func storedCompression(_ path: String) throws -> Compression {
        let source = try FileSource(path: path)
        var prefix = [UInt8](repeating: 0, count: 4)
        let n = try prefix.withUnsafeMutableBytes { try source.read(into: $0) }
        return Compression.detect(Array(prefix.prefix(n)))
    }
}
