import ArgumentParser
import Foundation
import TandemSimulation

/// `tandem-sim`: runs the pair through the fault simulator (docs/architecture.md, "The pair
/// simulator"). Build it in release: `swift build -c release --product tandem-sim`.
@main
struct TandemSim: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tandem-sim",
        abstract: "Run two Tandem nodes through simulated faults and check the pair's invariants.",
        discussion: """
        Each seed is one deterministic run of 15 simulated minutes; a failing seed prints its trace and \
        replays exactly with --seed. Exit status: 0 when every seed kept every invariant, 1 otherwise.
        """)

    @Option(help: "Simulated hours in all (whole seeds of 0.25 h).")
    var hours: Double = 2000

    @Option(help: "The first seed of the range.")
    var firstSeed: UInt64 = 1

    @Option(help: "Replay this one seed and print its trace if it fails.")
    var seed: UInt64?

    @Option(help: "Threads running seeds at once (default: the CPUs online).")
    var jobs: Int = ProcessInfo.processInfo.activeProcessorCount

    @Flag(help: "Run every seed and list every failure (default: stop after 3 failed seeds).")
    var all = false

    mutating func run() throws {
        if let seed {
            let simulation = SimulationRunner.run(seed: seed, hours: 0.25)
            if let violation = simulation.violation {
                print(violation)
                throw ExitCode(1)
            }
            print("seed \(seed): every invariant held; \(simulation.statistics.events) events")
            return
        }
        var budget = SimulationRunner.Budget(hours: hours, firstSeed: firstSeed, jobs: jobs)
        if all { budget.stopAfterFailures = nil }
        let started = Date()
        let report = SimulationRunner.run(budget)
        let elapsed = Date().timeIntervalSince(started)
        print("simulation: \(report.summary); \(String(format: "%.1f", elapsed)) s on \(budget.jobs) threads, seeds \(firstSeed)..<\(firstSeed + UInt64(report.seedsRun))")
        guard !report.failures.isEmpty else { return }
        if all {
            for failure in report.failures { print("FAILED seed \(failure.seed) at \(failure.atMs)ms: \(failure.what)") }
        }
        print("first failure:\n\(report.failures[0])")
        throw ExitCode(1)
    }
}
