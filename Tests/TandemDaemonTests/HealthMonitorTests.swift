import NIOCore
import NIOPosix
import Synchronization
import Testing
import TandemCore
@testable import TandemHealth

/// A prober whose results the test sets per real server; counts probes.
final class ScriptedProber: HealthProber {
    private let state = Mutex<(results: [RealServerID: ProbeResult], counts: [RealServerID: Int])>(([:], [:]))

    func set(_ result: ProbeResult, for server: RealServerID) { state.withLock { $0.results[server] = result } }
    func count(_ server: RealServerID) -> Int { state.withLock { $0.counts[server] ?? 0 } }

    func probe(_ target: HealthTarget, on eventLoop: any EventLoop) -> EventLoopFuture<ProbeResult> {
        let result = state.withLock { s -> ProbeResult in
            s.counts[target.server, default: 0] += 1
            return s.results[target.server] ?? .failure("no script")
        }
        return eventLoop.makeSucceededFuture(result)
    }
}

/// Collects updates.
final class UpdateLog: Sendable {
    private let items = Mutex<[HealthMonitor.HealthUpdate]>([])
    func append(_ u: HealthMonitor.HealthUpdate) { items.withLock { $0.append(u) } }
    var all: [HealthMonitor.HealthUpdate] { items.withLock { $0 } }
}

private func server(_ n: Int) -> RealServerID { RealServerID(service: "web", address: IPAddress("10.0.1.\(n)")!, port: 80) }

private func targets(_ count: Int, interval: TimeSpan = .milliseconds(20), probe: HealthCheck.Probe = .tcp(port: nil, send: nil, expect: nil),
                     rise: Int = 2, fall: Int = 2, warmup: TimeSpan? = nil) -> [HealthTarget] {
    (1...count).map {
        HealthTarget(server: server($0), check: HealthCheck(probe: probe, interval: interval, timeout: .milliseconds(10),
                                                            rise: rise, fall: fall, warmup: warmup),
                     weight: 10, probePort: 80)
    }
}

/// Waits (bounded) until `condition` holds.
private func eventually(_ seconds: Double = 3, _ condition: () -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try await Task.sleep(for: .milliseconds(10))
    }
    return condition()
}

@Suite(.serialized) struct HealthMonitorTests {
    @Test func followsResultsThroughRiseAndFall() async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        let prober = ScriptedProber()
        let log = UpdateLog()
        let monitor = HealthMonitor(group: group, prober: prober, onUpdate: log.append)
        defer { monitor.stop() }
        prober.set(.success("ok"), for: server(1))
        prober.set(.failure("refused"), for: server(2))
        monitor.apply(targets: targets(2))
        #expect(try await eventually { log.all.count == 2 })
        #expect(Set(log.all.map { "\($0.server.address) \($0.change!.old)→\($0.change!.new)" }) == ["10.0.1.1 unknown→up", "10.0.1.2 unknown→down"])
        #expect(monitor.tableInputs().down == [server(2)])

