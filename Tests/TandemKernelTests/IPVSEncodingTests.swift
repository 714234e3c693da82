import Glibc
import Testing
import TandemCore
@testable import TandemKernel

/// Bytes from a fixture written as hex pairs; spaces, newlines and `|` separators are ignored.
func hex(_ text: String) -> [UInt8] {
    let digits = text.filter { $0.isHexDigit }
    precondition(digits.count % 2 == 0, "odd number of hex digits in fixture")
    var bytes: [UInt8] = []
    var index = digits.startIndex
    while index < digits.endIndex {
        let next = digits.index(index, offsetBy: 2)
        bytes.append(UInt8(digits[index..<next], radix: 16)!)
        index = next
    }
    return bytes
}

let familyID: UInt16 = 0x1c
let httpKey = IPVSServiceKey.address(protocol: .tcp, address: IPAddress("10.0.0.1")!, port: 80)

/// Request encoding against fixtures written by hand from the kernel's layout (nlmsghdr 16
/// bytes, genlmsghdr 4, attributes 4-byte aligned; kernel-interfaces.md §1.2 for byte orders).
struct IPVSEncodingTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var change: IPVSChange
        var sequence: UInt32
        var expected: String
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "IPv4 TCP service, persistent with a /24 mask",
             change: .addService(IPVSService(key: httpKey, scheduler: "wlc", flags: .persistent, timeout: 300,
                                             netmask: 0xFFFF_FF00)),
             sequence: 1,
             expected: """
             68000000 1c00 0500 01000000 00000000 | 01 01 0000
             5400 0180
               0600 0100 0200 0000
               0600 0200 0600 0000
               1400 0300 0a000001 00000000 00000000 00000000
               0600 0400 0050 0000
               0800 0600 776c6300
               0c00 0700 01000000 ffffffff
               0800 0800 2c010000
               0800 0900 ffffff00
             """),
        Case(name: "IPv6 UDP service, sh with both flags, prefix length 64",
             change: .updateService(IPVSService(
                 key: .address(protocol: .udp, address: IPAddress("2001:db8::1")!, port: 53), scheduler: "sh",
                 flags: [.persistent, .scheduler1, .scheduler2], timeout: 60, netmask: 64)),
             sequence: 7,
             expected: """
             68000000 1c00 0500 07000000 00000000 | 02 01 0000
             5400 0180
               0600 0100 0a00 0000
               0600 0200 1100 0000
               1400 0300 20010db8 00000000 00000000 00000001
               0600 0400 0035 0000
               0700 0600 736800 00
               0c00 0700 19000000 ffffffff
               0800 0800 3c000000
               0800 0900 40000000
             """),
        Case(name: "fwmark service: host-order mark, one-packet scheduling",
             change: .addService(IPVSService(key: .fwmark(family: .ipv4, mark: 7), scheduler: "rr", flags: .onePacket)),
             sequence: 3,
             expected: """
             4c000000 1c00 0500 03000000 00000000 | 01 01 0000
             3800 0180
               0600 0100 0200 0000
               0800 0500 07000000
               0700 0600 727200 00
               0c00 0700 04000000 ffffffff
               0800 0800 00000000
               0800 0900 ffffffff
             """),
        Case(name: "delete a fwmark IPv6 service: key only",
             change: .deleteService(.fwmark(family: .ipv6, mark: 0x01020304)),
             sequence: 4,
             expected: """
             28000000 1c00 0500 04000000 00000000 | 03 01 0000
             1400 0180
               0600 0100 0a00 0000
               0800 0500 04030201
             """),
        Case(name: "GUE tunnel real server with port, remote checksum and thresholds",
             change: .addDestination(httpKey, IPVSDestination(
                 address: IPAddress("192.168.1.2")!, port: 80, forwarding: .tunnel, weight: 5, upperThreshold: 100,
                 lowerThreshold: 10, tunnelType: .gue, tunnelPort: 6080, tunnelChecksum: .remoteChecksum)),
             sequence: 9,
             expected: """
             a4000000 1c00 0500 09000000 00000000 | 05 01 0000
             3000 0180
               0600 0100 0200 0000
               0600 0200 0600 0000
               1400 0300 0a000001 00000000 00000000 00000000
               0600 0400 0050 0000
             6000 0280
               1400 0100 c0a80102 00000000 00000000 00000000
               0600 0200 0050 0000
               0600 0b00 0200 0000
               0800 0300 02000000
               0800 0400 05000000
               0800 0500 64000000
               0800 0600 0a000000
               0500 0d00 01 000000
               0600 0e00 17c0 0000
               0600 0f00 0200 0000
             """),
        Case(name: "delete a direct-routing real server: key only",
             change: .deleteDestination(httpKey, IPVSDestinationKey(address: IPAddress("192.168.1.3")!, port: 8080)),
             sequence: 10,
             expected: """
             6c000000 1c00 0500 0a000000 00000000 | 07 01 0000
             3000 0180
               0600 0100 0200 0000
               0600 0200 0600 0000
               1400 0300 0a000001 00000000 00000000 00000000
               0600 0400 0050 0000
             2800 0280
               1400 0100 c0a80103 00000000 00000000 00000000
               0600 0200 1f90 0000
               0600 0b00 0200 0000
             """),
    ]

    @Test(arguments: cases)
    func changeEncoding(_ c: Case) {
        let bytes = IPVSWire.message(for: c.change, family: familyID, sequence: c.sequence)
        #expect(bytes == hex(c.expected))
    }

    @Test func masqueradeServerSendsNoTunnelAttributesAndNegativeWeightAsBitPattern() {
        let bytes = IPVSWire.message(
            for: .updateDestination(httpKey, IPVSDestination(address: IPAddress("192.168.1.4")!, port: 80,
                                                             forwarding: .masquerade, weight: -1)),
            family: familyID, sequence: 2)
        let expected = hex("""
        8c000000 1c00 0500 02000000 00000000 | 06 01 0000
        3000 0180
          0600 0100 0200 0000
          0600 0200 0600 0000
          1400 0300 0a000001 00000000 00000000 00000000
          0600 0400 0050 0000
        4800 0280
          1400 0100 c0a80104 00000000 00000000 00000000
          0600 0200 0050 0000
          0600 0b00 0200 0000
          0800 0300 00000000
          0800 0400 ffffffff
          0800 0500 00000000
          0800 0600 00000000
        """)
        #expect(bytes == expected)
    }

    @Test func syncDaemonWithGroupPortTTLAndMaxlen() {
        let daemon = IPVSSyncDaemon(role: .master, interface: "eth1", syncID: 5, maxLength: 1400,
                                    group: IPAddress("239.1.2.3")!, port: 8849, ttl: 2)
        let bytes = IPVSWire.startDaemonMessage(daemon, family: familyID, sequence: 11)
        // MCAST_PORT is host order (91 22 = 8849), unlike service ports; MCAST_GROUP network order.
        let expected = hex("""
        54000000 1c00 0500 0b000000 00000000 | 09 01 0000
        4000 0380
          0800 0100 01000000
          0900 0200 65746831 00 000000
          0800 0300 05000000
          0600 0400 7805 0000
          0800 0500 ef010203
          0600 0700 9122 0000
          0500 0800 02 000000
        """)
        #expect(bytes == expected)
    }

    @Test func syncDaemonWithIPv6GroupAndStop() {
        let daemon = IPVSSyncDaemon(role: .backup, interface: "lo", syncID: 0, group: IPAddress("ff02::81")!)
        let start = IPVSWire.startDaemonMessage(daemon, family: familyID, sequence: 12)
        #expect(start == hex("""
        44000000 1c00 0500 0c000000 00000000 | 09 01 0000
        3000 0380
          0800 0100 02000000
          0700 0200 6c6f00 00
          0800 0300 00000000
          1400 0600 ff020000 00000000 00000000 00000081
        """))
        let stop = IPVSWire.stopDaemonMessage(.master, family: familyID, sequence: 13)
        #expect(stop == hex("""
        20000000 1c00 0500 0d000000 00000000 | 0a 01 0000
        0c00 0380
          0800 0100 01000000
        """))
    }

    @Test func timeoutsAndDumpRequests() {
        #expect(IPVSWire.setTimeoutsMessage(IPVSTimeoutSettings(tcp: 900, tcpFin: 120, udp: 300), family: familyID, sequence: 5)
            == hex("""
            2c000000 1c00 0500 05000000 00000000 | 0c 01 0000
            0800 0400 84030000
            0800 0500 78000000
            0800 0600 2c010000
            """))
        #expect(IPVSWire.destinationDumpMessage(.fwmark(family: .ipv4, mark: 1), family: familyID, sequence: 6)
            == hex("""
            28000000 1c00 0103 06000000 00000000 | 08 01 0000
            1400 0180
              0600 0100 0200 0000
              0800 0500 01000000
            """))
    }
}

/// Dump replies and acknowledgements, decoded from fixtures shaped like the kernel's
/// (`ip_vs_genl_fill_service`, `_fill_dest`, `_fill_daemon`, `netlink_ack`).
struct IPVSDecodingTests {
    /// NEW_SERVICE dump reply for tcp 10.0.0.1:80 wlc persistent 300 mask /24, HASHED set,
    /// with a STATS64 nest (and a PAD attribute, which the decoder must skip).
    static let serviceReply = hex("""
    c4000000 1c00 0200 2a000000 39300000 | 01 01 0000
    b0000100
      0600 0100 0200 0000
      0600 0200 0600 0000
      1400 0300 0a000001 00000000 00000000 00000000
      0600 0400 0050 0000
      0800 0600 776c6300
      0c00 0700 03000000 ffffffff
      0800 0800 2c010000
      0800 0900 ffffff00
      5c00 0c00
        0c00 0100 05000000 00000000
        0400 0b00
        0c00 0200 64000000 00000000
        0c00 0300 5a000000 00000000
        0c00 0400 70170000 00000000
        0c00 0500 88130000 00000000
        0c00 0600 01000000 00000000
        0c00 0a00 00e1f505 00000000
    """)

    @Test func serviceDumpReply() throws {
        let messages = try NetlinkMessage.split(Self.serviceReply)
        #expect(messages.count == 1)
        #expect(messages[0].type == familyID && messages[0].sequence == 42 && messages[0].flags == Netlink.multi)
        let (command, attributes) = try messages[0].generic()
        #expect(command == IPVSWire.Command.newService)
        let observed = try IPVSWire.decodeService(attributes)
        #expect(observed.service == IPVSService(key: httpKey, scheduler: "wlc", flags: .persistent, timeout: 300,
                                                netmask: 0xFFFF_FF00))
        #expect(observed.statistics == IPVSStatistics(connections: 5, inPackets: 100, outPackets: 90, inBytes: 6000,
                                                      outBytes: 5000, connectionRate: 1, outByteRate: 100_000_000))
    }

    @Test func ipv6FwmarkServiceWithEngine() throws {
        let reply = hex("""
        4c000000 1c00 0200 01000000 00000000 | 01 01 0000
        3800 0180
          0600 0100 0a00 0000
          0800 0500 07000000
          0700 0600 727200 00
          0800 0b00 73697000
          0c00 0700 02000000 ffffffff
          0800 0800 00000000
        """)
        let attributes = try NetlinkMessage.split(reply)[0].generic().attributes
        let observed = try IPVSWire.decodeService(attributes)
        // No NETMASK attribute: the IPv6 default prefix 128; HASHED is dropped.
        #expect(observed.service == IPVSService(key: .fwmark(family: .ipv6, mark: 7), scheduler: "rr",
                                                netmask: 128, persistenceEngine: "sip"))
    }

    @Test func destinationDumpReplyWithConnectionsAndGUE() throws {
        let reply = hex("""
        9c000000 1c00 0200 03000000 00000000 | 05 01 0000
        8800 0280
          1400 0100 c0a80102 00000000 00000000 00000000
          0600 0200 0050 0000
          0800 0300 02000000
          0800 0400 05000000
          0800 0500 64000000
          0800 0600 0a000000
          0800 0700 03000000
          0800 0800 0c000000
          0800 0900 01000000
          0600 0b00 0200 0000
          0500 0d00 01 000000
          0600 0e00 17c0 0000
          0600 0f00 0200 0000
          1000 0c00
            0c00 0100 07000000 00000000
        """)
        let attributes = try NetlinkMessage.split(reply)[0].generic().attributes
        let d = try IPVSWire.decodeDestination(attributes, serviceFamily: .ipv4)
        #expect(d.destination == IPVSDestination(address: IPAddress("192.168.1.2")!, port: 80, forwarding: .tunnel,
                                                 weight: 5, upperThreshold: 100, lowerThreshold: 10, tunnelType: .gue,
                                                 tunnelPort: 6080, tunnelChecksum: .remoteChecksum))
        #expect(d.activeConnections == 3 && d.inactiveConnections == 12 && d.persistentConnections == 1)
        #expect(d.statistics.connections == 7)
    }

    @Test func nonTunnelServerIgnoresLeftoverTunnelAttributes() throws {
        let reply = hex("""
        54000000 1c00 0200 03000000 00000000 | 05 01 0000
        4000 0280
          1400 0100 c0a80102 00000000 00000000 00000000
          0600 0200 0050 0000
          0800 0300 03000000
          0800 0400 00000000
          0500 0d00 02 000000
          0600 0e00 17c0 0000
        """)
        let d = try IPVSWire.decodeDestination(try NetlinkMessage.split(reply)[0].generic().attributes, serviceFamily: .ipv4)
        #expect(d.destination == IPVSDestination(address: IPAddress("192.168.1.2")!, port: 80, forwarding: .directRoute, weight: 0))
    }

    @Test func daemonInfoAndTimeoutReplies() throws {
        let daemon = hex("""
        48000000 1c00 0200 04000000 00000000 | 09 01 0000
        3400 0380
          0800 0100 02000000
          0700 0200 6c6f00 00
          0800 0300 09000000
          0600 0400 c405 0000
          0600 0700 8822 0000
          0500 0800 01 000000
        """)
        let d = try IPVSWire.decodeDaemon(try NetlinkMessage.split(daemon)[0].generic().attributes)
        #expect(d == IPVSSyncDaemon(role: .backup, interface: "lo", syncID: 9, maxLength: 1476, port: 8840, ttl: 1))

        let info = hex("24000000 1c00 0000 05000000 00000000 | 0e 01 0000  0800 0100 01020100  0800 0200 00100000")
        let i = try IPVSWire.decodeInfo(try NetlinkMessage.split(info)[0].generic().attributes)
        #expect(i == IPVSInfo(version: 0x010201, connectionTableSize: 4096))
        #expect(i.versionString == "1.2.1")

        let config = hex("2c000000 1c00 0000 06000000 00000000 | 0c 01 0000  0800 0400 84030000 0800 0500 78000000 0800 0600 2c010000")
        #expect(try IPVSWire.decodeTimeouts(try NetlinkMessage.split(config)[0].generic().attributes)
            == IPVSTimeoutSettings(tcp: 900, tcpFin: 120, udp: 300))
    }

    @Test func acknowledgementsInOneDatagramKeepTheirErrnoAndSequence() throws {
        // Two NLMSG_ERROR messages (with NETLINK_CAP_ACK: errno + the request's header) and a DONE.
        let datagram = hex("""
        24000000 0200 0001 02000000 39300000 | efffffff | 68000000 1c00 0500 02000000 00000000
        24000000 0200 0001 03000000 39300000 | 00000000 | 64000000 1c00 0500 03000000 00000000
        14000000 0300 0200 04000000 39300000 | 00000000
        """)
        let messages = try NetlinkMessage.split(datagram)
        #expect(messages.map(\.sequence) == [2, 3, 4])
        #expect(messages[0].errorCode == EEXIST)
        #expect(messages[1].errorCode == 0)
        #expect(messages[2].type == Netlink.done && messages[2].errorCode == nil)
    }

    @Test func malformedRepliesAreErrorsNotCrashes() {
        // Length field beyond the datagram.
        #expect(throws: NetlinkDecodeError.self) { try NetlinkMessage.split(hex("ff000000 1c00 0000 01000000 00000000")) }
        // Attribute longer than its message.
        let bad = hex("1c000000 1c00 0000 01000000 00000000 | 01 01 0000  4000 0100 0000 0000")
        #expect(throws: NetlinkDecodeError.self) { try NetlinkMessage.split(bad)[0].generic() }
        // A service without its nest.
        let empty = hex("14000000 1c00 0000 01000000 00000000 | 01 01 0000")
        #expect(throws: NetlinkDecodeError.self) { try IPVSWire.decodeService(try NetlinkMessage.split(empty)[0].generic().attributes) }
    }

    @Test func attributesAreFoundAtAnyOffsetAndARepeatedOneReadsAsItsLast() throws {
        // A 5-byte attribute (padded to 8) first, so the next headers sit at offsets that are not
        // multiples of their own size within the datagram; port 80 then port 443; a stray
        // 2-byte tail shorter than a header is ignored.
        let reply = hex("""
        36000000 1c00 0200 03000000 00000000 | 05 01 0000
        0500 0d00 01 000000
        0600 0200 0050 0000
        0600 0200 01bb 0000
        0800 0300 02000000
        ffff
        """)
        let attributes = try NetlinkMessage.split(reply)[0].generic().attributes
        #expect(attributes.u8(13) == 1)
        #expect(attributes.bigEndianU16(2) == 443)
        #expect(attributes.u32(3) == 2)
        #expect(attributes[4] == nil)
        #expect(attributes.u64(3) == nil)
    }

    @Test func encodedChangesDecodeBackToTheSameModel() throws {
        let services = [
            IPVSService(key: httpKey, scheduler: "wlc", flags: .persistent, timeout: 300, netmask: 0xFFFF_FF00),
            IPVSService(key: .address(protocol: .sctp, address: IPAddress("2001:db8::5")!, port: 9000), scheduler: "mh",
                        flags: [.scheduler1, .scheduler2], netmask: 48),
            IPVSService(key: .fwmark(family: .ipv4, mark: 99), scheduler: "lblcr", persistenceEngine: "sip"),
        ]
        for service in services {
            let bytes = IPVSWire.message(for: .addService(service), family: familyID, sequence: 1)
            let decoded = try IPVSWire.decodeService(try NetlinkMessage.split(bytes)[0].generic().attributes)
            #expect(decoded.service == service)
        }
        let destinations = [
            IPVSDestination(address: IPAddress("10.1.0.1")!, port: 0, forwarding: .directRoute, weight: 3),
            IPVSDestination(address: IPAddress("2001:db8::9")!, port: 443, forwarding: .tunnel, weight: 1, tunnelType: .gre,
                            tunnelChecksum: .checksum),
            IPVSDestination(address: IPAddress("10.1.0.2")!, port: 80, forwarding: .masquerade, weight: 65535,
                            upperThreshold: 1000, lowerThreshold: 900),
        ]
        for d in destinations {
            let bytes = IPVSWire.message(for: .addDestination(httpKey, d), family: familyID, sequence: 1)
            let decoded = try IPVSWire.decodeDestination(try NetlinkMessage.split(bytes)[0].generic().attributes,
                                                         serviceFamily: .ipv4)
            #expect(decoded.destination == d)
        }
    }
}
