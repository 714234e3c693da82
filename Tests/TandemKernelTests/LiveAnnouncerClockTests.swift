import Testing
import TandemCore
import TandemKernel
import TandemTesting

/// The live announcer's schedule is timed by its injected clock; dispatch only wakes it.
@Suite struct LiveAnnouncerClockTests {
    let vip = VirtualIP(prefix: IPPrefix("192.0.2.10/24")!, interface: "eth0")

    @Test func laterSendsAreDueOnTheInjectedClock() async throws {
        // Starts at the real monotonic time, so the queue's timers wait for their real deadlines.
        let clock = ManualClock(monotonic: MonotonicClock().now())
        let sender = RecordingAnnouncementSender()
        let announcer = LiveAnnouncer(sender: sender, clock: clock)
        // Sends at 0, 30, 150 and 180 ms: over in 180 ms of real time with the live clock.
        try announcer.begin([vip], settings: AnnounceSettings(repeatCount: 2, spacing: .milliseconds(30),
                                                               secondBurstDelay: .milliseconds(150)))
        #expect(sender.announced.count == 1)
        // An hour passes on the clock before the first timer fires: that timer sends one burst's
        // worth (2) of the 3 sends that fell due, never a storm, and the finite schedule is over.
        clock.advance(milliseconds: 3_600_000)
        for _ in 0..<500 where !announcer.announcing.isEmpty { try await Task.sleep(for: .milliseconds(10)) }
        #expect(announcer.announcing.isEmpty)
        #expect(sender.announced.count == 3)
        try await Task.sleep(for: .milliseconds(300))
        #expect(sender.announced.count == 3)
    }

    /// A send found overdue after a stall (the clock jumped 10 s: the process was stopped) waits
    /// for the node to catch up: a node that lost the VIPs meanwhile ends the campaign and the
    /// stale burst never leaves (trial 34); one that still holds them sends it after the grace.
    @Test func anOverdueBurstWaitsForTheNodeAndNeverLeavesIfTheVIPsWereLost() async throws {
        let settings = AnnounceSettings(repeatCount: 3, spacing: .milliseconds(20), secondBurstDelay: .milliseconds(150))
        for lost in [true, false] {
            let clock = ManualClock(monotonic: MonotonicClock().now())
            let sender = RecordingAnnouncementSender()
            let announcer = LiveAnnouncer(sender: sender, clock: clock, stallGraceMilliseconds: 500)
            try announcer.begin([vip], settings: settings)
            #expect(sender.announced.count == 1)
            clock.advance(milliseconds: 10_000)
            // The first timer (real +20 ms) finds its send 10 s overdue and looks again 500 ms later.
            try await Task.sleep(for: .milliseconds(150))
            #expect(sender.announced.count == 1, "nothing sent at the overdue timer")
            if lost { announcer.end([vip]) }
            for _ in 0..<300 where !lost && sender.announced.count < 4 { try await Task.sleep(for: .milliseconds(10)) }
            try await Task.sleep(for: .milliseconds(lost ? 900 : 100))
            #expect(sender.announced.count == (lost ? 1 : 4), "lost: \(lost), sent \(sender.announced.count)")
        }
    }
}
