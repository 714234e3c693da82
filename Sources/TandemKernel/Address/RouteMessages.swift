import TandemCore

/// Pure decoding of the rtnetlink messages Tandem reads (RTM_NEWLINK, RTM_DELLINK, RTM_NEWADDR,
/// RTM_DELADDR) from their bytes: the notifications of the link and address monitor and the
/// replies to link and address dumps. RouteNetlink.swift receives the bytes through libnl and
/// hands each message here, so this is the only place that reads them (and what the fuzzer runs).
///
/// It reads exactly what libnl 3.7's object parsers (`link_msg_parser`, `addr_msg_parser`) read
/// for the fields Tandem uses, and refuses a message where they refuse it:
/// - a message shorter than its family header (`ifinfomsg`, 16 bytes; `ifaddrmsg`, 8 bytes) is dropped;
/// - attributes are walked as `nla_parse` does: a truncated attribute ends the walk silently, a
///   repeated type keeps the last one;
/// - every IFLA_IFNAME and IFA_LABEL must be NUL-terminated and at most 16 bytes, every
///   IFLA_OPERSTATE at least one byte and every IFA_CACHEINFO at least 16, or the message is
///   dropped (libnl's policies, checked on each attribute as `nla_parse` does);
/// - a link without IFLA_IFNAME is dropped (`rtnl_link_info_parse`);
/// - names are cut as `nla_strlcpy(…, IFNAMSIZ)` cuts them: at most 15 bytes, up to the first NUL;
/// - an IPv4 address is IFA_LOCAL, or 0.0.0.0 without it; an IPv6 one is IFA_LOCAL, or
///   IFA_ADDRESS without it; the flags are IFA_FLAGS when present, else `ifa_flags` (an IFA_FLAGS
///   shorter than 4 bytes, which libnl would read past, counts as absent).
/// Attributes Tandem does not read (statistics, link info, per-family data) are not validated.
enum RouteMessages {
    static let newLink: UInt16 = 16
    static let deleteLink: UInt16 = 17
    static let newAddress: UInt16 = 20
    static let deleteAddress: UInt16 = 21

    /// AF_INET and AF_INET6.
    static let familyIPv4: UInt8 = 2
    static let familyIPv6: UInt8 = 10

    /// `sizeof(struct ifinfomsg)` and `sizeof(struct ifaddrmsg)`.
    static let linkHeaderLength = 16
    static let addressHeaderLength = 8
    /// IFNAMSIZ: a name is at most 15 bytes and its NUL.
    static let nameSize = 16

    enum LinkAttribute {
        /// IFLA_ADDRESS: the link's hardware address.
        static let address: UInt16 = 1
        static let name: UInt16 = 3
        static let operState: UInt16 = 16
    }

    enum AddressAttribute {
        static let address: UInt16 = 1
        static let local: UInt16 = 2
        static let label: UInt16 = 3
        static let cacheInfo: UInt16 = 6
        static let flags: UInt16 = 8
    }

    /// `sizeof(struct ifa_cacheinfo)`: libnl's policy minimum for IFA_CACHEINFO.
    static let cacheInfoLength = 16

    /// Every link and address notification in a datagram, in order. Messages are walked as
    /// libnl's `nl_recvmsgs` walks them (`nlmsg_ok`): a message whose length is shorter than its
    /// header or longer than what is left ends the walk. Other message types are skipped.
    static func notifications(inDatagram datagram: [UInt8]) -> [RouteNotification] {
        var out: [RouteNotification] = []
        var offset = 0
        while datagram.count - offset >= Netlink.headerLength {
            guard let length = readHost(UInt32.self, datagram[offset...]).map(Int.init),
                  length >= Netlink.headerLength, length <= datagram.count - offset else { break }
            if let n = notification(message: datagram[offset..<(offset + length)]) { out.append(n) }
            offset += Netlink.align(length)
        }
        return out
    }

    /// One message (header included, exactly `nlmsg_len` bytes) as a notification, or nil when it
    /// is not a link or address message or libnl would not have parsed it.
    static func notification(message: ArraySlice<UInt8>) -> RouteNotification? {
        guard message.count >= Netlink.headerLength,
              let type = readHost(UInt16.self, message.dropFirst(4)),
              let senderPort = readHost(UInt32.self, message.dropFirst(12)) else { return nil }
        let payload = message.dropFirst(Netlink.headerLength)
        switch type {
        case newLink: return link(payload).map { .linkChanged($0) }
        case deleteLink: return link(payload).map { .linkRemoved($0) }
        case newAddress: return address(payload).map { .addressAdded($0, senderPort: senderPort) }
        case deleteAddress: return address(payload).map { .addressRemoved($0, senderPort: senderPort) }
        default: return nil
        }
    }

