// Chapter 08: the containers directory. One directory per container under
// <root>/containers/ID: config.json, state.json (from its first state change: a record
// without one is created, not yet started) and the json-file log; the directory itself
// is the lock (flock) that serialises state changes between vitro processes (a `kill`
// and the monitor recording an exit, say). What a container needs only while it runs is
// in the run root instead (StateRoot.swift), under <run>/containers/ID: the hostname,
// hosts and resolv.conf bound into its /etc, and its published ports. `rm` removes
// both.
//
// The record is written without waiting for the disk: a `--rm` container's is
// removed when it ends (a machine crash before that leaves at most a stale record,
// shown as exited), and any other container's is made durable once its command has
// started (`persist`), off the path that starts it.

import VitroSys
import VitroTrace

#if canImport(Glibc)
import Glibc
#endif

public struct ContainerStore: Sendable {
    public let root: StateRoot
    public init(root: StateRoot) { self.root = root }

    public var directory: String { root.path + "/containers" }
    public func dir(_ id: String) -> String { directory + "/" + id }
    /// The container's run-time files: hostname, hosts, resolv.conf, ports.
    public func runDir(_ id: String) -> String { root.runPath + "/containers/" + id }
    public func logPath(_ id: String) -> String { dir(id) + "/\(id)-json.log" }
    /// The socket a detached container's monitor listens on for `vitro attach`.
    public func attachPath(_ id: String) -> String { dir(id) + "/attach.sock" }

    /// Creates the record of a new container (its name must be free).
    public func create(_ config: ContainerConfig) throws {
        _ = try create(config, generatedName: false)
    }

    /// Creates the record of a new container. A name vitro made up (`generatedName`) that
    /// another vitro claimed since it was picked is no error: nothing is created and it
    /// returns false, so the caller picks another (Docker retries the same way). Two
    /// `run -d` started at the same moment otherwise pick the same free name often:
    /// there are 400 of them.
    public func create(_ config: ContainerConfig, generatedName: Bool) throws -> Bool {
        try Sys.mkdirAll(directory, mode: 0o700, why: "vitro keeps one directory per container")
        // And the run root's, where its /etc files go: made here, so that every run's
        // trace makes the same directories (only its own).
        try Sys.mkdirAll(root.runPath + "/containers", mode: 0o700, why: "the run-time files of containers")
        guard let lock = try Sys.lock(directory + "/.names.lock", why: "names are unique: check and claim under one lock") else {
            throw RunError("cannot lock \(directory)/.names.lock")
        }
        defer { Sys.unlock(lock) }
        if let other = list().first(where: { $0.config.name == config.name }) {
            if generatedName { return false }
            throw RunError("the container name \"/\(config.name)\" is already in use by container \"\(other.id)\"; remove (or rename) that container to reuse the name")
        }
        try Sys.mkdir(dir(config.id), mode: 0o700, existOK: false, why: "this container's state")
        try Sys.writeFileAtomically(dir(config.id) + "/config.json", config.json(), durable: false, why: "what the container was asked to be (durable once it has started, see persist)")
        // No state.json yet: a record without one is a container created and not yet
        // started (load). The first state change writes it: one file fewer per start.
        return true
    }

    /// Replaces one file of the record (config.json, state.json) for readers in one
    /// step. A `--rm` container's is swapped in (Sys.exchangeFile: no flush on ext4; a
    /// crash of the machine may leave it empty, and the record is stale then anyway);
    /// any other's is renamed over the old one, which ext4 makes the old file or the
    /// new one after a crash.
    func replace(_ id: String, _ name: String, _ bytes: [UInt8], autoRemove: Bool, why: String) throws {
        let path = dir(id) + "/" + name
        if autoRemove {
            try Sys.exchangeFile(path, bytes, why: why)
        } else {
            try Sys.writeFileAtomically(path, bytes, durable: false, why: why)
        }
    }

    /// Makes the record survive a crash of the machine: its files' bytes, then the
    /// names (the container's directory in containers/). One fsync on ext4 commits the
    /// journal; the others then find little to do.
    public func persist(_ id: String) {
        guard let fd = try? Sys.open(dir(id) + "/config.json", flags: O_RDONLY | O_CLOEXEC, trace: false) else { return }
        try? Sys.fsync(fd, path: dir(id) + "/config.json", why: "the record survives a crash of the machine from now on")
        Sys.close(fd)
        try? Sys.fsyncDirectory(dir(id), why: "its config.json's name")
        try? Sys.fsyncDirectory(directory, why: "the container's directory's name")
    }

