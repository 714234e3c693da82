/// A 48-bit Ethernet hardware address, printed as `ip link` prints it: `02:00:5e:10:00:01`.
public struct MACAddress: Sendable, Hashable, CustomStringConvertible {
    /// The six octets in wire order.
    public let octets: [UInt8]

    /// The broadcast address ff:ff:ff:ff:ff:ff (the Ethernet destination of every gratuitous ARP).
    public static let broadcast = MACAddress(unchecked: Array(repeating: 0xFF, count: 6))
    /// The all-zero address (the ignored target hardware address of an ARP announcement).
    public static let zero = MACAddress(unchecked: Array(repeating: 0, count: 6))

    /// Accepts exactly six octets.
    public init?(octets: some Collection<UInt8>) {
        guard octets.count == 6 else { return nil }
        self.octets = Array(octets)
    }

    /// Parses six colon-separated pairs of hex digits (either case).
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 6 else { return nil }
        var out: [UInt8] = []
        for part in parts {
            guard part.count == 2, let b = UInt8(part, radix: 16) else { return nil }
            out.append(b)
        }
        octets = out
    }

    private init(unchecked: [UInt8]) { octets = unchecked }

    /// The Ethernet multicast address an IPv6 multicast group maps to (RFC 2464 §7):
    /// 33:33 followed by the group's last four octets. ff02::1 gives 33:33:00:00:00:01.
    public static func ipv6Multicast(_ group: IPAddress) -> MACAddress {
        let b = group.bytes
        let tail = b.count == 16 ? Array(b[12..<16]) : [0, 0, 0, 0]
        return MACAddress(unchecked: [0x33, 0x33] + tail)
    }

    public var description: String {
        octets.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(separator: ":")
    }
}
