/// Decides when health changes are handed to the IPVS reconcile, so a burst of changes (thousands
/// of first results after a start, a switch failing a whole rack) costs a few reconciles instead
/// of one per change.
///
/// Rule: at most one delivery per `spacing`. A change after a quiet spell is delivered at once
/// (no added latency for the common single failure); a change within `spacing` of the last
/// delivery arms one timer for the end of the spacing, and every further change until then rides
/// on it. A delivery never carries state of its own: the driver reads the health state when it
/// delivers, so the reconcile always sees the latest state and nothing is lost by coalescing.
///
/// Time is an argument; the driver owns the timer.
public struct HealthDeliveryPacer: Sendable, Hashable {
    /// What the driver does next.
    public enum Action: Sendable, Hashable {
        /// Read the health state now and hand it to the reconcile.
        case deliver
        /// Arm a timer for this instant, then call `timerFired(at:)`.
        case scheduleDelivery(at: MonotonicInstant)
        /// Nothing: a timer already armed covers this change.
        case wait
    }

    /// Shortest time between two deliveries, in milliseconds.
    public let spacingMilliseconds: UInt64
    /// When the last delivery happened.
    public private(set) var lastDelivery: MonotonicInstant?
    /// Whether a timer is armed.
    public private(set) var timerArmed = false

    public init(spacingMilliseconds: UInt64 = 100) {
        self.spacingMilliseconds = spacingMilliseconds
    }

    /// Health (or the target set) changed at `now`.
    public mutating func changed(at now: MonotonicInstant) -> Action {
        if timerArmed { return .wait }
        if let last = lastDelivery {
            let due = last.adding(milliseconds: spacingMilliseconds)
            if now < due {
                timerArmed = true
                return .scheduleDelivery(at: due)
            }
        }
        lastDelivery = now
        return .deliver
    }

    /// The armed timer fired at `now`.
    public mutating func timerFired(at now: MonotonicInstant) -> Action {
        guard timerArmed else { return .wait }
        timerArmed = false
        lastDelivery = now
        return .deliver
    }
}
