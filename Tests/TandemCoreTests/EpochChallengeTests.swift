import Foundation
import Testing
@testable import TandemCore

private func makeKey(_ text: String) -> HMACHeartbeatAuthenticator {
    HMACHeartbeatAuthenticator(key: try! HeartbeatKey(fileContents: Data(text.utf8), path: "test.key"))
}

private let key = makeKey("shared-secret-shared-secret-32by")
private let nextKey = makeKey("rotation-secret-rotation-secret!")
private let otherKey = makeKey("another-secret-another-secret-32")

/// Nonces 1, 2, 3, … (32 bytes each), so tests are repeatable and every nonce is distinct.
private final class CountingNonces: @unchecked Sendable {
    private var next: UInt8 = 0
    private let lock = NSLock()
    func make() -> [UInt8] {
        lock.lock(); defer { lock.unlock() }
        next &+= 1
        return [UInt8](repeating: next, count: 32)
    }
}

private func heartbeat(from sender: String = "a", epoch: UInt64, sequence: UInt64, path: UInt8 = 0,
                       signedWith authenticator: (any HeartbeatAuthenticator)? = key) -> [UInt8] {
    let message = HeartbeatMessage(kind: .heartbeat, sender: sender, bootEpoch: epoch, sequence: sequence, role: .active,
                                   priority: 100, configSerial: 1, configDigest: .zero, pathIndex: path,
                                   intervalMilliseconds: 100)
    return try! HeartbeatCodec.encode(message, authenticator: authenticator)
}

/// rb's verifier of ra's packets, and ra's (restarted) verifier that answers rb's challenges.
private func pair(raEpoch: UInt64, keys: (any HeartbeatAuthenticator, (any HeartbeatAuthenticator)?) = (key, nil))
    -> (rb: HeartbeatVerifier, ra: HeartbeatVerifier) {
    let nonces = CountingNonces()
    let rb = HeartbeatVerifier(peerName: "a", pathCount: 2, authenticator: keys.0, nextAuthenticator: keys.1,
                               localName: "b", localEpoch: 7, challengeRetryMilliseconds: 100, nonceSource: { nonces.make() })
    let ra = HeartbeatVerifier(peerName: "b", pathCount: 2, authenticator: key, localName: "a", localEpoch: raEpoch,
                               nonceSource: { nonces.make() })
    return (rb, ra)
}

private func accepted(_ verdict: HeartbeatVerifier.Verdict) -> Bool {
    if case .accepted = verdict { return true }
    return false
}

@Suite("Epoch challenge codec")
struct EpochChallengeCodecTests {
    static let packet = EpochChallengeCodec.Packet(
        kind: .answer, pathIndex: 1, challengerNonce: [UInt8](repeating: 0xAA, count: 32),
        answererNonce: [UInt8](repeating: 0xBB, count: 32), epoch: 0x0102_0304_0506_0708, sequence: 42,
        sender: "lvs-a", target: "lvs-b")

    @Test func roundTripsWithAndWithoutATag() throws {
        for authenticator in [key, nil] as [(any HeartbeatAuthenticator)?] {
            let bytes = try #require(EpochChallengeCodec.encode(Self.packet, authenticator: authenticator))
            #expect(bytes.count == 90 + 5 + 5 + (authenticator == nil ? 0 : 32))
            #expect(Array(bytes[0..<8]) == [0x54, 0x4E, 0x44, 0x45, 1, 2, authenticator == nil ? 0 : 1, 1])
            let decoded = try EpochChallengeCodec.decode(bytes)
            #expect(decoded.packet == Self.packet)
            #expect((decoded.tag != nil) == (authenticator != nil))
        }
    }

    @Test func refusesWhatItCannotCarry() {
        var short = Self.packet
        short.challengerNonce = [1, 2, 3]
        #expect(EpochChallengeCodec.encode(short, authenticator: key) == nil)
        var unnamed = Self.packet
        unnamed.target = ""
        #expect(EpochChallengeCodec.encode(unnamed, authenticator: key) == nil)
    }

