import Dispatch
import Synchronization
import TandemCore

/// The live `Announcer`: executes each claimed VIP's `AnnounceSchedule` on a serial dispatch queue.
///
/// The sends due at the claim (offset 0) are made on the caller's thread inside `begin`, so the
/// first announcement leaves within microseconds of the claim; later sends are timed from the
/// moment `begin` was called, on `clock`'s monotonic time (CLOCK_MONOTONIC, as dispatch's
/// uptime deadlines are on Linux: the queue's timers are set from the clock's readings). A timer that fires late sends what fell
/// due meanwhile (at most one burst's worth, never a storm after a long stall). A timer that
/// finds its send overdue by more than `stallMilliseconds` (the process was stopped or starved)
/// sends nothing at once: it looks again `stallGraceMilliseconds` later (100 by default), so that the heartbeat
/// thread, woken by the same stall, first reads the peer's queued heartbeats; a node that lost
/// the VIPs meanwhile has ended the campaign and its overdue burst never leaves (trial 34: a
/// router resumed after SIGSTOP sent three stale GARPs after its peer had taken over). Each
/// `begin` or `end` bumps the VIP's generation, which silently cancels timers already queued.
public final class LiveAnnouncer: Announcer {
    private struct Campaign {
        var generation: UInt64
        var startNanoseconds: UInt64
        var schedule: AnnounceSchedule
        var arpMode: AnnounceSettings.ARPMode
        /// Sends with offsets before this (milliseconds) are done.
        var cursor: UInt64
    }

    /// A send overdue by more than this (ms) was held up by a stall, not by scheduling jitter.
    static let stallMilliseconds: UInt64 = 100
    /// How long an overdue send waits for the node to catch up before it goes out (ms).
    private let stallGraceMilliseconds: Int

    private let sender: any AnnouncementSender
    private let queue = DispatchQueue(label: "tandem.announce")
    private let campaigns = Mutex<(generation: UInt64, byVIP: [VirtualIP: Campaign])>((0, [:]))
    private let onError: @Sendable (VirtualIP, any Error) -> Void
    private let clock: any TandemClock

    /// - Parameters:
    ///   - sender: sends one message.
    ///   - clock: times the schedule.
    ///   - onError: told about each failed scheduled send.
    ///   - stallGraceMilliseconds: how long a send found overdue after a stall waits before it goes out (ms).
    public init(sender: any AnnouncementSender, clock: any TandemClock = MonotonicClock(), stallGraceMilliseconds: Int = 100,
                onError: @escaping @Sendable (VirtualIP, any Error) -> Void = { _, _ in }) {
        self.stallGraceMilliseconds = stallGraceMilliseconds
        self.sender = sender
        self.clock = clock
        self.onError = onError
    }

    public func begin(_ vips: [VirtualIP], settings: AnnounceSettings) throws {
        let start = clock.now().nanoseconds
        let schedule = AnnounceSchedule(settings)
        let immediate = schedule.sends(from: .milliseconds(0), until: .milliseconds(1))
        // First message of every VIP before the second of any: the last VIP is not kept waiting.
        var firstError: (any Error)?
        for _ in immediate {
            for vip in vips {
                do {
                    try sender.announce(vip, arpMode: settings.arpMode)
                } catch {
                    if firstError == nil { firstError = error }
                }
            }
        }
        let generations = campaigns.withLock { state in
            vips.map { vip -> UInt64 in
                state.generation += 1
                state.byVIP[vip] = Campaign(generation: state.generation, startNanoseconds: start, schedule: schedule,
                                            arpMode: settings.arpMode, cursor: 1)
                return state.generation
            }
        }
        for (vip, generation) in zip(vips, generations) { scheduleNext(vip, generation: generation) }
        if let firstError { throw firstError }
    }

    public func end(_ vips: [VirtualIP]) {
        campaigns.withLock { state in for vip in vips { state.byVIP[vip] = nil } }
    }

    public func endAll() {
        campaigns.withLock { $0.byVIP.removeAll() }
    }

    /// VIPs whose schedule has not ended.
    public var announcing: Set<VirtualIP> {
        campaigns.withLock { Set($0.byVIP.keys) }
    }

    private func scheduleNext(_ vip: VirtualIP, generation: UInt64) {
        let next: UInt64? = campaigns.withLock { state in
            guard let c = state.byVIP[vip], c.generation == generation else { return nil }
            guard let send = c.schedule.next(atOrAfter: .milliseconds(c.cursor)) else {
                state.byVIP[vip] = nil
                return nil
            }
            return c.startNanoseconds + send.offset.milliseconds * 1_000_000
        }
        guard let next else { return }
        queue.asyncAfter(deadline: DispatchTime(uptimeNanoseconds: next)) { [self] in
            fire(vip, generation: generation)
        }
    }

    private func fire(_ vip: VirtualIP, generation: UInt64, afterStall: Bool = false) {
        let now = clock.now().nanoseconds
        var stalled = false
        let due: (sends: [AnnounceSchedule.Send], mode: AnnounceSettings.ARPMode)? = campaigns.withLock { state in
            guard var c = state.byVIP[vip], c.generation == generation else { return nil }
            if !afterStall, let send = c.schedule.next(atOrAfter: .milliseconds(c.cursor)) {
                let dueAt = c.startNanoseconds + send.offset.milliseconds * 1_000_000
                if now > dueAt, (now - dueAt) / 1_000_000 > Self.stallMilliseconds {
                    stalled = true
                    return nil
                }
            }
            let elapsed = (now &- c.startNanoseconds) / 1_000_000 + 1
            var sends = c.schedule.sends(from: .milliseconds(c.cursor), until: .milliseconds(elapsed))
            let cap = max(c.schedule.repeatCount, c.schedule.refreshRepeat, 1)
            if sends.count > cap { sends = Array(sends.suffix(cap)) }
            c.cursor = max(c.cursor, elapsed)
            state.byVIP[vip] = c
            return (sends, c.arpMode)
        }
        if stalled {
            let later = now + UInt64(stallGraceMilliseconds) * 1_000_000
            queue.asyncAfter(deadline: DispatchTime(uptimeNanoseconds: later)) { [self] in
                fire(vip, generation: generation, afterStall: true)
            }
            return
        }
        guard let due else { return }
        for _ in due.sends {
            do {
                try sender.announce(vip, arpMode: due.mode)
            } catch {
                onError(vip, error)
            }
        }
        scheduleNext(vip, generation: generation)
    }
}
