import Foundation
import Testing
@testable import TandemCore

private func bytes(hex: String) -> [UInt8] {
    var out = [UInt8]()
    var iterator = hex.utf8.makeIterator()
    while let high = iterator.next(), let low = iterator.next() {
        out.append(UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)!)
    }
    return out
}

private let goldenKey = Array("0123456789abcdef0123456789abcdef".utf8)

private let goldenMessage = HeartbeatMessage(
    kind: .heartbeat, sender: "lvs-a", bootEpoch: 0x0102_0304_0506_0708, sequence: 42, role: .active,
    priority: 150, configSerial: 7, configDigest: HeartbeatMessage.ConfigDigest(Array(0..<32))!, pathIndex: 1,
    intervalMilliseconds: 10)

/// Computed independently with Python: hmac.new(key, body, hashlib.sha256).
private let goldenAuthenticatedHex =
    "544e444d01010101" + "0102030405060708" + "000000000000002a" + "03" + "96" + "0000000000000007"
    + "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f" + "0000000a" + "05" + "6c76732d61"
    + "fa5f6a7c4a64a08626817cbcab613897d40fdb85ff469fe7b650710166724b62"

/// The golden message with its send time (flag bit 1): the 8 bytes follow the name, the tag
/// covers them. Tag computed independently with Python as above.
private let goldenTimedHex =
    "544e444d01010301" + "0102030405060708" + "000000000000002a" + "03" + "96" + "0000000000000007"
    + "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f" + "0000000a" + "05" + "6c76732d61"
    + "1122334455667788"
    + "90bbfbd855856bd901b0a5e1f912e353bff9bc3e1f98f271ecf4a51f61547563"

private let goldenPlainMessage = HeartbeatMessage(
    kind: .takeoverRequest, sender: "b", bootEpoch: 1, sequence: 2, role: .stopping, priority: 100,
    configSerial: 0, configDigest: .zero, pathIndex: 0, intervalMilliseconds: 30)

private let goldenPlainHex =
    "544e444d01020000" + "0000000000000001" + "0000000000000002" + "06" + "64" + "0000000000000000"
    + String(repeating: "00", count: 32) + "0000001e" + "01" + "62"

private func authenticator() throws -> HMACHeartbeatAuthenticator {
    HMACHeartbeatAuthenticator(key: try HeartbeatKey(fileContents: Data(goldenKey), path: "test.key"))
}

@Suite("Heartbeat wire format")
struct HeartbeatCodecTests {
    @Test func encodesAuthenticatedGoldenBytes() throws {
        let encoded = try HeartbeatCodec.encode(goldenMessage, authenticator: try authenticator())
        #expect(encoded == bytes(hex: goldenAuthenticatedHex))
        #expect(encoded.count == 76 + 32)
    }

    @Test func decodesAuthenticatedGoldenBytes() throws {
        let decoded = try HeartbeatCodec.decode(bytes(hex: goldenAuthenticatedHex))
        #expect(decoded.message == goldenMessage)
        #expect(decoded.signedBytes.count == 76)
        #expect(decoded.tag.map(Array.init) == Array(bytes(hex: goldenAuthenticatedHex).suffix(32)))
        let auth = try authenticator()
        #expect(auth.isValidTag(decoded.tag!, for: decoded.signedBytes))
    }

    /// A send time is written after the name and under the tag, and read back; a packet without
    /// one (a tandemd from before the field) decodes with none.
    @Test func aSendTimeIsEncodedAfterTheNameUnderTheTag() throws {
        var message = goldenMessage
        message.sentAtNanoseconds = 0x1122_3344_5566_7788
        let encoded = try HeartbeatCodec.encode(message, authenticator: try authenticator())
        #expect(encoded == bytes(hex: goldenTimedHex))
        let decoded = try HeartbeatCodec.decode(encoded)
        #expect(decoded.message == message)
        #expect(decoded.signedBytes.count == 76 + 8)
        #expect(try authenticator().isValidTag(decoded.tag!, for: decoded.signedBytes))
        #expect(try HeartbeatCodec.decode(bytes(hex: goldenAuthenticatedHex)).message.sentAtNanoseconds == nil)
    }

    @Test func encodesAndDecodesUnauthenticatedGoldenBytes() throws {
        let encoded = try HeartbeatCodec.encode(goldenPlainMessage, authenticator: nil)
        #expect(encoded == bytes(hex: goldenPlainHex))
        #expect(encoded.count == HeartbeatCodec.minimumLength)
        let decoded = try HeartbeatCodec.decode(encoded)
        #expect(decoded.message == goldenPlainMessage)
        #expect(decoded.tag == nil)
    }

