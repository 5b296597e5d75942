// Chapter 05: netlink messages, built and read byte by byte (netlink(7), rtnetlink(7)).
//
// A message is a 16-byte header (`struct nlmsghdr`: length, type, flags, sequence
// number, port id), a fixed family header (`struct ifinfomsg` for links, `ifaddrmsg`
// for addresses, `rtmsg` for routes), then attributes. An attribute (`struct rtattr`)
// is a 2-byte length, a 2-byte type and its data, padded to 4 bytes; a nested
// attribute's data is itself a list of attributes (a veth's peer is a whole link
// description nested three deep). Lengths of nests are known only once their contents
// are written, so the builder remembers where each nest starts and patches its length
// when it closes. Everything is little-endian here (the host's order), except
// addresses, which are in network order.

public struct NetlinkMessage: Sendable {
    public private(set) var bytes: [UInt8]
    private var open: [Int] = []

    /// Starts a message: the header (length patched in `finished`) and the family
    /// header's bytes.
    public init(type: UInt16, flags: UInt16, seq: UInt32, header: [UInt8]) {
        bytes = []
        bytes.reserveCapacity(128)
        put32(0)
        put16(type)
        put16(flags)
        put32(seq)
        put32(0)  // port id: 0, the kernel fills in ours
        bytes += header
        pad()
    }

    mutating func put16(_ v: UInt16) { bytes += [UInt8(v & 0xff), UInt8(v >> 8)] }
    mutating func put32(_ v: UInt32) { bytes += [UInt8(v & 0xff), UInt8(v >> 8 & 0xff), UInt8(v >> 16 & 0xff), UInt8(v >> 24)] }
    mutating func pad() { while bytes.count % 4 != 0 { bytes.append(0) } }

    public mutating func attribute(_ type: UInt16, _ data: [UInt8]) {
        put16(UInt16(4 + data.count))
        put16(type)
        bytes += data
        pad()
    }

    /// A NUL-terminated string attribute (IFLA_IFNAME, IFLA_INFO_KIND).
    public mutating func attribute(_ type: UInt16, string: String) {
        attribute(type, Array(string.utf8) + [0])
    }

    public mutating func attribute(_ type: UInt16, u32: UInt32) {
        attribute(type, [UInt8(u32 & 0xff), UInt8(u32 >> 8 & 0xff), UInt8(u32 >> 16 & 0xff), UInt8(u32 >> 24)])
    }

    /// Opens a nested attribute; close it with `endNest`.
    public mutating func beginNest(_ type: UInt16) {
        open.append(bytes.count)
        put16(0)
        put16(type)
    }

    /// Raw bytes inside a nest (a veth peer's `struct ifinfomsg`).
    public mutating func raw(_ data: [UInt8]) {
        bytes += data
        pad()
    }

    public mutating func endNest() {
        guard let start = open.popLast() else { preconditionFailure("bug: endNest without beginNest") }
        let len = UInt16(bytes.count - start)
        bytes[start] = UInt8(len & 0xff)
        bytes[start + 1] = UInt8(len >> 8)
    }

    /// The message with its total length written into the header.
    public var finished: [UInt8] {
        precondition(open.isEmpty, "bug: a nested attribute was left open")
        var b = bytes
        let n = UInt32(b.count)
        b[0] = UInt8(n & 0xff)
        b[1] = UInt8(n >> 8 & 0xff)
        b[2] = UInt8(n >> 16 & 0xff)
        b[3] = UInt8(n >> 24)
        return b
    }
}

/// Attributes read from a reply: type and data, in order. Nested ones are parsed
/// again from their data with `NetlinkAttributes(data)`.
public struct NetlinkAttributes: Sendable {
    public var items: [(type: UInt16, data: [UInt8])] = []

    public init(_ bytes: [UInt8], from start: Int = 0) {
        var off = start
        while off + 4 <= bytes.count {
            let len = Int(bytes[off]) | Int(bytes[off + 1]) << 8
            let type = (UInt16(bytes[off + 2]) | UInt16(bytes[off + 3]) << 8) & 0x3fff  // without NLA_F_NESTED/NET_BYTEORDER
            guard len >= 4, off + len <= bytes.count else { break }
            items.append((type, Array(bytes[(off + 4)..<(off + len)])))
            off += (len + 3) & ~3
        }
    }

    public subscript(type: UInt16) -> [UInt8]? { items.first { $0.type == type }?.data }

    public func string(_ type: UInt16) -> String? {
        self[type].map { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    public func u32(_ type: UInt16) -> UInt32? {
        guard let d = self[type], d.count >= 4 else { return nil }
        return UInt32(d[0]) | UInt32(d[1]) << 8 | UInt32(d[2]) << 16 | UInt32(d[3]) << 24
    }
}

/// Little-endian reads from a payload.
enum Bytes {
    static func u32(_ b: [UInt8], _ at: Int) -> UInt32 {
        guard at + 4 <= b.count else { return 0 }
        return UInt32(b[at]) | UInt32(b[at + 1]) << 8 | UInt32(b[at + 2]) << 16 | UInt32(b[at + 3]) << 24
    }
    static func le32(_ v: UInt32) -> [UInt8] { [UInt8(v & 0xff), UInt8(v >> 8 & 0xff), UInt8(v >> 16 & 0xff), UInt8(v >> 24)] }
    static func le16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xff), UInt8(v >> 8)] }
}
