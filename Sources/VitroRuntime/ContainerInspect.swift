// Chapter 08: `inspect`'s document, with Docker's field names for the fields people
// template on (.Id, .Name, .State.Pid, .State.ExitCode, .State.OOMKilled, .Config.*,
// .NetworkSettings.IPAddress, .Mounts as Docker shows them).

import VitroTrace
import VitroVolumes

public enum ContainerInspect {
    public static func json(_ r: ContainerRecord, store: ContainerStore) -> JSONValue {
        let status = store.liveStatus(r)
        let running = status == .running || status == .paused
        let c = r.config, s = r.state
        func strings(_ a: [String]) -> JSONValue { .array(a.map { .string($0) }) }
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
            ("LogPath", .string(store.logPath(c.id))), ("Name", .string("/" + c.name)),
            ("HostConfig", .object([("AutoRemove", .bool(c.autoRemove))])),
            ("GraphDriver", .object([("Name", .string(c.image.isEmpty ? "rootfs" : "overlay2")), ("Data", .object([("RootDir", .string(c.rootfs))]))])),
            ("Mounts", .array((c.mounts ?? []).map { $0.inspectJSON() })), ("Config", config),
            ("NetworkSettings", .object([("IPAddress", .string("")), ("Ports", .object([]))])),
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
