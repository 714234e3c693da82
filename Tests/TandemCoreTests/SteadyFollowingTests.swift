import Testing
@testable import TandemCore

/// A settled standby's routine heartbeats kept by the heartbeat loop (`NodeState.steadyFollowing`,
/// `Election.SteadyFollowing.keeps`) and only the newest handed to the node, at the instant it
/// arrived, must do exactly what handing the node each one would have done: the same effects at
/// the same instants (the standby's answers, the takeover when the active falls silent, the role
/// changes), the same timer and role afterwards. Each story runs twice over one script of the
/// active's packets and silences, with the same lateness for every wake-up due at the same
/// instant: once with every packet given to the node, once as `HeartbeatLoop` runs it.
@Suite struct SteadyFollowingTests {
    typealias H = NodeHarness

    struct Outcome {
        var effects: [String] = []
        var kept = 0
        var timer: MonotonicInstant?
        var role: Role = .starting
    }

    static func heartbeat(_ sequence: UInt64, role: Role = .active, priority: UInt8 = 100, kind: HeartbeatMessage.Kind = .heartbeat,
                          epoch: UInt64 = 7, serial: UInt64 = 0) -> HeartbeatMessage {
        HeartbeatMessage(kind: kind, sender: "b", bootEpoch: epoch, sequence: sequence, role: role, priority: priority,
                         configSerial: serial, configDigest: .zero, pathIndex: 0, intervalMilliseconds: 100)
    }

    static func run(keeping: Bool, script: [(UInt64, HeartbeatMessage)], end: UInt64, lateness: [UInt64],
                    settings: Election.Settings = H.settings) -> Outcome {
        var h = H(settings: settings)
        h.startStandby()
        var outcome = Outcome()
        func collect(_ h: inout H, into outcome: inout Outcome) {
            for effect in h.takeEffects() {
                if case .scheduleTimer = effect { continue }
                outcome.effects.append("\(h.now.nanoseconds / 1_000_000) \(effect)")
            }
        }
        collect(&h, into: &outcome)
        var index = 0
        var plan = keeping ? h.state.steadyFollowing(at: h.now) : nil
        var kept: (message: HeartbeatMessage, at: MonotonicInstant)?
        let finish = MonotonicInstant.milliseconds(end)
        // As `HeartbeatLoop.run` goes round: wake at the plan's wake-up or the node's timer (late
        // by the script's pattern, the same for the same instant) or at the next packet.
        while outcome.effects.count < 10_000 {
            let packetAt = index < script.count ? MonotonicInstant.milliseconds(script[index].0) : finish
            var wake = packetAt
            if let due = plan?.wakeUp ?? h.state.timerDeadline {
                let tick = due.adding(milliseconds: lateness[Int(due.nanoseconds / 1_000_000 % 7) % lateness.count])
                if tick < wake { wake = tick }
            }
            guard wake < finish else { break }
            h.now = max(h.now, wake)
            let packet = index < script.count && packetAt <= wake
            if plan != nil {
                if packet, plan!.keeps(script[index].1, at: h.now) {
                    kept = (script[index].1, h.now)
                    outcome.kept += 1
                    index += 1
                    continue
                }
                if !packet, h.now < plan!.wakeUp { continue }
                // Anything else: the node hears the newest kept packet first, when it arrived.
                if let last = kept {
                    let now = h.now
                    h.now = last.at
                    h.send(.heartbeat(last.message, waitedNanoseconds: 0, withdrawn: false))
                    h.now = now
                    kept = nil
                }
                plan = nil
            }
            // The usual way round: packets, then the timer when due.
            if packet {
                h.send(.heartbeat(script[index].1, waitedNanoseconds: 0, withdrawn: false))
                index += 1
            }
            if let due = h.state.timerDeadline, h.now >= due { h.send(.timer) }
            collect(&h, into: &outcome)
            plan = keeping ? h.state.steadyFollowing(at: h.now) : nil
        }
        if let last = kept {
            h.now = last.at
            h.send(.heartbeat(last.message, waitedNanoseconds: 0, withdrawn: false))
        }
        collect(&h, into: &outcome)
        outcome.timer = h.state.timerDeadline
        outcome.role = h.state.election.role
        return outcome
    }

    static func compare(_ loop: Outcome, _ each: Outcome) {
        if loop.effects != each.effects {
            let at = zip(loop.effects, each.effects).enumerated().first { $0.element.0 != $0.element.1 }?.offset
                ?? min(loop.effects.count, each.effects.count)
            let mine = loop.effects.dropFirst(at).prefix(3).map { String($0.prefix(140)) }
            let theirs = each.effects.dropFirst(at).prefix(3).map { String($0.prefix(140)) }
            Issue.record("first difference at effect \(at): keeping \(mine) against each packet's \(theirs)")
        }
        #expect(loop.timer == each.timer && loop.role == each.role)
    }

