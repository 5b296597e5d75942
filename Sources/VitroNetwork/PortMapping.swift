// Chapter 05: published ports, `-p` in every form Docker documents (docker-run(1),
// "Publish or expose port"):
//
//   -p 8080:80            host port 8080 on every address  -> container port 80
//   -p 127.0.0.1:8080:80  only on that host address
//   -p 127.0.0.1::80      that address, a port the kernel picks
//   -p 80                 every address, a port the kernel picks
//   -p 53:53/udp          UDP (tcp is the default)
//   -p 8000-8002:80-82    a range, port by port (the two ranges have one length)
//   -p 8000-8010:80       the first free host port of the range
//   -p 80-82              each container port on a port the kernel picks
//
// `--expose 80[/udp]` declares a port without publishing it; `-P` publishes every
// exposed port on a port the kernel picks. Parsing happens before anything is made,
// so `-p 70000:80` or `-p abc` is one line and leaves nothing behind.

import VitroSys

public struct PortMapping: Sendable, Equatable, CustomStringConvertible {
    public var proto: SocketKind
    /// 0.0.0.0: every address of the host.
    public var hostIP: IPv4Address
    /// 0: the kernel picks (until the port is bound).
    public var hostPort: UInt16
    /// With a host range and one container port: the last host port to try.
    public var hostPortLast: UInt16?
    public var containerPort: UInt16

    public init(proto: SocketKind = .tcp, hostIP: IPv4Address = .any, hostPort: UInt16, hostPortLast: UInt16? = nil, containerPort: UInt16) {
        self.proto = proto
        self.hostIP = hostIP
        self.hostPort = hostPort
        self.hostPortLast = hostPortLast
        self.containerPort = containerPort
    }

    /// `0.0.0.0:8080->80/tcp`, as `docker ps` shows a mapping.
    public var description: String { "\(hostIP):\(hostPort)->\(containerPort)/\(proto.rawValue)" }

    /// Parses one `-p` value into its mappings.
    public static func parse(_ spec: String) throws(NetworkError) -> [PortMapping] {
        func bad(_ why: String) -> NetworkError { NetworkError("-p \(spec): \(why)") }
        var rest = Substring(spec)
        var proto = SocketKind.tcp
        if let slash = rest.lastIndex(of: "/") {
            let p = rest[rest.index(after: slash)...].lowercased()
            switch p {
            case "tcp": proto = .tcp
            case "udp": proto = .udp
            case "sctp": throw bad("sctp is not supported (tcp or udp)")
            default: throw bad("unknown protocol \"\(p)\" (tcp or udp)")
            }
            rest = rest[..<slash]
        }
        if rest.hasPrefix("[") { throw bad("IPv6 addresses are not supported yet") }
        let parts = rest.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        var ip = IPv4Address.any
        var hostText = ""
        let ctrText: String
        switch parts.count {
        case 1: ctrText = parts[0]
        case 2: (hostText, ctrText) = (parts[0], parts[1])
        case 3:
            guard let a = IPv4Address(parts[0]) else { throw bad("invalid host address \"\(parts[0])\"") }
            (ip, hostText, ctrText) = (a, parts[1], parts[2])
        default: throw bad("too many ':' (use [IP:][HOST_PORT:]CONTAINER_PORT[/PROTO])")
        }
        if let out = outOfRange(ctrText) { throw bad("invalid container port \(out) (ports are 1 to 65535)") }
        guard let ctr = range(ctrText) else { throw bad("invalid container port \"\(ctrText)\"") }
        if parts.count == 2 && hostText.isEmpty { throw bad("missing host port before ':'") }
        if hostText.isEmpty {
            return ctr.map { PortMapping(proto: proto, hostIP: ip, hostPort: 0, containerPort: $0) }
        }
        if let out = outOfRange(hostText) { throw bad("invalid host port \(out) (ports are 1 to 65535)") }
        guard let host = range(hostText) else { throw bad("invalid host port \"\(hostText)\"") }
        if ctr.count == 1 && host.count > 1 {
            return [PortMapping(proto: proto, hostIP: ip, hostPort: host.lowerBound, hostPortLast: host.upperBound, containerPort: ctr.lowerBound)]
        }
        guard host.count == ctr.count else {
            throw bad("the host range has \(host.count) ports and the container range \(ctr.count)")
        }
        return zip(host, ctr).map { PortMapping(proto: proto, hostIP: ip, hostPort: $0, containerPort: $1) }
    }

