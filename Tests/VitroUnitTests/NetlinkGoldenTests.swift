// Golden bytes of the netlink messages vitro sends (chapter 05), annotated field by
// field as netlink(7) and rtnetlink(7) lay them out: little-endian numbers, addresses
// in network order, attributes padded to 4 bytes. The same request made by `ip`
// (strace -xx -e sendmsg ip …) shows the same attributes.

import Testing

@testable import VitroNetwork

@Suite struct NetlinkGolden {
    /// "10 00 05 06" → bytes; anything after `;` on a line is the annotation.
    static func hex(_ text: String) -> [UInt8] {
        text.split(separator: "\n").flatMap { line in
            (line.split(separator: ";", maxSplits: 1).first ?? "").split(separator: " ").compactMap { UInt8($0, radix: 16) }
        }
    }

    @Test func newBridge() {
        let want = Self.hex("""
            44 00 00 00 ; nlmsg_len 68
            10 00       ; RTM_NEWLINK
            05 06       ; NLM_F_REQUEST|NLM_F_ACK|NLM_F_EXCL|NLM_F_CREATE
            01 00 00 00 ; seq 1
            00 00 00 00 ; port id 0
            00 00 00 00 ; ifinfomsg: AF_UNSPEC, pad, type 0
            00 00 00 00 ; ifi_index 0: a new link
            01 00 00 00 ; ifi_flags IFF_UP
            01 00 00 00 ; ifi_change IFF_UP
            0b 00 03 00 76 69 74 72 6f 30 00 00 ; IFLA_IFNAME "vitro0\\0" + pad
            08 00 04 00 dc 05 00 00             ; IFLA_MTU 1500
            10 00 12 00                         ; IFLA_LINKINFO, nested, 16 bytes
            0b 00 01 00 62 72 69 64 67 65 00 00 ;   IFLA_INFO_KIND "bridge\\0" + pad
            """)
        let got = RouteMessages.newBridge("vitro0", mtu: 1500, seq: 1)
        #expect(got.bytes == want)
        #expect(got.shell == "ip link add vitro0 mtu 1500 up type bridge")
    }

    @Test func vethWithItsPeerInsideTheContainersNamespace() {
        let want = Self.hex("""
            7c 00 00 00 ; nlmsg_len 124
            10 00 05 06 ; RTM_NEWLINK, REQUEST|ACK|EXCL|CREATE
            07 00 00 00 00 00 00 00 ; seq 7, port 0
            00 00 00 00 00 00 00 00 01 00 00 00 01 00 00 00 ; ifinfomsg: up
            08 00 03 00 76 78 31 00             ; IFLA_IFNAME "vx1"
            08 00 04 00 dc 05 00 00             ; IFLA_MTU 1500
            08 00 0a 00 05 00 00 00             ; IFLA_MASTER 5 (the bridge's index)
            44 00 12 00                         ; IFLA_LINKINFO, 68 bytes
            09 00 01 00 76 65 74 68 00 00 00 00 ;   IFLA_INFO_KIND "veth"
            34 00 02 00                         ;   IFLA_INFO_DATA, 52 bytes
            30 00 01 00                         ;     VETH_INFO_PEER, 48 bytes
            00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 ; the peer's ifinfomsg: down
            09 00 03 00 65 74 68 30 00 00 00 00 ;       IFLA_IFNAME "eth0"
            08 00 04 00 dc 05 00 00             ;       IFLA_MTU 1500
            08 00 1c 00 09 00 00 00             ;       IFLA_NET_NS_FD 9
            """)
        let got = RouteMessages.newVeth("vx1", peer: "eth0", netnsFD: 9, netnsShown: "4242", master: 5, masterName: "vitro0", mtu: 1500, seq: 7)
        #expect(got.bytes == want)
        #expect(got.shell == "ip link add vx1 mtu 1500 master vitro0 up type veth peer name eth0 mtu 1500 netns 4242")
    }

    @Test func addressAndDefaultRoute() throws {
        let subnet = try #require(IPv4Subnet("172.18.0.2/16"))
        let addr = Self.hex("""
            30 00 00 00 ; nlmsg_len 48
            14 00 05 06 ; RTM_NEWADDR, REQUEST|ACK|EXCL|CREATE
            02 00 00 00 00 00 00 00 ; seq 2
            02 10 00 00 ; ifaddrmsg: AF_INET, prefix 16, flags 0, RT_SCOPE_UNIVERSE
            02 00 00 00 ; ifa_index 2
            08 00 02 00 ac 12 00 02 ; IFA_LOCAL 172.18.0.2
            08 00 01 00 ac 12 00 02 ; IFA_ADDRESS 172.18.0.2
            08 00 04 00 ac 12 ff ff ; IFA_BROADCAST 172.18.255.255
            """)
        #expect(RouteMessages.newAddress(subnet, index: 2, name: "eth0", seq: 2).bytes == addr)
        let route = Self.hex("""
            2c 00 00 00 ; nlmsg_len 44
            18 00 05 06 ; RTM_NEWROUTE, REQUEST|ACK|EXCL|CREATE
            03 00 00 00 00 00 00 00 ; seq 3
            02 00 00 00 ; rtmsg: AF_INET, dst_len 0 (default), src_len 0, tos 0
            fe 03 00 01 ; RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST
            00 00 00 00 ; rtm_flags
            08 00 05 00 ac 12 00 01 ; RTA_GATEWAY 172.18.0.1
            08 00 04 00 02 00 00 00 ; RTA_OIF 2
            """)
        let r = RouteMessages.newDefaultRoute(via: subnet.address.advanced(-1), index: 2, name: "eth0", seq: 3)
        #expect(r.bytes == route)
        #expect(r.shell == "ip route add default via 172.18.0.1 dev eth0")
    }

    @Test func nfTablesGetTable() {
        let want = Self.hex("""
            20 00 00 00 ; nlmsg_len 32
            01 0a       ; (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETTABLE
            05 00       ; NLM_F_REQUEST|NLM_F_ACK
            01 00 00 00 00 00 00 00 ; seq 1
            02 00 00 00 ; nfgenmsg: NFPROTO_IPV4, version 0, res_id 0
            0a 00 01 00 76 69 74 72 6f 00 00 00 ; NFTA_TABLE_NAME "vitro"
            """)
        #expect(NatRules.getTableRequest(seq: 1) == want)
    }

    @Test func repliesParse() {
        // An RTM_NEWLINK reply's payload: ifinfomsg (index 3, IFF_UP), IFLA_IFNAME,
        // IFLA_LINKINFO { IFLA_INFO_KIND "bridge" }.
        let payload = Self.hex("""
            00 00 01 00 03 00 00 00 43 10 01 00 00 00 00 00
            0b 00 03 00 76 69 74 72 6f 30 00 00
            10 00 12 00 0b 00 01 00 62 72 69 64 67 65 00 00
            """)
        let link = LinkInfo(reply: payload)
        #expect(link?.index == 3)
        #expect(link?.name == "vitro0")
        #expect(link?.kind == "bridge")
        #expect(link?.isUp == true)
        // A route of a dump: 10.1.0.0/16 in the main table.
        let route = RouteInfo(reply: Self.hex("02 10 00 00 fe 02 00 01 00 00 00 00 08 00 01 00 0a 01 00 00"))
        #expect(route?.destination.cidr == "10.1.0.0/16")
        #expect(route?.table == 254)
    }
}

extension IPv4Address {
    func advanced(_ n: Int64) -> IPv4Address { IPv4Address(UInt32(Int64(value) + n)) }
}
