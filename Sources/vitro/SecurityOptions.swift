// The security flags of `run` (chapter 07), as Docker spells them. --cap-add,
// --cap-drop and --privileged are RunCommand's own; this group adds the rest and
// turns all of them into `SecuritySettings`.

import VitroCommandLine
import VitroExec
import VitroNamespaces
import VitroSys

struct SecurityOptions: ParsableArguments {
    @Option("--security-opt", help: "Security options: seccomp=FILE, seccomp=unconfined, no-new-privileges.")
    var securityOpt: [String] = []

    @Flag("--read-only", help: "Mount the container's root filesystem read-only.")
    var readOnly = false

    @Option("-u", "--user", help: "Run as this user: UID[:GID] or NAME[:GROUP], from the image's /etc/passwd and /etc/group.")
    var user: String?

    @Option("--ulimit", help: "A resource limit: NAME=SOFT[:HARD] (nofile, nproc, core, stack, …).")
    var ulimit: [String] = []

    @Option("--tmpfs", help: "Mount a tmpfs: PATH[:OPTIONS] (default options noexec,nosuid,nodev).")
    var tmpfs: [String] = []

    @Flag("--init", help: "Run an init inside the container that forwards signals and reaps processes.")
    var `init` = false

    /// Checks every flag and reads the seccomp profile; throws one line on bad input.
    func settings(privileged: Bool) throws(InitError) -> SecuritySettings {
        var s = SecuritySettings()
        s.privileged = privileged
        try s.apply(securityOpts: securityOpt, readFile: { path throws in try Sys.readFile(path) })
        s.readOnlyRootfs = readOnly
        if let user {
            _ = try UserSpec(user)
            s.user = user
        }
        s.ulimits = try ulimit.map { u throws(InitError) in try Ulimit.parse(u) }
        var seen = Set<String>()
        for u in s.ulimits where !seen.insert(u.name).inserted { throw InitError(code: 125, "--ulimit \(u.name) given twice") }
        for t in tmpfs {
            do { s.tmpfs.append(try TmpfsMount.parse(t)) } catch { throw InitError(code: 125, error.message) }
        }
        s.initProcess = `init`
        return s
    }
}

extension RunCommand {
    /// The capabilities and security settings of this run's flags; a bad flag ends
    /// vitro with one line. `exec` takes the container's from its recorded run.
    func security() -> (Set<Int32>?, SecuritySettings) {
        do {
            let caps = privileged ? nil : try Capabilities.resolve(add: capAdd, drop: capDrop)
            return (caps, try securityFlags.settings(privileged: privileged))
        } catch {
            fail(error.message)
        }
    }
}
