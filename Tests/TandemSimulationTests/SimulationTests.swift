import Foundation
import Testing
@testable import TandemCore

/// Runs the pair through the fault simulator (`PairSimulation`). The default budget is what CI
/// runs; a longer run is `TANDEM_SIM_HOURS=2000 swift test --filter Simulation` (see
/// docs/simulation.md). One seed that failed replays with `TANDEM_SIM_SEED=N`.
@Suite struct SimulationTests {
    static var environment: [String: String] { ProcessInfo.processInfo.environment }

    /// Simulated hours for this run (CI: 10), and the first seed.
    static var budgetHours: Double { environment["TANDEM_SIM_HOURS"].flatMap(Double.init) ?? 10 }
    static var firstSeed: UInt64 { environment["TANDEM_SIM_FIRST_SEED"].flatMap { UInt64($0) } ?? 1 }
    /// Simulated time per seed.
    static let hoursPerSeed = 0.25

    /// Runs `body` on a thread of its own: a run takes about a minute of CPU, and holding one of
    /// the cooperative pool's threads (two on a 2-core host) that long starves the other suites'
    /// awaits (wall-clock tests such as KernelWorkerReadTests failed under it).
    static func offThePool<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: body()) }.start()
        }
    }

    @Test func seedsKeepEveryInvariant() async {
        let failures = await Self.offThePool { Self.runSeeds() }
        for failure in failures { Issue.record("\(failure)") }
    }

    static func runSeeds() -> [String] {
        if let text = Self.environment["TANDEM_SIM_SEED"], let seed = UInt64(text) {
            let simulation = PairSimulation(seed: seed)
            simulation.run(durationMs: UInt64(Self.hoursPerSeed * 3_600_000))
            return simulation.violation.map { ["\($0)"] } ?? []
        }
        let seeds = max(1, Int(Self.budgetHours / Self.hoursPerSeed))
        var total = PairSimulation.Statistics()
        let started = ContinuousClock.now
        var failures: [PairSimulation.Violation] = []
        for seed in Self.firstSeed..<(Self.firstSeed + UInt64(seeds)) {
            let simulation = PairSimulation(seed: seed)
            simulation.run(durationMs: UInt64(Self.hoursPerSeed * 3_600_000))
            let s = simulation.statistics
            total.events += s.events
            total.faults += s.faults
            total.requests += s.requests
            total.roleChanges += s.roleChanges
            total.crashes += s.crashes
            total.longestDualMs = max(total.longestDualMs, s.longestDualMs)
            total.longestOutageMs = max(total.longestOutageMs, s.longestOutageMs)
            total.configsApplied += s.configsApplied
            total.longestDivergenceMs = max(total.longestDivergenceMs, s.longestDivergenceMs)
            if let violation = simulation.violation { failures.append(violation) }
            if failures.count >= 3, Self.environment["TANDEM_SIM_ALL"] == nil { break }
        }
        let elapsed = ContinuousClock.now - started
        print("simulation: \(seeds) seeds x \(Self.hoursPerSeed) h = \(Double(seeds) * Self.hoursPerSeed) simulated hours in \(elapsed): \(total.events) events, \(total.faults) faults, \(total.crashes) crashes, \(total.requests) requests, \(total.roleChanges) role changes; longest dual holding \(total.longestDualMs)ms, longest outage \(total.longestOutageMs)ms; \(total.configsApplied) configs replicated, longest config divergence \(total.longestDivergenceMs)ms; \(failures.count) seeds failed")
        if Self.environment["TANDEM_SIM_ALL"] != nil {
            for failure in failures { print("FAILED seed \(failure.seed) at \(failure.atMs)ms: \(failure.what)") }
        }
        return failures.map { "\($0)" }
    }

    @Test func aSeedReplaysExactly() {
        let first = PairSimulation(seed: 42)
        first.run(durationMs: 600_000)
        let second = PairSimulation(seed: 42)
        second.run(durationMs: 600_000)
        #expect(first.statistics.events == second.statistics.events)
        #expect(first.statistics.roleChanges == second.statistics.roleChanges)
        #expect(first.nodes.map(\.kernelVIPs) == second.nodes.map(\.kernelVIPs))
        #expect(first.statistics.events > 1000)
    }
}
