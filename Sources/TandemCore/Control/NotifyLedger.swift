/// What the notify commands (`notify:` in the config) are doing, for `tandemctl status` and the
/// metrics: the one running and since when, how many wait behind it, and how the last one and the
/// last failed one ended. Pure: times are arguments. Owned by the daemon's `Notifier`, which runs
/// the commands one at a time in order, and changed only under its lock.
public struct NotifyLedger: Sendable, Hashable {
    /// A command that has started and not ended.
    public struct Running: Sendable, Hashable {
        public var role: Role
        /// The command as configured, its words joined by spaces.
        public var command: String
        public var startedAt: MonotonicInstant
        public var startedAtWall: UInt64
        /// Its `notify.timeout` when it started.
        public var timeout: TimeSpan
    }

    /// A command that has ended.
    public struct Ended: Sendable, Hashable {
        public var role: Role
        public var command: String
        /// How it ended, worded for the operator ("exited with status 1", "killed by SIGKILL
        /// after the 10s timeout", "could not start: …"), with its first output when it printed any.
        public var outcome: String
        public var succeeded: Bool
        /// Wall clock, nanoseconds since the Unix epoch.
        public var endedAtWall: UInt64
        public var durationMs: UInt64
    }

    /// A role change's command waiting for the one running to end.
    public struct Pending: Sendable, Hashable {
        public var role: Role
        public var command: [String]
        public var environment: [String: String]
        public var timeout: TimeSpan

        public init(role: Role, command: [String], environment: [String: String], timeout: TimeSpan) {
            self.role = role
            self.command = command
            self.environment = environment
            self.timeout = timeout
        }
    }

    /// The newest role change's command, waiting: only one ever waits, since a role change makes
    /// the commands of the roles before it stale (a `standby` command run on a node that is
    /// active again would stop what it serves).
    public private(set) var pending: Pending?
    /// Commands of role changes superseded by a newer one before they started.
    public private(set) var skippedCount: UInt64 = 0
    /// 1 while a command waits, else 0.
    public var queued: Int { pending == nil ? 0 : 1 }
    public private(set) var running: Running?
    public private(set) var last: Ended?
    /// The newest command that failed, whatever ran after it.
    public private(set) var lastFailure: Ended?
    public private(set) var succeededCount: UInt64 = 0
    public private(set) var failedCount: UInt64 = 0

    public init() {}

    /// A role change: `command` is its role's command, nil when the role has none. Either way
    /// the waiting command (of an older role, not started) is stale: returned, it will not run.
    public mutating func queue(_ command: Pending?) -> Pending? {
        let superseded = pending
        if superseded != nil { skippedCount += 1 }
        pending = command
        return superseded
    }

    /// Starts the waiting command, if any (none while one runs: they run one at a time).
    public mutating func startNext(at now: MonotonicInstant, wall: UInt64) -> Pending? {
        guard running == nil, let next = pending else { return nil }
        pending = nil
        running = Running(role: next.role, command: next.command.joined(separator: " "), startedAt: now, startedAtWall: wall,
                          timeout: next.timeout)
        return next
    }

    /// The running command ended; `outcome` says how.
    public mutating func finish(succeeded: Bool, outcome: String, at now: MonotonicInstant, wall: UInt64) {
        guard let run = running else { return }
        running = nil
        let ended = Ended(role: run.role, command: run.command, outcome: outcome, succeeded: succeeded, endedAtWall: wall,
                          durationMs: now.milliseconds(since: run.startedAt))
        last = ended
        if succeeded { succeededCount += 1 } else { failedCount += 1; lastFailure = ended }
    }

    /// What a stopping daemon still waits for: the running command's role, the waiting one's, and
    /// the longest both may still take, in ms.
    public struct Outstanding: Sendable, Hashable {
        public var running: Role?
        public var waiting: Role?
        public var worstCaseMs: UInt64

        public init(running: Role?, waiting: Role?, worstCaseMs: UInt64) {
            self.running = running
            self.waiting = waiting
            self.worstCaseMs = worstCaseMs
        }
    }

    /// The commands not ended at `now`, nil when none: the running one may take what is left of
    /// its timeout and `grace` (the SIGTERM-to-SIGKILL wait, `ProcessNotifyRunner`), the waiting
    /// one its whole timeout and `grace` after it.
    public func outstanding(at now: MonotonicInstant, grace: TimeSpan) -> Outstanding? {
        guard running != nil || pending != nil else { return nil }
        var worst: UInt64 = 0
        if let running {
            let limit = running.timeout.milliseconds + grace.milliseconds
            worst += limit - min(limit, now.milliseconds(since: running.startedAt))
        }
        if let pending { worst += pending.timeout.milliseconds + grace.milliseconds }
        return Outstanding(running: running?.role, waiting: pending?.role, worstCaseMs: worst)
    }

    /// The status section; nil while no command has been queued since start (`notify:` unset,
    /// or no role change yet). `iso8601` renders wall-clock nanoseconds.
    public func status(at now: MonotonicInstant, iso8601: (UInt64) -> String) -> StatusReport.Notify? {
        guard running != nil || last != nil || pending != nil else { return nil }
        func describe(_ ended: Ended) -> StatusReport.Notify.Ended {
            .init(role: ended.role.description, command: ended.command, result: ended.succeeded ? "succeeded" : "failed",
                  outcome: ended.outcome, at: iso8601(ended.endedAtWall), durationMs: ended.durationMs)
        }
        return StatusReport.Notify(
            running: running.map { .init(role: $0.role.description, command: $0.command, since: iso8601($0.startedAtWall),
                                         forMs: now.milliseconds(since: $0.startedAt)) },
            queued: queued, waiting: pending?.role.description, last: last.map(describe), lastFailure: lastFailure.map(describe),
            succeeded: succeededCount, failed: failedCount, skipped: skippedCount)
    }
}
