import Testing
@testable import TandemCore

private let ok = ProbeResult.success("connected")
private let bad = ProbeResult.failure("connection refused")

private func ms(_ n: UInt64) -> MonotonicInstant { .milliseconds(n) }

@Suite struct HealthTrackerTests {
    struct Case: CustomStringConvertible, Sendable {
        var name: String
        var rise: Int
        var fall: Int
        /// Results, one per second of the manual clock.
        var results: [Bool]
        /// Status after each result.
        var expected: [HealthTracker.Status]
        var description: String { name }
    }

    static let cases: [Case] = [
        Case(name: "first success decides up", rise: 3, fall: 3, results: [true, true], expected: [.up, .up]),
        Case(name: "first failure decides down", rise: 2, fall: 3, results: [false], expected: [.down]),
        Case(name: "fall 3 needs three consecutive failures", rise: 2, fall: 3,
             results: [true, false, false, true, false, false, false],
             expected: [.up, .up, .up, .up, .up, .up, .down]),
        Case(name: "rise 2 needs two consecutive successes", rise: 2, fall: 1,
             results: [false, true, false, true, true, true],
             expected: [.down, .down, .down, .down, .up, .up]),
        Case(name: "rise 1 fall 1 follows every result", rise: 1, fall: 1,
             results: [true, false, true, false], expected: [.up, .down, .up, .down]),
        Case(name: "successes while up do not count towards rise later", rise: 2, fall: 2,
             results: [true, true, true, false, false, true, true],
             expected: [.up, .up, .up, .up, .down, .down, .up]),
    ]

    @Test(arguments: cases)
    func riseAndFall(_ c: Case) {
        var t = HealthTracker(rise: c.rise, fall: c.fall, createdAt: .zero)
        #expect(t.status == .unknown)
        var seen: [HealthTracker.Status] = []
        for (i, r) in c.results.enumerated() {
            t.record(r ? ok : bad, at: ms(UInt64(i + 1) * 1000))
            seen.append(t.status)
        }
        #expect(seen == c.expected)
    }

    @Test func transitionsCarryOldNewReasonAndSince() {
        var t = HealthTracker(rise: 2, fall: 2, createdAt: .zero)
        let first = t.record(ok, at: ms(1000))
        #expect(first?.old == .unknown && first?.new == .up)
        #expect(first?.reason == "first check passed: connected")
        #expect(t.record(bad, at: ms(2000)) == nil)
        let down = t.record(bad, at: ms(3000))
        #expect(down?.old == .up && down?.new == .down)
        #expect(down?.reason == "2 consecutive failures (fall 2); last failed: connection refused")
        #expect(t.since == ms(3000))
        #expect(t.lastCheck == ms(3000))
        #expect(t.lastResult == bad)
    }

    @Test func unknownCountsAsUpInTheTable() {
        let t = HealthTracker(rise: 2, fall: 2, createdAt: .zero)
        #expect(t.isUp)
        #expect(t.effectiveWeight(configured: 7, warmup: nil, at: .zero) == 7)
    }

    @Test func agentDownIsImmediateDespiteFall() {
        var t = HealthTracker(rise: 2, fall: 5, createdAt: .zero)
        t.record(.agent(AgentReply(availability: .up), text: "up"), at: ms(1000))
        #expect(t.status == .up)
        let change = t.record(.agent(AgentReply(availability: .maint), text: "maint"), at: ms(2000))
        #expect(change?.new == .down)
        #expect(change?.reason == "failed: agent replied \"maint\"")
    }

    struct WeightCase: Sendable {
        var replies: [String]
        var configured: Int
        var expected: Int?
    }

