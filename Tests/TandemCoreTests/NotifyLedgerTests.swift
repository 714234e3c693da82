import Testing
@testable import TandemCore

/// `NotifyLedger`: what `tandemctl status` says of the notify commands.
@Suite struct NotifyLedgerTests {
    let t0 = MonotonicInstant(nanoseconds: 5_000_000_000)
    func at(_ ms: UInt64) -> MonotonicInstant { t0.adding(milliseconds: ms) }
    func iso(_ wall: UInt64) -> String { "wall\(wall)" }

    @Test func nothingQueuedMeansNoSection() {
        #expect(NotifyLedger().status(at: t0, iso8601: iso) == nil)
    }

    /// A command queued behind a running one, the running one failing, the next succeeding:
    /// the failure stays as `lastFailure`, `last` is the newest, the counts add up.
    @Test func aFailureIsKeptAfterALaterSuccess() throws {
        var ledger = NotifyLedger()
        ledger.queue()
        ledger.queue()
        ledger.start(.active, command: ["/usr/local/bin/up", "web"], at: at(0), wall: 100)
        var status = try #require(ledger.status(at: at(2500), iso8601: iso))
        #expect(status.running == .init(role: "active", command: "/usr/local/bin/up web", since: "wall100", forMs: 2500))
        #expect(status.queued == 1 && status.last == nil)
        ledger.finish(succeeded: false, outcome: "exited with status 3; output: no such unit", at: at(3000), wall: 200)
        ledger.start(.standby, command: ["/usr/local/bin/down"], at: at(3000), wall: 200)
        ledger.finish(succeeded: true, outcome: "exited with status 0", at: at(3010), wall: 210)
        status = try #require(ledger.status(at: at(4000), iso8601: iso))
        #expect(status.running == nil && status.queued == 0 && status.succeeded == 1 && status.failed == 1)
        #expect(status.last == .init(role: "standby", command: "/usr/local/bin/down", result: "succeeded",
                                     outcome: "exited with status 0", at: "wall210", durationMs: 10))
        #expect(status.lastFailure == .init(role: "active", command: "/usr/local/bin/up web", result: "failed",
                                            outcome: "exited with status 3; output: no such unit", at: "wall200", durationMs: 3000))
    }

    /// Text: a WARNING only while the newest command that ended failed; a running line only once
    /// a command has run for a second (a quick script is not news).
    @Test func textWarnsWhileTheNewestFailedAndShowsALongRun() {
        let failed = StatusReport.Notify.Ended(role: "active", command: "/bin/up", result: "failed", outcome: "exited with status 1",
                                               at: "2026-12-01T19:00:00Z", durationMs: 5)
        let ok = StatusReport.Notify.Ended(role: "standby", command: "/bin/down", result: "succeeded", outcome: "exited with status 0",
                                           at: "2026-12-01T19:01:00Z", durationMs: 5)
        var notify = StatusReport.Notify(running: nil, queued: 0, last: failed, lastFailure: failed, succeeded: 0, failed: 1)
        #expect(StatusReport.notifyLines(notify) == ["  WARNING: notify active failed at 2026-12-01T19:00:00Z: /bin/up exited with status 1"])
        notify.last = ok
        #expect(StatusReport.notifyLines(notify).isEmpty)
        notify.running = .init(role: "active", command: "/bin/up", since: "x", forMs: 999)
        #expect(StatusReport.notifyLines(notify).isEmpty)
        notify.running?.forMs = 12_000
        notify.queued = 2
        let lines = StatusReport.notifyLines(notify)
        #expect(lines.count == 1 && lines[0].hasPrefix("  notify active: /bin/up running for ") && lines[0].hasSuffix(", 2 more queued behind it"),
                "\(lines)")
    }
}
