// The network flags of `run`, as Docker spells them, plus the bridge's own settings
// (dockerd's --bridge, --bip and --mtu; vitro has no daemon, so they are run flags,
// or VITRO_BRIDGE, VITRO_BIP and VITRO_NETWORK in the environment).

import VitroCommandLine
import VitroNetwork
import VitroSys

#if canImport(Glibc)
import Glibc
#endif

struct NetworkOptions: ParsableArguments {
    @Option("--net", "--network", help: "Network mode: bridge (default), none, host or container:NAME.")
    var net: String?

    @Option("-p", "--publish", help: "Publish a container port: [IP:][HOST_PORT:]CONTAINER_PORT[/udp], ranges allowed.")
    var publish: [String] = []

    @Flag("-P", "--publish-all", help: "Publish every exposed port on a port the kernel picks.")
    var publishAll = false

    @Option("--expose", help: "Expose a port or a range of ports (PORT[-PORT][/udp]).")
    var expose: [String] = []

    @Option("--dns", help: "Set a DNS server.")
    var dns: [String] = []

    @Option("--dns-search", help: "Set a DNS search domain.")
    var dnsSearch: [String] = []

    @Option("--add-host", help: "Add a line to /etc/hosts (NAME:IP; IP may be host-gateway).")
    var addHost: [String] = []

    @Option("--link", help: "Link to a running container: NAME or NAME:ALIAS (hosts entry and ALIAS_* variables).")
    var link: [String] = []

    @Option("--bridge", help: "The bridge to attach to (default: $VITRO_BRIDGE or vitro0).")
    var bridge: String?

    @Option("--bip", help: "The bridge's address and subnet (default: $VITRO_BIP or 172.18.0.1/16).")
    var bip: String?

    @Option("--mtu", help: "MTU of the bridge and the container's eth0 (default 1500).")
    var mtu: Int?

    static func env(_ name: String) -> String? {
        guard let v = getenv(name), v.pointee != 0 else { return nil }
        return String(cString: v)
    }

    /// Validates everything before anything is made. `warn` prints a warning line.
    func parse(warn: (String) -> Void) throws(NetworkError) -> NetworkSettings {
        var s = try NetworkSettings.fromEnvironment()
        let mode = try net.map { n throws(NetworkError) in try NetworkMode.parse(n) } ?? s.mode
        s.mode = mode
        s.bridge = try BridgeConfig.parse(name: bridge ?? Self.env("VITRO_BRIDGE"), bip: bip ?? Self.env("VITRO_BIP"), mtu: mtu)
        if case .container = mode, !publish.isEmpty || publishAll {
            throw NetworkError("conflicting options: -p and --net \(mode) (the ports belong to the other container)")
        }
        if case .container = mode {
            // Docker's rules: the other container's network brings its names and resolvers.
            if !dns.isEmpty || !dnsSearch.isEmpty { throw NetworkError("conflicting options: --dns and --net \(mode) (the other container's resolv.conf is used)") }
            if !addHost.isEmpty { throw NetworkError("conflicting options: --add-host and --net \(mode) (the other container's /etc/hosts is used)") }
            if !expose.isEmpty { throw NetworkError("conflicting options: --expose and --net \(mode)") }
        }
        if !link.isEmpty, mode != .bridge {
            throw NetworkError("conflicting options: --link and --net \(mode) (links are addresses on the bridge)")
        }
        var ports: [PortMapping] = []
        for p in publish { ports += try PortMapping.parse(p) }
        var exposed: [(UInt16, SocketKind)] = []
        for e in expose { exposed += try PortMapping.parseExpose(e) }
        s.exposed = exposed.map { "\($0.0)/\($0.1.rawValue)" }
        if publishAll { ports += PortMapping.publishAll(exposed: exposed, besides: ports) }
        if !ports.isEmpty && (mode == .host || mode == .none) {
            warn("published ports are discarded when using --net \(mode)")
            ports = []
        }
        s.ports = ports
        s.publishAll = publishAll && mode == .bridge
        for d in dns {
            guard IPv4Address(d) != nil || (d.contains(":") && d.allSatisfy({ $0.isHexDigit || $0 == ":" })) else {
                throw NetworkError("--dns \(d): not an IP address")
            }
        }
        s.dns = dns
        for d in dnsSearch where d.isEmpty || d.contains(where: { $0.isWhitespace }) {
            throw NetworkError("--dns-search \"\(d)\": not a domain name")
        }
        s.dnsSearch = dnsSearch
        for h in addHost { s.extraHosts.append(try ExtraHost.parse(h)) }
        return s
    }
}
