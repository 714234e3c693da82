// Fuzz target `peer`: the peer channel (config replication) as a connection receives it: the
// byte stream cut into frames by `PeerFrameDecoder` (the handshake limit for the first two
// frames, the full limit after), the handshake messages, and the JSON requests and responses.
//
// The first input byte chooses the side and how the stream arrives (bits 0-1: the role, bits 2-7:
// the chunk size the bytes are fed in); the rest is what the peer sends.
// - role 0, server: frame 1 is a hello, frame 2 a proof, later frames session messages;
// - role 1, client: frame 1 is a challenge, frame 2 a verdict, later frames session messages;
// - role 2, established session: each frame is a message body that the peer seals and this
//   side opens (a real handshake with a fixed key ran first, since no input can forge its MACs),
//   then decodes as a request and as a response;
// - role 3, raw session: each frame is opened as it is (only the peer's own sealing may open).
//
// Properties checked on every input:
// 1. Nothing traps, whatever the bytes; a frame over the limit is refused when its header is read.
// 2. Only the genuine proof (server side) and challenge (client side) are accepted, and no
//    message whose tag the input could not have computed.
// 3. A sealed body opens to the same bytes.
// 4. A decoded request or response re-encodes to bytes that decode to the same value.

import Foundation
@testable import TandemCore

private let fuzzKey = try! HeartbeatKey(fileContents: Data(repeating: 0x5a, count: 32), path: "fuzz")
private let clientNonce = [UInt8](repeating: 0x11, count: PeerHandshake.nonceLength)
private let serverNonce = [UInt8](repeating: 0x22, count: PeerHandshake.nonceLength)

private func client() -> PeerHandshakeClient {
    PeerHandshakeClient(key: fuzzKey, name: "ra", peerName: "rb", nonce: clientNonce)
}

private func server() -> PeerHandshakeServer {
    PeerHandshakeServer(key: fuzzKey, name: "rb", peerName: "ra", nonce: serverNonce)
}

/// A completed handshake between the fixed client and server.
private func establishedSessions() -> (client: PeerSession, server: PeerSession) {
    let c = client()
    var s = server()
    let (proof, clientSession) = try! c.challengeReceived(try! s.helloReceived(c.hello()))
    return (clientSession, try! s.proofReceived(proof))
}

private let fixedSessions = establishedSessions()

func peerFuzz(_ input: [UInt8]) {
    guard let control = input.first else { return }
    let role = control & 3
    let chunk = Int(control >> 2) + 1
    var decoder = PeerFrameDecoder(limit: PeerFrame.handshakeLimit)
    var handshakeServer = server()
    let handshakeClient = client()
    var (peerSession, session) = fixedSessions
    var hello: [UInt8] = []
    var frames = 0
    var offset = 1
    while offset < input.count {
        let end = min(offset + chunk, input.count)
        decoder.append(input[offset..<end])
        offset = end
        while true {
            let frame: [UInt8]
            do {
                guard let next = try decoder.nextFrame() else { break }
                frame = next
            } catch {
                guard case .frameTooLarge(let length, let limit) = error, length > limit, limit == decoder.limit else {
                    fatalError("frame decoder failed with \(error)")
                }
                return  // the connection is closed
            }
            precondition(frame.count <= decoder.limit, "a frame over the limit was returned")
            frames += 1
            switch role {
            case 0 where frames == 1:
                guard (try? handshakeServer.helloReceived(frame)) != nil else { return }
                hello = frame
            case 0 where frames == 2:
                guard let opened = try? handshakeServer.proofReceived(frame) else { return }
                precondition(frame == genuineProof(hello: hello), "a forged proof was accepted")
                session = opened
            case 1 where frames == 1:
                guard let accepted = try? handshakeClient.challengeReceived(frame) else { return }
                precondition(frame == genuineChallenge(frame), "a forged challenge was accepted")
                session = accepted.session
            case 1 where frames == 2:
                guard (try? PeerHandshake.verdictReceived(frame)) != nil else { return }
            case 2:
                let sealed = peerSession.seal(frame)
                guard let body = try? session.open(sealed), body == frame else { fatalError("a sealed body did not open to itself") }
                messages(body)
            case 3:
                // Frames as they come: one opens only if it is what the peer would have sealed.
                if let body = try? session.open(frame) {
                    precondition(peerSession.seal(body) == frame, "a forged message tag was accepted")
                }
                messages(frame)
            default:
                // After a completed handshake (roles 0 and 1): session messages.
                _ = try? session.open(frame)
                messages(frame)
            }
            if frames == 2 { decoder.limit = PeerFrame.maximumLength }
        }
    }
    do {
        try decoder.finish()
    } catch {
        guard case .truncated(let expected, let buffered) = error, buffered < expected else {
            fatalError("end of stream failed with \(error)")
        }
    }
}

