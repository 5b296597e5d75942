// Chapter 10: the build context, the one directory a build may read.
//
// ADD and COPY name their sources relative to the context (a leading `/` too, as Docker
// takes it). Nothing outside it is ever opened:
//   - a source whose path climbs out (`../x`) is refused before anything is looked up;
//   - the rest is opened with openat2(2) and RESOLVE_BENEATH from a descriptor of the
//     context, so the kernel follows a symlink only while it stays inside: a link to
//     `/etc/passwd` or to `../..` fails with EXDEV, and is refused with its name;
//   - directories are walked with O_NOFOLLOW at every step (TreeWalker): a symlink inside
//     a copied directory is copied as a symlink, its target never read.
// `.dockerignore` hides files from all of this: an excluded source is "not found", and
// a walk leaves excluded entries out.

import VitroCommit
import VitroSys

#if canImport(Glibc)
import Glibc
#endif

/// A source of ADD or COPY, found in the context.
public struct ContextSource: Sendable {
    /// Relative to the context ("" for the context itself).
    public var relative: String
    /// Where it really is (symlinks inside the context resolved).
    public var path: String
    public var status: FileStatus
}

public final class BuildContext {
    /// The context directory, absolute and without symlinks.
    public let root: String
    public let ignore: DockerIgnore
    let fd: Int32

    public init(directory: String) throws(BuildError) {
        do {
            fd = try Sys.open(directory, flags: Sys.O_PATH | O_DIRECTORY | O_CLOEXEC, trace: false)
        } catch {
            throw BuildError("build context \"\(directory)\": \(error.errno == ENOTDIR ? "not a directory" : Errno.message(error.errno))")
        }
        root = Sys.descriptorPath(fd) ?? directory
        let text = (try? Sys.readText(root + "/.dockerignore")) ?? ""
        ignore = DockerIgnore(text)
    }

    deinit { Sys.close(fd) }

    /// The components of a source path inside the context, or nil when it climbs out.
    public static func components(_ source: String) -> [String]? {
        var out: [String] = []
        for c in source.split(separator: "/") {
            if c == "." { continue }
            if c == ".." {
                guard out.popLast() != nil else { return nil }
                continue
            }
            out.append(String(c))
        }
        return out
    }

    /// The sources a pattern names (wildcards expanded, in name order).
    public func sources(_ pattern: String, instruction: String) throws(BuildError) -> [ContextSource] {
        guard let parts = Self.components(pattern) else {
            throw BuildError("\(instruction) failed: forbidden path outside the build context: \(pattern)")
        }
        let wild = parts.contains { $0.contains { "*?[".contains($0) } }
        let candidates = wild ? expand(parts[...], prefix: []) : [parts.joined(separator: "/")]
        var out: [ContextSource] = []
        for rel in candidates {
            if !rel.isEmpty, ignore.excludes(rel) { continue }
            out.append(try open(rel, instruction: instruction, pattern: pattern))
        }
        if out.isEmpty {
            throw BuildError("\(instruction) failed: file not found in build context or excluded by .dockerignore: \(pattern)")
        }
        return out
    }

    /// Looks one path up beneath the context.
    func open(_ rel: String, instruction: String, pattern: String) throws(BuildError) -> ContextSource {
        let fd: Int32
        do {
            fd = try Sys.openat2(self.fd, rel.isEmpty ? "." : rel, flags: Sys.O_PATH, resolve: [.beneath, .noMagicLinks])
        } catch {
            switch error.errno {
            case EXDEV, ELOOP:
                throw BuildError("\(instruction) failed: forbidden path outside the build context: \(pattern) (a symlink leads out of it)")
            case ENOENT, ENOTDIR:
                throw BuildError("\(instruction) failed: file not found in build context or excluded by .dockerignore: \(pattern)")
            default:
                throw BuildError("\(instruction) failed: \(pattern): \(Errno.message(error.errno))")
            }
        }
        defer { Sys.close(fd) }
        guard let status = Sys.status(fd: fd), let path = Sys.descriptorPath(fd) else {
            throw BuildError("\(instruction) failed: \(pattern): cannot be looked at")
        }
        // A link inside the context to an excluded file does not bring it back.
        let real = path == root ? "" : String(path.dropFirst(root.count + 1))
        guard path == root || path.hasPrefix(root + "/") else {
            throw BuildError("\(instruction) failed: forbidden path outside the build context: \(pattern)")
        }
        if !real.isEmpty, ignore.excludes(real) {
            throw BuildError("\(instruction) failed: file not found in build context or excluded by .dockerignore: \(pattern)")
        }
        return ContextSource(relative: rel, path: path, status: status)
    }

    /// The context paths matching a pattern's components, in name order.
    func expand(_ parts: ArraySlice<String>, prefix: [String]) -> [String] {
        guard let first = parts.first else { return [prefix.joined(separator: "/")] }
        let dir = prefix.isEmpty ? root : root + "/" + prefix.joined(separator: "/")
        let names: [String]
        if first.contains(where: { "*?[".contains($0) }) {
            names = Sys.listDirectory(dir).filter { DockerIgnore.glob(first, $0) }.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        } else {
            names = [first]
        }
        var out: [String] = []
        for n in names {
            let rel = prefix + [n]
            if parts.count > 1 {
                // Only real directories are descended into while expanding.
                guard Sys.status(root + "/" + rel.joined(separator: "/"))?.isDirectory == true else { continue }
            } else if Sys.status(root + "/" + rel.joined(separator: "/")) == nil {
                continue
            }
            out += expand(parts.dropFirst(), prefix: rel)
        }
        return out
    }

    /// Walks a directory source: each entry with its path relative to the source,
    /// excluded entries left out.
    public func walk(_ source: ContextSource, _ visit: (TreeEntry) throws -> Void) throws {
        let base = source.path == root ? "" : String(source.path.dropFirst(root.count + 1))
        try TreeWalker(root: source.path).walk { e in
            let rel = base.isEmpty ? e.relative : base + "/" + e.relative
            if ignore.excludes(rel) {
                return e.status.isDirectory && ignore.hasExceptions
            }
            try visit(e)
            return true
        }
    }
}
