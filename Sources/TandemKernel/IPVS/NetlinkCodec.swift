/// Pure-Swift netlink and generic-netlink framing: building request messages into bytes and
/// splitting reply datagrams into messages and attributes. No kernel, no libnl: the byte layout
/// is `linux/netlink.h` (nlmsghdr, nlattr) and `linux/genetlink.h` (genlmsghdr), in host order
/// except where an attribute says otherwise.
enum Netlink {
    static let headerLength = 16
    static let genericHeaderLength = 4
    static let attributeHeaderLength = 4

    // Message types (linux/netlink.h).
    static let noop: UInt16 = 1
    static let error: UInt16 = 2
    static let done: UInt16 = 3
    static let overrun: UInt16 = 4

    // Message flags.
    static let request: UInt16 = 0x1
    static let multi: UInt16 = 0x2
    static let ack: UInt16 = 0x4
    static let dump: UInt16 = 0x300

    // Attribute type bits.
    static let nestedFlag: UInt16 = 0x8000
    static let typeMask: UInt16 = 0x3FFF

    static func align(_ n: Int) -> Int { (n + 3) & ~3 }
}

/// Appends netlink attributes to a byte buffer. Integers are written in host order unless the
/// method name says big-endian; strings are NUL-terminated (`nla_put_string`); every attribute is
/// padded to 4 bytes.
struct NetlinkAttributeWriter {
    private(set) var bytes: [UInt8] = []

    init() { bytes.reserveCapacity(128) }

    mutating func put(_ type: UInt16, _ payload: some Collection<UInt8>) {
        let length = Netlink.attributeHeaderLength + payload.count
        appendHost(UInt16(length))
        appendHost(type)
        bytes.append(contentsOf: payload)
        pad()
    }

    mutating func putU8(_ type: UInt16, _ value: UInt8) { put(type, [value]) }
    mutating func putU16(_ type: UInt16, _ value: UInt16) { put(type, hostBytes(value)) }
    mutating func putU32(_ type: UInt16, _ value: UInt32) { put(type, hostBytes(value)) }
    /// A 16-bit value in network order (`nla_put_be16`): IPVS ports.
    mutating func putBigEndianU16(_ type: UInt16, _ value: UInt16) { put(type, [UInt8(value >> 8), UInt8(value & 0xFF)]) }
    mutating func putString(_ type: UInt16, _ value: String) { put(type, Array(value.utf8) + [0]) }

    /// A nested attribute (`nla_nest_start` / `nla_nest_end`), flagged NLA_F_NESTED.
    mutating func nest(_ type: UInt16, _ body: (inout NetlinkAttributeWriter) -> Void) {
        var inner = NetlinkAttributeWriter()
        body(&inner)
        put(type | Netlink.nestedFlag, inner.bytes)
    }

    private mutating func pad() {
        while bytes.count % 4 != 0 { bytes.append(0) }
    }

    private mutating func appendHost<T: FixedWidthInteger>(_ value: T) { bytes.append(contentsOf: hostBytes(value)) }
}

/// Host-order bytes of an integer (what the kernel's `nla_get_u16/u32/u64` read).
func hostBytes<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
    withUnsafeBytes(of: value) { Array($0) }
}

/// Reads a host-order integer from the start of `bytes`, or nil when too short.
func readHost<T: FixedWidthInteger>(_ type: T.Type, _ bytes: ArraySlice<UInt8>) -> T? {
    let size = MemoryLayout<T>.size
    guard bytes.count >= size else { return nil }
    var value: T = 0
    withUnsafeMutableBytes(of: &value) { raw in
        bytes.withUnsafeBytes { raw.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[0..<size])) }
    }
    return value
}

/// Builds one generic-netlink message: nlmsghdr, genlmsghdr, attributes.
func genericNetlinkMessage(family: UInt16, command: UInt8, version: UInt8 = 1, flags: UInt16, sequence: UInt32,
                           attributes: (inout NetlinkAttributeWriter) -> Void = { _ in }) -> [UInt8] {
    var writer = NetlinkAttributeWriter()
    attributes(&writer)
    let length = Netlink.headerLength + Netlink.genericHeaderLength + writer.bytes.count
    var message: [UInt8] = []
    message.reserveCapacity(length)
    message += hostBytes(UInt32(length))
    message += hostBytes(family)
    message += hostBytes(flags)
    message += hostBytes(sequence)
    message += hostBytes(UInt32(0))  // port id: the kernel fills in the sender's
    message += [command, version, 0, 0]
    message += writer.bytes
    return message
}

/// One message of a reply datagram.
struct NetlinkMessage: Sendable, Hashable {
    var type: UInt16
    var flags: UInt16
    var sequence: UInt32
    var portID: UInt32
    /// Everything after the 16-byte header.
    var payload: ArraySlice<UInt8>

    /// For NLMSG_ERROR: the kernel's errno (positive), 0 for an ACK.
    var errorCode: Int32? {
        guard type == Netlink.error, let raw = readHost(Int32.self, payload) else { return nil }
        return -raw
    }

