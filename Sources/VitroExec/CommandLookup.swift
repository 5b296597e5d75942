// Chapter 07: finding the program to exec, as a shell's PATH search does, inside the
// container's root (after pivot_root), with Docker's exit codes for failures.

import VitroSys

#if canImport(Glibc)
import Glibc
#endif

public enum CommandLookup {
    /// Docker's default PATH for a container whose image sets none.
    public static let defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    /// The absolute path of `name`: as given when it contains a slash, otherwise the
    /// first executable regular file on `path`.
    public static func resolve(_ name: String, path: String) throws(InitError) -> String {
        if name.contains("/") {
            switch Sys.fileKind(name) {
            case .missing:
                throw InitError(code: 127, "exec: \"\(name)\": no such file or directory")
            default:
                if Sys.isDirectory(name) { throw InitError(code: 126, "exec: \"\(name)\": is a directory") }
                return name
            }
        }
        for dir in path.split(separator: ":", omittingEmptySubsequences: false) {
            let d = dir.isEmpty ? "." : String(dir)
            let candidate = d + "/" + name
            if Sys.isExecutableFile(candidate) { return candidate }
        }
        throw InitError(code: 127, "exec: \"\(name)\": executable file not found in $PATH")
    }

    /// PATH from an environment list, or Docker's default.
    public static func path(in env: [String]) -> String {
        for e in env.reversed() where e.hasPrefix("PATH=") { return String(e.dropFirst(5)) }
        return defaultPath
    }

    /// The exit code and message for an execve(2) that failed.
    public static func execFailure(_ e: SysError) -> InitError {
        switch e.errno {
        case ENOENT: return InitError(code: 127, "exec: \"\(e.object)\": no such file or directory (missing interpreter or loader?)")
        case EACCES, EPERM: return InitError(code: 126, "exec: \"\(e.object)\": permission denied")
        case ENOEXEC: return InitError(code: 126, "exec: \"\(e.object)\": exec format error")
        default: return InitError(code: 126, e.description)
        }
    }
}
