/// A point on a monotonic clock, in nanoseconds since an arbitrary origin (the daemon uses
/// `CLOCK_MONOTONIC`; tests start a manual clock at zero).
///
/// The election and the heartbeat verifier never read a clock: every event carries its instant,
/// so a test can run a 30 ms dead time in microseconds of real time.
public struct MonotonicInstant: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var nanoseconds: UInt64

    public init(nanoseconds: UInt64) { self.nanoseconds = nanoseconds }

    /// The instant `ms` milliseconds after the origin.
    public static func milliseconds(_ ms: UInt64) -> MonotonicInstant { MonotonicInstant(nanoseconds: ms * 1_000_000) }

    public static let zero = MonotonicInstant(nanoseconds: 0)

    public static func < (lhs: MonotonicInstant, rhs: MonotonicInstant) -> Bool { lhs.nanoseconds < rhs.nanoseconds }

    /// Nanoseconds from `earlier` to `self`; zero when `earlier` is not earlier.
    public func nanoseconds(since earlier: MonotonicInstant) -> UInt64 {
        nanoseconds >= earlier.nanoseconds ? nanoseconds - earlier.nanoseconds : 0
    }

    /// Whole milliseconds from `earlier` to `self` (rounded down).
    public func milliseconds(since earlier: MonotonicInstant) -> UInt64 { nanoseconds(since: earlier) / 1_000_000 }

    /// The instant `ms` milliseconds later, saturating at the end of time.
    public func adding(milliseconds ms: UInt64) -> MonotonicInstant {
        let (product, overflowMultiply) = ms.multipliedReportingOverflow(by: 1_000_000)
        let (sum, overflowAdd) = nanoseconds.addingReportingOverflow(product)
        return MonotonicInstant(nanoseconds: overflowMultiply || overflowAdd ? .max : sum)
    }

    /// Milliseconds with up to three decimals, e.g. `30.5ms`.
    public var description: String {
        let ms = nanoseconds / 1_000_000
        let micros = (nanoseconds % 1_000_000) / 1000
        if micros == 0 { return "\(ms)ms" }
        var fraction = String(micros)
        while fraction.count < 3 { fraction = "0" + fraction }
        while fraction.hasSuffix("0") { fraction.removeLast() }
        return "\(ms).\(fraction)ms"
    }
}
