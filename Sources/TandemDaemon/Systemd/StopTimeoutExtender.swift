import TandemCore

/// While a stopping tandemd waits for its notify commands, asks systemd for the time they may
/// still take, so that the unit's `TimeoutStopSec=` (30 s as shipped) does not SIGKILL tandemd
/// and its `stop` command while both keep to tandemd's own bounds.
///
/// The rule (sd_notify(3), `EXTEND_TIMEOUT_USEC=`, systemd 236+): each message lets the stop run
/// `EXTEND_TIMEOUT_USEC` µs past the message (never less than `TimeoutStopSec=`), and must be
/// repeated before that runs out. A stop may wait for the role command still running (what is left
/// of its `notify.timeout`, and 1 s from SIGTERM to SIGKILL) and then the `stop` command (its
/// whole `notify.timeout` and 1 s): up to 2 × (notify.timeout + 1 s), 62 s with the default 30 s
/// (operator trial 34). Each message asks for that worst case plus `margin`; it is sent again every
/// `period`, and since `margin` > `period`, the next message always comes before the last one runs
/// out, however the worst case shrinks. Decisions only: the daemon sends what `tick` returns.
public struct StopTimeoutExtender: Sendable {
    /// Between two messages: 2 s (monotonic).
    public static let period = TimeSpan.seconds(2)
    /// Added to the commands' worst case: tandemd's exit after them, and more than `period` so a
    /// message is never late: 5 s.
    public static let margin = TimeSpan.seconds(5)

    private var next: MonotonicInstant?

    public init() {}

    /// The message due at `now`, when something is `outstanding` and `period` has passed since the
    /// last message (the first at once); nil otherwise.
    public mutating func tick(now: MonotonicInstant, outstanding: NotifyLedger.Outstanding?) -> ServiceManagerMessage? {
        guard let outstanding else { return nil }
        if let next, now < next { return nil }
        next = now.adding(milliseconds: Self.period.milliseconds)
        return Self.message(outstanding)
    }

    /// `EXTEND_TIMEOUT_USEC=` of the worst case plus `margin`, with a status line saying what the
    /// stop waits for.
    public static func message(_ outstanding: NotifyLedger.Outstanding) -> ServiceManagerMessage {
        .extendTimeout(microseconds: (outstanding.worstCaseMs + margin.milliseconds) * 1000, status: statusLine(outstanding))
    }

    /// `stopping: waiting for the notify commands active (running) and stop (waiting), at most 42s more`
    /// (commands named by their key under `notify:`).
    public static func statusLine(_ outstanding: NotifyLedger.Outstanding) -> String {
        let what = [outstanding.running.map { "\($0.notifyKey) (running)" }, outstanding.waiting.map { "\($0.notifyKey) (waiting)" }].compactMap { $0 }
        let seconds = (outstanding.worstCaseMs + 999) / 1000
        return "stopping: waiting for the notify command\(what.count > 1 ? "s" : "") \(what.joined(separator: " and ")), at most \(seconds)s more"
    }
}
