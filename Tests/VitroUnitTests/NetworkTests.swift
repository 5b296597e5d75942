// Chapter 05 without root: -p in every form and the bad ones, --net modes, the bridge's
// settings, IPAM allocation and release, the nft scripts, /etc files, `vitro port`.

import Foundation
import Testing

@testable import VitroNetwork
@testable import VitroSys

@Suite struct PortParsing {
    func one(_ s: String) throws -> PortMapping {
        let m = try PortMapping.parse(s)
        #expect(m.count == 1, "\(s)")
        return try #require(m.first)
    }

    @Test func everyDocumentedForm() throws {
        #expect(try one("8080:80") == PortMapping(hostPort: 8080, containerPort: 80))
        #expect(try one("127.0.0.1:8080:80") == PortMapping(hostIP: .loopback, hostPort: 8080, containerPort: 80))
        #expect(try one("127.0.0.1::80") == PortMapping(hostIP: .loopback, hostPort: 0, containerPort: 80))
        #expect(try one("80") == PortMapping(hostPort: 0, containerPort: 80))
        #expect(try one("53:53/udp") == PortMapping(proto: .udp, hostPort: 53, containerPort: 53))
        #expect(try one("53/UDP") == PortMapping(proto: .udp, hostPort: 0, containerPort: 53))
        #expect(try one("8080:80/tcp") == PortMapping(hostPort: 8080, containerPort: 80))
        #expect(try PortMapping.parse("8000-8002:80-82") == [
            PortMapping(hostPort: 8000, containerPort: 80), PortMapping(hostPort: 8001, containerPort: 81), PortMapping(hostPort: 8002, containerPort: 82),
        ])
        #expect(try one("8000-8010:80") == PortMapping(hostPort: 8000, hostPortLast: 8010, containerPort: 80))
        #expect(try PortMapping.parse("80-81").map(\.hostPort) == [0, 0])
        #expect(try PortMapping.parse("10.0.0.1:9000-9001:90-91/udp").map(\.description) == ["10.0.0.1:9000->90/udp", "10.0.0.1:9001->91/udp"])
    }

    @Test func badFormsGetOneClearLine() {
        let cases: [(String, String)] = [
            ("70000:80", "-p 70000:80: invalid host port 70000 (ports are 1 to 65535)"),
            ("80:70000", "-p 80:70000: invalid container port 70000 (ports are 1 to 65535)"),
            ("abc", "-p abc: invalid container port \"abc\""),
            ("abc:80", "-p abc:80: invalid host port \"abc\""),
            ("0:80", "-p 0:80: invalid host port 0 (ports are 1 to 65535)"),
            ("1.2.3:80:80", "-p 1.2.3:80:80: invalid host address \"1.2.3\""),
            ("80/sctp", "-p 80/sctp: sctp is not supported (tcp or udp)"),
            ("80/icmp", "-p 80/icmp: unknown protocol \"icmp\" (tcp or udp)"),
            ("8000-8002:80-81", "-p 8000-8002:80-81: the host range has 3 ports and the container range 2"),
            ("90-80", "-p 90-80: invalid container port \"90-80\""),
            ("[::1]:80:80", "-p [::1]:80:80: IPv6 addresses are not supported yet"),
            ("a:b:c:d", "-p a:b:c:d: too many ':' (use [IP:][HOST_PORT:]CONTAINER_PORT[/PROTO])"),
            (":80", "-p :80: missing host port before ':'"),
        ]
        for (spec, message) in cases {
            #expect(throws: NetworkError(message), "\(spec)") { try PortMapping.parse(spec) }
        }
    }

    @Test func exposeAndPublishAll() throws {
        let exposed = try PortMapping.parseExpose("80") + PortMapping.parseExpose("53/udp") + PortMapping.parseExpose("8000-8001")
        let published = [PortMapping(hostPort: 8080, containerPort: 80)]
        let all = PortMapping.publishAll(exposed: exposed, besides: published)
        #expect(all.map(\.description) == ["0.0.0.0:0->53/udp", "0.0.0.0:0->8000/tcp", "0.0.0.0:0->8001/tcp"])
        #expect(throws: NetworkError("--expose 99999: invalid port (ports are 1 to 65535)")) { try PortMapping.parseExpose("99999") }
    }

    @Test func portCommandPrintsWhatDockerPrints() throws {
        let m = [
            PortMapping(hostPort: 32768, containerPort: 80), PortMapping(hostIP: .loopback, hostPort: 9000, containerPort: 80),
            PortMapping(proto: .udp, hostPort: 5353, containerPort: 53),
        ]
        #expect(try PortMapping.portCommandLines(m, query: nil, container: "c") == ["53/udp -> 0.0.0.0:5353", "80/tcp -> 127.0.0.1:9000", "80/tcp -> 0.0.0.0:32768"])
        #expect(try PortMapping.portCommandLines(m, query: "80", container: "c") == ["127.0.0.1:9000", "0.0.0.0:32768"])
        #expect(try PortMapping.portCommandLines(m, query: "53/udp", container: "c") == ["0.0.0.0:5353"])
        #expect(throws: NetworkError("No public port '81/tcp' published for c")) { try PortMapping.portCommandLines(m, query: "81", container: "c") }
        for p in m { #expect(PortMapping(record: p.record) == p) }
    }
}

