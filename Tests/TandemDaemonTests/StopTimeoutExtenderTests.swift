import Testing
import TandemCore
@testable import TandemDaemon

/// What a stopping tandemd tells systemd while it waits for its notify commands (trial 34: a stop
/// took 62 s against the unit's TimeoutStopSec=30s and was SIGKILLed).
@Suite struct StopTimeoutExtenderTests {
    let t0 = MonotonicInstant(nanoseconds: 9_000_000_000)
    func at(_ ms: UInt64) -> MonotonicInstant { t0.adding(milliseconds: ms) }

    /// The first message at once, then one every 2 s, each asking for the worst case plus 5 s;
    /// nothing when nothing is outstanding.
    @Test func extendsAtOnceThenEveryPeriod() {
        var extender = StopTimeoutExtender()
        #expect(extender.tick(now: at(0), outstanding: nil) == nil)
        let both = NotifyLedger.Outstanding(running: .active, waiting: .stopping, worstCaseMs: 56_500)
        #expect(extender.tick(now: at(0), outstanding: both) == .extendTimeout(
            microseconds: 61_500_000,
            status: "stopping: waiting for the notify commands active (running) and stop (waiting), at most 57s more"))
        #expect(extender.tick(now: at(1999), outstanding: both) == nil)
        let stop = NotifyLedger.Outstanding(running: .stopping, waiting: nil, worstCaseMs: 30_001)
        #expect(extender.tick(now: at(2000), outstanding: stop) == .extendTimeout(
            microseconds: 35_001_000, status: "stopping: waiting for the notify command stop (running), at most 31s more"))
        #expect(extender.tick(now: at(3000), outstanding: stop) == nil)
        #expect(extender.tick(now: at(4100), outstanding: nil) == nil)
    }

    /// The rule systemd sets: each message must come before the previous extension runs out, even
    /// when the worst case is 0 (a command being killed): the extension is always more than the period.
    @Test func theNextMessageComesBeforeTheExtensionRunsOut() {
        var extender = StopTimeoutExtender()
        var lastSent: (at: UInt64, until: UInt64)?
        for ms in stride(from: UInt64(0), through: 70_000, by: 200) {
            let worst = ms < 62_000 ? 62_000 - ms : 0
            guard case .extendTimeout(let usec, _)? = extender.tick(now: at(ms), outstanding: .init(running: .stopping, waiting: nil, worstCaseMs: worst)) else {
                continue
            }
            if let lastSent { #expect(ms <= lastSent.until, "sent at \(ms) ms, after the extension ran out at \(lastSent.until) ms") }
            #expect(ms + usec / 1000 >= 62_000, "an extension ends before the worst case")
            lastSent = (ms, ms + usec / 1000)
        }
        #expect(lastSent != nil)
    }

    @Test func datagram() {
        #expect(ServiceManagerMessage.extendTimeout(microseconds: 61_500_000, status: "stopping: x").datagram
                == "EXTEND_TIMEOUT_USEC=61500000\nSTATUS=stopping: x")
    }
}
