import Glibc
import TandemCore

/// The monotonic clock (CLOCK_MONOTONIC), the election's time base.
public struct MonotonicClock: Sendable {
    public init() {}

    public func now() -> MonotonicInstant {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return MonotonicInstant(nanoseconds: UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec))
    }
}
