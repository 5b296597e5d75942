// Chapter 08: what vitro remembers about a container. `config.json` is written once
// when the container is made (what was asked for); `state.json` changes as it runs
// (status, pid, exit code). Both are rewritten atomically (temp file, fsync, rename)
// under the container's lock, so `ps`, `inspect` and the monitor never see half a file.

import VitroSys
import VitroTrace
import VitroVolumes

public enum ContainerStatus: String, Sendable {
    case created, running, paused, restarting, exited, dead
}

public struct ContainerConfig: Sendable, Equatable {
    public var id: String
    public var name: String
    public var created: WallTime
    public var image: String
    /// The id (config digest) of the image the container was made from, once its
    /// image has been resolved: a tag may move to another image later, the container's
    /// layers do not (commit and diff need these).
    public var imageID: String = ""
    public var rootfs: String
    public var argv: [String]
    public var env: [String]
    public var workdir: String
    public var hostname: String
    public var detached: Bool
    public var autoRemove: Bool
    /// The arguments of the `vitro run` that made it: `start` and `restart` run it again
    /// with the same options.
    public var runArgs: [String] = []
    /// `--restart`, as given (`on-failure:3`).
    public var restartPolicy = "no"
    /// `--log-driver` and `--log-opt`.
    public var logOptions = LogOptions()
    /// Its mounts, once the run has made them (chapter 06); nil before.
    public var mounts: [MountPoint]?
    /// The ports it exposes, as Docker's Config.ExposedPorts ("5432/tcp"): the image's
    /// EXPOSE, --expose and the container side of -p. A container linked to it learns
    /// them (`DB_PORT_5432_TCP`), published or not.
    public var exposedPorts: [String] = []

    func json() -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.key("Id"); w.string(id)
        w.key("Name"); w.string(name)
        w.key("Created"); w.string(created.rfc3339)
        w.key("Image"); w.string(image)
        if !imageID.isEmpty { w.key("ImageID"); w.string(imageID) }
        w.key("Rootfs"); w.string(rootfs)
        w.key("Args"); w.beginArray(); for a in argv { w.string(a) }; w.endArray()
        w.key("Env"); w.beginArray(); for e in env { w.string(e) }; w.endArray()
        w.key("WorkingDir"); w.string(workdir)
        w.key("Hostname"); w.string(hostname)
        w.key("Detached"); w.bool(detached)
        w.key("AutoRemove"); w.bool(autoRemove)
        w.key("RunArgs"); w.beginArray(); for a in runArgs { w.string(a) }; w.endArray()
        w.key("RestartPolicy"); w.string(restartPolicy)
        w.key("LogDriver"); w.string(logOptions.driver)
        w.key("LogMaxSize"); w.int(Int64(logOptions.maxSize ?? 0))
        w.key("LogMaxFile"); w.int(Int64(logOptions.maxFile))
        if let mounts { w.key("Mounts"); w.value(.array(mounts.map { $0.json() })) }
        if !exposedPorts.isEmpty { w.key("ExposedPorts"); w.beginArray(); for p in exposedPorts { w.string(p) }; w.endArray() }
        w.endObject()
        return w.bytes
    }

    init(
        id: String, name: String, created: WallTime, image: String, rootfs: String, argv: [String], env: [String],
        workdir: String, hostname: String, detached: Bool, autoRemove: Bool
    ) {
        self.id = id
        self.name = name
        self.created = created
        self.image = image
        self.rootfs = rootfs
        self.argv = argv
        self.env = env
        self.workdir = workdir
        self.hostname = hostname
        self.detached = detached
        self.autoRemove = autoRemove
    }

    init(json v: JSONValue) throws(RunError) {
        guard let id = v["Id"]?.string, let name = v["Name"]?.string else { throw RunError("container config: no Id or Name") }
        self.id = id
        self.name = name
        created = v["Created"]?.string.flatMap { WallTime(rfc3339: $0) } ?? WallTime(seconds: 0)
        image = v["Image"]?.string ?? ""
        imageID = v["ImageID"]?.string ?? ""
        rootfs = v["Rootfs"]?.string ?? ""
        argv = v["Args"]?.array?.compactMap(\.string) ?? []
        env = v["Env"]?.array?.compactMap(\.string) ?? []
        workdir = v["WorkingDir"]?.string ?? "/"
        hostname = v["Hostname"]?.string ?? ""
        detached = v["Detached"]?.bool ?? false
        autoRemove = v["AutoRemove"]?.bool ?? false
        runArgs = v["RunArgs"]?.array?.compactMap(\.string) ?? []
        exposedPorts = v["ExposedPorts"]?.array?.compactMap(\.string) ?? []
        restartPolicy = v["RestartPolicy"]?.string ?? "no"
        logOptions.driver = v["LogDriver"]?.string ?? "json-file"
        logOptions.maxSize = v["LogMaxSize"]?.int.flatMap { $0 > 0 ? Int($0) : nil }
        logOptions.maxFile = max(1, Int(v["LogMaxFile"]?.int ?? 1))
        mounts = v["Mounts"]?.array?.compactMap { try? MountPoint(json: $0) }
    }
}

