import Dispatch
import Synchronization

/// Runs `PairSimulation` over a budget of seeds, on several threads, and sums what they did.
///
/// Each seed is one independent, deterministic run of `hoursPerSeed` simulated hours, so the
/// sum over a range of seeds is the same however the seeds are spread over threads.
public enum SimulationRunner {
    public struct Budget: Sendable {
        /// Simulated hours in all (rounded up to whole seeds).
        public var hours: Double
        /// Simulated hours per seed.
        public var hoursPerSeed: Double = 0.25
        public var firstSeed: UInt64 = 1
        /// Threads running seeds at once.
        public var jobs: Int = 1
        /// Stop starting new seeds after this many failed (nil: run them all).
        public var stopAfterFailures: Int? = 3

        public init(hours: Double, firstSeed: UInt64 = 1, jobs: Int = 1) {
            self.hours = hours
            self.firstSeed = firstSeed
            self.jobs = jobs
        }

        public var seeds: Int { max(1, Int((hours / hoursPerSeed).rounded(.up))) }
    }

    public struct Report: Sendable {
        public var seedsRun = 0
        public var statistics = PairSimulation.Statistics()
        /// Failed seeds, by seed number.
        public var failures: [PairSimulation.Violation] = []
        public var hoursPerSeed: Double

        /// One line: what ran and what it found.
        public var summary: String {
            let s = statistics
            return "\(seedsRun) seeds x \(hoursPerSeed) h = \(Double(seedsRun) * hoursPerSeed) simulated hours: \(s.events) events, \(s.faults) faults, \(s.crashes) crashes, \(s.requests) requests, \(s.roleChanges) role changes, \(s.announcements) announcements; longest dual holding \(s.longestDualMs)ms, longest outage \(s.longestOutageMs)ms; \(s.configsApplied) configs replicated, longest config divergence \(s.longestDivergenceMs)ms, longest drain divergence \(s.longestDrainDivergenceMs)ms, longest misdirected neighbours \(s.longestMisdirectedMs)ms; \(failures.count) seeds failed"
        }
    }

    /// Runs one seed for `hours` simulated hours.
    public static func run(seed: UInt64, hours: Double) -> PairSimulation {
        let simulation = PairSimulation(seed: seed)
        simulation.run(durationMs: UInt64(hours * 3_600_000))
        return simulation
    }

    /// Runs the budget's seeds on `budget.jobs` threads.
    public static func run(_ budget: Budget) -> Report {
        let next = Mutex(budget.firstSeed)
        let end = budget.firstSeed + UInt64(budget.seeds)
        let report = Mutex(Report(hoursPerSeed: budget.hoursPerSeed))
        DispatchQueue.concurrentPerform(iterations: max(1, budget.jobs)) { _ in
            while true {
                let seed: UInt64? = next.withLock { value in
                    guard value < end else { return nil }
                    defer { value += 1 }
                    return value
                }
                guard let seed else { return }
                if let limit = budget.stopAfterFailures, report.withLock({ $0.failures.count >= limit }) { return }
                let simulation = run(seed: seed, hours: budget.hoursPerSeed)
                report.withLock { total in
                    let s = simulation.statistics
                    total.seedsRun += 1
                    total.statistics.events += s.events
                    total.statistics.faults += s.faults
                    total.statistics.requests += s.requests
                    total.statistics.roleChanges += s.roleChanges
                    total.statistics.crashes += s.crashes
                    total.statistics.configsApplied += s.configsApplied
                    total.statistics.announcements += s.announcements
                    total.statistics.longestDualMs = max(total.statistics.longestDualMs, s.longestDualMs)
                    total.statistics.longestOutageMs = max(total.statistics.longestOutageMs, s.longestOutageMs)
                    total.statistics.longestDivergenceMs = max(total.statistics.longestDivergenceMs, s.longestDivergenceMs)
                    total.statistics.longestDrainDivergenceMs = max(total.statistics.longestDrainDivergenceMs, s.longestDrainDivergenceMs)
                    total.statistics.longestMisdirectedMs = max(total.statistics.longestMisdirectedMs, s.longestMisdirectedMs)
                    if let violation = simulation.violation { total.failures.append(violation) }
                }
            }
        }
        var result = report.withLock { $0 }
        result.failures.sort { $0.seed < $1.seed }
        return result
    }
}
