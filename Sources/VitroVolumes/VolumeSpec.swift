// Chapter 06: what the user asked for, as Docker spells it.
//
//   -v /host/dir:/data[:OPTIONS]     a bind mount of a host directory or file
//   -v NAME:/data[:OPTIONS]          a named volume (made on first use)
//   -v /data                         an anonymous volume (a new one, named by a random id)
//   --mount type=bind|volume|tmpfs,source=…,target=…,readonly,…
//   --volumes-from CONTAINER[:ro|:rw]
//
// OPTIONS is a comma-separated list: `ro` or `rw`, `nocopy` (volumes), a propagation
// (`private`, `rprivate`, `shared`, `rshared`, `slave`, `rslave`; binds), and the
// SELinux and macOS options Docker accepts and Linux without SELinux ignores (`z`, `Z`,
// `consistent`, `cached`, `delegated`). Everything here is parsed and checked before
// anything is made: bad input is one line and leaves nothing behind.

import VitroSys

public enum MountType: String, Sendable, CaseIterable {
    case bind, volume, tmpfs
}

/// Mount propagation (mount_namespaces(7), "shared subtrees"), as Docker names it.
public enum Propagation: String, Sendable, CaseIterable {
    case `private`, rprivate, shared, rshared, slave, rslave

    /// The mount(2) flags that set it.
    public var flags: MountFlags {
        switch self {
        case .private: return [.private]
        case .rprivate: return [.private, .recursive]
        case .shared: return [.shared]
        case .rshared: return [.shared, .recursive]
        case .slave: return [.slave]
        case .rslave: return [.slave, .recursive]
        }
    }

    var isShared: Bool { self == .shared || self == .rshared }
    var isSlave: Bool { self == .slave || self == .rslave }
}

/// The one error type of VitroVolumes: a sentence for a person, lower-case.
public struct VolumeError: Error, CustomStringConvertible, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// One mount a container asked for, before vitro has decided where its data lives.
public struct VolumeSpec: Sendable, Equatable {
    public var type: MountType
    /// bind: the absolute host path; volume: the volume's name, or "" for a new
    /// anonymous volume; tmpfs: "".
    public var source: String
    /// Absolute and clean path inside the container.
    public var destination: String
    public var readOnly = false
    /// bind only; nil is Docker's default (rprivate).
    public var propagation: Propagation?
    /// volume: do not fill a new volume with the image's content at the destination.
    public var noCopy = false
    /// bind: `-v` makes a missing host directory (Docker's old behaviour, kept for -v);
    /// `--mount` refuses a missing source instead.
    public var createHostPath = false
    /// bind: the submounts of the source come along (MS_REC), unless
    /// bind-recursive=disabled.
    public var recursive = true
    /// volume: labels for a volume this mount creates (volume-label=K=V).
    public var labels: [String] = []
    /// tmpfs: size in bytes (0: the kernel's default, half of RAM) and mode.
    public var tmpfsSize: Int64 = 0
    public var tmpfsMode: UInt32?
    /// The options as written (`ro`, `ro,rslave`), for inspect's Mode.
    public var mode = ""

    public init(type: MountType, source: String, destination: String) {
        self.type = type
        self.source = source
        self.destination = destination
    }

    /// The data a tmpfs mount gets (tmpfs(5)).
    public var tmpfsData: String {
        var parts: [String] = []
        if tmpfsSize > 0 { parts.append("size=\(tmpfsSize)") }
        if let m = tmpfsMode { parts.append("mode=" + String(m, radix: 8)) }
        return parts.joined(separator: ",")
    }

    // MARK: -v

