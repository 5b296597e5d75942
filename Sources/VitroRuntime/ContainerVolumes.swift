// Chapter 08: volumes and the containers that use them. A volume is in use while any
// container's record names it, running or not, as Docker counts it; every decision
// here is made holding the volumes lock (VitroVolumes/VolumeStore.swift), which a run
// also holds while it makes its volumes and records them.

import VitroSys
import VitroTrace
import VitroVolumes

public enum ContainerVolumes {
    /// The ids of the containers whose records use the volume `name`.
    public static func users(of name: String, containers: ContainerStore) -> [String] {
        containers.list().filter { r in (r.config.mounts ?? []).contains { $0.type == .volume && $0.name == name } }.map(\.id)
    }

    /// `vitro volume rm`: removes a volume no container uses. With `force`, a volume
    /// that does not exist is not an error (Docker's -f).
    public static func remove(_ name: String, force: Bool, containers: ContainerStore) throws(RunError) {
        let volumes = VolumeStore(root: containers.root.path)
        do {
            try volumes.locked {
                guard volumes.load(name) != nil else {
                    if force { return }
                    throw RunError(code: 1, "no such volume: \(name)")
                }
                let users = users(of: name, containers: containers)
                guard users.isEmpty else {
                    throw RunError(code: 1, "remove \(name): volume is in use - [\(users.joined(separator: ", "))]")
                }
                try volumes.remove(name)
            }
        } catch let e as RunError {
            throw e
        } catch {
            throw RunError(code: 1, "remove \(name): \(error)")
        }
    }

    /// `vitro volume prune`: the volumes no container uses — anonymous ones only unless
    /// `all` — that carry every label of `labels` (`K` or `K=V`). Returns each removed
    /// volume's name and size.
    public static func prune(all: Bool, labels: [String] = [], containers: ContainerStore) throws(RunError) -> [(String, Int64)] {
        let volumes = VolumeStore(root: containers.root.path)
        do {
            return try volumes.locked {
                let used = Set(containers.list().flatMap { ($0.config.mounts ?? []).filter { $0.type == .volume }.map(\.name) })
                var removed: [(String, Int64)] = []
                for v in volumes.list() where !used.contains(v.name) && (all || v.anonymous) && matches(v, labels) {
                    let size = volumes.size(v.name)
                    try volumes.remove(v.name)
                    removed.append((v.name, size))
                }
                return removed
            }
        } catch {
            throw RunError(code: 1, "volume prune: \(error)")
        }
    }

    /// Whether the volume carries each label filter: `K` (any value) or `K=V`.
    public static func matches(_ v: Volume, _ filters: [String]) -> Bool {
        filters.allSatisfy { f in
            let kv = f.split(separator: "=", maxSplits: 1).map(String.init)
            return (v.labels ?? []).contains { $0.first == kv.first && (kv.count == 1 || ($0.count > 1 ? $0[1] : "") == kv[1]) }
        }
    }

    /// `rm -v` and `--rm`: the volumes made for the container's anonymous mounts (`-v
    /// /data`, the image's VOLUMEs, and those inherited with --volumes-from) that no
    /// container uses any more are removed; the container's record is gone already. A
    /// volume the run named stays (Docker's removeMountPoints), and so does one still in use.
    static func removeAnonymous(_ mounts: [MountPoint], containers: ContainerStore) {
        let names = mounts.filter { $0.type == .volume && $0.anonymous }.map(\.name)
        guard !names.isEmpty else { return }
        let volumes = VolumeStore(root: containers.root.path)
        try? volumes.locked {
            for name in names where volumes.load(name) != nil && users(of: name, containers: containers).isEmpty {
                try? volumes.remove(name)
            }
        }
    }

    /// Removes a container's record, and with `volumes` its anonymous volumes.
    static func removeContainer(_ store: ContainerStore, _ id: String, volumes: Bool) throws {
        let mounts = store.load(id)?.config.mounts ?? []
        try store.remove(id)
        if volumes { removeAnonymous(mounts, containers: store) }
    }
}
