/// Where the daemon reads time, and the only place it does: the monotonic clock every decision
/// runs on (`MonotonicInstant`, CLOCK_MONOTONIC in the live clock), and the wall clock for what
/// people and peers read (role history, event times, drain generations, boot epochs; CLOCK_REALTIME,
/// nanoseconds since the Unix epoch). Pure code never reads one: it takes the time as an argument.
/// The live clock is `MonotonicClock` (TandemKernel); tests use `ManualClock` (TandemTesting).
public protocol TandemClock: Sendable {
    /// The monotonic time now.
    func now() -> MonotonicInstant
    /// The wall-clock time now, in nanoseconds since the Unix epoch.
    func wallNanoseconds() -> UInt64
}
