// The root of a snapshot being unpacked, held open as a directory descriptor, and the
// one way the unpacker reaches a directory inside it: one component at a time, each
// opened with openat(parent, name, O_DIRECTORY|O_NOFOLLOW) from the descriptor before.
// A component that is a symlink fails to open (ELOOP) and the entry is refused, so a
// layer that plants `evil -> ../../etc` and then writes `evil/passwd` gets an error,
// not a write into the host's /etc. This is what openat2(2)'s RESOLVE_NO_SYMLINKS
// does in one call; the walk does it in plain calls that a reader can follow and
// that work on any Linux.
//
// Tar archives list a directory's entries together, so the descriptors of the last
// path walked are kept (a stack: root, a, a/b, ...) and the next entry reuses the
// common prefix: unpacking a layer costs about one openat per directory, not one per
// component of every name.

#if canImport(Glibc)
import Glibc
#endif

import VitroSys

final class SnapshotDirectory {
    let path: String
    let fd: Int32
    /// Open descriptors of the directories of the last walk, outermost first.
    private var stack: [(name: String, fd: Int32)] = []

    init(path: String) throws(SysError) {
        self.path = path
        fd = try Sys.openat(AT_FDCWD, path, flags: Self.directoryFlags, object: path, trace: false)
    }

    deinit {
        forget(deeperThan: 0)
        Sys.close(fd)
    }

    static let directoryFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC

    /// The descriptor of the directory `components` below the root, creating missing
    /// directories (mode 0755, as tar does for parents a layer does not list) when
    /// `create`. The descriptor stays owned here: valid until the next call or `forget`.
    func directory(_ components: [String], create: Bool) throws(LayerWalkError) -> Int32 {
        var common = 0
        while common < min(stack.count, components.count), stack[common].name == components[common] { common += 1 }
        forget(deeperThan: common)
        var current = stack.last?.fd ?? fd
        for i in common..<components.count {
            current = try open(components[i], in: current, shown: components[0...i].joined(separator: "/"), create: create)
            stack.append((components[i], current))
        }
        return current
    }

    /// A descriptor of the directory `components`, walked afresh, that the caller owns
    /// and closes. For hard-link targets and the last pass over directories, which
    /// would otherwise throw away the stack.
    func openDirectory(_ components: [String]) throws(LayerWalkError) -> Int32 {
        var current = try dup(fd)
        for (i, c) in components.enumerated() {
            let next: Int32
            do {
                next = try open(c, in: current, shown: components[0...i].joined(separator: "/"), create: false)
            } catch {
                Sys.close(current)
                throw error
            }
            Sys.close(current)
            current = next
        }
        return current
    }

    /// Closes the kept descriptors from depth `depth` on. The unpacker calls this when
    /// it removes a directory, whose descriptor (and those below it) must not be used.
    func forget(deeperThan depth: Int) {
        while stack.count > depth {
            if let last = stack.popLast() { Sys.close(last.fd) }
        }
    }

    private func dup(_ fd: Int32) throws(LayerWalkError) -> Int32 {
        do {
            return try Sys.openat(fd, ".", flags: Self.directoryFlags, object: path, trace: false)
        } catch {
            throw .system(error)
        }
    }

    private func open(_ name: String, in dir: Int32, shown: String, create: Bool) throws(LayerWalkError) -> Int32 {
        do {
            return try Sys.openat(dir, name, flags: Self.directoryFlags, object: shown, trace: false)
        } catch let e where e.errno == ENOENT && create {
            do {
                try Sys.mkdirat(dir, name, mode: 0o755, object: shown, trace: false)
                return try Sys.openat(dir, name, flags: Self.directoryFlags, object: shown, trace: false)
            } catch {
                throw .system(error)
            }
        } catch let e where e.errno == ELOOP || e.errno == ENOTDIR {
            if let st = Sys.status(at: dir, name), st.isSymlink {
                let target = Sys.readlink(at: dir, name) ?? "?"
                throw .refused("\"\(shown)\" is a symlink (-> \(target)); refusing to follow it")
            }
            throw .refused("\"\(shown)\" is not a directory")
        } catch {
            throw .system(error)
        }
    }
}

/// Why a walk stopped: a system call failed, or a component was not a plain directory.
enum LayerWalkError: Error {
    case system(SysError)
    case refused(String)
}
