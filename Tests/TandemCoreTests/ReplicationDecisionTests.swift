import Testing
@testable import TandemCore

private func digest(_ byte: UInt8) -> HeartbeatMessage.ConfigDigest {
    HeartbeatMessage.ConfigDigest([UInt8](repeating: byte, count: 32))!
}
private func v(_ serial: UInt64, _ byte: UInt8) -> ConfigVersion { ConfigVersion(serial: serial, digest: digest(byte)) }
private func at(_ ms: UInt64) -> MonotonicInstant { .milliseconds(ms) }

@Suite struct ReplicationDecisionTests {
    @Test(arguments: [
        (v(5, 1), v(5, 1), ReplicationDecision.inSync),
        (v(5, 1), v(6, 2), .fetchFromPeer),
        (v(6, 2), v(5, 1), .peerWillFetch),
        (v(5, 1), v(5, 2), .conflict),
        (v(0, 1), v(UInt64.max, 1), .fetchFromPeer),
        (v(7, 1), v(6, 1), .peerWillFetch),
    ])
    func decide(local: ConfigVersion, peer: ConfigVersion, expected: ReplicationDecision) {
        #expect(ReplicationDecision.decide(local: local, peer: peer) == expected)
    }

    @Test func digestsParseFromHex() {
        let text = String(repeating: "0a", count: 32)
        #expect(HeartbeatMessage.ConfigDigest(hex: text) == digest(0x0a))
        #expect(HeartbeatMessage.ConfigDigest(hex: text.uppercased()) == digest(0x0a))
        #expect(HeartbeatMessage.ConfigDigest(hex: String(text.dropLast())) == nil)
        #expect(HeartbeatMessage.ConfigDigest(hex: String(repeating: "zz", count: 32)) == nil)
    }

    @Test func versionOfAConfigIsItsSerialAndDigest() throws {
        let config = try ConfigParser.parse(yaml: minimalConfig)
        let version = ConfigVersion(config)
        #expect(version.serial == 7)
        #expect(version.digest.description == config.digest)
    }
}

@Suite struct ReplicationMonitorTests {
    @Test func fetchesOnceWhileAFetchRuns() {
        var m = ReplicationMonitor()
        #expect(m.observed(local: v(1, 1), peer: nil, at: at(0)) == [])
        #expect(m.observed(local: v(1, 1), peer: v(2, 2), at: at(200)) == [.fetch(v(2, 2))])
        #expect(m.observed(local: v(1, 1), peer: v(2, 2), at: at(400)) == [])
        m.fetchFinished(.applied, at: at(500))
        #expect(m.observed(local: v(2, 2), peer: v(2, 2), at: at(600)) == [])
    }

    @Test func failedFetchesBackOffDoublingUpToTheMaximum() {
        var m = ReplicationMonitor()
        m.initialRetry = .milliseconds(500)
        m.maximumRetry = .milliseconds(1500)
        var now: UInt64 = 0
        #expect(m.observed(local: v(1, 1), peer: v(2, 2), at: at(now)) == [.fetch(v(2, 2))])
        for expectedDelay: UInt64 in [500, 1000, 1500, 1500] {
            m.fetchFinished(.failed, at: at(now))
            #expect(m.observed(local: v(1, 1), peer: v(2, 2), at: at(now + expectedDelay - 1)) == [], "delay \(expectedDelay)")
            now += expectedDelay
            #expect(m.observed(local: v(1, 1), peer: v(2, 2), at: at(now)) == [.fetch(v(2, 2))], "delay \(expectedDelay)")
        }
        m.fetchFinished(.applied, at: at(now))
        #expect(m.observed(local: v(1, 1), peer: v(3, 3), at: at(now)) == [.fetch(v(3, 3))])
    }

    /// A refused version is fetched again at once when the peer's version changes, else after a
    /// minute, doubling to ten (a refusal for a cause on this node, a key file it lacked, heals
    /// once the operator fixes it).
    @Test func aRefusedVersionIsFetchedAgainWhenThePeerChangesOrAfterAWhile() {
        var m = ReplicationMonitor()
        #expect(m.observed(local: v(1, 1), peer: v(2, 2), at: at(0)) == [.fetch(v(2, 2))])
        m.fetchFinished(.refused, at: at(10))
        #expect(m.observed(local: v(1, 1), peer: v(2, 2), at: at(30_000)) == [])
        #expect(m.observed(local: v(1, 1), peer: v(2, 2), at: at(60_010)) == [.fetch(v(2, 2))])
        m.fetchFinished(.refused, at: at(60_020))
        #expect(m.observed(local: v(1, 1), peer: v(2, 2), at: at(60_020 + 119_000)) == [])
        #expect(m.observed(local: v(1, 1), peer: v(2, 2), at: at(60_020 + 120_000)) == [.fetch(v(2, 2))])
        m.fetchFinished(.refused, at: at(200_000))
        #expect(m.observed(local: v(1, 1), peer: v(3, 3), at: at(200_200)) == [.fetch(v(3, 3))])
        m.fetchFinished(.applied, at: at(200_300))
        #expect(m.observed(local: v(3, 3), peer: v(3, 3), at: at(900_000)) == [])
    }

    @Test func conflictsAreReportedOncePerPairAndWhenResolved() {
        var m = ReplicationMonitor()
        #expect(m.observed(local: v(5, 1), peer: v(5, 2), at: at(0)) == [.conflictDetected(local: v(5, 1), peer: v(5, 2))])
        #expect(m.observed(local: v(5, 1), peer: v(5, 2), at: at(200)) == [])
        #expect(m.conflict != nil)
        // The peer edits again without raising the serial: a new conflict, reported again.
        #expect(m.observed(local: v(5, 1), peer: v(5, 3), at: at(400)) == [.conflictDetected(local: v(5, 1), peer: v(5, 3))])
        // The peer raises its serial: resolved, and this node fetches.
        #expect(m.observed(local: v(5, 1), peer: v(6, 3), at: at(600)) == [.conflictResolved, .fetch(v(6, 3))])
        #expect(m.conflict == nil)
        m.fetchFinished(.applied, at: at(700))
        #expect(m.observed(local: v(6, 3), peer: v(6, 3), at: at(800)) == [])
    }

    @Test func nothingIsFetchedWhenThisNodeIsAhead() {
        var m = ReplicationMonitor()
        #expect(m.observed(local: v(9, 1), peer: v(3, 2), at: at(0)) == [])
        #expect(!m.isFetching)
    }
}
