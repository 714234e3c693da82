import Foundation
import Testing
@testable import TandemCore

/// The heartbeat authenticator against RFC 4231's HMAC-SHA256 test case 1, and the keyed state
/// it copies for every tag staying untouched.
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
}