    @Test(arguments: HeartbeatMessage.Kind.allCases)
    func roundTripsEveryKindAndRole(kind: HeartbeatMessage.Kind) throws {
        for role in Role.allCases {
            var message = goldenMessage
            message.kind = kind
            message.role = role
            message.sender = String(repeating: "ü", count: 32)  // 64 UTF-8 bytes: the longest name
            message.sequence = .max
            message.intervalMilliseconds = .max
            message.sentAtNanoseconds = .max
            let encoded = try HeartbeatCodec.encode(message, authenticator: try authenticator())
            #expect(encoded.count == HeartbeatCodec.maximumLength)
            #expect(try HeartbeatCodec.decode(encoded).message == message)
        }
    }

    /// A packet rewritten for another kind, sequence, role, priority and send time is byte for
    /// byte the packet `encode` makes for them, with and without a tag or a send time, whatever
    /// it held before.
    @Test func rewritingAPacketEqualsEncodingTheMessage() throws {
        for auth in [try authenticator(), nil] as [HMACHeartbeatAuthenticator?] {
            for timed in [false, true] {
                var first = goldenMessage
                first.sentAtNanoseconds = timed ? 5 : nil
                var packet = try HeartbeatCodec.encode(first, authenticator: auth)
                for (kind, role, priority, sequence) in [(HeartbeatMessage.Kind.claimed, Role.standby, UInt8(1), UInt64(0)),
                                                         (.release, .stopping, 255, .max), (.heartbeat, .active, 150, 43),
                                                         (.handoverRequest, .fault, 7, 0x0102_0304_0506_0708)] {
                    let sentAt: UInt64? = timed ? sequence &* 3 &+ 1 : nil
                    HeartbeatCodec.rewrite(&packet, kind: kind, sequence: sequence, role: role, priority: priority,
                                           sentAtNanoseconds: sentAt, authenticator: auth)
                    var message = goldenMessage
                    (message.kind, message.role, message.priority, message.sequence) = (kind, role, priority, sequence)
                    message.sentAtNanoseconds = sentAt
                    #expect(packet == (try HeartbeatCodec.encode(message, authenticator: auth)), "\(kind) \(role) \(priority) \(sequence) \(timed)")
                }
            }
        }
    }

    /// The peer's name, given as `knownSender`, decodes to the same message; another name, or bytes
    /// that are not UTF-8, are still validated.
    @Test func aKnownSenderDecodesAsAnyOther() throws {
        let encoded = try HeartbeatCodec.encode(goldenMessage, authenticator: try authenticator())
        #expect(try HeartbeatCodec.decode(encoded, knownSender: "lvs-a").message == goldenMessage)
        #expect(try HeartbeatCodec.decode(encoded, knownSender: "lvs-b").message.sender == "lvs-a")
        #expect(try HeartbeatCodec.decode(encoded, knownSender: "lvs-").message.sender == "lvs-a")
        var invalid = try HeartbeatCodec.encode(goldenPlainMessage, authenticator: nil)
        invalid[invalid.count - 1] = 0xff
        #expect(throws: HeartbeatDecodeError.nameNotUTF8) { try HeartbeatCodec.decode(invalid, knownSender: "b") }
    }