@Suite struct NetworkSettingsParsing {
    @Test func modes() throws {
        #expect(try NetworkMode.parse("bridge") == .bridge)
        #expect(try NetworkMode.parse("none") == .none)
        #expect(try NetworkMode.parse("host") == .host)
        #expect(try NetworkMode.parse("container:web") == .container("web"))
        #expect(throws: NetworkError("--net bogus: unknown network mode (bridge, none, host or container:NAME)")) { try NetworkMode.parse("bogus") }
        #expect(throws: NetworkError.self) { try NetworkMode.parse("container:") }
    }

    @Test func bridgeSettings() throws {
        let d = try BridgeConfig.parse(name: nil, bip: nil, mtu: nil)
        #expect(d.name == "vitro0" && d.gateway.description == "172.18.0.1/16" && d.mtu == 1500)
        #expect(d.gateway.cidr == "172.18.0.0/16")
        #expect(throws: NetworkError("--bip 8.8.8.1/24: not a private subnet (use one inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16)")) { try BridgeConfig.parse(name: nil, bip: "8.8.8.1/24", mtu: nil) }
        #expect(throws: NetworkError.self) { try BridgeConfig.parse(name: nil, bip: "10.0.0.0/24", mtu: nil) }
        #expect(throws: NetworkError.self) { try BridgeConfig.parse(name: nil, bip: "10.0.0.1", mtu: nil) }
        #expect(throws: NetworkError.self) { try BridgeConfig.parse(name: "a-very-long-bridge-name", bip: nil, mtu: nil) }
        #expect(throws: NetworkError.self) { try BridgeConfig.parse(name: "a/b", bip: nil, mtu: nil) }
        #expect(throws: NetworkError.self) { try BridgeConfig.parse(name: nil, bip: nil, mtu: 20) }
    }

    @Test func subnets() throws {
        let s = try #require(IPv4Subnet("10.88.0.1/24"))
        #expect(s.contains(try #require(IPv4Address("10.88.0.200"))))
        #expect(!s.contains(try #require(IPv4Address("10.88.1.1"))))
        #expect(s.overlaps(try #require(IPv4Subnet("10.0.0.0/8"))))
        #expect(!s.overlaps(try #require(IPv4Subnet("10.89.0.0/16"))))
        #expect(IPv4Address("1.2.3") == nil && IPv4Address("1.2.3.256") == nil && IPv4Address("01.2.3.4.5") == nil)
    }
}

@Suite struct IPAMAllocation {
    let config = BridgeConfig(name: "vt0", gateway: IPv4Subnet(address: IPv4Address(0x0a58_0001), prefix: 29))  // 10.88.0.1/29

