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

    func pending(_ role: Role, _ command: [String]) -> NotifyLedger.Pending {
        .init(role: role, command: command, environment: ["TANDEM_ROLE": role.description], timeout: .seconds(10))
    }

    /// Commands run one at a time; of those waiting only the newest role change's is kept (a
    /// standby command behind a slow active one is stale once the node is active again). A
    /// failure stays as `lastFailure` after a later success; the counts add up.
    @Test func onlyTheNewestWaitsAndAFailureIsKept() throws {
        var ledger = NotifyLedger()
        #expect(ledger.queue(pending(.active, ["/usr/local/bin/up", "web"])) == nil)
        let first = ledger.startNext(at: at(0), wall: 100)
        let none = ledger.startNext(at: at(1), wall: 101)
        #expect(first?.role == .active && none == nil)
        #expect(ledger.queue(pending(.standby, ["/usr/local/bin/down"])) == nil)
        #expect(ledger.queue(pending(.fault, ["/usr/local/bin/down"]))?.role == .standby)
        #expect(ledger.queue(pending(.standby, ["/usr/local/bin/down"]))?.role == .fault)
        var status = try #require(ledger.status(at: at(2500), iso8601: iso))
        #expect(status.running == .init(role: "active", command: "/usr/local/bin/up web", since: "wall100", forMs: 2500))
        #expect(status.queued == 1 && status.waiting == "standby" && status.skipped == 2 && status.last == nil)
        ledger.finish(succeeded: false, outcome: "exited with status 3; output: no such unit", at: at(3000), wall: 200)
        let next = ledger.startNext(at: at(3000), wall: 200)
        #expect(next?.role == .standby && next?.environment["TANDEM_ROLE"] == "standby" && next?.timeout == .seconds(10))
        ledger.finish(succeeded: true, outcome: "exited with status 0", at: at(3010), wall: 210)
        let after = ledger.startNext(at: at(3010), wall: 210)
        #expect(after == nil)
        status = try #require(ledger.status(at: at(4000), iso8601: iso))
        #expect(status.running == nil && status.queued == 0 && status.waiting == nil)
        #expect(status.succeeded == 1 && status.failed == 1 && status.skipped == 2)
        #expect(status.last == .init(role: "standby", command: "/usr/local/bin/down", result: "succeeded",
                                     outcome: "exited with status 0", at: "wall210", durationMs: 10))
        #expect(status.lastFailure == .init(role: "active", command: "/usr/local/bin/up web", result: "failed",
                                            outcome: "exited with status 3; output: no such unit", at: "wall200", durationMs: 3000))
    }

    /// What a stop waits for (trial 34: a running `active` command, then `stop`): what is left of
    /// the running command's timeout and grace, plus the waiting one's whole timeout and grace.
    @Test func outstandingAtStopIsTheWorstCaseOfBoth() {
        var ledger = NotifyLedger()
        let grace = TimeSpan.seconds(1)
        #expect(ledger.outstanding(at: t0, grace: grace) == nil)
        _ = ledger.queue(pending(.active, ["/bin/up"]))
        #expect(ledger.outstanding(at: t0, grace: grace) == .init(running: nil, waiting: .active, worstCaseMs: 11_000))
        _ = ledger.startNext(at: at(0), wall: 1)
        _ = ledger.queue(pending(.stopping, ["/bin/stop"]))
        #expect(ledger.outstanding(at: at(500), grace: grace) == .init(running: .active, waiting: .stopping, worstCaseMs: 10_500 + 11_000))
        // Past its timeout and grace, the running one adds nothing (it is being killed).
        #expect(ledger.outstanding(at: at(60_000), grace: grace) == .init(running: .active, waiting: .stopping, worstCaseMs: 11_000))
        ledger.finish(succeeded: true, outcome: "exited with status 0", at: at(2000), wall: 2)
        _ = ledger.startNext(at: at(2000), wall: 2)
        #expect(ledger.outstanding(at: at(5000), grace: grace) == .init(running: .stopping, waiting: nil, worstCaseMs: 8000))
        ledger.finish(succeeded: true, outcome: "exited with status 0", at: at(6000), wall: 3)
        #expect(ledger.outstanding(at: at(6000), grace: grace) == nil)
    }

    /// A role change whose role has no command supersedes the waiting one all the same: it is
    /// stale (an `active` command must not run on a node that went on to maintenance).
    @Test func aRoleWithoutACommandSupersedesTheWaitingOne() {
        var ledger = NotifyLedger()
        _ = ledger.queue(pending(.maintenance, ["/bin/m"]))
        _ = ledger.startNext(at: at(0), wall: 1)
        _ = ledger.queue(pending(.active, ["/bin/up"]))
        #expect(ledger.queue(nil)?.role == .active)
        #expect(ledger.queue(nil) == nil)
        ledger.finish(succeeded: true, outcome: "exited with status 0", at: at(5), wall: 2)
        let next = ledger.startNext(at: at(5), wall: 2)
        #expect(next == nil && ledger.skippedCount == 1)
    }

    /// The log said `notify stopping:` while the config key is `notify.stop`, so a grep for
    /// "notify stop" missed it (trial 35): log and status lines name each command by its key
    /// under `notify:`; the JSON keeps the role.
    @Test func commandsAreNamedByTheirConfigKey() {
        #expect(Role.allCases.map(\.notifyKey) == ["starting", "standby", "active", "fault", "maintenance", "stop"])
        let failed = StatusReport.Notify.Ended(role: "stopping", command: "/bin/stop", result: "failed", outcome: "exited with status 1",
                                               at: "2026-12-01T19:00:00Z", durationMs: 5)
        let notify = StatusReport.Notify(running: .init(role: "stopping", command: "/bin/stop", since: "x", forMs: 2000), queued: 0,
                                         waiting: nil, last: failed, lastFailure: failed, succeeded: 0, failed: 1, skipped: 0)
        let lines = StatusReport.notifyLines(notify)
        #expect(lines.count == 2 && lines[0].hasPrefix("  notify stop: /bin/stop running for ")
                && lines[1] == "  WARNING: notify stop failed at 2026-12-01T19:00:00Z: /bin/stop exited with status 1", "\(lines)")
    }

    /// Text: a WARNING only while the newest command that ended failed; a running line only once
    /// a command has run for a second (a quick script is not news).
    @Test func textWarnsWhileTheNewestFailedAndShowsALongRun() {
        let failed = StatusReport.Notify.Ended(role: "active", command: "/bin/up", result: "failed", outcome: "exited with status 1",
                                               at: "2026-12-01T19:00:00Z", durationMs: 5)
        let ok = StatusReport.Notify.Ended(role: "standby", command: "/bin/down", result: "succeeded", outcome: "exited with status 0",
                                           at: "2026-12-01T19:01:00Z", durationMs: 5)
        var notify = StatusReport.Notify(running: nil, queued: 0, waiting: nil, last: failed, lastFailure: failed, succeeded: 0, failed: 1, skipped: 0)
        #expect(StatusReport.notifyLines(notify) == ["  WARNING: notify active failed at 2026-12-01T19:00:00Z: /bin/up exited with status 1"])
        notify.last = ok
        #expect(StatusReport.notifyLines(notify).isEmpty)
        notify.running = .init(role: "active", command: "/bin/up", since: "x", forMs: 999)
        #expect(StatusReport.notifyLines(notify).isEmpty)
        notify.running?.forMs = 12_000
        notify.queued = 1
        notify.waiting = "standby"
        let lines = StatusReport.notifyLines(notify)
        #expect(lines.count == 1 && lines[0].hasPrefix("  notify active: /bin/up running for ") && lines[0].hasSuffix("; the standby command waits behind it"),
                "\(lines)")
    }
}
