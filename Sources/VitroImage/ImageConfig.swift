// Chapter 01: the image config, what a container of the image starts with.
//
// The config blob (OCI image-spec config.md; Docker's "image JSON") says which
// platform the image is for, how to start it (Env, Entrypoint, Cmd, WorkingDir, User),
// what it declares (ExposedPorts, Volumes, Labels, StopSignal), how it was built
// (history), and `rootfs.diff_ids`: the digest of each layer *uncompressed*, bottom
// first. Its own digest is the image's id, because it names every layer's content.
//
// `ImageConfig` keeps the fields the runtime uses; the raw JSON stays in the content
// store for `inspect`.

import VitroTrace

public struct ImageConfig: Sendable, Equatable {
    public var architecture = ""
    public var os = ""
    public var variant: String?
    /// RFC 3339, as written by the builder; may be missing.
    public var created: String?
    public var author: String?
    public var env: [String] = []
    /// nil when the image sets none (null and absent mean the same).
    public var entrypoint: [String]?
    public var cmd: [String]?
    public var workingDir = ""
    public var user = ""
    /// `80/tcp`, `53/udp`: the keys of ExposedPorts, in the config's order.
    public var exposedPorts: [String] = []
    /// Mount points declared with VOLUME.
    public var volumes: [String] = []
    public var labels: [(String, String)] = []
    public var stopSignal: String?
    /// The uncompressed digest of each layer, bottom first.
    public var diffIDs: [Digest] = []
    public var history: [HistoryEntry] = []

    public struct HistoryEntry: Sendable, Equatable {
        public var created: String?
        public var createdBy: String?
        public var comment: String?
        public var author: String?
        /// A step that made no layer (ENV, CMD …): it has no entry in diff_ids.
        public var emptyLayer = false

        public init(created: String? = nil, createdBy: String? = nil, comment: String? = nil, author: String? = nil, emptyLayer: Bool = false) {
            self.created = created
            self.createdBy = createdBy
            self.comment = comment
            self.author = author
            self.emptyLayer = emptyLayer
        }
    }

    public init() {}

    public static func == (a: ImageConfig, b: ImageConfig) -> Bool {
        a.architecture == b.architecture && a.os == b.os && a.variant == b.variant && a.created == b.created
            && a.author == b.author && a.env == b.env && a.entrypoint == b.entrypoint && a.cmd == b.cmd
            && a.workingDir == b.workingDir && a.user == b.user && a.exposedPorts == b.exposedPorts
            && a.volumes == b.volumes && a.labels.map(\.0) == b.labels.map(\.0) && a.labels.map(\.1) == b.labels.map(\.1)
            && a.stopSignal == b.stopSignal && a.diffIDs == b.diffIDs && a.history == b.history
    }

    public var platform: Platform { Platform(os: os, architecture: architecture, variant: variant) }

    /// Reads a config blob (OCI or Docker; they agree on these fields).
    public static func parse(_ bytes: [UInt8]) throws(ImageError) -> ImageConfig {
        let v: JSONValue
        do { v = try JSONReader.parse(bytes) } catch { throw ImageError("image config is not valid JSON: \(error)") }
        guard case .object = v else { throw ImageError("image config is not a JSON object") }
        var c = ImageConfig()
        c.architecture = v["architecture"]?.string ?? ""
        c.os = v["os"]?.string ?? ""
        c.variant = v["variant"]?.string
        c.created = v["created"]?.string
        c.author = v["author"]?.string
        if let run = v["config"] {
            c.env = run["Env"]?.array?.compactMap(\.string) ?? []
            c.entrypoint = run["Entrypoint"]?.array?.compactMap(\.string)
            c.cmd = run["Cmd"]?.array?.compactMap(\.string)
            c.workingDir = run["WorkingDir"]?.string ?? ""
            c.user = run["User"]?.string ?? ""
            c.exposedPorts = run["ExposedPorts"]?.members?.map(\.0) ?? []
            c.volumes = run["Volumes"]?.members?.map(\.0) ?? []
            c.labels = run["Labels"]?.members?.compactMap { k, x in x.string.map { (k, $0) } } ?? []
            c.stopSignal = run["StopSignal"]?.string
        }
        guard let rootfs = v["rootfs"], rootfs["type"]?.string == "layers", let ids = rootfs["diff_ids"]?.array else {
            throw ImageError("image config has no rootfs of type \"layers\"")
        }
        for id in ids {
            guard let s = id.string, let d = Digest(s) else {
                throw ImageError("image config has an invalid diff_id \"\(id.string ?? "?")\"")
            }
            c.diffIDs.append(d)
        }
        for h in v["history"]?.array ?? [] {
            c.history.append(
                HistoryEntry(
                    created: h["created"]?.string, createdBy: h["created_by"]?.string, comment: h["comment"]?.string,
                    author: h["author"]?.string, emptyLayer: h["empty_layer"]?.bool ?? false))
        }
        return c
    }
}

/// Seconds since the epoch of an RFC 3339 time (`2024-05-01T12:34:56.789Z`, or with an
/// offset such as `+02:00`); nil when it is not one. Fractions are dropped.
public func parseRFC3339(_ s: String) -> Int64? {
    let b = Array(s.utf8)
    func num(_ from: Int, _ count: Int) -> Int64? {
        guard from + count <= b.count else { return nil }
        var n: Int64 = 0
        for c in b[from..<from + count] {
            guard c >= 48, c <= 57 else { return nil }
            n = n * 10 + Int64(c - 48)
        }
        return n
    }
    guard b.count >= 20, b[4] == 45, b[7] == 45, b[10] == 84 || b[10] == 116 || b[10] == 32, b[13] == 58, b[16] == 58,
        let y = num(0, 4), let mo = num(5, 2), let d = num(8, 2), let h = num(11, 2), let mi = num(14, 2), let se = num(17, 2),
        (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, se < 61
    else { return nil }
    var i = 19
    if i < b.count, b[i] == 46 {
        i += 1
        while i < b.count, b[i] >= 48, b[i] <= 57 { i += 1 }
    }
    var offset: Int64 = 0
    guard i < b.count else { return nil }
    if b[i] == 90 || b[i] == 122 {
        i += 1
    } else if b[i] == 43 || b[i] == 45, let oh = num(i + 1, 2), i + 3 < b.count, b[i + 3] == 58, let om = num(i + 4, 2) {
        offset = (oh * 3600 + om * 60) * (b[i] == 45 ? -1 : 1)
        i += 6
    } else {
        return nil
    }
    guard i == b.count else { return nil }
    // Days from 1970-01-01 to the date (Howard Hinnant's days_from_civil).
    let yy = mo <= 2 ? y - 1 : y
    let era = (yy >= 0 ? yy : yy - 399) / 400
    let yoe = yy - era * 400
    let doy = (153 * (mo > 2 ? mo - 3 : mo + 9) + 2) / 5 + d - 1
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
    let days = era * 146097 + doe - 719468
    return days * 86400 + h * 3600 + mi * 60 + se - offset
}
