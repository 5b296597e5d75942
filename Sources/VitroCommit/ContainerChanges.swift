// Chapter 09: `vitro diff`, what a container changed, read from its upper directory.
//
// Everything a container wrote is in its overlay upper directory (chapter 02), so the
// walk covers only that directory, never the image's layers. Each entry is one of:
//
//   D  a character device 0:0 (overlayfs's whiteout): NAME was deleted. A directory
//      with trusted.overlay.opaque=y that the image has too was deleted as well (and
//      made again: what is inside it now is listed as added);
//   C  a name the image has too: changed (a directory only when its mode, size or
//      mtime differ, since copying a child up copies its parents up unchanged);
//   A  a name the image does not have: added.
//
// Telling C from A needs one look per entry into the image's layers, top first, as
// overlayfs looks (`LowerView`): that is a lookup by name, not a walk. And as Docker
// prints it, a directory holding an added or deleted entry is listed as changed before
// its first such entry (its listing changed). Paths are absolute, in walk order.

import VitroLayers
import VitroSys

public struct Change: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable { case added = "A", changed = "C", deleted = "D" }
    public var kind: Kind
    /// "/etc/passwd".
    public var path: String
    public init(_ kind: Kind, _ path: String) {
        self.kind = kind
        self.path = path
    }
    public var description: String { "\(kind.rawValue) \(path)" }
}

/// The image's layers as overlayfs stacks them, for lookups by name.
public struct LowerView: Sendable {
    /// Snapshot directories, top-most first (overlayfs's lowerdir order).
    public var layers: [String]

    public init(topFirst layers: [String]) { self.layers = layers }

    /// What the merged lower layers have at `components`, or nil when nothing (never
    /// there, or deleted by a higher layer's whiteout or opaque directory).
    public func lookup(_ components: [String]) -> FileStatus? {
        for layer in layers {
            if let st = Sys.status(layer + "/" + components.joined(separator: "/")) {
                return st.isWhiteout ? nil : st
            }
            // Absent here: does this layer hide the name in the layers below it, by a
            // whiteout or a file in place of an ancestor, or an opaque ancestor?
            var path = layer
            for c in components.dropLast() {
                path += "/" + c
                guard let st = Sys.status(path) else { break }
                if !st.isDirectory { return nil }
                if Sys.extendedAttribute(path, "trusted.overlay.opaque") == Array("y".utf8) { return nil }
            }
        }
        return nil
    }
}

public enum ContainerChanges {
    /// The files vitro bind-mounts over the image's in every container (chapter 05).
    public static let mountedFiles = ["etc/hostname", "etc/hosts", "etc/resolv.conf"]

    /// The empty files in `upper` that are only mount points: an image without
    /// /etc/hosts gets an empty one made for vitro's to be mounted on (what the
    /// container writes goes to vitro's file, not here). Docker keeps these in an
    /// "init" layer of its own; vitro leaves them out of diff and commit.
    public static func mountPoints(upper: String, lower: LowerView) -> Set<String> {
        var out: Set<String> = []
        for f in mountedFiles {
            guard let st = Sys.status(upper + "/" + f), st.isRegular, st.size == 0 else { continue }
            if lower.lookup(f.split(separator: "/").map(String.init)) == nil { out.insert(f) }
        }
        return out
    }

    /// The changes in `upper` against the image's layers (`lower`).
    public static func diff(upper: String, lower: LowerView) throws -> [Change] {
        let skip = mountPoints(upper: upper, lower: lower)
        // A directory that holds such a mount point got a new mtime from it alone.
        let touchedBySkip = Set(skip.map { String($0.split(separator: "/").dropLast().joined(separator: "/")) })
        var changes: [Change] = []
        var listed: Set<String> = []
        /// Directories below which the image's contents are gone (opaque, or new).
        var hidden: Set<String> = []
        try TreeWalker(root: upper).walk { e in
            if skip.contains(e.relative) { return false }
            let path = "/" + e.relative
            let st = e.status
            let parent = "/" + e.components.dropLast().joined(separator: "/")
            var ancestor = ""
            var underHidden = false
            for c in e.components.dropLast() {
                ancestor += "/" + c
                if hidden.contains(ancestor) {
                    underHidden = true
                    break
                }
            }
            var kind: Change.Kind
            if st.isWhiteout {
                kind = .deleted
            } else if st.isDirectory, e.xattr("trusted.overlay.opaque") == Array("y".utf8), !underHidden, lower.lookup(e.components) != nil {
                kind = .deleted
                hidden.insert(path)
            } else if !underHidden, let old = lower.lookup(e.components) {
                if st.isDirectory, old.isDirectory, old.permissions == st.permissions, old.uid == st.uid, old.gid == st.gid,
                    old.size == st.size, sameTime(old.mtime, st.mtime) || touchedBySkip.contains(e.relative)
                {
                    return true  // copied up unchanged, for a child's sake
                }
                kind = .changed
            } else {
                kind = .added
                if st.isDirectory { hidden.insert(path) }
            }
            if st.isDirectory { listed.insert(path) }
            if kind != .changed, parent != "/", !listed.contains(parent) {
                changes.append(Change(.changed, parent))
                listed.insert(parent)
            }
            changes.append(Change(kind, path))
            return true
        }
        return changes
    }

    /// Equal times, allowing for a copy that kept whole seconds only (tar, as Docker).
    static func sameTime(_ a: FileTime, _ b: FileTime) -> Bool {
        a == b || (a.seconds == b.seconds && (a.nanoseconds == 0 || b.nanoseconds == 0))
    }
}
