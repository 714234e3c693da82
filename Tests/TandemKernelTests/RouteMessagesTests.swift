import CNetlink
import Glibc
import Testing
@testable import TandemCore
@testable import TandemKernel

/// rtnetlink messages captured from a Linux 6.x kernel (a network namespace with lo and a veth
/// pair v1/v0; v0 holds 10.0.0.1/24, the secondary 10.0.0.100/24 labelled v0:vip and
/// 2001:db8::100/64 nodad), exactly as received on a NETLINK_ROUTE socket.
enum RouteCaptures {
    /// The reply to RTM_GETADDR (dump, AF_UNSPEC) up to NLMSG_DONE, which came in a datagram of its own.
    static let addressDump = hex("""
    4c000000 14000200 01000000 d17a0000 |
      020880fe 01000000 08000100 7f000001 08000200 7f000001 07000300 6c6f0000
      08000800 80000000 14000600 ffffffff ffffffff 5c6d1000 5c6d1000
    4c000000 14000200 01000000 d17a0000 |
      02188000 03000000 08000100 0a000001 08000200 0a000001 07000300 76300000
      08000800 80000000 14000600 ffffffff ffffffff 5f6d1000 5f6d1000
    50000000 14000200 01000000 d17a0000 |
      02188100 03000000 08000100 0a000064 08000200 0a000064 0b000300 76303a76
      69700000 08000800 81000000 14000600 ffffffff ffffffff 5f6d1000 5f6d1000
    50000000 14000200 01000000 d17a0000 |
      0a8080fe 01000000 14000100 00000000 00000000 00000000 00000001 14000600
      ffffffff ffffffff 5c6d1000 5c6d1000 08000800 80000000 05000b00 01000000
    50000000 14000200 01000000 d17a0000 |
      0a4080fd 02000000 14000100 fe800000 00000000 ecb8efff fe4ba9df 14000600
      ffffffff ffffffff 5e6d1000 5e6d1000 08000800 80000000 05000b00 03000000
    48000000 14000200 01000000 d17a0000 |
      0a408200 03000000 14000100 20010db8 00000000 00000000 00000100 14000600
      ffffffff ffffffff 606d1000 606d1000 08000800 82000000
    50000000 14000200 01000000 d17a0000 |
      0a4080fd 03000000 14000100 fe800000 00000000 0005a2ff fe0c9daf 14000600
      ffffffff ffffffff 5e6d1000 5e6d1000 08000800 80000000 05000b00 03000000
    """)

    /// Notifications: `ip addr add 10.0.0.101/24 dev v0 label v0:vip2` (sent by the ip process's
    /// socket, port 31482), its removal (port 31483), `ip addr add 2001:db8::101/64 dev v0 nodad`
    /// (IPv6: port 0), `ip link set v1 down`.
    static let addressAddedByIP = hex("""
    50000000 14000000 bcbd0d6b fa7a0000 |
      02188100 03000000 08000100 0a000065 08000200 0a000065 0c000300 76303a76
      69703200 08000800 81000000 14000600 ffffffff ffffffff c66f1000 c66f1000
    """)

    static let addressRemovedByIP = hex("""
    50000000 15000000 bcbd0d6b fb7a0000 |
      02188100 03000000 08000100 0a000065 08000200 0a000065 0c000300 76303a76
      69703200 08000800 81000000 14000600 ffffffff ffffffff c66f1000 c66f1000
    """)

    static let ipv6AddressAddedByKernel = hex("""
    48000000 14000000 00000000 00000000 |
      0a408200 03000000 14000100 20010db8 00000000 00000000 00000101 14000600
      ffffffff ffffffff c86f1000 c86f1000 08000800 82000000
    """)

