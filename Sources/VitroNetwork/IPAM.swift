// Chapter 05: IP address management. Each container on a bridge gets one address of
// the bridge's subnet, and no two live containers may share one, even when started by
// two vitro processes at the same moment. The allocations live in one JSON file under
// the run root (`/run/vitro/network/ipam.json`: they describe live containers only, and
// a reboot, which ends them all, clears a tmpfs), read and rewritten under an exclusive
// flock on `network/ipam.lock`; each rewrite is atomic (a new file swapped with the old
// one, Sys.exchangeFile), so a vitro killed mid-write leaves the old file or the new
// one. Nothing waits for the disk: not fsync'ed (after a crash of the machine no
// container is running and every allocation is stale anyway; a file the crash left
// empty reads as no allocations), and not renamed over the old file (which on ext4
// flushes the new one's data first).
//
// Addresses are handed out in order from a cursor, as Docker's allocator does, rather
// than lowest-free: an address just released is not reused at once, so the host's ARP
// cache (still holding the old container's MAC for it) has time to forget it.
//
// An entry also records the host end of the container's veth and its published ports,
// which is what a later run needs to clean up after a vitro that died: whether the
// container is still alive, and which NAT rules were its.

import VitroSys
import VitroTrace

public struct IPAMEntry: Sendable, Equatable {
    public var id: String
    public var bridge: String
    public var address: IPv4Address
    /// The host end of the container's veth.
    public var veth: String
    public var ports: [PortMapping]

    public init(id: String, bridge: String, address: IPv4Address, veth: String, ports: [PortMapping] = []) {
        self.id = id
        self.bridge = bridge
        self.address = address
        self.veth = veth
        self.ports = ports
    }
}

/// The contents of ipam.json.
public struct IPAMState: Sendable, Equatable {
    public struct Network: Sendable, Equatable {
        public var bridge: String
        public var gateway: IPv4Subnet
        /// The next address to try.
        public var next: IPv4Address
    }
    public var networks: [Network] = []
    public var entries: [IPAMEntry] = []

    public init() {}

    /// Takes the next free address of `config`'s subnet for container `id`.
    public mutating func allocate(_ config: BridgeConfig, id: String, veth: String, ports: [PortMapping] = []) throws(NetworkError) -> IPv4Address {
        guard let hosts = config.gateway.hosts else { throw NetworkError("--bip \(config.gateway): no room for containers") }
        var n: Network
        if let i = networks.firstIndex(where: { $0.bridge == config.name }) {
            n = networks[i]
            if n.gateway != config.gateway {
                guard !entries.contains(where: { $0.bridge == config.name }) else {
                    throw NetworkError("--bip \(config.gateway): bridge \(config.name) is in use with \(n.gateway); stop its containers or choose another --bridge")
                }
                n = Network(bridge: config.name, gateway: config.gateway, next: IPv4Address(hosts.lowerBound))
            }
            networks.remove(at: i)
        } else {
            n = Network(bridge: config.name, gateway: config.gateway, next: IPv4Address(hosts.lowerBound))
        }
        let used = Set(entries.filter { $0.bridge == config.name }.map(\.address.value))
        let size = Int(hosts.upperBound - hosts.lowerBound) + 1
        var candidate = hosts.contains(n.next.value) ? n.next.value : hosts.lowerBound
        for _ in 0..<size {
            if candidate != config.gateway.address.value && !used.contains(candidate) {
                n.next = IPv4Address(candidate == hosts.upperBound ? hosts.lowerBound : candidate + 1)
                networks.append(n)
                entries.append(IPAMEntry(id: id, bridge: config.name, address: IPv4Address(candidate), veth: veth, ports: ports))
                return IPv4Address(candidate)
            }
            candidate = candidate == hosts.upperBound ? hosts.lowerBound : candidate + 1
        }
        networks.append(n)
        throw NetworkError("bridge \(config.name): no free address left in \(config.gateway.cidr)")
    }

