import Foundation
import Testing
@testable import TandemCore

/// Golden vectors below were computed independently with Python's `hmac`/`hashlib` from the
/// transcript layout documented on `PeerHandshake` (key "A"×32, client "ra" nonce 0x11×32,
/// server "rb" nonce 0x22×32).
private let key = try! HeartbeatKey(fileContents: Data(repeating: 0x41, count: 32), path: "test.key")
private let otherKey = try! HeartbeatKey(fileContents: Data(repeating: 0x42, count: 32), path: "other.key")
private let clientNonce = [UInt8](repeating: 0x11, count: 32)
private let serverNonce = [UInt8](repeating: 0x22, count: 32)
private let goldenServerProof = "6ac631f57251b22ad80e6f2f1a4fb89b05da640b34490d869c6d8acbce5324b0"
private let goldenClientProof = "b48d5a1cc992df881e81c77219952f1e451c3aaf288377ac1f37cac448a0d2ca"
private let goldenFetchTag = "cb73e31cf6a1914a5627ed4de13a35c625e40d62bec2bd39610b5bb9b46248a5"
private let goldenResponseTag = "26ad52a4f4b04d5597ed779d8e5825b5da3dc8904acbfe9b4ec03f791d10b49f"

private func hex(_ bytes: some Sequence<UInt8>) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
private func bytes(_ hex: String) -> [UInt8] {
    var out: [UInt8] = []
    var chars = Array(hex.utf8)[...]
    while chars.count >= 2 {
        out.append(UInt8(String(decoding: chars.prefix(2), as: UTF8.self), radix: 16)!)
        chars = chars.dropFirst(2)
    }
    return out
}
private func header(_ kind: UInt8) -> [UInt8] { Array("TDMR".utf8) + [1, kind] }

private func client(_ k: HeartbeatKey = key, name: String = "ra", peer: String = "rb", nonce: [UInt8] = clientNonce) -> PeerHandshakeClient {
    PeerHandshakeClient(key: k, name: name, peerName: peer, nonce: nonce)
}
private func server(_ k: HeartbeatKey = key, name: String = "rb", peer: String = "ra", nonce: [UInt8] = serverNonce) -> PeerHandshakeServer {
    PeerHandshakeServer(key: k, name: name, peerName: peer, nonce: nonce)
}

@Suite struct PeerHandshakeTests {
    @Test func helloAndChallengeHaveTheGoldenBytes() throws {
        let hello = client().hello()
        #expect(hello == header(1) + clientNonce + [2] + Array("ra".utf8))
        var s = server()
        let challenge = try s.helloReceived(hello)
        #expect(challenge == header(2) + serverNonce + bytes(goldenServerProof) + [2] + Array("rb".utf8))
    }