public struct ContainerState: Sendable, Equatable {
    public var status: ContainerStatus = .created
    /// Host pid of the container's pid 1 while it runs.
    public var pid: Int32 = 0
    /// Its start time in clock ticks since boot (/proc/PID/stat field 22), to tell it
    /// from a later process that got the same pid.
    public var pidStartTime: UInt64 = 0
    /// The process that watches this run (a detached run's monitor, or the foreground
    /// vitro), and its start time, as for pid 1: a later process with its pid is not it.
    public var monitorPid: Int32 = 0
    public var monitorStartTime: UInt64 = 0
    public var exitCode: Int32 = 0
    public var oomKilled = false
    public var error = ""
    public var startedAt: WallTime?
    public var finishedAt: WallTime?
    /// How many times the monitor has run the container again (--restart).
    public var restartCount = 0
    /// A person stopped it (`stop`, `kill`, `rm -f`): the restart policy does not apply.
    public var manuallyStopped = false

    public init() {}

    func json() -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.key("Status"); w.string(status.rawValue)
        w.key("Pid"); w.int(Int64(pid))
        w.key("PidStartTime"); w.uint(pidStartTime)
        w.key("MonitorPid"); w.int(Int64(monitorPid))
        w.key("MonitorStartTime"); w.uint(monitorStartTime)
        w.key("ExitCode"); w.int(Int64(exitCode))
        w.key("OOMKilled"); w.bool(oomKilled)
        w.key("Error"); w.string(error)
        w.key("StartedAt"); w.string(startedAt?.rfc3339 ?? "0001-01-01T00:00:00Z")
        w.key("FinishedAt"); w.string(finishedAt?.rfc3339 ?? "0001-01-01T00:00:00Z")
        w.key("RestartCount"); w.int(Int64(restartCount))
        w.key("ManuallyStopped"); w.bool(manuallyStopped)
        w.endObject()
        return w.bytes
    }

    init(json v: JSONValue) {
        status = ContainerStatus(rawValue: v["Status"]?.string ?? "") ?? .dead
        pid = Int32(v["Pid"]?.int ?? 0)
        pidStartTime = UInt64(max(0, v["PidStartTime"]?.int ?? 0))
        monitorPid = Int32(v["MonitorPid"]?.int ?? 0)
        monitorStartTime = UInt64(max(0, v["MonitorStartTime"]?.int ?? 0))
        exitCode = Int32(v["ExitCode"]?.int ?? 0)
        oomKilled = v["OOMKilled"]?.bool ?? false
        error = v["Error"]?.string ?? ""
        startedAt = v["StartedAt"]?.string.flatMap { WallTime(rfc3339: $0) }.flatMap { $0.seconds > 0 ? $0 : nil }
        finishedAt = v["FinishedAt"]?.string.flatMap { WallTime(rfc3339: $0) }.flatMap { $0.seconds > 0 ? $0 : nil }
        restartCount = Int(v["RestartCount"]?.int ?? 0)
        manuallyStopped = v["ManuallyStopped"]?.bool ?? false
    }
}

/// A container as the commands see it: its config and its current state.
public struct ContainerRecord: Sendable {
    public var config: ContainerConfig
    public var state: ContainerState
    public var id: String { config.id }
}

extension ContainerState {
    /// Whether the run's monitor still lives: its pid, started when the record says (a
    /// record from before MonitorStartTime was kept: its pid alone). After a reboot, or
    /// a monitor killed long ago, another process may hold the pid.
    public var monitorAlive: Bool {
        guard let start = processStartTime(monitorPid) else { return false }
        return monitorStartTime == 0 || start == monitorStartTime
    }
}

/// Start time of a process in clock ticks since boot, from /proc/PID/stat; nil when
/// there is no such process, or only its zombie: a process that has exited but is not
/// reaped yet has done all it will do. (A detached container's monitor is reparented
/// to the machine's init when `run -d` returns; an init that reaps late, as some VM
/// and container inits do, would otherwise keep `rm -f` and `stop` waiting on it.)
public func processStartTime(_ pid: Int32) -> UInt64? {
    guard pid > 0, let text = try? Sys.readText("/proc/\(pid)/stat"), let close = text.lastIndex(of: ")") else { return nil }
    let fields = text[text.index(after: close)...].split(separator: " ")
    // After the command come: state (field 3) … starttime is field 22 overall.
    guard fields.count > 19, fields[0] != "Z", fields[0] != "X" else { return nil }
    return UInt64(fields[19])
}
