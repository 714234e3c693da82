/// The epoch challenge: how a peer that restarted with a smaller boot epoch (its state directory
/// lost and its wall clock behind) proves that it is live and new, without its clock or its disk.
///
/// When the verifier receives an authentic heartbeat whose epoch it may not simply accept (older
/// than the peer's current epoch, or not newer than the newest it ever accepted), it does not
/// accept it; it sends a challenge with a fresh random nonce on that packet's path. The peer
/// answers with its own fresh nonce, its current boot epoch and its newest heartbeat sequence,
/// tagged with the heartbeat key over both nonces. The answer is accepted once: it must echo a
/// nonce the verifier issued in the last `HeartbeatVerifier.Challenge.lifetime`, and that nonce
/// is consumed. The verifier then takes the answered epoch as the peer's current one and refuses
/// that epoch's heartbeats up to the answered sequence (sent before the answer).
///
/// Wire format, version 1, integers big-endian (the same UDP port as heartbeats):
///
/// ```
/// offset size field
///      0    4 magic "TNDE" (54 4E 44 45)
///      4    1 version (1)
///      5    1 type (1 challenge, 2 answer)
///      6    1 flags (bit 0: a 32-byte tag follows; other bits must be 0)
///      7    1 path index the packet travels on
///      8   32 challenger's nonce
///     40   32 answerer's nonce (zeros in a challenge)
///     72    8 epoch: in a challenge the epoch in question, in an answer the answerer's current epoch
///     80    8 sequence: 0 in a challenge; in an answer the answerer's newest heartbeat sequence
///     88    1 sender name length n (1…64)
///     89    n sender name, UTF-8
///   89+n    1 target name length m (1…64)
///   90+n    m target name, UTF-8
/// 90+n+m   32 HMAC-SHA256 tag over bytes 0 ..< 90+n+m (only when flag bit 0 is set)
/// ```
///
/// Why a replay is refused: a recorded answer echoes a nonce the verifier no longer holds (each
/// is used once and expires), so it is dropped; a recorded heartbeat of an old epoch only makes
/// the verifier ask again, and the live peer's answer names its current epoch, not the old one.
/// The magic ("TNDE", not the heartbeat's "TNDM") and the type byte are under the tag, so a
/// heartbeat's tag never verifies as a challenge's or an answer's, and a challenge cannot be
/// passed off as an answer; the sender and target names are under the tag, so a challenge sent
/// back to its issuer is refused as coming from the wrong sender.
public enum EpochChallengeCodec {
    public static let magic: [UInt8] = Array("TNDE".utf8)
    public static let version: UInt8 = 1
    public static let nonceLength = 32
    public static let tagLength = HeartbeatCodec.tagLength
    /// Bytes before the sender name length.
    static let fixedLength = 88
    public static let minimumLength = fixedLength + 4
    public static let maximumLength = fixedLength + 2 + 2 * HeartbeatMessage.maximumNameLength + tagLength

    public enum Kind: UInt8, Sendable, Hashable {
        case challenge = 1
        case answer = 2
    }

    /// One challenge or answer.
    public struct Packet: Sendable, Hashable {
        public var kind: Kind
        public var pathIndex: UInt8
        public var challengerNonce: [UInt8]
        /// Zeros in a challenge.
        public var answererNonce: [UInt8]
        public var epoch: UInt64
        public var sequence: UInt64
        public var sender: String
        public var target: String

        public init(kind: Kind, pathIndex: UInt8, challengerNonce: [UInt8], answererNonce: [UInt8], epoch: UInt64,
                    sequence: UInt64, sender: String, target: String) {
            self.kind = kind
            self.pathIndex = pathIndex
            self.challengerNonce = challengerNonce
            self.answererNonce = answererNonce
            self.epoch = epoch
            self.sequence = sequence
            self.sender = sender
            self.target = target
        }
    }

    /// Whether `bytes` starts with this family's magic (heartbeats start with "TNDM").
    public static func isChallengePacket(_ bytes: [UInt8]) -> Bool {
        // Compared with literals: reading the `magic` array is a lazy global's check on every
        // packet the heartbeat thread receives.
        bytes.count >= 4 && bytes[0] == 0x54 && bytes[1] == 0x4E && bytes[2] == 0x44 && bytes[3] == 0x45
    }