    /// Gives a container another name (unique, as at creation).
    public func rename(_ id: String, to name: String) throws {
        guard ContainerName.isValid(name) else {
            throw RunError("invalid container name \"\(name)\": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
        }
        guard let lock = try Sys.lock(directory + "/.names.lock", why: "names are unique: check and claim under one lock") else { return }
        defer { Sys.unlock(lock) }
        if let other = list().first(where: { $0.config.name == name }) {
            throw RunError("the container name \"/\(name)\" is already in use by container \"\(other.id)\"")
        }
        guard var config = load(id)?.config else { throw RunError("no such container: \(id)") }
        config.name = name
        try Sys.writeFileAtomically(dir(id) + "/config.json", config.json(), why: "rename: the container's new name")
    }

    public func load(_ id: String) -> ContainerRecord? {
        guard let c = try? Sys.readFile(dir(id) + "/config.json"), let cv = try? JSONReader.parse(c),
            let config = try? ContainerConfig(json: cv)
        else { return nil }
        var state = ContainerState()
        if let bytes = try? Sys.readFile(dir(id) + "/state.json") {
            if let v = try? JSONReader.parse(bytes) {
                state = ContainerState(json: v)
            } else {
                // Left empty by a crash of the machine (see replace): whatever ran then has ended.
                state.status = .exited
            }
        }
        return ContainerRecord(config: config, state: state)
    }

    /// Every container, newest first.
    public func list() -> [ContainerRecord] {
        Sys.listDirectory(directory).filter { $0.count == 64 }.compactMap(load).sorted { $0.config.created > $1.config.created }
    }

    /// Finds a container by full id, unique id prefix or name (with or without "/").
    public func find(_ ref: String) throws(RunError) -> ContainerRecord {
        let name = ref.hasPrefix("/") ? String(ref.dropFirst()) : ref
        let all = list()
        if let byID = all.first(where: { $0.id == ref }) { return byID }
        if let byName = all.first(where: { $0.config.name == name }) { return byName }
        let prefixed = all.filter { $0.id.hasPrefix(ref) }
        if prefixed.count == 1, let only = prefixed.first { return only }
        if prefixed.count > 1 { throw RunError("multiple containers match \"\(ref)\": give more of the id") }
        throw RunError("no such container: \(ref)")
    }

    /// Changes the state under the container's lock.
    public func update(_ id: String, _ change: (inout ContainerState) -> Void) throws {
        let lock = try Sys.lockDirectory(dir(id), why: "one writer of the state at a time")
        defer { Sys.unlock(lock) }
        let record = load(id)
        var state = record?.state ?? ContainerState()
        change(&state)
        // Not fsync'ed: a state that a machine crash could lose is stale after the reboot
        // anyway (liveStatus checks pid 1), and every start would pay for the fsyncs.
        try replace(id, "state.json", state.json(), autoRemove: record?.config.autoRemove ?? false, why: "the container's state changed to \(state.status.rawValue)")
    }

    public func remove(_ id: String) throws {
        try Sys.removeTree(runDir(id), why: "the container's run-time files: hostname, hosts, resolv.conf, ports")
        try Sys.removeTree(dir(id), why: "the container is removed with its logs and state")
    }

    /// The status a person should see: a record that says running whose pid 1 is gone
    /// (vitro and its monitor were killed) is really exited.
    public func liveStatus(_ r: ContainerRecord) -> ContainerStatus {
        // Restarting is the monitor's word between two runs; without the monitor, exited.
        if r.state.status == .restarting { return r.state.monitorAlive ? .restarting : .exited }
        guard r.state.status == .running || r.state.status == .paused else { return r.state.status }
        guard let start = processStartTime(r.state.pid), start == r.state.pidStartTime else {
            // pid 1 is gone. Its monitor, while it lives, records the end once it has
            // copied the last output into the log and removed the cgroup; until then the
            // container is still stopping (Docker, too, says exited only after that).
            if r.state.monitorPid != Sys.processID(), r.state.monitorAlive { return r.state.status }
            return .exited
        }
        return r.state.status
    }
}

/// Docker-style generated names: adjective_scientist.
public enum ContainerName {
    static let adjectives = [
        "admiring", "bold", "brave", "clever", "dazzling", "eager", "focused", "gifted", "happy", "jolly",
        "keen", "lucid", "modest", "nifty", "quirky", "serene", "tender", "vibrant", "wizardly", "zealous",
    ]
    static let names = [
        "babbage", "curie", "dijkstra", "einstein", "feynman", "goodall", "hopper", "johnson", "knuth", "lamport",
        "lovelace", "meitner", "noether", "pike", "ritchie", "shannon", "thompson", "torvalds", "turing", "wozniak",
    ]

    public static func generate(taken: Set<String>) -> String {
        var g = SystemRandomNumberGenerator()
        for attempt in 0..<1000 {
            let a = adjectives[Int(g.next(upperBound: UInt(adjectives.count)))]
            let n = names[Int(g.next(upperBound: UInt(names.count)))]
            let name = attempt < 100 ? "\(a)_\(n)" : "\(a)_\(n)\(attempt)"
            if !taken.contains(name) { return name }
        }
        return "vitro_" + ContainerID.make().prefix(8)
    }

    /// Docker's rule: [a-zA-Z0-9][a-zA-Z0-9_.-]+
    public static func isValid(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, s.count >= 2 else { return false }
        func alnum(_ c: Unicode.Scalar) -> Bool { (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || (c >= "0" && c <= "9") }
        return alnum(first) && s.unicodeScalars.dropFirst().allSatisfy { alnum($0) || $0 == "_" || $0 == "." || $0 == "-" }
    }
}
