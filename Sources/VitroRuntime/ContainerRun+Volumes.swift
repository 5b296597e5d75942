// Chapter 08: the volumes stage of a run (chapter 06's pieces, put in order). It runs
// after the rootfs stage (or pull and unpack, so the image's VOLUME entries are known)
// and before vitro-init is spawned, and only when the container has mounts at all:
//
//   1. holding the volumes lock: the mount points — the record's own on `start` and
//      `restart` (the same anonymous volumes again); otherwise -v and --mount, then
//      --volumes-from, then the image's VOLUMEs, making what is missing (named and
//      anonymous volumes, -v host directories);
//   2. still under the lock, the mount points go into the container's record, so from
//      now on `volume rm` finds the volumes in use;
//   3. the mount plan for pid 1: each source checked, a file or a directory.
//
// pid 1 makes the mounts inside the root before pivot_root
// (VitroVolumes/MountPlan+Apply.swift); its events carry this stage's name although
// they happen during `namespaces`, because they are this chapter's work.

import VitroNamespaces
import VitroSys
import VitroTrace
import VitroVolumes

extension ContainerRun {
    func stageVolumes() throws {
        let request = MountRequest(
            specs: options.volumes, inherited: options.inheritedMounts, imageVolumes: imageConfig?.volumes ?? [])
        let recorded = options.recordedMounts
        if recorded?.isEmpty ?? request.isEmpty { return }
        try begin(.volumes)
        do {
            let store = VolumeStore(root: options.stateRoot.path)
            let points: [MountPoint] = try store.locked {
                let points = try recorded ?? request.resolve(in: store)
                try onMounts?(points)
                return points
            }
            mountPlan = try MountPlan(mountPoints: points)
            end(.volumes)
        } catch {
            let message = (error as? VolumeError)?.message ?? String(describing: error)
            end(.volumes, error: message)
            throw RunError(message)
        }
    }

    /// The /etc files vitro writes, less those a mount of the user's replaces (Docker
    /// leaves /etc/hosts to a user who mounts their own).
    func filesBesidesMounts(_ files: [FileMount]) -> [FileMount] {
        files.filter { f in !mountPlan.entries.contains { $0.destination == "/" + f.target } }
    }
}
