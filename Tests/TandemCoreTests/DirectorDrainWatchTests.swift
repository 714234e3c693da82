import Testing
@testable import TandemCore

/// A director in maintenance has drained when no packet reached it for three looks in a row, or
/// when its active connections reach zero.
@Suite struct DirectorDrainWatchTests {
    func run(_ samples: [(Int, UInt64)], quiet: Int = 3) -> [DirectorDrainWatch.Verdict] {
        var watch = DirectorDrainWatch(quietSeconds: quiet)
        return samples.map { watch.observe(.init(active: $0.0, inPackets: $0.1)) }
    }

    @Test func quietForThreeLooksIsDrainedThoughEntriesRemain() {
        let verdicts = run([(25, 1000), (25, 1400), (25, 1400), (25, 1400), (25, 1400)])
        #expect(verdicts[0] == .draining(active: 25, packets: 0))
        #expect(verdicts[1] == .draining(active: 25, packets: 400))
        #expect(verdicts[2] == .draining(active: 25, packets: 0))
        #expect(verdicts[3] == .draining(active: 25, packets: 0))
        guard case .drained(let why) = verdicts[4] else { Issue.record("not drained: \(verdicts)"); return }
        #expect(why.contains("no packet reached this director for 3 s") && why.contains("25 remaining"))
    }

    @Test func aPacketStartsTheQuietCountAgain() {
        let verdicts = run([(5, 0), (5, 0), (5, 0), (5, 1), (5, 1), (5, 1)])
        #expect(verdicts.allSatisfy { if case .draining = $0 { return true } else { return false } }, "\(verdicts)")
    }

    @Test func noActiveConnectionIsDrainedAtOnce() {
        #expect(run([(0, 7)]) == [.drained("no active connections left on this director")])
    }

    @Test func aCounterThatWentDownCountsAsNoPacket() {
        let verdicts = run([(2, 500), (2, 10), (2, 10)], quiet: 2)
        #expect(verdicts[1] == .draining(active: 2, packets: 0))
        guard case .drained = verdicts[2] else { Issue.record("\(verdicts)"); return }
    }
}
