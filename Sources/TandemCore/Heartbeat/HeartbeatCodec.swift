/// The heartbeat wire format, version 1. All integers are big-endian.
///
/// ```
/// offset size field
///      0    4 magic "TNDM" (54 4E 44 4D)
///      4    1 version (1)
///      5    1 message kind (HeartbeatMessage.Kind: 1 heartbeat, 2 takeover-request, 3 claimed, 4 release,
///              5 handover-request, 6 yielded)
///      6    1 flags (bit 0: a 32-byte authentication tag follows the body; bit 1: the send time
///              follows the sender name; other bits must be 0)
///      7    1 path index
///      8    8 boot epoch
///     16    8 sequence number
///     24    1 role (Role: 1 starting … 6 stopping)
///     25    1 effective priority
///     26    8 config serial
///     34   32 config digest (SHA-256)
///     66    4 heartbeat interval, milliseconds
///     70    1 sender name length n (1…64)
///     71    n sender name, UTF-8
///   71+n    8 send time: nanoseconds of the sender's monotonic clock (only when flag bit 1 is set)
///   71+n+t 32 HMAC-SHA256 tag over every byte before it (only when flag bit 0 is set; t is 8 with
///              the send time, else 0)
/// ```
///
/// A packet is therefore 72…143 bytes without a tag and 104…175 with one. The send time (bit 1)
/// came after the first release: a tandemd from before it drops such packets as malformed
/// ("unknown flags", or "longer than the 167-byte maximum" with a name over 56 bytes), so a node
/// sends it only while its peer's packets carry it too, or before it has heard the peer
/// (`HeartbeatVerifier.peerTakesSendTime`): a mixed pair talks without it. Decoding checks the
/// total length first, then every field against the bytes that remain, and rejects unknown
/// versions, kinds, flags and roles and any trailing byte; it throws `HeartbeatDecodeError` and
/// never traps. The tag is not checked here: `HeartbeatVerifier` does that with the key.
public enum HeartbeatCodec {
    public static let magic: [UInt8] = Array("TNDM".utf8)
    public static let version: UInt8 = 1
    public static let tagLength = 32
    /// Bytes before the sender name.
    public static let fixedLength = 71
    public static let minimumLength = fixedLength + 1
    public static let maximumLength = fixedLength + HeartbeatMessage.maximumNameLength + sendTimeLength + tagLength
    /// Bytes of the send time field.
    public static let sendTimeLength = 8

    /// Flag bit 0: the packet ends with an authentication tag.
    public static let authenticatedFlag: UInt8 = 0x01
    /// Flag bit 1: the sender name is followed by the send time.
    public static let sendTimeFlag: UInt8 = 0x02
    static let knownFlags: UInt8 = authenticatedFlag | sendTimeFlag

    /// A structurally valid packet, not yet authenticated.
    public struct Decoded: Sendable, Hashable {
        public var message: HeartbeatMessage
        /// The bytes the tag covers (everything before it).
        public var signedBytes: ArraySlice<UInt8>
        /// The tag, when the authenticated flag is set.
        public var tag: ArraySlice<UInt8>?
    }

    /// Encodes `message`, appending a tag from `authenticator` (and setting the flag) when one is given.
    public static func encode(_ message: HeartbeatMessage,
                              authenticator: (any HeartbeatAuthenticator)?) throws(HeartbeatEncodeError) -> [UInt8] {
        let name = Array(message.sender.utf8)
        guard (1...HeartbeatMessage.maximumNameLength).contains(name.count) else {
            throw .badNameLength(name: message.sender, length: name.count)
        }
        var bytes = [UInt8]()
        bytes.reserveCapacity(fixedLength + name.count + tagLength)
        bytes += magic
        bytes.append(version)
        bytes.append(message.kind.rawValue)
        bytes.append((authenticator == nil ? 0 : authenticatedFlag) | (message.sentAtNanoseconds == nil ? 0 : sendTimeFlag))
        bytes.append(message.pathIndex)
        append(message.bootEpoch, to: &bytes)
        append(message.sequence, to: &bytes)
        bytes.append(message.role.rawValue)
        bytes.append(message.priority)
        append(message.configSerial, to: &bytes)
        bytes += message.configDigest.bytes
        append(UInt64(message.intervalMilliseconds), byteCount: 4, to: &bytes)
        bytes.append(UInt8(name.count))
        bytes += name
        if let sentAt = message.sentAtNanoseconds { append(sentAt, to: &bytes) }
        if let authenticator {
            let tag = authenticator.tag(for: bytes[...])
            guard tag.count == tagLength else { throw .badTagLength(tag.count) }
            bytes += tag
        }
        return bytes
    }

    /// Turns `packet`, which `encode` made for the same sender, boot epoch, config, interval, path
    /// and authenticator, and with a send time exactly when `sentAtNanoseconds` is given, into the
    /// packet `encode` makes for `kind`, `sequence`, `role`, `priority` and `sentAtNanoseconds`:
    /// those bytes (offsets 5, 16-23, 24, 25 and the send time) are written and the tag computed
    /// again, nothing else is built. The heartbeat thread keeps one such packet per path and
    /// rewrites it every round (issue 16: idle cost); `HeartbeatCodecTests` checks it equals `encode`.
    public static func rewrite(_ packet: inout [UInt8], kind: HeartbeatMessage.Kind, sequence: UInt64, role: Role,
                               priority: UInt8, sentAtNanoseconds: UInt64? = nil, authenticator: (any HeartbeatAuthenticator)?) {
        precondition(packet.count >= minimumLength + (authenticator == nil ? 0 : tagLength), "rewrite needs a packet encode made")
        precondition((packet[6] & sendTimeFlag != 0) == (sentAtNanoseconds != nil), "rewrite keeps the packet's send-time field")
        packet[5] = kind.rawValue
        for index in 0..<8 { packet[16 + index] = UInt8(truncatingIfNeeded: sequence >> (UInt64(7 - index) * 8)) }
        packet[24] = role.rawValue
        packet[25] = priority
        if let sentAt = sentAtNanoseconds {
            let at = fixedLength + Int(packet[fixedLength - 1])
            for index in 0..<8 { packet[at + index] = UInt8(truncatingIfNeeded: sentAt >> (UInt64(7 - index) * 8)) }
        }
        if let authenticator {
            let signedEnd = packet.count - tagLength
            let tag = authenticator.tag(for: packet[0..<signedEnd])
            packet.replaceSubrange(signedEnd..<packet.count, with: tag)
        }
    }

