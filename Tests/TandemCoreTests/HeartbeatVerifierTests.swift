import Foundation
import Testing
@testable import TandemCore

private func makeKey(_ text: String) -> HMACHeartbeatAuthenticator {
    HMACHeartbeatAuthenticator(key: try! HeartbeatKey(fileContents: Data(text.utf8), path: "test.key"))
}

private let key = makeKey("shared-secret-shared-secret-32by")
private let otherKey = makeKey("another-secret-another-secret-32")

private func packet(epoch: UInt64 = 5, sequence: UInt64, path: UInt8 = 0, sender: String = "b",
                    role: Role = .active, priority: UInt8 = 100, sentAt: UInt64? = nil,
                    signedWith authenticator: (any HeartbeatAuthenticator)? = key) -> [UInt8] {
    let message = HeartbeatMessage(kind: .heartbeat, sender: sender, bootEpoch: epoch, sequence: sequence, role: role,
                                   priority: priority, configSerial: 1, configDigest: .zero, pathIndex: path,
                                   intervalMilliseconds: 10, sentAtNanoseconds: sentAt)
    return try! HeartbeatCodec.encode(message, authenticator: authenticator)
}

private func isAccepted(_ verdict: HeartbeatVerifier.Verdict) -> Bool {
    if case .accepted = verdict { return true }
    return false
}

@Suite("Heartbeat verifier")
struct HeartbeatVerifierTests {
    private func verifier(auth: (any HeartbeatAuthenticator)? = key) -> HeartbeatVerifier {
        HeartbeatVerifier(peerName: "b", pathCount: 2, authenticator: auth)
    }

    @Test func acceptsAnAuthenticPacketAndRecordsThePath() {
        var v = verifier()
        let verdict = v.verify(packet(sequence: 1, path: 1), at: .milliseconds(7))
        guard case .accepted(let message, _) = verdict else {
            Issue.record("expected acceptance, got \(verdict)")
            return
        }
        #expect(message.sequence == 1)
        #expect(v.counters.accepted == 1)
        #expect(v.counters.dropped == 0)
        #expect(v.paths[1].received == 1)
        #expect(v.paths[1].lastHeard == .milliseconds(7))
        #expect(v.paths[0].lastHeard == nil)
        #expect(v.currentEpoch == 5)
    }

