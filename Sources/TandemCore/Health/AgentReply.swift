/// A reply in HAProxy's agent-check protocol (the modern form of pulse's load_monitor).
///
/// The agent answers one ASCII line: words separated by spaces, tabs or commas, optionally
/// followed by `#` and a free-text comment. Recognised words (case-insensitive, as in HAProxy's
/// `agent-check` documentation):
/// - `75%`: the real server's weight is 75% of its configured weight (0%…1000%).
/// - `up`, `ready`: the server is available (and leaves drain).
/// - `drain`: the server stays up with weight 0: existing connections finish, no new ones.
/// - `maint`: administratively down.
/// - `down`, `failed`, `fail`, `stopped`: the service is down.
/// - `maxconn:N`: accepted and ignored (IPVS thresholds come from the config).
///
/// Combinations such as `up 50%` or `drain,#backup running` are allowed; an empty reply or an
/// unknown word is an error, which the checker reports as a failed check.
public struct AgentReply: Sendable, Hashable {
    /// The availability word of a reply.
    public enum Availability: String, Sendable, Hashable {
        case up, drain, maint, down
    }

    /// The availability word, if the reply had one (the last one wins).
    public var availability: Availability?
    /// The weight percentage, if the reply had one.
    public var weightPercent: Int?
    /// The text after `#`, trimmed.
    public var comment: String?

    public init(availability: Availability? = nil, weightPercent: Int? = nil, comment: String? = nil) {
        self.availability = availability
        self.weightPercent = weightPercent
        self.comment = comment
    }

    /// True for `down` and `maint`: the server is down at once.
    public var forcesDown: Bool { availability == .down || availability == .maint }

    /// Why a reply could not be read.
    public enum ParseError: Error, Sendable, Hashable, CustomStringConvertible {
        case empty
        case unknownWord(String)
        case percentOutOfRange(String)

        public var description: String {
            switch self {
            case .empty: return "the agent sent an empty reply"
            case .unknownWord(let w): return "the agent sent \"\(w)\", which is not a percentage or one of up, ready, drain, maint, down, failed, stopped"
            case .percentOutOfRange(let w): return "the agent sent \"\(w)\": a weight percentage must be 0% to 1000%"
            }
        }
    }

    /// Parses the first line of `text` (a trailing CR/LF is ignored).
    public static func parse(_ text: String) -> Result<AgentReply, ParseError> {
        var line = Substring(text)
        if let end = line.firstIndex(where: \.isNewline) { line = line[..<end] }
        var reply = AgentReply()
        if let hash = line.firstIndex(of: "#") {
            let comment = line[line.index(after: hash)...].trimmingSpaces
            reply.comment = comment.isEmpty ? nil : String(comment)
            line = line[..<hash]
        }
        let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "," })
        if words.isEmpty { return .failure(.empty) }
        for word in words {
            let lower = word.lowercased()
            switch lower {
            case "up", "ready": reply.availability = .up
            case "drain": reply.availability = .drain
            case "maint": reply.availability = .maint
            case "down", "failed", "fail", "stopped": reply.availability = .down
            default:
                if lower.hasPrefix("maxconn:"), let n = Int(lower.dropFirst(8)), n >= 0 { continue }
                if lower.hasSuffix("%") {
                    let digits = lower.dropLast()
                    guard !digits.isEmpty, digits.count <= 6, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
                          let n = Int(digits) else { return .failure(.unknownWord(String(word))) }
                    guard n <= 1000 else { return .failure(.percentOutOfRange(String(word))) }
                    reply.weightPercent = n
                    continue
                }
                return .failure(.unknownWord(String(word)))
            }
        }
        return .success(reply)
    }
}

extension Substring {
    var trimmingSpaces: Substring {
        var s = self
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return s
    }
}
