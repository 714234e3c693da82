/// Decides which received packets reach the election: only well-formed, authentic, fresh packets
/// from the peer. Everything else is dropped and counted by reason.
///
/// Replay protection: the peer's packets carry (boot epoch, sequence). The verifier remembers the
/// highest epoch accepted and, within it, the highest sequence accepted on each path (the peer
/// sends one round on every path with the same sequence number, each copy carrying its path
/// index, which the tag covers). A packet is a replay when its epoch is older than the newest
/// accepted, or its epoch is the newest and its sequence is not above that path's last. A newer
/// epoch means the peer restarted: it is accepted and the per-path sequences start afresh.
///
/// With a key configured, a packet without a tag or with a wrong tag is unauthenticated. With
/// `auth: none` (no authenticator) tags are not checked.
public struct HeartbeatVerifier: Sendable {
    /// Dropped and accepted packets by reason, for status and metrics.
    public struct Counters: Sendable, Hashable {
        public var accepted: UInt64 = 0
        public var malformed: UInt64 = 0
        public var unauthenticated: UInt64 = 0
        public var replayed: UInt64 = 0
        /// From a node that is not the peer (including our own packets looped back).
        public var unexpectedSender: UInt64 = 0
        /// Path index beyond the configured paths.
        public var unknownPath: UInt64 = 0

        public init() {}

        public var dropped: UInt64 { malformed + unauthenticated + replayed + unexpectedSender + unknownPath }
    }

    /// What one path has delivered, for status ("per-path loss and last-heard age").
    public struct PathStatistics: Sendable, Hashable {
        /// Packets accepted on this path.
        public var received: UInt64 = 0
        /// Sequence numbers skipped on this path within one epoch: lost (or reordered behind a later packet).
        public var lost: UInt64 = 0
        public var lastHeard: MonotonicInstant?

        public init() {}
    }

    /// Why a packet was dropped.
    public enum DropReason: Sendable, Hashable, CustomStringConvertible {
        case malformed(HeartbeatDecodeError)
        /// A key is configured and the packet carries no tag.
        case missingTag
        /// The tag does not match: wrong key or tampered packet.
        case badTag
        case staleEpoch(received: UInt64, current: UInt64)
        case replayedSequence(epoch: UInt64, sequence: UInt64, lastAccepted: UInt64, pathIndex: UInt8)
        case unexpectedSender(String)
        case unknownPath(UInt8)

        public var description: String {
            switch self {
            case .malformed(let error): return "malformed: \(error)"
            case .missingTag: return "unauthenticated: no tag, but a heartbeat key is configured"
            case .badTag: return "unauthenticated: tag does not match (different key on the peer, or forged)"
            case .staleEpoch(let received, let current):
                return "replayed: boot epoch \(received) is older than the peer's current epoch \(current)"
            case .replayedSequence(let epoch, let sequence, let last, let path):
                return "replayed: sequence \(sequence) on path \(path) is not above \(last) (epoch \(epoch))"
            case .unexpectedSender(let name): return "from unexpected sender \"\(name)\""
            case .unknownPath(let index): return "path index \(index) is not a configured path"
            }
        }
    }

    /// The outcome for one packet.
    public enum Verdict: Sendable, Hashable {
        case accepted(HeartbeatMessage)
        case dropped(DropReason)
    }

    public let peerName: String
    public let pathCount: Int
    let authenticator: (any HeartbeatAuthenticator)?

    public private(set) var counters = Counters()
    public private(set) var paths: [PathStatistics]
    /// The peer's newest accepted boot epoch.
    public private(set) var currentEpoch: UInt64?
    private var lastSequence: [UInt64?]

    /// - Parameters:
    ///   - peerName: the only sender accepted.
    ///   - pathCount: number of heartbeat paths (path indexes 0 ..< pathCount).
    ///   - authenticator: checks tags; nil for `auth: none`.
    public init(peerName: String, pathCount: Int, authenticator: (any HeartbeatAuthenticator)?) {
        self.peerName = peerName
        self.pathCount = max(pathCount, 0)
        self.authenticator = authenticator
        self.paths = Array(repeating: PathStatistics(), count: max(pathCount, 0))
        self.lastSequence = Array(repeating: nil, count: max(pathCount, 0))
    }

    /// Checks one received datagram, updating counters and path statistics.
    public mutating func verify(_ bytes: [UInt8], at now: MonotonicInstant) -> Verdict {
        let decoded: HeartbeatCodec.Decoded
        do {
            decoded = try HeartbeatCodec.decode(bytes)
        } catch {
            counters.malformed += 1
            return .dropped(.malformed(error))
        }
        if let authenticator {
            guard let tag = decoded.tag else {
                counters.unauthenticated += 1
                return .dropped(.missingTag)
            }
            guard authenticator.isValidTag(tag, for: decoded.signedBytes) else {
                counters.unauthenticated += 1
                return .dropped(.badTag)
            }
        }
        let message = decoded.message
        guard message.sender == peerName else {
            counters.unexpectedSender += 1
            return .dropped(.unexpectedSender(message.sender))
        }
        let path = Int(message.pathIndex)
        guard path < pathCount else {
            counters.unknownPath += 1
            return .dropped(.unknownPath(message.pathIndex))
        }
        if let currentEpoch {
            if message.bootEpoch < currentEpoch {
                counters.replayed += 1
                return .dropped(.staleEpoch(received: message.bootEpoch, current: currentEpoch))
            }
            if message.bootEpoch > currentEpoch {
                lastSequence = Array(repeating: nil, count: pathCount)
            }
        }
        if message.bootEpoch == currentEpoch, let last = lastSequence[path] {
            guard message.sequence > last else {
                counters.replayed += 1
                return .dropped(.replayedSequence(epoch: message.bootEpoch, sequence: message.sequence,
                                                  lastAccepted: last, pathIndex: message.pathIndex))
            }
            paths[path].lost += message.sequence - last - 1
        }
        currentEpoch = message.bootEpoch
        lastSequence[path] = message.sequence
        paths[path].received += 1
        paths[path].lastHeard = now
        counters.accepted += 1
        return .accepted(message)
    }
}