    @Test func aFullExchangeProvesBothSidesAndAgreesOnTheSessionKey() throws {
        let c = client()
        var s = server()
        let (proof, clientSessionStart) = try c.challengeReceived(try s.helloReceived(c.hello()))
        #expect(proof == header(3) + bytes(goldenClientProof))
        var serverSession = try s.proofReceived(proof)
        var clientSession = clientSessionStart

        let request = PeerMessageCoding.encode(PeerRequest.fetchConfig)
        #expect(String(decoding: request, as: UTF8.self) == #"{"fetchConfig":{}}"#)
        let sealed = clientSession.seal(request)
        #expect(hex(sealed.suffix(32)) == goldenFetchTag)
        #expect(try serverSession.open(sealed) == request)

        let response = PeerMessageCoding.encode(PeerResponse.config(ConfigSnapshot(text: "serial: 7\n", serial: 7, digest: "ab")))
        #expect(String(decoding: response, as: UTF8.self) == #"{"config":{"_0":{"digest":"ab","serial":7,"text":"serial: 7\n"}}}"#)
        let answer = serverSession.seal(response)
        #expect(hex(answer.suffix(32)) == goldenResponseTag)
        let opened = try clientSession.open(answer)
        #expect(try PeerMessageCoding.decode(PeerResponse.self, from: opened)
                == .config(ConfigSnapshot(text: "serial: 7\n", serial: 7, digest: "ab")))
    }

    @Test func theKeyNeverTravels() throws {
        let c = client()
        var s = server()
        let hello = c.hello()
        let challenge = try s.helloReceived(hello)
        let (proof, _) = try c.challengeReceived(challenge)
        let keyBytes = [UInt8](repeating: 0x41, count: 32)
        for frame in [hello, challenge, proof] {
            let found = frame.count >= 16 && (0...(frame.count - 16)).contains { Array(frame[$0..<$0 + 16]) == Array(keyBytes.prefix(16)) }
            #expect(!found)
        }
    }

    @Test func aServerWithAnotherKeyIsRejectedByTheClient() throws {
        let c = client()
        var s = server(otherKey)
        #expect(throws: PeerProtocolError.authenticationFailed("rb's proof of the key does not verify")) {
            try c.challengeReceived(try s.helloReceived(c.hello()))
        }
    }

    /// During a key change the client holds both keys: it answers with whichever the server proved.
    @Test func aClientWithTheServersKeyAsItsNextKeyIsAccepted() throws {
        for keys in [[otherKey, key], [key, otherKey]] {
            let c = PeerHandshakeClient(keys: keys, name: "ra", peerName: "rb", nonce: clientNonce)
            var s = server(key)
            let (proof, clientStart) = try c.challengeReceived(try s.helloReceived(c.hello()))
            #expect(proof == header(3) + bytes(goldenClientProof))
            var serverSession = try s.proofReceived(proof)
            var clientSession = clientStart
            let request = PeerMessageCoding.encode(PeerRequest.fetchConfig)
            #expect(try serverSession.open(clientSession.seal(request)) == request)
        }
        let without = PeerHandshakeClient(keys: [otherKey], name: "ra", peerName: "rb", nonce: clientNonce)
        var s = server(key)
        #expect(throws: PeerProtocolError.self) { try without.challengeReceived(try s.helloReceived(without.hello())) }
    }

    @Test func aClientWithAnotherKeyIsRejectedByTheServer() throws {
        // The client cannot verify the server (different keys) and would stop; an attacker
        // without the key answering with a made-up proof is what the server sees.
        var s = server()
        _ = try s.helloReceived(client(otherKey).hello())
        let forged = header(3) + [UInt8](repeating: 0x5a, count: 32)
        #expect(throws: PeerProtocolError.authenticationFailed("ra's proof of the key does not verify")) {
            try s.proofReceived(forged)
        }
    }

    @Test func aTamperedProofIsRejected() throws {
        let c = client()
        var s = server()
        let challenge = try s.helloReceived(c.hello())
        var (proof, _) = try c.challengeReceived(challenge)
        proof[proof.count - 1] ^= 0x01
        #expect(throws: PeerProtocolError.self) { try s.proofReceived(proof) }
        var tamperedChallenge = challenge
        tamperedChallenge[6 + 32 + 5] ^= 0x80  // a bit of the server proof
        #expect(throws: PeerProtocolError.self) { try c.challengeReceived(tamperedChallenge) }
    }

    @Test func aRecordedExchangeCannotBeReplayed() throws {
        // Record a good exchange.
        let c = client()
        var s = server()
        let hello = c.hello()
        let challenge = try s.helloReceived(hello)
        let (proof, _) = try c.challengeReceived(challenge)
        // Replay the client's side to a server with a fresh nonce: its proof no longer verifies.
        var fresh = server(nonce: [UInt8](repeating: 0x33, count: 32))
        _ = try fresh.helloReceived(hello)
        #expect(throws: PeerProtocolError.authenticationFailed("ra's proof of the key does not verify")) {
            try fresh.proofReceived(proof)
        }
        // Replay the server's side to a client with a fresh nonce: its proof no longer verifies.
        let freshClient = client(nonce: [UInt8](repeating: 0x44, count: 32))
        #expect(throws: PeerProtocolError.self) { try freshClient.challengeReceived(challenge) }
    }

    @Test func theServerProofCannotBeReflectedAsTheClientProof() throws {
        var s = server()
        let challenge = try s.helloReceived(client().hello())
        let serverProof = Array(challenge[(6 + 32)..<(6 + 64)])
        #expect(throws: PeerProtocolError.self) { try s.proofReceived(header(3) + serverProof) }
    }

    @Test func namesMustMatchTheConfiguredPeer() throws {
        var s = server(peer: "ra")
        #expect(throws: PeerProtocolError.unexpectedPeer(expected: "ra", actual: "rc")) {
            try s.helloReceived(client(name: "rc").hello())
        }
        var other = server(name: "rx")
        let c = client()
        #expect(throws: PeerProtocolError.unexpectedPeer(expected: "rb", actual: "rx")) {
            try c.challengeReceived(try other.helloReceived(c.hello()))
        }
    }

    static let malformedHellos: [([UInt8], String)] = {
        let magic: [UInt8] = Array("TDMR".utf8)
        let zeros10 = [UInt8](repeating: 0, count: 10)
        let zeros32 = [UInt8](repeating: 0, count: 32)
        var cases: [([UInt8], String)] = []
        cases.append(([], "empty"))
        cases.append((Array("HTTP/1.1 200".utf8), "another protocol"))
        cases.append((magic + [1, 1] + zeros10, "truncated nonce"))
        cases.append((magic + [1, 1] + zeros32 + [5, 0x72], "name length beyond the end"))
        cases.append((magic + [1, 3] + zeros32, "wrong kind"))
        return cases
    }()

    @Test(arguments: malformedHellos)
    func malformedHellosAreRejected(payload: [UInt8], _ what: String) {
        var s = server()
        #expect(throws: PeerProtocolError.self, "\(what)") { try s.helloReceived(payload) }
    }

    @Test func anotherVersionIsNamed() {
        var s = server()
        var hello = client().hello()
        hello[4] = 9
        #expect(throws: PeerProtocolError.unsupportedVersion(9)) { try s.helloReceived(hello) }
    }

    @Test func proofBeforeHelloIsRejected() {
        let s = server()
        #expect(throws: PeerProtocolError.malformed("proof before hello")) {
            try s.proofReceived(header(3) + [UInt8](repeating: 0, count: 32))
        }
    }

    @Test func verdicts() throws {
        try PeerHandshake.verdictReceived(PeerHandshake.verdict(refusal: nil))
        #expect(PeerHandshake.verdict(refusal: nil) == header(4) + [0])
        #expect(throws: PeerProtocolError.refused("authentication failed")) {
            try PeerHandshake.verdictReceived(PeerHandshake.verdict(refusal: "authentication failed"))
        }
        #expect(throws: PeerProtocolError.self) { try PeerHandshake.verdictReceived(header(4) + [7]) }
    }
}

