import Testing
@testable import TandemCore

/// A settled active's periodic heartbeats sent by the heartbeat loop on its own
/// (`NodeState.steadyHeartbeats`, `NodeEvent.heartbeatsSent`) must do exactly what the timer
/// would have done: the same rounds at the same instants, the same logs and role changes at the
/// same instants, the same timer afterwards. Each story is run twice over one script of peer
/// heartbeats and silences, with the same lateness on every tick: once with every tick through
/// `.timer`, once as `HeartbeatLoop` runs it (steady ticks sent from the plan, the node told
/// what was sent before the next event or when the plan ends).
@Suite struct SteadyHeartbeatsTests {
    typealias H = NodeHarness

    /// What a run did: every effect but the timer's rescheduling, stamped in ms, the steady
    /// sends among them, and how many ticks went the steady way.
    struct Outcome {
        var effects: [String] = []
        var steadyTicks = 0
        var timer: MonotonicInstant?
        var role: Role = .starting
    }

    static func run(steady: Bool, script: [(UInt64, NodeEvent)], end: UInt64, lateness: [UInt64]) -> Outcome {
        var h = H()
        h.startActive()
        var outcome = Outcome()
        func collect(_ h: inout H, into outcome: inout Outcome) {
            for effect in h.takeEffects() {
                if case .scheduleTimer = effect { continue }
                outcome.effects.append("\(h.now.nanoseconds / 1_000_000) \(effect)")
            }
        }
        collect(&h, into: &outcome)
        var late = 0
        var index = 0
        var plan = steady ? h.state.steadyHeartbeats(at: h.now) : nil
        var last: MonotonicInstant?
        let finish = MonotonicInstant.milliseconds(end)
        // As `HeartbeatLoop.run` goes round: wake at the plan's wake-up or the node's timer (late
        // by the script's pattern) or at the next packet, whichever comes first.
        while outcome.effects.count < 10_000 {
            let eventAt = index < script.count ? MonotonicInstant.milliseconds(script[index].0) : finish
            let due = plan?.wakeUp ?? h.state.timerDeadline
            var wake = eventAt
            if let due {
                let tick = due.adding(milliseconds: lateness[late % lateness.count])
                late += 1
                if tick < wake { wake = tick }
            }
            guard wake < finish else { break }
            h.now = max(h.now, wake)
            let packet = index < script.count && eventAt <= wake
            if var p = plan {
                if !packet, p.isDue(at: h.now) {
                    outcome.effects.append("\(h.now.nanoseconds / 1_000_000) \(NodeEffect.send(p.outgoing))")
                    outcome.steadyTicks += 1
                    p.sent(at: h.now)
                    plan = p
                    last = h.now
                    continue
                }
                if let last { h.state.steadyHeartbeatsSent(lastAt: last, next: p.next) }
                plan = nil
                last = nil
            }
            // The usual way round: packets, then the timer when due.
            if packet {
                h.send(script[index].1)
                index += 1
            }
            if let due = h.state.timerDeadline, h.now >= due { h.send(.timer) }
            collect(&h, into: &outcome)
            plan = steady ? h.state.steadyHeartbeats(at: h.now) : nil
        }
        if let p = plan, let last { h.state.steadyHeartbeatsSent(lastAt: last, next: p.next) }
        collect(&h, into: &outcome)
        outcome.timer = h.state.timerDeadline
        outcome.role = h.state.election.role
        return outcome
    }

    /// A standby heard every 250 ms, then silent past its dead time (the peer-lost notice falls
    /// on the plan's end), then back; ticks on time, a little late, and later than an interval.
    @Test(arguments: [[UInt64(0)], [0, 0, 3, 0, 0, 17, 0, 130, 0, 1], [40, 99, 101, 0]])
    func theLoopsTicksDoWhatTheTimersWould(lateness: [UInt64]) {
        var script: [(UInt64, NodeEvent)] = []
        var sequence: UInt64 = 0
        for at in stride(from: UInt64(2_100), through: 3_600, by: 250) {
            sequence += 1
            script.append((at, H.peer(sequence, role: .standby, priority: 90)))
        }
        for at in stride(from: UInt64(5_000), through: 5_500, by: 250) {
            sequence += 1
            script.append((at, H.peer(sequence, role: .standby, priority: 90)))
        }
        let timer = Self.run(steady: false, script: script, end: 6_000, lateness: lateness)
        let loop = Self.run(steady: true, script: script, end: 6_000, lateness: lateness)
        #expect(loop.steadyTicks > 20, "the steady way was taken (\(loop.steadyTicks) ticks)")
        #expect(timer.steadyTicks == 0)
        if loop.effects != timer.effects {
            let at = zip(loop.effects, timer.effects).enumerated().first { $0.element.0 != $0.element.1 }?.offset
                ?? min(loop.effects.count, timer.effects.count)
            let mine = loop.effects.dropFirst(at).prefix(3).map { String($0.prefix(120)) }
            let theirs = timer.effects.dropFirst(at).prefix(3).map { String($0.prefix(120)) }
            Issue.record("first difference at effect \(at): loop \(mine) against the timer's \(theirs)")
        }
        #expect(loop.timer == timer.timer && loop.role == timer.role && loop.role == .active)
        #expect(timer.effects.contains { $0.contains("is no longer heard") || $0.contains("lost") },
                "the silence is noticed: \(timer.effects.filter { !$0.contains("send(") })")
    }

    /// Not steady while anything else of the node is due or in course: a request, a dual-active
    /// contest (a peer active too), a node not yet active.
    @Test func onlyASettledActiveWithNothingElseInCourseIsSteady() {
        var standby = H()
        standby.startStandby()
        #expect(standby.state.steadyHeartbeats(at: standby.now) == nil)

        var active = H()
        active.startActive()
        #expect(active.state.steadyHeartbeats(at: active.now) != nil)
        active.send(H.peer(1, role: .standby, priority: 90))
        #expect(active.state.steadyHeartbeats(at: active.now) != nil)
        active.send(.command(1, .failover(force: false)))
        #expect(active.state.steadyHeartbeats(at: active.now) == nil, "a handover is in course")

        var contested = H()
        contested.startActive()
        contested.send(H.peer(1, role: .active, priority: 90))
        #expect(contested.state.steadyHeartbeats(at: contested.now) == nil, "the peer is active too")
    }

    /// The election's rule for the next periodic heartbeat, which the loop's plan uses too.
    @Test func theNextHeartbeatKeepsTheScheduleUnlessATickMissedIt() {
        let interval = TimeSpan(milliseconds: 100)
        #expect(Election.periodicNext(due: .milliseconds(1_000), sentAt: .milliseconds(1_003), interval: interval) == .milliseconds(1_100))
        #expect(Election.periodicNext(due: .milliseconds(1_000), sentAt: .milliseconds(1_130), interval: interval) == .milliseconds(1_230))
    }
}