    /// Parses `-v SPEC`.
    public static func parseVolume(_ spec: String) throws(VolumeError) -> VolumeSpec {
        func bad(_ why: String) -> VolumeError { VolumeError("invalid volume specification \"\(spec)\": \(why)") }
        let parts = spec.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        var source = "", destination = "", options = ""
        switch parts.count {
        case 1:
            destination = parts[0]
        case 2:
            // `-v /data:ro` is an anonymous volume with options, as Docker reads it.
            if parts[1].split(separator: ",").allSatisfy({ knownOption(String($0)) }) && !parts[1].isEmpty && parts[0].hasPrefix("/") {
                destination = parts[0]
                options = parts[1]
            } else {
                source = parts[0]
                destination = parts[1]
            }
        case 3:
            (source, destination, options) = (parts[0], parts[1], parts[2])
        default:
            throw bad("too many colons (HOST-PATH-OR-NAME:CONTAINER-PATH[:OPTIONS])")
        }
        guard !destination.isEmpty else { throw bad("the container path is empty") }
        let dest = try cleanDestination(destination, spec: spec)
        var v: VolumeSpec
        if source.isEmpty {
            if parts.count > 1 && !(parts.count == 2 && !options.isEmpty) { throw bad("the host path or volume name is empty") }
            v = VolumeSpec(type: .volume, source: "", destination: dest)
        } else if source.hasPrefix("/") {
            v = VolumeSpec(type: .bind, source: clean(source), destination: dest)
            v.createHostPath = true
        } else {
            guard VolumeName.isValid(source) else { throw bad(VolumeName.invalidMessage(source)) }
            v = VolumeSpec(type: .volume, source: source, destination: dest)
        }
        v.mode = options
        var rw: String?
        for item in options.split(separator: ",", omittingEmptySubsequences: false).map(String.init) where !options.isEmpty {
            switch item {
            case "ro", "rw":
                guard rw == nil else { throw bad("\"ro\" and \"rw\" given together, or twice") }
                rw = item
                v.readOnly = item == "ro"
            case "nocopy":
                guard v.type == .volume else { throw bad("\"nocopy\" applies to volumes, not to a host path") }
                v.noCopy = true
            case "z", "Z", "consistent", "cached", "delegated":
                break  // SELinux relabelling and macOS consistency: nothing to do here
            default:
                if let p = Propagation(rawValue: item) {
                    guard v.type == .bind else { throw bad("propagation \"\(item)\" applies to bind mounts of a host path only") }
                    guard v.propagation == nil else { throw bad("more than one propagation") }
                    v.propagation = p
                } else {
                    throw bad("unknown option \"\(item)\" (ro, rw, nocopy, z, Z, or a propagation: \(propagationNames))")
                }
            }
        }
        return v
    }

    static let propagationNames = Propagation.allCases.map(\.rawValue).joined(separator: ", ")

    static func knownOption(_ s: String) -> Bool {
        ["ro", "rw", "nocopy", "z", "Z", "consistent", "cached", "delegated"].contains(s) || Propagation(rawValue: s) != nil
    }

    /// An absolute, clean container path that is not `/`.
    static func cleanDestination(_ path: String, spec: String) throws(VolumeError) -> String {
        guard path.hasPrefix("/") else {
            throw VolumeError("invalid volume specification \"\(spec)\": the container path \"\(path)\" is not absolute")
        }
        let c = clean(path)
        guard c != "/" else { throw VolumeError("invalid volume specification \"\(spec)\": the container path cannot be \"/\"") }
        return c
    }

    /// filepath.Clean for absolute paths: no "", ".", or ".." components (".." at the
    /// root stays at the root), no trailing slash.
    public static func clean(_ path: String) -> String {
        var out: [Substring] = []
        for part in path.split(separator: "/") {
            if part == "." { continue }
            if part == ".." {
                _ = out.popLast()
                continue
            }
            out.append(part)
        }
        return "/" + out.joined(separator: "/")
    }

    // MARK: --mount