    /// Forgets container `id`'s entry; returns it.
    @discardableResult
    public mutating func release(id: String) -> IPAMEntry? {
        guard let i = entries.firstIndex(where: { $0.id == id }) else { return nil }
        return entries.remove(at: i)
    }

    public var json: String {
        var w = JSONWriter()
        w.beginObject()
        w.key("version"); w.int(1)
        w.key("networks"); w.beginArray()
        for n in networks {
            w.beginObject()
            w.key("bridge"); w.string(n.bridge)
            w.key("gateway"); w.string(n.gateway.description)
            w.key("next"); w.string(n.next.description)
            w.endObject()
        }
        w.endArray()
        w.key("containers"); w.beginArray()
        for e in entries {
            w.beginObject()
            w.key("id"); w.string(e.id)
            w.key("bridge"); w.string(e.bridge)
            w.key("address"); w.string(e.address.description)
            w.key("veth"); w.string(e.veth)
            w.key("ports"); w.beginArray()
            for p in e.ports { w.string(p.record) }
            w.endArray()
            w.endObject()
        }
        w.endArray()
        w.endObject()
        return w.text + "\n"
    }

    /// ipam.json as read: empty (a crash of the machine right after a rewrite can leave
    /// it so; no container survived that) is no allocations.
    public init(file text: String) throws(NetworkError) {
        if text.allSatisfy({ $0.isWhitespace || $0 == "\0" }) {
            self.init()
        } else {
            try self.init(json: text)
        }
    }

    public init(json text: String) throws(NetworkError) {
        let v: JSONValue
        do { v = try JSONReader.parse(text) } catch { throw NetworkError("ipam: \(error)") }
        for n in v["networks"]?.array ?? [] {
            guard let b = n["bridge"]?.string, let g = n["gateway"]?.string.flatMap(IPv4Subnet.init), let x = n["next"]?.string.flatMap(IPv4Address.init) else {
                throw NetworkError("ipam: a network entry is incomplete")
            }
            networks.append(Network(bridge: b, gateway: g, next: x))
        }
        for c in v["containers"]?.array ?? [] {
            guard let id = c["id"]?.string, let b = c["bridge"]?.string, let a = c["address"]?.string.flatMap(IPv4Address.init), let veth = c["veth"]?.string else {
                throw NetworkError("ipam: a container entry is incomplete")
            }
            let ports = (c["ports"]?.array ?? []).compactMap { $0.string.flatMap(PortMapping.init(record:)) }
            entries.append(IPAMEntry(id: id, bridge: b, address: a, veth: veth, ports: ports))
        }
    }
}

/// The file and its lock.
public struct IPAMStore: Sendable {
    public var directory: String
    public init(directory: String) { self.directory = directory }
    public var path: String { directory + "/ipam.json" }
    public var lockPath: String { directory + "/ipam.lock" }

    /// Runs `body` on the allocations with the lock held, and writes them back if it
    /// changed them.
    public func update<R>(_ body: (inout IPAMState) throws -> R) throws -> R {
        try Sys.mkdirAll(directory, mode: 0o700, why: "vitro's network state: address allocations")
        guard let lock = try Sys.lock(lockPath, group: .netlink, why: "one vitro at a time reads and changes the address allocations") else {
            throw NetworkError("ipam: could not lock \(lockPath)")
        }
        defer { Sys.unlock(lock, group: .netlink) }
        var state = IPAMState()
        if Sys.fileKind(path) == .regular { state = try IPAMState(file: try Sys.readText(path)) }
        let before = state
        let r = try body(&state)
        if state != before {
            try Sys.exchangeFile(path, Array(state.json.utf8), mode: 0o600, why: "record the address allocations for the next vitro")
        }
        return r
    }

    /// The allocations as they are now (no lock: a snapshot for reading).
    public func read() -> IPAMState {
        guard let text = try? Sys.readText(path), let s = try? IPAMState(file: text) else { return IPAMState() }
        return s
    }
}
