/// When a node offers its drain list to the peer outside an operator's drain command.
///
/// A drain made while the peer was down (or a node restarted from its state directory) would
/// otherwise reach the peer only with the next drain change. So each node offers its list
/// whenever it starts hearing the peer (at its own start, and after the peer was dead); the
/// receiver adopts the list if it is newer and answers with its own if that is newer, so both
/// converge on the newest. An offer that fails is retried with a back-off (1 s doubling to
/// 60 s) while the peer is heard; it stops when the peer is lost (the next return restarts it).
///
/// Pure: the caller passes the time and whether the peer is heard, and reports each offer's
/// outcome.
public struct DrainResync: Sendable, Hashable {
    public static let firstRetry = TimeSpan.seconds(1)
    public static let longestRetry = TimeSpan.seconds(60)

    private var peerWasAlive = false
    private var pending = false
    private var notBefore: MonotonicInstant?
    private var retry = DrainResync.firstRetry

    public init() {}

    /// Whether an offer is owed to the peer (now or after the back-off).
    public var offerPending: Bool { pending }

    /// Called at each poll; true when the caller should offer its list now.
    public mutating func observe(peerAlive: Bool, at now: MonotonicInstant) -> Bool {
        defer { peerWasAlive = peerAlive }
        if peerAlive && !peerWasAlive {
            pending = true
            notBefore = nil
            retry = Self.firstRetry
        }
        if !peerAlive { pending = false }
        guard pending else { return false }
        if let notBefore, now < notBefore { return false }
        return true
    }

    /// The outcome of the offer `observe` asked for.
    public mutating func offered(succeeded: Bool, at now: MonotonicInstant) {
        if succeeded {
            pending = false
            notBefore = nil
            retry = Self.firstRetry
        } else {
            notBefore = now + retry
            retry = TimeSpan(milliseconds: min(retry.milliseconds * 2, Self.longestRetry.milliseconds))
        }
    }

    /// An offer outside this schedule failed (an operator's drain the peer could not be told
    /// of): offer the list again after the back-off, for as long as the peer is heard.
    public mutating func offerFailedElsewhere(at now: MonotonicInstant) {
        pending = true
        notBefore = now + retry
        retry = TimeSpan(milliseconds: min(retry.milliseconds * 2, Self.longestRetry.milliseconds))
    }

    /// Whether a peer's offer should be answered with this node's list: only when ours is
    /// strictly newer (equal generations are the same list; answering would never end).
    public static func shouldAnswer(received: UInt64, ours: UInt64) -> Bool { ours > received }
}
