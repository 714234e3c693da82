/// Decides which received packets reach the election: only well-formed, authentic, fresh packets
/// from the peer. Everything else is dropped and counted by reason.
///
/// Replay protection: the peer's packets carry (boot epoch, sequence). The verifier remembers the
/// peer's current epoch, the newest epoch it ever accepted and, within the current epoch, the
/// highest sequence accepted on each path (the peer sends one round on every path with the same
/// sequence number, each copy carrying its path index, which the tag covers).
/// - An epoch newer than every epoch accepted before is a restart: accepted at once, and the
///   per-path sequences start afresh.
/// - Within the current epoch, a sequence not above that path's last is a replay.
/// - Any other epoch (older than the current one, or one the peer has already left) is either a
///   replay or a peer that restarted with its state directory lost and its clock behind. It is
///   not accepted; the verifier challenges the peer (`EpochChallengeCodec`) and accepts the epoch
///   the peer answers with, so a live peer is never locked out and a replay is never accepted.
///
/// Staleness: a packet that carries its send time (`HeartbeatMessage.sentAtNanoseconds`) and
/// arrives more than `staleAfterMilliseconds` later than the quickest of the current epoch's
/// packets did is dropped as stale. While a path is cut the sender's kernel holds its packets
/// behind the unresolved neighbour entry (net/core/neighbour.c `__neigh_event_send`: the
/// `arp_queue`, up to `unres_qlen_bytes`; ARP asks again every `retrans_time`, 1 s) and delivers
/// them in one burst, oldest first, when the path comes back: an `active` sent as the link
/// failed would make the node that took over meanwhile yield to a peer that has long since
/// left that role. The two clocks are not compared directly: the verifier keeps the smallest
/// (arrival − send time) of the epoch, a packet's staleness is how much later than that it came,
/// and the estimate creeps up by `offsetCreepPerMille` ‰ of the time since it was last set so
/// that a peer clock slower than this node's (crystal drift) never makes fresh packets look
/// stale. A held burst comes all at once, packets sent over seconds arriving within
/// milliseconds; stale packets that arrive about as far apart as they were sent (at least
/// `offsetMovedAfterMilliseconds` apart) mean the offset itself moved (the peer's monotonic
/// clock stood still while its machine was suspended or its VM paused, or a clock daemon
/// slewed it faster than the creep): the estimate starts again from the packet then. The
/// first packets of an epoch have nothing to be compared with and are accepted. An accepted
/// packet's verdict carries how much later than the quickest it came (`waitedNanoseconds`): with
/// the peer's send times it tells the election how far into its handover the peer was when a
/// request was read (`Election.heartbeatReceived`; a standby that was paused reads its queue when
/// it resumes, requests the peer has stopped waiting on among it).
///
/// Keys: with a key configured, a packet without a tag or with a wrong tag is unauthenticated.
/// A second key (`next_key_file`) is accepted alongside the current one (key rotation); this
/// node signs with the current key only, and `authentication.peerKey` says which one the peer
/// signed its last packet with. With `auth: none` (no key) tags are not checked.
///
/// Pure: time is an argument; nonces come from `nonceSource`; packets to send (challenges and
/// answers) are queued in `outbox` for the caller to send on the path they name.
public struct HeartbeatVerifier: Sendable {
    /// Dropped and accepted packets by reason, for status and metrics.
    public struct Counters: Sendable, Hashable {
        public var accepted: UInt64 = 0
        public var malformed: UInt64 = 0
        public var unauthenticated: UInt64 = 0
        /// Older epochs and sequences, and challenge answers whose nonce is not outstanding.
        public var replayed: UInt64 = 0
        /// From a node that is not the peer (including our own packets looped back).
        public var unexpectedSender: UInt64 = 0
        /// Path index beyond the configured paths.
        public var unknownPath: UInt64 = 0
        /// Challenges from the peer not answered because more than `answersPerSecond` came in a second.
        public var rateLimited: UInt64 = 0
        /// Authentic packets that came more than the stale bound after they were sent (held back
        /// in the network): not counted as received on their path, nor as lost.
        public var stale: UInt64 = 0
        /// Epoch challenges this node sent, peer answers it accepted, peer challenges it answered.
        public var challengesSent: UInt64 = 0
        public var answersAccepted: UInt64 = 0
        public var challengesAnswered: UInt64 = 0