    /// For a generic-netlink message: the command and the top-level attributes.
    func generic() throws -> (command: UInt8, attributes: NetlinkAttributes) {
        guard payload.count >= Netlink.genericHeaderLength else {
            throw NetlinkDecodeError("generic netlink message of \(payload.count) bytes has no genl header")
        }
        let command = payload[payload.startIndex]
        let attributes = try NetlinkAttributes(payload.dropFirst(Netlink.genericHeaderLength))
        return (command, attributes)
    }

    /// Splits a datagram into its messages.
    static func split(_ datagram: [UInt8]) throws -> [NetlinkMessage] {
        var messages: [NetlinkMessage] = []
        var offset = 0
        while datagram.count - offset >= Netlink.headerLength {
            let slice = datagram[offset...]
            guard let length = readHost(UInt32.self, slice), let type = readHost(UInt16.self, slice.dropFirst(4)),
                  let flags = readHost(UInt16.self, slice.dropFirst(6)), let seq = readHost(UInt32.self, slice.dropFirst(8)),
                  let pid = readHost(UInt32.self, slice.dropFirst(12)) else { break }
            guard length >= UInt32(Netlink.headerLength), Int(length) <= datagram.count - offset else {
                throw NetlinkDecodeError("netlink message length \(length) at offset \(offset) exceeds the \(datagram.count)-byte datagram")
            }
            let payload = datagram[(offset + Netlink.headerLength)..<(offset + Int(length))]
            messages.append(NetlinkMessage(type: type, flags: flags, sequence: seq, portID: pid, payload: payload))
            offset += Netlink.align(Int(length))
        }
        return messages
    }
}

/// A malformed reply: the kernel (or a fixture) sent bytes that do not parse.
struct NetlinkDecodeError: Error, Sendable, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = "malformed netlink reply: " + description }
}

/// The attributes of one level, by type (the last of a repeated type wins, as `nla_parse` does).
struct NetlinkAttributes: Sendable {
    /// The attribute area, checked once: every attribute's length lies inside it. Lookups scan
    /// it (a message has a few dozen attributes at most); no table is built, so decoding a
    /// 40,000-real-server dump allocates nothing per attribute set.
    private let bytes: ArraySlice<UInt8>

    init(_ bytes: ArraySlice<UInt8>) throws {
        var offset = bytes.startIndex
        while bytes.endIndex - offset >= Netlink.attributeHeaderLength {
            let (length, type) = NetlinkAttributes.header(bytes, at: offset)
            guard Int(length) >= Netlink.attributeHeaderLength, offset + Int(length) <= bytes.endIndex else {
                throw NetlinkDecodeError("attribute \(type & Netlink.typeMask) has length \(length) past the end of its message")
            }
            offset += Netlink.align(Int(length))
        }
        self.bytes = bytes
    }

    /// The length and type fields of the attribute header at `offset` (host order); the caller
    /// has checked that a whole header is left.
    private static func header(_ bytes: ArraySlice<UInt8>, at offset: Int) -> (length: UInt16, type: UInt16) {
        (readHost(UInt16.self, bytes[offset...]) ?? 0, readHost(UInt16.self, bytes[(offset + 2)...]) ?? 0)
    }

    /// The payload of the attribute of `type` (its last occurrence, as a table keyed by type
    /// would keep), nil when absent.
    subscript(_ type: UInt16) -> ArraySlice<UInt8>? {
        var found: ArraySlice<UInt8>?
        var offset = bytes.startIndex
        while bytes.endIndex - offset >= Netlink.attributeHeaderLength {
            let (length, kind) = NetlinkAttributes.header(bytes, at: offset)
            if kind & Netlink.typeMask == type {
                found = bytes[(offset + Netlink.attributeHeaderLength)..<(offset + Int(length))]
            }
            offset += Netlink.align(Int(length))
        }
        return found
    }

    func u8(_ type: UInt16) -> UInt8? { self[type].flatMap { $0.first } }
    func u16(_ type: UInt16) -> UInt16? { self[type].flatMap { readHost(UInt16.self, $0) } }
    func u32(_ type: UInt16) -> UInt32? { self[type].flatMap { readHost(UInt32.self, $0) } }
    func u64(_ type: UInt16) -> UInt64? { self[type].flatMap { readHost(UInt64.self, $0) } }
    func bigEndianU16(_ type: UInt16) -> UInt16? {
        guard let b = self[type], b.count >= 2 else { return nil }
        return UInt16(b[b.startIndex]) << 8 | UInt16(b[b.startIndex + 1])
    }
    func bigEndianU32(_ type: UInt16) -> UInt32? {
        guard let b = self[type], b.count >= 4 else { return nil }
        return b.prefix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
    }
    /// A NUL-terminated (or unterminated) string.
    func string(_ type: UInt16) -> String? {
        guard let b = self[type] else { return nil }
        return String(decoding: b.prefix { $0 != 0 }, as: UTF8.self)
    }
    func nested(_ type: UInt16) throws -> NetlinkAttributes? {
        guard let b = self[type] else { return nil }
        return try NetlinkAttributes(b)
    }
}
