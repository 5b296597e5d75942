// Chapter 06: the mount plan, what pid 1 is told to mount inside the container's root
// before pivot_root. vitro makes it on the host from the container's mount points
// (every source already exists: a volume's directory, the user's path); vitro-init
// receives it in its spec as one `mount` record per entry and applies it
// (MountPlan+Apply.swift). Entries are ordered parents first, as Docker sorts them, so
// `/data` is mounted before `/data/cache`.

import VitroNamespaces
import VitroSys

public struct MountPlan: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public enum Kind: String, Sendable { case bind, tmpfs }
        public var kind: Kind
        /// bind: absolute host path; tmpfs: "tmpfs".
        public var source: String
        /// Absolute, clean path inside the container.
        public var destination: String
        public var readOnly = false
        public var recursive = true
        /// Asked for; nil leaves the mount as the root's propagation makes it (private
        /// unless another mount needs otherwise; then rprivate is applied, Docker's default).
        public var propagation: Propagation?
        /// Fill `source` from the image's content at `destination` while `source` is empty.
        public var copyUp = false
        /// The source is not a directory: the mount point is made as an empty file.
        public var file = false
        /// tmpfs mount data.
        public var data = ""

        public init(kind: Kind, source: String, destination: String) {
            self.kind = kind
            self.source = source
            self.destination = destination
        }
    }

    public var entries: [Entry] = []

    public init(entries: [Entry] = []) {
        self.entries = MountPlan.parentsFirst(entries)
    }

    public var isEmpty: Bool { entries.isEmpty }

    /// Docker's order (sortMounts): fewer path components first; equal depth keeps the
    /// order given.
    static func parentsFirst(_ e: [Entry]) -> [Entry] {
        e.enumerated().sorted { a, b in
            let (da, db) = (a.element.destination.split(separator: "/").count, b.element.destination.split(separator: "/").count)
            return da != db ? da < db : a.offset < b.offset
        }.map(\.element)
    }

    /// What step 1 of the root must do for these mounts: keep ties to the host only
    /// when a mount asks for shared or slave propagation.
    public var rootPropagation: RootPropagation {
        if entries.contains(where: { $0.propagation?.isShared == true }) { return .shared }
        if entries.contains(where: { $0.propagation?.isSlave == true }) { return .slave }
        return .private
    }

    /// The plan from a container's mount points. A bind's source must exist; whether
    /// it is a file or a directory decides the mount point's kind.
    public init(mountPoints: [MountPoint]) throws(VolumeError) {
        var out: [Entry] = []
        for m in mountPoints {
            var e = Entry(kind: m.type == .tmpfs ? .tmpfs : .bind, source: m.type == .tmpfs ? "tmpfs" : m.source, destination: m.destination)
            e.readOnly = !m.rw
            e.recursive = m.recursive
            e.propagation = m.propagation
            e.copyUp = m.copyUp
            e.data = m.tmpfsData
            if e.kind == .bind {
                switch Sys.fileKind(m.source) {
                case .missing: throw VolumeError("bind source path does not exist: \(m.source)")
                case .directory: break
                case .symlink: e.file = !Sys.isDirectory(m.source)
                default: e.file = true
                }
            }
            out.append(e)
        }
        self.init(entries: out)
    }

    // MARK: the contract with vitro-init

    /// One record per entry: kind, source, destination, options and data, tab-separated.
    public func records() -> [String] {
        entries.map { e in
            var opts: [String] = [e.readOnly ? "ro" : "rw"]
            if !e.recursive { opts.append("norec") }
            if let p = e.propagation { opts.append("prop=" + p.rawValue) }
            if e.copyUp { opts.append("copyup") }
            if e.file { opts.append("file") }
            return [e.kind.rawValue, e.source, e.destination, opts.joined(separator: ","), e.data].joined(separator: "\t")
        }
    }

    public init(records: [String]) throws(VolumeError) {
        var out: [Entry] = []
        for r in records {
            let f = r.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard f.count == 5, let kind = Entry.Kind(rawValue: f[0]), f[2].hasPrefix("/") else {
                throw VolumeError("spec: bad mount record")
            }
            var e = Entry(kind: kind, source: f[1], destination: f[2])
            for o in f[3].split(separator: ",").map(String.init) {
                switch o {
                case "ro": e.readOnly = true
                case "rw": e.readOnly = false
                case "norec": e.recursive = false
                case "copyup": e.copyUp = true
                case "file": e.file = true
                default:
                    guard o.hasPrefix("prop="), let p = Propagation(rawValue: String(o.dropFirst(5))) else {
                        throw VolumeError("spec: bad mount option \(o)")
                    }
                    e.propagation = p
                }
            }
            e.data = f[4]
            out.append(e)
        }
        entries = out  // already in order
    }
}