    /// The peer signing with a key this node does not hold: reported as "refusing" while its
    /// packets keep coming (the status says the keys differ, not only that the peer is silent),
    /// cleared by an authentic packet or 5 s after the last refused one.
    @Test func packetsNamingThePeerThatFailAuthenticationAreReported() throws {
        var v = verifier()
        for (i, at) in [100, 200, 300].enumerated() {
            _ = v.verify(packet(sequence: UInt64(i + 1), signedWith: otherKey), at: .milliseconds(UInt64(at)))
        }
        _ = v.verify(packet(sequence: 9, sender: "mallory", signedWith: otherKey), at: .milliseconds(350))
        let refused = try #require(v.authenticationStatus(at: .milliseconds(400)).refused)
        #expect(refused == .init(count: 3, since: .milliseconds(100), last: .milliseconds(300)))
        let report = StatusReport.Authentication(status: v.authenticationStatus(at: .milliseconds(400)), counters: v.counters,
                                                 fingerprints: ("sha256:aaaaaaaaaaaa", nil), now: .milliseconds(400), wallNow: 1_000_000_000)
        #expect(report.state == "refusing" && report.detail?.hasPrefix("3 heartbeats naming the peer failed authentication since ") == true,
                "\(report.detail ?? "nil")")
        #expect(report.detail?.contains("key_file / next_key_file differ between the nodes") == true)
        #expect(v.authenticationStatus(at: .milliseconds(5_301)).refused == nil)
        _ = v.verify(packet(sequence: 4, signedWith: otherKey), at: .milliseconds(500))
        #expect(isAccepted(v.verify(packet(sequence: 5), at: .milliseconds(600))))
        #expect(v.authenticationStatus(at: .milliseconds(600)).refused == nil)
    }

    /// Each row: packets fed in order, then the verdict of the last one and the counters.
    static let drops: [(String, [[UInt8]], HeartbeatVerifier.DropReason)] = [
        ("no tag while a key is configured", [packet(sequence: 1, signedWith: nil)], .missingTag),
        ("signed with another key", [packet(sequence: 1, signedWith: otherKey)], .badTag),
        ("same packet twice", [packet(sequence: 1), packet(sequence: 1)],
         .replayedSequence(epoch: 5, sequence: 1, lastAccepted: 1, pathIndex: 0)),
        ("older sequence", [packet(sequence: 9), packet(sequence: 3)],
         .replayedSequence(epoch: 5, sequence: 3, lastAccepted: 9, pathIndex: 0)),
        ("older epoch after a newer one", [packet(epoch: 6, sequence: 1), packet(epoch: 5, sequence: 100)],
         .staleEpoch(received: 5, current: 6)),
        ("our own packet looped back", [packet(sequence: 1, sender: "a")], .unexpectedSender("a")),
        ("a third node", [packet(sequence: 1, sender: "mallory")], .unexpectedSender("mallory")),
        ("path beyond the configured two", [packet(sequence: 1, path: 2)], .unknownPath(2)),
        ("garbage", [[1, 2, 3]], .malformed(.tooShort(length: 3))),
    ]

    /// Arrivals exactly on the 10 ms interval leave the jitter at 0; a loss (a 20 ms gap for a
    /// sequence step of 2) is not jitter; late and early arrivals move it by 1/16 of their deviation.
    @Test func arrivalJitterFollowsTheDeviationFromTheInterval() {
        var v = verifier()
        var now: UInt64 = 1000
        for sequence in 1...5 {
            _ = v.verify(packet(sequence: UInt64(sequence)), at: .milliseconds(now))
            now += 10
        }
        #expect(v.paths[0].arrivalJitterNanoseconds == 0)
        now += 10                                                  // sequence 6 lost
        _ = v.verify(packet(sequence: 7), at: .milliseconds(now))
        #expect(v.paths[0].arrivalJitterNanoseconds == 0, "a lost packet is counted as lost, not as jitter")
        _ = v.verify(packet(sequence: 8), at: .milliseconds(now + 14))   // 4 ms late
        #expect(v.paths[0].arrivalJitterNanoseconds == 4_000_000 / 16)
        _ = v.verify(packet(sequence: 9), at: .milliseconds(now + 20))   // 4 ms early
        #expect(v.paths[0].arrivalJitterNanoseconds == 250_000 + (4_000_000 - 250_000) / 16)
        #expect(v.paths[1].arrivalJitterNanoseconds == 0, "per path")
    }

    @Test func dropsAndCountsBadPackets() {
        for (name, packets, reason) in Self.drops {
            var v = verifier()
            var last: HeartbeatVerifier.Verdict?
            for (index, bytes) in packets.enumerated() {
                last = v.verify(bytes, at: .milliseconds(UInt64(index)))
            }
            #expect(last == .dropped(reason), "\(name)")
            #expect(v.counters.dropped == 1, "\(name)")
            #expect(v.counters.accepted == UInt64(packets.count - 1), "\(name)")
        }
    }

    @Test func countsEachReasonSeparately() {
        var v = verifier()
        _ = v.verify(packet(sequence: 1), at: .zero)
        _ = v.verify(packet(sequence: 1), at: .zero)
        _ = v.verify(packet(sequence: 2, signedWith: nil), at: .zero)
        _ = v.verify(packet(sequence: 2, signedWith: otherKey), at: .zero)
        _ = v.verify([0xff], at: .zero)
        _ = v.verify(packet(sequence: 2, sender: "a"), at: .zero)
        _ = v.verify(packet(sequence: 2, path: 9), at: .zero)
        var expected = HeartbeatVerifier.Counters()
        expected.accepted = 1
        expected.replayed = 1
        expected.unauthenticated = 2
        expected.malformed = 1
        expected.unexpectedSender = 1
        expected.unknownPath = 1
        #expect(v.counters == expected)
    }

    @Test func tamperingWithAnyByteBreaksTheTag() {
        let original = packet(sequence: 1)
        for index in 0..<(original.count - HeartbeatCodec.tagLength) {
            var tampered = original
            tampered[index] ^= 0x01
            var v = verifier()
            let verdict = v.verify(tampered, at: .zero)
            #expect(!isAccepted(verdict), "byte \(index) flipped")
        }
    }

    @Test func theSameRoundIsAcceptedOnEveryPath() {
        var v = verifier()
        #expect(isAccepted(v.verify(packet(sequence: 1, path: 0), at: .milliseconds(1))))
        #expect(isAccepted(v.verify(packet(sequence: 1, path: 1), at: .milliseconds(2))))
        #expect(!isAccepted(v.verify(packet(sequence: 1, path: 1), at: .milliseconds(3))))
        #expect(v.paths.map(\.received) == [1, 1])
    }

    @Test func aNewerEpochIsAPeerRestart() {
        var v = verifier()
        #expect(isAccepted(v.verify(packet(epoch: 5, sequence: 500), at: .zero)))
        #expect(isAccepted(v.verify(packet(epoch: 6, sequence: 1), at: .zero)))
        #expect(v.currentEpoch == 6)
        #expect(!isAccepted(v.verify(packet(epoch: 5, sequence: 501), at: .zero)))
        #expect(isAccepted(v.verify(packet(epoch: 6, sequence: 2), at: .zero)))
        #expect(v.paths[0].lost == 0)
    }

    /// The heal of a cut link: the peer's kernel held every packet sent meanwhile and delivers
    /// them in one burst, oldest first. Those sent more than the stale bound before the quickest
    /// delivery of the epoch are dropped and counted (their sequence numbers are not "lost"); the
    /// newest are accepted. The peer's clock is 7 s ahead of this node's: only differences count.
    @Test func packetsHeldBackByACutLinkAreDroppedAsStale() {
        var v = HeartbeatVerifier(peerName: "b", pathCount: 2, authenticator: key, staleAfterMilliseconds: 500)
        let ms: UInt64 = 1_000_000, peerAhead: UInt64 = 7_000 * ms
        // 10 ms interval, 1 ms on the wire, until the cut at 1 s.
        for n in UInt64(1)...100 {
            #expect(isAccepted(v.verify(packet(sequence: n, role: .active, sentAt: n * 10 * ms + peerAhead),
                                        at: MonotonicInstant(nanoseconds: n * 10 * ms + ms))))
        }
        // Sequences 101-300 were held while the link was cut (1.01-3.0 s) and come at 3.0001 s
        // on: sequence 101 is 1,990 ms old, 1 ms of it the wire, and the reference crept 2 ms
        // in the 2 s since the last packet.
        var dropped: [UInt64] = [], accepted: [UInt64] = []
        for n in UInt64(101)...300 {
            let verdict = v.verify(packet(sequence: n, role: n < 110 ? .active : .standby, sentAt: n * 10 * ms + peerAhead),
                                   at: MonotonicInstant(nanoseconds: 3_000 * ms + n * 1_000))
            if isAccepted(verdict) { accepted.append(n) } else { dropped.append(n) }
            if n == 101, case .dropped(let reason) = verdict {
                #expect(reason == .stale(lateMilliseconds: 1987, boundMilliseconds: 500, sequence: 101, pathIndex: 0))
                #expect(reason.category == "stale")
                #expect(reason.description.hasPrefix("stale: sequence 101 on path 0 arrived 1987ms later than the peer's packets take"))
            }
        }
        // Sent before 2.5 s (sequence < 250, and every `active` of them): stale.
        #expect(dropped == Array(101...249))
        #expect(accepted == Array(250...300))
        #expect(v.counters.stale == 149)
        #expect(v.counters.dropped == 149)
        #expect(v.paths[0].lost == 0)
        #expect(v.paths[0].received == 151)
    }

    /// A peer clock slower than this node's (here by 800 ppm, beyond crystals and NTP's slew)
    /// never makes fresh packets stale over an hour, and a packet read late because this node was
    /// starved for less than the bound is not stale either.
    @Test func aSlowerPeerClockAndALateReadAreNotStale() {
        var v = HeartbeatVerifier(peerName: "b", pathCount: 2, authenticator: key, staleAfterMilliseconds: 500)
        let ms: UInt64 = 1_000_000
        var accepted = 0
        for n in UInt64(1)...3_600 {  // one a second for an hour
            let local = n * 1_000 * ms
            let peer = local - local / 1_250  // 800 ppm slower
            if isAccepted(v.verify(packet(sequence: n, sentAt: peer), at: MonotonicInstant(nanoseconds: local + ms))) { accepted += 1 }
        }
        #expect(accepted == 3_600)
        let local: UInt64 = 3_601_000 * ms
        #expect(isAccepted(v.verify(packet(sequence: 3_601, sentAt: local - local / 1_250),
                                    at: MonotonicInstant(nanoseconds: local + 450 * ms))))
        #expect(v.counters.stale == 0)
    }

    /// A verifier with a stale bound of 500 ms that heard sequences 1-100 of a peer sending every
    /// 10 ms (send time 10·n ms on the peer's clock, 1 ms on the wire: its clocks agree with ours).
    private func verifierHearingTheActive() -> HeartbeatVerifier {
        var v = HeartbeatVerifier(peerName: "b", pathCount: 2, authenticator: key, staleAfterMilliseconds: 500)
        let ms: UInt64 = 1_000_000
        for n in UInt64(1)...100 {
            #expect(isAccepted(v.verify(packet(sequence: n, sentAt: n * 10 * ms), at: MonotonicInstant(nanoseconds: n * 10 * ms + ms))))
        }
        return v
    }

    /// The peer's monotonic clock stood still for 3 s (its VM paused, its machine suspended):
    /// from then on every packet looks 3 s late. A held burst comes all at once; late packets
    /// that arrive as far apart as they were sent mean the offset moved, and the reference
    /// starts again instead of locking the peer out for an hour (the creep alone: 1 ms a second).
    /// A burst read slowly (here 300 packets sent over 3 s, read over 30 ms) stays stale.
    @Test func aPeerClockThatStoodStillIsNotLockedOut() {
        var v = verifierHearingTheActive()
        let ms: UInt64 = 1_000_000
        // Paused from 1.0 to 4.0 s by this node's clock; its clock resumes at 1.0 s.
        var verdicts: [Bool] = []
        for n in UInt64(101)...110 {
            let sent = n * 10 * ms
            verdicts.append(isAccepted(v.verify(packet(sequence: n, sentAt: sent), at: MonotonicInstant(nanoseconds: sent + 3_000 * ms + ms))))
        }
        // 101 (4.01 s) is dropped; 102 comes 10 ms after it and was sent 10 ms after it: the
        // offset moved, and it and the rest are taken.
        #expect(verdicts == [false] + Array(repeating: true, count: 9))
        #expect(v.counters.stale == 1)
        var slow = verifierHearingTheActive()
        for n in UInt64(101)...400 {
            #expect(!isAccepted(slow.verify(packet(sequence: n, sentAt: n * 10 * ms),
                                            at: MonotonicInstant(nanoseconds: 5_000 * ms + (n - 100) * 100_000))), "sequence \(n)")
        }
    }

    /// This node's own heartbeat thread woke 3 s late (starved, or stopped): what its socket
    /// held is as old as that, not held in the network, and is read as it was before the send
    /// time (the peer stays alive rather than be taken over from because of our own stall).
    @Test func packetsReadLateBecauseThisNodeOversleptAreNotStale() {
        var v = verifierHearingTheActive()
        let ms: UInt64 = 1_000_000
        let woke: UInt64 = 4_000 * ms
        for n in UInt64(101)...400 {
            #expect(isAccepted(v.verify(packet(sequence: n, sentAt: n * 10 * ms), at: MonotonicInstant(nanoseconds: woke + n * 1_000),
                                        readLateNanoseconds: 2_995 * ms)), "sequence \(n)")
        }
        #expect(v.counters.stale == 0)
    }

    /// Every accepted packet says how much later than the epoch's quickest it was read (the
    /// election uses it to drop requests their sender gave up on): unknown for the packet that
    /// starts the estimate and without a send time, the lateness itself otherwise, this node's
    /// own oversleeping included (what a paused standby reads when it resumes).
    @Test func anAcceptedPacketSaysHowLongItWaited() {
        var v = HeartbeatVerifier(peerName: "b", pathCount: 2, authenticator: key, staleAfterMilliseconds: 500)
        let ms: UInt64 = 1_000_000
        func waited(_ verdict: HeartbeatVerifier.Verdict) -> UInt64?? {
            if case .accepted(_, let waited) = verdict { return .some(waited) }
            return nil
        }
        #expect(waited(v.verify(packet(sequence: 1, sentAt: 100 * ms), at: MonotonicInstant(nanoseconds: 1_000 * ms))) == .some(nil))
        #expect(waited(v.verify(packet(sequence: 2, sentAt: 110 * ms), at: MonotonicInstant(nanoseconds: 1_010 * ms))) == .some(0))
        // 40 ms later than the transit of the first; the estimate crept 10 µs meanwhile.
        #expect(waited(v.verify(packet(sequence: 3, sentAt: 120 * ms), at: MonotonicInstant(nanoseconds: 1_060 * ms))) == .some(40 * ms - 50_000))
        // Read 4 s late by a node that overslept that long: accepted, and 4 s old.
        let verdict = v.verify(packet(sequence: 4, sentAt: 130 * ms), at: MonotonicInstant(nanoseconds: 5_030 * ms),
                               readLateNanoseconds: 4_000 * ms)
        #expect(waited(verdict).flatMap { $0 }.map { $0 / ms } == 3_995)
        #expect(waited(v.verify(packet(sequence: 5), at: MonotonicInstant(nanoseconds: 5_040 * ms))) == .some(nil))
    }

    /// Staleness is judged within one boot epoch: a restarted peer's clock may be anywhere, so
    /// its first packet sets the reference afresh; and with no send time nothing is judged.
    @Test func aNewEpochStartsItsOwnReference() {
        var v = HeartbeatVerifier(peerName: "b", pathCount: 2, authenticator: key, staleAfterMilliseconds: 500)
        let s: UInt64 = 1_000_000_000
        #expect(isAccepted(v.verify(packet(epoch: 5, sequence: 1, sentAt: 100 * s), at: MonotonicInstant(nanoseconds: 10 * s))))
        #expect(v.judgesStaleness(ofEpoch: 5))
        #expect(!v.judgesStaleness(ofEpoch: 6))
        #expect(isAccepted(v.verify(packet(epoch: 6, sequence: 1, sentAt: 1 * s), at: MonotonicInstant(nanoseconds: 11 * s))))
        #expect(isAccepted(v.verify(packet(epoch: 6, sequence: 2, sentAt: 1 * s + s / 100), at: MonotonicInstant(nanoseconds: 11 * s + s / 100))))
        #expect(!isAccepted(v.verify(packet(epoch: 6, sequence: 3, sentAt: 1 * s + s / 50), at: MonotonicInstant(nanoseconds: 12 * s))))
        #expect(isAccepted(v.verify(packet(epoch: 6, sequence: 4), at: MonotonicInstant(nanoseconds: 20 * s))))
    }

    /// Mixed versions: a node sends its send time until it has heard the peer's current epoch,
    /// and after that only while the epoch's heartbeats carried one. A tandemd from before the
    /// field never sends one (and drops packets with one); a restart of the peer asks again.
    @Test func theSendTimeGoesOnlyToAPeerThatSendsOne() {
        var v = verifier()
        #expect(v.peerTakesSendTime)
        _ = v.verify(packet(epoch: 5, sequence: 1), at: .milliseconds(1))
        #expect(!v.peerTakesSendTime)
        _ = v.verify(packet(epoch: 5, sequence: 2), at: .milliseconds(2))
        #expect(!v.peerTakesSendTime)
        // A new tandemd in the peer's epoch sent without because it heard us without: once one
        // of the epoch's heartbeats carries it, the peer understands it.
        _ = v.verify(packet(epoch: 5, sequence: 3, sentAt: 3), at: .milliseconds(3))
        #expect(v.peerTakesSendTime)
        _ = v.verify(packet(epoch: 5, sequence: 4), at: .milliseconds(4))
        #expect(v.peerTakesSendTime)
        // The peer restarts (a downgrade, say): unknown until its first heartbeat.
        _ = v.verify(packet(epoch: 6, sequence: 1), at: .milliseconds(5))
        #expect(!v.peerTakesSendTime)
        _ = v.verify(packet(epoch: 7, sequence: 1, sentAt: 9), at: .milliseconds(6))
        #expect(v.peerTakesSendTime)
    }

    @Test func theStaleBoundIsTheDeadTimeWithAFloor() {
        #expect(HeartbeatVerifier.staleAfterMilliseconds(deadTime: .milliseconds(30)) == 500)
        #expect(HeartbeatVerifier.staleAfterMilliseconds(deadTime: .milliseconds(3_000)) == 3_000)
    }

    @Test func countsLossPerPath() {
        var v = verifier()
        for sequence: UInt64 in [1, 2, 5, 6, 10] { _ = v.verify(packet(sequence: sequence, path: 0), at: .zero) }
        for sequence: UInt64 in [1, 2, 3] { _ = v.verify(packet(sequence: sequence, path: 1), at: .zero) }
        #expect(v.paths[0].lost == 5)
        #expect(v.paths[0].received == 5)
        #expect(v.paths[1].lost == 0)
    }

    @Test func authNoneAcceptsUntaggedAndIgnoresTags() {
        var v = verifier(auth: nil)
        #expect(isAccepted(v.verify(packet(sequence: 1, signedWith: nil), at: .zero)))
        #expect(isAccepted(v.verify(packet(sequence: 2, signedWith: otherKey), at: .zero)))
        #expect(!isAccepted(v.verify(packet(sequence: 2, signedWith: nil), at: .zero)))
        #expect(v.counters.replayed == 1)
    }
}