    /// Parses `--mount type=…,source=…,target=…[,…]`.
    public static func parseMount(_ spec: String) throws(VolumeError) -> VolumeSpec {
        func bad(_ why: String) -> VolumeError { VolumeError("invalid argument \"\(spec)\" for \"--mount\" flag: \(why)") }
        var type = MountType.volume
        var source: String?, target: String?
        var readOnly = false, noCopy = false, recursive = true
        var propagation: Propagation?
        var labels: [String] = []
        var size: Int64 = 0
        var mode: UInt32?
        var keys: Set<String> = []
        let fields = try csvFields(spec, bad: bad)
        for field in fields {
            let eq = field.firstIndex(of: "=")
            let key = (eq.map { String(field[..<$0]) } ?? field).lowercased()
            let value = eq.map { String(field[field.index(after: $0)...]) }
            func bool() throws(VolumeError) -> Bool {
                switch value?.lowercased() {
                case nil, "1", "true": return true
                case "0", "false": return false
                default: throw bad("invalid value for \(key): \(value ?? "")")
                }
            }
            func need() throws(VolumeError) -> String {
                guard let value else { throw bad("invalid field '\(field)' must be a key=value pair") }
                return value
            }
            keys.insert(key)
            switch key {
            case "type":
                let v = try need()
                guard let t = MountType(rawValue: v.lowercased()) else { throw bad("unknown mount type \"\(v)\" (bind, volume or tmpfs)") }
                type = t
            case "source", "src": source = try need()
            case "target", "destination", "dst": target = try need()
            case "readonly", "ro": readOnly = try bool()
            case "bind-propagation":
                let v = try need()
                guard let p = Propagation(rawValue: v) else { throw bad("invalid bind-propagation \"\(v)\" (\(propagationNames))") }
                propagation = p
            case "bind-nonrecursive": recursive = !(try bool())
            case "bind-recursive":
                switch try need() {
                case "enabled": recursive = true
                case "disabled": recursive = false
                case let v: throw bad("bind-recursive=\(v) is not supported (enabled or disabled)")
                }
            case "consistency": _ = try need()
            case "volume-nocopy": noCopy = try bool()
            case "volume-driver":
                let v = try need()
                guard v == "local" else { throw bad("volume driver \"\(v)\" is not available (only local)") }
            case "volume-label": labels.append(try need())
            case "tmpfs-size":
                let v = try need()
                guard let n = ByteSize.parse(v), n > 0 else { throw bad("invalid tmpfs-size \"\(v)\"") }
                size = n
            case "tmpfs-mode":
                let v = try need()
                guard let m = UInt32(v, radix: 8), m <= 0o7777 else { throw bad("invalid tmpfs-mode \"\(v)\" (octal, e.g. 1777)") }
                mode = m
            default:
                throw bad("unexpected key '\(key)' in '\(field)'")
            }
        }
        let bindKeys: Set<String> = ["bind-propagation", "bind-nonrecursive", "bind-recursive"]
        let volumeKeys: Set<String> = ["volume-nocopy", "volume-driver", "volume-label"]
        let tmpfsKeys: Set<String> = ["tmpfs-size", "tmpfs-mode"]
        for (set, owner) in [(bindKeys, MountType.bind), (volumeKeys, .volume), (tmpfsKeys, .tmpfs)] where owner != type {
            if let k = keys.intersection(set).sorted().first { throw bad("\(k) does not apply to type=\(type.rawValue)") }
        }
        guard let target, !target.isEmpty else { throw bad("target is required") }
        guard target.hasPrefix("/") else { throw bad("the target \"\(target)\" is not an absolute path") }
        let dest = clean(target)
        guard dest != "/" else { throw bad("the target cannot be \"/\"") }
        var v: VolumeSpec
        switch type {
        case .bind:
            guard let source, !source.isEmpty else { throw bad("source is required for type=bind") }
            guard source.hasPrefix("/") else { throw bad("the bind source \"\(source)\" is not an absolute path") }
            v = VolumeSpec(type: .bind, source: clean(source), destination: dest)
            v.propagation = propagation
            v.recursive = recursive
        case .volume:
            let name = source ?? ""
            if !name.isEmpty, !VolumeName.isValid(name) { throw bad(VolumeName.invalidMessage(name)) }
            v = VolumeSpec(type: .volume, source: name, destination: dest)
            v.noCopy = noCopy
            v.labels = labels
        case .tmpfs:
            if let source, !source.isEmpty { throw bad("source is not allowed for type=tmpfs") }
            v = VolumeSpec(type: .tmpfs, source: "", destination: dest)
            v.tmpfsSize = size
            v.tmpfsMode = mode
        }
        v.readOnly = readOnly
        return v
    }

