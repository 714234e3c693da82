import Foundation
import Testing
@testable import TandemCore

/// Two elections wired together through the real wire format: each `send` is encoded with
/// HMAC-SHA256 on two paths (1 ms and 2 ms latency), each delivery goes through the receiver's
/// `HeartbeatVerifier` before its election sees it. A manual clock, an event queue, no I/O.
struct ElectionPair {
    struct Member {
        var election: Election
        var verifier: HeartbeatVerifier
        var epoch: UInt64
        var sequence: UInt64 = 0
        var timer: MonotonicInstant?
        var holdsVIPs = false
        var down = false
    }

    enum Event {
        case deliver(to: Int, bytes: [UInt8])
        case call(Int, @Sendable (inout Election, MonotonicInstant) -> [Election.Action])
    }

    static let authenticator = HMACHeartbeatAuthenticator(
        key: try! HeartbeatKey(fileContents: Data("pair-test-key-0123456789abcdef\n".utf8), path: "pair.key"))

    var members: [Member]
    var now = MonotonicInstant.zero
    var queue: [(at: MonotonicInstant, order: Int, event: Event)] = []
    var order = 0
    /// Heartbeat link cut (both paths).
    var partitioned = false
    /// Every packet that went on the wire, for replay attacks.
    var captured: [(sender: Int, path: Int, bytes: [UInt8])] = []
    /// (ms, node, action) in the order performed.
    var log: [(ms: UInt64, node: String, action: Election.Action)] = []
    /// Number of nodes holding the VIPs after each instant at which it changed.
    var holderHistory: [(ms: UInt64, holders: Int)] = []

    init(a: Election.Settings, b: Election.Settings) {
        members = [a, b].enumerated().map { index, settings in
            Member(election: Election(settings: settings),
                   verifier: HeartbeatVerifier(peerName: settings.peerName, pathCount: 2, authenticator: Self.authenticator),
                   epoch: 1000 + UInt64(index))
        }
    }

    func name(_ index: Int) -> String { members[index].election.settings.nodeName }

    mutating func schedule(_ ms: UInt64, _ node: Int, _ call: @escaping @Sendable (inout Election, MonotonicInstant) -> [Election.Action]) {
        enqueue(.milliseconds(ms), .call(node, call))
    }

    mutating func inject(_ ms: UInt64, to node: Int, _ bytes: [UInt8]) {
        enqueue(.milliseconds(ms), .deliver(to: node, bytes: bytes))
    }

    private mutating func enqueue(_ at: MonotonicInstant, _ event: Event) {
        order += 1
        queue.append((at, order, event))
    }

    /// Crash: the node stops sending, receiving and deciding; its VIPs vanish with it.
    mutating func crash(_ node: Int) {
        members[node].down = true
        members[node].timer = nil
        if members[node].holdsVIPs {
            members[node].holdsVIPs = false
            recordHolders()
        }
    }

    mutating func run(until end: UInt64) {
        let limit = MonotonicInstant.milliseconds(end)
        var steps = 0
        while steps < 1_000_000 {
            steps += 1
            let nextQueued = queue.indices.min { (queue[$0].at, queue[$0].order) < (queue[$1].at, queue[$1].order) }
            let nextTimer = members.indices.filter { members[$0].timer != nil && !members[$0].down }
                .min { members[$0].timer! < members[$1].timer! }
            let queuedAt = nextQueued.map { queue[$0].at }
            let timerAt = nextTimer.map { members[$0].timer! }
            // Deliveries before timers at the same instant, as the daemon must.
            if let queuedAt, queuedAt <= limit, timerAt == nil || queuedAt <= timerAt! {
                let entry = queue.remove(at: nextQueued!)
                now = entry.at
                switch entry.event {
                case .deliver(let to, let bytes):
                    guard !members[to].down else { continue }
                    if case .accepted(let message, _) = members[to].verifier.verify(bytes, at: now) {
                        perform(to, members[to].election.heartbeatReceived(message, at: now))
                    }
                case .call(let node, let call):
                    guard !members[node].down else { continue }
                    perform(node, call(&members[node].election, now))
                }
            } else if let timerAt, timerAt <= limit, let node = nextTimer {
                now = timerAt
                members[node].timer = nil
                perform(node, members[node].election.timerFired(at: now))
            } else {
                break
            }
        }
        now = limit
    }