        public init() {}

        public var dropped: UInt64 { malformed + unauthenticated + replayed + unexpectedSender + unknownPath + rateLimited + stale }
    }

    /// What one path has delivered, for status ("per-path loss and last-heard age").
    public struct PathStatistics: Sendable, Hashable {
        /// Packets accepted on this path.
        public var received: UInt64 = 0
        /// Sequence numbers skipped on this path within one epoch: lost (or reordered behind a later packet).
        public var lost: UInt64 = 0
        public var lastHeard: MonotonicInstant?
        /// Interarrival jitter, nanoseconds: a running mean (gain 1/16, as RFC 3550 §6.4.1's
        /// estimator) of how far each packet's arrival gap on this path differs from what the
        /// sequence step and the interval the previous packet advertised predict (a standby
        /// changes its interval when it starts following the active). 0 until two packets arrived.
        public var arrivalJitterNanoseconds: UInt64 = 0
        /// The interval the last accepted packet advertised, ms.
        var lastIntervalMilliseconds: UInt32 = 0

        public init() {}

        /// A packet arrived `gap` ns after the previous one on this path, where `expected` ns were due.
        mutating func noteArrival(gap: UInt64, expected: UInt64) {
            let deviation = gap > expected ? gap - expected : expected - gap
            if deviation >= arrivalJitterNanoseconds {
                arrivalJitterNanoseconds += (deviation - arrivalJitterNanoseconds) / 16
            } else {
                arrivalJitterNanoseconds -= (arrivalJitterNanoseconds - deviation) / 16
            }
        }
    }

    /// Which of this node's keys verified the peer's last authentic packet.
    public enum KeySlot: String, Sendable, Hashable, CustomStringConvertible {
        /// `heartbeat.key_file`.
        case current
        /// `heartbeat.next_key_file`.
        case next

        public var description: String { rawValue }
    }

    /// Why a packet was dropped.
    public enum DropReason: Sendable, Hashable, CustomStringConvertible {
        case malformed(HeartbeatDecodeError)
        /// A key is configured and the packet carries no tag.
        case missingTag
        /// The tag does not match: wrong key or tampered packet.
        case badTag
        /// An epoch that is not newer than every epoch accepted before and not the current one.
        case staleEpoch(received: UInt64, current: UInt64)
        case replayedSequence(epoch: UInt64, sequence: UInt64, lastAccepted: UInt64, pathIndex: UInt8)
        case unexpectedSender(String)
        case unknownPath(UInt8)
        /// A challenge answer echoing a nonce that is not outstanding (used, expired or never issued).
        case staleAnswer(epoch: UInt64)
        /// A challenge or answer addressed to another node.
        case wrongTarget(String)
        /// More challenges from the peer than `answersPerSecond`.
        case challengeRateLimited
        /// Sent `lateMilliseconds` later (than the epoch's quickest delivery) than it arrived,
        /// more than `boundMilliseconds`.
        case stale(lateMilliseconds: UInt64, boundMilliseconds: UInt64, sequence: UInt64, pathIndex: UInt8)

        /// The reason's class, as status and metrics label it: malformed, unauthenticated,
        /// replay, unexpected_sender, unknown_path, rate_limited, stale.
        public var category: String {
            switch self {
            case .malformed: return "malformed"
            case .missingTag, .badTag: return "unauthenticated"
            case .staleEpoch, .replayedSequence, .staleAnswer: return "replay"
            case .unexpectedSender, .wrongTarget: return "unexpected_sender"
            case .unknownPath: return "unknown_path"
            case .challengeRateLimited: return "rate_limited"
            case .stale: return "stale"
            }
        }

