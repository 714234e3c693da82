import Foundation

/// Matches a server's reply against a check's `expect` (or HTTP `body`) regular expression.
///
/// Only the first `limit` bytes of a reply are ever kept or matched, so a server that sends
/// gigabytes costs at most `limit` bytes of memory. Bytes are read as UTF-8 (invalid sequences
/// become U+FFFD), and the expression is searched anywhere in them (anchor with `^` to match the
/// start, as in pulse's `expect "^220"`). Syntax is ICU's, as `NSRegularExpression` reads it; the
/// config parser already rejected expressions that do not compile.
public struct ReplyMatcher: Sendable {
    /// How much of a TCP or UDP reply is kept.
    public static let defaultLimit = 16 * 1024

    public let pattern: String
    public let limit: Int
    private let regex: NSRegularExpression

    /// Fails when `pattern` is not a valid expression; the error names the expression.
    public init(pattern: String, limit: Int = ReplyMatcher.defaultLimit) throws(MatcherError) {
        do {
            regex = try NSRegularExpression(pattern: pattern)
        } catch {
            throw MatcherError(pattern: pattern)
        }
        self.pattern = pattern
        self.limit = limit
    }

    /// True when the expression matches somewhere in the first `limit` bytes.
    public func matches(_ bytes: some Collection<UInt8>) -> Bool {
        let text = String(decoding: bytes.prefix(limit), as: UTF8.self)
        return regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
    }

    /// A readable prefix of a reply for failure reasons: at most 40 characters, control
    /// characters escaped.
    public static func excerpt(_ bytes: some Collection<UInt8>) -> String {
        var out = ""
        for b in bytes.prefix(40) {
            switch b {
            case 0x0A: out += "\\n"
            case 0x0D: out += "\\r"
            case 0x09: out += "\\t"
            case 0x20..<0x7F: out.append(Character(UnicodeScalar(b)))
            default: out += String(format: "\\x%02x", b)
            }
        }
        return bytes.count > 40 ? out + "…" : out
    }
}

/// A check's regular expression does not compile.
public struct MatcherError: Error, Sendable, Hashable, CustomStringConvertible {
    public var pattern: String
    public var description: String { "\"\(pattern)\" is not a valid regular expression: fix expect/body in the health check" }
}
