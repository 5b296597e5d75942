// Chapter 06: from what a run asked for to the container's mount points.
//
// Three sources, in Docker's order of precedence for one destination:
//   1. the run's own -v and --mount;
//   2. --volumes-from: another container's mount points, at the same places;
//   3. the image's VOLUME entries, each a new anonymous volume.
// `check` looks at the host before anything exists (a missing --mount source, a
// propagation the source's mount cannot give); `resolve` then makes what is missing —
// named and anonymous volumes, a -v host directory — holding the volumes lock.

import VitroNamespaces
import VitroSys
import VitroTrace

public struct MountRequest: Sendable, Equatable {
    public var specs: [VolumeSpec] = []
    /// --volumes-from, with its mode already applied.
    public var inherited: [MountPoint] = []
    /// The image's VOLUME entries.
    public var imageVolumes: [String] = []

    public init(specs: [VolumeSpec] = [], inherited: [MountPoint] = [], imageVolumes: [String] = []) {
        self.specs = specs
        self.inherited = inherited
        self.imageVolumes = imageVolumes
    }

    public var isEmpty: Bool { specs.isEmpty && inherited.isEmpty && imageVolumes.isEmpty }

    /// Another container's mount points as --volumes-from gives them.
    public static func inherit(_ points: [MountPoint], _ from: VolumesFrom) -> [MountPoint] {
        points.map { p in
            var p = p
            switch from.mode {
            case .ro: p.rw = false
            case .rw: p.rw = true
            case .inherit: break
            }
            return p
        }
    }

    /// Checks the request against the host, before anything is made.
    public func check(mounts: MountTable = MountTable.of(pid: "self")) throws(VolumeError) {
        var seen: Set<String> = []
        for s in specs {
            guard seen.insert(s.destination).inserted else { throw VolumeError("duplicate mount point: \(s.destination)") }
            for p in [s.source, s.destination] where p.contains("\t") || p.contains("\n") {
                throw VolumeError("mount path \"\(p)\": tabs and newlines are not supported")
            }
            guard s.type == .bind else { continue }
            if !s.createHostPath && Sys.fileKind(s.source) == .missing {
                throw VolumeError("invalid mount config for type \"bind\": bind source path does not exist: \(s.source)")
            }
            guard let p = s.propagation, p != .private, p != .rprivate else { continue }
            guard let m = mounts.entry(containing: s.source) else { continue }
            let shared = m.optional.contains { $0.hasPrefix("shared:") }
            let slave = m.optional.contains { $0.hasPrefix("master:") }
            if p.isShared && !shared {
                throw VolumeError("path \(s.source) is mounted on \(m.mountPoint) but it is not a shared mount (\(p.rawValue) needs one: mount --make-shared \(m.mountPoint))")
            }
            if p.isSlave && !shared && !slave {
                throw VolumeError("path \(s.source) is mounted on \(m.mountPoint) but it is not a shared or slave mount (\(p.rawValue) needs one: mount --make-shared \(m.mountPoint))")
            }
        }
    }

    /// Makes the missing volumes and -v directories, and returns the mount points, one
    /// per destination. Call it holding the store's lock.
    public func resolve(in store: VolumeStore) throws -> [MountPoint] {
        var made: [String] = []
        do {
            return try resolve(in: store, made: &made)
        } catch {
            // Nothing half-done: the volumes made for this request go again.
            for name in made { try? store.remove(name) }
            throw error
        }
    }

    func resolve(in store: VolumeStore, made: inout [String]) throws -> [MountPoint] {
        var points: [MountPoint] = []
        var taken: Set<String> = []
        for s in specs {
            taken.insert(s.destination)
            var p: MountPoint
            switch s.type {
            case .bind:
                if s.createHostPath && Sys.fileKind(s.source) == .missing {
                    try Sys.mkdirAll(s.source, why: "-v makes a missing host directory, as Docker does")
                }
                p = MountPoint(type: .bind, source: s.source, destination: s.destination)
                p.propagation = s.propagation
                p.recursive = s.recursive
            case .volume:
                let labels = s.labels.map { l in l.split(separator: "=", maxSplits: 1).map(String.init) }
                let (v, new) = try store.create(s.source.isEmpty ? nil : s.source, labels: s.labels.isEmpty ? nil : labels)
                if new { made.append(v.name) }
                p = MountPoint(type: .volume, name: v.name, source: v.mountpoint, destination: s.destination)
                p.copyUp = !s.noCopy
                p.anonymous = s.source.isEmpty
            case .tmpfs:
                p = MountPoint(type: .tmpfs, source: "", destination: s.destination)
                p.tmpfsData = s.tmpfsData
            }
            p.mode = s.mode
            p.rw = !s.readOnly
            Tracer.shared.note("mount-point", group: .mount, args: Self.noteArgs(p), why: Self.why(p))
            points.append(p)
        }
        for p in inherited where taken.insert(p.destination).inserted {
            Tracer.shared.note("mount-point", group: .mount, args: Self.noteArgs(p), why: "--volumes-from: the same \(p.type == .volume ? "volume" : "mount") as the other container, at the same place")
            points.append(p)
        }
        for raw in imageVolumes {
            guard raw.hasPrefix("/") else { continue }
            let dest = VolumeSpec.clean(raw)
            guard dest != "/", taken.insert(dest).inserted else { continue }
            let (v, _) = try store.create(nil, why: "the image declares VOLUME \(dest): a new anonymous volume for it")
            made.append(v.name)
            var p = MountPoint(type: .volume, name: v.name, source: v.mountpoint, destination: dest)
            p.copyUp = true
            p.anonymous = true
            Tracer.shared.note("mount-point", group: .mount, args: Self.noteArgs(p), why: "the image declares VOLUME \(dest)")
            points.append(p)
        }
        return points
    }

    static func noteArgs(_ p: MountPoint) -> Args {
        var a: Args = ["type": .string(p.type.rawValue)]
        if p.type == .volume { a.append("name", .string(p.name)) }
        if !p.source.isEmpty { a.append("source", .string(p.source)) }
        a.append("destination", .string(p.destination))
        a.append("rw", .bool(p.rw))
        return a
    }

    static func why(_ p: MountPoint) -> String {
        switch p.type {
        case .bind: return "a host path, shown in the container as it is"
        case .volume: return "a volume: data kept by vitro that outlives the container"
        case .tmpfs: return "a tmpfs: in memory, gone with the container"
        }
    }
}
