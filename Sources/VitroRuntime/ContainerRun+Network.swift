// Chapter 08: the network stage of a run (chapter 05's pieces, put in order).
//
// Before vitro-init is spawned, the container's /etc/hostname, /etc/hosts and
// /etc/resolv.conf are written under the run root (<run>/containers/ID/, a tmpfs on
// most machines: StateRoot.swift) and handed to vitro-init as file bind mounts. They
// are written in place (Sys.rewriteFile): no temporary file, no O_TRUNC of a file
// that has data (either would make ext4 flush it). While pid 1 waits at `ready`, after
// the cgroup stage:
//
//   1. bind the published host ports (a taken port fails here, before anything exists)
//   2. under the IPAM lock: sweep entries of dead runs, find or make the bridge,
//      take an address
//   3. the veth pair, made with its peer inside the container's namespace; lo, eth0's
//      address and the default route inside
//   4. one nft transaction: vitro's table and the bridge's masquerade (when the bridge
//      is new), this container's DNAT rules in; without ports and on an existing
//      bridge, one netlink question instead (is vitro's table still there?)
//   5. /etc/hosts gets the container's address; the proxy starts carrying 127.0.0.1
//
// When the container ends: its namespace (and so its veth) goes with pid 1; vitro
// deletes its DNAT rules in one transaction, closes its ports and releases its
// address. A run killed with -9 leaves its IPAM entry and rules: the next run's
// sweep removes them once the dead run's lock (the same per-run lock the cgroup stage
// holds) is free and its veth is gone.

import VitroNetwork
import VitroNamespaces
import VitroSys
import VitroTrace

extension ContainerRun {
    /// The container's run-time files (ContainerStore.runDir).
    var containerDirectory: String { options.stateRoot.runPath + "/containers/" + context.containerID }
    var ipamStore: IPAMStore { IPAMStore(directory: options.stateRoot.network) }

    var etcFiles: EtcFiles {
        var etc = EtcFiles(hostname: options.hostname ?? String(context.containerID.prefix(12)))
        etc.extraHosts = options.network.extraHosts
        etc.dns = options.network.dns
        etc.dnsSearch = options.network.dnsSearch
        return etc
    }

    /// Writes the three files and returns the bind mounts vitro-init makes of them.
    func prepareEtcFiles() throws -> [FileMount] {
        if let peer = options.networkPeer {
            // Docker shares the other container's files: one /etc/hosts for one network.
            Tracer.shared.note("container-files", group: .file, args: ["dir": .string(peer.directory)], why: "--net container: the other container's hostname, hosts and resolv.conf are bound into this one")
            return ["hostname", "hosts", "resolv.conf"].map { FileMount(source: peer.directory + "/" + $0, target: "etc/" + $0) }
        }
        let dir = containerDirectory
        try Sys.mkdirAll(dir, mode: 0o700, why: "the container's own files: hostname, hosts, resolv.conf")
        containerDirectoryMade = true
        Tracer.shared.note("container-files", group: .file, args: ["dir": .string(dir)], why: "the files vitro writes for this container live here, and are bound into its /etc")
        let etc = etcFiles
        let hostNetwork = options.network.mode == .host
        var hosts = etc.hostsFile(address: nil, gateway: nil)
        if hostNetwork {
            hosts = (try? Sys.readText("/etc/hosts")) ?? hosts
            for h in etc.extraHosts { hosts += "\(h.address)\t\(h.name)\n" }
        }
        let resolv = etc.resolvConf(host: (try? Sys.readText("/etc/resolv.conf")) ?? "", hostNetwork: hostNetwork)
        try Sys.rewriteFile(dir + "/hostname", etc.hostnameFile, why: "the container's /etc/hostname")
        try Sys.rewriteFile(dir + "/hosts", hosts, why: hostNetwork ? "--net host: the host's /etc/hosts" : "the container's /etc/hosts: loopback names now, its own address once it has one")
        try Sys.rewriteFile(dir + "/resolv.conf", resolv, why: "the container's /etc/resolv.conf: the host's resolvers, less those on 127.0.0.0/8, or --dns")
        return [
            FileMount(source: dir + "/hostname", target: "etc/hostname"),
            FileMount(source: dir + "/hosts", target: "etc/hosts"),
            FileMount(source: dir + "/resolv.conf", target: "etc/resolv.conf"),
        ]
    }