    @Test func allocatesInOrderSkipsTheGatewayAndDoesNotReuseAtOnce() throws {
        var s = IPAMState()
        let a = try s.allocate(config, id: "a", veth: "vxa")
        let b = try s.allocate(config, id: "b", veth: "vxb")
        #expect(a.description == "10.88.0.2" && b.description == "10.88.0.3")
        s.release(id: "a")
        let c = try s.allocate(config, id: "c", veth: "vxc")
        #expect(c.description == "10.88.0.4", "a released address is not handed out again at once")
        // /29: .1 is the gateway, .2-.6 for containers, .7 broadcast.
        _ = try s.allocate(config, id: "d", veth: "vxd")
        _ = try s.allocate(config, id: "e", veth: "vxe")
        let f = try s.allocate(config, id: "f", veth: "vxf")
        #expect(f.description == "10.88.0.2", "wraps around to the freed address")
        #expect(throws: NetworkError("bridge vt0: no free address left in 10.88.0.0/29")) { try s.allocate(config, id: "g", veth: "vxg") }
    }

    @Test func roundTripsThroughJSONAndReleases() throws {
        var s = IPAMState()
        _ = try s.allocate(config, id: "a", veth: "vxa", ports: [PortMapping(hostPort: 8080, containerPort: 80)])
        let back = try IPAMState(json: s.json)
        #expect(back == s)
        var t = back
        #expect(t.release(id: "a")?.ports.first?.hostPort == 8080)
        #expect(t.entries.isEmpty)
        #expect(t.release(id: "a") == nil)
    }

    /// ipam.json is swapped in without waiting for the disk: a crash of the machine may
    /// leave it empty, and that must read as no allocations, not an error on every run.
    @Test func anEmptyFileIsNoAllocationsAndARewriteSwapsTheFile() throws {
        #expect(try IPAMState(file: "") == IPAMState())
        #expect(try IPAMState(file: "\0\0\0\0") == IPAMState())
        #expect(throws: NetworkError.self) { try IPAMState(file: "{\"networks\":[{}]}") }
        let dir = NSTemporaryDirectory() + "vitro-unit-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = IPAMStore(directory: dir)
        _ = try store.update { try $0.allocate(config, id: "a", veth: "vxa") }
        try "".write(toFile: store.path, atomically: false, encoding: .utf8)
        #expect(store.read() == IPAMState())
        let b = try store.update { try $0.allocate(config, id: "b", veth: "vxb") }
        let inode = try FileManager.default.attributesOfItem(atPath: store.path)[.systemFileNumber] as? Int
        _ = try store.update { try $0.allocate(config, id: "c", veth: "vxc") }
        #expect(store.read().entries.map(\.id) == ["b", "c"] && b.description == "10.88.0.2")
        #expect(try FileManager.default.attributesOfItem(atPath: store.path)[.systemFileNumber] as? Int != inode, "a new file, not the old one rewritten")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == ["ipam.json", "ipam.lock"], "no temporary file is left")
    }

    @Test func aChangedSubnetIsRefusedWhileContainersUseTheBridge() throws {
        var s = IPAMState()
        _ = try s.allocate(config, id: "a", veth: "vxa")
        var other = config
        other.gateway = IPv4Subnet(address: IPv4Address(0x0a59_0001), prefix: 24)
        #expect(throws: NetworkError.self) { try s.allocate(other, id: "b", veth: "vxb") }
        s.release(id: "a")
        #expect(try s.allocate(other, id: "b", veth: "vxb").description == "10.89.0.2")
    }
}

@Suite struct NatScripts {
    let bridge = BridgeConfig(name: "vt0", gateway: IPv4Subnet(address: IPv4Address(0x0a58_0001), prefix: 24))

