/// A config version as the heartbeats carry it: serial and digest.
public struct ConfigVersion: Sendable, Hashable, CustomStringConvertible {
    public var serial: UInt64
    public var digest: HeartbeatMessage.ConfigDigest

    public init(serial: UInt64, digest: HeartbeatMessage.ConfigDigest) {
        self.serial = serial
        self.digest = digest
    }

    /// The version of `config` (its digest is hex; an unparsable digest becomes all zeros).
    public init(_ config: Config) {
        self.init(serial: config.serial, digest: HeartbeatMessage.ConfigDigest(hex: config.digest) ?? .zero)
    }

    /// "serial 7 digest 0123abcd…" (the first 16 hex digits).
    public var description: String { "serial \(serial) digest \(digest.description.prefix(16))" }
}

extension HeartbeatMessage.ConfigDigest {
    /// Parses 64 hex digits (either case); nil for anything else.
    public init?(hex: String) {
        guard let bytes = Hex.decode(hex) else { return nil }
        self.init(bytes)
    }
}

/// What to do about the pair's two config versions.
public enum ReplicationDecision: Sendable, Hashable {
    /// Same serial, same digest.
    case inSync
    /// The peer's serial is higher: fetch its config.
    case fetchFromPeer
    /// This node's serial is higher: the peer will fetch from us.
    case peerWillFetch
    /// Same serial, different digests: two different configs claim one version. Nothing is
    /// applied; an operator resolves it by raising the serial on the node whose config should win.
    case conflict

    /// The rule: higher serial wins; equal serials must have equal digests.
    public static func decide(local: ConfigVersion, peer: ConfigVersion) -> ReplicationDecision {
        if peer.serial > local.serial { return .fetchFromPeer }
        if peer.serial < local.serial { return .peerWillFetch }
        return peer.digest == local.digest ? .inSync : .conflict
    }
}

/// Decides, every time the daemon looks at the peer's heartbeat view, whether to fetch, and
/// reports conflicts once per pair of versions. Pure: time is an argument.
///
/// - A fetch is started for a higher peer version unless one is running.
/// - A failed fetch (peer unreachable, connection broken) is retried after a back-off that
///   doubles from `initialRetry` to `maximumRetry`.
/// - A config that this node refused (invalid, or not naming this node) is not fetched again
///   until the peer's version changes: the same bytes would be refused again.
public struct ReplicationMonitor: Sendable {
    public enum Action: Sendable, Hashable {
        case fetch(ConfigVersion)
        case conflictDetected(local: ConfigVersion, peer: ConfigVersion)
        case conflictResolved
    }

    /// How a fetch ended.
    public enum FetchOutcome: Sendable, Hashable {
        /// The fetched config is in force (or turned out to be what we already run).
        case applied
        /// Could not talk to the peer; retried after a back-off.
        case failed
        /// The peer's config was refused; fetched again only when the peer's version changes, or
        /// after `refusedRetry` (doubling up to `maximumRefusedRetry`): a refusal for a cause on
        /// this node (a key file or an interface it lacks) heals once the operator fixes it.
        case refused
    }

    public var initialRetry = TimeSpan.milliseconds(500)
    public var maximumRetry = TimeSpan.seconds(30)
    public var refusedRetry = TimeSpan.seconds(60)
    public var maximumRefusedRetry = TimeSpan.seconds(600)
    /// The conflict being reported, if any.
    public private(set) var conflict: (local: ConfigVersion, peer: ConfigVersion)?
    private var fetching: ConfigVersion?
    private var retryAt: MonotonicInstant?
    private var retryDelay: TimeSpan?
    private var refused: ConfigVersion?
    /// The peer's version whose fetch was refused, until it may be fetched again.
    public var refusedVersion: ConfigVersion? { refused }
    /// When the refused version may be fetched again, and the wait that led there.
    private var refusedRetryAt: MonotonicInstant?
    private var refusedDelay: TimeSpan?
    private var lastRefused: ConfigVersion?

    public init() {}

    /// The daemon looked at both versions (`peer` nil: never heard).
    public mutating func observed(local: ConfigVersion, peer: ConfigVersion?, at now: MonotonicInstant) -> [Action] {
        guard let peer else { return [] }
        var actions: [Action] = []
        let decision = ReplicationDecision.decide(local: local, peer: peer)
        if decision == .conflict {
            if conflict?.local != local || conflict?.peer != peer {
                conflict = (local, peer)
                actions.append(.conflictDetected(local: local, peer: peer))
            }
        } else if conflict != nil {
            conflict = nil
            actions.append(.conflictResolved)
        }
        if refused == peer, let again = refusedRetryAt, now >= again { refused = nil }
        guard decision == .fetchFromPeer, fetching == nil, refused != peer else { return actions }
        if let retryAt, now < retryAt { return actions }
        fetching = peer
        actions.append(.fetch(peer))
        return actions
    }

    /// The fetch started by the last `.fetch` action ended.
    public mutating func fetchFinished(_ outcome: FetchOutcome, at now: MonotonicInstant) {
        let target = fetching
        fetching = nil
        switch outcome {
        case .applied:
            retryAt = nil
            retryDelay = nil
            refusedDelay = nil
        case .failed:
            let delay = retryDelay.map { min(TimeSpan(milliseconds: $0.milliseconds * 2), maximumRetry) } ?? initialRetry
            retryDelay = delay
            retryAt = now + delay
        case .refused:
            // The same version refused again waits twice as long; another version starts over.
            let delay = refused == nil && refusedDelay != nil && target == lastRefused
                ? min(TimeSpan(milliseconds: refusedDelay!.milliseconds * 2), maximumRefusedRetry) : refusedRetry
            refused = target
            lastRefused = target
            refusedDelay = delay
            refusedRetryAt = now + delay
            retryAt = nil
            retryDelay = nil
        }
    }

    /// Whether a fetch is running.
    public var isFetching: Bool { fetching != nil }
}
