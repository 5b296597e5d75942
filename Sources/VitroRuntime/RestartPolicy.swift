// Chapter 08: `--restart`, Docker's restart policies, applied by the container's monitor
// (there is no daemon): when the container's command ends, the monitor decides from the
// policy, the exit code, how many times it has restarted and whether a person stopped it
// (`stop`, `kill`, `rm -f` mark the record), and runs the pipeline again after a delay
// that doubles from 100 ms up to a minute (reset once a run lasted 10 s), as Docker's
// restart manager does.
//
//   no                 never (the default)
//   on-failure[:N]     when the exit code is not 0, at most N times (no limit without N)
//   always             whatever the exit code, unless a person stopped it
//   unless-stopped     the same here: the difference in Docker is what happens when its
//                      daemon restarts, and vitro has no daemon

public enum RestartPolicy: Sendable, Equatable, CustomStringConvertible {
    case no
    case onFailure(maxRetries: Int)
    case always
    case unlessStopped

    public static func parse(_ s: String) throws(RunError) -> RestartPolicy {
        switch s {
        case "", "no": return .no
        case "always": return .always
        case "unless-stopped": return .unlessStopped
        case "on-failure": return .onFailure(maxRetries: 0)
        default:
            if s.hasPrefix("on-failure:") {
                guard let n = Int(s.dropFirst("on-failure:".count)), n >= 0 else {
                    throw RunError("--restart \(s): the retry count must be a number (on-failure:N)")
                }
                return .onFailure(maxRetries: n)
            }
            if s.hasPrefix("always:") || s.hasPrefix("unless-stopped:") || s.hasPrefix("no:") {
                throw RunError("--restart \(s): only on-failure takes a retry count")
            }
            throw RunError("--restart \(s): invalid restart policy (no, on-failure[:N], always or unless-stopped)")
        }
    }

    /// Docker's name, as `inspect` shows it under HostConfig.RestartPolicy.Name.
    public var name: String {
        switch self {
        case .no: return "no"
        case .onFailure: return "on-failure"
        case .always: return "always"
        case .unlessStopped: return "unless-stopped"
        }
    }

    public var maxRetries: Int {
        if case .onFailure(let n) = self { return n }
        return 0
    }

    public var description: String {
        if case .onFailure(let n) = self, n > 0 { return "on-failure:\(n)" }
        return name
    }

    /// Whether the monitor runs the container again after a run that ended with `code`.
    public func shouldRestart(exitCode code: Int32, restartCount: Int, manuallyStopped: Bool) -> Bool {
        if manuallyStopped { return false }
        switch self {
        case .no: return false
        case .always, .unlessStopped: return true
        case .onFailure(let max): return code != 0 && (max == 0 || restartCount < max)
        }
    }

    /// The delay before restart number `attempt` (0-based): 100 ms doubling, at most a
    /// minute.
    public static func delay(attempt: Int) -> Int {
        var ms = 100
        for _ in 0..<min(attempt, 10) { ms *= 2 }
        return min(ms, 60_000)
    }
}

/// `--log-driver` and `--log-opt`: json-file (the default) with Docker's size-based
/// rotation (`max-size`, `max-file`), or none.
public struct LogOptions: Sendable, Equatable {
    public var driver = "json-file"
    /// Bytes after which the log is rotated; nil: never.
    public var maxSize: Int?
    /// How many files are kept, the live one included (Docker's default 1: the log is
    /// cut back to nothing when it reaches max-size).
    public var maxFile = 1

    public init() {}

    public static func parse(driver: String?, options: [String]) throws(RunError) -> LogOptions {
        var o = LogOptions()
        if let driver {
            guard driver == "json-file" || driver == "none" else {
                throw RunError("--log-driver \(driver): not supported (json-file or none)")
            }
            o.driver = driver
        }
        for opt in options {
            guard let eq = opt.firstIndex(of: "=") else { throw RunError("--log-opt \(opt): expected KEY=VALUE") }
            let key = String(opt[..<eq]), value = String(opt[opt.index(after: eq)...])
            guard o.driver == "json-file" else { throw RunError("--log-opt \(opt): the \(o.driver) log driver takes no options") }
            switch key {
            case "max-size":
                guard let n = parseSize(value), n > 0 else { throw RunError("--log-opt max-size=\(value): a size such as 10k, 10m or 1g") }
                o.maxSize = n
            case "max-file":
                guard let n = Int(value), n >= 1 else { throw RunError("--log-opt max-file=\(value): a whole number of at least 1") }
                o.maxFile = n
            default:
                throw RunError("--log-opt \(key): unknown log option for json-file (max-size, max-file)")
            }
        }
        if o.maxFile > 1, o.maxSize == nil { throw RunError("--log-opt max-file needs max-size (a log is rotated when it reaches it)") }
        return o
    }

    /// `10k`, `10m`, `1g`, `512` (bytes), as Docker's units.FromHumanSize reads them.
    static func parseSize(_ s: String) -> Int? {
        let lower = s.lowercased()
        let units: [(String, Int)] = [("kb", 1000), ("mb", 1_000_000), ("gb", 1_000_000_000), ("k", 1000), ("m", 1_000_000), ("g", 1_000_000_000), ("b", 1)]
        for (suffix, mult) in units where lower.hasSuffix(suffix) {
            return Int(lower.dropLast(suffix.count)).map { $0 * mult }
        }
        return Int(lower)
    }
}
