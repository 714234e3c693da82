import Dispatch
import Synchronization
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
        // An hour passes on the clock before the first timer fires: that timer finds its send an
        // hour overdue (a stall) and sends nothing yet; it looks again 100 ms later on the same
        // clock (an hour away in real time here). The cap after a stall is tested below.
        clock.advance(milliseconds: 3_600_000)
        try await Task.sleep(for: .milliseconds(300))
        #expect(sender.announced.count == 1)
        #expect(!announcer.announcing.isEmpty)
    }

    /// A send found overdue after a stall (here the announcer's queue is held by another VIP's
    /// send until `vip`'s is 400 ms overdue, on the live clock) waits for the node to catch up: a
    /// node that lost the VIPs meanwhile ends the campaign and the stale send never leaves (trial
    /// 34: a router resumed after SIGSTOP sent three stale GARPs); one that still holds them sends
    /// one burst's worth after the grace.
    @Test func anOverdueSendWaitsForTheNodeAndNeverLeavesIfTheVIPsWereLost() async throws {
        let other = VirtualIP(prefix: IPPrefix("192.0.2.20/24")!, interface: "eth0")
        for lost in [true, false] {
            let sender = StallingSender(stalling: other)
            let announcer = LiveAnnouncer(sender: sender, clock: MonotonicClock(), stallGraceMilliseconds: 2000)
            try announcer.begin([other], settings: AnnounceSettings(repeatCount: 2, spacing: .milliseconds(20)))
            for _ in 0..<500 where !sender.isHolding { try await Task.sleep(for: .milliseconds(5)) }
            #expect(sender.isHolding, "the other VIP's second send holds the queue")
            // Sends at 0, 100, 400 and 500 ms; the queue is held past all of them.
            try announcer.begin([vip], settings: AnnounceSettings(repeatCount: 2, spacing: .milliseconds(100),
                                                                  secondBurstDelay: .milliseconds(400)))
            #expect(sender.count(of: vip) == 1)
            try await Task.sleep(for: .milliseconds(900))
            sender.release()
            try await Task.sleep(for: .milliseconds(300))
            #expect(sender.count(of: vip) == 1, "nothing sent at the overdue timer (lost: \(lost))")
            if lost {
                announcer.end([vip])
                try await Task.sleep(for: .milliseconds(2500))
            } else {
                for _ in 0..<500 where sender.count(of: vip) < 3 { try await Task.sleep(for: .milliseconds(10)) }
                try await Task.sleep(for: .milliseconds(200))
            }
            #expect(sender.count(of: vip) == (lost ? 1 : 3), "lost: \(lost), sent \(sender.count(of: vip))")
        }
    }
}

/// Records sends; the second send of `stalling` holds its thread (the announcer's queue) until `release()`.
final class StallingSender: AnnouncementSender {
    private let sent = Mutex<[VirtualIP]>([])
    private let gate = DispatchSemaphore(value: 0)
    private let holding = Mutex(false)
    let stalling: VirtualIP

    init(stalling: VirtualIP) { self.stalling = stalling }

    func announce(_ vip: VirtualIP, arpMode: AnnounceSettings.ARPMode) throws {
        let n = sent.withLock { $0.append(vip); return $0.filter { $0 == vip }.count }
        if vip == stalling, n == 2 {
            holding.withLock { $0 = true }
            gate.wait()
        }
    }

    var isHolding: Bool { holding.withLock { $0 } }
    func release() { gate.signal() }
    func count(of vip: VirtualIP) -> Int { sent.withLock { $0.filter { $0 == vip }.count } }
}
