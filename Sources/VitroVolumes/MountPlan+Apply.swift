// Chapter 06: what pid 1 does with the mount plan, in its new mount namespace, while it
// builds the container's root (vitro-init calls these between RootfsPlan's steps):
//
//   after the root is mounted     copyUp: fill empty volumes from the image
//   after /proc, /sys and /dev    apply: each mount, parents first, then
//   (the /etc files, pivot_root)
//
// For each entry `apply`:
//   1. opens the destination inside the root (ContainerRoot: never through a symlink
//      out of it), making a missing directory, or an empty file for a file's mount;
//   2. mounts on the descriptor: `mount --rbind SRC DEST`, or a tmpfs;
//   3. for `ro`, remounts the bind read-only. A bind mount takes the flags of the mount
//      it copies and ignores MS_RDONLY (mount(2): MS_BIND "ignores the remaining
//      bits"), so read-only is a second call, MS_REMOUNT|MS_BIND|MS_RDONLY, which
//      changes this mount only and keeps the flags it has (nosuid, nodev, ...);
//   4. sets the propagation asked for (or rprivate, Docker's default, when the root is
//      not private because another mount asked for slave or shared).
// Steps 3 and 4 act on the new mount, so the destination is opened again: the walk now
// ends on the mount's root, and it must be the place step 1 found.

import VitroNamespaces
import VitroSys
import VitroTrace

#if canImport(Glibc)
import Glibc
#endif

extension MountPlan {
    /// Fills each empty volume that asks for it from the image (pid 1, after the root
    /// is mounted, before /proc, /sys and /dev).
    public func copyUp(rootfs: String) throws {
        let wanted = entries.filter { $0.copyUp && $0.kind == .bind && !$0.file }
        guard !wanted.isEmpty else { return }
        let saved = Tracer.shared.stage
        Tracer.shared.stage = .volumes
        defer { Tracer.shared.stage = saved }
        let root = try ContainerRoot(rootfs)
        defer { root.close() }
        for e in wanted { try CopyUp.fill(e, root: root) }
    }

    /// Makes every mount of the plan inside `rootfs` (pid 1, before pivot_root).
    public func apply(rootfs: String) throws {
        guard !entries.isEmpty else { return }
        let saved = Tracer.shared.stage
        Tracer.shared.stage = .volumes
        defer { Tracer.shared.stage = saved }
        let root = try ContainerRoot(rootfs)
        defer { root.close() }
        let rootPropagation = self.rootPropagation
        for e in entries { try make(e, root: root, rootPropagation: rootPropagation) }
    }

    /// Steps 1-4 of the top of this file for one entry.
    func make(_ e: Entry, root: ContainerRoot, rootPropagation: RootPropagation) throws {
        guard let target = try root.open(e.destination, create: e.file ? .file : .directory) else {
            throw VolumeError("mount destination \(e.destination): could not be made")
        }
        defer { Sys.close(target.fd) }
        let isDirectory = Sys.status(fd: target.fd)?.isDirectory == true
        if e.file && isDirectory {
            throw VolumeError("cannot mount the file \(e.source) on \(e.destination): it is a directory in the container")
        }
        if !e.file && !isDirectory {
            throw VolumeError("cannot mount \(e.kind == .tmpfs ? "a tmpfs" : "the directory \(e.source)") on \(e.destination): it is not a directory in the container")
        }
        switch e.kind {
        case .bind:
            try Sys.mount(
                source: e.source, target: target.path, via: target.fd, fstype: nil, flags: e.recursive ? [.bind, .recursive] : [.bind],
                why: "\(e.destination) in the container shows the host's \(e.file ? "file" : "directory"); mounted on a descriptor opened inside the root, so no symlink can move it")
        case .tmpfs:
            var flags: MountFlags = [.noSuid, .noDev, .noExec]
            if e.readOnly { flags.insert(.readOnly) }
            try Sys.mount(
                source: "tmpfs", target: target.path, via: target.fd, fstype: "tmpfs", flags: flags, data: e.data.isEmpty ? nil : e.data,
                why: "a tmpfs at \(e.destination): memory only, gone when the container ends")
        }
        let remount = e.kind == .bind && e.readOnly
        let propagation = e.propagation ?? (rootPropagation == .private ? nil : .rprivate)
        guard remount || propagation != nil else { return }
        guard let top = try root.open(e.destination, create: .none) else {
            throw VolumeError("mount destination \(e.destination) vanished while vitro mounted it")
        }
        defer { Sys.close(top.fd) }
        guard top.path == target.path else {
            throw VolumeError("mount destination \(e.destination) changed while vitro mounted it (now \(top.path)); refusing to go on")
        }
        if remount {
            let keep = (Sys.mountFlags(of: top.fd) ?? []).intersection([.noSuid, .noDev, .noExec, .noAtime, .noDirAtime, .relatime])
            try Sys.mount(
                source: nil, target: top.path, via: top.fd, fstype: nil, flags: MountFlags([.remount, .bind, .readOnly]).union(keep),
                why: "a bind mount ignores MS_RDONLY; remounting it read-only makes the kernel refuse writes with EROFS")
        }
        if let propagation {
            try Sys.mount(
                source: nil, target: top.path, via: top.fd, fstype: nil, flags: propagation.flags,
                why: e.propagation == nil
                    ? "Docker's default for a bind: rprivate, no mount events in or out"
                    : "\(propagation.rawValue) propagation, as asked: " + Self.meaning(propagation))
        }
    }

    static func meaning(_ p: Propagation) -> String {
        switch p {
        case .private, .rprivate: return "no mount events cross in either direction"
        case .slave, .rslave: return "mounts made on the host below the source appear here, none go back"
        case .shared, .rshared: return "mounts made on either side appear on the other"
        }
    }
}
