// vitro inspect: an image's metadata as JSON, in the shape `docker image inspect` prints.

import ArgumentParser
import VitroImage
import VitroTrace

#if canImport(Glibc)
import Glibc
#endif

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show an image's metadata as JSON.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "Images: names or ids.")
    var images: [String]

    func validate() throws {
        if images.isEmpty { throw ValidationError("\"inspect\" requires at least 1 argument") }
    }

    func run() throws {
        let store = ImageStore(root: global.stateRoot.path)
        var out: [JSONValue] = []
        var missing: [String] = []
        for word in images {
            do {
                guard let image = try store.image(word) else {
                    missing.append(word)
                    continue
                }
                out.append(Self.json(image))
            } catch {
                fail("inspect \(word): \(error)")
            }
        }
        print(PrettyJSON.text(.array(out)))
        for m in missing { writeStderr("vitro: inspect \(m): No such image\n") }
        if !missing.isEmpty { Glibc.exit(125) }
    }

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

/// JSON indented by four spaces, as Docker's inspect prints it.
enum PrettyJSON {
    static func text(_ v: JSONValue, indent: String = "") -> String {
        let inner = indent + "    "
        switch v {
        case .array(let a):
            if a.isEmpty { return "[]" }
            return "[\n" + a.map { inner + text($0, indent: inner) }.joined(separator: ",\n") + "\n" + indent + "]"
        case .object(let m):
            if m.isEmpty { return "{}" }
            return "{\n" + m.map { inner + scalar(.string($0.0)) + ": " + text($0.1, indent: inner) }.joined(separator: ",\n") + "\n" + indent + "}"
        default:
            return scalar(v)
        }
    }

    static func scalar(_ v: JSONValue) -> String {
        var w = JSONWriter()
        w.value(v)
        return w.text
    }
}
