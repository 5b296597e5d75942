// Chapter 09: the documents of an image vitro makes (commit, import, load), and its
// record in the image index.
//
// The config is the base image's config (every field kept, even those vitro does not
// model) with the new layer's diffID appended to rootfs.diff_ids, a history entry that
// says how the layer was made, the run-time part (`config`) replaced, and a new
// creation time. Its digest is the new image's id. The manifest is an OCI manifest:
// the base layers' descriptors (as stored, usually gzip from a registry) and the new
// layer, kept uncompressed on this machine as Docker keeps its layers; compression
// happens when the image leaves (save, push).

import VitroImage
import VitroLayers
import VitroTrace

/// One step of `history`.
public struct HistoryStep: Sendable {
    public var created: String
    public var createdBy: String
    public var author: String?
    public var comment: String?
    public var emptyLayer = false

    public init(created: String, createdBy: String, author: String? = nil, comment: String? = nil, emptyLayer: Bool = false) {
        self.created = created
        self.createdBy = createdBy
        self.author = author
        self.comment = comment
        self.emptyLayer = emptyLayer
    }

    var json: JSONValue {
        var m: [(String, JSONValue)] = [("created", .string(created))]
        if !createdBy.isEmpty { m.append(("created_by", .string(createdBy))) }
        if let author, !author.isEmpty { m.append(("author", .string(author))) }
        if let comment, !comment.isEmpty { m.append(("comment", .string(comment))) }
        if emptyLayer { m.append(("empty_layer", .bool(true))) }
        return .object(m)
    }
}

public enum NewImage {
    /// The config of an image made of `base` (a parsed config blob, or nil for an image
    /// of its own, as `import` makes) plus one layer.
    public static func config(
        base: JSONValue?, run: RunConfig, diffID: Digest?, step: HistoryStep, author: String?, comment: String?,
        container: String? = nil
    ) -> [UInt8] {
        var m = base?.members ?? []
        func set(_ key: String, _ value: JSONValue?) {
            if let i = m.firstIndex(where: { $0.0 == key }) {
                if let value { m[i].1 = value } else { m.remove(at: i) }
            } else if let value {
                m.append((key, value))
            }
        }
        let platform = Platform.current
        if base?["architecture"]?.string == nil { set("architecture", .string(platform.architecture)) }
        if base?["os"]?.string == nil { set("os", .string(platform.os)) }
        // What the base image's builder wrote about itself does not describe this image.
        for stale in ["id", "parent", "docker_version", "container_config", "author", "comment", "container"] { set(stale, nil) }
        if let author, !author.isEmpty { set("author", .string(author)) }
        if let comment, !comment.isEmpty { set("comment", .string(comment)) }
        set("config", run.json)
        if let container { set("container", .string(container)) }
        set("created", .string(step.created))
        var history = base?["history"]?.array ?? []
        history.append(step.json)
        set("history", .array(history))
        var diffIDs = base?["rootfs"]?["diff_ids"]?.array ?? []
        if let diffID { diffIDs.append(.string(diffID.description)) }
        set("rootfs", .object([("type", .string("layers")), ("diff_ids", .array(diffIDs))]))
        var w = JSONWriter()
        w.value(.object(m))
        return w.bytes
    }

    /// An OCI image manifest for a config and layers.
    public static func manifest(config: Descriptor, layers: [Descriptor]) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.key("schemaVersion"); w.int(2)
        w.key("mediaType"); w.string(MediaType.ociManifest)
        w.key("config"); descriptor(&w, config)
        w.key("layers")
        w.beginArray()
        for l in layers { descriptor(&w, l) }
        w.endArray()
        w.endObject()
        return w.bytes
    }

    static func descriptor(_ w: inout JSONWriter, _ d: Descriptor) {
        w.beginObject()
        w.key("mediaType"); w.string(d.mediaType)
        w.key("digest"); w.string(d.digest.description)
        w.key("size"); w.int(d.size)
        if !d.annotations.isEmpty {
            w.key("annotations")
            w.beginObject()
            for (k, v) in d.annotations.sorted(by: { $0.key < $1.key }) { w.key(k); w.string(v) }
            w.endObject()
        }
        w.endObject()
    }

    /// The OCI media type of a layer as stored, whatever the manifest that brought it
    /// called it (Docker's and OCI's types differ in name only).
    public static func ociLayerType(_ mediaType: String, compression: Compression? = nil) -> String {
        switch mediaType {
        case MediaType.dockerLayerGzip, MediaType.ociLayerGzip: return MediaType.ociLayerGzip
        case MediaType.ociLayerZstd: return MediaType.ociLayerZstd
        case MediaType.ociLayer, "application/vnd.docker.image.rootfs.diff.tar": return MediaType.ociLayer
        default:
            return compression.map(layerType) ?? mediaType
        }
    }

    /// The media type of a layer blob of this compression.
    public static func layerType(_ c: Compression) -> String {
        switch c {
        case .none: return MediaType.ociLayer
        case .gzip: return MediaType.ociLayerGzip
        case .zstd: return MediaType.ociLayerZstd
        }
    }

    /// Records an image under `ref` (or as a dangling `<none>` image when nil). An
    /// image that loses its last name to this one stays, dangling, as Docker keeps it;
    /// a dangling record of this image goes once it has a name.
    public static func record(_ store: ImageStore, ref: Reference?, manifest: Digest, config: Digest) throws {
        let now = Int64(MonotonicClock.wallSeconds())
        try store.update(why: "record the new image in the image index") { list in
            if let ref {
                let displaced = list.filter { $0.name == ref.name && $0.tag == ref.tag }
                list.removeAll { $0.name == ref.name && $0.tag == ref.tag }
                list.removeAll { $0.isDangling && $0.config == config }
                for d in displaced where d.config != config && !list.contains(where: { $0.config == d.config }) {
                    list.append(ImageRecord(name: "", tag: nil, digest: d.digest, manifest: d.manifest, config: d.config, tagged: d.tagged, local: true))
                }
                list.append(ImageRecord(name: ref.name, tag: ref.tag, digest: manifest, manifest: manifest, config: config, tagged: now, local: true))
            } else if !list.contains(where: { $0.config == config }) {
                list.append(ImageRecord(name: "", tag: nil, digest: manifest, manifest: manifest, config: config, tagged: now, local: true))
            }
        }
    }
}
