import Crypto
import Foundation
import Testing
@testable import TandemCore

/// The heartbeat authenticator against RFC 4231's HMAC-SHA256 test cases, against swift-crypto's
/// own `HMAC<SHA256>` for keys around the block size, and the keyed state it copies for every tag
/// staying untouched.
@Suite struct HMACHeartbeatAuthenticatorTests {
    static let authenticator = HMACHeartbeatAuthenticator(
        key: try! HeartbeatKey(fileContents: Data(repeating: 0x0b, count: 20), path: "rfc4231.key"))
    static let message = ArraySlice(Array("Hi There".utf8))
    /// RFC 4231, section 4.2, HMAC-SHA-256.
    static let expected = Hex.decode("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")!

    @Test func tagsMatchRFC4231AndStayTheSameEveryTime() {
        #expect(Self.authenticator.tag(for: Self.message) == Self.expected)
        #expect(Self.authenticator.tag(for: ArraySlice(Array("other".utf8))) != Self.expected)
        #expect(Self.authenticator.tag(for: Self.message) == Self.expected, "the keyed state is copied, never consumed")
    }

    @Test func onlyTheExactTagIsValid() {
        let tag = ArraySlice(Self.expected)
        #expect(Self.authenticator.isValidTag(tag, for: Self.message))
        #expect(Self.authenticator.isValidTag(tag, for: Self.message), "twice")
        var flipped = Self.expected
        flipped[31] ^= 1
        #expect(!Self.authenticator.isValidTag(ArraySlice(flipped), for: Self.message))
        #expect(!Self.authenticator.isValidTag(tag.prefix(16), for: Self.message), "a truncated tag")
        #expect(!Self.authenticator.isValidTag(tag, for: ArraySlice(Array("Hi there".utf8))))
    }

    /// RFC 4231 §4.4, 4.5, 4.7 and 4.8 (cases 3, 4, 6, 7; cases 2 and 5 use keys shorter than
    /// `HeartbeatKey.minimumLength` or truncate the tag). Cases 6 and 7 have a 131-byte key: longer
    /// than the block, so it is hashed first.
    @Test(arguments: [
        (Array(repeating: UInt8(0xaa), count: 20), Array(repeating: UInt8(0xdd), count: 50),
         "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
        (Array(UInt8(1)...UInt8(25)), Array(repeating: UInt8(0xcd), count: 50),
         "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
        (Array(repeating: UInt8(0xaa), count: 131), Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8),
         "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
        (Array(repeating: UInt8(0xaa), count: 131),
         Array(("This is a test using a larger than block-size key and a larger than block-size data. The key needs to "
                + "be hashed before being used by the HMAC algorithm.").utf8),
         "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
    ])
    func moreRFC4231Cases(key: [UInt8], message: [UInt8], expected: String) throws {
        let authenticator = HMACHeartbeatAuthenticator(key: try HeartbeatKey(fileContents: Data(key), path: "rfc4231.key"))
        #expect(Hex.encode(authenticator.tag(for: message[...])) == expected)
        #expect(authenticator.isValidTag(ArraySlice(Hex.decode(expected)!), for: message[...]))
    }

    /// Keys just under, at and over the 64-byte block and messages of every length up to three
    /// blocks give the tags swift-crypto's `HMAC<SHA256>` gives.
    @Test(arguments: [16, 63, 64, 65, 200, 4096])
    func agreesWithSwiftCryptosHMAC(keyLength: Int) throws {
        var generator = SystemRandomNumberGenerator()
        var keyBytes = (0..<keyLength).map { _ in UInt8.random(in: 0...255, using: &generator) }
        keyBytes[keyLength - 1] = 0x42  // not a newline, which `HeartbeatKey` would strip
        let authenticator = HMACHeartbeatAuthenticator(key: try HeartbeatKey(fileContents: Data(keyBytes), path: "random.key"))
        for length in 0...192 {
            let message = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let reference = Array(HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: keyBytes)))
            #expect(authenticator.tag(for: message[...]) == reference, "key \(keyLength) bytes, message \(length) bytes")
        }
    }
}
