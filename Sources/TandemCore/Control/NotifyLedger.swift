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

    /// Role changes whose command has not started yet (the one running is not counted).
    public private(set) var queued = 0
    public private(set) var running: Running?
    public private(set) var last: Ended?
    /// The newest command that failed, whatever ran after it.
    public private(set) var lastFailure: Ended?
    public private(set) var succeededCount: UInt64 = 0
    public private(set) var failedCount: UInt64 = 0

    public init() {}

    /// A role change queued its command.
    public mutating func queue() { queued += 1 }

    /// The next queued command started.
    public mutating func start(_ role: Role, command: [String], at now: MonotonicInstant, wall: UInt64) {
        queued = max(0, queued - 1)
        running = Running(role: role, command: command.joined(separator: " "), startedAt: now, startedAtWall: wall)
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

    /// The status section; nil while no command has been queued since start (`notify:` unset,
    /// or no role change yet). `iso8601` renders wall-clock nanoseconds.
    public func status(at now: MonotonicInstant, iso8601: (UInt64) -> String) -> StatusReport.Notify? {
        guard running != nil || last != nil || queued > 0 else { return nil }
        func describe(_ ended: Ended) -> StatusReport.Notify.Ended {
            .init(role: ended.role.description, command: ended.command, result: ended.succeeded ? "succeeded" : "failed",
                  outcome: ended.outcome, at: iso8601(ended.endedAtWall), durationMs: ended.durationMs)
        }
        return StatusReport.Notify(
            running: running.map { .init(role: $0.role.description, command: $0.command, since: iso8601($0.startedAtWall),
                                         forMs: now.milliseconds(since: $0.startedAt)) },
            queued: queued, last: last.map(describe), lastFailure: lastFailure.map(describe),
            succeeded: succeededCount, failed: failedCount)
    }
}