    /// The active heard every interval, then a priority change, then silent past the dead time
    /// (this standby takes over), then back as standby; packets on time and wake-ups a little
    /// or much later than due.
    @Test(arguments: [[UInt64(0)], [0, 0, 3, 0, 17, 0, 1], [40, 99, 101, 0]])
    func keepingTheNewestDoesWhatHearingEachWould(lateness: [UInt64]) {
        var script: [(UInt64, HeartbeatMessage)] = []
        var sequence: UInt64 = 1
        for at in stride(from: UInt64(1_100), through: 2_500, by: 100) {
            sequence += 1
            script.append((at + sequence % 3, Self.heartbeat(sequence)))
        }
        for at in stride(from: UInt64(2_600), through: 3_400, by: 100) {
            sequence += 1
            script.append((at, Self.heartbeat(sequence, priority: 110)))
        }
        // Silent from 3,400 to 4,200: the dead time (300 ms) runs out at 3,700.
        for at in stride(from: UInt64(4_200), through: 4_800, by: 100) {
            sequence += 1
            script.append((at, Self.heartbeat(sequence, role: .standby, priority: 90)))
        }
        let each = Self.run(keeping: false, script: script, end: 5_000, lateness: lateness)
        let loop = Self.run(keeping: true, script: script, end: 5_000, lateness: lateness)
        #expect(loop.kept > 15, "packets were kept (\(loop.kept))")
        #expect(each.kept == 0)
        Self.compare(loop, each)
        #expect(each.effects.contains { $0.contains("silent for") }, "the silence is noticed: \(each.effects.filter { !$0.contains("send(") })")
        #expect(each.role == .active)
    }

    /// A restart of the active (a new life), a takeover request and a config the peer changed
    /// in the middle of routine packets: each goes to the node, in order, after the newest kept.
    @Test func aPacketThatIsNotRoutineEndsTheKeepingInOrder() {
        var script: [(UInt64, HeartbeatMessage)] = []
        var sequence: UInt64 = 1
        for at in stride(from: UInt64(1_100), through: 1_700, by: 100) {
            sequence += 1
            script.append((at, Self.heartbeat(sequence)))
        }
        script.append((1_800, Self.heartbeat(1, epoch: 8)))
        sequence = 1
        for at in stride(from: UInt64(1_900), through: 2_500, by: 100) {
            sequence += 1
            script.append((at, Self.heartbeat(sequence, epoch: 8)))
        }
        script.append((2_600, Self.heartbeat(sequence + 1, epoch: 8, serial: 3)))
        for at in stride(from: UInt64(2_700), through: 3_300, by: 100) {
            sequence += 1
            script.append((at, Self.heartbeat(sequence + 1, epoch: 8, serial: 3)))
        }
        script.append((3_400, Self.heartbeat(sequence + 2, kind: .takeoverRequest, epoch: 8, serial: 3)))
        let each = Self.run(keeping: false, script: script, end: 4_000, lateness: [0, 2])
        let loop = Self.run(keeping: true, script: script, end: 4_000, lateness: [0, 2])
        #expect(loop.kept > 8, "packets were kept (\(loop.kept))")
        Self.compare(loop, each)
        #expect(each.role == .active, "the takeover request was heard")
    }

    /// Only a routine packet is kept: the active's life, a newer sequence, role active, a plain
    /// heartbeat, the same priority and config; and only before this standby's answer is due.
    @Test func onlyARoutinePacketIsKept() throws {
        var h = H()
        h.startStandby()
        h.now = h.now.adding(milliseconds: 10)
        h.send(.heartbeat(Self.heartbeat(2), waitedNanoseconds: 0, withdrawn: false))
        let plan = try #require(h.state.steadyFollowing(at: h.now))
        let at = h.now.adding(milliseconds: 100)
        for (message, why) in [(Self.heartbeat(3, kind: .takeoverRequest), "a request"),
                               (Self.heartbeat(3, priority: 90), "another priority"),
                               (Self.heartbeat(3, epoch: 9), "a new life"),
                               (Self.heartbeat(2), "an old sequence"),
                               (Self.heartbeat(3, role: .standby), "the peer standby"),
                               (Self.heartbeat(3, serial: 4), "another config")] {
            var copy = plan
            let taken = copy.keeps(message, at: at)
            #expect(!taken, "\(why) is not kept")
            #expect(copy == plan)
        }
        var copy = plan
        let routine = copy.keeps(Self.heartbeat(3), at: at)
        #expect(routine)
        #expect(copy.sequence == 3 && copy.lastHeard == at)
        let answered = copy.keeps(Self.heartbeat(4), at: plan.answerAt)
        #expect(!answered, "the answer is due: the node hears it")

        var preempting = H(settings: Election.Settings(nodeName: "a", peerName: "b", priority: 100, preempt: true,
                                                       interval: .milliseconds(100), deadTime: .milliseconds(300)))
        preempting.send(.start)
        preempting.send(.heartbeat(Self.heartbeat(1, priority: 150), waitedNanoseconds: 0, withdrawn: false))
        #expect(preempting.state.election.role == .standby)
        #expect(preempting.state.steadyFollowing(at: preempting.now) != nil, "the active outranks this node")
        preempting.send(.heartbeat(Self.heartbeat(2, priority: 50), waitedNanoseconds: 0, withdrawn: false))
        #expect(preempting.state.steadyFollowing(at: preempting.now) == nil, "a preemption is in course")

        var maintenance = H()
        maintenance.startStandby()
        maintenance.send(.command(1, .maintenance(true)))
        #expect(maintenance.state.steadyFollowing(at: maintenance.now) == nil, "maintenance")
    }
}
