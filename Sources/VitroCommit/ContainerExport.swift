// Chapter 09: `vitro export`, a container's whole filesystem as one flat tar: the
// image's layers with the container's changes applied, whiteouts resolved, nothing
// layered any more (what `docker export` writes, and what `import` takes).
//
// Merging layers by hand would mean re-implementing overlayfs's rules. Instead vitro
// asks overlayfs: it makes a mount namespace of its own (unshare(CLONE_NEWNS), then
// everything private, so nothing reaches the host's mount table), mounts the
// container's upper directory and the image's snapshots read-only as lower layers of a
// new overlay — `lowerdir=UPPER:TOP:…:BASE`, no upper and no work directory, so the
// container's own mount is not disturbed even while it runs — and walks that. The
// mount goes with the namespace when vitro exits; it is unmounted before that anyway.

import VitroImage
import VitroLayers
import VitroRuntime
import VitroSys
import VitroTrace

#if canImport(Glibc)
import Glibc
#endif

public enum ContainerExport {
    /// Writes the container's merged filesystem as a tar into `sink` (finished at the end).
    public static func export(_ r: ContainerRecord, containers: ContainerStore, to sink: any ByteSink) throws -> LayerSummary {
        let l = try ContainerCommit.layers(of: r, containers: containers)
        for dir in l.lower where !Sys.isDirectory(dir) {
            throw CommitError("container \(r.id.prefix(12)): the image's layer \(dir) is not unpacked (was the snapshot removed?)")
        }
        let scratch = containers.dir(r.id) + "/export-\(getpid())"
        let target = scratch + "/merged"
        let empty = scratch + "/empty"
        var lowers = [l.upper] + l.lower.reversed()
        // overlayfs wants two lower directories when there is no upper one.
        if lowers.count < 2 { lowers.append(empty) }
        for p in lowers where p.contains(",") || p.contains(":") {
            throw CommitError("\(p): a path in overlay options cannot contain ',' or ':'")
        }
        let data = "lowerdir=" + lowers.joined(separator: ":")
        guard data.utf8.count < 4096 else { throw CommitError("container \(r.id.prefix(12)): overlay options of \(data.utf8.count) bytes exceed one page") }

        try Sys.unshare(.mount, why: "a mount namespace of vitro's own: the overlay made for reading the container's files never appears on the host")
        try Sys.mount(
            source: nil, target: "/", fstype: nil, flags: [.recursive, .private],
            why: "nothing mounted in this namespace propagates back to the host")
        try Sys.mkdir(scratch, mode: 0o700, existOK: false, why: "a place to mount the container's merged filesystem")
        defer { try? Sys.removeTree(scratch, why: "the export's mount point goes when the export is done") }
        try Sys.mkdir(target, mode: 0o700, existOK: false, why: "the mount point")
        try Sys.mkdir(empty, mode: 0o755, existOK: false, why: "an empty lower layer: overlayfs needs two without an upper directory")
        try Sys.mount(
            source: "overlay", target: target, fstype: "overlay", flags: [.readOnly], data: data,
            why: "the container's upper directory on top of the image's layers, all read-only: the merged view the container sees, whiteouts applied by overlayfs itself")
        defer { try? Sys.unmount(target, flags: [.detach], why: "the export is written") }
        let writer = LayerWriter(root: target, mode: .plain)
        let tar = TarWriter(sink)
        try writer.write(to: tar)
        try tar.finish()
        writer.recordSummary(what: "the container's merged filesystem, as one flat tar")
        return writer.summary
    }
}