    static let linkDown = hex("""
    d4050000 10000000 00000000 00000000 |
      00000100 02000000 02100000 01000000 07000300 76310000 08000d00 e8030000
      05001000 02000000 05001100 00000000 05004300 00000000 08000400 dc050000
      08003200 44000000 08003300 ffff0000 08001b00 00000000 08001e00 00000000
      08003d00 00000000 08001f00 02000000 08002800 ffff0000 08002900 00000100
      08003a00 00000100 08003f00 00000100 08004000 00000100 08003b00 f8ff0700
      08003c00 ffff0000 08004200 00000000 08002000 02000000 05002100 00000000
      08002300 03000000 08002f00 01000000 08003000 02000000 06004400 00000000
      06004500 00000000 05002700 00000000 0a000100 eeb8ef4b a9df0000 0a000200
      ffffffff ffff0000 cc001700 08000000 00000000 06000000 00000000 f4020000
      00000000 04020000 00000000 00000000 00000000 00000000 00000000 00000000
      00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000
      00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000
      00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000
      00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000
      00000000 00000000 00000000 00000000 00000000 64000700 08000000 06000000
      f4020000 04020000 00000000 00000000 00000000 00000000 00000000 00000000
      00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000
      00000000 00000000 00000000 00000000 00000000 00000000 0c002b00 05000200
      00000000 10001200 09000100 76657468 00000000 08000500 03000000 0c000600
      6e6f7175 65756500 30031a00 8c000200 88000100 00000000 00000000 00000000
      01000000 01000000 01000000 01000000 00000000 01000000 00000000 00000000
      00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000
      00000000 00000000 00000000 00000000 00000000 00000000 00000000 10270000
      e8030000 00000000 00000000 00000000 00000000 01000000 a0020a00 08000100
      10000080 14000500 ffff0000 5e6d1000 d4460000 e8030000 f4000200 00000000
      40000000 dc050000 01000000 01000000 01000000 01000000 ffffffff a00f0000
      e8030000 00000000 803a0900 80510100 03000000 58020000 10000000 00000000
      01000000 01000000 01000000 60ea0000 00000000 00000000 00000000 00000000
      00000000 00000000 01000000 00000000 00000000 10270000 e8030000 01000000
      00000000 00000000 01000000 00000000 00000000 01000000 00000000 00000000
      00000000 00000000 80ee3600 00000000 00000000 01000000 00000000 00000000
      00000000 00000000 00000000 00040000 00000000 ffff0000 ffffffff 01000000
      00000000 00000000 00000000 34010300 26000000 00000000 08000000 00000000
      84020000 00000000 00000000 00000000 08000000 00000000 00000000 00000000
      00000000 00000000 00000000 00000000 06000000 00000000 06000000 00000000
      b0010000 00000000 00000000 00000000 00000000 00000000 00000000 00000000
      00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000
      00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000
      00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000
      00000000 00000000 00000000 00000000 08000000 00000000 06000000 00000000
      00000000 00000000 00000000 00000000 84020000 00000000 b0010000 00000000
      00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000
      3c000600 07000000 00000000 00000000 00000000 00000000 00000000 06000000
      00000000 00000000 00000000 00000000 00000000 00000000 00000000 14000700
      00000000 00000000 00000000 00000000 05000800 00000000 24000e00 00000000
      00000000 00000000 00000000 00000000 00000000 00000000 00000000 04003e80
      04004180
    """)

