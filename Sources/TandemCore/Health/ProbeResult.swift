/// The outcome of one health probe of one real server: passed or failed, with a reason an
/// operator can read (`HTTP 503 not in 200-399`, `timed out after 1s`, `connection refused`).
///
/// An agent check also carries the parsed agent reply, which the tracker uses for load feedback
/// (weight percentage, drain) and for an immediate down (`down`, `maint`, `failed`, `stopped`).
public struct ProbeResult: Sendable, Hashable, CustomStringConvertible {
    public var passed: Bool
    public var reason: String
    public var agent: AgentReply?
    /// False for a result that says nothing about the server: a timeout that fired while the
    /// checker itself ran far behind (an overloaded health thread), when the reply may well
    /// have been waiting unread. The tracker records it but neither counts it as a failure nor
    /// resets the successes.
    public var counted: Bool

    public init(passed: Bool, reason: String, agent: AgentReply? = nil, counted: Bool = true) {
        self.passed = passed
        self.reason = reason
        self.agent = agent
        self.counted = counted
    }

    public static func success(_ reason: String) -> ProbeResult { ProbeResult(passed: true, reason: reason) }
    public static func failure(_ reason: String) -> ProbeResult { ProbeResult(passed: false, reason: reason) }
    /// A result that is not counted either way (see `counted`).
    public static func inconclusive(_ reason: String) -> ProbeResult { ProbeResult(passed: false, reason: reason, counted: false) }

    /// The result an agent reply stands for: `down`, `maint`, `failed` and `stopped` fail; every
    /// other reply (a percentage, `up`, `ready`, `drain`) passes.
    public static func agent(_ reply: AgentReply, text: String) -> ProbeResult {
        ProbeResult(passed: !reply.forcesDown, reason: "agent replied \"\(text)\"", agent: reply)
    }

    /// True when the result takes the server down at once, without waiting for `fall` failures.
    public var forcesDown: Bool { agent?.forcesDown ?? false }

    public var description: String { (counted ? (passed ? "passed: " : "failed: ") : "not counted: ") + reason }
}
