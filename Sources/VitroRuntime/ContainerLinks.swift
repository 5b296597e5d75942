// Chapter 05/08: `--link name:alias`, Docker's legacy links. The new container learns
// where a running one is without any discovery service: an /etc/hosts entry for the
// alias, the name and the short id, and environment variables named after the alias
// (DB_PORT_5432_TCP_ADDR=172.18.0.2 and the rest, DB_ENV_* for the other's -e values),
// all computed once, when the container starts — as with Docker, they do not follow the
// other container if it restarts with another address.

import VitroNetwork
import VitroSys

public enum ContainerLinks {
    /// `NAME[:ALIAS]` → (name, alias).
    public static func parse(_ spec: String) throws(RunError) -> (String, String) {
        let parts = spec.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard (1...2).contains(parts.count), !parts[0].isEmpty, parts.last?.isEmpty == false else {
            throw RunError("--link \(spec): expected NAME or NAME:ALIAS")
        }
        return (parts[0].hasPrefix("/") ? String(parts[0].dropFirst()) : parts[0], parts.count == 2 ? parts[1] : parts[0])
    }

    /// The environment and hosts entries for `links`, seen from the container `own`.
    public static func resolve(_ links: [String], own: String, store: ContainerStore, ipam: IPAMStore) throws(RunError) -> (env: [String], hosts: [ExtraHost]) {
        var env: [String] = []
        var hosts: [ExtraHost] = []
        let state = ipam.read()
        for spec in links {
            let (name, alias) = try parse(spec)
            let other: ContainerRecord
            do { other = try store.find(name) } catch { throw RunError("--link \(spec): \(error.message)") }
            guard store.liveStatus(other) == .running else { throw RunError("--link \(spec): container \(other.config.name) is not running") }
            guard let entry = state.entries.first(where: { $0.id == other.id }) else {
                throw RunError("--link \(spec): container \(other.config.name) has no address on a bridge (is it --net none or host?)")
            }
            let ip = entry.address.description
            let prefix = variable(alias)
            env.append("\(prefix)_NAME=/\(own)/\(alias)")
            var seen = Set<String>()
            // What it exposes (its image's EXPOSE, --expose), published or not, and what
            // it publishes (a record from before ExposedPorts was kept has only these).
            var exposed = entry.ports.map { ($0.containerPort, $0.proto.rawValue) }
            for e in other.config.exposedPorts {
                for (port, proto) in (try? PortMapping.parseExpose(e)) ?? [] { exposed.append((port, proto.rawValue)) }
            }
            let ports = exposed.filter { seen.insert("\($0.0)/\($0.1)").inserted }.sorted { ($0.0, $0.1) < ($1.0, $1.1) }
            for (port, proto) in ports {
                let key = "\(prefix)_PORT_\(port)_\(proto.uppercased())"
                env += ["\(key)=\(proto)://\(ip):\(port)", "\(key)_ADDR=\(ip)", "\(key)_PORT=\(port)", "\(key)_PROTO=\(proto)"]
            }
            if let (port, proto) = ports.first { env.append("\(prefix)_PORT=\(proto)://\(ip):\(port)") }
            for e in other.config.env {
                guard let eq = e.firstIndex(of: "=") else { continue }
                let key = String(e[..<eq])
                if ["PATH", "HOME", "HOSTNAME"].contains(key) { continue }
                env.append("\(prefix)_ENV_\(key)=\(e[e.index(after: eq)...])")
            }
            for host in Set([alias, other.config.name, String(other.id.prefix(12))]).sorted() {
                if let h = try? ExtraHost.parse("\(host):\(ip)") { hosts.append(h) }
            }
        }
        return (env, hosts)
    }

    /// "db-1" → "DB_1": an alias as an environment variable prefix.
    static func variable(_ alias: String) -> String {
        String(alias.uppercased().map { $0.isLetter || $0.isNumber ? $0 : "_" })
    }
}