    /// One datagram of the reply to RTM_GETLINK (dump, IFLA_EXT_MASK = RTEXT_FILTER_VF): v0.
    static let linkDump = hex("""
    d4050000 10000200 01000000 d17a0000 |
      00000100 03000000 43100100 00000000 07000300 76300000 08000d00 e8030000
      05001000 06000000 05001100 00000000 05004300 00000000 08000400 dc050000
      08003200 44000000 08003300 ffff0000 08001b00 00000000 08001e00 00000000
      08003d00 00000000 08001f00 02000000 08002800 ffff0000 08002900 00000100
      08003a00 00000100 08003f00 00000100 08004000 00000100 08003b00 f8ff0700
      08003c00 ffff0000 08004200 00000000 08002000 02000000 05002100 01000000
      08002300 02000000 08002f00 01000000 08003000 01000000 06004400 00000000
      06004500 00000000 05002700 00000000 0a000100 0205a20c 9daf0000 0a000200
      ffffffff ffff0000 cc001700 06000000 00000000 08000000 00000000 04020000
      00000000 f4020000 00000000 00000000 00000000 00000000 00000000 00000000
      00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000
      00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000
      00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000
      00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000
      00000000 00000000 00000000 00000000 00000000 64000700 06000000 08000000
      04020000 f4020000 00000000 00000000 00000000 00000000 00000000 00000000
      00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000
      00000000 00000000 00000000 00000000 00000000 00000000 0c002b00 05000200
      00000000 10001200 09000100 76657468 00000000 08000500 02000000 0c000600
      6e6f7175 65756500 30031a00 8c000200 88000100 00000000 00000000 00000000
      01000000 01000000 01000000 01000000 00000000 01000000 00000000 00000000
      00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000
      00000000 00000000 00000000 00000000 00000000 00000000 00000000 10270000
      e8030000 00000000 00000000 00000000 00000000 01000000 a0020a00 08000100
      10000080 14000500 ffff0000 5e6d1000 ac660000 e8030000 f4000200 00000000
      40000000 dc050000 01000000 01000000 01000000 01000000 ffffffff a00f0000
      e8030000 00000000 803a0900 80510100 03000000 58020000 10000000 00000000
      01000000 01000000 01000000 60ea0000 00000000 00000000 00000000 00000000
      00000000 00000000 01000000 00000000 00000000 10270000 e8030000 01000000
      00000000 00000000 01000000 00000000 00000000 01000000 00000000 00000000
      00000000 00000000 80ee3600 00000000 00000000 01000000 00000000 00000000
      00000000 00000000 00000000 00040000 00000000 ffff0000 ffffffff 01000000
      00000000 00000000 00000000 34010300 26000000 00000000 06000000 00000000
      b0010000 00000000 00000000 00000000 06000000 00000000 00000000 00000000
      00000000 00000000 00000000 00000000 08000000 00000000 08000000 00000000
      84020000 00000000 00000000 00000000 00000000 00000000 00000000 00000000
      00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000
      00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000
      00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000
      00000000 00000000 00000000 00000000 06000000 00000000 08000000 00000000
      00000000 00000000 00000000 00000000 b0010000 00000000 84020000 00000000
      00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000
      3c000600 07000000 00000000 00000000 00000000 00000000 00000000 08000000
      00000000 00000000 00000000 00000000 00000000 00000000 00000000 14000700
      00000000 00000000 00000000 00000000 05000800 00000000 24000e00 00000000
      00000000 00000000 00000000 00000000 00000000 00000000 00000000 04003e80
      04004180
    """)
}

/// One rtnetlink message: header (type, flags 0, sequence 0, `port`), family header, attributes,
/// then `trailing` bytes inside the message.
func routeMessage(type: UInt16, port: UInt32 = 0, header: [UInt8], attributes: [(UInt16, [UInt8])],
                  trailing: [UInt8] = []) -> [UInt8] {
    var body = header
    for (kind, value) in attributes {
        body += hostBytes(UInt16(4 + value.count)) + hostBytes(kind) + value
        while body.count % 4 != 0 { body.append(0) }
    }
    body += trailing
    return hostBytes(UInt32(16 + body.count)) + hostBytes(type) + hostBytes(UInt16(0)) + hostBytes(UInt32(0))
        + hostBytes(port) + body
}

/// `ifaddrmsg`: family, prefix length, flags, scope, index.
func addressHeader(family: UInt8, prefixLength: UInt8, flags: UInt8 = 0, index: UInt32) -> [UInt8] {
    [family, prefixLength, flags, 0] + hostBytes(index)
}

/// `ifinfomsg`: family, pad, type, index, flags, change.
func linkHeader(index: Int32, flags: UInt32) -> [UInt8] {
    [0, 0] + hostBytes(UInt16(1)) + hostBytes(index) + hostBytes(flags) + hostBytes(UInt32(0))
}

/// What libnl's own object parsers (`nl_msg_parse`) make of one message: the reference that
/// `RouteMessages` must match (RouteNetlink.swift decoded through them before).
func libnlNotification(_ message: [UInt8]) -> RouteNotification? {
    final class Result {
        var notification: RouteNotification?
        let port: UInt32
        init(port: UInt32) { self.port = port }
    }
    var copy = message
    return copy.withUnsafeMutableBytes { raw -> RouteNotification? in
        guard let msg = nlmsg_convert(raw.baseAddress!.assumingMemoryBound(to: nlmsghdr.self)) else { return nil }
        defer { nlmsg_free(msg) }
        nlmsg_set_proto(msg, NETLINK_ROUTE)
        let result = Result(port: raw.load(fromByteOffset: 12, as: UInt32.self))
        _ = nl_msg_parse(msg, { object, arg in
            guard let object, let arg else { return }
            let result = Unmanaged<Result>.fromOpaque(arg).takeUnretainedValue()
            switch Int32(nl_object_get_msgtype(object)) {
            case Int32(RTM_NEWLINK): result.notification = .linkChanged(libnlLink(object))
            case Int32(RTM_DELLINK): result.notification = .linkRemoved(libnlLink(object))
            case Int32(RTM_NEWADDR): result.notification = libnlAddress(object).map { .addressAdded($0, senderPort: result.port) }
            case Int32(RTM_DELADDR): result.notification = libnlAddress(object).map { .addressRemoved($0, senderPort: result.port) }
            default: break
            }
        }, Unmanaged.passUnretained(result).toOpaque())
        return result.notification
    }
}

