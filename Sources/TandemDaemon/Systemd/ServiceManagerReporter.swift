import Synchronization
import TandemCore
import TandemKernel

/// What tandemd tells systemd, decided from role changes, reloads and the stop: `READY=1` once
/// the first election has settled (a role other than starting), `STATUS=` with the role, the peer
/// and the reason on every change, `RELOADING=1` … `READY=1` around a reload, `STOPPING=1` when
/// the stop begins. Thread-safe: the heartbeat thread reports roles, the control queue reloads.
public final class ServiceManagerReporter: Sendable {
    private let notifier: any ServiceManagerNotifying
    private let peer: String
    private let state = Mutex<(ready: Bool, status: String)>((false, "starting: listening for the peer"))
    private let clock: @Sendable () -> UInt64

    /// `monotonicMicroseconds` is `CLOCK_MONOTONIC` in µs, for `MONOTONIC_USEC=`.
    public init(notifier: any ServiceManagerNotifying, peer: String,
                monotonicMicroseconds: @escaping @Sendable () -> UInt64 = ServiceManagerReporter.monotonicMicroseconds(MonotonicClock())) {
        self.notifier = notifier
        self.peer = peer
        self.clock = monotonicMicroseconds
    }

    /// The status line systemd shows: `active: lvs-b silent for 401ms on all paths (peer lvs-b)`.
    public static func statusLine(role: Role, reason: String, peer: String) -> String {
        "\(role): \(reason) (peer \(peer))"
    }

    /// The message a role change sends: nil while starting; `ready` for the first settled role;
    /// `stopping` for the stop; `status` otherwise.
    public static func message(role: Role, reason: String, peer: String, readySent: Bool) -> ServiceManagerMessage? {
        let line = statusLine(role: role, reason: reason, peer: peer)
        switch role {
        case .starting: return nil
        case .stopping: return .stopping(status: line)
        default: return readySent ? .status(line) : .ready(status: line)
        }
    }

    public func roleChanged(to role: Role, reason: String) {
        let message: ServiceManagerMessage? = state.withLock { s in
            let m = ServiceManagerReporter.message(role: role, reason: reason, peer: peer, readySent: s.ready)
            if case .ready = m { s.ready = true }
            if m != nil { s.status = ServiceManagerReporter.statusLine(role: role, reason: reason, peer: peer) }
            return m
        }
        if let message { notifier.send(message) }
    }

    /// A reload began. `reloaded()` must follow, whatever its outcome.
    public func reloading() { notifier.send(.reloading(monotonicMicroseconds: clock())) }

    /// A reload ended: `READY=1` with the current status (only once start-up has reported ready;
    /// before that, the first settled role sends it).
    public func reloaded() {
        let (ready, status) = state.withLock { ($0.ready, $0.status) }
        if ready { notifier.send(.ready(status: status)) }
    }

    /// The stop began (SIGTERM, systemctl stop): sent at once, before the handover.
    public func stopping() {
        notifier.send(.stopping(status: "stopping: handing the VIPs over to \(peer) if active"))
    }

    /// CLOCK_MONOTONIC in µs, read through `clock`.
    public static func monotonicMicroseconds(_ clock: any TandemClock) -> @Sendable () -> UInt64 {
        { clock.now().nanoseconds / 1000 }
    }
}

/// Sends `WATCHDOG=1` from the heartbeat thread's loop every `interval` (half of `WatchdogSec=`),
/// so that a wedged heartbeat loop, not just a dead process, gets tandemd restarted. Used by
/// that one thread only; `tick` allocates nothing.
public struct WatchdogPinger {
    private let notifier: any ServiceManagerNotifying
    private let interval: UInt64
    private var next: UInt64 = 0

    /// Nil when the watchdog is off.
    public init?(notifier: any ServiceManagerNotifying) {
        guard let interval = notifier.watchdogInterval else { return nil }
        self.notifier = notifier
        self.interval = interval.milliseconds * 1_000_000
    }

    /// Pings when `now` (monotonic ns) has reached the next ping time.
    public mutating func tick(now: UInt64) {
        guard now >= next else { return }
        notifier.send(.watchdog)
        next = now + interval
    }

    /// Nanoseconds until the next ping, so the loop never sleeps past it.
    public func nanosecondsUntilNext(now: UInt64) -> UInt64 { next > now ? next - now : 0 }
}