        public var description: String {
            switch self {
            case .malformed(let error): return "malformed: \(error)"
            case .missingTag: return "unauthenticated: no tag, but a heartbeat key is configured"
            case .badTag: return "unauthenticated: tag does not match either configured key (different key on the peer, or forged)"
            case .staleEpoch(let received, let current):
                return "replayed: boot epoch \(received) is older than the peer's current epoch \(current) (or one it left); "
                    + "not accepted unless the peer answers a challenge with it (a restart with the clock behind)"
            case .replayedSequence(let epoch, let sequence, let last, let path):
                return "replayed: sequence \(sequence) on path \(path) is not above \(last) (epoch \(epoch))"
            case .unexpectedSender(let name): return "from unexpected sender \"\(name)\""
            case .unknownPath(let index): return "path index \(index) is not a configured path"
            case .staleAnswer(let epoch):
                return "replayed: epoch-challenge answer (epoch \(epoch)) echoes a nonce this node does not have outstanding"
            case .wrongTarget(let name): return "epoch challenge addressed to \"\(name)\", not to this node"
            case .challengeRateLimited:
                return "epoch challenge not answered: more than \(HeartbeatVerifier.answersPerSecond) in one second"
            case .stale(let late, let bound, let sequence, let path):
                return "stale: sequence \(sequence) on path \(path) arrived \(late)ms later than the peer's packets take "
                    + "(more than \(bound)ms): held back in the network, as a sender's kernel holds packets while a link "
                    + "is cut and sends them in one burst when it returns; not acted on"
            }
        }
    }

    /// Something the challenge exchange settled (the caller logs it).
    public enum AuthenticationEvent: Sendable, Hashable, CustomStringConvertible {
        /// The peer challenged an epoch of ours; the answer is in `outbox`.
        case challengeAnswered(questionedEpoch: UInt64, pathIndex: UInt8)
        /// The peer answered with an epoch other than the current one: it is the current epoch now.
        case peerVerified(epoch: UInt64, previous: UInt64?, sequence: UInt64)
        /// The peer answered with its current epoch: the questioned packets were replays.
        case replayRefuted(questionedEpoch: UInt64, current: UInt64)

        public var description: String {
            switch self {
            case .challengeAnswered(let epoch, let path):
                return "answered the peer's epoch challenge on path \(path) (it questioned epoch \(epoch))"
            case .peerVerified(let epoch, let previous, let sequence):
                return "peer verified by challenge: it is live with boot epoch \(epoch)"
                    + (previous.map { " (previous \($0): it restarted with an older epoch)" } ?? "")
                    + "; its heartbeats after sequence \(sequence) are accepted"
            case .replayRefuted(let questioned, let current):
                return "packets of the peer's boot epoch \(questioned) were replays: the live peer answered the challenge with its current epoch \(current)"
            }
        }
    }

    /// The outcome for one packet.
    public enum Verdict: Sendable, Hashable {
        /// `waitedNanoseconds`: how much later than the current epoch's quickest packet this one
        /// was read (its age beyond the transit time, this node's own late reading included);
        /// nil when the packet carries no send time or starts the estimate (the first of an
        /// epoch, or the first after the peer's clock moved).
        case accepted(HeartbeatMessage, waitedNanoseconds: UInt64?)
        case dropped(DropReason)
        /// A challenge or answer, handled (see `outbox` for what to send).
        case authentication(AuthenticationEvent)
    }

    /// A packet to send to the peer on path `pathIndex`.
    public struct Reply: Sendable, Hashable {
        public var pathIndex: Int
        public var bytes: [UInt8]
    }

    /// What status shows about the peer's authentication.
    public struct AuthenticationStatus: Sendable, Hashable {
        /// The key the peer's last authentic packet verified with; nil with `auth: none` or before one.
        public var peerKey: KeySlot?
        /// Set while packets of an unaccepted epoch arrive and no answer has settled them.
        public var reauthenticating: Reauthentication?
        /// The last epoch accepted by challenge.
        public var lastVerified: Verification?
        /// The last time a challenge showed older-epoch packets to be replays.
        public var lastReplayRefuted: Refutation?
        /// Packets naming the peer that failed authentication since its last authentic one (a key
        /// this node does not hold: the nodes' keys differ), while they keep coming.
        public var refused: Refused?

        public init() {}

