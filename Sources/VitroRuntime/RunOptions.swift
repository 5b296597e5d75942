// Chapter 08: what `vitro run` was asked to do, in the runtime's own vocabulary.

import VitroCgroups
import VitroExec
import VitroImage
import VitroNetwork
import VitroSys
import VitroVolumes

#if canImport(Glibc)
import Glibc
#endif

public struct RunOptions: Sendable {
    /// A directory to use as the root filesystem (the runc-like escape hatch), or nil for
    /// the built-in busybox image.
    public var rootfs: String?
    public var argv: [String]
    /// `-e K=V` (or `-e K`, taken from vitro's own environment when set).
    public var env: [String] = []
    /// `-w`; nil takes the image's WorkingDir, or "/".
    public var workdir: String?
    /// The image to run (`busybox`, `host:port/repo:tag`) when there is no rootfs; the
    /// built-in busybox image is `vitro/busybox`.
    public var image: String?
    /// How to pull the image when it is not in the store.
    public var pull = PullOptions()
    public var hostname: String?
    /// `--trace FILE`; nil writes to the state root's traces directory.
    public var traceFile: String?
    /// `--trace-off`: record nothing (for measuring what tracing costs).
    public var traceOff = false
    /// Print the trace as a narrated lab notebook on stderr.
    public var narrate = false
    /// Where narration goes (stderr by default) and whether each call's why and shell
    /// line are shown too.
    public var narrateFD: Int32 = 2
    public var explain = false
    public var stateRoot = StateRoot()
    /// The container's stdin, stdout and stderr (vitro's own by default; a detached
    /// container's monitor passes /dev/null and its log pipes).
    public var stdio: [Int32] = [0, 1, 2]
    /// `-t`: the container gets a pseudo-terminal (made by pid 1, copied by vitro).
    public var tty = false
    /// `-i`: with -t, vitro copies `stdio[0]` into the pty (without -t the container
    /// reads `stdio[0]` directly). A detached container's monitor gives it a stdin pipe
    /// (or the pty) that attach clients write into instead.
    public var interactive = false
    /// `vitro exec`: the host pid of the running container's pid 1 to join; nil makes
    /// a new container.
    public var join: Int32?
    /// `vitro exec`: the container's environment, which -e adds to (a run takes the
    /// image's instead).
    public var containerEnv: [String] = []
    /// A container id decided beforehand (a detached run's record exists first).
    public var containerID: String?
    /// The capabilities the command keeps: Docker's default set unless --cap-add,
    /// --cap-drop or --privileged (nil: all of them) say otherwise.
    public var capabilities: Set<Int32>? = Capabilities.dockerDefault
    /// Seccomp, no-new-privileges, --privileged, --read-only, --user, --ulimit,
    /// --tmpfs and --init (chapter 07).
    public var security = SecuritySettings()
    /// `--link NAME:ALIAS`: running containers whose address and ports this one learns.
    public var links: [String] = []
    /// `--net container:NAME`, resolved: the other container's pid 1 and its directory
    /// (whose hostname, hosts and resolv.conf this container shares, as with Docker).
    public var networkPeer: (pid: Int32, directory: String, hostname: String)?
    /// `-m`, `--cpus`, `--pids-limit` and the rest, already validated.
    public var cgroupLimits = CgroupLimits()
    /// `--net`, `-p`, `--dns` and the rest, already validated. The default comes from
    /// VITRO_NETWORK, VITRO_BRIDGE and VITRO_BIP (bridge mode on vitro0 without them);
    /// when those are not valid, the container gets no network rather than a guess.
    public var network = (try? NetworkSettings.fromEnvironment()) ?? NetworkSettings(mode: .none)
    /// `-v` and `--mount`, already parsed.
    public var volumes: [VolumeSpec] = []
    /// `--volumes-from`; the run's record resolves them into `inheritedMounts`.
    public var volumesFrom: [VolumesFrom] = []
    public var inheritedMounts: [MountPoint] = []
    /// `start`/`restart`: the mount points the container's record keeps, mounted again
    /// as they are (the same anonymous volumes); nil makes them from the options.
    public var recordedMounts: [MountPoint]?
    /// The image's Entrypoint replaced (`docker run --entrypoint`); `[]` runs the command
    /// as given, as a Dockerfile's RUN does (chapter 10). nil keeps the image's.
    public var entrypoint: [String]?
    /// The caller has set up the tracer's sinks (`vitro build` writes one trace for all
    /// its steps): the run adds no trace file of its own and removes no sink when it ends.
    public var tracedByCaller = false

    public init(rootfs: String?, argv: [String]) {
        self.rootfs = rootfs
        self.argv = argv
    }

    /// The container's environment: Docker's defaults, then the user's -e. HOME is
    /// added by pid 1 from the user's passwd entry when none is set (as runc does).
    func environment(hostname: String, image: [String] = []) -> [String] {
        var env = ["PATH=\(CommandLookup.defaultPath)", "HOSTNAME=\(hostname)"]
        for e in image {
            let key = e.split(separator: "=", maxSplits: 1).first.map(String.init) ?? e
            env.removeAll { $0.hasPrefix(key + "=") }
            env.append(e)
        }
        for e in self.env {
            if let eq = e.firstIndex(of: "=") {
                let key = e[..<eq]
                env.removeAll { $0.hasPrefix(key + "=") }
                env.append(e)
            } else if let v = getenv(e) {
                env.removeAll { $0.hasPrefix(e + "=") }
                env.append(e + "=" + String(cString: v))
            }
        }
        return env
    }
}

/// A failure that stops a run before the container's command starts. `code` is the
/// exit status vitro reports: 125 for vitro's own errors, 126/127 as Docker has them.
public struct RunError: Error, CustomStringConvertible {
    public var code: Int32
    public var message: String
    /// Bad input found only once the run had begun (a user the image does not have):
    /// the container's record is removed too, so nothing is left behind.
    public var input = false
    public init(code: Int32 = 125, _ message: String, input: Bool = false) {
        self.code = code
        self.message = message
        self.input = input
    }
    public var description: String { message }
}
