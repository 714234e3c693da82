/// Matches a server's reply against a check's `expect` (or HTTP `body`) regular expression.
///
/// Only the first `limit` bytes of a reply are ever kept or matched, so a server that sends
/// gigabytes costs at most `limit` bytes of memory. Bytes are read as UTF-8 (invalid sequences
/// become U+FFFD), and the expression is searched anywhere in them (anchor with `^` to match the
/// start, as in pulse's `expect "^220"`). The syntax is the Perl/ICU one that Swift's `Regex` reads
/// (the standard library's engine, so the daemon needs neither Foundation nor ICU), matched on
/// Unicode scalars as ICU does, and with ICU's `$`, which also matches before a line terminator
/// that ends the reply ("^220 ready$" matches "220 ready\r\n"); the config parser already rejected
/// expressions that do not compile.
public struct ReplyMatcher: Sendable {
    /// How much of a TCP or UDP reply is kept.
    public static let defaultLimit = 16 * 1024

    public let pattern: String
    public let limit: Int
    /// The pattern has a `$`: a reply that ends with a line terminator is tried without it too.
    private let endAnchored: Bool
    // Built once from a string and only read after: safe to share between threads.
    nonisolated(unsafe) private let regex: Regex<AnyRegexOutput>

    /// Fails when `pattern` is not a valid expression; the error names the expression.
    public init(pattern: String, limit: Int = ReplyMatcher.defaultLimit) throws(MatcherError) {
        do {
            regex = try Regex(pattern).matchingSemantics(.unicodeScalar)
        } catch {
            throw MatcherError(pattern: pattern)
        }
        self.pattern = pattern
        self.limit = limit
        endAnchored = pattern.contains("$")
    }

    /// True when the expression matches somewhere in the first `limit` bytes.
    public func matches(_ bytes: some Collection<UInt8>) -> Bool {
        let text = String(decoding: bytes.prefix(limit), as: UTF8.self)
        if (try? regex.firstMatch(in: text)) != nil { return true }
        // Swift's `$` (outside multi-line mode) matches only at the very end; ICU's also before
        // a final line terminator.
        guard endAnchored, let body = Self.withoutFinalLineTerminator(text) else { return false }
        return (try? regex.firstMatch(in: body)) != nil
    }

    /// `text` less the line terminator it ends with (\r\n, \n, \r, U+000B, U+000C, U+0085,
    /// U+2028, U+2029: ICU's); nil when it ends with none.
    private static func withoutFinalLineTerminator(_ text: String) -> Substring? {
        let scalars = text.unicodeScalars
        guard let last = scalars.last else { return nil }
        switch last.value {
        case 0x0A:
            var start = scalars.index(before: scalars.endIndex)
            if start > scalars.startIndex, scalars[scalars.index(before: start)] == "\r" {
                start = scalars.index(before: start)
            }
            return Substring(scalars[..<start])
        case 0x0B, 0x0C, 0x0D, 0x85, 0x2028, 0x2029:
            return Substring(scalars[..<scalars.index(before: scalars.endIndex)])
        default:
            return nil
        }
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
            default: out += "\\x" + Hex.encode(CollectionOfOne(b))
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
