import Testing
import TandemCore

@Suite struct HexTests {
    @Test func encodesLowerCaseTwoDigitsPerByte() {
        #expect(Hex.encode([0x00, 0x0f, 0xa0, 0xff]) == "000fa0ff")
        #expect(Hex.encode([UInt8]()) == "")
    }

    @Test func decodesEitherCase() {
        #expect(Hex.decode("000fA0fF") == [0x00, 0x0f, 0xa0, 0xff])
        #expect(Hex.decode("") == [])
    }

    @Test(arguments: ["0", "abc", "0g", "zz", " 0a", "0a\n", "é0"])
    func rejectsWhatIsNotHex(_ text: String) {
        #expect(Hex.decode(text) == nil)
    }

    @Test func roundTrips() {
        let bytes = (0...255).map { UInt8($0) }
        #expect(Hex.decode(Hex.encode(bytes)) == bytes)
    }

    @Test func configDigestRejectsBadHexInsteadOfZeroing() {
        let good = String(repeating: "ab", count: 32)
        #expect(HeartbeatMessage.ConfigDigest(hex: good)?.description == good)
        #expect(HeartbeatMessage.ConfigDigest(hex: String(repeating: "a", count: 63) + "g") == nil)
        #expect(HeartbeatMessage.ConfigDigest(hex: String(repeating: "ab", count: 31)) == nil)
    }
}