        // Server 1 fails: down after fall (2) checks; server 2 recovers after rise (2).
        let before = prober.count(server(1))
        prober.set(.failure("timed out"), for: server(1))
        prober.set(.success("ok"), for: server(2))
        #expect(try await eventually { log.all.count == 4 })
        let last = log.all.suffix(2)
        let down1 = try #require(last.first { $0.server == server(1) })
        #expect(down1.change?.new == .down && down1.weight == nil)
        #expect(down1.change?.reason == "2 consecutive failures (fall 2); last failed: timed out")
        #expect(prober.count(server(1)) - before >= 2)
        #expect(last.first { $0.server == server(2) }?.change?.new == .up)
        #expect(monitor.tableInputs().down == [server(1)])
        let snap = monitor.snapshot()
        #expect(snap.map(\.status) == [.down, .up])
        #expect(snap[0].lastResult == .failure("timed out"))
    }

    @Test func checksRunAtTheirIntervalWithoutBursts() async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        let prober = ScriptedProber()
        let monitor = HealthMonitor(group: group, prober: prober)
        prober.set(.success("ok"), for: server(1))
        // The window is measured, not assumed: on a loaded host the test's own sleep can last
        // well over its second, and the checks that ran meanwhile were on time, not a burst.
        let clock = ContinuousClock()
        let started = clock.now
        monitor.apply(targets: targets(1, interval: .milliseconds(50)))
        try await Task.sleep(for: .milliseconds(1000))
        monitor.stop()
        let elapsed = started.duration(to: clock.now)
        let n = prober.count(server(1))
        let intervals = Int(elapsed / .milliseconds(50))
        // One check at the start and one per interval after it; never more (no catch-up burst),
        // and not far fewer on a quiet-enough host.
        #expect((intervals / 2...intervals + 2).contains(n), "\(n) checks in \(elapsed) at 50 ms")
        try await Task.sleep(for: .milliseconds(200))
        #expect(prober.count(server(1)) == n, "no checks after stop")
    }

    @Test func reloadKeepsUnchangedStateAndStopsRemovedTargets() async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        let prober = ScriptedProber()
        let log = UpdateLog()
        let monitor = HealthMonitor(group: group, prober: prober, onUpdate: log.append)
        defer { monitor.stop() }
        prober.set(.failure("refused"), for: server(1))
        prober.set(.failure("refused"), for: server(2))
        monitor.apply(targets: targets(2))
        #expect(try await eventually { monitor.tableInputs().down.count == 2 })
        // Reload: server 1 unchanged (new rise), server 2 removed, server 3 added.
        var next = targets(3, rise: 5)
        next.remove(at: 1)
        prober.set(.success("ok"), for: server(3))
        monitor.apply(targets: next)
        #expect(try await eventually { monitor.snapshot().count == 2 && monitor.snapshot()[1].status == .up })
        #expect(monitor.tableInputs().down == [server(1)]) // kept its down state, no unknown phase
        let removedCount = prober.count(server(2))
        try await Task.sleep(for: .milliseconds(100))
        #expect(prober.count(server(2)) == removedCount)
        // Server 1 now needs 5 successes.
        prober.set(.success("ok"), for: server(1))
        let start = prober.count(server(1))
        #expect(try await eventually { !monitor.tableInputs().down.contains(server(1)) })
        #expect(prober.count(server(1)) - start >= 5)
    }

    /// A reload that keeps a target's key but changes its settings: the running schedule takes
    /// the new interval at its next check, and the state is kept.
    @Test func reloadAppliesNewSettingsToKeptTargets() async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        let prober = ScriptedProber()
        let monitor = HealthMonitor(group: group, prober: prober)
        defer { monitor.stop() }
        prober.set(.success("ok"), for: server(1))
        monitor.apply(targets: targets(1, interval: .milliseconds(400)))
        #expect(try await eventually { monitor.snapshot().first?.status == .up })
        monitor.apply(targets: targets(1, interval: .milliseconds(10)))
        let start = prober.count(server(1))
        // At 400 ms this takes about 8 s; at 10 ms about 0.2 s after the one slot still at 400 ms.
        #expect(try await eventually(3) { prober.count(server(1)) - start >= 20 })
        #expect(monitor.snapshot().map(\.status) == [.up])
    }

    @Test func warmupPublishesWeightSteps() async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        let prober = ScriptedProber()
        let log = UpdateLog()
        let monitor = HealthMonitor(group: group, prober: prober, onUpdate: log.append)
        defer { monitor.stop() }
        prober.set(.failure("refused"), for: server(1))
        monitor.apply(targets: targets(1, rise: 1, warmup: .milliseconds(500)))
        #expect(try await eventually { monitor.tableInputs().down.count == 1 })
        prober.set(.success("ok"), for: server(1))
        #expect(try await eventually { log.all.last?.weight == 10 })
        // Steps in order, ending at the full weight (a loaded machine may run late and skip steps).
        let weights = log.all.compactMap(\.weight)
        #expect(weights.count >= 2 && weights.first! < 10 && weights.last == 10)
        #expect(weights == weights.sorted() && Set(weights).count == weights.count)
    }

    @Test func agentWeightChangesArePublished() async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        let prober = ScriptedProber()
        let log = UpdateLog()
        let monitor = HealthMonitor(group: group, prober: prober, onUpdate: log.append)
        defer { monitor.stop() }
        prober.set(.agent(AgentReply(availability: .up), text: "up"), for: server(1))
        monitor.apply(targets: targets(1, probe: .agent(port: 5555, send: nil)))
        #expect(try await eventually { log.all.count == 1 })
        prober.set(.agent(AgentReply(weightPercent: 50), text: "50%"), for: server(1))
        #expect(try await eventually { log.all.count == 2 })
        #expect(log.all[1].change == nil && log.all[1].weight == 5)
        #expect(monitor.tableInputs().weights == [server(1): 5])
        try await Task.sleep(for: .milliseconds(100))
        #expect(log.all.count == 2, "an unchanged weight is not republished")
    }
}

@Suite struct HealthMonitorServiceTests {
    @Test func cancellingRunStopsChecksAndFinishesUpdates() async throws {
        let prober = ScriptedProber()
        prober.set(.success("ok"), for: server(1))
        let monitor = HealthMonitor(group: MultiThreadedEventLoopGroup.singleton, prober: prober)
        monitor.apply(targets: targets(1))
        let task = Task { try await monitor.run() }
        #expect(try await eventually { prober.count(server(1)) >= 2 })
        task.cancel()
        _ = try? await task.value
        let n = prober.count(server(1))
        var updates: [HealthMonitor.HealthUpdate] = []
        for await u in monitor.updates { updates.append(u) } // ends: the stream is finished
        #expect(updates.count == 1)
        try await Task.sleep(for: .milliseconds(100))
        #expect(prober.count(server(1)) == n)
    }
}
