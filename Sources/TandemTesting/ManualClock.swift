import Synchronization
import TandemCore

/// A `TandemClock` for tests: both clocks stand still until the test moves them.
public final class ManualClock: TandemClock {
    private let state: Mutex<(monotonic: MonotonicInstant, wall: UInt64)>

    public init(monotonic: MonotonicInstant = .milliseconds(1000), wallNanoseconds: UInt64 = 1_764_460_800_000_000_000) {
        state = Mutex((monotonic, wallNanoseconds))
    }

    public func now() -> MonotonicInstant { state.withLock { $0.monotonic } }
    public func wallNanoseconds() -> UInt64 { state.withLock { $0.wall } }

    /// Moves both clocks forward by `milliseconds`.
    public func advance(milliseconds: UInt64) {
        state.withLock {
            $0.monotonic = $0.monotonic.adding(milliseconds: milliseconds)
            $0.wall += milliseconds * 1_000_000
        }
    }

    /// Steps the wall clock alone (an NTP step, an operator's `date -s`); the monotonic clock does not move.
    public func stepWallClock(to nanoseconds: UInt64) { state.withLock { $0.wall = nanoseconds } }
}
