// Chapter 07: the security settings of a container, as `docker run` takes them, in
// one value the runtime carries from the command line to the init spec:
// `--security-opt seccomp=FILE|unconfined`, `--security-opt no-new-privileges`,
// `--privileged`, `--read-only`, `--user`, `--ulimit`, `--tmpfs` and `--init`.
// Everything is parsed and checked here, before any state is made, so bad input gets
// one line and leaves nothing behind.

import VitroNamespaces
import VitroSys

public struct SecuritySettings: Sendable {
    public enum Seccomp: Sendable {
        /// Docker's default profile (built in).
        case dockerDefault
        /// `seccomp=unconfined`, or --privileged: no filter.
        case unconfined
        /// `seccomp=FILE`: the profile read from FILE when the options were parsed.
        case profile(path: String, SeccompProfile)
    }

    public var seccomp: Seccomp = .dockerDefault
    public var noNewPrivileges = false
    /// `--privileged`: no seccomp filter, no masked or read-only /proc paths, every
    /// device (the capabilities are decided with --cap-add and --cap-drop).
    public var privileged = false
    public var readOnlyRootfs = false
    /// `--user`; nil takes the image's User (root when it has none).
    public var user: String?
    public var ulimits: [Ulimit] = []
    public var tmpfs: [TmpfsMount] = []
    /// `--init`: vitro-init stays as pid 1, a reaper that forwards signals.
    public var initProcess = false

    public init() {}

    /// Applies `--security-opt` values; `readFile` reads a profile (vitro's files).
    public mutating func apply(securityOpts: [String], readFile: (String) throws -> [UInt8]) throws(InitError) {
        for opt in securityOpts {
            let (key, value) = SecuritySettings.split(opt)
            switch key {
            case "seccomp":
                guard let value, !value.isEmpty else { throw InitError(code: 125, "--security-opt \(opt): seccomp needs a profile file or \"unconfined\"") }
                if value == "unconfined" {
                    seccomp = .unconfined
                } else {
                    let bytes: [UInt8]
                    do { bytes = try readFile(value) } catch {
                        throw InitError(code: 125, "opening seccomp profile \(value) failed: \(error)")
                    }
                    do {
                        seccomp = .profile(path: value, try SeccompProfile.parse(bytes))
                    } catch {
                        throw InitError(code: 125, "decoding seccomp profile \(value) failed: \(error.message)")
                    }
                }
            case "no-new-privileges":
                switch value {
                case nil, "true": noNewPrivileges = true
                case "false": noNewPrivileges = false
                default: throw InitError(code: 125, "--security-opt \(opt): no-new-privileges takes true or false")
                }
            case "apparmor", "label":
                // Docker ignores these where the LSM is absent; so does vitro, which has none.
                continue
            default:
                throw InitError(code: 125, "invalid --security-opt \(opt): use seccomp=FILE|unconfined or no-new-privileges")
            }
        }
    }

    /// `seccomp=FILE`, Docker's older `seccomp:FILE`, `no-new-privileges`.
    static func split(_ opt: String) -> (String, String?) {
        if let eq = opt.firstIndex(where: { $0 == "=" || $0 == ":" }) {
            return (String(opt[..<eq]), String(opt[opt.index(after: eq)...]))
        }
        return (opt, nil)
    }

    /// The filter pid 1 loads for a container that keeps `capabilities` (nil: all),
    /// compiled now, or nil when there is none (unconfined, privileged).
    /// `cacheDirectory` keeps compiled programs (nil: compile every time).
    public func seccompLoad(capabilities: Set<Int32>?, cacheDirectory: String? = nil) throws(InitError) -> SeccompLoad? {
        if privileged { return nil }
        if case .unconfined = seccomp { return nil }
        let (machine, release) = Sys.machine()
        guard let (arch, scmpArch) = SeccompTarget.architecture(uname: machine) else {
            throw InitError(code: 125, "seccomp: architecture \(machine) is not known to vitro")
        }
        let caps = capabilities ?? Set((0..<Int32(Capabilities.names.count)).map { $0 })
        let target = SeccompTarget(
            arch: arch, scmpArch: scmpArch, kernel: KernelVersion(release) ?? KernelVersion(kernel: 0, major: 0),
            capabilities: Set(caps.map { Capabilities.name($0) }))
        // Docker's default profile is part of this vitro binary: what it compiles to
        // follows from the binary, libseccomp and the target alone, so a cached program
        // is found under those, without parsing and resolving the profile's 400 rules
        // again (half a millisecond of every start).
        var defaultKey: String?
        if case .dockerDefault = seccomp, let cacheDirectory, let key = Self.defaultProfileKey(target) {
            if let cached = SeccompFilter.cached(key: key, cacheDirectory: cacheDirectory) { return SeccompLoad(program: cached, profile: "default") }
            defaultKey = key
        }
        let profile: SeccompProfile
        let source: String
        switch seccomp {
        case .unconfined: return nil
        case .dockerDefault:
            do { profile = try SeccompProfile.dockerDefault() } catch { throw InitError(code: 125, "Docker's default seccomp profile: \(error.message)") }
            source = "default"
        case .profile(let path, let p):
            profile = p
            source = path
        }
        do {
            let filter = profile.resolve(for: target)
            let program: SeccompFilter.Program
            if let cacheDirectory { program = try filter.compile(cacheDirectory: cacheDirectory) } else { program = try filter.compile() }
            if let defaultKey, let cacheDirectory { SeccompFilter.store(program, key: defaultKey, cacheDirectory: cacheDirectory) }
            return SeccompLoad(program: program, profile: source)
        } catch {
            throw InitError(code: 125, "seccomp profile \(source): \(error.message)")
        }
    }

    /// What Docker's default profile compiles to depends on: this vitro binary (the
    /// profile's text and the code that resolves it; any rebuild is another file),
    /// libseccomp's version, and the target. Nil when the binary cannot be identified
    /// or libseccomp cannot be opened (the full path then says why).
    static func defaultProfileKey(_ target: SeccompTarget) -> String? {
        guard let exe = Sys.executableIdentity(), SeccompFilter.libraryVersion != nil else { return nil }
        return [
            "vitro seccomp default 1", "vitro \(exe)", SeccompFilter.libraryVersion ?? "",
            "arch \(target.arch) \(target.scmpArch)", "kernel \(target.kernel.kernel).\(target.kernel.major)",
            "caps " + target.capabilities.sorted().joined(separator: ","),
        ].joined(separator: "\n")
    }
}