        public struct Refused: Sendable, Hashable {
            public var count: UInt64
            public var since: MonotonicInstant
            public var last: MonotonicInstant
        }

        public struct Reauthentication: Sendable, Hashable {
            public var questionedEpoch: UInt64
            public var currentEpoch: UInt64
            public var since: MonotonicInstant
            public var challengesSent: UInt64
        }

        public struct Verification: Sendable, Hashable {
            public var epoch: UInt64
            public var previousEpoch: UInt64?
            public var at: MonotonicInstant
        }

        public struct Refutation: Sendable, Hashable {
            public var questionedEpoch: UInt64
            public var currentEpoch: UInt64
            public var at: MonotonicInstant
        }
    }

    /// At most this many of the peer's challenges are answered per second (the rest are dropped).
    public static let answersPerSecond = 10
    /// A challenge's nonce is accepted in an answer for this long (milliseconds), and only once.
    public static let challengeLifetimeMilliseconds: UInt64 = 5000
    /// At most this many challenges are outstanding; the oldest is forgotten first.
    public static let maximumOutstanding = 8
    /// The peer clock's offset estimate rises by this many thousandths of the time since it was
    /// last set (1 ms per second): above the drift between two crystals (±100 ppm each), so a
    /// slower peer clock never makes fresh packets stale. Faster changes (a clock slewed harder,
    /// a suspended machine) are caught by `offsetMovedAfterMilliseconds`.
    public static let offsetCreepPerMille: UInt64 = 1
    /// Stale packets arriving at least this far apart (ms), and at least half as far apart as
    /// they were sent, are not one held burst, which the kernel delivers at once (however
    /// slowly this node then reads it): the offset moved, and the estimate starts again from
    /// the packet that shows it.
    public static let offsetMovedAfterMilliseconds: UInt64 = 5
    /// The stale bound never goes below this, ms: a packet read late because this node's
    /// heartbeat thread was starved is not stale (a kernel's held packets are at least ARP's
    /// retransmit time, 1 s, old when they come).
    public static let minimumStaleAfterMilliseconds: UInt64 = 500

    /// The stale bound for a pair judged lost after `deadTime`: the dead time, at least
    /// `minimumStaleAfterMilliseconds`. A packet older than the dead time tells nothing the
    /// election may act on: had nothing else come, the peer would count as lost.
    public static func staleAfterMilliseconds(deadTime: TimeSpan) -> UInt64 {
        max(minimumStaleAfterMilliseconds, deadTime.milliseconds)
    }

    public let peerName: String
    public let pathCount: Int
    /// This node's name and boot epoch, for challenges and answers; nil disables both (the
    /// older-epoch packets are then only dropped).
    public let localName: String?
    public let localEpoch: UInt64
    /// Minimum time between two challenges, milliseconds.
    public let challengeRetryMilliseconds: UInt64
    /// A packet that arrives more than this many ms later than the epoch's quickest is stale
    /// (`staleAfterMilliseconds(deadTime:)`; a reload that changes the dead time sets it again).
    public var staleAfterMilliseconds: UInt64
    /// [current] or [current, next]; empty with `auth: none`.
    private var authenticators: [any HeartbeatAuthenticator]
    private let nonceSource: @Sendable () -> [UInt8]

    public private(set) var counters = Counters()
    public private(set) var paths: [PathStatistics]
    /// The peer's current (accepted) boot epoch.
    public private(set) var currentEpoch: UInt64?
    /// The newest epoch ever accepted: newer ones are restarts, accepted without a challenge.
    public private(set) var newestEpoch: UInt64?
    public private(set) var authentication = AuthenticationStatus()
    /// Challenges and answers to send; `takeOutbox()` empties it.
    public private(set) var outbox: [Reply] = []
    private var lastSequence: [UInt64?]
    private var outstanding: [(nonce: [UInt8], issued: MonotonicInstant)] = []
    private var lastChallengeAt: MonotonicInstant?
    private var lastUnverifiedAt: MonotonicInstant?
    private var answerWindow: (start: MonotonicInstant, count: Int)?
    /// The smallest (arrival − send time) of the current epoch's packets, ns, as it stood `at`.
    private var clockOffset: (nanoseconds: Int64, at: MonotonicInstant)?
    /// The first packet of the current run of stale drops: when it arrived and was sent (nil
    /// after an accepted packet).
    private var staleSince: (arrival: MonotonicInstant, sentAt: UInt64)?
    /// Whether the current epoch's heartbeats carried their send time: nil before the first.
    private var epochSendsTime: Bool?