/// The one proof the server may accept after `hello`: the fixed client's, over the hello's nonce.
private func genuineProof(hello: [UInt8]) -> [UInt8] {
    let nonce = Array(hello[6..<(6 + PeerHandshake.nonceLength)])
    let t = PeerHandshake.transcript(clientName: "ra", serverName: "rb", clientNonce: nonce, serverNonce: serverNonce)
    return PeerHandshake.header(.proof) + PeerHandshake.mac("client-proof", t, key: fuzzKey.key)
}

/// The one challenge the client may accept with the server nonce `challenge` carries: the fixed server's.
private func genuineChallenge(_ challenge: [UInt8]) -> [UInt8] {
    let nonce = Array(challenge[6..<(6 + PeerHandshake.nonceLength)])
    let t = PeerHandshake.transcript(clientName: "ra", serverName: "rb", clientNonce: clientNonce, serverNonce: nonce)
    return PeerHandshake.header(.challenge) + nonce + PeerHandshake.mac("server-proof", t, key: fuzzKey.key)
        + PeerHandshake.encodeName("rb")
}

/// A body as the serving side decodes it (a request) and as the asking side does (a response).
private func messages(_ body: [UInt8]) {
    if let request = try? PeerMessageCoding.decode(PeerRequest.self, from: body) {
        let again = try? PeerMessageCoding.decode(PeerRequest.self, from: PeerMessageCoding.encode(request))
        precondition(again == request, "request \(request) changed through encoding")
    }
    if let response = try? PeerMessageCoding.decode(PeerResponse.self, from: body) {
        let again = try? PeerMessageCoding.decode(PeerResponse.self, from: PeerMessageCoding.encode(response))
        precondition(again == response, "response \(response) changed through encoding")
    }
}

/// Seeds: a real exchange from each side, and the messages of an established session.
func peerSeeds() -> [(String, [UInt8])] {
    let c = client()
    var s = server()
    let hello = c.hello()
    let challenge = try! s.helloReceived(hello)
    let (proof, _) = try! c.challengeReceived(challenge)
    let bodies: [[UInt8]] = [
        PeerMessageCoding.encode(PeerRequest.fetchConfig),
        PeerMessageCoding.encode(PeerRequest.drains(DrainList(generation: 42, entries: ["web 10.0.1.11 80"]))),
        PeerMessageCoding.encode(PeerResponse.config(ConfigSnapshot(text: "serial: 3\n", serial: 3, digest: "00ff"))),
        PeerMessageCoding.encode(PeerResponse.accepted("mirrored")),
        PeerMessageCoding.encode(PeerResponse.failure("unsupported request")),
    ]
    var sealer = fixedSessions.client
    return [
        ("server-handshake", [0x00 | (63 << 2)] + PeerFrame.encode(hello) + PeerFrame.encode(proof)),
        ("server-handshake-bytewise", [0x00] + PeerFrame.encode(hello) + PeerFrame.encode(proof)),
        ("client-handshake", [0x01 | (7 << 2)] + PeerFrame.encode(challenge) + PeerFrame.encode(PeerHandshake.verdict(refusal: nil))),
        ("client-refused", [0x01] + PeerFrame.encode(challenge) + PeerFrame.encode(PeerHandshake.verdict(refusal: "not my peer"))),
        ("session", [0x02 | (63 << 2)] + bodies.flatMap { PeerFrame.encode($0) }),
        ("raw-session", [0x03 | (15 << 2)] + bodies.flatMap { PeerFrame.encode(sealer.seal($0)) }),
    ]
}
