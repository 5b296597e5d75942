// The one error type of VitroSys: the operation, the object it was applied to, and
// the errno the kernel gave, e.g. `mount "/var/lib/vitro/…/proc": no such device`.

import CVitroShim

#if canImport(Glibc)
import Glibc
#endif

public struct SysError: Error, CustomStringConvertible, Equatable {
    /// The call or step: "mount", "pivot_root", "write".
    public var operation: String
    /// What it was applied to: a path, a pid, a namespace list.
    public var object: String
    /// The errno value; 0 for an error vitro found itself (a bad argument).
    public var errno: Int32
    /// A hint for a person, when the errno has a likely cause.
    public var hint: String?

    public init(operation: String, object: String, errno: Int32, hint: String? = nil) {
        self.operation = operation
        self.object = object
        self.errno = errno
        self.hint = hint
    }

    /// Symbolic name of the errno: "ENOENT".
    public var errnoName: String { Errno.name(errno) }

    public var description: String {
        var s = object.isEmpty ? operation : "\(operation) \"\(object)\""
        if errno != 0 { s += ": " + Errno.message(errno) }
        if let hint { s += " (\(hint))" }
        return s
    }
}

public enum Errno {
    /// ENOENT, EPERM, …
    public static func name(_ e: Int32) -> String {
        String(cString: vitro_errno_name(e))
    }

    /// strerror(3), with a lower-case first letter as vitro's messages have.
    public static func message(_ e: Int32) -> String {
        guard let p = strerror(e) else { return "error \(e)" }
        let s = String(cString: p)
        return s.prefix(1).lowercased() + s.dropFirst()
    }
}
