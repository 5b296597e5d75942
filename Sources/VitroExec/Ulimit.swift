// Chapter 07: `--ulimit name=soft[:hard]`, Docker's names for the resource limits of
// setrlimit(2). pid 1 sets them just before execve; the command and everything it
// starts inherit them. Unlike a cgroup limit, an rlimit is per process (nofile, stack)
// or per user (nproc counts every process of that uid on the machine, which is why
// Docker warns about it).

public struct Ulimit: Sendable, Equatable {
    public var name: String
    /// nil: unlimited (RLIM_INFINITY).
    public var soft: UInt64?
    public var hard: UInt64?

    public init(name: String, soft: UInt64?, hard: UInt64?) {
        self.name = name
        self.soft = soft
        self.hard = hard
    }

    /// Docker's names (go-units) and the RLIMIT_* numbers of Linux (asm-generic/resource.h).
    public static let resources: [(String, Int32)] = [
        ("cpu", 0), ("fsize", 1), ("data", 2), ("stack", 3), ("core", 4), ("rss", 5), ("nproc", 6), ("nofile", 7),
        ("memlock", 8), ("locks", 10), ("sigpending", 11), ("msgqueue", 12), ("nice", 13), ("rtprio", 14),
        ("rttime", 15),
    ]

    public var resource: Int32 { Ulimit.resources.first { $0.0 == name }?.1 ?? -1 }
    /// RLIMIT_NOFILE.
    public var kernelName: String { "RLIMIT_" + name.uppercased() }

    /// "nofile=100:200", "core=0", "nproc=-1" (-1 and "unlimited" mean no limit).
    public static func parse(_ text: String) throws(InitError) -> Ulimit {
        func bad(_ why: String) -> InitError { InitError(code: 125, "--ulimit \(text): \(why)") }
        let kv = text.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard kv.count == 2 else { throw bad("expected name=soft[:hard]") }
        let name = kv[0]
        guard resources.contains(where: { $0.0 == name }) else {
            throw bad("invalid ulimit type: \(name) (one of \(resources.map(\.0).sorted().joined(separator: ", ")))")
        }
        let values = kv[1].split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard values.count == 1 || values.count == 2 else { throw bad("too many limit values") }
        func value(_ s: String) throws(InitError) -> UInt64? {
            if s == "-1" || s == "unlimited" { return nil }
            guard let v = UInt64(s) else { throw bad("invalid ulimit value \"\(s)\"") }
            return v
        }
        let soft = try value(values[0])
        let hard = values.count == 2 ? try value(values[1]) : soft
        if let h = hard, soft == nil || (soft ?? 0) > h {
            throw bad("ulimit soft limit must be less than or equal to hard limit: \(soft.map(String.init) ?? "unlimited") > \(h)")
        }
        return Ulimit(name: name, soft: soft, hard: hard)
    }

    /// `name=soft:hard` again, as the spec carries it.
    public var text: String {
        "\(name)=\(soft.map(String.init) ?? "-1"):\(hard.map(String.init) ?? "-1")"
    }
}
