import Foundation
import Testing
import TandemCore
import TandemSimulation

/// Runs the pair through the fault simulator (`PairSimulation`) in the debug build: a small
/// budget that keeps `swift test` quick. The CI budget (2,000 simulated hours) runs in a release
/// build through `tandem-sim` (integration/test-all); `TANDEM_SIM_HOURS` raises this one, and
/// `TANDEM_SIM_SEED=N` replays one seed here.
@Suite struct SimulationTests {
    static var environment: [String: String] { ProcessInfo.processInfo.environment }

    /// Runs `body` on a thread of its own: holding one of the cooperative pool's threads (two on
    /// a 2-core host) for long starves the other suites' awaits (wall-clock tests failed under it).
    static func offThePool<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: body()) }.start()
        }
    }

    @Test func seedsKeepEveryInvariant() async {
        let failures = await Self.offThePool { () -> [String] in
            if let text = Self.environment["TANDEM_SIM_SEED"], let seed = UInt64(text) {
                return SimulationRunner.run(seed: seed, hours: 0.25).violation.map { ["\($0)"] } ?? []
            }
            let hours = Self.environment["TANDEM_SIM_HOURS"].flatMap(Double.init) ?? 1
            let first = Self.environment["TANDEM_SIM_FIRST_SEED"].flatMap { UInt64($0) } ?? 1
            let report = SimulationRunner.run(SimulationRunner.Budget(hours: hours, firstSeed: first))
            print("simulation: \(report.summary)")
            return report.failures.map { "\($0)" }
        }
        for failure in failures { Issue.record("\(failure)") }
    }

    @Test func aSeedReplaysExactly() {
        let first = SimulationRunner.run(seed: 42, hours: 1.0 / 6)
        let second = SimulationRunner.run(seed: 42, hours: 1.0 / 6)
        #expect(first.statistics.events == second.statistics.events)
        #expect(first.statistics.roleChanges == second.statistics.roleChanges)
        #expect(first.statistics.configsApplied == second.statistics.configsApplied)
        #expect(first.kernelVIPs == second.kernelVIPs)
        #expect(first.statistics.events > 1000)
    }

    @Test func theRunnerSumsTheSameOnOneThreadOrTwo() {
        var budget = SimulationRunner.Budget(hours: 0.1, firstSeed: 7, jobs: 1)
        budget.hoursPerSeed = 0.05
        let one = SimulationRunner.run(budget)
        budget.jobs = 2
        let two = SimulationRunner.run(budget)
        #expect(one.seedsRun == 2 && two.seedsRun == 2)
        #expect(one.statistics.events == two.statistics.events)
        #expect(one.statistics.longestOutageMs == two.statistics.longestOutageMs)
    }
}
