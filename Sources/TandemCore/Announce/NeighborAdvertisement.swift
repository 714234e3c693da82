/// An unsolicited IPv6 neighbour advertisement announcing a VIP (RFC 4861 §4.4, §7.2.6), as a
/// complete IPv6 packet: the sender hands it to an AF_PACKET socket and the kernel adds only the
/// Ethernet header (destination 33:33:00:00:00:01).
///
/// Fields: IPv6 source = the VIP, destination ff02::1 (all nodes), hop limit 255 (receivers drop
/// any other value, §7.1.2), next header 58. ICMPv6 type 136, code 0, flags with O (override) set
/// so neighbours replace a cached link-layer address, S (solicited) clear because nobody asked, R
/// (router) as given. Then the target address (the VIP) and option 2 (target link-layer address,
/// length 1 = 8 bytes) carrying the MAC. The ICMPv6 checksum covers the pseudo-header (RFC 8200
/// §8.1) and is computed here, so the bytes are complete and testable.
public struct NeighborAdvertisement: Sendable, Hashable {
    /// The all-nodes link-local multicast group ff02::1.
    public static let allNodes = IPAddress.v6(high: 0xFF02_0000_0000_0000, low: 1)
    /// The Ethernet type of IPv6 (ETH_P_IPV6).
    public static let etherType: UInt16 = 0x86DD
    /// ICMPv6 message type of a neighbour advertisement.
    public static let icmpType: UInt8 = 136
    /// Flag bits of the first word after the checksum.
    public static let routerFlag: UInt32 = 0x8000_0000
    public static let solicitedFlag: UInt32 = 0x4000_0000
    public static let overrideFlag: UInt32 = 0x2000_0000

    public var target: IPAddress
    public var mac: MACAddress
    /// Set the R flag: true when this node forwards packets (a router announcing a VIP usually does).
    public var router: Bool

    /// Builds the advertisement of `target` (an IPv6 address). Returns nil for IPv4.
    public init?(target: IPAddress, mac: MACAddress, router: Bool = false) {
        guard target.family == .ipv6 else { return nil }
        self.target = target
        self.mac = mac
        self.router = router
    }

    /// The ICMPv6 message (32 bytes) with its checksum filled in.
    public var icmpMessage: [UInt8] {
        var flags = NeighborAdvertisement.overrideFlag
        if router { flags |= NeighborAdvertisement.routerFlag }
        var m: [UInt8] = [NeighborAdvertisement.icmpType, 0, 0, 0]
        m += (0..<4).map { UInt8(truncatingIfNeeded: flags >> (24 - 8 * $0)) }
        m += target.bytes
        m += [2, 1] + mac.octets                  // option: target link-layer address, 8 bytes
        let sum = NeighborAdvertisement.checksum(source: target, destination: NeighborAdvertisement.allNodes,
                                                 nextHeader: 58, payload: m)
        m[2] = UInt8(sum >> 8)
        m[3] = UInt8(sum & 0xFF)
        return m
    }

    /// The IPv6 packet (40-byte header + ICMPv6 message).
    public var packet: [UInt8] {
        let message = icmpMessage
        var p: [UInt8] = [0x60, 0, 0, 0]          // version 6, traffic class 0, flow label 0
        p += [UInt8(message.count >> 8), UInt8(message.count & 0xFF)]
        p += [58, 255]                            // next header ICMPv6, hop limit 255
        p += target.bytes
        p += NeighborAdvertisement.allNodes.bytes
        return p + message
    }

    /// The Internet checksum (RFC 1071) of `payload` under the IPv6 pseudo-header of RFC 8200 §8.1.
    public static func checksum(source: IPAddress, destination: IPAddress, nextHeader: UInt8, payload: [UInt8]) -> UInt16 {
        var sum: UInt32 = 0
        func add(_ bytes: [UInt8]) {
            var i = 0
            while i + 1 < bytes.count {
                sum &+= UInt32(bytes[i]) << 8 | UInt32(bytes[i + 1])
                i += 2
            }
            if i < bytes.count { sum &+= UInt32(bytes[i]) << 8 }
        }
        add(source.bytes)
        add(destination.bytes)
        let length = UInt32(payload.count)
        add([UInt8(length >> 24), UInt8((length >> 16) & 0xFF), UInt8((length >> 8) & 0xFF), UInt8(length & 0xFF)])
        add([0, 0, 0, nextHeader])
        add(payload)
        while sum >> 16 != 0 { sum = (sum & 0xFFFF) + (sum >> 16) }
        return ~UInt16(sum)
    }
}
