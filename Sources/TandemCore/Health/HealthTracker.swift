/// Rise/fall tracking of one real server under one probe.
///
/// - A new tracker is `unknown`, which counts as up in the IPVS table, so restarting the daemon on
///   an active router never quiesces healthy servers. The first result decides at once: one
///   success makes it `up`, one failure `down` (keepalived without `alpha` starts up; with `alpha`
///   down; this is the middle way: no traffic disruption, and no more than one interval of doubt).
/// - After that, `rise` consecutive successes bring a `down` server up and `fall` consecutive
///   failures take an `up` server down. An agent reply `down`/`maint`/`failed`/`stopped` takes
///   the server down at once: the agent is stating a fact, not a symptom.
/// - A server that comes up from `down` starts its warm-up ramp (see `WarmupRamp`).
/// - Agent feedback persists between replies, as in HAProxy: a percentage holds until the next
///   percentage; `drain` holds until `up` or `ready`.
///
/// Time is an argument: the tracker never reads a clock.
public struct HealthTracker: Sendable, Hashable {
    /// Health as the table sees it.
    public enum Status: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
        case unknown, up, down
        public var description: String { rawValue }
    }

    public var rise: Int
    public var fall: Int
    public private(set) var status: Status = .unknown
    /// When `status` last changed (or the tracker was created).
    public private(set) var since: MonotonicInstant
    public private(set) var consecutiveSuccesses = 0
    public private(set) var consecutiveFailures = 0
    public private(set) var lastResult: ProbeResult?
    public private(set) var lastCheck: MonotonicInstant?
    /// When the server last came up from down; the warm-up ramp starts here.
    public private(set) var rampStart: MonotonicInstant?
    /// The agent's last weight percentage.
    public private(set) var agentPercent: Int?
    /// The agent said `drain` and has not said `up`/`ready` since.
    public private(set) var drained = false

    public init(rise: Int, fall: Int, createdAt: MonotonicInstant) {
        self.rise = max(1, rise)
        self.fall = max(1, fall)
        self.since = createdAt
    }

    /// A change of status caused by a result.
    public struct Transition: Sendable, Hashable {
        public var old: Status
        public var new: Status
        public var reason: String
    }

    /// Records one probe result; returns the status change it caused, if any.
    @discardableResult
    public mutating func record(_ result: ProbeResult, at now: MonotonicInstant) -> Transition? {
        lastResult = result
        lastCheck = now
        guard result.counted else { return nil }
        if let agent = result.agent {
            if let p = agent.weightPercent { agentPercent = p }
            switch agent.availability {
            case .drain: drained = true
            case .up: drained = false
            case .down, .maint, nil: break
            }
        }
        let old = status
        if result.passed {
            consecutiveSuccesses += 1
            consecutiveFailures = 0
            switch status {
            case .unknown: status = .up
            case .down where consecutiveSuccesses >= rise:
                status = .up
                rampStart = now
            case .down, .up: break
            }
        } else {
            consecutiveFailures += 1
            consecutiveSuccesses = 0
            switch status {
            case .unknown: status = .down
            case .up where consecutiveFailures >= fall || result.forcesDown:
                status = .down
                rampStart = nil
            case .up, .down: break
            }
        }
        guard status != old else { return nil }
        since = now
        let reason: String
        switch (old, status) {
        case (.unknown, _): reason = "first check " + result.description
        case (_, .up): reason = "\(consecutiveSuccesses) consecutive successes (rise \(rise)); last " + result.description
        default:
            reason = result.forcesDown ? result.description
                : "\(consecutiveFailures) consecutive failures (fall \(fall)); last " + result.description
        }
        return Transition(old: old, new: status, reason: reason)
    }

    /// True unless the server is known down (unknown counts as up).
    public var isUp: Bool { status != .down }

    /// The weight the server should have now, given its configured weight; nil while down.
    /// Agent percentage first (rounded to nearest, at least 1 when the percentage and the weight
    /// are not 0; at most 65535), then drain (0), then the warm-up ramp.
    public func effectiveWeight(configured: Int, warmup: TimeSpan?, at now: MonotonicInstant) -> Int? {
        guard isUp else { return nil }
        if drained { return 0 }
        var weight = configured
        if let p = agentPercent {
            weight = p == 0 || configured == 0 ? 0 : min(65535, max(1, (configured * p + 50) / 100))
        }
        if let warmup, let rampStart {
            weight = WarmupRamp.weight(full: weight, elapsed: now.nanoseconds(since: rampStart), warmup: warmup)
        }
        return weight
    }

    /// The next instant at which `effectiveWeight` changes by itself (a warm-up step), if any.
    public func nextWeightChange(warmup: TimeSpan?, after now: MonotonicInstant) -> MonotonicInstant? {
        guard isUp, !drained, let warmup, let rampStart else { return nil }
        return WarmupRamp.nextStep(rampStart: rampStart, warmup: warmup, after: now)
    }
}

/// The warm-up ramp (HAProxy's slowstart): after a recovery the weight climbs from 10% to 100%
/// in ten equal steps over the warm-up time, so a cold server is not flooded and the IPVS table
/// is rewritten at most ten times per recovery.
public enum WarmupRamp {
    public static let steps: UInt64 = 10

    /// Weight `elapsed` nanoseconds into the ramp: `ceil(full × step / 10)`, step 1…10; at least 1
    /// when `full` is not 0.
    public static func weight(full: Int, elapsed: UInt64, warmup: TimeSpan) -> Int {
        let total = warmup.milliseconds * 1_000_000
        guard full > 0, total > 0, elapsed < total else { return full }
        let step = Int(min(steps, elapsed * steps / total + 1))
        return max(1, (full * step + Int(steps) - 1) / Int(steps))
    }

    /// The start of the next step after `now`; nil once the ramp is complete.
    public static func nextStep(rampStart: MonotonicInstant, warmup: TimeSpan, after now: MonotonicInstant) -> MonotonicInstant? {
        let total = warmup.milliseconds * 1_000_000
        let elapsed = now.nanoseconds(since: rampStart)
        guard total > 0, elapsed < total else { return nil }
        let nextStep = elapsed * steps / total + 1
        return MonotonicInstant(nanoseconds: rampStart.nanoseconds + (total * nextStep + steps - 1) / steps)
    }
}