    static let weightCases: [WeightCase] = [
        WeightCase(replies: ["50%"], configured: 10, expected: 5),
        WeightCase(replies: ["up 75%"], configured: 4, expected: 3),
        WeightCase(replies: ["1%"], configured: 3, expected: 1),
        WeightCase(replies: ["0%"], configured: 3, expected: 0),
        WeightCase(replies: ["200%"], configured: 3, expected: 6),
        WeightCase(replies: ["1000%"], configured: 65535, expected: 65535),
        WeightCase(replies: ["50%", "up"], configured: 10, expected: 5),
        WeightCase(replies: ["drain"], configured: 10, expected: 0),
        WeightCase(replies: ["drain", "50%"], configured: 10, expected: 0),
        WeightCase(replies: ["drain", "ready"], configured: 10, expected: 10),
        WeightCase(replies: ["up", "down"], configured: 10, expected: nil),
    ]

    @Test(arguments: weightCases)
    func agentFeedback(_ c: WeightCase) throws {
        var t = HealthTracker(rise: 1, fall: 3, createdAt: .zero)
        for (i, text) in c.replies.enumerated() {
            let reply = try AgentReply.parse(text).get()
            t.record(.agent(reply, text: text), at: ms(UInt64(i) * 1000))
        }
        #expect(t.effectiveWeight(configured: c.configured, warmup: nil, at: ms(10_000)) == c.expected)
    }

    @Test func warmupRampsAfterRecoveryOnly() {
        var t = HealthTracker(rise: 1, fall: 1, createdAt: .zero)
        t.record(ok, at: ms(0))
        // Up from unknown: no ramp.
        #expect(t.effectiveWeight(configured: 20, warmup: .seconds(10), at: ms(0)) == 20)
        #expect(t.nextWeightChange(warmup: .seconds(10), after: ms(0)) == nil)
        t.record(bad, at: ms(1000))
        #expect(t.effectiveWeight(configured: 20, warmup: .seconds(10), at: ms(1000)) == nil)
        t.record(ok, at: ms(2000))
        let table: [(UInt64, Int)] = [(2000, 2), (2999, 2), (3000, 4), (6500, 10), (11_999, 20), (12_000, 20), (50_000, 20)]
        for (at, weight) in table {
            #expect(t.effectiveWeight(configured: 20, warmup: .seconds(10), at: ms(at)) == weight, "at \(at)ms")
        }
        #expect(t.nextWeightChange(warmup: .seconds(10), after: ms(2000)) == ms(3000))
        #expect(t.nextWeightChange(warmup: .seconds(10), after: ms(11_500)) == ms(12_000))
        #expect(t.nextWeightChange(warmup: .seconds(10), after: ms(12_000)) == nil)
    }

    @Test func warmupNeverGoesToZeroForAPositiveWeight() {
        #expect(WarmupRamp.weight(full: 1, elapsed: 0, warmup: .seconds(10)) == 1)
        #expect(WarmupRamp.weight(full: 0, elapsed: 0, warmup: .seconds(10)) == 0)
        #expect(WarmupRamp.weight(full: 3, elapsed: 0, warmup: .milliseconds(0)) == 3)
    }
}

/// Results that do not count (a timeout while the checker was overloaded) change nothing but
/// the last result shown.
@Suite struct UncountedResultTests {
    private let skip = ProbeResult.inconclusive("timed out after 900ms, but the health checks ran 400 ms behind (overloaded): not counted")

    @Test func neitherFailsNorResetsTheStreak() {
        var t = HealthTracker(rise: 2, fall: 2, createdAt: .zero)
        t.record(ok, at: ms(1000))
        t.record(bad, at: ms(2000))
        #expect(t.record(skip, at: ms(3000)) == nil)
        #expect(t.status == .up && t.consecutiveFailures == 1)
        // The next real failure is the second in a row.
        #expect(t.record(bad, at: ms(4000))?.new == .down)
        t.record(ok, at: ms(5000))
        t.record(skip, at: ms(6000))
        #expect(t.status == .down && t.consecutiveSuccesses == 1)
        #expect(t.record(ok, at: ms(7000))?.new == .up)
    }

    @Test func aFreshServerStaysUnknownAndShowsWhy() {
        var t = HealthTracker(rise: 2, fall: 2, createdAt: .zero)
        #expect(t.record(skip, at: ms(1000)) == nil)
        #expect(t.status == .unknown)
        #expect(t.lastResult?.description.hasPrefix("not counted: timed out after 900ms") == true)
    }
}