    @Test func containerRulesAndTheirRemovalByHandle() throws {
        let id = "0123456789ab" + String(repeating: "f", count: 52)
        let ports = [
            PortMapping(hostPort: 8080, containerPort: 80), PortMapping(proto: .udp, hostIP: IPv4Address(0x0a00_0001), hostPort: 53, containerPort: 5353),
            PortMapping(hostIP: .loopback, hostPort: 9000, containerPort: 90),
        ]
        let script = NatRules.containerScript(id: id, address: IPv4Address(0x0a58_0002), ports: ports, bridge: bridge)
        #expect(script == """
            add element ip vitro subnets { 10.88.0.0/24 }
            add element ip vitro bridges { 10.88.0.0/24 . "vt0" }
            add rule ip vitro ports tcp dport 8080 dnat to 10.88.0.2:80 comment "vitro:0123456789ab"
            add rule ip vitro ports ip daddr 10.0.0.1 udp dport 53 dnat to 10.88.0.2:5353 comment "vitro:0123456789ab"

            """)
        let echo = """
            add element ip vitro subnets { 10.88.0.0/24 }
            add rule ip vitro ports tcp dport 8080 dnat to 10.88.0.2:80 comment "vitro:0123456789ab" # handle 12
            add rule ip vitro ports ip daddr 10.0.0.1 udp dport 53 dnat to 10.88.0.2:5353 comment "vitro:0123456789ab" # handle 13
            add rule ip vitro ports tcp dport 1 dnat to 10.88.0.9:1 comment "vitro:999999999999" # handle 14
            """
        #expect(NatRules.handles(in: echo, ids: [id]) == ["12", "13"])
        #expect(NatRules.deleteScript(listing: echo, ids: [id]) == "delete rule ip vitro ports handle 12\ndelete rule ip vitro ports handle 13\n")
        #expect(NatRules.idsWithRules(listing: echo) == ["0123456789ab", "999999999999"])
    }

    @Test func setupTouchesOnlyVitrosTable() {
        let s = NatRules.setupScript(bridge)
        for line in s.split(separator: "\n") { #expect(line.contains(" ip vitro"), "\(line)") }
        #expect(s.contains("add element ip vitro bridges { 10.88.0.0/24 . \"vt0\" }"))
        #expect(s.contains("ip daddr != 127.0.0.0/8 fib daddr type local jump ports"))
    }
}

@Suite struct EtcFilesContent {
    @Test func hostsLikeDockers() throws {
        var etc = EtcFiles(hostname: "web")
        etc.extraHosts = [try ExtraHost.parse("db:10.1.2.3"), try ExtraHost.parse("gw=host-gateway")]
        let hosts = etc.hostsFile(address: IPv4Address(0xac12_0002), gateway: IPv4Address(0xac12_0001))
        #expect(hosts.hasPrefix("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"))
        #expect(hosts.hasSuffix("10.1.2.3\tdb\n172.18.0.1\tgw\n172.18.0.2\tweb\n"))
        #expect(!etc.hostsFile(address: nil, gateway: nil).contains("web"))
        #expect(throws: NetworkError("--add-host db: expected NAME:IP")) { try ExtraHost.parse("db") }
        #expect(throws: NetworkError.self) { try ExtraHost.parse("db:not-an-ip") }
    }

    @Test func resolvConfDropsLoopbackResolvers() {
        let host = "# generated\nsearch lan\nnameserver 127.0.0.53\noptions edns0\n"
        let etc = EtcFiles(hostname: "h")
        #expect(etc.resolvConf(host: host, hostNetwork: false) == "search lan\nnameserver 8.8.8.8\nnameserver 8.8.4.4\noptions edns0\n")
        #expect(etc.resolvConf(host: host, hostNetwork: true) == host)
        var mine = etc
        mine.dns = ["10.0.0.53"]
        mine.dnsSearch = ["example.org"]
        #expect(mine.resolvConf(host: "nameserver 192.0.2.1\n", hostNetwork: false) == "search example.org\nnameserver 10.0.0.53\n")
        #expect(etc.resolvConf(host: "nameserver 192.0.2.1\n", hostNetwork: false) == "nameserver 192.0.2.1\n")
    }
}
