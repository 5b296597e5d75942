// Chapter 05: the host ports of a container, held and (for 127.0.0.1) carried, as
// Docker's docker-proxy does. See Sys+Socket.swift for why binding comes first.
//
// `bind` binds every published port before anything else is made, so a taken port is
// an error that leaves nothing behind, and a port "the kernel picks" (`-p 80`) gets
// its number here. Once the container has its address, `start` makes the proxy carry
// what arrives: each accepted TCP connection is paired with a connection to the
// container's port and bytes are copied both ways; each UDP client gets a socket of
// its own towards the container. It has no thread of its own: the run's event loop
// polls what `interest` asks for with its other descriptors and calls `service`. Only
// traffic that NAT did not take reaches it, which is traffic to 127.0.0.0/8.
//
// The sockets never block. Bytes one side has sent that the other cannot take yet wait
// in `pending`, and while they wait the sending side is not read (so a fast client
// and a slow container never make the proxy hold more than one read), and the slow
// side is polled for room. A side's end of file is passed on only once what it sent
// has been delivered.

import VitroSys
import VitroTrace

public final class PortProxy {
    struct Listener {
        var fd: Int32
        var mapping: PortMapping
    }
    struct UDPClient {
        var address: [UInt8]
        var port: UInt16
        var listener: Int32
    }
    public private(set) var mappings: [PortMapping] = []
    var listeners: [Listener] = []
    /// TCP: each side's descriptor and its partner.
    var partner: [Int32: Int32] = [:]
    /// UDP: the socket towards the container and the client it answers.
    var udpClients: [Int32: UDPClient] = [:]
    /// TCP descriptors whose side has sent end-of-file.
    var readDone: Set<Int32> = []
    /// TCP: bytes read from one side and not yet taken by the other, by the descriptor
    /// they are to be written to.
    var pending: [Int32: ArraySlice<UInt8>] = [:]
    var target: IPv4Address?

    public init() {}

    /// Binds every mapping's host port (trying each port of a `8000-8010:80` range in
    /// turn). On failure closes what it bound and throws one line naming the port.
    public static func bind(_ wanted: [PortMapping]) throws(NetworkError) -> PortProxy {
        let proxy = PortProxy()
        for m in wanted {
            var last: SysError?
            var done = false
            for port in m.hostPort...(m.hostPortLast ?? m.hostPort) {
                do {
                    let (fd, bound) = try Sys.bindPort(
                        m.proto, address: m.hostIP.bytes, port: port,
                        why: "hold the host port for the container (and check nobody else has it) before any rule goes in")
                    var got = m
                    got.hostPort = bound
                    got.hostPortLast = nil
                    proxy.listeners.append(Listener(fd: fd, mapping: got))
                    proxy.mappings.append(got)
                    done = true
                    break
                } catch {
                    last = error
                    if error.errno != 98 { break }  // EADDRINUSE: try the next port of a range
                }
            }
            if !done {
                proxy.close()
                let port = m.hostPortLast.map { "\(m.hostPort)-\($0)" } ?? String(m.hostPort)
                if let last, last.errno == 98 {
                    throw NetworkError("-p: host port \(m.hostIP):\(port)/\(m.proto.rawValue) is already in use")
                }
                throw NetworkError("-p: cannot bind host port \(m.hostIP):\(port)/\(m.proto.rawValue): \(last.map { String(describing: $0) } ?? "failed")")
            }
        }
        return proxy
    }

    /// From now on, what arrives is carried to `address`.
    public func start(target address: IPv4Address) { target = address }

    /// What each descriptor is to be polled for now: listeners and UDP sockets for
    /// input; a TCP side for input unless it has ended or its partner still has bytes
    /// of it to take, and for room when bytes wait for it.
    public var interest: [Int32: PollEvents] {
        var out: [Int32: PollEvents] = [:]
        for l in listeners { out[l.fd] = .readable }
        for fd in udpClients.keys { out[fd] = .readable }
        for (fd, peer) in partner {
            var e: PollEvents = []
            if !readDone.contains(fd) && pending[peer] == nil { e.insert(.readable) }
            if pending[fd] != nil { e.insert(.writable) }
            if !e.isEmpty { out[fd] = e }
        }
        return out
    }