    /// Parses one packet. Does not check the tag.
    /// - Parameter knownSender: the name expected in most packets (the peer's): when the packet's
    ///   name bytes are exactly its UTF-8, that String is used as it is instead of validating and
    ///   building a new one (the heartbeat thread's common case); any other name is validated.
    public static func decode(_ bytes: [UInt8], knownSender: String? = nil) throws(HeartbeatDecodeError) -> Decoded {
        guard bytes.count >= minimumLength else { throw .tooShort(length: bytes.count) }
        guard bytes.count <= maximumLength else { throw .tooLong(length: bytes.count) }
        var reader = Reader(bytes: bytes)
        // "TNDM" compared with literals, not the `magic` array (a lazy global's check per packet).
        let start = try reader.bytes(4, field: "magic")
        let at = start.startIndex
        guard start[at] == 0x54, start[at + 1] == 0x4E, start[at + 2] == 0x44, start[at + 3] == 0x4D else { throw .badMagic }
        let version = try reader.byte(field: "version")
        guard version == HeartbeatCodec.version else { throw .unsupportedVersion(version) }
        let kindByte = try reader.byte(field: "message kind")
        guard let kind = HeartbeatMessage.Kind(rawValue: kindByte) else { throw .unknownKind(kindByte) }
        let flags = try reader.byte(field: "flags")
        guard flags & ~knownFlags == 0 else { throw .unknownFlags(flags) }
        let pathIndex = try reader.byte(field: "path index")
        let bootEpoch = try reader.integer(8, field: "boot epoch")
        let sequence = try reader.integer(8, field: "sequence number")
        let roleByte = try reader.byte(field: "role")
        guard let role = Role(rawValue: roleByte) else { throw .unknownRole(roleByte) }
        let priority = try reader.byte(field: "priority")
        let configSerial = try reader.integer(8, field: "config serial")
        let digest = HeartbeatMessage.ConfigDigest(
            uncheckedBytes: Array(try reader.bytes(HeartbeatMessage.ConfigDigest.byteCount, field: "config digest")))
        let interval = UInt32(truncatingIfNeeded: try reader.integer(4, field: "interval"))
        let nameLength = Int(try reader.byte(field: "sender name length"))
        guard (1...HeartbeatMessage.maximumNameLength).contains(nameLength) else { throw .badNameLength(nameLength) }
        let nameBytes = try reader.bytes(nameLength, field: "sender name")
        let sender: String
        if let knownSender, knownSender.utf8.elementsEqual(nameBytes) {
            sender = knownSender
        } else {
            guard let validated = String(validating: nameBytes, as: UTF8.self) else { throw .nameNotUTF8 }
            sender = validated
        }
        var sentAt: UInt64?
        if flags & sendTimeFlag != 0 {
            sentAt = try reader.integer(sendTimeLength, field: "send time")
        }
        let signedEnd = reader.offset
        var tag: ArraySlice<UInt8>?
        if flags & authenticatedFlag != 0 {
            tag = try reader.bytes(tagLength, field: "authentication tag")
        }
        guard reader.remaining == 0 else { throw .trailingBytes(count: reader.remaining) }
        let message = HeartbeatMessage(
            kind: kind, sender: sender, bootEpoch: bootEpoch, sequence: sequence, role: role, priority: priority,
            configSerial: configSerial, configDigest: digest, pathIndex: pathIndex, intervalMilliseconds: interval,
            sentAtNanoseconds: sentAt)
        return Decoded(message: message, signedBytes: bytes[0..<signedEnd], tag: tag)
    }

    private static func append(_ value: UInt64, byteCount: Int = 8, to bytes: inout [UInt8]) {
        for index in stride(from: byteCount - 1, through: 0, by: -1) {
            bytes.append(UInt8(truncatingIfNeeded: value >> (UInt64(index) * 8)))
        }
    }

    /// A cursor that checks every read against the bytes that remain.
    private struct Reader {
        let bytes: [UInt8]
        var offset = 0

        var remaining: Int { bytes.count - offset }

        mutating func bytes(_ count: Int, field: String) throws(HeartbeatDecodeError) -> ArraySlice<UInt8> {
            guard count >= 0, count <= remaining else { throw .truncated(field: field) }
            defer { offset += count }
            return bytes[offset..<(offset + count)]
        }

        mutating func byte(field: String) throws(HeartbeatDecodeError) -> UInt8 {
            guard remaining >= 1 else { throw .truncated(field: field) }
            defer { offset += 1 }
            return bytes[offset]
        }

        mutating func integer(_ count: Int, field: String) throws(HeartbeatDecodeError) -> UInt64 {
            var value: UInt64 = 0
            for byte in try bytes(count, field: field) { value = value << 8 | UInt64(byte) }
            return value
        }
    }
}
