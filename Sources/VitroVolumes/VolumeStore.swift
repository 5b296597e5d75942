// Chapter 06: volumes on the host, laid out as Docker's local driver lays them out:
//
//   <root>/volumes/NAME/_data         the data: what the container sees at its path
//   <root>/volumes/NAME/volume.json   name, creation time, labels (volume inspect)
//   <root>/volumes/.lock              held while volumes are made, counted or removed
//
// A volume outlives every container that uses it: `rm` leaves it, `rm -v` removes the
// container's anonymous ones (if no other container uses them), `volume rm` a named one
// that no container uses. An anonymous volume is an ordinary volume with a random
// 64-hex name and the label com.docker.volume.anonymous, as Docker marks them; `volume
// prune` removes those that no container uses (`-a`: every unused one).
//
// Which containers use a volume is read from the containers' records (VitroRuntime),
// under the same lock that a run holds while it makes its volumes and records them, so
// a volume cannot be removed between being chosen and being recorded as in use.

import VitroSys
import VitroTrace

#if canImport(Glibc)
import Glibc
#endif

public struct Volume: Sendable, Equatable {
    public var name: String
    public var createdAt: String
    /// nil: made implicitly by a run (Docker shows null); [] for `volume create`.
    public var labels: [[String]]?
    public var mountpoint: String

    public static let anonymousLabel = "com.docker.volume.anonymous"

    public var anonymous: Bool { labels?.contains { $0.first == Volume.anonymousLabel } == true }

    /// `volume inspect`, field for field as Docker's.
    public func inspectJSON() -> JSONValue {
        let labelValue: JSONValue = labels.map { l in .object(l.map { ($0[0], .string($0.count > 1 ? $0[1] : "")) }) } ?? .null
        return .object([
            ("CreatedAt", .string(createdAt)), ("Driver", .string("local")), ("Labels", labelValue),
            ("Mountpoint", .string(mountpoint)), ("Name", .string(name)), ("Options", labels == nil ? .null : .object([])),
            ("Scope", .string("local")),
        ])
    }
}

public struct VolumeStore: Sendable {
    public let directory: String

    public init(root: String) { directory = root + "/volumes" }

    public func path(_ name: String) -> String { directory + "/" + name }
    public func dataPath(_ name: String) -> String { path(name) + "/_data" }

    /// Runs `body` holding the volumes lock.
    public func locked<T>(_ body: () throws -> T) throws -> T {
        try Sys.mkdirAll(directory, mode: 0o701, why: "vitro keeps one directory per volume")
        guard let lock = try Sys.lock(directory + "/.lock", why: "volumes are made, counted and removed one process at a time") else {
            throw VolumeError("volumes: could not take the lock")
        }
        defer { Sys.unlock(lock) }
        return try body()
    }

    public func load(_ name: String) -> Volume? {
        guard VolumeName.isValid(name), Sys.isDirectory(dataPath(name)) else { return nil }
        let v = (try? Sys.readFile(path(name) + "/volume.json")).flatMap { try? JSONReader.parse($0) }
        var labels: [[String]]?
        if let members = v?["Labels"]?.members { labels = members.map { [$0.0, $0.1.string ?? ""] } }
        return Volume(
            name: name, createdAt: v?["CreatedAt"]?.string ?? "", labels: labels, mountpoint: dataPath(name))
    }

    /// Every volume, by name.
    public func list() -> [Volume] {
        Sys.listDirectory(directory).filter { !$0.hasPrefix(".") }.compactMap(load)
    }

    /// Makes the volume `name` (nil: an anonymous one) unless it exists. Call it holding
    /// the lock. Returns the volume and whether it is new.
    @discardableResult
    public func create(_ name: String?, labels: [[String]]? = nil, why: String? = nil) throws -> (Volume, Bool) {
        let n = name ?? VolumeStore.randomName()
        if let v = load(n) { return (v, false) }
        guard VolumeName.isValid(n) else { throw VolumeError(VolumeName.invalidMessage(n)) }
        var l = labels
        if name == nil { l = (labels ?? []) + [[Volume.anonymousLabel, ""]] }
        let now = WallTime.now()
        let created = String(WallTime(seconds: now.seconds).rfc3339.prefix(19)) + "Z"
        var w = JSONWriter()
        w.value(.object([
            ("Name", .string(n)), ("CreatedAt", .string(created)),
            ("Labels", l.map { ls in .object(ls.map { ($0[0], .string($0.count > 1 ? $0[1] : "")) }) } ?? .null),
        ]))
        try Sys.mkdirAll(directory, mode: 0o701, why: "vitro keeps one directory per volume")
        do {
            try Sys.mkdir(path(n), mode: 0o700, existOK: false, why: why ?? (name == nil ? "a new anonymous volume" : "the volume \(n)"))
            try Sys.mkdir(dataPath(n), mode: 0o755, existOK: false, why: "the volume's data: what a container sees where it is mounted")
            try Sys.writeFileAtomically(path(n) + "/volume.json", w.bytes, why: "what volume inspect shows")
        } catch {
            try? Sys.removeTree(path(n), why: "leave no half-made volume behind")
            throw error
        }
        return (Volume(name: n, createdAt: created, labels: l, mountpoint: dataPath(n)), true)
    }

    /// Removes the volume and its data. The caller has checked that no container uses
    /// it, holding the lock.
    public func remove(_ name: String) throws {
        guard load(name) != nil else { throw VolumeError("no such volume: \(name)") }
        try Sys.removeTree(path(name), why: "the volume \(name) and its data")
    }

    /// The bytes of the regular files in the volume (what prune reclaims).
    public func size(_ name: String) -> Int64 {
        var total: Int64 = 0
        func walk(_ dir: String) {
            for n in Sys.listDirectory(dir) {
                let p = dir + "/" + n
                guard let st = Sys.status(p) else { continue }
                if st.isDirectory { walk(p) } else if st.isRegular { total += st.size }
            }
        }
        walk(dataPath(name))
        return total
    }

    /// A new anonymous volume's name: 64 random hex digits, as Docker's.
    static func randomName() -> String {
        var g = SystemRandomNumberGenerator()
        var s = ""
        for _ in 0..<4 {
            var hex = String(g.next() as UInt64, radix: 16)
            while hex.count < 16 { hex = "0" + hex }
            s += hex
        }
        return s
    }
}