    /// The payload of RTM_NEWLINK / RTM_DELLINK: `ifinfomsg` (family, pad, type u16, index i32,
    /// flags u32, change u32), then attributes.
    static func link(_ payload: ArraySlice<UInt8>) -> LinkState? {
        guard payload.count >= linkHeaderLength,
              let index = readHost(Int32.self, payload.dropFirst(4)),
              let flags = readHost(UInt32.self, payload.dropFirst(8)) else { return nil }
        let valid = RouteAttributes(payload.dropFirst(linkHeaderLength)) { type, value in
            switch type {
            case LinkAttribute.name: return validString(value) != nil
            case LinkAttribute.operState: return !value.isEmpty
            default: return true
            }
        }
        guard let attributes = valid, let rawName = attributes[LinkAttribute.name],
              let name = validString(rawName) else { return nil }
        let operState = attributes[LinkAttribute.operState]?.first ?? 0
        return LinkState(index: index, name: name, flags: flags, operState: operState,
                         hardwareAddress: attributes[LinkAttribute.address].map(Array.init) ?? [])
    }

    /// The payload of RTM_NEWADDR / RTM_DELADDR: `ifaddrmsg` (family, prefix length, flags u8,
    /// scope, index u32), then attributes. Nil for families other than IPv4 and IPv6 and for an
    /// IPv6 address with neither IFA_LOCAL nor IFA_ADDRESS. The interface name is left empty.
    static func address(_ payload: ArraySlice<UInt8>) -> InterfaceAddress? {
        guard payload.count >= addressHeaderLength,
              let index = readHost(UInt32.self, payload.dropFirst(4)) else { return nil }
        let base = payload.startIndex
        let familyCode = payload[base], prefixLength = payload[base + 1], headerFlags = payload[base + 2]
        let valid = RouteAttributes(payload.dropFirst(addressHeaderLength)) { type, value in
            switch type {
            case AddressAttribute.label: return validString(value) != nil
            case AddressAttribute.cacheInfo: return value.count >= cacheInfoLength
            default: return true
            }
        }
        guard let attributes = valid else { return nil }
        let label = attributes[AddressAttribute.label].flatMap(validString)
        let family: AddressFamily
        let local: ArraySlice<UInt8>
        switch familyCode {
        case familyIPv4:
            family = .ipv4
            local = attributes[AddressAttribute.local] ?? [0, 0, 0, 0]
        case familyIPv6:
            family = .ipv6
            guard let raw = attributes[AddressAttribute.local] ?? attributes[AddressAttribute.address] else { return nil }
            local = raw
        default:
            return nil
        }
        guard let address = IPAddress(bytes: local, family: family) else { return nil }
        let flags = attributes[AddressAttribute.flags].flatMap { readHost(UInt32.self, $0) } ?? UInt32(headerFlags)
        return InterfaceAddress(interfaceIndex: Int32(bitPattern: index), interface: "",
                                prefix: IPPrefix(address: address, length: Int(prefixLength)), flags: flags,
                                label: family == .ipv4 ? label : nil)
    }

    /// An NLA_STRING attribute with `maxlen` IFNAMSIZ as libnl validates it (NUL-terminated, at
    /// most 16 bytes) and copies it (`nla_strlcpy`: at most 15 bytes, up to the first NUL).
    static func validString(_ raw: ArraySlice<UInt8>) -> String? {
        guard let last = raw.last, last == 0, raw.count <= nameSize else { return nil }
        return String(decoding: raw.prefix(nameSize - 1).prefix { $0 != 0 }, as: UTF8.self)
    }
}

/// One level of rtnetlink attributes walked as libnl's `nla_parse` walks them: an attribute whose
/// length is shorter than its header or longer than what is left ends the walk (without an
/// error); every attribute is checked by `isValid` (the policy) and one failure fails the whole
/// level; the last of a repeated type wins.
struct RouteAttributes {
    private var values: [UInt16: ArraySlice<UInt8>] = [:]

    init?(_ bytes: ArraySlice<UInt8>, isValid: (UInt16, ArraySlice<UInt8>) -> Bool) {
        var offset = bytes.startIndex
        while bytes.endIndex - offset >= Netlink.attributeHeaderLength {
            guard let length = readHost(UInt16.self, bytes[offset...]).map(Int.init),
                  let type = readHost(UInt16.self, bytes[(offset + 2)...]),
                  length >= Netlink.attributeHeaderLength, length <= bytes.endIndex - offset else { break }
            let value = bytes[(offset + Netlink.attributeHeaderLength)..<(offset + length)]
            guard isValid(type & Netlink.typeMask, value) else { return nil }
            values[type & Netlink.typeMask] = value
            offset += Netlink.align(length)
        }
    }

    subscript(_ type: UInt16) -> ArraySlice<UInt8>? { values[type] }
}