@Suite struct PeerSessionTests {
    private func sessions() throws -> (client: PeerSession, server: PeerSession) {
        let c = client()
        var s = server()
        let (proof, clientSession) = try c.challengeReceived(try s.helloReceived(c.hello()))
        return (clientSession, try s.proofReceived(proof))
    }

    @Test func tamperedMessagesAreRejected() throws {
        var (c, s) = try sessions()
        var sealed = c.seal(Array("hello".utf8))
        sealed[0] ^= 0x20
        #expect(throws: PeerProtocolError.badMessageTag(sequence: 0)) { try s.open(sealed) }
    }

    @Test func replayedAndReorderedMessagesAreRejected() throws {
        var (c, s) = try sessions()
        let first = c.seal(Array("one".utf8))
        let second = c.seal(Array("two".utf8))
        #expect(throws: PeerProtocolError.badMessageTag(sequence: 0)) { try s.open(second) }
        #expect(try s.open(first) == Array("one".utf8))
        #expect(throws: PeerProtocolError.badMessageTag(sequence: 1)) { try s.open(first) }
        #expect(try s.open(second) == Array("two".utf8))
    }

    @Test func aMessageCannotBeReflectedBackToItsSender() throws {
        var (c, _) = try sessions()
        let sealed = c.seal(Array("fetch".utf8))
        #expect(throws: PeerProtocolError.badMessageTag(sequence: 0)) { try c.open(sealed) }
    }