private func libnlAddress(_ object: OpaquePointer) -> InterfaceAddress? {
    guard let local = rtnl_addr_get_local(object) else { return nil }
    let family: AddressFamily
    switch rtnl_addr_get_family(object) {
    case AF_INET: family = .ipv4
    case AF_INET6: family = .ipv6
    default: return nil
    }
    guard let raw = nl_addr_get_binary_addr(local) else { return nil }
    let bytes = UnsafeRawBufferPointer(start: raw, count: Int(nl_addr_get_len(local)))
    guard let address = IPAddress(bytes: bytes, family: family) else { return nil }
    var label: String?
    if family == .ipv4, let l = rtnl_addr_get_label(object) { label = String(cString: l) }
    return InterfaceAddress(interfaceIndex: rtnl_addr_get_ifindex(object), interface: "",
                            prefix: IPPrefix(address: address, length: Int(rtnl_addr_get_prefixlen(object))),
                            flags: UInt32(rtnl_addr_get_flags(object)), label: label)
}

private func libnlLink(_ object: OpaquePointer) -> LinkState {
    var hardware: [UInt8] = []
    if let address = rtnl_link_get_addr(object), let bytes = nl_addr_get_binary_addr(address) {
        hardware = Array(UnsafeRawBufferPointer(start: bytes, count: Int(nl_addr_get_len(address))))
    }
    return LinkState(index: rtnl_link_get_ifindex(object), name: rtnl_link_get_name(object).map { String(cString: $0) } ?? "",
                     flags: UInt32(truncatingIfNeeded: rtnl_link_get_flags(object)), operState: rtnl_link_get_operstate(object),
                     hardwareAddress: hardware)
}

/// The messages of a datagram, each exactly `nlmsg_len` bytes.
func messages(of datagram: [UInt8]) throws -> [[UInt8]] {
    try NetlinkMessage.split(datagram).map { m in
        hostBytes(UInt32(16 + m.payload.count)) + hostBytes(m.type) + hostBytes(m.flags) + hostBytes(m.sequence)
            + hostBytes(m.portID) + Array(m.payload)
    }
}

struct RouteMessagesTests {
    static func address(_ index: Int32, _ prefix: String, flags: UInt32, label: String? = nil) -> InterfaceAddress {
        InterfaceAddress(interfaceIndex: index, interface: "", prefix: IPPrefix(prefix)!, flags: flags, label: label)
    }

