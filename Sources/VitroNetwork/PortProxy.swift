// Chapter 05: the host ports of a container, held and (for 127.0.0.1) carried, as
// Docker's docker-proxy does. See Sys+Socket.swift for why binding comes first.
//
// `bind` binds every published port before anything else is made, so a taken port is
// an error that leaves nothing behind, and a port "the kernel picks" (`-p 80`) gets
// its number here. Once the container has its address, `start` makes the proxy carry
// what arrives: each accepted TCP connection is paired with a connection to the
// container's port and bytes are copied both ways; each UDP client gets a socket of
// its own towards the container. It has no thread of its own: the run's event loop
// polls `descriptors` with its other descriptors and calls `service`. Only traffic
// that NAT did not take reaches it, which is traffic to 127.0.0.0/8.

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

    public var descriptors: [Int32] { listeners.map(\.fd) + partner.keys.filter { !readDone.contains($0) } + Array(udpClients.keys) }

    /// Handles the descriptors that poll said are ready.
    public func service(_ ready: [Int32]) {
        guard let target else { return }
        for fd in ready {
            if let l = listeners.first(where: { $0.fd == fd }) {
                l.mapping.proto == .tcp ? acceptTCP(l, target) : relayFromClient(l, target)
            } else if let peer = partner[fd] {
                copy(from: fd, to: peer)
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
            Sys.write(peer, bytes)
            return
        }
        // End of file from this side: pass the half-close on; once both sides have
        // ended, drop the pair.
        readDone.insert(fd)
        Sys.shutdownWrite(peer)
        if readDone.contains(peer) {
            for x in [fd, peer] {
                partner[x] = nil
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
        udpClients = [:]
    }
}
