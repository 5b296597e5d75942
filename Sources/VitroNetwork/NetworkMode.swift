// Chapter 05: `--net`, which network a container gets (Docker's --network):
//
//   bridge            its own namespace, a veth to the bridge, an address, NAT (default)
//   none              its own namespace with only lo
//   host              no namespace of its own: the host's interfaces, as they are
//   container:NAME    another running container's namespace (its lo, eth0, ports, names)

public enum NetworkMode: Sendable, Equatable, CustomStringConvertible {
    case bridge
    case none
    case host
    case container(String)

    public static func parse(_ s: String) throws(NetworkError) -> NetworkMode {
        switch s {
        case "bridge", "default": return .bridge
        case "none": return .none
        case "host": return .host
        default:
            if s.hasPrefix("container:") {
                let name = String(s.dropFirst("container:".count))
                guard !name.isEmpty else { throw NetworkError("--net \(s): name the container (container:NAME)") }
                return .container(name)
            }
            throw NetworkError("--net \(s): unknown network mode (bridge, none, host or container:NAME)")
        }
    }

    public var description: String {
        switch self {
        case .bridge: return "bridge"
        case .none: return "none"
        case .host: return "host"
        case .container(let n): return "container:" + n
        }
    }

    /// Whether the container gets a network namespace of its own.
    public var ownNamespace: Bool { self == .bridge || self == .none }
}