    @Test func addressDumpReply() {
        let port: UInt32 = 31441
        #expect(RouteMessages.notifications(inDatagram: RouteCaptures.addressDump) == [
            .addressAdded(Self.address(1, "127.0.0.1/8", flags: 0x80, label: "lo"), senderPort: port),
            .addressAdded(Self.address(3, "10.0.0.1/24", flags: 0x80, label: "v0"), senderPort: port),
            .addressAdded(Self.address(3, "10.0.0.100/24", flags: 0x81, label: "v0:vip"), senderPort: port),
            .addressAdded(Self.address(1, "::1/128", flags: 0x80), senderPort: port),
            .addressAdded(Self.address(2, "fe80::ecb8:efff:fe4b:a9df/64", flags: 0x80), senderPort: port),
            .addressAdded(Self.address(3, "2001:db8::100/64", flags: 0x82), senderPort: port),
            .addressAdded(Self.address(3, "fe80::5:a2ff:fe0c:9daf/64", flags: 0x80), senderPort: port),
        ])
    }

    @Test func notifications() {
        #expect(RouteMessages.notifications(inDatagram: RouteCaptures.addressAddedByIP)
            == [.addressAdded(Self.address(3, "10.0.0.101/24", flags: 0x81, label: "v0:vip2"), senderPort: 31482)])
        #expect(RouteMessages.notifications(inDatagram: RouteCaptures.addressRemovedByIP)
            == [.addressRemoved(Self.address(3, "10.0.0.101/24", flags: 0x81, label: "v0:vip2"), senderPort: 31483)])
        #expect(RouteMessages.notifications(inDatagram: RouteCaptures.ipv6AddressAddedByKernel)
            == [.addressAdded(Self.address(3, "2001:db8::101/64", flags: 0x82), senderPort: 0)])
        #expect(RouteMessages.notifications(inDatagram: RouteCaptures.linkDown)
            == [.linkChanged(LinkState(index: 2, name: "v1", flags: 0x1002, operState: 2, hardwareAddress: [0xee, 0xb8, 0xef, 0x4b, 0xa9, 0xdf]))])
        #expect(RouteMessages.notifications(inDatagram: RouteCaptures.linkDump)
            == [.linkChanged(LinkState(index: 3, name: "v0", flags: 0x11043, operState: 6, hardwareAddress: [0x02, 0x05, 0xa2, 0x0c, 0x9d, 0xaf]))])
    }

    /// Hand-made messages, each at one edge of what libnl accepts.
    static let edges: [(String, [UInt8])] = [
        ("IPv4 without IFA_LOCAL is 0.0.0.0", routeMessage(type: 20, header: addressHeader(family: 2, prefixLength: 24, index: 3),
                                                             attributes: [(1, [10, 0, 0, 9])])),
        ("IPv4 peer address: the local one counts", routeMessage(type: 20, header: addressHeader(family: 2, prefixLength: 32, index: 3),
                                                                   attributes: [(2, [10, 0, 0, 1]), (1, [10, 0, 0, 2])])),
        ("IPv6 with only IFA_LOCAL", routeMessage(type: 21, header: addressHeader(family: 10, prefixLength: 64, index: 3),
                                                  attributes: [(2, Array(repeating: 0x20, count: 16))])),
        ("IPv6 with neither address", routeMessage(type: 20, header: addressHeader(family: 10, prefixLength: 64, index: 3),
                                                   attributes: [(8, hostBytes(UInt32(0x80)))])),
        ("IPv4 address of 3 bytes", routeMessage(type: 20, header: addressHeader(family: 2, prefixLength: 8, index: 1),
                                                 attributes: [(2, [127, 0, 0])])),
        ("unknown family", routeMessage(type: 20, header: addressHeader(family: 7, prefixLength: 8, index: 1),
                                        attributes: [(2, [127, 0, 0, 1])])),
        ("IFA_FLAGS overrides ifa_flags", routeMessage(type: 20, header: addressHeader(family: 2, prefixLength: 8, flags: 0x80, index: 1),
                                                       attributes: [(2, [127, 0, 0, 1]), (8, hostBytes(UInt32(0x301)))])),
        ("label without its NUL", routeMessage(type: 20, header: addressHeader(family: 2, prefixLength: 8, index: 1),
                                               attributes: [(2, [127, 0, 0, 1]), (3, Array("lo".utf8))])),
        ("label of 16 bytes with its NUL", routeMessage(type: 20, header: addressHeader(family: 2, prefixLength: 8, index: 1),
                                                        attributes: [(2, [127, 0, 0, 1]), (3, Array("abcdefghijklmno".utf8) + [0])])),
        ("label of 17 bytes", routeMessage(type: 20, header: addressHeader(family: 2, prefixLength: 8, index: 1),
                                           attributes: [(2, [127, 0, 0, 1]), (3, Array("abcdefghijklmnop".utf8) + [0])])),
        ("label with an inner NUL", routeMessage(type: 20, header: addressHeader(family: 2, prefixLength: 8, index: 1),
                                                 attributes: [(2, [127, 0, 0, 1]), (3, [0x61, 0, 0x62, 0])])),
        ("invalid label then a valid one", routeMessage(type: 20, header: addressHeader(family: 2, prefixLength: 8, index: 1),
                                                        attributes: [(3, [0x61]), (2, [127, 0, 0, 1]), (3, [0x62, 0])])),
        ("short IFA_CACHEINFO", routeMessage(type: 20, header: addressHeader(family: 10, prefixLength: 64, index: 1),
                                             attributes: [(1, Array(repeating: 1, count: 16)), (6, [1, 2, 3])])),
        ("IPv6 label is ignored", routeMessage(type: 20, header: addressHeader(family: 10, prefixLength: 64, index: 1),
                                               attributes: [(1, Array(repeating: 1, count: 16)), (3, [0x61, 0])])),
        ("truncated attribute ends the walk", routeMessage(type: 20, header: addressHeader(family: 2, prefixLength: 8, index: 1),
                                                           attributes: [(2, [127, 0, 0, 1])], trailing: [0x40, 0, 3, 0, 0x6c, 0x6f, 0, 0])),
        ("address header cut short", routeMessage(type: 20, header: [2, 8, 0, 0], attributes: [])),
        ("link", routeMessage(type: 16, port: 7, header: linkHeader(index: 4, flags: 0x11043),
                              attributes: [(3, Array("eth0".utf8) + [0]), (16, [6])])),
        ("removed link without operstate", routeMessage(type: 17, header: linkHeader(index: 4, flags: 0x1002),
                                                        attributes: [(3, Array("eth0".utf8) + [0])])),
        ("link without a name", routeMessage(type: 16, header: linkHeader(index: 4, flags: 1), attributes: [(16, [6])])),
        ("link name without its NUL", routeMessage(type: 16, header: linkHeader(index: 4, flags: 1),
                                                   attributes: [(3, Array("eth0".utf8))])),
        ("empty operstate", routeMessage(type: 16, header: linkHeader(index: 4, flags: 1),
                                         attributes: [(3, Array("eth0".utf8) + [0]), (16, [])])),
        ("link header cut short", routeMessage(type: 16, header: Array(linkHeader(index: 4, flags: 1).prefix(12)), attributes: [])),
        ("nested-flagged name", routeMessage(type: 16, header: linkHeader(index: 4, flags: 1),
                                             attributes: [(0x8003, Array("eth1".utf8) + [0])])),
        ("other message type", routeMessage(type: 24, header: linkHeader(index: 4, flags: 1), attributes: [])),
    ]

    @Test(arguments: edges.map(\.0))
    func decodesAsLibnlDoes(_ name: String) {
        let message = Self.edges.first { $0.0 == name }!.1
        #expect(RouteMessages.notification(message: message[...]) == libnlNotification(message))
    }

    @Test func capturedMessagesDecodeAsLibnlDoes() throws {
        for datagram in [RouteCaptures.addressDump, RouteCaptures.addressAddedByIP, RouteCaptures.addressRemovedByIP,
                         RouteCaptures.ipv6AddressAddedByKernel, RouteCaptures.linkDown, RouteCaptures.linkDump] {
            for message in try messages(of: datagram) {
                let decoded = RouteMessages.notification(message: message[...])
                #expect(decoded != nil)
                #expect(decoded == libnlNotification(message))
            }
        }
    }

    @Test func datagramWalkStopsAtABadLength() {
        let one = routeMessage(type: 16, header: linkHeader(index: 4, flags: 1), attributes: [(3, Array("eth0".utf8) + [0])])
        // The second message claims more bytes than are left: the walk ends there, as nlmsg_ok does.
        var broken = one
        broken[0] = 0xff
        #expect(RouteMessages.notifications(inDatagram: one + broken + one).count == 1)
        #expect(RouteMessages.notifications(inDatagram: one + one).count == 2)
        #expect(RouteMessages.notifications(inDatagram: Array(one.prefix(15))).isEmpty)
    }
}

/// The dumps through libnl's socket and the pure decoder, against this machine's own kernel
/// (reading links and addresses needs no privilege).
struct RouteSocketDumpTests {
    @Test func loopbackIsListed() throws {
        let socket = try RouteSocket(purpose: "test dumps")
        let links = try socket.dumpLinks()
        let lo = try #require(links.first { $0.name == "lo" })
        #expect(lo.index == Int32(if_nametoindex("lo")))
        let addresses = try socket.dumpAddresses()
        #expect(addresses.contains { $0.interface == "lo" && $0.prefix == IPPrefix("127.0.0.1/8")! && $0.label == "lo" })
    }
}
