// Chapter 09: walking a directory tree that a container could change under us. The
// upper directory of a container is written by the container's processes, as root: a
// name that was a directory a moment ago may be a symlink to the host's /etc now. So
// the walk never hands the kernel a path with more than one component. It holds each
// directory open, lists it by descriptor, looks at each entry with fstatat(2)
// (AT_SYMLINK_NOFOLLOW), opens a file or a subdirectory relative to its parent with
// O_NOFOLLOW, and reads xattrs and link targets by the parent's descriptor and the
// name. A symlink planted mid-walk fails to open (ELOOP) instead of being followed.
//
// The order is pre-order, names in byte order within each directory: parents come
// before their contents, as a tar of a layer must list them, and the same tree always
// gives the same order (and so the same diffID).

import VitroLayers
import VitroSys

#if canImport(Glibc)
import Glibc
#endif

/// One entry of the tree, as the walk found it.
public struct TreeEntry {
    /// Components below the root: ["etc", "passwd"].
    public var components: [String]
    public var status: FileStatus
    /// Extended attributes by name, in name order.
    public var xattrs: [ExtendedAttribute]
    /// Where a symlink points.
    public var linkTarget: String
    /// The descriptor of the entry's directory; valid while the walk is in `visit`.
    let directory: Int32
    public var name: String { components.last ?? "." }
    /// "etc/passwd".
    public var relative: String { components.joined(separator: "/") }

    /// The value of one xattr, if set.
    public func xattr(_ name: String) -> [UInt8]? { xattrs.first { $0.name == name }?.value }

    /// Opens a regular file for reading, without following a symlink planted in its
    /// place. The caller closes it.
    public func open() throws(SysError) -> Int32 {
        try Sys.openat(directory, name, flags: O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, object: relative, trace: false)
    }
}

public final class TreeWalker {
    public let root: String

    public init(root: String) {
        self.root = root
    }

    /// Visits every entry below the root (not the root itself). `visit` returns whether
    /// to descend into a directory. An entry that disappears between the listing and the
    /// look is skipped (a running container may delete it meanwhile).
    public func walk(_ visit: (TreeEntry) throws -> Bool) throws {
        let fd = try Sys.openat(AT_FDCWD, root, flags: O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, object: root, trace: false)
        defer { Sys.close(fd) }
        try walk(fd, [], visit)
    }

    private func walk(_ dir: Int32, _ prefix: [String], _ visit: (TreeEntry) throws -> Bool) throws {
        let shown = prefix.isEmpty ? root : prefix.joined(separator: "/")
        guard let listed = Sys.listDirectory(fd: dir) else { throw CommitError("\(shown): cannot be listed") }
        // Byte order, as tar writers list names (String order agrees for valid UTF-8).
        for name in listed.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
            guard let status = Sys.status(at: dir, name) else { continue }
            let components = prefix + [name]
            let attributes = Sys.extendedAttributes(at: dir, name).sorted { $0.key < $1.key }.map {
                ExtendedAttribute(name: $0.key, value: $0.value)
            }
            let target = status.isSymlink ? Sys.readlink(at: dir, name) ?? "" : ""
            let entry = TreeEntry(components: components, status: status, xattrs: attributes, linkTarget: target, directory: dir)
            guard try visit(entry), status.isDirectory else { continue }
            let child: Int32
            do {
                child = try Sys.openat(dir, name, flags: O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, object: entry.relative, trace: false)
            } catch {
                let e = error.errno
                if e == ENOENT { continue }
                if e == ELOOP || e == ENOTDIR {
                    throw CommitError("\(entry.relative): it stopped being a directory while it was read (a symlink now?); refusing to follow it")
                }
                throw error
            }
            defer { Sys.close(child) }
            try walk(child, components, visit)
        }
    }
}
