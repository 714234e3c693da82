// Fuzz target `heartbeat`: the heartbeat decoder and verifier. Authentication goes through
// `HeartbeatAuthenticator`, here a keyed checksum stand-in that the fuzzer can satisfy, so the
// accepted paths are reached too (the HMAC authenticator is tested by the unit tests).
//
// Properties checked on every input:
// 1. `HeartbeatCodec.decode` never traps, whatever the bytes.
// 2. Whatever it accepts re-encodes to exactly the same bytes (no field is lost or invented).
// 3. A verifier fed the input as a stream of length-prefixed packets never traps, counts every
//    packet exactly once, and never accepts a (epoch, sequence) it has already accepted on a path.

@testable import TandemCore

/// Not cryptography: FNV-1a, expanded to 32 bytes. Only the control flow is under test.
struct ChecksumAuthenticator: HeartbeatAuthenticator {
    func tag(for bytes: ArraySlice<UInt8>) -> [UInt8] {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        return (0..<32).map { UInt8(truncatingIfNeeded: hash >> UInt64((($0 % 8) * 8))) ^ UInt8($0) }
    }

    func isValidTag(_ tag: ArraySlice<UInt8>, for bytes: ArraySlice<UInt8>) -> Bool {
        tag.elementsEqual(self.tag(for: bytes))
    }
}

/// Returns the tag it was given: re-encoding a decoded packet reproduces its bytes exactly.
struct FixedTag: HeartbeatAuthenticator {
    let value: [UInt8]
    func tag(for bytes: ArraySlice<UInt8>) -> [UInt8] { value }
    func isValidTag(_ tag: ArraySlice<UInt8>, for bytes: ArraySlice<UInt8>) -> Bool { tag.elementsEqual(value) }
}

func heartbeatFuzz(_ input: [UInt8]) {

    if let decoded = try? HeartbeatCodec.decode(input) {
        let authenticator: (any HeartbeatAuthenticator)? = decoded.tag.map { FixedTag(value: Array($0)) }
        guard let reencoded = try? HeartbeatCodec.encode(decoded.message, authenticator: authenticator) else {
            fatalError("decoded message does not re-encode: \(decoded.message)")
        }
        precondition(reencoded == input, "round trip changed the bytes")
    }

    var verifiers = [
        HeartbeatVerifier(peerName: "b", pathCount: 2, authenticator: nil),
        HeartbeatVerifier(peerName: "b", pathCount: 2, authenticator: ChecksumAuthenticator()),
    ]
    for index in verifiers.indices {
        var offset = 0
        var fed: UInt64 = 0
        var seen = Set<[UInt64]>()
        while offset < input.count {
            let length = Int(input[offset])
            offset += 1
            let packet = Array(input[offset..<min(offset + length, input.count)])
            offset += length
            fed += 1
            let verdict = verifiers[index].verify(packet, at: MonotonicInstant(nanoseconds: fed * 1_000_000))
            if case .accepted(let message, _) = verdict {
                let key = [message.bootEpoch, message.sequence, UInt64(message.pathIndex)]
                precondition(seen.insert(key).inserted, "accepted a replay: \(key)")
            }
        }
        let counters = verifiers[index].counters
        precondition(counters.accepted + counters.dropped == fed, "a packet was not counted exactly once")
    }
}
