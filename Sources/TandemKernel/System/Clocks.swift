import Glibc
import TandemCore

/// The live `TandemClock`: CLOCK_MONOTONIC (the election's time base) and CLOCK_REALTIME.
public struct MonotonicClock: TandemClock {
    public init() {}

    public func now() -> MonotonicInstant {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return MonotonicInstant(nanoseconds: UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec))
    }

    public func wallNanoseconds() -> UInt64 { realtimeNanoseconds() }
}

/// Nanoseconds since the Unix epoch (CLOCK_REALTIME): boot epochs, event times, and `tandemctl vip`
/// timestamps (comparable with tcpdump's and Python's `time.time_ns()`).
public func realtimeNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}
