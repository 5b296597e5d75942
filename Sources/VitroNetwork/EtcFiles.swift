// Chapter 05: the three files that tell a program in the container who it is and how
// to find others: /etc/hostname, /etc/hosts and /etc/resolv.conf. Like Docker, vitro
// writes them under the container's state directory and bind-mounts each over the
// image's file before pivot_root (so the image is not changed, and the container may
// edit them). /etc/hosts is written twice: with the loopback lines before the
// container starts, and again with the container's address once the network stage
// has one; a bind mount shows the same file, so the rewrite (in place, O_TRUNC) is
// what the container sees.
//
// resolv.conf follows Docker: --dns and --dns-search replace the host's nameserver and
// search lines; otherwise the host's are used, without nameservers on 127.0.0.0/8
// (a resolver on the host's loopback cannot be reached from the container's own
// loopback), and with Google's public resolvers when none is left. With --net host the
// host's file is used as it is.

/// `--add-host NAME:IP` (or NAME=IP); IP may be `host-gateway`, the bridge's address.
public struct ExtraHost: Sendable, Equatable {
    public var name: String
    public var address: String

    public static func parse(_ s: String) throws(NetworkError) -> ExtraHost {
        let sep = s.firstIndex(of: "=") ?? s.firstIndex(of: ":")
        guard let sep else { throw NetworkError("--add-host \(s): expected NAME:IP") }
        let name = String(s[..<sep]), ip = String(s[s.index(after: sep)...])
        guard !name.isEmpty, !name.contains(where: { $0.isWhitespace }) else { throw NetworkError("--add-host \(s): invalid host name") }
        guard ip == "host-gateway" || IPv4Address(ip) != nil || (ip.contains(":") && ip.allSatisfy { $0.isHexDigit || $0 == ":" }) else {
            throw NetworkError("--add-host \(s): invalid IP address \"\(ip)\"")
        }
        return ExtraHost(name: name, address: ip)
    }
}

public struct EtcFiles: Sendable, Equatable {
    public var hostname: String
    public var extraHosts: [ExtraHost] = []
    public var dns: [String] = []
    public var dnsSearch: [String] = []

    public init(hostname: String) { self.hostname = hostname }

    public var hostnameFile: String { hostname + "\n" }

    /// Docker's /etc/hosts: loopback lines, --add-host lines, then the container's own
    /// address and name (once it has one). `gateway` replaces `host-gateway`.
    public func hostsFile(address: IPv4Address?, gateway: IPv4Address?) -> String {
        var s = """
            127.0.0.1\tlocalhost
            ::1\tlocalhost ip6-localhost ip6-loopback
            fe00::0\tip6-localnet
            ff00::0\tip6-mcastprefix
            ff02::1\tip6-allnodes
            ff02::2\tip6-allrouters

            """
        for h in extraHosts {
            let ip = h.address == "host-gateway" ? (gateway?.description ?? "127.0.0.1") : h.address
            s += "\(ip)\t\(h.name)\n"
        }
        if let address { s += "\(address)\t\(hostname)\n" }
        return s
    }

    /// The container's resolv.conf made from the host's.
    public func resolvConf(host: String, hostNetwork: Bool) -> String {
        if hostNetwork && dns.isEmpty && dnsSearch.isEmpty { return host }
        var servers: [String] = []
        var search: [String] = []
        var others: [String] = []
        for line in host.split(separator: "\n") {
            let f = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard let key = f.first, !key.hasPrefix("#"), !key.hasPrefix(";") else { continue }
            switch key {
            case "nameserver" where f.count > 1: servers.append(f[1])
            case "search", "domain": search = Array(f.dropFirst())
            default: others.append(String(line))
            }
        }
        if !dns.isEmpty {
            servers = dns
        } else if !hostNetwork {
            servers = servers.filter { !$0.hasPrefix("127.") && $0 != "::1" }
            if servers.isEmpty { servers = ["8.8.8.8", "8.8.4.4"] }
        }
        if !dnsSearch.isEmpty { search = dnsSearch == ["."] ? [] : dnsSearch }
        var s = ""
        if !search.isEmpty { s += "search " + search.joined(separator: " ") + "\n" }
        for n in servers { s += "nameserver \(n)\n" }
        for o in others { s += o + "\n" }
        return s
    }
}
