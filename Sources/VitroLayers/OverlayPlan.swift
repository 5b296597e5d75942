// How a container's root is stacked from snapshots (overlayfs, see the kernel's
// Documentation/filesystems/overlayfs.rst): the layers' snapshot directories are the
// read-only lower directories, a directory of the container's own is the upper one
// (every write, and every whiteout for a deletion, lands there), and a work directory
// on the same filesystem as the upper one is overlayfs's scratch space for atomic
// copy-up. The merged view appears at the mount point.
//
// The order is the one trap: image layers are listed lowest (base) first, but
// overlayfs's `lowerdir=` lists the TOP-most lower directory first, so the list is
// reversed. This type only plans; the runtime creates the directories and mounts:
//
//     mount -t overlay overlay -o lowerdir=L2:L1:L0,upperdir=U,workdir=W MERGED

public struct OverlayPlan: Sendable, Equatable {
    /// The snapshots' directories, lowest (the base layer) first, as an image lists them.
    public var layers: [String]
    public var upperDir: String
    public var workDir: String
    public var mergedDir: String
    /// An image without layers still needs one lower directory: this empty one.
    public var emptyDir: String

    /// Plans the overlay of `layers` (lowest first) for the container whose own
    /// directory is `containerDir` (upper, work and merged are made inside it).
    public init(layers: [String], containerDir: String) {
        self.layers = layers
        upperDir = containerDir + "/upper"
        workDir = containerDir + "/work"
        mergedDir = containerDir + "/merged"
        emptyDir = containerDir + "/empty"
    }

    /// The lower directories in the order overlayfs wants them: top-most first.
    public var lowerDirs: [String] { layers.isEmpty ? [emptyDir] : layers.reversed() }

    /// The directories the runtime must create before mounting.
    public var directoriesToCreate: [String] {
        [upperDir, workDir, mergedDir] + (layers.isEmpty ? [emptyDir] : [])
    }

    /// The mount data: `lowerdir=TOP:...:BASE,upperdir=U,workdir=W`. Throws when a path
    /// cannot be written in it (a comma or colon would split it; mount(2) takes at most
    /// one page of data).
    public func options() throws(LayerError) -> String {
        for p in lowerDirs + [upperDir, workDir] {
            guard p.hasPrefix("/") else { throw LayerError("overlay", p, "not an absolute path") }
            guard !p.contains(","), !p.contains(":"), !p.contains("\\") else {
                throw LayerError("overlay", p, "a path in overlay options cannot contain ',', ':' or '\\'")
            }
        }
        let text = "lowerdir=" + lowerDirs.joined(separator: ":") + ",upperdir=\(upperDir),workdir=\(workDir)"
        guard text.utf8.count < 4096 else {
            throw LayerError(
                "overlay", mergedDir,
                "mount options of \(text.utf8.count) bytes for \(layers.count) layers exceed one page (4095 bytes)")
        }
        return text
    }

    /// The mount(8) command for the same mount.
    public func shell() throws(LayerError) -> String {
        "mount -t overlay overlay -o \(try options()) \(mergedDir)"
    }
}
