import Logging
import NIOCore
import NIOPosix
import Testing
import TandemCore
import TandemDaemon
@testable import TandemHealth
import TandemTesting

/// Parts that used to read a clock of their own, driven by an injected `ManualClock`.
@Suite struct InjectedClockTests {
    let server = RealServerID(service: "web", address: IPAddress("10.0.1.1")!, port: 80)

    /// Waits (bounded, in real time) until `condition` holds.
    func eventually(_ condition: () -> Bool) async throws -> Bool {
        for _ in 0..<300 {
            if condition() { return true }
            try await Task.sleep(for: .milliseconds(10))
        }
        return condition()
    }

    @Test func theHealthMonitorChecksAndDatesOnItsClock() async throws {
        let clock = ManualClock()
        let start = clock.now()
        let prober = ScriptedProber()
        prober.set(.failure("connection refused"), for: server)
        let monitor = HealthMonitor(group: MultiThreadedEventLoopGroup.singleton, prober: prober, clock: clock)
        defer { monitor.stop() }
        let check = HealthCheck(probe: .tcp(port: nil, send: nil, expect: nil), interval: .seconds(10), timeout: .seconds(1),
                                rise: 1, fall: 1)
        monitor.apply(targets: [HealthTarget(server: server, check: check, weight: 10, probePort: 80)])
        #expect(monitor.snapshot().map(\.since) == [start])

        // Real time passes, the clock stands still: the first check (within the first 10 s) never comes.
        try await Task.sleep(for: .milliseconds(100))
        #expect(prober.count(server) == 0)

        clock.advance(milliseconds: 10_005)
        #expect(try await eventually { monitor.snapshot().first?.status == .down })
        let entry = try #require(monitor.snapshot().first)
        #expect(entry.since == start.adding(milliseconds: 10_005))
        #expect(entry.lastCheck == start.adding(milliseconds: 10_005))
        #expect(monitor.now() == start.adding(milliseconds: 10_005))

        // The next check is due 10 s after the first slot, on the clock: none before it moves again.
        try await Task.sleep(for: .milliseconds(100))
        #expect(prober.count(server) == 1)
        clock.advance(milliseconds: 10_000)
        #expect(try await eventually { prober.count(server) == 2 })
    }

    @Test func logLinesAreDatedByTheClock() {
        let clock = ManualClock(wallNanoseconds: 1_764_460_800_123_000_000)
        let lines = LockedBox<[String]>([])
        let logger = Logger(label: "test") { _ in
            TandemLogHandler(label: "lvs-a", clock: clock, write: { line in lines.withLock { $0.append(line) } })
        }
        logger.notice("role standby -> active")
        clock.advance(milliseconds: 1_500)
        logger.info("later")
        #expect(lines.withLock { $0 } == ["2025-11-30T00:00:00.123Z notice lvs-a: role standby -> active\n",
                                          "2025-11-30T00:00:01.623Z info lvs-a: later\n"])
    }
}