    @Test func anotherSessionsMessagesAreRejected() throws {
        var (c, _) = try sessions()
        let other = client(nonce: [UInt8](repeating: 0x55, count: 32))
        var otherServer = server()
        let (proof, _) = try other.challengeReceived(try otherServer.helloReceived(other.hello()))
        var s2 = try otherServer.proofReceived(proof)
        #expect(throws: PeerProtocolError.self) { try s2.open(c.seal(Array("x".utf8))) }
    }

    @Test func shortMessagesAreRejected() throws {
        var (_, s) = try sessions()
        #expect(throws: PeerProtocolError.malformed("message shorter than its tag")) { try s.open([1, 2, 3]) }
    }

    @Test func unknownRequestsDoNotDecode() {
        #expect(throws: PeerProtocolError.self) {
            try PeerMessageCoding.decode(PeerRequest.self, from: Array(#"{"drains":{}}"#.utf8))
        }
    }
}

@Suite struct PeerFrameTests {
    @Test func framesHaveABigEndianLengthPrefix() {
        #expect(PeerFrame.encode([0xaa, 0xbb, 0xcc]) == [0, 0, 0, 3, 0xaa, 0xbb, 0xcc])
        #expect(PeerFrame.encode([]) == [0, 0, 0, 0])
        #expect(Array(PeerFrame.encode([UInt8](repeating: 1, count: 0x010203)).prefix(4)) == [0, 1, 2, 3])
    }

    @Test func framesSplitAnywhereAreReassembled() throws {
        let stream = PeerFrame.encode(Array("first".utf8)) + PeerFrame.encode([]) + PeerFrame.encode(Array("third frame".utf8))
        for chunk in 1...stream.count {
            var decoder = PeerFrameDecoder(limit: 100)
            var frames: [[UInt8]] = []
            var offset = 0
            while offset < stream.count {
                decoder.append(stream[offset..<min(offset + chunk, stream.count)])
                offset += chunk
                while let frame = try decoder.nextFrame() { frames.append(frame) }
            }
            try decoder.finish()
            #expect(frames == [Array("first".utf8), [], Array("third frame".utf8)], "chunk \(chunk)")
        }
    }

    @Test func anOversizedFrameIsRejectedFromItsHeader() throws {
        var decoder = PeerFrameDecoder(limit: PeerFrame.handshakeLimit)
        decoder.append([0, 0, 0x02, 0x01])  // 513 bytes announced, none sent
        #expect(throws: PeerProtocolError.frameTooLarge(length: 513, limit: 512)) { try decoder.nextFrame() }
        var big = PeerFrameDecoder(limit: PeerFrame.maximumLength)
        let n = PeerFrame.maximumLength + 1
        big.append([UInt8(n >> 24), UInt8(n >> 16 & 0xff), UInt8(n >> 8 & 0xff), UInt8(n & 0xff)])
        #expect(throws: PeerProtocolError.frameTooLarge(length: n, limit: PeerFrame.maximumLength)) { try big.nextFrame() }
    }

    @Test func aTenMegabyteConfigFitsAndAFrameAtTheLimitPasses() throws {
        #expect(PeerFrame.maximumLength >= PeerFrame.maximumConfigBytes + 64)
        var decoder = PeerFrameDecoder(limit: 1000)
        decoder.append(PeerFrame.encode([UInt8](repeating: 7, count: 1000)))
        #expect(try decoder.nextFrame()?.count == 1000)
    }

    @Test func truncatedInputIsReportedAtEndOfStream() throws {
        var decoder = PeerFrameDecoder(limit: 100)
        decoder.append([0, 0, 0, 10, 1, 2, 3])
        #expect(try decoder.nextFrame() == nil)
        #expect(throws: PeerProtocolError.truncated(expected: 14, buffered: 7)) { try decoder.finish() }
        var header = PeerFrameDecoder(limit: 100)
        header.append([0, 0])
        #expect(throws: PeerProtocolError.truncated(expected: 4, buffered: 2)) { try header.finish() }
    }
}