    private mutating func perform(_ node: Int, _ actions: [Election.Action]) {
        for action in actions {
            log.append((now.nanoseconds / 1_000_000, name(node), action))
            switch action {
            case .claim:
                members[node].holdsVIPs = true
                recordHolders()
            case .release:
                members[node].holdsVIPs = false
                recordHolders()
            case .send(let outgoing):
                members[node].sequence += 1
                for path in 0..<2 {
                    let message = HeartbeatMessage(
                        kind: outgoing.kind, sender: name(node), bootEpoch: members[node].epoch,
                        sequence: members[node].sequence, role: outgoing.role, priority: outgoing.priority,
                        configSerial: 1, configDigest: .zero, pathIndex: UInt8(path),
                        intervalMilliseconds: outgoing.intervalMilliseconds(configured: 10))
                    let bytes = try! HeartbeatCodec.encode(message, authenticator: Self.authenticator)
                    captured.append((node, path, bytes))
                    if !partitioned {
                        enqueue(now.adding(milliseconds: UInt64(1 + path)), .deliver(to: 1 - node, bytes: bytes))
                    }
                }
            case .scheduleTimer(let at):
                members[node].timer = at
            case .finished:
                members[node].down = true
                members[node].timer = nil
            case .transition, .announce, .notify, .rejected, .alert:
                break
            }
        }
    }

    private mutating func recordHolders() {
        holderHistory.append((now.nanoseconds / 1_000_000, members.filter(\.holdsVIPs).count))
    }

    /// Holders as of the end of instant `ms`.
    func holders(at ms: UInt64) -> Int {
        holderHistory.last { $0.ms <= ms }?.holders ?? 0
    }

    func firstTime(_ node: Int, _ matches: (Election.Action) -> Bool, after ms: UInt64 = 0) -> UInt64? {
        log.first { $0.node == name(node) && $0.ms >= ms && matches($0.action) }?.ms
    }

    static func isClaim(_ action: Election.Action) -> Bool { if case .claim = action { return true } else { return false } }
    static func isRelease(_ action: Election.Action) -> Bool { if case .release = action { return true } else { return false } }
    static func isAnnounce(_ action: Election.Action) -> Bool { if case .announce = action { return true } else { return false } }
}

private func pair(aPriority: Int = 150, bPriority: Int = 100) -> ElectionPair {
    var pair = ElectionPair(a: electionSettings(node: "a", peer: "b", priority: aPriority),
                            b: electionSettings(node: "b", peer: "a", priority: bPriority))
    pair.schedule(0, 0) { election, now in election.started(at: now) }
    pair.schedule(3, 1) { election, now in election.started(at: now) }
    return pair
}

@Suite("Election pair over the wire")
struct ElectionPairTests {
    @Test func bothStartTheHigherPriorityIsActiveAndNeverTwo() {
        var p = pair()
        p.run(until: 100)
        #expect(p.members[0].election.role == .active)
        #expect(p.members[1].election.role == .standby)
        #expect(p.holderHistory.allSatisfy { $0.holders <= 1 })
        #expect(p.firstTime(0, ElectionPair.isClaim)! <= 5)
    }

    /// Issue 16: in a settled pair the active sends every interval on its strict timer and the
    /// standby every standby interval (100 ms here), with one of the active's: neither falls
    /// silent, and the active judges the standby by the interval it advertises, so it never
    /// loses it or re-announces.
    @Test func aSettledPairSendsEveryIntervalAndEveryStandbyInterval() {
        var p = pair()
        p.run(until: 10_000)
        #expect(p.members[0].election.role == .active && p.members[1].election.role == .standby)
        for (node, every, low, high) in [(0, 10, UInt64(10), UInt64(10)), (1, 100, 95, 102)] {
            let sends = p.log.filter { $0.node == p.name(node) && $0.action.isSend && $0.ms >= 1_000 }.map(\.ms)
            #expect((9_000 / every - 1...9_000 / every + 1).contains(sends.count), "\(p.name(node)): \(sends.count) sends in 9 s")
            let gaps = zip(sends, sends.dropFirst()).map { $1 - $0 }
            #expect(gaps.allSatisfy { (low...high).contains($0) }, "\(p.name(node)): gaps \(Set(gaps).sorted())")
        }
        #expect(!p.log.contains { $0.ms >= 1_000 && ElectionPair.isAnnounce($0.action) })
        #expect(p.members[0].election.peerIsAlive(at: p.now))
    }

    @Test func activeCrashStandbyTakesOverWithinTheDeadTime() {
        var p = pair()
        p.run(until: 100)
        p.crash(0)
        p.run(until: 300)
        let takeover = p.firstTime(1, ElectionPair.isClaim, after: 100)!
        // Last heartbeat sent before 100 arrived at most an interval earlier; dead time 30 ms.
        #expect((121...131).contains(takeover), "takeover at \(takeover)ms")
        #expect(p.members[1].election.role == .active)
    }

    @Test func gracefulStopIsMakeBeforeBreak() {
        var p = pair()
        p.run(until: 100)
        p.schedule(100, 0) { election, now in election.stopRequested(at: now) }
        p.run(until: 300)
        let claim = p.firstTime(1, ElectionPair.isClaim, after: 100)!
        let release = p.firstTime(0, ElectionPair.isRelease, after: 100)!
        #expect(claim < release)
        // Released once the grace after the claim is over (packets in flight still answered).
        let grace = Int(p.members[0].election.releaseGrace.milliseconds)
        #expect(release - claim >= grace && release - 100 <= grace + 10, "claim \(claim), release \(release)")
        #expect((10...300).allSatisfy { p.holders(at: $0) >= 1 }, "\(p.holderHistory)")
        #expect(p.members[0].election.isFinished)
        #expect(p.members[1].election.role == .active)
    }

