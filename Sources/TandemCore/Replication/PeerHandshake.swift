import Crypto

/// The mutual challenge-response that opens every peer connection (config replication).
///
/// Four frames, each `"TDMR" | version | kind | body`:
/// 1. client → server `hello`: client nonce (32 bytes), client name (1-byte length, UTF-8);
/// 2. server → client `challenge`: server nonce, server proof, server name;
/// 3. client → server `proof`: client proof;
/// 4. server → client `verdict`: 0 accepted, or 1 refused with a reason (text).
///
/// With `T = "tandem-peer-v1" | len(clientName) clientName | len(serverName) serverName |
/// clientNonce | serverNonce` and `K` the heartbeat key:
/// server proof = HMAC-SHA256(K, "server-proof" | T), client proof = HMAC-SHA256(K, "client-proof" | T),
/// session key = HMAC-SHA256(K, "session" | T).
///
/// Each side proves the key over a nonce the other side just chose, so a recorded exchange
/// proves nothing in a new one; the two proofs have different labels, so one side's proof
/// cannot be reflected back as the other's; the key itself is never sent. Every later message
/// is tagged with the session key (`PeerSession`), so a hijacked connection cannot inject one.
public enum PeerHandshake {
    public static let magic: [UInt8] = Array("TDMR".utf8)
    public static let version: UInt8 = 1
    public static let nonceLength = 32
    public static let proofLength = 32
    static let context: [UInt8] = Array("tandem-peer-v1".utf8)

    enum Kind: UInt8 {
        case hello = 1, challenge = 2, proof = 3, verdict = 4
    }

    /// The transcript `T` both proofs and the session key are computed over.
    static func transcript(clientName: String, serverName: String, clientNonce: [UInt8], serverNonce: [UInt8]) -> [UInt8] {
        var t = context
        for name in [clientName, serverName] {
            let bytes = Array(name.utf8)
            t.append(UInt8(clamping: bytes.count))
            t += bytes
        }
        return t + clientNonce + serverNonce
    }

    static func mac(_ label: String, _ transcript: [UInt8], key: SymmetricKey) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: Array(label.utf8) + transcript, using: key))
    }

    static func header(_ kind: Kind) -> [UInt8] { magic + [version, kind.rawValue] }

    static func encodeName(_ name: String) -> [UInt8] {
        let bytes = Array(name.utf8.prefix(HeartbeatMessage.maximumNameLength))
        return [UInt8(bytes.count)] + bytes
    }

    /// Checks magic, version and kind; returns the body.
    static func body(of payload: [UInt8], kind: Kind) throws(PeerProtocolError) -> ArraySlice<UInt8> {
        guard payload.count >= 6, Array(payload[0..<4]) == magic else {
            throw .malformed("not a Tandem peer handshake (no TDMR magic): is another service on this port?")
        }
        guard payload[4] == version else { throw .unsupportedVersion(payload[4]) }
        guard payload[5] == kind.rawValue else {
            throw .malformed("expected handshake message \(kind), got kind \(payload[5])")
        }
        return payload[6...]
    }

    static func decodeName(_ body: ArraySlice<UInt8>) throws(PeerProtocolError) -> String {
        guard let length = body.first, body.count == 1 + Int(length) else {
            throw .malformed("node name length does not match the message length")
        }
        guard let name = String(validating: body.dropFirst(), as: UTF8.self), !name.isEmpty else {
            throw .malformed("node name is empty or not UTF-8")
        }
        return name
    }

    /// The verdict frame: accepted, or refused with `reason`.
    public static func verdict(refusal reason: String?) -> [UInt8] {
        guard let reason else { return header(.verdict) + [0] }
        return header(.verdict) + [1] + Array(reason.utf8.prefix(200))
    }

    /// Reads a verdict: returns if accepted, throws `.refused` otherwise.
    public static func verdictReceived(_ payload: [UInt8]) throws(PeerProtocolError) {
        let body = try body(of: payload, kind: .verdict)
        switch body.first {
        case 0 where body.count == 1: return
        case 1: throw .refused(String(decoding: body.dropFirst(), as: UTF8.self))
        default: throw .malformed("verdict is neither accepted nor refused")
        }
    }
}

/// The connecting side of the handshake. Pure: the nonce is an argument (tests fix it; the
/// daemon draws it from the system's random generator).
///
/// Key rotation: the server proves its current key; the client accepts that proof under any of
/// its keys (`key_file`, then `next_key_file`) and answers, and derives the session, with the key
/// that verified it. So the peer channel works at every step of a key change, as heartbeats do.
public struct PeerHandshakeClient: Sendable {
    let keys: [SymmetricKey]
    let name: String
    let peerName: String
    let nonce: [UInt8]

    public init(key: HeartbeatKey, name: String, peerName: String, nonce: [UInt8]) {
        self.init(keys: [key], name: name, peerName: peerName, nonce: nonce)
    }

    /// `keys`: the current key first, then the next one (at least one).
    public init(keys: [HeartbeatKey], name: String, peerName: String, nonce: [UInt8]) {
        self.keys = keys.map(\.key)
        self.name = name
        self.peerName = peerName
        self.nonce = nonce
    }

    /// Frame 1.
    public func hello() -> [UInt8] {
        PeerHandshake.header(.hello) + nonce + PeerHandshake.encodeName(name)
    }