    func stageNetwork(pid: Int32) throws {
        try begin(.network)
        do {
            switch options.network.mode {
            case .host:
                Tracer.shared.note("network", group: .netlink, args: ["mode": .string("host")], why: "--net host: the container uses the host's network namespace as it is")
            case .none:
                try ContainerNetwork.loopbackOnly(pid: pid)
            case .container(let name):
                Tracer.shared.note("network", group: .netlink, args: ["mode": .string("container"), "container": .string(name), "netns": .string(Sys.readlink("/proc/\(pid)/ns/net") ?? "?")], why: "--net container: vitro-init entered \(name)'s network namespace before making the others; nothing to wire")
            case .bridge:
                try wireBridge(pid: pid)
            }
            end(.network)
        } catch {
            end(.network, error: String(describing: error))
            throw RunError(String(describing: error))
        }
    }

    func wireBridge(pid: Int32) throws {
        let net = options.network
        let id = context.containerID
        var ports = net.ports
        if net.publishAll, let exposed = imageConfig?.exposedPorts, !exposed.isEmpty {
            // -P: the image's EXPOSE entries ("80/tcp"), on ports the kernel picks.
            var parsed: [(UInt16, SocketKind)] = []
            for e in exposed { parsed += (try? PortMapping.parseExpose(e)) ?? [] }
            ports += PortMapping.publishAll(exposed: parsed, besides: ports)
        }
        let proxy = try PortProxy.bind(ports)
        self.proxy = proxy
        let host = try RouteSocket(why: "a netlink socket in vitro's own network namespace, for the host's side")
        let veth = ContainerNetwork.vethName(id)
        var dead: [String] = []
        let (bridge, created, address) = try ipamStore.update { state in
            dead = ContainerRun.sweepDeadNetworks(&state, host: host, except: id, stateRoot: options.stateRoot.path)
            let (link, created) = try Bridge.ensureBridge(net.bridge, socket: host)
            let address = try state.allocate(net.bridge, id: id, veth: veth, ports: proxy.mappings)
            return (link, created, address)
        }
        ipamAllocated = true
        context.containerAddress = address.description
        Tracer.shared.note("address", group: .netlink, args: ["address": .string("\(address)/\(net.bridge.gateway.prefix)"), "bridge": .string(net.bridge.name), "gateway": .string(net.bridge.gateway.address.description)], why: "IPAM gave the container the next free address of the bridge's subnet")
        try ContainerNetwork.attach(pid: pid, veth: veth, bridge: bridge, config: net.bridge, address: address, host: host)

        if !dead.isEmpty, let listing = Sys.nftList("list chain ip vitro ports") {
            let stale = NatRules.deleteScript(listing: listing, ids: dead)
            if !stale.isEmpty {
                do {
                    try Sys.nft(stale, object: "table ip vitro", why: "published ports of runs that died without removing them")
                } catch {
                    Tracer.shared.note("nat-left", group: .netfilter, args: ["error": .string(String(describing: error))], why: "a dead run's rules could not be removed")
                }
            }
        }
        let args: Args = ["table": .string("ip vitro"), "container": .string(String(id.prefix(12))), "ports": .list(proxy.mappings.map(\.description))]
        if created {
            let script = NatRules.setupScript(net.bridge) + NatRules.containerScript(id: id, address: address, ports: proxy.mappings, bridge: net.bridge, registerBridge: false)
            let echo = try Sys.nft(script, object: "table ip vitro", args: args, why: "one transaction: vitro's table and chains for the new bridge, the bridge's subnet in vitro's sets (masquerade), this container's published ports (DNAT)")
            natHandles = NatRules.handles(in: echo, ids: [id])
        } else if proxy.mappings.contains(where: { $0.hostIP.value >> 24 != 127 }) {
            // The common case: the rules alone, as one netlink batch (no libnftables,
            // no listing of the ruleset). ENOENT: vitro's table is gone.
            let nat = try NatSocket()
            natSocket = nat
            do {
                natHandles = try nat.addRules(id: id, address: address, ports: proxy.mappings, args: args, why: "one transaction: this container's published ports (DNAT), one rule each, echoed back with their handles")
            } catch {
                guard error.errno == 2 else { throw error }  // ENOENT
                // vitro's table is gone (an `nft flush ruleset`?): make it, then try again.
                let again = NatRules.containerScript(id: id, address: address, ports: proxy.mappings, bridge: net.bridge, registerBridge: false)
                let echo = try Sys.nft(NatRules.setupScript(net.bridge) + again, object: "table ip vitro", args: args, why: "vitro's table was missing: make it and the bridge's NAT, then this container's ports, in one transaction")
                natHandles = NatRules.handles(in: echo, ids: [id])
            }
        } else if try !NatRules.tableExists() {
            try Sys.nft(NatRules.setupScript(net.bridge), object: "table ip vitro", why: "vitro's table was missing: make it and the bridge's masquerade")
        }
        try Sys.rewriteFile(containerDirectory + "/hosts", etcFiles.hostsFile(address: address, gateway: net.bridge.gateway.address), why: "now that the container has an address, /etc/hosts names it")
        if !proxy.mappings.isEmpty {
            try Sys.rewriteFile(containerDirectory + "/ports", proxy.mappings.map { $0.record + "\n" }.joined(), why: "what `vitro port` prints")
        }
        proxy.start(target: address)
    }

