/// One packet between the two daemons: a heartbeat or one step of a handover.
///
/// Every kind carries the sender's full status, so any valid packet proves the peer alive. The
/// wire encoding is `HeartbeatCodec`'s; authentication and replay protection are
/// `HeartbeatVerifier`'s.
public struct HeartbeatMessage: Sendable, Hashable {
    /// What the packet asks of the receiver.
    public enum Kind: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
        /// Periodic status, sent every interval on every path.
        case heartbeat = 1
        /// "Take over now": sent by an active node that is handing over (graceful stop, manual
        /// failover, maintenance). It keeps the VIPs until the receiver has claimed them.
        case takeoverRequest = 2
        /// "I have claimed the VIPs": the answer to a takeover request; the requester may release.
        case claimed = 3
        /// "I have released everything and am leaving": the receiver need not wait for the dead time.
        case release = 4
        /// "Hand over to me": sent by a standby whose operator asked for a failover there. The
        /// active answers by starting a make-before-break handover (`takeoverRequest`).
        case handoverRequest = 5
        /// "I held the VIPs and gave them up": the periodic packet of a node that released them
        /// other than by a completed handover (a lost dual-active contest, a fault, maintenance, a
        /// forced failover), every interval for the handover timeout. It may have announced the VIPs after
        /// the winner did (a cold standby announces after its IPVS install) and the winner may
        /// never have seen it active (its active packets lost, or overtaken by later ones), so
        /// the winner announces again. Version 1 receivers before this kind drop it as unknown.
        case yielded = 6

        /// A request the receiver acts on at once (`takeoverRequest`, `handoverRequest`): sent
        /// every interval while the sender waits for the answer.
        public var isRequest: Bool { self == .takeoverRequest || self == .handoverRequest }

        public var description: String {
            switch self {
            case .heartbeat: return "heartbeat"
            case .takeoverRequest: return "takeover-request"
            case .claimed: return "claimed"
            case .release: return "release"
            case .handoverRequest: return "handover-request"
            case .yielded: return "yielded"
            }
        }
    }

    /// The SHA-256 digest of the sender's configuration (32 bytes).
    public struct ConfigDigest: Sendable, Hashable, CustomStringConvertible {
        public static let byteCount = 32
        public static let zero = ConfigDigest(uncheckedBytes: [UInt8](repeating: 0, count: byteCount))

        /// Exactly `byteCount` bytes.
        public let bytes: [UInt8]

        /// Nil unless `bytes` holds exactly 32 bytes.
        public init?(_ bytes: [UInt8]) {
            guard bytes.count == ConfigDigest.byteCount else { return nil }
            self.bytes = bytes
        }

        init(uncheckedBytes: [UInt8]) { self.bytes = uncheckedBytes }

        /// Lower-case hex.
        public var description: String { Hex.encode(bytes) }
    }

    /// Longest node name the wire carries, in UTF-8 bytes.
    public static let maximumNameLength = 64

    public var kind: Kind
    /// The sending node's name, 1…64 UTF-8 bytes.
    public var sender: String
    /// Chosen by the sender at start-up and larger after every restart; orders its lives.
    public var bootEpoch: UInt64
    /// Incremented by the sender for every round of packets within one boot epoch; the same
    /// round goes out on every path with the same sequence number and its own path index.
    public var sequence: UInt64
    public var role: Role
    /// The sender's effective priority (its configured priority less tracked-interface penalties).
    public var priority: UInt8
    public var configSerial: UInt64
    public var configDigest: ConfigDigest
    /// Which heartbeat path (index into the node's `heartbeatAddresses`) this copy was sent on.
    public var pathIndex: UInt8
    /// The sender's heartbeat interval in milliseconds, for status and sanity checks.
    public var intervalMilliseconds: UInt32
    /// When the sender sent this round, nanoseconds of its own monotonic clock (meaningful only
    /// against its other packets of the same boot epoch); nil from a sender that does not send it
    /// (a tandemd before the field, or one talking to such a peer). The receiver uses it to tell
    /// a packet held back in the network (a sender's kernel queueing behind an unresolved
    /// neighbour entry while a link is cut) from a fresh one: `HeartbeatVerifier`'s staleness check.
    public var sentAtNanoseconds: UInt64?

    public init(kind: Kind, sender: String, bootEpoch: UInt64, sequence: UInt64, role: Role, priority: UInt8,
                configSerial: UInt64, configDigest: ConfigDigest, pathIndex: UInt8, intervalMilliseconds: UInt32,
                sentAtNanoseconds: UInt64? = nil) {
        self.kind = kind
        self.sender = sender
        self.bootEpoch = bootEpoch
        self.sequence = sequence
        self.role = role
        self.priority = priority
        self.configSerial = configSerial
        self.configDigest = configDigest
        self.pathIndex = pathIndex
        self.intervalMilliseconds = intervalMilliseconds
        self.sentAtNanoseconds = sentAtNanoseconds
    }
}

extension HeartbeatMessage {
    /// Which of `messages`, packets read in one go from the sockets (all paths), are requests
    /// their sender had already withdrawn: the batch holds a packet of the same boot epoch with
    /// a higher sequence that is not a request (the sender stopped asking: the handover
    /// completed, or it gave up because this node went silent or did not claim in time). A node
    /// that was paused or starved reads its whole queue at once; acting on a withdrawn request
    /// there would take the VIPs for a failover the peer had called off. Sequences, not the
    /// order read, say which came later (each path's socket is read in turn). Pure: true at the
    /// withdrawn indexes.
    public static func withdrawnRequests(_ messages: [HeartbeatMessage]) -> [Bool] {
        var newestPlain: [UInt64: UInt64] = [:]
        for message in messages where !message.kind.isRequest {
            newestPlain[message.bootEpoch] = max(newestPlain[message.bootEpoch] ?? 0, message.sequence)
        }
        return messages.map { message in
            guard message.kind.isRequest, let newest = newestPlain[message.bootEpoch] else { return false }
            return newest > message.sequence
        }
    }
}
