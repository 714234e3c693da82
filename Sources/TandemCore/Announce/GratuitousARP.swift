/// The 28-byte ARP payload that announces a VIP (everything after the Ethernet header).
///
/// Layout (RFC 826, all fields in network order): htype 1 (Ethernet), ptype 0x0800 (IPv4),
/// hlen 6, plen 4, op, sender hardware address (SHA), sender protocol address (SPA), target
/// hardware address (THA), target protocol address (TPA). In both forms SPA = TPA = VIP, which is
/// what makes the message gratuitous.
///
/// - `request` is the "ARP Announcement" of RFC 5227 §2.3: op 1, THA all zero (it is ignored;
///   the kernel's own gratuitous ARP in `inetdev_send_gratuitous_arp` also sends zero).
/// - `reply` is the form of RFC 5944 §4.6 and `arping -A`: op 2, THA = SHA. Linux treats a reply
///   as gratuitous only when THA equals SHA (net/ipv4/arp.c `arp_is_garp`).
///
/// The Ethernet destination is the broadcast address in both forms; the sender passes it to the
/// kernel, which writes the Ethernet header.
public struct GratuitousARP: Sendable, Hashable {
    /// The ARP opcode field.
    public enum Operation: UInt16, Sendable, Hashable {
        case request = 1
        case reply = 2
    }

    public var operation: Operation
    public var senderHardwareAddress: MACAddress
    public var address: IPAddress

    /// Builds the announcement of `address` (an IPv4 address) from the interface whose MAC is `mac`.
    /// Returns nil for an IPv6 address: IPv6 uses a neighbour advertisement instead.
    public init?(address: IPAddress, mac: MACAddress, mode: AnnounceSettings.ARPMode) {
        guard address.family == .ipv4 else { return nil }
        self.address = address
        self.senderHardwareAddress = mac
        self.operation = mode == .request ? .request : .reply
    }

    /// Length of the payload: 8 bytes of header plus two (MAC, IPv4) pairs.
    public static let payloadLength = 28
    /// The Ethernet type of ARP (ETH_P_ARP).
    public static let etherType: UInt16 = 0x0806

    /// The target hardware address the form calls for: zero for a request, our own MAC for a reply.
    public var targetHardwareAddress: MACAddress {
        operation == .request ? .zero : senderHardwareAddress
    }

    /// The payload bytes, in wire order.
    public var payload: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(GratuitousARP.payloadLength)
        out += [0x00, 0x01]                       // htype: Ethernet
        out += [0x08, 0x00]                       // ptype: IPv4
        out += [6, 4]                             // hlen, plen
        out += [UInt8(operation.rawValue >> 8), UInt8(operation.rawValue & 0xFF)]
        out += senderHardwareAddress.octets
        out += address.bytes
        out += targetHardwareAddress.octets
        out += address.bytes
        return out
    }
}
