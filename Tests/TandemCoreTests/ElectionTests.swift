import Testing
@testable import TandemCore

/// One input to the election at a given millisecond of the manual clock.
struct ElectionStep: Sendable {
    enum Event: Sendable {
        case start(holdingVIPs: Bool)
        /// A verified packet from the peer (sequence numbers are assigned in order).
        case heard(HeartbeatMessage.Kind, Role, priority: UInt8)
        /// The peer restarted: a packet with a new boot epoch.
        case heardAfterRestart(Role, priority: UInt8)
        case link(String, up: Bool)
        case maintenance(Bool)
        /// `maintenance on --force`.
        case forcedMaintenance
        case failover
        case forcedFailover
        case stop
        case priority(Int)
        /// This node's own faults (`LocalHealth`); [] when healthy.
        case localFaults([String])
    }

    var ms: UInt64
    var event: Event
}

func at(_ ms: UInt64, _ event: ElectionStep.Event) -> ElectionStep { ElectionStep(ms: ms, event: event) }

/// The peer sending `role` heartbeats every `every` ms from `from` through `through`.
func peer(_ role: Role, priority: UInt8 = 100, from: UInt64, through: UInt64, every: UInt64 = 10) -> [ElectionStep] {
    stride(from: from, through: through, by: Int(every)).map { at($0, .heard(.heartbeat, role, priority: priority)) }
}

/// Drives one `Election` like the daemon would: events at their instants, and the one timer fired
/// exactly when the last `scheduleTimer` asked, in between.
struct ElectionHarness {
    var election: Election
    var timer: MonotonicInstant?
    var log: [(ms: UInt64, action: Election.Action)] = []
    private var sequence: UInt64 = 0
    private var epoch: UInt64 = 1

    init(_ settings: Election.Settings) { election = Election(settings: settings) }

    mutating func run(_ steps: [ElectionStep], until end: UInt64) {
        let ordered = steps.enumerated().sorted { ($0.element.ms, $0.offset) < ($1.element.ms, $1.offset) }.map(\.element)
        for step in ordered {
            advance(to: .milliseconds(step.ms))
            record(step.ms, apply(step.event, at: .milliseconds(step.ms)))
        }
        advance(to: .milliseconds(end))
    }

    mutating func advance(to instant: MonotonicInstant) {
        var fired = 0
        while let due = timer, due <= instant, fired < 100_000 {
            timer = nil
            fired += 1
            record(due.nanoseconds / 1_000_000, election.timerFired(at: due))
        }
    }

    private mutating func record(_ ms: UInt64, _ actions: [Election.Action]) {
        for action in actions {
            if case .scheduleTimer(let instant) = action { timer = instant }
            log.append((ms, action))
        }
    }

    private mutating func apply(_ event: ElectionStep.Event, at now: MonotonicInstant) -> [Election.Action] {
        switch event {
        case .start(let holding): return election.started(at: now, holdingVIPs: holding)
        case .heard(let kind, let role, let priority): return election.heartbeatReceived(message(kind, role, priority), at: now)
        case .heardAfterRestart(let role, let priority):
            epoch += 1
            sequence = 0
            return election.heartbeatReceived(message(.heartbeat, role, priority), at: now)
        case .link(let name, let up): return election.trackedInterfaceChanged(name, isUp: up, at: now)
        case .maintenance(let on): return election.maintenanceRequested(on, at: now)
        case .forcedMaintenance: return election.maintenanceRequested(true, force: true, at: now)
        case .failover: return election.failoverRequested(at: now)
        case .forcedFailover: return election.failoverRequested(at: now, force: true)
        case .stop: return election.stopRequested(at: now)
        case .localFaults(let faults): return election.localFaultsChanged(faults, at: now)
        case .priority(let priority):
            var settings = election.settings
            settings.priority = priority
            return election.settingsChanged(settings, at: now)
        }
    }

    private mutating func message(_ kind: HeartbeatMessage.Kind, _ role: Role, _ priority: UInt8) -> HeartbeatMessage {
        sequence += 1
        return HeartbeatMessage(kind: kind, sender: election.settings.peerName, bootEpoch: epoch, sequence: sequence,
                                role: role, priority: priority, configSerial: 1, configDigest: .zero, pathIndex: 0,
                                intervalMilliseconds: 10)
    }

    /// The log without timers and plain heartbeats, one short line per action: "30: starting→active",
    /// "30: claim", "30: send takeover-request", "40: rejected failover".
    var effects: [String] {
        log.compactMap { entry in
            let line: String
            switch entry.action {
            case .transition(let from, let to, _): line = "\(from)→\(to)"
            case .claim: line = "claim"
            case .announce: line = "announce"
            case .release: line = "release"
            case .send(let outgoing):
                // Periodic kinds: `yielded` rounds have tests of their own.
                guard outgoing.kind != .heartbeat, outgoing.kind != .yielded else { return nil }
                line = "send \(outgoing.kind)"
            case .notify: return nil
            case .rejected(let command, _): line = "rejected \(command)"
            case .scheduleTimer: return nil
            case .finished: line = "finished"
            case .alert(let level, _): line = "alert \(level)"
            }
            return "\(entry.ms): \(line)"
        }
    }

    /// Reasons of every transition, in order.
    var reasons: [String] {
        log.compactMap { entry in
            if case .transition(_, _, let reason) = entry.action { return reason }
            return nil
        }
    }
}

/// Node "a" (priority 100 unless a row says otherwise), peer "b"; interval 10 ms, dead time 30 ms,
/// handover timeout 200 ms; eth1 faults, eth2 lowers priority by 60.
func electionSettings(node: String = "a", peer: String = "b", priority: Int = 100, preempt: Bool = false,
                      preemptDelay: UInt64 = 0) -> Election.Settings {
    Election.Settings(nodeName: node, peerName: peer, priority: priority,
                      trackedInterfaces: [TrackedInterface(interface: "eth1", effect: .fault),
                                          TrackedInterface(interface: "eth2", effect: .lowerPriority(by: 60))],
                      preempt: preempt, preemptDelay: .milliseconds(preemptDelay), interval: .milliseconds(10),
                      deadTime: .milliseconds(30), handoverTimeout: .milliseconds(200))
}

struct ElectionCase: CustomTestStringConvertible, Sendable {
    var name: String
    var settings: Election.Settings
    var steps: [ElectionStep]
    var until: UInt64
    var effects: [String]
    var role: Role
    var testDescription: String { name }
}


/// Shorthand for the lines of becoming active at `ms`.
func becameActive(_ ms: UInt64, from: Role) -> [String] { ["\(ms): \(from)→active", "\(ms): claim", "\(ms): announce"] }