    /// Whether this node's heartbeats should carry their send time: until the peer's current
    /// epoch has been heard, and once one of its heartbeats carried one. A tandemd from before
    /// the field never sends it (and drops packets that carry it), so a node that hears only
    /// heartbeats without it leaves it out; a node that ever sent one understands them.
    public var peerTakesSendTime: Bool { epochSendsTime != false }

    /// - Parameters:
    ///   - peerName: the only sender accepted.
    ///   - pathCount: number of heartbeat paths (path indexes 0 ..< pathCount).
    ///   - authenticator: checks tags and signs challenges and answers; nil for `auth: none`.
    ///   - nextAuthenticator: the key also accepted during a rotation (`next_key_file`).
    ///   - localName, localEpoch: this node, for the challenge exchange (nil: no challenges).
    ///   - challengeRetryMilliseconds: minimum time between two challenges.
    ///   - nonceSource: 32 fresh random bytes per call (the system generator unless a test fixes them).
    public init(peerName: String, pathCount: Int, authenticator: (any HeartbeatAuthenticator)?,
                nextAuthenticator: (any HeartbeatAuthenticator)? = nil, localName: String? = nil, localEpoch: UInt64 = 0,
                challengeRetryMilliseconds: UInt64 = 200,
                staleAfterMilliseconds: UInt64 = HeartbeatVerifier.minimumStaleAfterMilliseconds,
                nonceSource: @escaping @Sendable () -> [UInt8] = HeartbeatVerifier.randomNonce) {
        self.peerName = peerName
        self.pathCount = max(pathCount, 0)
        self.authenticators = [authenticator, nextAuthenticator].compactMap { $0 }
        self.localName = localName
        self.localEpoch = localEpoch
        self.challengeRetryMilliseconds = challengeRetryMilliseconds
        self.staleAfterMilliseconds = staleAfterMilliseconds
        self.nonceSource = nonceSource
        self.paths = Array(repeating: PathStatistics(), count: max(pathCount, 0))
        self.lastSequence = Array(repeating: nil, count: max(pathCount, 0))
    }