    /// Undoes what the network stage made that does not go with the namespace. Safe to
    /// call more than once.
    func releaseNetwork() {
        proxy?.close()
        proxy = nil
        let id = context.containerID
        if !natHandles.isEmpty {
            do {
                let nat = try natSocket ?? NatSocket()
                natSocket = nil
                try nat.deleteRules(handles: natHandles, args: ["table": .string("ip vitro"), "container": .string(String(id.prefix(12)))], why: "the container has ended: its published ports go, by handle, in one transaction")
                nat.closeWithoutWaiting()
            } catch {
                Tracer.shared.note("nat-left", group: .netfilter, args: ["error": .string(String(describing: error))], why: "the rules could not be removed; the next run will retry")
            }
        }
        natHandles = []
        if ipamAllocated {
            do {
                _ = try ipamStore.update { $0.release(id: id) }
            } catch {
                Tracer.shared.note("ipam-left", group: .netlink, args: ["error": .string(String(describing: error))], why: "the address could not be released; the next run will retry")
            }
            ipamAllocated = false
        }
        // A container with a record keeps its files until `rm` (as Docker keeps them);
        // a run without one (ContainerRun used on its own) leaves nothing.
        let record = options.stateRoot.path + "/containers/" + context.containerID + "/config.json"
        if containerDirectoryMade, Sys.fileKind(record) == .missing {
            try? Sys.removeTree(containerDirectory, why: "the container's files are no longer needed")
        }
        containerDirectoryMade = false
    }

    /// Releases the entries of runs that died: their lock is free (no vitro holds it)
    /// and their veth is gone (the container ended too; a container still running
    /// without its vitro keeps its address until it ends). Returns the ids whose NAT
    /// rules must go.
    static func sweepDeadNetworks(_ state: inout IPAMState, host: RouteSocket, except own: String, stateRoot: String) -> [String] {
        var withRules: [String] = []
        for e in state.entries where e.id != own {
            let lockPath = lockDirectory + "/\(e.id).lock"
            guard let lock = try? Sys.lock(lockPath, wait: false, group: .netlink, why: "is the run that holds this address still alive?") else { continue }
            defer { Sys.unlock(lock, group: .netlink) }
            if (try? host.link(e.veth, why: "a dead run's container: has its namespace (and veth) gone?")) != nil { continue }
            state.release(id: e.id)
            if !e.ports.isEmpty { withRules.append(e.id) }
            try? Sys.unlink(lockPath, why: "the dead run's lock")
        }
        return withRules
    }
}
