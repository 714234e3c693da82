import TandemCore

/// Pure encoding and decoding of the rtnetlink route messages of the cluster's table
/// (RTM_NEWROUTE, RTM_DELROUTE, and RTM_NEWROUTE dump replies), from and to bytes. The payload
/// is `struct rtmsg` (include/uapi/linux/rtnetlink.h: family, dst_len, src_len, tos, table,
/// protocol, scope, type as bytes, then flags u32; 12 bytes) followed by attributes.
/// RouteNetlink.swift only frames and sends these bytes through libnl.
enum ClusterRouteMessages {
    static let newRoute: UInt16 = 24
    static let deleteRoute: UInt16 = 25
    static let getRoute: UInt16 = 26

    static let headerLength = 12

    /// NLM_F_CREATE | NLM_F_EXCL (include/uapi/linux/netlink.h): create, and refuse with EEXIST
    /// when the route is already there.
    static let createExclusive: Int32 = 0x400 | 0x200

    enum Attribute {
        static let destination: UInt16 = 1
        static let outputInterface: UInt16 = 4
        static let priority: UInt16 = 6
        static let table: UInt16 = 15
    }

    /// RT_SCOPE_UNIVERSE, what `ip route add` gives a blackhole or gateway route.
    static let scopeUniverse: UInt8 = 0
    /// RT_SCOPE_NOWHERE: on a delete, "any scope" (net/ipv4/fib_trie.c `fib_table_delete`).
    static let scopeNowhere: UInt8 = 255
    /// RT_TABLE_UNSPEC, in `rtm_table` when the table needs RTA_TABLE (ids above 255).
    static let tableUnspecified: UInt8 = 0
    /// RTM_F_CLONED: a cache entry, not a route of the table.
    static let clonedFlag: UInt32 = 0x200

    /// The payload (rtmsg and attributes) of an RTM_NEWROUTE or RTM_DELROUTE for `route` in
    /// `table`. As iproute2 does, `rtm_table` carries the id when it fits a byte and RTA_TABLE
    /// always carries it. A delete asks for any scope but the exact type, protocol and metric, so
    /// the kernel removes only that route (a foreign route of another protocol never matches).
    static func request(_ route: ClusterRoute, table: UInt32, delete: Bool) -> [UInt8] {
        let destination = route.destination
        var bytes: [UInt8] = [
            destination.family == .ipv4 ? RouteMessages.familyIPv4 : RouteMessages.familyIPv6,
            UInt8(destination.length), 0, 0,
            table < 256 ? UInt8(table) : tableUnspecified,
            route.protocolNumber,
            delete ? scopeNowhere : scopeUniverse,
            route.kind.type,
        ]
        bytes += hostBytes(UInt32(0))
        var attributes = NetlinkAttributeWriter()
        attributes.put(Attribute.destination, destination.address.masked(prefixLength: destination.length).bytes)
        attributes.putU32(Attribute.table, table)
        attributes.putU32(Attribute.priority, route.priority)
        if case .unicast(let index) = route.kind, index != 0 {
            attributes.putU32(Attribute.outputInterface, UInt32(bitPattern: index))
        }
        return bytes + attributes.bytes
    }

    /// A route of `table` from one RTM_NEWROUTE message (header included), or nil for another
    /// message type, another table, another family, a cloned entry, or a message too short.
    /// The table is RTA_TABLE when present, else `rtm_table`; the metric RTA_PRIORITY, else 0.
    static func route(message: ArraySlice<UInt8>, table wanted: UInt32) -> ClusterRoute? {
        guard message.count >= Netlink.headerLength + headerLength,
              readHost(UInt16.self, message.dropFirst(4)) == newRoute else { return nil }
        let payload = message.dropFirst(Netlink.headerLength)
        let base = payload.startIndex
        let familyCode = payload[base], length = Int(payload[base + 1])
        let headerTable = payload[base + 4], proto = payload[base + 5], type = payload[base + 7]
        guard let flags = readHost(UInt32.self, payload.dropFirst(8)), flags & clonedFlag == 0 else { return nil }
        let family: AddressFamily
        switch familyCode {
        case RouteMessages.familyIPv4: family = .ipv4
        case RouteMessages.familyIPv6: family = .ipv6
        default: return nil
        }
        guard length <= family.bitWidth,
              let attributes = RouteAttributes(payload.dropFirst(headerLength), isValid: { type, value in
                  switch type {
                  case Attribute.table, Attribute.priority, Attribute.outputInterface: return value.count >= 4
                  case Attribute.destination: return value.count == family.bitWidth / 8
                  default: return true
                  }
              }) else { return nil }
        let table = attributes[Attribute.table].flatMap { readHost(UInt32.self, $0) } ?? UInt32(headerTable)
        guard table == wanted else { return nil }
        let zero = [UInt8](repeating: 0, count: family.bitWidth / 8)
        guard let address = IPAddress(bytes: attributes[Attribute.destination] ?? zero[...], family: family) else { return nil }
        let priority = attributes[Attribute.priority].flatMap { readHost(UInt32.self, $0) } ?? 0
        let kind: ClusterRoute.Kind
        switch type {
        case ClusterRoute.Kind.blackholeType: kind = .blackhole
        case ClusterRoute.Kind.unicastType:
            kind = .unicast(interfaceIndex: attributes[Attribute.outputInterface].flatMap { readHost(Int32.self, $0) } ?? 0)
        default: kind = .other(type)
        }
        return ClusterRoute(destination: IPPrefix(address: address, length: length), kind: kind, protocolNumber: proto,
                            priority: priority)
    }
}