    /// 32 bytes from the system's random generator (getrandom on Linux).
    public static func randomNonce() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<EpochChallengeCodec.nonceLength).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    /// Whether a packet of the peer's boot epoch `epoch` would have its staleness judged: the
    /// epoch is the current one and one of its packets carried a send time.
    public func judgesStaleness(ofEpoch epoch: UInt64) -> Bool { clockOffset != nil && currentEpoch == epoch }

    /// Replaces the keys (a reload with new key files); nil `current` means `auth: none`.
    public mutating func replaceKeys(current: (any HeartbeatAuthenticator)?, next: (any HeartbeatAuthenticator)?) {
        authenticators = [current, next].compactMap { $0 }
        if current == nil { authentication.peerKey = nil }
    }

    /// Returns and clears the packets to send.
    public mutating func takeOutbox() -> [Reply] {
        defer { outbox = [] }
        return outbox
    }

    /// The authentication status at `now` (a re-authentication with no older-epoch packet for a
    /// challenge lifetime is over: the peer stopped sending them, or went silent).
    public func authenticationStatus(at now: MonotonicInstant) -> AuthenticationStatus {
        var status = authentication
        if let last = lastUnverifiedAt, now.milliseconds(since: last) > Self.challengeLifetimeMilliseconds {
            status.reauthenticating = nil
        }
        if let refused = status.refused, now.milliseconds(since: refused.last) > Self.refusedReportMilliseconds {
            status.refused = nil
        }
        return status
    }

    /// Checks one received datagram, updating counters and path statistics.
    /// - Parameters:
    ///   - now: when this node reads it.
    ///   - localSequence: this node's newest heartbeat sequence (sent in an answer).
    ///   - readLateNanoseconds: how much later than it meant to this node woke to read it (its
    ///     own thread starved or stopped): a packet may have waited in the socket that long, so
    ///     it is stale only beyond the bound plus this. A node that overslept judges the peer by
    ///     what its socket held, as before the send time, rather than take over from a live peer
    ///     because its own queue is old.
    public mutating func verify(_ bytes: [UInt8], at now: MonotonicInstant, localSequence: UInt64 = 0,
                                readLateNanoseconds: UInt64 = 0) -> Verdict {
        if EpochChallengeCodec.isChallengePacket(bytes) { return verifyChallengePacket(bytes, at: now, localSequence: localSequence) }
        let decoded: HeartbeatCodec.Decoded
        do {
            decoded = try HeartbeatCodec.decode(bytes, knownSender: peerName)
        } catch {
            counters.malformed += 1
            return .dropped(.malformed(error))
        }
        let message = decoded.message
        if let reason = admit(tag: decoded.tag, signedBytes: decoded.signedBytes, sender: message.sender, at: now) {
            return .dropped(reason)
        }
        let path = Int(message.pathIndex)
        guard path < pathCount else {
            counters.unknownPath += 1
            return .dropped(.unknownPath(message.pathIndex))
        }
        if let currentEpoch, message.bootEpoch != currentEpoch {
            if let newestEpoch, message.bootEpoch <= newestEpoch {
                counters.replayed += 1
                if let last = lastUnverifiedAt, now.milliseconds(since: last) > Self.challengeLifetimeMilliseconds {
                    authentication.reauthenticating = nil
                }
                lastUnverifiedAt = now
                challenge(epoch: message.bootEpoch, current: currentEpoch, pathIndex: path, at: now)
                return .dropped(.staleEpoch(received: message.bootEpoch, current: currentEpoch))
            }
            lastSequence = Array(repeating: nil, count: pathCount)
            forgetEpochTiming()
        }
        var sequenceStep: UInt64?
        if message.bootEpoch == currentEpoch, let last = lastSequence[path] {
            guard message.sequence > last else {
                counters.replayed += 1
                return .dropped(.replayedSequence(epoch: message.bootEpoch, sequence: message.sequence,
                                                  lastAccepted: last, pathIndex: message.pathIndex))
            }
            paths[path].lost += message.sequence - last - 1
            sequenceStep = message.sequence - last
        }
        currentEpoch = message.bootEpoch
        newestEpoch = max(newestEpoch ?? 0, message.bootEpoch)
        let timing = timing(of: message, at: now, readLate: readLateNanoseconds)
        if timing.stale, let late = timing.waited {
            lastSequence[path] = message.sequence
            // The path delivered it now: the next packet's arrival gap counts from here.
            paths[path].lastHeard = now
            paths[path].lastIntervalMilliseconds = message.intervalMilliseconds
            counters.stale += 1
            return .dropped(.stale(lateMilliseconds: late / 1_000_000, boundMilliseconds: staleAfterMilliseconds,
                                   sequence: message.sequence, pathIndex: message.pathIndex))
        }
        if let step = sequenceStep, let heard = paths[path].lastHeard {
            paths[path].noteArrival(gap: now.nanoseconds(since: heard),
                                    expected: step &* UInt64(paths[path].lastIntervalMilliseconds) &* 1_000_000)
        }
        lastSequence[path] = message.sequence
        paths[path].received += 1
        paths[path].lastHeard = now
        paths[path].lastIntervalMilliseconds = message.intervalMilliseconds
        counters.accepted += 1
        return .accepted(message, waitedNanoseconds: timing.waited)
    }

    /// A new epoch of the peer: its clock and its send-time field are unknown again.
    private mutating func forgetEpochTiming() {
        clockOffset = nil
        staleSince = nil
        epochSendsTime = nil
    }

    /// How much later than the epoch's quickest packet `message` came, ns (`waited`: nil without
    /// a send time, and for the packet that starts the estimate), and whether that is more than
    /// the stale bound plus this node's own lateness (`stale`). Updates the offset estimate with
    /// every packet that carries a send time.
    private mutating func timing(of message: HeartbeatMessage, at now: MonotonicInstant,
                                 readLate: UInt64) -> (waited: UInt64?, stale: Bool) {
        guard let sentAt = message.sentAtNanoseconds else {
            if epochSendsTime == nil { epochSendsTime = false }
            return (nil, false)
        }
        epochSendsTime = true
        let sample = Int64(bitPattern: now.nanoseconds &- sentAt)
        guard let offset = clockOffset else {
            clockOffset = (sample, now)
            return (nil, false)
        }
        let creep = Int64(clamping: now.nanoseconds(since: offset.at) / 1000 * Self.offsetCreepPerMille)
        let estimate = offset.nanoseconds &+ creep
        let late = sample > estimate ? UInt64(sample - estimate) : 0
        if late > staleAfterMilliseconds &* 1_000_000 &+ readLate {
            guard let run = staleSince else {
                staleSince = (now, sentAt)
                return (late, true)
            }
            let arrivalSpread = now.nanoseconds(since: run.arrival)
            let sendSpread = sentAt > run.sentAt ? sentAt - run.sentAt : 0
            guard arrivalSpread >= Self.offsetMovedAfterMilliseconds * 1_000_000, arrivalSpread * 2 >= sendSpread else {
                return (late, true)
            }
            // Not a burst: the offset moved. Start again from this packet.
            clockOffset = (sample, now)
            staleSince = nil
            return (nil, false)
        }
        clockOffset = (min(estimate, sample), now)
        staleSince = nil
        return (late, false)
    }

    /// Which key verified the tag (nil with `auth: none`), or why the packet is dropped.
    private enum Authenticity {
        case success(KeySlot?)
        case failure(DropReason)
    }

    /// Authenticates a heartbeat's or challenge packet's tag and checks that the peer sent it;
    /// notes which key the peer signs with. Nil when the packet may be read further.
    private mutating func admit(tag: ArraySlice<UInt8>?, signedBytes: ArraySlice<UInt8>, sender: String,
                                at now: MonotonicInstant) -> DropReason? {
        let slot: KeySlot?
        switch authenticate(tag: tag, signedBytes: signedBytes) {
        case .failure(let reason):
            if sender == peerName {
                let before = authentication.refused
                authentication.refused = .init(count: (before?.count ?? 0) + 1, since: before?.since ?? now, last: now)
            }
            return reason
        case .success(let key): slot = key
        }
        guard sender == peerName else {
            counters.unexpectedSender += 1
            return .unexpectedSender(sender)
        }
        if let slot { authentication.peerKey = slot }
        authentication.refused = nil
        return nil
    }

    /// How long packets that fail authentication stay reported after the last of them, ms.
    static let refusedReportMilliseconds: UInt64 = 5_000

    private mutating func authenticate(tag: ArraySlice<UInt8>?, signedBytes: ArraySlice<UInt8>) -> Authenticity {
        guard !authenticators.isEmpty else { return .success(nil) }
        guard let tag else {
            counters.unauthenticated += 1
            return .failure(.missingTag)
        }
        for (index, authenticator) in authenticators.enumerated() where authenticator.isValidTag(tag, for: signedBytes) {
            return .success(index == 0 ? .current : .next)
        }
        counters.unauthenticated += 1
        return .failure(.badTag)
    }

    /// Queues a challenge about `epoch` on `pathIndex`, unless one went out less than the retry time ago.
    private mutating func challenge(epoch: UInt64, current: UInt64, pathIndex: Int, at now: MonotonicInstant) {
        guard let localName else { return }
        outstanding.removeAll { now.milliseconds(since: $0.issued) > Self.challengeLifetimeMilliseconds }
        if let last = lastChallengeAt, now.milliseconds(since: last) < challengeRetryMilliseconds { return }
        let nonce = nonceSource()
        let packet = EpochChallengeCodec.Packet(
            kind: .challenge, pathIndex: UInt8(clamping: pathIndex), challengerNonce: nonce,
            answererNonce: [UInt8](repeating: 0, count: EpochChallengeCodec.nonceLength), epoch: epoch, sequence: 0,
            sender: localName, target: peerName)
        guard let bytes = EpochChallengeCodec.encode(packet, authenticator: authenticators.first) else { return }
        outstanding.append((nonce, now))
        if outstanding.count > Self.maximumOutstanding { outstanding.removeFirst(outstanding.count - Self.maximumOutstanding) }
        outbox.append(Reply(pathIndex: pathIndex, bytes: bytes))
        lastChallengeAt = now
        counters.challengesSent += 1
        if var pending = authentication.reauthenticating, pending.questionedEpoch == epoch {
            pending.challengesSent += 1
            authentication.reauthenticating = pending
        } else {
            authentication.reauthenticating = .init(questionedEpoch: epoch, currentEpoch: current, since: now, challengesSent: 1)
        }
    }

    private mutating func verifyChallengePacket(_ bytes: [UInt8], at now: MonotonicInstant, localSequence: UInt64) -> Verdict {
        let decoded: EpochChallengeCodec.Decoded
        do {
            decoded = try EpochChallengeCodec.decode(bytes)
        } catch {
            counters.malformed += 1
            return .dropped(.malformed(error))
        }
        let packet = decoded.packet
        if let reason = admit(tag: decoded.tag, signedBytes: decoded.signedBytes, sender: packet.sender, at: now) {
            return .dropped(reason)
        }
        guard let localName, packet.target == localName else {
            counters.unexpectedSender += 1
            return .dropped(.wrongTarget(packet.target))
        }
        let path = Int(packet.pathIndex)
        guard path < pathCount else {
            counters.unknownPath += 1
            return .dropped(.unknownPath(packet.pathIndex))
        }
        switch packet.kind {
        case .challenge:
            if let window = answerWindow, now.nanoseconds(since: window.start) < 1_000_000_000 {
                guard window.count < Self.answersPerSecond else {
                    counters.rateLimited += 1
                    return .dropped(.challengeRateLimited)
                }
                answerWindow = (window.start, window.count + 1)
            } else {
                answerWindow = (now, 1)
            }
            let answer = EpochChallengeCodec.Packet(
                kind: .answer, pathIndex: packet.pathIndex, challengerNonce: packet.challengerNonce,
                answererNonce: nonceSource(), epoch: localEpoch, sequence: localSequence, sender: localName, target: peerName)
            if let bytes = EpochChallengeCodec.encode(answer, authenticator: authenticators.first) {
                outbox.append(Reply(pathIndex: path, bytes: bytes))
                counters.challengesAnswered += 1
            }
            return .authentication(.challengeAnswered(questionedEpoch: packet.epoch, pathIndex: packet.pathIndex))
        case .answer:
            let live = outstanding.filter { now.milliseconds(since: $0.issued) <= Self.challengeLifetimeMilliseconds }
            guard live.contains(where: { $0.nonce == packet.challengerNonce }) else {
                counters.replayed += 1
                return .dropped(.staleAnswer(epoch: packet.epoch))
            }
            // One fresh answer settles every outstanding challenge; none of their nonces is accepted again.
            outstanding = []
            lastChallengeAt = nil
            counters.answersAccepted += 1
            let questioned = authentication.reauthenticating?.questionedEpoch ?? packet.epoch
            authentication.reauthenticating = nil
            lastUnverifiedAt = nil
            if packet.epoch == currentEpoch {
                authentication.lastReplayRefuted = .init(questionedEpoch: questioned, currentEpoch: packet.epoch, at: now)
                return .authentication(.replayRefuted(questionedEpoch: questioned, current: packet.epoch))
            }
            let previous = currentEpoch
            currentEpoch = packet.epoch
            forgetEpochTiming()
            newestEpoch = max(newestEpoch ?? 0, packet.epoch)
            // Heartbeats the peer sent before it answered are not accepted (they could be replayed).
            lastSequence = Array(repeating: packet.sequence, count: pathCount)
            authentication.lastVerified = .init(epoch: packet.epoch, previousEpoch: previous, at: now)
            return .authentication(.peerVerified(epoch: packet.epoch, previous: previous, sequence: packet.sequence))
        }
    }
}
