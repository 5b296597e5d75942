// The image half of `vitro inspect`: an image's metadata in the shape
// `docker image inspect` prints.

import VitroImage
import VitroTrace

#if canImport(Glibc)
import Glibc
#endif

enum ImageInspect {
    static func json(_ image: StoredImage) -> JSONValue {
        let c = image.config
        func strings(_ a: [String]?) -> JSONValue { a.map { .array($0.map(JSONValue.string)) } ?? .null }
        func set(_ keys: [String]) -> JSONValue { keys.isEmpty ? .null : .object(keys.map { ($0, .object([])) }) }
        let raw = try? JSONReader.parse(image.configBytes)
        var config: [(String, JSONValue)] = [
            ("User", .string(c.user)),
            ("ExposedPorts", set(c.exposedPorts)),
            ("Env", strings(c.env)),
            ("Entrypoint", strings(c.entrypoint)),
            ("Cmd", strings(c.cmd)),
            ("Volumes", set(c.volumes)),
            ("WorkingDir", .string(c.workingDir)),
            ("Labels", c.labels.isEmpty ? .null : .object(c.labels.map { ($0.0, .string($0.1)) })),
        ]
        if let s = c.stopSignal { config.append(("StopSignal", .string(s))) }
        // ONBUILD triggers (chapter 10) and SHELL, as the config holds them.
        for key in ["OnBuild", "Shell"] {
            if let v = raw?["config"]?[key], v != .null { config.append((key, v)) }
        }
        var fields: [(String, JSONValue)] = [
            ("Id", .string(image.id.description)),
            ("RepoTags", .array(image.records.compactMap(\.repoTag).map(JSONValue.string))),
            ("RepoDigests", .array(unique(image.records.compactMap(\.repoDigest)).map(JSONValue.string))),
            ("Parent", .string("")),
            ("Comment", .string(raw?["comment"]?.string ?? "")),
            ("Created", .string(c.created ?? "")),
            ("DockerVersion", .string(raw?["docker_version"]?.string ?? "")),
            ("Author", .string(c.author ?? "")),
            ("Config", .object(config)),
            ("Architecture", .string(c.architecture)),
        ]
        if let v = c.variant { fields.append(("Variant", .string(v))) }
        fields += [
            ("Os", .string(c.os)),
            ("Size", .number(Double(image.size))),
            ("RootFS", .object([("Type", .string("layers")), ("Layers", .array(c.diffIDs.map { .string($0.description) }))])),
            ("Metadata", .object([("LastTagTime", .string(rfc3339(image.records.map(\.tagged).max() ?? 0)))])),
        ]
        return .object(fields)
    }

    static func unique(_ a: [String]) -> [String] {
        var seen: Set<String> = []
        return a.filter { seen.insert($0).inserted }
    }

    /// Seconds since the epoch as `2024-05-01T12:34:56Z` (UTC).
    static func rfc3339(_ t: Int64) -> String {
        var tt = time_t(t)
        var tm = tm()
        gmtime_r(&tt, &tm)
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(tm.tm_year + 1900)-\(two(tm.tm_mon + 1))-\(two(tm.tm_mday))T\(two(tm.tm_hour)):\(two(tm.tm_min)):\(two(tm.tm_sec))Z"
    }
}
