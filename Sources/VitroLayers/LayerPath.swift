// What a name in a layer may be. A layer is untrusted input: its tar names are checked
// before anything is created, and the rules are simple enough to state in one place:
//
//  - an absolute name ("/etc/passwd") is refused: every name is relative to the root
//    of the snapshot, and GNU tar's habit of stripping the slash would hide a bad layer;
//  - a ".." component is refused anywhere, even where it would stay inside ("a/../b"):
//    no layer writer emits one, and refusing is easier to trust than resolving;
//  - "." components, empty components and a trailing "/" are dropped ("./etc/" is
//    "etc"), since layers made with `tar -C dir .` spell every name that way;
//  - a whiteout (".wh.NAME") may only be the last component, and NAME may not be
//    empty, "." or ".." (".wh..." would otherwise delete the parent directory).
//
// Symlinks are the other half of the story and are handled while unpacking: a name's
// parent directories are opened one at a time with O_NOFOLLOW (SnapshotDirectory).

struct LayerPath: Equatable {
    /// The cleaned components; empty for the snapshot's root itself ("./").
    var components: [String]

    /// The OCI whiteout conventions (image-spec layer.md, "Whiteouts").
    enum Whiteout: Equatable {
        /// Not a whiteout: an ordinary entry.
        case none
        /// ".wh.NAME": NAME was deleted; hide it in the layers below.
        case remove(String)
        /// ".wh..wh..opq": this directory replaces, rather than merges with, the
        /// directories of the same name below.
        case opaque
        /// ".wh..wh.*" other than the opaque marker: AUFS bookkeeping (".wh..wh.plnk",
        /// ".wh..wh.aufs") that old Docker versions left in layers; not content.
        case aufsMetadata
    }

    static let whiteoutPrefix = ".wh."
    static let opaqueMarker = ".wh..wh..opq"

    /// Cleans and checks a name from the archive; throws the reason it is refused.
    init(_ raw: String) throws(LayerPathError) {
        if raw.hasPrefix("/") { throw LayerPathError("absolute path refused (names in a layer are relative to its root)") }
        var parts: [String] = []
        for part in raw.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == ".." { throw LayerPathError("\"..\" component refused (it could leave the snapshot)") }
            parts.append(String(part))
        }
        var inAufsMetadata = false
        for part in parts.dropLast() where part.hasPrefix(LayerPath.whiteoutPrefix) {
            // AUFS kept hard-link bookkeeping in a ".wh..wh.plnk/" directory.
            guard part.hasPrefix(LayerPath.whiteoutPrefix + LayerPath.whiteoutPrefix) else {
                throw LayerPathError("bad whiteout name: \"\(part)\" is used as a directory")
            }
            inAufsMetadata = true
        }
        components = parts
        self.inAufsMetadata = inAufsMetadata
    }

    init(components: [String]) {
        self.components = components
        inAufsMetadata = false
    }

    /// True below an AUFS metadata directory (".wh..wh.plnk/...").
    private var inAufsMetadata: Bool

    /// "etc/passwd"; "." for the root.
    var relative: String { components.isEmpty ? "." : components.joined(separator: "/") }
    var name: String { components.last ?? "." }
    var parent: [String] { Array(components.dropLast()) }
    var isRoot: Bool { components.isEmpty }

    /// What the last component says, by the whiteout conventions.
    func whiteout() throws(LayerPathError) -> Whiteout {
        if inAufsMetadata { return .aufsMetadata }
        let n = name
        guard n.hasPrefix(LayerPath.whiteoutPrefix) else { return .none }
        if n == LayerPath.opaqueMarker { return .opaque }
        if n.hasPrefix(LayerPath.whiteoutPrefix + LayerPath.whiteoutPrefix) { return .aufsMetadata }
        let target = String(n.dropFirst(LayerPath.whiteoutPrefix.count))
        guard !target.isEmpty, target != ".", target != ".." else {
            throw LayerPathError("bad whiteout name \"\(n)\" (it names no entry)")
        }
        return .remove(target)
    }
}

/// Why a name was refused; the unpacker puts the entry in front of it.
struct LayerPathError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// The unpacker's rules for names, for code that takes a tar in without unpacking it
/// (chapter 09: `import` and `load` check every entry of every layer before they store
/// anything, so a layer that `run` would refuse is refused at the door).
public enum LayerNames {
    /// Throws the reason `entry` would be refused: its name, or a hard link's target.
    public static func check(_ entry: TarEntry) throws(LayerError) {
        do throws(LayerPathError) {
            _ = try LayerPath(entry.path).whiteout()
            if entry.kind == .hardLink {
                let target = try LayerPath(entry.linkTarget)
                if target.isRoot { throw LayerPathError("hard link to the root refused") }
            }
        } catch {
            throw LayerError("tar", entry.label, error.description)
        }
    }
}
