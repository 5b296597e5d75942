// Chapter 08: `inspect`'s document, with Docker's field names for the fields people
// template on (.Id, .Name, .State.Pid, .State.ExitCode, .State.OOMKilled, .Config.*,
// .NetworkSettings.IPAddress, .Mounts as Docker shows them). HostsPath, HostnamePath and
// ResolvConfPath name the files bound into its /etc, in the run root.

import VitroNetwork
import VitroTrace
import VitroVolumes

public enum ContainerInspect {
    public static func json(_ r: ContainerRecord, store: ContainerStore, ipam: IPAMState = IPAMState()) -> JSONValue {
        let status = store.liveStatus(r)
        let running = status == .running || status == .paused
        let c = r.config, s = r.state
        func strings(_ a: [String]) -> JSONValue { .array(a.map { .string($0) }) }
        let policy = (try? RestartPolicy.parse(c.restartPolicy)) ?? .no
        var logConfig: [(String, JSONValue)] = []
        if let size = c.logOptions.maxSize { logConfig.append(("max-size", .string(String(size)))) }
        if c.logOptions.maxFile > 1 { logConfig.append(("max-file", .string(String(c.logOptions.maxFile)))) }
        let state: JSONValue = .object([
            ("Status", .string(status.rawValue)), ("Running", .bool(running)), ("Paused", .bool(status == .paused)),
            ("Restarting", .bool(status == .restarting)), ("OOMKilled", .bool(s.oomKilled)), ("Dead", .bool(status == .dead)),
            ("Pid", .number(Double(running ? s.pid : 0))), ("ExitCode", .number(Double(s.exitCode))), ("Error", .string(s.error)),
            ("StartedAt", .string(s.startedAt?.rfc3339 ?? "0001-01-01T00:00:00Z")),
            ("FinishedAt", .string(s.finishedAt?.rfc3339 ?? "0001-01-01T00:00:00Z")),
        ])
        let config: JSONValue = .object([
            ("Hostname", .string(c.hostname)), ("Env", strings(c.env)), ("Cmd", strings(c.argv)), ("Image", .string(c.image)),
            ("WorkingDir", .string(c.workdir)), ("Entrypoint", .null), ("Tty", .bool(false)), ("OpenStdin", .bool(false)),
        ])
        return .object([
            ("Id", .string(c.id)), ("Created", .string(c.created.rfc3339)), ("Path", .string(c.argv.first ?? "")),
            ("Args", strings(Array(c.argv.dropFirst()))), ("State", state), ("Image", .string(c.image)),
            ("ResolvConfPath", .string(store.runDir(c.id) + "/resolv.conf")), ("HostnamePath", .string(store.runDir(c.id) + "/hostname")),
            ("HostsPath", .string(store.runDir(c.id) + "/hosts")),
            ("LogPath", .string(store.logPath(c.id))), ("Name", .string("/" + c.name)),
            ("RestartCount", .number(Double(s.restartCount))),
            ("HostConfig", .object([
                ("AutoRemove", .bool(c.autoRemove)),
                ("RestartPolicy", .object([("Name", .string(policy.name)), ("MaximumRetryCount", .number(Double(policy.maxRetries)))])),
                ("LogConfig", .object([("Type", .string(c.logOptions.driver)), ("Config", .object(logConfig))])),
            ])),
            ("GraphDriver", .object([("Name", .string(c.image.isEmpty ? "rootfs" : "overlay2")), ("Data", .object([("RootDir", .string(c.rootfs))]))])),
            ("Mounts", .array((c.mounts ?? []).map { $0.inspectJSON() })), ("Config", config),
            ("NetworkSettings", networkSettings(running ? ipam.entries.first { $0.id == c.id } : nil, ipam: ipam)),
        ])
    }

    /// Docker's NetworkSettings for a container on a bridge: its address while it runs
    /// (the IPAM entry goes when it ends, as Docker empties the fields of a stopped
    /// container) and its published ports by container port.
    static func networkSettings(_ entry: IPAMEntry?, ipam: IPAMState) -> JSONValue {
        guard let entry else {
            return .object([("Bridge", .string("")), ("Gateway", .string("")), ("IPAddress", .string("")), ("IPPrefixLen", .number(0)), ("Ports", .object([]))])
        }
        let network = ipam.networks.first { $0.bridge == entry.bridge }
        var ports: [(String, JSONValue)] = []
        for m in entry.ports.sorted(by: { ($0.containerPort, $0.proto.rawValue) < ($1.containerPort, $1.proto.rawValue) }) {
            let key = "\(m.containerPort)/\(m.proto.rawValue)"
            let binding: JSONValue = .object([("HostIp", .string(m.hostIP.description)), ("HostPort", .string(String(m.hostPort)))])
            if let i = ports.firstIndex(where: { $0.0 == key }), case .array(let a) = ports[i].1 {
                ports[i].1 = .array(a + [binding])
            } else {
                ports.append((key, .array([binding])))
            }
        }
        return .object([
            ("Bridge", .string(entry.bridge)), ("Gateway", .string(network?.gateway.address.description ?? "")),
            ("IPAddress", .string(entry.address.description)), ("IPPrefixLen", .number(Double(network?.gateway.prefix ?? 0))),
            ("Ports", .object(ports)),
        ])
    }

    /// Indented JSON, as docker inspect prints it.
    public static func pretty(_ v: JSONValue, indent: String = "") -> String {
        let inner = indent + "    "
        switch v {
        case .array(let a):
            if a.isEmpty { return "[]" }
            return "[\n" + a.map { inner + pretty($0, indent: inner) }.joined(separator: ",\n") + "\n" + indent + "]"
        case .object(let m):
            if m.isEmpty { return "{}" }
            return "{\n" + m.map { k, x in
                var w = JSONWriter()
                w.string(k)
                return inner + w.text + ": " + pretty(x, indent: inner)
            }.joined(separator: ",\n") + "\n" + indent + "}"
        default:
            var w = JSONWriter()
            w.value(v)
            return w.text
        }
    }
}
