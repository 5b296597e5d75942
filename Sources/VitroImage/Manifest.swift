// Chapter 01: manifests and indexes, the JSON documents that tie an image together.
//
// A descriptor points at a blob: its media type, digest and size (and, in an index,
// the platform it is for). A manifest lists one image's config blob and its layer
// blobs in order; an index (OCI) or manifest list (Docker) lists manifests, one per
// platform. Docker's schema 2 and OCI's formats have the same shape and differ in
// media types only, so one type reads both. Schema 1 (signed, with v1 history) is
// refused, as current Docker refuses it.
//
// The bytes are parsed only after their digest has been checked (RegistryClient), so
// nothing here trusts what it reads for anything but its shape.

import VitroTrace

public enum MediaType {
    public static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
    public static let dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
    public static let ociManifest = "application/vnd.oci.image.manifest.v1+json"
    public static let ociIndex = "application/vnd.oci.image.index.v1+json"
    public static let dockerSchema1Signed = "application/vnd.docker.distribution.manifest.v1+prettyjws"
    public static let dockerSchema1 = "application/vnd.docker.distribution.manifest.v1+json"
    public static let dockerConfig = "application/vnd.docker.container.image.v1+json"
    public static let ociConfig = "application/vnd.oci.image.config.v1+json"
    public static let dockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip"
    public static let dockerForeignLayerGzip = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
    public static let ociLayer = "application/vnd.oci.image.layer.v1.tar"
    public static let ociLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip"
    public static let ociLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd"

    /// What a pull accepts for a manifest, in order of preference (the Accept header).
    public static let acceptedManifests = [ociIndex, dockerManifestList, ociManifest, dockerManifest]

    static func isIndex(_ t: String) -> Bool { t == ociIndex || t == dockerManifestList }
    static func isManifest(_ t: String) -> Bool { t == ociManifest || t == dockerManifest }
}

/// A pointer to a blob.
public struct Descriptor: Hashable, Sendable {
    public var mediaType: String
    public var digest: Digest
    public var size: Int64
    public var platform: Platform?
    /// Where a "foreign" layer lives instead of the registry (Windows base layers).
    public var urls: [String] = []
    public var annotations: [String: String] = [:]

    public init(mediaType: String, digest: Digest, size: Int64, platform: Platform? = nil) {
        self.mediaType = mediaType
        self.digest = digest
        self.size = size
        self.platform = platform
    }

    init(json v: JSONValue, what: String) throws(ImageError) {
        guard let d = v["digest"]?.string else { throw ImageError("\(what): descriptor without a digest") }
        guard let digest = Digest(d) else { throw ImageError("\(what): unsupported or invalid digest \"\(d)\"") }
        guard let size = v["size"]?.number, size >= 0, size == size.rounded() else {
            throw ImageError("\(what): descriptor \(d) has no valid size")
        }
        self.init(mediaType: v["mediaType"]?.string ?? "", digest: digest, size: Int64(size))
        if let p = v["platform"], let os = p["os"]?.string, let arch = p["architecture"]?.string {
            platform = Platform(os: os, architecture: arch, variant: p["variant"]?.string)
        }
        urls = v["urls"]?.array?.compactMap(\.string) ?? []
        for (k, x) in v["annotations"]?.members ?? [] { annotations[k] = x.string }
    }
}

/// One image for one platform: its config and its layers, bottom first.
public struct Manifest: Sendable, Equatable {
    public var mediaType: String
    public var config: Descriptor
    public var layers: [Descriptor]
}

/// A list of manifests, one per platform.
public struct ManifestIndex: Sendable, Equatable {
    public var mediaType: String
    public var manifests: [Descriptor]
}

/// What a manifest request returned: an image, or an index of images.
public enum ManifestDocument: Sendable, Equatable {
    case manifest(Manifest)
    case index(ManifestIndex)

    /// Reads a manifest or index. The media type comes from the document itself when it
    /// says, else from the Content-Type header, else from its shape (OCI made the field
    /// optional at first).
    public static func parse(_ bytes: [UInt8], contentType: String? = nil) throws(ImageError) -> ManifestDocument {
        let v: JSONValue
        do { v = try JSONReader.parse(bytes) } catch { throw ImageError("manifest is not valid JSON: \(error)") }
        guard case .object = v else { throw ImageError("manifest is not a JSON object") }
        let header = contentType.map { String($0.split(separator: ";").first ?? "").trimmed } ?? ""
        var type = v["mediaType"]?.string ?? header
        if type.isEmpty || type == "application/json" || type == "text/plain" {
            type = v["manifests"] != nil ? MediaType.ociIndex : MediaType.ociManifest
        }
        if type == MediaType.dockerSchema1 || type == MediaType.dockerSchema1Signed || v["schemaVersion"]?.int == 1 {
            throw ImageError("manifest is Docker schema 1, which vitro (like current Docker) does not support")
        }
        guard v["schemaVersion"]?.int == 2 else { throw ImageError("manifest has schemaVersion \(v["schemaVersion"]?.int.map(String.init) ?? "missing"), not 2") }
        if MediaType.isIndex(type) {
            guard let list = v["manifests"]?.array else { throw ImageError("index without \"manifests\"") }
            var manifests: [Descriptor] = []
            for m in list { manifests.append(try Descriptor(json: m, what: "index")) }
            return .index(ManifestIndex(mediaType: type, manifests: manifests))
        }
        guard MediaType.isManifest(type) else { throw ImageError("unsupported manifest media type \"\(type)\"") }
        guard let c = v["config"] else { throw ImageError("manifest without \"config\"") }
        let config = try Descriptor(json: c, what: "manifest config")
        guard let list = v["layers"]?.array else { throw ImageError("manifest without \"layers\"") }
        var layers: [Descriptor] = []
        for l in list { layers.append(try Descriptor(json: l, what: "manifest layer")) }
        return .manifest(Manifest(mediaType: type, config: config, layers: layers))
    }
}

extension String {
    /// Without leading and trailing spaces and tabs (no Foundation here).
    /// (By bytes: "\r\n" is one Character in Swift, so a Character test would miss it.)
    var trimmed: String {
        var s = Substring(self).utf8[...]
        func space(_ c: UInt8) -> Bool { c == 32 || c == 9 || c == 13 || c == 10 }
        while let f = s.first, space(f) { s = s.dropFirst() }
        while let l = s.last, space(l) { s = s.dropLast() }
        return String(decoding: s, as: UTF8.self)
    }
}