let electionCases: [ElectionCase] = [
    ElectionCase(name: "start-up alone: active after the dead time, not before",
                 settings: electionSettings(), steps: [at(0, .start(holdingVIPs: false))], until: 100,
                 effects: becameActive(30, from: .starting), role: .active),
    ElectionCase(name: "start-up with an active peer: standby at once",
                 settings: electionSettings(priority: 200),
                 steps: [at(0, .start(holdingVIPs: false))] + peer(.active, from: 5, through: 95), until: 100,
                 effects: ["5: starting→standby"], role: .standby),
    ElectionCase(name: "start-up holding stale VIPs while the peer is active: released at once",
                 settings: electionSettings(), steps: [at(0, .start(holdingVIPs: true))] + peer(.active, from: 3, through: 93),
                 until: 100, effects: ["3: starting→standby", "3: release"], role: .standby),
    ElectionCase(name: "start-up holding VIPs while the peer is standby: kept even at lower priority",
                 settings: electionSettings(priority: 50),
                 steps: [at(0, .start(holdingVIPs: true))] + peer(.standby, priority: 200, from: 3, through: 93),
                 until: 100, effects: becameActive(3, from: .starting), role: .active),
    ElectionCase(name: "start-up, peer standby with lower priority: active at once",
                 settings: electionSettings(priority: 150),
                 steps: [at(0, .start(holdingVIPs: false))] + peer(.standby, from: 5, through: 95), until: 100,
                 effects: becameActive(5, from: .starting), role: .active),
    ElectionCase(name: "start-up, peer standby with higher priority: standby",
                 settings: electionSettings(priority: 50),
                 steps: [at(0, .start(holdingVIPs: false))] + peer(.standby, from: 5, through: 95), until: 100,
                 effects: ["5: starting→standby"], role: .standby),
    ElectionCase(name: "both starting, equal priority: the name that sorts first wins (a)",
                 settings: electionSettings(),
                 steps: [at(0, .start(holdingVIPs: false)), at(2, .heard(.heartbeat, .starting, priority: 100))],
                 until: 10, effects: becameActive(2, from: .starting), role: .active),
    ElectionCase(name: "both starting, equal priority: the name that sorts later loses (b)",
                 settings: electionSettings(node: "b", peer: "a"),
                 steps: [at(0, .start(holdingVIPs: false)), at(2, .heard(.heartbeat, .starting, priority: 100))],
                 until: 10, effects: ["2: starting→standby"], role: .standby),
    ElectionCase(name: "start-up, peer in maintenance: active at once whatever the priority",
                 settings: electionSettings(priority: 1),
                 steps: [at(0, .start(holdingVIPs: false))] + peer(.maintenance, priority: 255, from: 4, through: 94),
                 until: 100, effects: becameActive(4, from: .starting), role: .active),
    ElectionCase(name: "active crashes: standby takes over exactly one dead time after the last heartbeat",
                 settings: electionSettings(),
                 steps: [at(0, .start(holdingVIPs: false))] + peer(.active, from: 5, through: 45), until: 200,
                 effects: ["5: starting→standby"] + becameActive(75, from: .standby), role: .active),
    ElectionCase(name: "peer heard on and off but never silent for the dead time: no takeover",
                 settings: electionSettings(),
                 steps: [at(0, .start(holdingVIPs: false))] + peer(.active, from: 5, through: 205, every: 29),
                 until: 205, effects: ["5: starting→standby"], role: .standby),
    ElectionCase(name: "non-preemptive: a returning higher-priority node stays standby",
                 settings: electionSettings(priority: 250),
                 steps: [at(0, .start(holdingVIPs: false))] + peer(.active, priority: 10, from: 5, through: 495),
                 until: 500, effects: ["5: starting→standby"], role: .standby),
    ElectionCase(name: "preempt after hearing the lower-priority active for the preempt delay; it then yields",
                 settings: electionSettings(priority: 200, preempt: true, preemptDelay: 50),
                 steps: [at(0, .start(holdingVIPs: false))] + peer(.active, from: 5, through: 55)
                     + peer(.standby, from: 65, through: 195), until: 200,
                 effects: ["5: starting→standby"] + becameActive(55, from: .standby) + ["55: announce"], role: .active),
    ElectionCase(name: "preempt needs strictly higher priority: a tie never preempts",
                 settings: electionSettings(priority: 100, preempt: true, preemptDelay: 0),
                 steps: [at(0, .start(holdingVIPs: false))] + peer(.active, from: 5, through: 195), until: 200,
                 effects: ["5: starting→standby"], role: .standby),
    ElectionCase(name: "preempt delay restarts when the peer's priority rises meanwhile",
                 settings: electionSettings(priority: 200, preempt: true, preemptDelay: 50),
                 steps: [at(0, .start(holdingVIPs: false))] + peer(.active, from: 5, through: 35)
                     + peer(.active, priority: 250, from: 45, through: 75) + peer(.active, from: 85, through: 195),
                 until: 200, effects: ["5: starting→standby"] + becameActive(135, from: .standby) + ["135: announce"],
                 role: .active),
    ElectionCase(name: "dual active, peer wins on priority: we release at once",
                 settings: electionSettings(),
                 steps: [at(0, .start(holdingVIPs: false)), at(100, .heard(.heartbeat, .active, priority: 150))],
                 until: 105, effects: becameActive(30, from: .starting) + ["100: active→standby", "100: release"],
                 role: .standby),
    ElectionCase(name: "dual active, we win: re-announce once per episode",
                 settings: electionSettings(),
                 steps: [at(0, .start(holdingVIPs: false))] + peer(.active, priority: 50, from: 100, through: 120)
                     + [at(130, .heard(.heartbeat, .standby, priority: 50)), at(200, .heard(.heartbeat, .active, priority: 50))],
                 until: 205, effects: becameActive(30, from: .starting) + ["100: announce", "200: announce"], role: .active),
    ElectionCase(name: "dual active, equal priority: b loses the tie to a",
                 settings: electionSettings(node: "b", peer: "a"),
                 steps: [at(0, .start(holdingVIPs: false)), at(100, .heard(.heartbeat, .active, priority: 100))],
                 until: 105, effects: becameActive(30, from: .starting) + ["100: active→standby", "100: release"],
                 role: .standby),
    ElectionCase(name: "peer heard again after a silence while we are active: re-announce",
                 settings: electionSettings(),
                 steps: [at(0, .start(holdingVIPs: false))] + peer(.active, from: 5, through: 45)
                     + [at(200, .heard(.heartbeat, .standby, priority: 100))],
                 until: 210, effects: ["5: starting→standby"] + becameActive(75, from: .standby) + ["200: announce"],
                 role: .active),
    ElectionCase(name: "tracked interface with effect fault: active releases; back up and peer silent: active again",
                 settings: electionSettings(),
                 steps: [at(0, .start(holdingVIPs: false)), at(100, .link("eth1", up: false)), at(150, .link("eth1", up: true))],
                 until: 160, effects: becameActive(30, from: .starting) + ["100: active→fault", "100: release"]
                     + becameActive(150, from: .fault), role: .active),
    ElectionCase(name: "a faulted standby never takes over, even from a dead peer",
                 settings: electionSettings(),
                 steps: [at(0, .start(holdingVIPs: false))] + peer(.active, from: 5, through: 45) + [at(40, .link("eth1", up: false))],
                 until: 300, effects: ["5: starting→standby", "40: standby→fault"], role: .fault),
    ElectionCase(name: "untracked interfaces change nothing",
                 settings: electionSettings(),
                 steps: [at(0, .start(holdingVIPs: false)), at(100, .link("eth9", up: false))],
                 until: 110, effects: becameActive(30, from: .starting), role: .active),
    ElectionCase(name: "tracked interface lowering priority: we lose the next dual-active contest",
                 settings: electionSettings(priority: 150),
                 steps: [at(0, .start(holdingVIPs: false)), at(40, .link("eth2", up: false)),
                         at(50, .heard(.heartbeat, .active, priority: 100))],
                 until: 55, effects: becameActive(30, from: .starting) + ["50: active→standby", "50: release"], role: .standby),
    ElectionCase(name: "lowered priority alone does not move the VIPs without preempt",
                 settings: electionSettings(priority: 150),
                 steps: [at(0, .start(holdingVIPs: false))] + peer(.standby, from: 5, through: 195) + [at(40, .link("eth2", up: false))],
                 until: 200, effects: becameActive(5, from: .starting), role: .active),
    ElectionCase(name: "maintenance pins a standby: it never takes over until maintenance ends",
                 settings: electionSettings(),
                 steps: [at(0, .start(holdingVIPs: false))] + peer(.active, from: 5, through: 45)
                     + [at(20, .maintenance(true)), at(300, .maintenance(false))],
                 until: 310, effects: ["5: starting→standby", "20: standby→maintenance"] + becameActive(300, from: .maintenance),
                 role: .active),
    ElectionCase(name: "maintenance on the active hands over first (claim before release)",
                 settings: electionSettings(),
                 steps: [at(0, .start(holdingVIPs: false))] + peer(.standby, priority: 50, from: 5, through: 45)
                     + [at(50, .maintenance(true)), at(52, .heard(.claimed, .active, priority: 50))]
                     + peer(.active, priority: 50, from: 60, through: 200),
                 until: 200, effects: becameActive(5, from: .starting)
                     + ["50: send takeover-request", "60: send takeover-request", "70: send takeover-request",
                        "72: active→maintenance", "72: release"], role: .maintenance),
    ElectionCase(name: "maintenance handover the standby never takes (it goes silent): refused, it stays active",
                 settings: electionSettings(),
                 steps: [at(0, .start(holdingVIPs: false))] + peer(.standby, priority: 50, from: 5, through: 55)
                     + [at(50, .maintenance(true))],
                 until: 200, effects: becameActive(5, from: .starting)
                     + ["50: send takeover-request", "60: send takeover-request", "70: send takeover-request",
                        "80: send takeover-request", "85: rejected maintenance"], role: .active),
    ElectionCase(name: "forced maintenance handover the standby never takes: released anyway",
                 settings: electionSettings(),
                 steps: [at(0, .start(holdingVIPs: false))] + peer(.standby, priority: 50, from: 5, through: 55)
                     + [at(50, .forcedMaintenance)],
                 until: 200, effects: becameActive(5, from: .starting)
                     + ["50: send takeover-request", "60: send takeover-request", "70: send takeover-request",
                        "80: send takeover-request", "85: active→maintenance", "85: release"], role: .maintenance),
    ElectionCase(name: "maintenance on the active with no live standby: refused, it stays active",
                 settings: electionSettings(),
                 steps: [at(0, .start(holdingVIPs: false)), at(100, .maintenance(true))],
                 until: 110, effects: becameActive(30, from: .starting) + ["100: rejected maintenance"],
                 role: .active),
    ElectionCase(name: "maintenance on the active with the peer in maintenance too: refused, it stays active",
                 settings: electionSettings(),
                 steps: [at(0, .start(holdingVIPs: false))] + peer(.maintenance, from: 5, through: 105)
                     + [at(100, .maintenance(true))],
                 until: 110, effects: becameActive(5, from: .starting) + ["100: rejected maintenance"],
                 role: .active),
    ElectionCase(name: "forced maintenance on the active with no live standby: release at once",
                 settings: electionSettings(),
                 steps: [at(0, .start(holdingVIPs: false)), at(100, .forcedMaintenance)],
                 until: 110, effects: becameActive(30, from: .starting) + ["100: active→maintenance", "100: release"],
                 role: .maintenance),
    ElectionCase(name: "graceful stop of the active: take-over request, peer claims, then release",
                 settings: electionSettings(),
                 steps: [at(0, .start(holdingVIPs: false))] + peer(.standby, priority: 50, from: 5, through: 95)
                     + [at(100, .stop), at(103, .heard(.claimed, .active, priority: 50))],
                 until: 500, effects: becameActive(5, from: .starting)
                     + ["100: active→stopping", "100: send takeover-request", "110: send takeover-request",
                        "120: send takeover-request", "123: release", "123: send release", "123: finished"],
                 role: .stopping),
    ElectionCase(name: "graceful stop, the peer never claims: release when the handover times out",
                 settings: electionSettings(),
                 steps: [at(0, .start(holdingVIPs: false))] + peer(.standby, priority: 50, from: 5, through: 95)
                     + [at(100, .stop)] + peer(.standby, priority: 50, from: 105, through: 495),
                 until: 500, effects: becameActive(5, from: .starting)
                     + ["100: active→stopping", "100: send takeover-request"]
                     + stride(from: 110, through: 290, by: 10).map { "\($0): send takeover-request" }
                     + ["300: release", "300: send release", "300: finished"],
                 role: .stopping),
    ElectionCase(name: "graceful stop of the active with no peer: release at once",
                 settings: electionSettings(),
                 steps: [at(0, .start(holdingVIPs: false)), at(100, .stop)],
                 until: 200, effects: becameActive(30, from: .starting)
                     + ["100: active→stopping", "100: release", "100: send release", "100: finished"], role: .stopping),
    ElectionCase(name: "stop of a standby: release notice and finished",
                 settings: electionSettings(),
                 steps: [at(0, .start(holdingVIPs: false))] + peer(.active, from: 5, through: 95) + [at(50, .stop)],
                 until: 100, effects: ["5: starting→standby", "50: standby→stopping", "50: send release", "50: finished"],
                 role: .stopping),
    ElectionCase(name: "standby told to take over: claims at once and confirms",
                 settings: electionSettings(priority: 10),
                 steps: [at(0, .start(holdingVIPs: false))] + peer(.active, priority: 200, from: 5, through: 45)
                     + [at(50, .heard(.takeoverRequest, .stopping, priority: 200))],
                 until: 55, effects: ["5: starting→standby"] + becameActive(50, from: .standby) + ["50: send claimed"],
                 role: .active),
    ElectionCase(name: "standby told to take over by a failing-over active keeps the VIPs while it yields",
                 settings: electionSettings(priority: 10),
                 steps: [at(0, .start(holdingVIPs: false))] + peer(.active, priority: 200, from: 5, through: 45)
                     + [at(50, .heard(.takeoverRequest, .active, priority: 200)),
                        at(60, .heard(.takeoverRequest, .active, priority: 200)),
                        at(70, .heard(.heartbeat, .standby, priority: 200))],
                 until: 80, effects: ["5: starting→standby"] + becameActive(50, from: .standby)
                     + ["50: send claimed", "60: send claimed"], role: .active),
    ElectionCase(name: "a faulted node ignores take-over requests",
                 settings: electionSettings(),
                 steps: [at(0, .start(holdingVIPs: false))] + peer(.active, from: 5, through: 45)
                     + [at(10, .link("eth1", up: false)), at(50, .heard(.takeoverRequest, .stopping, priority: 100))],
                 until: 70, effects: ["5: starting→standby", "10: standby→fault"], role: .fault),
    ElectionCase(name: "peer's release notice: the standby takes over without waiting for the dead time",
                 settings: electionSettings(),
                 steps: [at(0, .start(holdingVIPs: false))] + peer(.active, from: 5, through: 45)
                     + [at(47, .heard(.release, .stopping, priority: 100))],
                 until: 60, effects: ["5: starting→standby"] + becameActive(47, from: .standby), role: .active),
    ElectionCase(name: "manual failover: hand over, then standby",
                 settings: electionSettings(),
                 steps: [at(0, .start(holdingVIPs: false))] + peer(.standby, from: 5, through: 45)
                     + [at(50, .failover), at(51, .heard(.claimed, .active, priority: 100))],
                 until: 75, effects: becameActive(5, from: .starting)
                     + ["50: send takeover-request", "60: send takeover-request", "70: send takeover-request",
                        "71: active→standby", "71: release"], role: .standby),
    ElectionCase(name: "manual failover with preempt: the higher-priority node that handed over does not take the VIPs back",
                 settings: electionSettings(priority: 200, preempt: true, preemptDelay: 20),
                 steps: [at(0, .start(holdingVIPs: false))] + peer(.standby, from: 5, through: 45)
                     + [at(50, .failover), at(51, .heard(.claimed, .active, priority: 100))]
                     + peer(.active, from: 60, through: 295),
                 until: 300, effects: becameActive(5, from: .starting)
                     + ["50: send takeover-request", "60: send takeover-request", "70: send takeover-request",
                        "71: active→standby", "71: release", "71: alert notice"], role: .standby),
    ElectionCase(name: "preempt suspended by a failover ends when the peer's priority drops (its tracked link went down)",
                 settings: electionSettings(priority: 200, preempt: true, preemptDelay: 20),
                 steps: [at(0, .start(holdingVIPs: false))] + peer(.standby, from: 5, through: 45)
                     + [at(50, .failover), at(51, .heard(.claimed, .active, priority: 100))]
                     + peer(.active, from: 60, through: 100) + peer(.active, priority: 70, from: 110, through: 295),
                 until: 300, effects: becameActive(5, from: .starting)
                     + ["50: send takeover-request", "60: send takeover-request", "70: send takeover-request",
                        "71: active→standby", "71: release", "71: alert notice"] + becameActive(130, from: .standby) + ["130: announce"],
                 role: .active),
    ElectionCase(name: "preempt suspended by a failover ends when the peer stops serving (it restarts): preempts as configured again",
                 settings: electionSettings(priority: 200, preempt: true, preemptDelay: 20),
                 steps: [at(0, .start(holdingVIPs: false))] + peer(.standby, from: 5, through: 45)
                     + [at(50, .failover), at(51, .heard(.claimed, .active, priority: 100))]
                     + peer(.active, from: 60, through: 100) + peer(.starting, from: 110, through: 130)
                     + peer(.active, from: 140, through: 295),
                 until: 300, effects: becameActive(5, from: .starting)
                     + ["50: send takeover-request", "60: send takeover-request", "70: send takeover-request",
                        "71: active→standby", "71: release", "71: alert notice"] + becameActive(160, from: .standby) + ["160: announce"],
                 role: .active),
    ElectionCase(name: "manual failover refused on a standby and without a live peer",
                 settings: electionSettings(),
                 steps: [at(0, .start(holdingVIPs: false)), at(10, .failover), at(100, .failover)],
                 until: 105, effects: ["10: rejected failover"] + becameActive(30, from: .starting) + ["100: rejected failover"],
                 role: .active),
    ElectionCase(name: "manual failover nobody claims: abandoned after the handover timeout, still active",
                 settings: electionSettings(),
                 steps: [at(0, .start(holdingVIPs: false))] + peer(.standby, from: 5, through: 395) + [at(50, .failover)],
                 until: 400, effects: becameActive(5, from: .starting) + ["50: send takeover-request"]
                     + stride(from: 60, through: 240, by: 10).map { "\($0): send takeover-request" }
                     + ["250: rejected failover"], role: .active),
    ElectionCase(name: "failover on the standby: asks the active to hand over, claims when told to",
                 settings: electionSettings(),
                 steps: [at(0, .start(holdingVIPs: false))] + peer(.active, from: 5, through: 45)
                     + [at(50, .failover), at(55, .heard(.takeoverRequest, .active, priority: 100))],
                 until: 58, effects: ["5: starting→standby", "50: send handover-request"] + becameActive(55, from: .standby)
                     + ["55: send claimed"], role: .active),
    ElectionCase(name: "failover on the standby: the active never hands over, given up after the handover timeout",
                 settings: electionSettings(),
                 steps: [at(0, .start(holdingVIPs: false))] + peer(.active, from: 5, through: 395) + [at(50, .failover)],
                 until: 400, effects: ["5: starting→standby", "50: send handover-request"]
                     + stride(from: 60, through: 240, by: 10).map { "\($0): send handover-request" }
                     + ["250: rejected failover"], role: .standby),
    ElectionCase(name: "the active answers a standby's handover request with a handover",
                 settings: electionSettings(),
                 steps: [at(0, .start(holdingVIPs: false))] + peer(.standby, from: 5, through: 45)
                     + [at(50, .heard(.handoverRequest, .standby, priority: 100)), at(53, .heard(.claimed, .active, priority: 100))],
                 until: 76, effects: becameActive(5, from: .starting)
                     + ["50: send takeover-request", "60: send takeover-request", "70: send takeover-request",
                        "73: active→standby", "73: release"], role: .standby),
    ElectionCase(name: "forced failover with no live peer: releases and holds off for the handover timeout",
                 settings: electionSettings(),
                 steps: [at(0, .start(holdingVIPs: false)), at(100, .forcedFailover)],
                 until: 320, effects: becameActive(30, from: .starting) + ["100: active→standby", "100: release"]
                     + becameActive(300, from: .standby), role: .active),
    ElectionCase(name: "failover refused in maintenance",
                 settings: electionSettings(),
                 steps: [at(0, .start(holdingVIPs: false)), at(1, .maintenance(true)), at(10, .failover), at(20, .forcedFailover)],
                 until: 25, effects: ["1: starting→maintenance", "10: rejected failover", "20: rejected failover"],
                 role: .maintenance),
    ElectionCase(name: "standby that lost its own heartbeat path: the peer's silence is no reason to take over",
                 settings: electionSettings(),
                 steps: [at(0, .start(holdingVIPs: false))] + peer(.active, from: 5, through: 35)
                     + [at(40, .localFaults(["no usable heartbeat path"]))],
                 until: 500, effects: ["5: starting→standby", "40: standby→fault"], role: .fault),
    ElectionCase(name: "local fault on the active: releases at once; cleared with the peer silent: listens a dead time, then active",
                 settings: electionSettings(),
                 steps: [at(0, .start(holdingVIPs: false)), at(100, .localFaults(["VIP interface eth0 is down or has no carrier"])),
                         at(150, .localFaults([]))],
                 until: 200, effects: becameActive(30, from: .starting) + ["100: active→fault", "100: release", "150: fault→standby"]
                     + becameActive(180, from: .standby), role: .active),
    ElectionCase(name: "local fault cleared: the peer heard active while listening keeps us standby (no takeover of a live active)",
                 settings: electionSettings(priority: 200),
                 steps: [at(0, .start(holdingVIPs: false))] + peer(.active, from: 5, through: 25)
                     + [at(30, .localFaults(["no usable heartbeat path"])), at(300, .localFaults([]))]
                     + peer(.active, from: 305, through: 495),
                 until: 500, effects: ["5: starting→standby", "30: standby→fault", "300: fault→standby"], role: .standby),
    ElectionCase(name: "local fault cleared while the peer is active: standby, not active",
                 settings: electionSettings(priority: 200),
                 steps: [at(0, .localFaults(["no usable heartbeat path"])), at(0, .start(holdingVIPs: false))]
                     + peer(.active, from: 5, through: 195) + [at(100, .localFaults([]))],
                 until: 200, effects: ["0: starting→fault", "100: fault→standby"], role: .standby),
    ElectionCase(name: "a node that starts with a local fault and hears nobody never becomes active",
                 settings: electionSettings(),
                 steps: [at(0, .localFaults(["no usable heartbeat path"])), at(0, .start(holdingVIPs: false))],
                 until: 500, effects: ["0: starting→fault"], role: .fault),
    ElectionCase(name: "a node that starts holding VIPs with a local fault releases them",
                 settings: electionSettings(),
                 steps: [at(0, .localFaults(["address conflict"])), at(0, .start(holdingVIPs: true))],
                 until: 50, effects: ["0: starting→fault", "0: release"], role: .fault),
    ElectionCase(name: "a local fault during a graceful stop releases at once",
                 settings: electionSettings(),
                 steps: [at(0, .start(holdingVIPs: false))] + peer(.standby, priority: 50, from: 5, through: 95)
                     + [at(100, .stop), at(105, .localFaults(["VIP interface eth0 does not exist"]))],
                 until: 110, effects: becameActive(5, from: .starting)
                     + ["100: active→stopping", "100: send takeover-request", "105: release", "105: send release", "105: finished"],
                 role: .stopping),
    ElectionCase(name: "split healed, we lose: release without any announcement",
                 settings: electionSettings(node: "b", peer: "a"),
                 steps: [at(0, .start(holdingVIPs: false))] + peer(.active, from: 5, through: 45)
                     + [at(200, .heard(.heartbeat, .active, priority: 100))],
                 until: 205, effects: ["5: starting→standby"] + becameActive(75, from: .standby)
                     + ["200: active→standby", "200: release"], role: .standby),
    ElectionCase(name: "split healed, we win: one announcement",
                 settings: electionSettings(),
                 steps: [at(0, .start(holdingVIPs: false))] + peer(.active, priority: 50, from: 5, through: 45)
                     + [at(200, .heard(.heartbeat, .active, priority: 50))],
                 until: 205, effects: ["5: starting→standby"] + becameActive(75, from: .standby) + ["200: announce"],
                 role: .active),
    ElectionCase(name: "peer restart (new boot epoch) is heard as a fresh peer",
                 settings: electionSettings(),
                 steps: [at(0, .start(holdingVIPs: false))] + peer(.active, from: 5, through: 45)
                     + [at(50, .heardAfterRestart(.starting, priority: 100))] + peer(.standby, from: 60, through: 100),
                 until: 100, effects: ["5: starting→standby"] + becameActive(60, from: .standby), role: .active),
]