    @Test func encodeRejectsEmptyAndOverlongNames() throws {
        var message = goldenMessage
        message.sender = ""
        #expect(throws: HeartbeatEncodeError.badNameLength(name: "", length: 0)) {
            try HeartbeatCodec.encode(message, authenticator: nil)
        }
        message.sender = String(repeating: "x", count: 65)
        #expect(throws: HeartbeatEncodeError.badNameLength(name: message.sender, length: 65)) {
            try HeartbeatCodec.encode(message, authenticator: nil)
        }
    }

    /// Each row: a mutation of the plain golden packet and the error it must produce.
    static let malformed: [(String, @Sendable (inout [UInt8]) -> Void, HeartbeatDecodeError)] = [
        ("empty", { $0 = [] }, .tooShort(length: 0)),
        ("one byte short", { $0.removeLast() }, .tooShort(length: 71)),
        ("longer than any packet", { $0 += [UInt8](repeating: 0, count: 104) }, .tooLong(length: 176)),
        ("bad magic", { $0[0] = UInt8(ascii: "X") }, .badMagic),
        ("version 2", { $0[4] = 2 }, .unsupportedVersion(2)),
        ("version 0", { $0[4] = 0 }, .unsupportedVersion(0)),
        ("kind 0", { $0[5] = 0 }, .unknownKind(0)),
        ("kind 7", { $0[5] = 7 }, .unknownKind(7)),
        ("undefined flag", { $0[6] = 0x04 }, .unknownFlags(0x04)),
        ("send-time flag without the time", { $0[6] = 0x02 }, .truncated(field: "send time")),
        ("send-time flag, the time and a trailing byte", { $0[6] = 0x02; $0 += [UInt8](repeating: 7, count: 9) },
         .trailingBytes(count: 1)),
        ("role 0", { $0[24] = 0 }, .unknownRole(0)),
        ("role 7", { $0[24] = 7 }, .unknownRole(7)),
        ("name length 0", { $0[70] = 0 }, .badNameLength(0)),
        ("name length 65", { $0[70] = 65 }, .badNameLength(65)),
        ("name longer than the packet", { $0[70] = 5 }, .truncated(field: "sender name")),
        ("name not UTF-8", { $0[71] = 0xff }, .nameNotUTF8),
        ("auth flag without tag", { $0[6] = 0x01 }, .truncated(field: "authentication tag")),
        ("trailing byte", { $0.append(0) }, .trailingBytes(count: 1)),
        ("auth flag, tag and a trailing byte", { $0[6] = 0x01; $0 += [UInt8](repeating: 7, count: 33) },
         .trailingBytes(count: 1)),
    ]

    @Test func rejectsMalformedPackets() {
        for (name, mutate, expected) in Self.malformed {
            var packet = bytes(hex: goldenPlainHex)
            mutate(&packet)
            #expect(throws: expected, "\(name)") { try HeartbeatCodec.decode(packet) }
        }
    }

    @Test func rejectsEveryTruncationOfAnAuthenticatedPacket() {
        let packet = bytes(hex: goldenAuthenticatedHex)
        for length in 0..<packet.count {
            #expect(throws: HeartbeatDecodeError.self, "prefix of \(length) bytes") {
                try HeartbeatCodec.decode(Array(packet.prefix(length)))
            }
        }
    }

    @Test func errorsReadAsSentences() {
        #expect(HeartbeatDecodeError.unsupportedVersion(2).description
            == "heartbeat protocol version 2 is not supported (this build speaks 1): run the same Tandem version on both nodes")
        #expect(HeartbeatDecodeError.tooShort(length: 3).description
            == "heartbeat packet of 3 bytes is shorter than the 72-byte minimum")
    }
}

@Suite("Heartbeat key file")
struct HeartbeatKeyTests {
    private func tag(_ key: HeartbeatKey) -> [UInt8] {
        HMACHeartbeatAuthenticator(key: key).tag(for: [1, 2, 3][...])
    }

    @Test func trimsOneTrailingNewline() throws {
        let plain = try HeartbeatKey(fileContents: Data("0123456789abcdef".utf8), path: "k")
        let newline = try HeartbeatKey(fileContents: Data("0123456789abcdef\n".utf8), path: "k")
        let crlf = try HeartbeatKey(fileContents: Data("0123456789abcdef\r\n".utf8), path: "k")
        #expect(newline.byteCount == 16)
        #expect(tag(plain) == tag(newline))
        #expect(tag(plain) == tag(crlf))
        let twoNewlines = try HeartbeatKey(fileContents: Data("0123456789abcdef\n\n".utf8), path: "k")
        #expect(twoNewlines.byteCount == 17)
        #expect(tag(twoNewlines) != tag(plain))
    }

    @Test func rejectsShortKeysWithAFix() {
        #expect(throws: HeartbeatKeyError.tooShort(path: "/etc/tandem/hb.key", length: 15)) {
            try HeartbeatKey(fileContents: Data("0123456789abcde\n".utf8), path: "/etc/tandem/hb.key")
        }
        #expect(throws: HeartbeatKeyError.tooShort(path: "k", length: 0)) {
            try HeartbeatKey(fileContents: Data(), path: "k")
        }
        #expect(HeartbeatKeyError.tooShort(path: "/k", length: 3).description
            == "heartbeat key file /k holds 3 bytes; it needs at least 16: create one with `head -c 32 /dev/urandom > /k` and copy it to both nodes")
    }

    @Test func rejectsHugeFiles() {
        #expect(throws: HeartbeatKeyError.tooLong(path: "k", length: 4097)) {
            try HeartbeatKey(fileContents: Data(repeating: 65, count: 4097), path: "k")
        }
    }

    @Test func binaryKeysWork() throws {
        let key = try HeartbeatKey(fileContents: Data((0..<32).map { UInt8($0 * 7) }), path: "k")
        #expect(key.byteCount == 32)
        #expect(tag(key).count == 32)
    }
}
