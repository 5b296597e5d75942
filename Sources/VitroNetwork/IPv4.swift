// Chapter 05: IPv4 addresses and subnets, the small arithmetic a bridge network needs.
// An address is a 32-bit number; a subnet is an address with a prefix length, written
// as Docker's `--bip` takes it: the gateway's address and the prefix, `172.18.0.1/16`.

/// An IPv4 address, as a number in host order (172.18.0.1 is 0xAC120001).
public struct IPv4Address: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var value: UInt32
    public init(_ value: UInt32) { self.value = value }

    /// Parses dotted-quad notation; nil for anything else.
    public init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var v: UInt32 = 0
        for p in parts {
            guard !p.isEmpty, p.count <= 3, p.allSatisfy(\.isASCII), let n = UInt8(p) else { return nil }
            v = v << 8 | UInt32(n)
        }
        value = v
    }

    /// The four bytes in network order, as netlink and sockets want them.
    public var bytes: [UInt8] { [UInt8(value >> 24), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)] }

    public init(bytes b: ArraySlice<UInt8>) {
        let a = Array(b)
        value = a.count == 4 ? UInt32(a[0]) << 24 | UInt32(a[1]) << 16 | UInt32(a[2]) << 8 | UInt32(a[3]) : 0
    }

    public var description: String { bytes.map(String.init).joined(separator: ".") }
    public static func < (a: IPv4Address, b: IPv4Address) -> Bool { a.value < b.value }
    public static let any = IPv4Address(0)
    public static let loopback = IPv4Address(0x7f00_0001)
}

/// An address with its prefix: `172.18.0.1/16` is the gateway 172.18.0.1 on the
/// network 172.18.0.0/16.
public struct IPv4Subnet: Sendable, Hashable, CustomStringConvertible {
    public var address: IPv4Address
    public var prefix: Int

    public init(address: IPv4Address, prefix: Int) {
        self.address = address
        self.prefix = prefix
    }

    /// Parses `A.B.C.D/N`; nil for anything else.
    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let a = IPv4Address(String(parts[0])), let n = Int(parts[1]), (0...32).contains(n) else { return nil }
        address = a
        prefix = n
    }

    public var mask: UInt32 { prefix == 0 ? 0 : UInt32.max << UInt32(32 - prefix) }
    public var network: IPv4Address { IPv4Address(address.value & mask) }
    public var broadcast: IPv4Address { IPv4Address(address.value | ~mask) }
    /// `172.18.0.0/16`: the network in CIDR form (what a route or an nft rule names).
    public var cidr: String { "\(network)/\(prefix)" }
    public var description: String { "\(address)/\(prefix)" }

    public func contains(_ a: IPv4Address) -> Bool { a.value & mask == network.value }

    public func overlaps(_ other: IPv4Subnet) -> Bool {
        let m = prefix < other.prefix ? mask : other.mask
        return network.value & m == other.network.value & m
    }

    /// Addresses a container may get: the network's, the gateway's and the broadcast
    /// address excluded.
    public var hosts: ClosedRange<UInt32>? {
        guard prefix <= 30 else { return nil }
        return (network.value + 1)...(broadcast.value - 1)
    }

    /// The RFC 1918 ranges: a bridge subnet must be private.
    public var isPrivate: Bool {
        [IPv4Subnet(address: IPv4Address(0x0a00_0000), prefix: 8), IPv4Subnet(address: IPv4Address(0xac10_0000), prefix: 12),
         IPv4Subnet(address: IPv4Address(0xc0a8_0000), prefix: 16)].contains { $0.prefix <= prefix && $0.contains(address) }
    }
}