@Suite("Election state machine")
struct ElectionTests {
    @Test(arguments: electionCases)
    func scenario(_ row: ElectionCase) {
        var harness = ElectionHarness(row.settings)
        harness.run(row.steps, until: row.until)
        #expect(harness.effects == row.effects)
        #expect(harness.election.role == row.role)
    }

    @Test func becomingActiveEmitsClaimAnnounceSendNotifyTimerInOrder() {
        var election = Election(settings: electionSettings())
        let start = election.started(at: .zero)
        #expect(start == [.send(.init(kind: .heartbeat, role: .starting, priority: 100)),
                          .scheduleTimer(at: .milliseconds(10))])
        _ = election.timerFired(at: .milliseconds(10))
        _ = election.timerFired(at: .milliseconds(20))
        let reason = "no heartbeat from b within the dead time (30ms) since start"
        #expect(election.timerFired(at: .milliseconds(30)) == [
            .transition(from: .starting, to: .active, reason: reason),
            .claim(reason: reason),
            .announce(reason: reason),
            .send(.init(kind: .heartbeat, role: .active, priority: 100)),
            .notify(role: .active, reason: reason),
            .scheduleTimer(at: .milliseconds(40)),
        ])
    }

    @Test func heartbeatsGoOutEveryIntervalAndTheTimerTracksTheDeadTime() {
        var harness = ElectionHarness(electionSettings())
        harness.run([at(0, .start(holdingVIPs: false))] + peer(.active, from: 5, through: 25), until: 80)
        let sends = harness.log.filter { if case .send = $0.action { return true } else { return false } }.map(\.ms)
        // Starting (0), standby on hearing the active (5); then nothing until the standby
        // interval (100 ms) is due, the takeover at the dead time after the active's last
        // (25 + 30 = 55), and the active's strict interval after it.
        #expect(sends == [0, 5, 55, 65, 75])
        let timers = harness.log.compactMap { entry -> UInt64? in
            if case .scheduleTimer(let at) = entry.action { return at.nanoseconds / 1_000_000 }
            return nil
        }
        // After the last heartbeat at 25 the one timer is the dead time (55), then the active's interval.
        #expect(timers.drop { $0 < 55 }.prefix(3) == [55, 65, 75])
        #expect(harness.election.role == .active)
    }

    /// Issue 16 (idle cost): a standby following a live active sends its own heartbeat only every
    /// standby interval (ten intervals, at most 1 s: 100 ms here), with the answer to one of the
    /// active's (in the same wake-up), advertising that interval; the active keeps its strict timer.
    @Test func aFollowingStandbySendsEveryStandbyIntervalWithTheActivesHeartbeat() {
        #expect(electionSettings().standbyInterval == .milliseconds(100))
        var harness = ElectionHarness(electionSettings())
        harness.run([at(0, .start(holdingVIPs: false))] + peer(.active, from: 5, through: 1_005), until: 1_010)
        let sends = harness.log.compactMap { entry -> (ms: UInt64, out: Election.Outgoing)? in
            if case .send(let out) = entry.action { return (entry.ms, out) }
            return nil
        }
        // 0 starting, 5 the transition to standby; then with the active heartbeat that comes at
        // least 95 ms (the standby interval less half an interval) after the last one.
        #expect(sends.map(\.ms) == [0, 5, 105, 205, 305, 405, 505, 605, 705, 805, 905, 1_005])
        #expect(sends.dropFirst().allSatisfy { $0.out.advertisedInterval == .milliseconds(100) && $0.out.role == .standby })
        #expect(sends.first?.out.advertisedInterval == nil)
        // It wakes for nothing but the active's packets: every timer it asks for is later than the
        // next of them (the dead time after the last one heard).
        let timers = harness.log.compactMap { entry -> (UInt64, UInt64)? in
            if case .scheduleTimer(let at) = entry.action, entry.ms >= 5, entry.ms < 1_005 { return (entry.ms, at.nanoseconds / 1_000_000) }
            return nil
        }
        #expect(timers.count > 90 && timers.allSatisfy { $1 - $0 > 10 }, "\(timers.filter { $1 - $0 <= 10 })")
    }

    /// A reload that shortens the interval (2 s → 100 ms) puts the next heartbeat one new interval
    /// after the one the reload sends, not on the old 2 s tick: that heartbeat advertises 100 ms,
    /// so the peer's dead time for this node falls to 400 ms at once (operator report: the old
    /// tick left 1.9 s of silence and the standby took over, then lost the dual-active contest).
    @Test func aShortenedIntervalTakesEffectFromTheReloadsOwnHeartbeat() {
        func settings(interval: UInt64, deadTime: UInt64) -> Election.Settings {
            Election.Settings(nodeName: "a", peerName: "b", priority: 150, interval: .milliseconds(interval),
                              deadTime: .milliseconds(deadTime))
        }
        var election = Election(settings: settings(interval: 2_000, deadTime: 6_000))
        var timer: MonotonicInstant?
        var sends: [UInt64] = []
        func record(_ actions: [Election.Action], at ms: UInt64) {
            for action in actions {
                if case .scheduleTimer(let at) = action { timer = at }
                if action.isSend { sends.append(ms) }
            }
        }
        func advance(to ms: UInt64) {
            var fired = 0
            while let due = timer, due <= .milliseconds(ms), fired < 1_000 {
                timer = nil
                fired += 1
                record(election.timerFired(at: due), at: due.nanoseconds / 1_000_000)
            }
        }
        record(election.started(at: .zero, holdingVIPs: true), at: 0)
        advance(to: 10_050)
        #expect(election.role == .active)
        #expect(sends.last == 10_000, "\(sends)")
        record(election.settingsChanged(settings(interval: 100, deadTime: 400), at: .milliseconds(10_150)), at: 10_150)
        advance(to: 10_560)
        #expect(sends.drop { $0 < 10_150 } == [10_150, 10_250, 10_350, 10_450, 10_550], "\(sends)")
    }

    /// Heartbeats lost one way: the peer goes on claiming active although this node wins, since it
    /// does not hear this node. Past the handover timeout (200 ms here) that is reported once, as
    /// an error naming the cause, with a re-announcement; its end is reported too.
    @Test func aDualActiveEpisodeThatOutlastsTheHandoverTimeoutIsReported() {
        var harness = ElectionHarness(electionSettings(priority: 150))
        harness.run([at(0, .start(holdingVIPs: false))] + peer(.active, from: 100, through: 400)
                    + peer(.standby, from: 410, through: 500), until: 500)
        #expect(harness.effects == becameActive(30, from: .starting)
                + ["100: announce", "300: alert error", "300: announce", "410: alert notice"], "\(harness.effects)")
        #expect(harness.election.role == .active && harness.election.lastingDualActiveMilliseconds(at: .milliseconds(500)) == nil)
        let alerts = harness.log.compactMap { entry -> String? in
            if case .alert(_, let text) = entry.action { return text }
            return nil
        }
        #expect(alerts.first?.hasPrefix("DUAL ACTIVE: b has stayed active for 200ms although this node wins") == true, "\(alerts)")
        #expect(alerts.last == "dual active ended after 310ms: b is standby now", "\(alerts)")
        // An episode the peer ends within the timeout (a partition that heals) reports nothing.
        var brief = ElectionHarness(electionSettings(priority: 150))
        brief.run([at(0, .start(holdingVIPs: false))] + peer(.active, from: 100, through: 150)
                  + peer(.standby, from: 160, through: 500), until: 500)
        #expect(!brief.effects.contains { $0.contains("alert") }, "\(brief.effects)")
    }

    /// A standby that stops following (the active restarts and is heard starting, asks it to take
    /// over, or leaves) is back on the configured interval at once, not a standby interval later.
    @Test func aStandbyThatStopsFollowingSendsAtTheIntervalAgain() {
        var harness = ElectionHarness(electionSettings())
        harness.run([at(0, .start(holdingVIPs: false))] + peer(.active, from: 5, through: 205)
                    + [at(212, .heardAfterRestart(.starting, priority: 100))], until: 240)
        let sends = harness.log.filter { $0.action.isSend && $0.ms > 210 }
        // The last was at 205: due one interval after it on hearing the peer starting at 212,
        // then every interval.
        #expect(sends.map(\.ms).prefix(3) == [215, 225, 235], "\(sends.map(\.ms))")
        #expect(sends.allSatisfy { if case .send(let out) = $0.action { return out.advertisedInterval == nil } else { return false } })
    }

    /// The active judges a peer by the interval the peer advertises: a standby advertising 100 ms
    /// (30 ms dead time at a 10 ms interval) is alive for 300 ms after its last packet.
    @Test func aPeerIsJudgedByItsAdvertisedInterval() {
        var election = Election(settings: electionSettings(priority: 200))
        _ = election.started(at: .zero)
        _ = election.timerFired(at: .milliseconds(30))
        #expect(election.role == .active)
        let standby = HeartbeatMessage(kind: .heartbeat, sender: "b", bootEpoch: 1, sequence: 1, role: .standby,
                                       priority: 100, configSerial: 1, configDigest: .zero, pathIndex: 0,
                                       intervalMilliseconds: 100)
        _ = election.heartbeatReceived(standby, at: .milliseconds(40))
        #expect(election.peer.map { election.deadTime(of: $0) } == .milliseconds(300))
        #expect(election.peerIsAlive(at: .milliseconds(339)))
        #expect(!election.peerIsAlive(at: .milliseconds(340)))
        // A handover has a taker all that time: a failover at 300 ms asks the standby to take over.
        #expect(election.failoverRequested(at: .milliseconds(300)).contains(.send(.init(kind: .takeoverRequest, role: .active, priority: 200))))
        // The scale: the configured dead time when the peer's interval is ours or shorter,
        // multiplied by the ratio when it is longer.
        var peerStatus = election.peer!
        for (advertised, dead) in [(UInt32(5), UInt64(30)), (10, 30), (15, 45), (100, 300), (1_000, 3_000)] {
            peerStatus.intervalMilliseconds = advertised
            #expect(election.deadTime(of: peerStatus) == .milliseconds(dead), "advertised \(advertised)ms")
        }
    }

    /// A node that gives the VIPs up after holding them, other than by a completed handover,
    /// marks its rounds `yielded`, every interval, for the handover timeout (200 ms here); then it
    /// follows the active at the standby interval again.
    @Test func aDualActiveLoserYieldsEveryIntervalForTheHandoverTimeout() {
        var harness = ElectionHarness(electionSettings())
        harness.run([at(0, .start(holdingVIPs: false))] + peer(.active, priority: 200, from: 100, through: 600), until: 600)
        let sends = harness.log.compactMap { entry -> (ms: UInt64, kind: HeartbeatMessage.Kind)? in
            if case .send(let out) = entry.action, entry.ms >= 100 { return (entry.ms, out.kind) }
            return nil
        }
        #expect(sends.filter { $0.kind == .yielded }.map(\.ms) == Array(stride(from: 100, through: 290, by: 10)))
        // Its own active heartbeat was due at 100 too; then the standby's, a standby interval
        // apart, with the active's.
        #expect(sends.filter { $0.kind != .yielded }.map(\.ms) == [100, 300, 400, 500, 600])
    }

    /// The active announces once when its peer yields (the peer may have announced after it),
    /// again only when rounds are missing in between (another claim may hide in them), and when
    /// a peer leaves holding the VIPs (its release notice says `active`).
    @Test func anActiveAnnouncesWhenItsPeerGivesTheVIPsUp() {
        var election = Election(settings: electionSettings(priority: 200))
        _ = election.started(at: .zero)
        _ = election.timerFired(at: .milliseconds(30))
        #expect(election.role == .active)
        func packet(_ kind: HeartbeatMessage.Kind, _ role: Role, _ sequence: UInt64, epoch: UInt64 = 7) -> HeartbeatMessage {
            HeartbeatMessage(kind: kind, sender: "b", bootEpoch: epoch, sequence: sequence, role: role, priority: 100,
                             configSerial: 1, configDigest: .zero, pathIndex: 0, intervalMilliseconds: 10)
        }
        func announces(_ message: HeartbeatMessage, at ms: UInt64) -> Bool {
            election.heartbeatReceived(message, at: .milliseconds(ms)).contains { if case .announce = $0 { return true } else { return false } }
        }
        #expect(!announces(packet(.heartbeat, .standby, 1), at: 40))
        #expect(announces(packet(.yielded, .standby, 2), at: 50))
        #expect(!announces(packet(.yielded, .standby, 3), at: 60))
        #expect(announces(packet(.yielded, .standby, 5), at: 80))      // round 4 is missing
        #expect(!announces(packet(.heartbeat, .standby, 6), at: 90))
        #expect(!announces(packet(.release, .standby, 7), at: 100))    // a standby leaving
        #expect(!announces(packet(.release, .standby, 7), at: 101))    // its notice on a second path
        #expect(!announces(packet(.heartbeat, .standby, 6), at: 102))  // an older round overtaken by it
        // Back after its release notice: it may have run unheard in between (started with
        // another key) and announced the VIPs.
        #expect(announces(packet(.heartbeat, .standby, 1, epoch: 8), at: 105))
        #expect(announces(packet(.release, .active, 2, epoch: 8), at: 110))
    }

    /// A peer that gives VIPs up while this node's failover hands them to it is about to claim
    /// them and announce: this node announces only if the handover then fails and it keeps the
    /// VIPs (the simulator's seed 1246: the peer yielded and claimed in one burst after a heal,
    /// and the old active's announcement came after the new one's).
    @Test func aPeerThatYieldsDuringAHandoverIsAnnouncedOverOnlyIfTheHandoverFails() {
        func packet(_ kind: HeartbeatMessage.Kind, _ role: Role, _ sequence: UInt64) -> HeartbeatMessage {
            HeartbeatMessage(kind: kind, sender: "b", bootEpoch: 7, sequence: sequence, role: role, priority: 100,
                             configSerial: 1, configDigest: .zero, pathIndex: 0, intervalMilliseconds: 10)
        }
        func isAnnouncement(_ action: Election.Action) -> Bool { if case .announce = action { return true } else { return false } }
        for claims in [true, false] {
            var election = Election(settings: electionSettings(priority: 200))
            _ = election.started(at: .zero)
            _ = election.timerFired(at: .milliseconds(30))
            _ = election.heartbeatReceived(packet(.heartbeat, .standby, 1), at: .milliseconds(40))
            #expect(election.failoverRequested(at: .milliseconds(45)).contains(.send(.init(kind: .takeoverRequest, role: .active, priority: 200))))
            var announced: [UInt64] = []
            if !election.heartbeatReceived(packet(.yielded, .standby, 2), at: .milliseconds(50)).filter(isAnnouncement).isEmpty { announced.append(50) }
            if claims {
                _ = election.heartbeatReceived(packet(.claimed, .active, 3), at: .milliseconds(52))
                for ms in stride(from: UInt64(55), through: 300, by: 5) {
                    if !election.timerFired(at: .milliseconds(ms)).filter(isAnnouncement).isEmpty { announced.append(ms) }
                    _ = election.heartbeatReceived(packet(.heartbeat, .active, 3 + ms), at: .milliseconds(ms))
                }
                #expect(election.role == .standby, "the handover completed")
                #expect(announced.isEmpty)
            } else {
                for ms in stride(from: UInt64(55), through: 300, by: 5) {
                    if !election.timerFired(at: .milliseconds(ms)).filter(isAnnouncement).isEmpty { announced.append(ms) }
                    _ = election.heartbeatReceived(packet(.heartbeat, .standby, 3 + ms), at: .milliseconds(ms))
                }
                #expect(election.role == .active, "the peer did not claim within the handover timeout")
                #expect(announced == [245], "announced once, when the handover failed")
            }
        }
    }

    /// The same during a maintenance handover the operator then calls off (`maintenance off`):
    /// the node stays active and announces, as the peer gave VIPs up meanwhile.
    @Test func aPeerThatYieldsDuringAMaintenanceHandoverCalledOffIsAnnouncedOver() {
        func packet(_ kind: HeartbeatMessage.Kind, _ role: Role, _ sequence: UInt64) -> HeartbeatMessage {
            HeartbeatMessage(kind: kind, sender: "b", bootEpoch: 7, sequence: sequence, role: role, priority: 100,
                             configSerial: 1, configDigest: .zero, pathIndex: 0, intervalMilliseconds: 10)
        }
        func announces(_ actions: [Election.Action]) -> Bool { actions.contains { if case .announce = $0 { return true } else { return false } } }
        var election = Election(settings: electionSettings(priority: 200))
        _ = election.started(at: .zero)
        _ = election.timerFired(at: .milliseconds(30))
        _ = election.heartbeatReceived(packet(.heartbeat, .standby, 1), at: .milliseconds(40))
        #expect(!announces(election.maintenanceRequested(true, at: .milliseconds(45))))
        #expect(election.isHandingOver)
        #expect(!announces(election.heartbeatReceived(packet(.yielded, .standby, 2), at: .milliseconds(50))))
        #expect(announces(election.maintenanceRequested(false, at: .milliseconds(60))))
        #expect(election.role == .active && !election.isHandingOver)
    }

    /// A standby paused (SIGSTOP, a stunned VM) while the active's failover ran and failed reads
    /// the queued takeover requests when it resumes: the active gave up on them after the
    /// handover timeout, so they are heartbeats now and the standby stays (operator trial of
    /// session 32: it claimed, announced and ran its notify, then lost the contest). A request
    /// that comes while the requester still waits is honoured, also one read a little late,
    /// and so is one whose age is unknown (a peer without send times).
    @Test func aTakeoverRequestTheRequesterGaveUpOnIsNotHonoured() {
        // Peer "b" (priority 200, active); this node "a" (100) follows it. Send times are b's
        // clock in ms; `waited` is how late the verifier found the packet, ms.
        func packet(_ kind: HeartbeatMessage.Kind, _ sequence: UInt64, sentAt: UInt64?) -> HeartbeatMessage {
            HeartbeatMessage(kind: kind, sender: "b", bootEpoch: 7, sequence: sequence, role: .active, priority: 200,
                             configSerial: 1, configDigest: .zero, pathIndex: 0, intervalMilliseconds: 10,
                             sentAtNanoseconds: sentAt.map { $0 * 1_000_000 })
        }
        func following() -> Election {
            var election = Election(settings: electionSettings())
            _ = election.started(at: .zero)
            _ = election.heartbeatReceived(packet(.heartbeat, 1, sentAt: 5), at: .milliseconds(5), waitedNanoseconds: nil)
            #expect(election.role == .standby)
            return election
        }
        func alerts(_ actions: [Election.Action]) -> [String] {
            actions.compactMap { if case .alert(_, let text) = $0 { return text } else { return nil } }
        }
        // Paused from 50 ms to 2,000 ms: b's failover ran from 100 ms, requests every 10 ms until
        // it gave up at 300 ms; then plain heartbeats. All are read at once at 2,000 ms.
        var paused = following()
        var said: [String] = []
        var sequence: UInt64 = 2
        for sent in stride(from: UInt64(100), to: 300, by: 10) {
            let actions = paused.heartbeatReceived(packet(.takeoverRequest, sequence, sentAt: sent), at: .milliseconds(2_000),
                                                   waitedNanoseconds: (2_000 - sent) * 1_000_000)
            said += alerts(actions)
            #expect(paused.role == .standby, "request sent at \(sent) ms, read at 2,000 ms")
            sequence += 1
        }
        #expect(said.count == 1, "said once for the run: \(said)")
        #expect(said.first?.contains("handover timeout (200ms)") == true, "\(said)")
        _ = paused.heartbeatReceived(packet(.heartbeat, sequence, sentAt: 300), at: .milliseconds(2_000), waitedNanoseconds: 1_700_000_000)
        #expect(paused.role == .standby)
        // A later failover, read in time, is honoured (a new run of requests).
        _ = paused.heartbeatReceived(packet(.takeoverRequest, sequence + 1, sentAt: 2_100), at: .milliseconds(2_101), waitedNanoseconds: 0)
        #expect(paused.role == .active)

        // The node that claimed keeps reading the requests b sends through its release grace as
        // requests, however late into b's handover (review of session 32: read as heartbeats they
        // started a dual-active contest that gave the VIPs back).
        var claimed = following()
        _ = claimed.heartbeatReceived(packet(.takeoverRequest, 2, sentAt: 100), at: .milliseconds(101), waitedNanoseconds: 0)
        #expect(claimed.role == .active)
        for (sequence, sent) in [(UInt64(3), UInt64(290)), (4, 300), (5, 310)] {
            let actions = claimed.heartbeatReceived(packet(.takeoverRequest, sequence, sentAt: sent), at: .milliseconds(sent + 1),
                                                    waitedNanoseconds: 0)
            #expect(claimed.role == .active, "request sent at \(sent) ms")
            #expect(!actions.contains { if case .release = $0 { return true } else { return false } })
        }
        _ = claimed.heartbeatReceived(packet(.takeoverRequest, 6, sentAt: 320), at: .milliseconds(321), waitedNanoseconds: 0, withdrawn: true)
        #expect(claimed.role == .active, "nor when the same read shows it withdrawn")
        // A standby reads a request withdrawn in the same read as a heartbeat, whatever its age.
        var read = following()
        _ = read.heartbeatReceived(packet(.takeoverRequest, 2, sentAt: 100), at: .milliseconds(101), waitedNanoseconds: 0, withdrawn: true)
        #expect(read.role == .standby)
        // Requests sent further apart than three of the peer's intervals are separate runs: a
        // second failover whose separating heartbeat was lost is not counted from the first.
        var again = following()
        _ = again.heartbeatReceived(packet(.takeoverRequest, 2, sentAt: 100), at: .milliseconds(500), waitedNanoseconds: 400_000_000)
        #expect(again.role == .standby, "400 ms into a handover of 200: expired")
        _ = again.heartbeatReceived(packet(.takeoverRequest, 3, sentAt: 600), at: .milliseconds(601), waitedNanoseconds: 0)
        #expect(again.role == .active, "a new run 500 ms later")

        var unknown = following()
        _ = unknown.heartbeatReceived(packet(.takeoverRequest, 2, sentAt: 100), at: .milliseconds(101), waitedNanoseconds: nil)
        #expect(unknown.role == .active, "a request whose age is unknown is honoured")
        // Read 150 ms late: b waits until 200 ms into its handover (less an interval), so it still waits.
        var slow = following()
        _ = slow.heartbeatReceived(packet(.takeoverRequest, 2, sentAt: 100), at: .milliseconds(250), waitedNanoseconds: 150_000_000)
        #expect(slow.role == .active, "150 ms into the handover")
        // Paused from 90 to 350 ms, b's requests sent every 10 ms from 100 to 280 ms read at once:
        // the newest waited only 70 ms, but it came 180 ms after the first of its run, 250 ms into
        // the handover: b has given up. Its age alone would not say so.
        var resumed = following()
        for (index, sent) in stride(from: UInt64(100), through: 280, by: 10).enumerated() {
            _ = resumed.heartbeatReceived(packet(.takeoverRequest, UInt64(index) + 2, sentAt: sent), at: .milliseconds(350),
                                          waitedNanoseconds: (350 - sent) * 1_000_000)
            #expect(resumed.role == .standby, "request sent at \(sent) ms, read at 350 ms")
        }
    }

    /// Packets read in one go (a node that was paused reads its whole queue): a request is
    /// withdrawn when the batch holds a later round of the same epoch that is not a request,
    /// whatever order the paths' sockets were read in; never by its own copy on another path, an
    /// older round, or another epoch's packet.
    @Test func aRequestWithdrawnLaterInTheSameReadIsFound() {
        func m(_ kind: HeartbeatMessage.Kind, _ sequence: UInt64, epoch: UInt64 = 7, path: UInt8 = 0) -> HeartbeatMessage {
            HeartbeatMessage(kind: kind, sender: "b", bootEpoch: epoch, sequence: sequence, role: .active, priority: 200,
                             configSerial: 1, configDigest: .zero, pathIndex: path, intervalMilliseconds: 10)
        }
        let rows: [([HeartbeatMessage], [Bool], String)] = [
            ([m(.heartbeat, 1), m(.takeoverRequest, 2), m(.takeoverRequest, 3), m(.heartbeat, 4)], [false, true, true, false],
             "the failover was given up: plain rounds after the requests"),
            ([m(.heartbeat, 1), m(.takeoverRequest, 2), m(.takeoverRequest, 3)], [false, false, false], "still asking"),
            ([m(.takeoverRequest, 5, path: 0), m(.takeoverRequest, 5, path: 1)], [false, false], "one round on two paths"),
            ([m(.takeoverRequest, 10, path: 0), m(.heartbeat, 9, path: 1)], [false, false], "an older round on a slower path"),
            ([m(.heartbeat, 11, path: 1), m(.takeoverRequest, 10, path: 0)], [false, true], "path 1's socket read first"),
            ([m(.handoverRequest, 3), m(.claimed, 4)], [true, false], "a standby's handover request, then another kind"),
            ([m(.takeoverRequest, 10), m(.heartbeat, 2, epoch: 8)], [false, false], "a restart: another epoch"),
        ]
        for (batch, expected, why) in rows {
            #expect(HeartbeatMessage.withdrawnRequests(batch) == expected, "\(why)")
        }
    }

    /// SIGTERM during the node's own failover, just after the peer claimed (operator trial of
    /// session 32): the stop carries the handover on (make-before-break, the grace kept), and
    /// says so, instead of "no live standby to hand over to" with the peer active.
    @Test func aStopDuringAFailoverCarriesTheHandoverOn() {
        func packet(_ kind: HeartbeatMessage.Kind, _ role: Role, _ sequence: UInt64) -> HeartbeatMessage {
            HeartbeatMessage(kind: kind, sender: "b", bootEpoch: 7, sequence: sequence, role: role, priority: 100,
                             configSerial: 1, configDigest: .zero, pathIndex: 0, intervalMilliseconds: 10)
        }
        func transitions(_ actions: [Election.Action]) -> [String] {
            actions.compactMap { if case .transition(_, let to, let why) = $0 { return "\(to): \(why)" } else { return nil } }
        }
        var election = Election(settings: electionSettings(priority: 200))
        _ = election.started(at: .zero)
        _ = election.timerFired(at: .milliseconds(30))
        _ = election.heartbeatReceived(packet(.heartbeat, .standby, 1), at: .milliseconds(40))
        _ = election.failoverRequested(at: .milliseconds(45))
        _ = election.heartbeatReceived(packet(.claimed, .active, 2), at: .milliseconds(50))
        let stop = election.stopRequested(at: .milliseconds(52))
        #expect(transitions(stop) == ["stopping: stop requested during the failover handover: handing over to b"])
        #expect(!stop.contains { if case .release = $0 { return true } else { return false } }, "the VIPs stay for the grace")
        var left: [String] = []
        for ms in stride(from: UInt64(55), through: 120, by: 5) {
            let actions = election.timerFired(at: .milliseconds(ms))
            if actions.contains(where: { if case .release = $0 { return true } else { return false } }) { left.append("\(ms)") }
            _ = election.heartbeatReceived(packet(.heartbeat, .active, 2 + ms), at: .milliseconds(ms))
        }
        #expect(left == ["70"], "released once the grace (20 ms after the claim at 50) was over")
        #expect(election.isFinished)
    }

    /// A node that stops holding the VIPs with nobody to hand over to says so in its release
    /// notice (role `active`); one that handed them over, or never held them, does not.
    @Test func aReleaseNoticeSaysWhetherTheVIPsWereHeld() {
        func notice(_ actions: [Election.Action]) -> Election.Outgoing? {
            actions.lazy.compactMap { if case .send(let out) = $0, out.kind == .release { return out } else { return nil } }.first
        }
        var active = Election(settings: electionSettings())
        _ = active.started(at: .zero)
        _ = active.timerFired(at: .milliseconds(30))
        #expect(notice(active.stopRequested(at: .milliseconds(40)))?.role == .active)
        var standby = Election(settings: electionSettings())
        _ = standby.started(at: .zero)
        _ = standby.heartbeatReceived(HeartbeatMessage(kind: .heartbeat, sender: "b", bootEpoch: 1, sequence: 1, role: .active, priority: 100,
                                                       configSerial: 1, configDigest: .zero, pathIndex: 0, intervalMilliseconds: 10),
                                      at: .milliseconds(5))
        #expect(notice(standby.stopRequested(at: .milliseconds(10)))?.role == .stopping)
    }

    /// Issue 16 (idle cost): the active keeps its strict timer whenever its standby is heard.
    @Test func anActiveKeepsItsStrictTimerWhenTheStandbyIsHeard() {
        // An active hearing its standby early does not send early.
        var active = ElectionHarness(electionSettings(priority: 200))
        active.run([at(0, .start(holdingVIPs: false))] + peer(.standby, from: 38, through: 98), until: 100)
        #expect(active.election.role == .active)
        let activeSends = active.log.filter { $0.action.isSend && $0.ms > 40 }.map(\.ms)
        #expect(zip(activeSends, activeSends.dropFirst()).allSatisfy { $1 - $0 == 10 }, "\(activeSends)")
    }

    @Test func reasonsSayWhy() {
        var harness = ElectionHarness(electionSettings(priority: 200, preempt: true, preemptDelay: 50))
        harness.run([at(0, .start(holdingVIPs: false))] + peer(.active, from: 5, through: 65)
                        + peer(.standby, from: 75, through: 85), until: 130)
        #expect(harness.reasons == [
            "b is active; preempting after 50ms (priority 200 > 100)",
            "b is active with lower priority (priority 200 > 100) and preempt is on (heard it for 50ms, preempt delay 50ms)",
        ])
        var crash = ElectionHarness(electionSettings())
        crash.run([at(0, .start(holdingVIPs: false))] + peer(.active, from: 5, through: 45), until: 80)
        #expect(crash.reasons == ["b is active", "b silent for 30ms on all paths (dead time 30ms)"])
        var tie = ElectionHarness(electionSettings(node: "b", peer: "a"))
        tie.run([at(0, .start(holdingVIPs: false)), at(100, .heard(.heartbeat, .active, priority: 100))], until: 100)
        #expect(tie.reasons.last == "a is also active and wins (equal priority 100, tie broken by node name (a sorts before b))")
    }

    @Test func trackedInterfacesLowerTheAdvertisedPriority() {
        var election = Election(settings: electionSettings(priority: 100))
        _ = election.started(at: .zero)
        let down = election.trackedInterfaceChanged("eth2", isUp: false, at: .milliseconds(3))
        #expect(down.contains(.send(.init(kind: .heartbeat, role: .starting, priority: 40))))
        #expect(election.effectivePriority == 40)
        _ = election.trackedInterfaceChanged("eth2", isUp: true, at: .milliseconds(4))
        #expect(election.effectivePriority == 100)
        var low = Election(settings: electionSettings(priority: 20))
        _ = low.trackedInterfaceChanged("eth2", isUp: false, at: .zero)
        #expect(low.effectivePriority == 1)
    }

    @Test func configReloadAdvertisesTheNewPriorityAtOnce() {
        var harness = ElectionHarness(electionSettings())
        harness.run([at(0, .start(holdingVIPs: false)), at(5, .priority(180))], until: 5)
        #expect(harness.log.contains { $0.ms == 5 && $0.action == .send(.init(kind: .heartbeat, role: .starting, priority: 180)) })
    }

    @Test func anOlderRoundFromASlowerPathDoesNotRollThePeerBack() {
        var election = Election(settings: electionSettings())
        _ = election.started(at: .zero)
        func message(_ sequence: UInt64, _ role: Role, path: UInt8) -> HeartbeatMessage {
            HeartbeatMessage(kind: .heartbeat, sender: "b", bootEpoch: 1, sequence: sequence, role: role, priority: 100,
                             configSerial: 1, configDigest: .zero, pathIndex: path, intervalMilliseconds: 10)
        }
        _ = election.heartbeatReceived(message(11, .standby, path: 0), at: .milliseconds(5))
        _ = election.heartbeatReceived(message(10, .active, path: 1), at: .milliseconds(6))
        #expect(election.peer?.role == .standby)
        #expect(election.peer?.lastHeard == .milliseconds(6))
    }

    /// The verifier accepted an older epoch after the peer answered a challenge (it restarted
    /// with its clock behind, issue 13): the election takes it as the peer's new life.
    @Test func anOlderEpochTheVerifierAcceptedIsThePeersNewLife() {
        var election = Election(settings: electionSettings())
        _ = election.started(at: .zero)
        func message(epoch: UInt64, _ sequence: UInt64, _ role: Role) -> HeartbeatMessage {
            HeartbeatMessage(kind: .heartbeat, sender: "b", bootEpoch: epoch, sequence: sequence, role: role, priority: 100,
                             configSerial: 1, configDigest: .zero, pathIndex: 0, intervalMilliseconds: 10)
        }
        _ = election.heartbeatReceived(message(epoch: 1000, 50, .active), at: .milliseconds(5))
        _ = election.heartbeatReceived(message(epoch: 500, 3, .standby), at: .milliseconds(900))
        #expect(election.peer?.role == .standby)
        #expect(election.peer?.bootEpoch == 500)
        #expect(election.peer?.lastHeard == .milliseconds(900))
    }

    @Test func ignoresPacketsFromOtherSenders() {
        var election = Election(settings: electionSettings())
        _ = election.started(at: .zero)
        let stranger = HeartbeatMessage(kind: .heartbeat, sender: "mallory", bootEpoch: 1, sequence: 1, role: .active,
                                        priority: 255, configSerial: 1, configDigest: .zero, pathIndex: 0,
                                        intervalMilliseconds: 10)
        #expect(election.heartbeatReceived(stranger, at: .milliseconds(1)) == [])
        #expect(election.peer == nil)
    }

    @Test func settingsFromConfig() throws {
        let config = Config(
            serial: 1,
            nodes: [Node(name: "lvs-a", heartbeatAddresses: [], priority: 150,
                         trackInterfaces: [TrackedInterface(interface: "eth0", effect: .fault)]),
                    Node(name: "lvs-b", heartbeatAddresses: [], priority: 100, trackInterfaces: [])],
            heartbeat: HeartbeatSettings(interval: .milliseconds(10), deadTime: .milliseconds(30), authentication: .none),
            election: ElectionSettings(preempt: true, preemptDelay: .seconds(5)), announce: AnnounceSettings(),
            virtualIPs: [], virtualServers: [], sync: nil, standbyTable: .warm, ipvsTimeouts: nil,
            notify: NotifySettings(), control: ControlSettings(), stateDirectory: "/var/lib/tandem")
        let settings = try Election.Settings(config: config, nodeName: "lvs-b")
        #expect(settings.peerName == "lvs-a")
        #expect(settings.priority == 100)
        #expect(settings.preempt)
        #expect(settings.preemptDelay == .seconds(5))
        #expect(settings.deadTime == .milliseconds(30))
        #expect(settings.handoverTimeout == .seconds(1))
        #expect(throws: ElectionSettingsError.unknownNode("lvs-c", known: ["lvs-a", "lvs-b"])) {
            try Election.Settings(config: config, nodeName: "lvs-c")
        }
    }
}