    @Test func manualFailoverIsMakeBeforeBreak() {
        var p = pair()
        p.run(until: 100)
        p.schedule(100, 0) { election, now in election.failoverRequested(at: now) }
        p.run(until: 300)
        let claim = p.firstTime(1, ElectionPair.isClaim, after: 100)!
        let release = p.firstTime(0, ElectionPair.isRelease, after: 100)!
        #expect(claim < release)
        #expect((10...300).allSatisfy { p.holders(at: $0) >= 1 })
        #expect(p.members[0].election.role == .standby)
        #expect(p.members[1].election.role == .active)
    }

    @Test func failoverRunOnTheStandbyIsMakeBeforeBreak() {
        var p = pair()
        p.run(until: 100)
        p.schedule(100, 1) { election, now in election.failoverRequested(at: now) }
        p.run(until: 300)
        let claim = p.firstTime(1, ElectionPair.isClaim, after: 100)!
        let release = p.firstTime(0, ElectionPair.isRelease, after: 100)!
        #expect(claim < release)
        let grace = Int(p.members[0].election.releaseGrace.milliseconds)
        #expect(release - claim >= grace && release - 100 <= grace + 15, "claim \(claim), release \(release)")
        #expect((10...300).allSatisfy { p.holders(at: $0) >= 1 })
        #expect(p.members[0].election.role == .standby)
        #expect(p.members[1].election.role == .active)
    }

    @Test func partitionThenHealResolvesWithinTwoIntervals() {
        var p = pair()
        p.run(until: 100)
        p.partitioned = true
        p.run(until: 200)
        #expect(p.holders(at: 200) == 2)
        p.partitioned = false
        p.run(until: 400)
        let release = p.firstTime(1, ElectionPair.isRelease, after: 200)!
        #expect(release - 200 <= 20, "loser released at \(release)ms")
        #expect(p.firstTime(0, ElectionPair.isAnnounce, after: 200)! - 200 <= 20)
        #expect(p.holders(at: 400) == 1)
        #expect(p.members[0].election.role == .active)
    }

    @Test func replayedAndForgedPacketsNeverReachTheElection() {
        var p = pair()
        p.run(until: 100)
        let recorded = p.captured.filter { $0.sender == 0 && $0.path == 0 }.map(\.bytes)
        p.crash(0)
        // The attacker replays a's recorded heartbeats to b, and forges fresh ones with the wrong key
        // and without a tag, claiming a is active with priority 255.
        let wrongKey = HMACHeartbeatAuthenticator(
            key: try! HeartbeatKey(fileContents: Data("not-the-pair-key-0123456789".utf8), path: "x"))
        for (index, ms) in stride(from: UInt64(100), through: 300, by: 5).enumerated() {
            p.inject(ms, to: 1, recorded[index % recorded.count])
            let forged = HeartbeatMessage(kind: .heartbeat, sender: "a", bootEpoch: 9999, sequence: UInt64(index + 1),
                                          role: .active, priority: 255, configSerial: 1, configDigest: .zero,
                                          pathIndex: 0, intervalMilliseconds: 10)
            p.inject(ms, to: 1, try! HeartbeatCodec.encode(forged, authenticator: wrongKey))
            p.inject(ms, to: 1, try! HeartbeatCodec.encode(forged, authenticator: nil))
        }
        p.run(until: 300)
        let takeover = p.firstTime(1, ElectionPair.isClaim, after: 100)!
        #expect((121...131).contains(takeover))
        #expect(p.members[1].election.role == .active)
        let counters = p.members[1].verifier.counters
        #expect(counters.replayed == 41)
        #expect(counters.unauthenticated == 82)
    }

    @Test func aForgedReleaseNoticeDoesNotMoveTheVIPs() {
        var p = pair()
        p.run(until: 100)
        let wrongKey = HMACHeartbeatAuthenticator(
            key: try! HeartbeatKey(fileContents: Data("not-the-pair-key-0123456789".utf8), path: "x"))
        let forged = HeartbeatMessage(kind: .release, sender: "a", bootEpoch: 5000, sequence: 1, role: .stopping,
                                      priority: 1, configSerial: 1, configDigest: .zero, pathIndex: 0,
                                      intervalMilliseconds: 10)
        p.inject(105, to: 1, try! HeartbeatCodec.encode(forged, authenticator: wrongKey))
        p.run(until: 200)
        #expect(p.members[1].election.role == .standby)
        #expect(p.members[0].election.role == .active)
        #expect(p.members[1].verifier.counters.unauthenticated == 1)
    }
}
