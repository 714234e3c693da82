/// Why a peer-channel exchange failed. Each case names what was wrong and, where an operator can
/// act, what to check.
public enum PeerProtocolError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A frame announced more bytes than the phase allows (`limit`).
    case frameTooLarge(length: Int, limit: Int)
    /// The stream ended inside a frame: `buffered` of `expected` bytes arrived.
    case truncated(expected: Int, buffered: Int)
    /// The bytes are not the expected message.
    case malformed(String)
    /// The peer speaks another protocol version.
    case unsupportedVersion(UInt8)
    /// The peer's proof of the key did not verify: the two nodes hold different keys (or someone
    /// else is talking).
    case authenticationFailed(String)
    /// The peer names itself differently from the config's peer.
    case unexpectedPeer(expected: String, actual: String)
    /// The peer refused the handshake, with its reason.
    case refused(String)
    /// A message after the handshake failed its session MAC (tampered, reordered or replayed).
    case badMessageTag(sequence: UInt64)

    public var description: String {
        switch self {
        case .frameTooLarge(let length, let limit):
            return "peer frame of \(length) bytes exceeds the limit of \(limit) bytes (a config larger than \(PeerFrame.maximumConfigBytes / 1024 / 1024) MiB is not mirrored)"
        case .truncated(let expected, let buffered):
            return "peer connection ended inside a frame (\(buffered) of \(expected) bytes)"
        case .malformed(let what):
            return "malformed peer message: \(what)"
        case .unsupportedVersion(let version):
            return "peer speaks replication protocol version \(version), this node \(PeerHandshake.version): run the same tandemd version on both nodes"
        case .authenticationFailed(let why):
            return "peer authentication failed (\(why)): check that both nodes hold the same heartbeat key file"
        case .unexpectedPeer(let expected, let actual):
            return "peer calls itself \"\(actual)\" but the config's peer is \"\(expected)\": check the nodes list on both nodes"
        case .refused(let reason):
            return "the peer refused the connection: \(reason)"
        case .badMessageTag(let sequence):
            return "peer message \(sequence) failed its authentication tag (tampered or replayed)"
        }
    }
}