    /// The fields of a CSV line (Go's encoding/csv, as Docker reads --mount): commas
    /// separate, a field in double quotes may hold commas, and "" in it is one quote.
    static func csvFields(_ s: String, bad: (String) -> VolumeError) throws(VolumeError) -> [String] {
        var fields: [String] = []
        var cur = ""
        var quoted = false
        let chars = Array(s)
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if quoted {
                if c == "\"" {
                    if i + 1 < chars.count, chars[i + 1] == "\"" {
                        cur.append("\"")
                        i += 1
                    } else {
                        quoted = false
                    }
                } else {
                    cur.append(c)
                }
            } else if c == "\"" {
                quoted = true
            } else if c == "," {
                fields.append(cur)
                cur = ""
            } else {
                cur.append(c)
            }
            i += 1
        }
        guard !quoted else { throw bad("unterminated quote") }
        fields.append(cur)
        if fields.contains("") { throw bad("invalid field '' must be a key=value pair") }
        return fields
    }
}

/// `--volumes-from CONTAINER[:ro|:rw]`: every mount of another container, at the same
/// places; `ro` makes them all read-only, `rw` all writable, neither keeps each one's.
public struct VolumesFrom: Sendable, Equatable {
    public enum Mode: String, Sendable { case inherit = "", ro, rw }
    public var container: String
    public var mode: Mode

    public init(container: String, mode: Mode = .inherit) {
        self.container = container
        self.mode = mode
    }

    public static func parse(_ s: String) throws(VolumeError) -> VolumesFrom {
        let parts = s.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard let name = parts.first, !name.isEmpty else { throw VolumeError("invalid --volumes-from \"\(s)\": no container named") }
        guard parts.count == 2 else { return VolumesFrom(container: name) }
        guard let m = Mode(rawValue: parts[1]), m != .inherit else {
            throw VolumeError("invalid --volumes-from \"\(s)\": unknown mode \"\(parts[1])\" (ro or rw)")
        }
        return VolumesFrom(container: name, mode: m)
    }
}

/// Volume names, as Docker's local driver allows them.
public enum VolumeName {
    /// `[a-zA-Z0-9][a-zA-Z0-9_.-]+`: at least two characters.
    public static func isValid(_ s: String) -> Bool {
        guard s.count >= 2, let first = s.unicodeScalars.first else { return false }
        func alnum(_ c: Unicode.Scalar) -> Bool { (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || (c >= "0" && c <= "9") }
        return alnum(first) && s.unicodeScalars.dropFirst().allSatisfy { alnum($0) || $0 == "_" || $0 == "." || $0 == "-" }
    }

    /// Docker's message, which also tells someone who meant a relative host path what to do.
    public static func invalidMessage(_ s: String) -> String {
        if s.count < 2 && !s.contains("/") && !s.hasPrefix(".") {
            return "volume name \"\(s)\" is too short: names need at least two alphanumeric characters"
        }
        return "\"\(s)\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
    }
}

/// Sizes as Docker writes them for tmpfs-size (go-units RAMInBytes): 64m, 1g, 512k, 4096.
public enum ByteSize {
    public static func parse(_ s: String) -> Int64? {
        let lower = s.lowercased()
        var digits = lower
        var unit: Int64 = 1
        for (suffix, m) in [("kb", Int64(1) << 10), ("mb", 1 << 20), ("gb", 1 << 30), ("k", 1 << 10), ("m", 1 << 20), ("g", 1 << 30), ("b", 1)]
        where lower.hasSuffix(suffix) {
            digits = String(lower.dropLast(suffix.count))
            unit = m
            break
        }
        guard let n = Int64(digits), n >= 0 else { return nil }
        let (r, overflow) = n.multipliedReportingOverflow(by: unit)
        return overflow ? nil : r
    }
}