    /// Frame 2 arrived: verifies the server's proof; returns frame 3 and the session.
    public func challengeReceived(_ payload: [UInt8]) throws(PeerProtocolError) -> (proof: [UInt8], session: PeerSession) {
        let body = try PeerHandshake.body(of: payload, kind: .challenge)
        let fixed = PeerHandshake.nonceLength + PeerHandshake.proofLength
        guard body.count > fixed else { throw .malformed("challenge is \(body.count) bytes, shorter than \(fixed + 2)") }
        let serverNonce = Array(body.prefix(PeerHandshake.nonceLength))
        let serverProof = body.dropFirst(PeerHandshake.nonceLength).prefix(PeerHandshake.proofLength)
        let serverName = try PeerHandshake.decodeName(body.dropFirst(fixed))
        guard serverName == peerName else { throw .unexpectedPeer(expected: peerName, actual: serverName) }
        let t = PeerHandshake.transcript(clientName: name, serverName: serverName, clientNonce: nonce, serverNonce: serverNonce)
        guard let key = keys.first(where: {
            HMAC<SHA256>.isValidAuthenticationCode(serverProof, authenticating: Array("server-proof".utf8) + t, using: $0)
        }) else {
            throw .authenticationFailed("\(serverName)'s proof of the key does not verify")
        }
        let proof = PeerHandshake.header(.proof) + PeerHandshake.mac("client-proof", t, key: key)
        let session = PeerSession(key: SymmetricKey(data: PeerHandshake.mac("session", t, key: key)), role: .client)
        return (proof, session)
    }
}

/// The accepting side of the handshake.
public struct PeerHandshakeServer: Sendable {
    let key: SymmetricKey
    let name: String
    let peerName: String
    let nonce: [UInt8]
    private var transcript: [UInt8]?

    public init(key: HeartbeatKey, name: String, peerName: String, nonce: [UInt8]) {
        self.key = key.key
        self.name = name
        self.peerName = peerName
        self.nonce = nonce
    }

    /// Frame 1 arrived: returns frame 2.
    public mutating func helloReceived(_ payload: [UInt8]) throws(PeerProtocolError) -> [UInt8] {
        let body = try PeerHandshake.body(of: payload, kind: .hello)
        guard body.count > PeerHandshake.nonceLength else { throw .malformed("hello is too short") }
        let clientNonce = Array(body.prefix(PeerHandshake.nonceLength))
        let clientName = try PeerHandshake.decodeName(body.dropFirst(PeerHandshake.nonceLength))
        guard clientName == peerName else { throw .unexpectedPeer(expected: peerName, actual: clientName) }
        let t = PeerHandshake.transcript(clientName: clientName, serverName: name, clientNonce: clientNonce, serverNonce: nonce)
        transcript = t
        return PeerHandshake.header(.challenge) + nonce + PeerHandshake.mac("server-proof", t, key: key)
            + PeerHandshake.encodeName(name)
    }

    /// Frame 3 arrived: verifies the client's proof; returns the session (send the accepted verdict).
    public func proofReceived(_ payload: [UInt8]) throws(PeerProtocolError) -> PeerSession {
        guard let t = transcript else { throw .malformed("proof before hello") }
        let body = try PeerHandshake.body(of: payload, kind: .proof)
        guard body.count == PeerHandshake.proofLength else { throw .malformed("proof is \(body.count) bytes, not 32") }
        guard HMAC<SHA256>.isValidAuthenticationCode(body, authenticating: Array("client-proof".utf8) + t, using: key) else {
            throw .authenticationFailed("\(peerName)'s proof of the key does not verify")
        }
        return PeerSession(key: SymmetricKey(data: PeerHandshake.mac("session", t, key: key)), role: .server)
    }
}

/// Tags and checks the messages of an established connection: each frame is
/// `body | HMAC-SHA256(sessionKey, direction | sequence (8 bytes, big-endian) | body)`, with the
/// direction `C` (client to server) or `S` and a sequence counting from 0 in each direction,
/// so a message cannot be altered, dropped, reordered, replayed or reflected unnoticed.
public struct PeerSession: Sendable {
    public enum Role: Sendable { case client, server }
    let key: SymmetricKey
    let role: Role
    public private(set) var sent: UInt64 = 0
    public private(set) var received: UInt64 = 0
    static let tagLength = 32

    init(key: SymmetricKey, role: Role) {
        self.key = key
        self.role = role
    }

    private static func prefix(direction: UInt8, sequence: UInt64) -> [UInt8] {
        [direction] + (0..<8).map { UInt8(truncatingIfNeeded: sequence >> (56 - 8 * $0)) }
    }

    private var sendDirection: UInt8 { role == .client ? UInt8(ascii: "C") : UInt8(ascii: "S") }
    private var receiveDirection: UInt8 { role == .client ? UInt8(ascii: "S") : UInt8(ascii: "C") }

    /// The frame payload carrying `body`.
    public mutating func seal(_ body: [UInt8]) -> [UInt8] {
        var mac = HMAC<SHA256>(key: key)
        mac.update(data: Self.prefix(direction: sendDirection, sequence: sent))
        mac.update(data: body)
        sent += 1
        return body + Array(mac.finalize())
    }

    /// The body of a received frame payload, if its tag verifies.
    public mutating func open(_ payload: [UInt8]) throws(PeerProtocolError) -> [UInt8] {
        guard payload.count >= Self.tagLength else { throw .malformed("message shorter than its tag") }
        let body = payload.prefix(payload.count - Self.tagLength)
        let tag = payload.suffix(Self.tagLength)
        var mac = HMAC<SHA256>(key: key)
        mac.update(data: Self.prefix(direction: receiveDirection, sequence: received))
        mac.update(data: body)
        let expected = Array(mac.finalize())
        // Constant-time comparison.
        var diff: UInt8 = 0
        for (a, b) in zip(expected, tag) { diff |= a ^ b }
        guard diff == 0 else { throw .badMessageTag(sequence: received) }
        received += 1
        return Array(body)
    }
}