    /// Encodes `packet`, tagged by `authenticator` when one is given. Nil when a nonce is not 32
    /// bytes, a name is empty or longer than 64 UTF-8 bytes, or the tag has the wrong length.
    public static func encode(_ packet: Packet, authenticator: (any HeartbeatAuthenticator)?) -> [UInt8]? {
        let sender = Array(packet.sender.utf8), target = Array(packet.target.utf8)
        let names = 1...HeartbeatMessage.maximumNameLength
        guard packet.challengerNonce.count == nonceLength, packet.answererNonce.count == nonceLength,
              names.contains(sender.count), names.contains(target.count) else { return nil }
        var bytes = magic + [version, packet.kind.rawValue, authenticator == nil ? 0 : HeartbeatCodec.authenticatedFlag,
                             packet.pathIndex]
        bytes += packet.challengerNonce
        bytes += packet.answererNonce
        for value in [packet.epoch, packet.sequence] {
            for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
        }
        bytes.append(UInt8(sender.count))
        bytes += sender
        bytes.append(UInt8(target.count))
        bytes += target
        if let authenticator {
            let tag = authenticator.tag(for: bytes[...])
            guard tag.count == tagLength else { return nil }
            bytes += tag
        }
        return bytes
    }

    /// A structurally valid packet, not yet authenticated.
    public struct Decoded: Sendable, Hashable {
        public var packet: Packet
        public var signedBytes: ArraySlice<UInt8>
        public var tag: ArraySlice<UInt8>?
    }

    /// Parses one packet; never traps. Does not check the tag.
    public static func decode(_ bytes: [UInt8]) throws(HeartbeatDecodeError) -> Decoded {
        guard bytes.count >= minimumLength else { throw .tooShort(length: bytes.count) }
        guard bytes.count <= maximumLength else { throw .tooLong(length: bytes.count) }
        guard isChallengePacket(bytes) else { throw .badMagic }
        guard bytes[4] == version else { throw .unsupportedVersion(bytes[4]) }
        guard let kind = Kind(rawValue: bytes[5]) else { throw .unknownKind(bytes[5]) }
        let flags = bytes[6]
        guard flags & ~HeartbeatCodec.authenticatedFlag == 0 else { throw .unknownFlags(flags) }
        func integer(at offset: Int) -> UInt64 { bytes[offset..<(offset + 8)].reduce(0) { $0 << 8 | UInt64($1) } }
        var offset = fixedLength
        func name(field: String) throws(HeartbeatDecodeError) -> String {
            guard offset < bytes.count else { throw .truncated(field: field) }
            let length = Int(bytes[offset])
            guard (1...HeartbeatMessage.maximumNameLength).contains(length) else { throw .badNameLength(length) }
            guard offset + 1 + length <= bytes.count else { throw .truncated(field: field) }
            defer { offset += 1 + length }
            guard let text = String(validating: bytes[(offset + 1)..<(offset + 1 + length)], as: UTF8.self) else {
                throw .nameNotUTF8
            }
            return text
        }
        let sender = try name(field: "sender name")
        let target = try name(field: "target name")
        let signedEnd = offset
        var tag: ArraySlice<UInt8>?
        if flags & HeartbeatCodec.authenticatedFlag != 0 {
            guard bytes.count - offset >= tagLength else { throw .truncated(field: "authentication tag") }
            tag = bytes[offset..<(offset + tagLength)]
            offset += tagLength
        }
        guard offset == bytes.count else { throw .trailingBytes(count: bytes.count - offset) }
        let packet = Packet(kind: kind, pathIndex: bytes[7], challengerNonce: Array(bytes[8..<40]),
                            answererNonce: Array(bytes[40..<72]), epoch: integer(at: 72), sequence: integer(at: 80),
                            sender: sender, target: target)
        return Decoded(packet: packet, signedBytes: bytes[0..<signedEnd], tag: tag)
    }
}