    @Test func decodingAnyTruncationOrExtensionThrowsAndNeverTraps() throws {
        let bytes = try #require(EpochChallengeCodec.encode(Self.packet, authenticator: key))
        for length in 0..<bytes.count {
            #expect(throws: HeartbeatDecodeError.self) { try EpochChallengeCodec.decode(Array(bytes.prefix(length))) }
        }
        #expect(throws: HeartbeatDecodeError.trailingBytes(count: 1)) { try EpochChallengeCodec.decode(bytes + [0]) }
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            var noise = (0..<Int.random(in: 0...220, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if noise.count >= 4 { noise.replaceSubrange(0..<4, with: EpochChallengeCodec.magic) }
            _ = try? EpochChallengeCodec.decode(noise)
        }
    }

    @Test func aHeartbeatTagNeverVerifiesAsAChallengeTag() throws {
        // The signed bytes start with different magics, so the families cannot be confused.
        let hb = heartbeat(epoch: 1, sequence: 1)
        #expect(!EpochChallengeCodec.isChallengePacket(hb))
        #expect(throws: HeartbeatDecodeError.self) { try EpochChallengeCodec.decode(hb) }
    }
}

@Suite("Epoch challenge: a restarted peer with an older epoch")
struct EpochChallengeVerifierTests {
    /// The issue's case: rb accepted ra's epoch 1000; ra restarts with epoch 500 (state lost, clock behind).
    @Test func aPeerThatRestartedWithAnOlderEpochIsAcceptedAfterAnsweringAndOnlyThen() throws {
        var (rb, ra) = pair(raEpoch: 500)
        for sequence: UInt64 in 1...5 { #expect(accepted(rb.verify(heartbeat(epoch: 1000, sequence: sequence), at: .milliseconds(sequence)))) }

        // ra's new life: heartbeats of epoch 500 are refused and a challenge goes out on their path.
        let first = rb.verify(heartbeat(epoch: 500, sequence: 1, path: 1), at: .milliseconds(100))
        #expect(first == .dropped(.staleEpoch(received: 500, current: 1000)))
        let challenges = rb.takeOutbox()
        #expect(challenges.count == 1)
        #expect(challenges.first?.pathIndex == 1)
        #expect(rb.authenticationStatus(at: .milliseconds(100)).reauthenticating?.questionedEpoch == 500)

        // ra answers with its epoch and its newest sequence.
        let challenge = try #require(challenges.first).bytes
        #expect(ra.verify(challenge, at: .milliseconds(3), localSequence: 2) == .authentication(.challengeAnswered(questionedEpoch: 500, pathIndex: 1)))
        let answers = ra.takeOutbox()
        #expect(answers.count == 1 && answers.first?.pathIndex == 1)
        let answer = try #require(answers.first).bytes

        #expect(rb.verify(answer, at: .milliseconds(101)) == .authentication(.peerVerified(epoch: 500, previous: 1000, sequence: 2)))
        #expect(rb.currentEpoch == 500)
        let status = rb.authenticationStatus(at: .milliseconds(101))
        #expect(status.reauthenticating == nil)
        #expect(status.lastVerified == .init(epoch: 500, previousEpoch: 1000, at: .milliseconds(101)))

        // Heartbeats ra sent before answering are not accepted; later ones are.
        #expect(!accepted(rb.verify(heartbeat(epoch: 500, sequence: 2), at: .milliseconds(102))))
        #expect(accepted(rb.verify(heartbeat(epoch: 500, sequence: 3), at: .milliseconds(103))))
        #expect(accepted(rb.verify(heartbeat(epoch: 500, sequence: 3, path: 1), at: .milliseconds(103))))
        #expect(rb.counters.answersAccepted == 1 && rb.counters.challengesSent == 1)
    }

    @Test func aReplayedAnswerIsRefused() throws {
        var (rb, ra) = pair(raEpoch: 500)
        _ = rb.verify(heartbeat(epoch: 1000, sequence: 1), at: .zero)
        _ = rb.verify(heartbeat(epoch: 500, sequence: 1), at: .milliseconds(10))
        _ = ra.verify(try #require(rb.takeOutbox().first).bytes, at: .zero, localSequence: 1)
        let answer = try #require(ra.takeOutbox().first).bytes
        #expect(rb.verify(answer, at: .milliseconds(11)) == .authentication(.peerVerified(epoch: 500, previous: 1000, sequence: 1)))
        let replayed = rb.counters.replayed
        #expect(rb.verify(answer, at: .milliseconds(12)) == .dropped(.staleAnswer(epoch: 500)))
        #expect(rb.counters.replayed == replayed + 1)
    }

    @Test func aRecordedAnswerDoesNotSettleANewChallenge() throws {
        // An attacker recorded ra's answer to an earlier challenge; rb's next challenge has a new nonce.
        var (rb, ra) = pair(raEpoch: 500)
        _ = rb.verify(heartbeat(epoch: 1000, sequence: 1), at: .zero)
        _ = rb.verify(heartbeat(epoch: 500, sequence: 1), at: .milliseconds(10))
        _ = ra.verify(try #require(rb.takeOutbox().first).bytes, at: .zero, localSequence: 1)
        let recorded = try #require(ra.takeOutbox().first).bytes
        // The first challenge's nonce expires unanswered.
        let later = MonotonicInstant.milliseconds(10 + HeartbeatVerifier.challengeLifetimeMilliseconds + 1)
        _ = rb.verify(heartbeat(epoch: 500, sequence: 2), at: later)
        #expect(rb.takeOutbox().count == 1)
        #expect(rb.verify(recorded, at: later) == .dropped(.staleAnswer(epoch: 500)))
        #expect(rb.currentEpoch == 1000)
    }

    @Test func aReplayedOldHeartbeatIsStillRefusedAndTheLivePeerRefutesIt() throws {
        // ra is alive in epoch 2000; an attacker replays ra's packets of epoch 1000.
        var (rb, ra) = pair(raEpoch: 2000)
        let old = heartbeat(epoch: 1000, sequence: 9)
        #expect(accepted(rb.verify(old, at: .zero)))
        #expect(accepted(rb.verify(heartbeat(epoch: 2000, sequence: 1), at: .milliseconds(1))))
        #expect(rb.verify(old, at: .milliseconds(2)) == .dropped(.staleEpoch(received: 1000, current: 2000)))
        _ = ra.verify(try #require(rb.takeOutbox().first).bytes, at: .zero, localSequence: 1)
        let answer = try #require(ra.takeOutbox().first).bytes
        #expect(rb.verify(answer, at: .milliseconds(3)) == .authentication(.replayRefuted(questionedEpoch: 1000, current: 2000)))
        #expect(rb.currentEpoch == 2000)
        #expect(rb.authenticationStatus(at: .milliseconds(3)).lastReplayRefuted?.questionedEpoch == 1000)
        #expect(accepted(rb.verify(heartbeat(epoch: 2000, sequence: 2), at: .milliseconds(4))))
    }

    @Test func afterAVerifiedStepBackTheAbandonedNewerEpochIsChallengedNotAccepted() throws {
        // ra went 1000 -> 500 (verified); a replay of epoch 1000 is newer than the current epoch
        // but not newer than every epoch seen, so it is not taken as another restart.
        var (rb, ra) = pair(raEpoch: 500)
        let old = heartbeat(epoch: 1000, sequence: 50)
        _ = rb.verify(heartbeat(epoch: 1000, sequence: 1), at: .zero)
        _ = rb.verify(heartbeat(epoch: 500, sequence: 1), at: .milliseconds(10))
        _ = ra.verify(try #require(rb.takeOutbox().first).bytes, at: .zero, localSequence: 1)
        _ = rb.verify(try #require(ra.takeOutbox().first).bytes, at: .milliseconds(11))
        #expect(rb.currentEpoch == 500)
        #expect(rb.verify(old, at: .milliseconds(500)) == .dropped(.staleEpoch(received: 1000, current: 500)))
        #expect(rb.takeOutbox().count == 1)
        // A genuinely new epoch (newer than every one seen) is a restart, accepted at once.
        #expect(accepted(rb.verify(heartbeat(epoch: 3000, sequence: 1), at: .milliseconds(600))))
    }

    @Test func challengesAreSpacedByTheRetryTime() {
        var (rb, _) = pair(raEpoch: 500)
        _ = rb.verify(heartbeat(epoch: 1000, sequence: 1), at: .zero)
        for ms: UInt64 in [1000, 1020, 1050, 1099] { _ = rb.verify(heartbeat(epoch: 500, sequence: ms), at: .milliseconds(ms)) }
        #expect(rb.takeOutbox().count == 1)
        _ = rb.verify(heartbeat(epoch: 500, sequence: 2000), at: .milliseconds(1100))
        #expect(rb.takeOutbox().count == 1)
        #expect(rb.counters.challengesSent == 2)
        #expect(rb.authenticationStatus(at: .milliseconds(1100)).reauthenticating?.challengesSent == 2)
        // With no older-epoch packet for a challenge lifetime, status stops saying "re-authenticating".
        #expect(rb.authenticationStatus(at: .milliseconds(1100 + HeartbeatVerifier.challengeLifetimeMilliseconds + 1)).reauthenticating == nil)
    }

    @Test func challengePacketsThatMustNotBeAnswered() throws {
        var (rb, ra) = pair(raEpoch: 500)
        _ = rb.verify(heartbeat(epoch: 1000, sequence: 1), at: .zero)
        _ = rb.verify(heartbeat(epoch: 500, sequence: 1), at: .milliseconds(10))
        let challenge = try #require(rb.takeOutbox().first).bytes
        // Sent back to its issuer: the sender is rb itself.
        #expect(rb.verify(challenge, at: .milliseconds(11)) == .dropped(.unexpectedSender("b")))
        // Tampered: any flipped byte breaks the tag.
        for index in 0..<(challenge.count - 32) {
            var tampered = challenge
            tampered[index] ^= 0x01
            var fresh = ra
            if case .authentication = fresh.verify(tampered, at: .zero) { Issue.record("byte \(index) flipped, still answered") }
            #expect(fresh.takeOutbox().isEmpty)
        }
        // Signed with another key.
        let forged = EpochChallengeCodec.encode(try EpochChallengeCodec.decode(challenge).packet, authenticator: otherKey)!
        #expect(ra.verify(forged, at: .zero) == .dropped(.badTag))
        // Addressed to someone else.
        var third = try EpochChallengeCodec.decode(challenge).packet
        third.target = "c"
        #expect(ra.verify(EpochChallengeCodec.encode(third, authenticator: key)!, at: .zero) == .dropped(.wrongTarget("c")))
        #expect(ra.takeOutbox().isEmpty)
    }

    @Test func answersAreRateLimited() throws {
        var (rb, ra) = pair(raEpoch: 500)
        _ = rb.verify(heartbeat(epoch: 1000, sequence: 1), at: .zero)
        _ = rb.verify(heartbeat(epoch: 500, sequence: 1), at: .milliseconds(10))
        let challenge = try #require(rb.takeOutbox().first).bytes
        var answered = 0
        for ms: UInt64 in 0..<20 {
            if case .authentication = ra.verify(challenge, at: .milliseconds(ms)) { answered += 1 }
        }
        #expect(answered == HeartbeatVerifier.answersPerSecond)
        #expect(ra.counters.rateLimited == 10)
        #expect(ra.takeOutbox().count == HeartbeatVerifier.answersPerSecond)
        if case .authentication = ra.verify(challenge, at: .milliseconds(1000)) {} else { Issue.record("not answered a second later") }
    }

    @Test func withoutALocalNameNothingIsChallenged() {
        var v = HeartbeatVerifier(peerName: "a", pathCount: 1, authenticator: key)
        _ = v.verify(heartbeat(epoch: 10, sequence: 1), at: .zero)
        #expect(v.verify(heartbeat(epoch: 5, sequence: 1), at: .zero) == .dropped(.staleEpoch(received: 5, current: 10)))
        #expect(v.takeOutbox().isEmpty)
    }

    @Test func authNoneStillChallengesSoALivePeerIsNeverLockedOut() throws {
        let nonces = CountingNonces()
        var rb = HeartbeatVerifier(peerName: "a", pathCount: 1, authenticator: nil, localName: "b", nonceSource: { nonces.make() })
        var ra = HeartbeatVerifier(peerName: "b", pathCount: 1, authenticator: nil, localName: "a", localEpoch: 5,
                                   nonceSource: { nonces.make() })
        _ = rb.verify(heartbeat(epoch: 10, sequence: 1, signedWith: nil), at: .zero)
        _ = rb.verify(heartbeat(epoch: 5, sequence: 1, signedWith: nil), at: .zero)
        _ = ra.verify(try #require(rb.takeOutbox().first).bytes, at: .zero, localSequence: 1)
        #expect(rb.verify(try #require(ra.takeOutbox().first).bytes, at: .zero) == .authentication(.peerVerified(epoch: 5, previous: 10, sequence: 1)))
    }
}

@Suite("Heartbeat key rotation")
struct HeartbeatKeyRotationTests {
    @Test func theNextKeyIsAcceptedAndStatusSaysWhichKeyThePeerUses() {
        var v = HeartbeatVerifier(peerName: "a", pathCount: 1, authenticator: key, nextAuthenticator: nextKey)
        #expect(v.authentication.peerKey == nil)
        #expect(accepted(v.verify(heartbeat(epoch: 1, sequence: 1, signedWith: key), at: .zero)))
        #expect(v.authentication.peerKey == .current)
        #expect(accepted(v.verify(heartbeat(epoch: 1, sequence: 2, signedWith: nextKey), at: .zero)))
        #expect(v.authentication.peerKey == .next)
        #expect(v.verify(heartbeat(epoch: 1, sequence: 3, signedWith: otherKey), at: .zero) == .dropped(.badTag))
        #expect(v.authentication.peerKey == .next)
        // A packet of another sender (our own, looped back) says nothing about the peer's key.
        #expect(v.verify(heartbeat(from: "b", epoch: 1, sequence: 4, signedWith: key), at: .zero) == .dropped(.unexpectedSender("b")))
        #expect(v.authentication.peerKey == .next)
    }

    /// Both nodes change keys one at a time: at every step each accepts the other's packets.
    @Test func aRotationOneNodeAtATimeNeverDropsAHeartbeat() {
        // (signs with, also accepts) for node a and node b at each step of the README's procedure.
        let steps: [(a: (any HeartbeatAuthenticator, (any HeartbeatAuthenticator)?), b: (any HeartbeatAuthenticator, (any HeartbeatAuthenticator)?))] = [
            ((key, nil), (key, nil)),            // both on the old key
            ((key, nextKey), (key, nil)),        // a: next_key_file = new
            ((key, nextKey), (key, nextKey)),    // b: next_key_file = new
            ((nextKey, key), (key, nextKey)),    // a: key_file = new, next_key_file = old
            ((nextKey, key), (nextKey, key)),    // b: the same
            ((nextKey, nil), (nextKey, key)),    // a: drops the old key
            ((nextKey, nil), (nextKey, nil)),    // b: drops the old key
        ]
        var sequence: UInt64 = 0
        for (index, step) in steps.enumerated() {
            sequence += 1
            var atA = HeartbeatVerifier(peerName: "b", pathCount: 1, authenticator: step.a.0, nextAuthenticator: step.a.1)
            var atB = HeartbeatVerifier(peerName: "a", pathCount: 1, authenticator: step.b.0, nextAuthenticator: step.b.1)
            #expect(accepted(atB.verify(heartbeat(from: "a", epoch: 1, sequence: sequence, signedWith: step.a.0), at: .zero)), "step \(index): b drops a")
            #expect(accepted(atA.verify(heartbeat(from: "b", epoch: 1, sequence: sequence, signedWith: step.b.0), at: .zero)), "step \(index): a drops b")
        }
    }

    @Test func replacingTheKeysTakesEffectAtOnce() {
        var v = HeartbeatVerifier(peerName: "a", pathCount: 1, authenticator: key)
        #expect(v.verify(heartbeat(epoch: 1, sequence: 1, signedWith: nextKey), at: .zero) == .dropped(.badTag))
        v.replaceKeys(current: nextKey, next: key)
        #expect(accepted(v.verify(heartbeat(epoch: 1, sequence: 2, signedWith: nextKey), at: .zero)))
        #expect(v.authentication.peerKey == .current)
    }

    static let files: [String: Data] = [
        "/k/old": Data("old-key-old-key-old-key-old-key!".utf8),
        "/k/new": Data("new-key-new-key-new-key-new-key!".utf8),
        "/k/copy": Data("old-key-old-key-old-key-old-key!\n".utf8),
        "/k/short": Data("short".utf8),
    ]

    static func read(_ path: String) throws -> Data {
        guard let data = files[path] else { throw CocoaError(.fileReadNoSuchFile) }
        return data
    }

    static func settings(_ current: String, _ next: String?) -> HeartbeatSettings {
        HeartbeatSettings(interval: .milliseconds(100), deadTime: .milliseconds(400),
                          authentication: .hmacSHA256(keyFile: current), nextKeyFile: next)
    }

    @Test func keyFilesAreChecked() throws {
        let ok = HeartbeatKeySet.check(Self.settings("/k/old", "/k/new"), read: Self.read)
        #expect(ok.errors.isEmpty && ok.warnings.isEmpty)
        let short = HeartbeatKeySet.check(Self.settings("/k/old", "/k/short"), read: Self.read)
        #expect(short.errors == ["heartbeat.next_key_file: heartbeat key file /k/short holds 5 bytes; it needs at least 16: create one with `head -c 32 /dev/urandom > /k/short` and copy it to both nodes"])
        let same = HeartbeatKeySet.check(Self.settings("/k/old", "/k/copy"), read: Self.read)
        #expect(same.errors.count == 1)
        #expect(same.errors.first?.contains("holds the same key as key_file /k/old") == true)
        let missing = HeartbeatKeySet.check(Self.settings("/k/old", "/k/none"), read: Self.read)
        #expect(missing.errors.isEmpty)
        #expect(missing.warnings.count == 1 && missing.warnings[0].hasPrefix("heartbeat.next_key_file: cannot read /k/none here"))

        let keys = try #require(try HeartbeatKeySet.load(Self.settings("/k/old", "/k/new"), read: Self.read))
        #expect(keys.next != nil)
        #expect(keys.current.fingerprint.hasPrefix("sha256:") && keys.current.fingerprint.count == 19)
        #expect(keys.current.fingerprint != keys.next?.fingerprint)
        #expect(throws: HeartbeatKeyError.sameKeyTwice(current: "/k/old", next: "/k/copy")) {
            try HeartbeatKeySet.load(Self.settings("/k/old", "/k/copy"), read: Self.read)
        }
        #expect(throws: HeartbeatKeyError.self) { try HeartbeatKeySet.load(Self.settings("/k/old", "/k/none"), read: Self.read) }
    }
}

@Suite("Log rate limiter")
struct LogRateLimiterTests {
    @Test func aStreamGetsABurstThenOneLineAMinuteWithTheCount() {
        var limiter = LogRateLimiter(burst: 5, quietMilliseconds: 60_000)
        // 5 lines a second for three minutes, as a locked-out peer produced.
        var written: [(UInt64, UInt64)] = []
        for tick: UInt64 in 0..<900 {
            let ms = tick * 200
            if case .write(let suppressed) = limiter.admit("replayed", at: .milliseconds(ms)) { written.append((ms, suppressed)) }
        }
        #expect(written.map(\.0) == [0, 200, 400, 600, 800, 60_800, 120_800])
        #expect(written.map(\.1) == [0, 0, 0, 0, 0, 299, 299])
    }

    @Test func keysAreIndependentAndSilenceStartsAFreshBurst() {
        var limiter = LogRateLimiter(burst: 2, quietMilliseconds: 1000)
        #expect(limiter.admit("a", at: .milliseconds(0)) == .write(suppressed: 0))
        #expect(limiter.admit("a", at: .milliseconds(1)) == .write(suppressed: 0))
        #expect(limiter.admit("a", at: .milliseconds(2)) == .suppress)
        #expect(limiter.admit("b", at: .milliseconds(3)) == .write(suppressed: 0))
        // a is silent for the quiet time: a new stream, reporting the one line left out.
        #expect(limiter.admit("a", at: .milliseconds(1002)) == .write(suppressed: 1))
        #expect(limiter.admit("a", at: .milliseconds(1003)) == .write(suppressed: 0))
    }
}

@Suite("Status: peer authentication")
struct PeerAuthenticationStatusTests {
    typealias S = HeartbeatVerifier.AuthenticationStatus
    static let wallNow: UInt64 = 1_796_000_000_000_000_000   // 2026-11-30T…

    static func status(pending: S.Reauthentication? = nil, verified: S.Verification? = nil,
                       refuted: S.Refutation? = nil, key: HeartbeatVerifier.KeySlot? = .current) -> S {
        var s = S()
        s.peerKey = key
        s.reauthenticating = pending
        s.lastVerified = verified
        s.lastReplayRefuted = refuted
        return s
    }

    /// (what, status, state, detail prefix)
    static let rows: [(String, S, String, String?)] = [
        ("nothing happened", status(), "ok", nil),
        ("challenging", status(pending: .init(questionedEpoch: 5, currentEpoch: 9, since: .milliseconds(9_000), challengesSent: 3)),
         "re-authenticating", "the peer sends boot epoch 5, older than its current epoch 9 (a restart with its state lost and its clock behind, or a replay): not accepted until it answers a challenge; 3 challenges since "),
        ("verified", status(verified: .init(epoch: 5, previousEpoch: 9, at: .milliseconds(8_000))),
         "ok", "peer verified by challenge at "),
        ("a later refutation wins", status(verified: .init(epoch: 5, previousEpoch: 9, at: .milliseconds(1_000)),
                                           refuted: .init(questionedEpoch: 3, currentEpoch: 5, at: .milliseconds(2_000))),
         "ok", "replay refuted at "),
        ("an earlier refutation does not", status(verified: .init(epoch: 5, previousEpoch: 9, at: .milliseconds(3_000)),
                                                  refuted: .init(questionedEpoch: 3, currentEpoch: 5, at: .milliseconds(2_000))),
         "ok", "peer verified by challenge at "),
    ]

    @Test func statesAndDetails() {
        for (what, status, state, detail) in Self.rows {
            let report = StatusReport.Authentication(status: status, counters: .init(), fingerprints: ("sha256:aaaaaaaaaaaa", nil),
                                                     now: .milliseconds(10_000), wallNow: Self.wallNow)
            #expect(report.state == state, "\(what)")
            if let detail {
                #expect(report.detail?.hasPrefix(detail) == true, "\(what): \(report.detail ?? "nil")")
            } else {
                #expect(report.detail == nil, "\(what)")
            }
        }
    }

    @Test func timesAreDatedFromTheWallClock() {
        let report = StatusReport.Authentication(
            status: Self.status(verified: .init(epoch: 5, previousEpoch: 9, at: .milliseconds(7_500))), counters: .init(),
            fingerprints: ("sha256:aaaaaaaaaaaa", "sha256:bbbbbbbbbbbb"), now: .milliseconds(10_000), wallNow: Self.wallNow)
        let expected = ControlTime.iso8601(nanosecondsSinceEpoch: Self.wallNow - 2_500_000_000)
        #expect(report.verifiedByChallengeAt == expected)
        #expect(report.detail == "peer verified by challenge at \(expected): boot epoch 5 replaced 9 (it restarted with an older epoch)")
        #expect(report.mode == "hmac-sha256" && report.nextKeyFingerprint == "sha256:bbbbbbbbbbbb" && report.peerKey == "current")
        let none = StatusReport.Authentication(status: S(), counters: .init(), fingerprints: nil, now: .zero, wallNow: Self.wallNow)
        #expect(none.mode == "none" && none.keyFingerprint == nil)
    }
}
