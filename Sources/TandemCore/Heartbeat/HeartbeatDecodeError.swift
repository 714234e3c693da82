/// Why a received packet is not a well-formed heartbeat. Decoding never traps: every length is
/// checked against the bytes that remain, and anything unexpected is one of these.
public enum HeartbeatDecodeError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Fewer bytes than the smallest valid packet.
    case tooShort(length: Int)
    /// More bytes than the largest valid packet.
    case tooLong(length: Int)
    /// The first four bytes are not "TNDM": not a Tandem packet.
    case badMagic
    /// A protocol version this build does not speak.
    case unsupportedVersion(UInt8)
    case unknownKind(UInt8)
    /// Flag bits this version does not define are set.
    case unknownFlags(UInt8)
    case unknownRole(UInt8)
    /// The sender-name length byte is 0 or above `HeartbeatMessage.maximumNameLength`.
    case badNameLength(Int)
    case nameNotUTF8
    /// The packet ends inside `field`.
    case truncated(field: String)
    /// Bytes follow the end of the message (and its tag, if flagged).
    case trailingBytes(count: Int)

    public var description: String {
        switch self {
        case .tooShort(let n):
            return "heartbeat packet of \(n) bytes is shorter than the \(HeartbeatCodec.minimumLength)-byte minimum"
        case .tooLong(let n):
            return "heartbeat packet of \(n) bytes is longer than the \(HeartbeatCodec.maximumLength)-byte maximum"
        case .badMagic:
            return "packet does not start with the Tandem magic \"TNDM\": not a Tandem heartbeat"
        case .unsupportedVersion(let v):
            return "heartbeat protocol version \(v) is not supported (this build speaks \(HeartbeatCodec.version)): run the same Tandem version on both nodes"
        case .unknownKind(let k):
            return "unknown heartbeat message type \(k)"
        case .unknownFlags(let f):
            return "heartbeat flags 0x\(String(f, radix: 16)) set bits this version does not define"
        case .unknownRole(let r):
            return "unknown role \(r) in heartbeat"
        case .badNameLength(let n):
            return "sender name length \(n) is outside 1…\(HeartbeatMessage.maximumNameLength)"
        case .nameNotUTF8:
            return "sender name is not valid UTF-8"
        case .truncated(let field):
            return "heartbeat packet ends inside \(field)"
        case .trailingBytes(let n):
            return "\(n) unexpected bytes after the end of the heartbeat"
        }
    }
}

/// Why a message cannot be encoded.
public enum HeartbeatEncodeError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The sender name is empty or longer than 64 UTF-8 bytes.
    case badNameLength(name: String, length: Int)
    /// The authenticator returned a tag of the wrong size.
    case badTagLength(Int)

    public var description: String {
        switch self {
        case .badNameLength(let name, let n):
            return "node name \"\(name)\" is \(n) UTF-8 bytes; heartbeats carry 1…\(HeartbeatMessage.maximumNameLength): shorten it in the config"
        case .badTagLength(let n):
            return "authenticator produced a \(n)-byte tag; heartbeats carry \(HeartbeatCodec.tagLength)"
        }
    }
}