    /// `80` or `8000-8010`, each 1...65535; nil if not.
    static func range(_ s: String) -> ClosedRange<UInt16>? {
        let ends = s.split(separator: "-", omittingEmptySubsequences: false)
        guard ends.count == 1 || ends.count == 2 else { return nil }
        var values: [UInt16] = []
        for e in ends {
            guard !e.isEmpty, e.count <= 5, e.allSatisfy({ $0.isASCII && $0.isNumber }), let v = UInt16(e), v > 0 else { return nil }
            values.append(v)
        }
        guard let lo = values.first, let hi = values.last, lo <= hi else { return nil }
        return lo...hi
    }

    /// A number that is a port by its form but not in 1...65535 ("70000", "0").
    static func outOfRange(_ s: String) -> String? {
        for e in s.split(separator: "-") where e.allSatisfy({ $0.isASCII && $0.isNumber }) && !e.isEmpty {
            if let v = Int(e), v < 1 || v > 65535 { return String(e) }
            if e.count > 5 { return String(e) }
        }
        return nil
    }

    /// `--expose 80`, `--expose 8000-8010/udp`: the container ports it names.
    public static func parseExpose(_ spec: String) throws(NetworkError) -> [(UInt16, SocketKind)] {
        var rest = Substring(spec)
        var proto = SocketKind.tcp
        if let slash = rest.lastIndex(of: "/") {
            switch rest[rest.index(after: slash)...].lowercased() {
            case "tcp": proto = .tcp
            case "udp": proto = .udp
            default: throw NetworkError("--expose \(spec): unknown protocol (tcp or udp)")
            }
            rest = rest[..<slash]
        }
        guard let r = range(String(rest)) else { throw NetworkError("--expose \(spec): invalid port (ports are 1 to 65535)") }
        return r.map { ($0, proto) }
    }

    /// `-P`: every exposed port not already published by a `-p`, on a port the kernel picks.
    public static func publishAll(exposed: [(UInt16, SocketKind)], besides published: [PortMapping]) -> [PortMapping] {
        var out: [PortMapping] = []
        for (port, proto) in exposed where !published.contains(where: { $0.containerPort == port && $0.proto == proto }) {
            if out.contains(where: { $0.containerPort == port && $0.proto == proto }) { continue }
            out.append(PortMapping(proto: proto, hostPort: 0, containerPort: port))
        }
        return out
    }

    /// What `docker port CONTAINER [PORT[/PROTO]]` prints: without a port, one
    /// `80/tcp -> 0.0.0.0:8080` line per mapping in container-port order; with one,
    /// the `0.0.0.0:8080` lines for it, or an error when it is not published.
    public static func portCommandLines(_ mappings: [PortMapping], query: String?, container: String) throws(NetworkError) -> [String] {
        let sorted = mappings.sorted { ($0.containerPort, $0.proto.rawValue, $0.hostPort) < ($1.containerPort, $1.proto.rawValue, $1.hostPort) }
        guard let query else {
            return sorted.map { "\($0.containerPort)/\($0.proto.rawValue) -> \($0.hostIP):\($0.hostPort)" }
        }
        let pieces = query.split(separator: "/", omittingEmptySubsequences: false)
        guard pieces.count <= 2, let port = UInt16(pieces[0]), port > 0 else {
            throw NetworkError("invalid port \"\(query)\" (PORT or PORT/PROTO)")
        }
        let proto = pieces.count == 2 ? String(pieces[1]).lowercased() : "tcp"
        let hits = sorted.filter { $0.containerPort == port && $0.proto.rawValue == proto }
        guard !hits.isEmpty else { throw NetworkError("No public port '\(port)/\(proto)' published for \(container)") }
        return hits.map { "\($0.hostIP):\($0.hostPort)" }
    }

    /// The one-line form kept in the container's `ports` file and the IPAM entry.
    public var record: String { "\(proto.rawValue) \(hostIP) \(hostPort) \(containerPort)" }

    public init?(record: String) {
        let f = record.split(separator: " ").map(String.init)
        guard f.count == 4, let p = SocketKind(rawValue: f[0]), let ip = IPv4Address(f[1]), let h = UInt16(f[2]), let c = UInt16(f[3]) else { return nil }
        self.init(proto: p, hostIP: ip, hostPort: h, containerPort: c)
    }
}