    /// Handles what poll found ready.
    public func service(_ events: [Int32: PollEvents]) {
        guard let target else { return }
        for fd in events.keys.sorted() {
            guard let e = events[fd] else { continue }
            if let l = listeners.first(where: { $0.fd == fd }) {
                l.mapping.proto == .tcp ? acceptTCP(l, target) : relayFromClient(l, target)
            } else if partner[fd] != nil {
                if e.contains(.writable) { flush(fd) }
                if let peer = partner[fd], e.contains(.readable), !readDone.contains(fd), pending[peer] == nil { copy(from: fd, to: peer) }
            } else if let c = udpClients[fd] {
                while let (bytes, _, _) = Sys.receiveFrom(fd) { Sys.sendTo(c.listener, bytes, address: c.address, port: c.port) }
            }
        }
    }

    func acceptTCP(_ l: Listener, _ target: IPv4Address) {
        while let client = Sys.accept(l.fd) {
            guard let upstream = try? Sys.connectTCP(address: target.bytes, port: l.mapping.containerPort) else {
                Sys.close(client)
                continue
            }
            partner[client] = upstream
            partner[upstream] = client
        }
    }

    func copy(from fd: Int32, to peer: Int32) {
        let bytes: [UInt8]
        do {
            guard let got = try Sys.read(fd) else { return }  // nothing yet (EAGAIN)
            bytes = got
        } catch {
            bytes = []  // a reset counts as the end
        }
        guard bytes.isEmpty else {
            pending[peer] = bytes[...]
            flush(peer)
            return
        }
        readDone.insert(fd)
        if pending[peer] == nil { ended(fd, peer) }
    }

    /// Writes what waits for `fd`, as much as it takes now.
    func flush(_ fd: Int32) {
        guard let bytes = pending[fd], let peer = partner[fd] else { return }
        do {
            let n = try Sys.sendSome(fd, bytes)
            let rest = bytes.dropFirst(n)
            pending[fd] = rest.isEmpty ? nil : rest
        } catch {
            // The side has gone: what it was sent is lost, as it would be without a
            // proxy; end the pair.
            pending[fd] = nil
            readDone.insert(peer)
            readDone.insert(fd)
        }
        if pending[fd] == nil, readDone.contains(peer) { ended(peer, fd) }
    }

    /// `fd` has sent its last byte and `peer` has taken it: pass the half-close on;
    /// once both sides have ended, drop the pair.
    func ended(_ fd: Int32, _ peer: Int32) {
        Sys.shutdownWrite(peer)
        if readDone.contains(peer) && pending[fd] == nil {
            for x in [fd, peer] {
                partner[x] = nil
                pending[x] = nil
                readDone.remove(x)
                Sys.close(x)
            }
        }
    }

    func relayFromClient(_ l: Listener, _ target: IPv4Address) {
        while let (bytes, address, port) = Sys.receiveFrom(l.fd) {
            let existing = udpClients.first { $0.value.address == address && $0.value.port == port && $0.value.listener == l.fd }?.key
            let fd: Int32
            if let existing {
                fd = existing
            } else {
                guard let made = try? Sys.connectUDP(address: target.bytes, port: l.mapping.containerPort) else { continue }
                udpClients[made] = UDPClient(address: address, port: port, listener: l.fd)
                fd = made
            }
            Sys.write(fd, bytes)
        }
    }

    /// Closes every socket: the host ports are free again.
    public func close() {
        for l in listeners { Sys.close(l.fd) }
        for fd in partner.keys { Sys.close(fd) }
        for fd in udpClients.keys { Sys.close(fd) }
        listeners = []
        partner = [:]
        readDone = []
        pending = [:]
        udpClients = [:]
    }
}
