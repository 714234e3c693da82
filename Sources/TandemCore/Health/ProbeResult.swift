/// The outcome of one health probe of one real server: passed or failed, with a reason an
/// operator can read (`HTTP 503 not in 200-399`, `timed out after 1s`, `connection refused`).
///
/// An agent check also carries the parsed agent reply, which the tracker uses for load feedback
/// (weight percentage, drain) and for an immediate down (`down`, `maint`, `failed`, `stopped`).
public struct ProbeResult: Sendable, Hashable, CustomStringConvertible {
    public var passed: Bool
    public var reason: String
    public var agent: AgentReply?

    public init(passed: Bool, reason: String, agent: AgentReply? = nil) {
        self.passed = passed
        self.reason = reason
        self.agent = agent
    }

    public static func success(_ reason: String) -> ProbeResult { ProbeResult(passed: true, reason: reason) }
    public static func failure(_ reason: String) -> ProbeResult { ProbeResult(passed: false, reason: reason) }

    /// The result an agent reply stands for: `down`, `maint`, `failed` and `stopped` fail; every
    /// other reply (a percentage, `up`, `ready`, `drain`) passes.
    public static func agent(_ reply: AgentReply, text: String) -> ProbeResult {
        ProbeResult(passed: !reply.forcesDown, reason: "agent replied \"\(text)\"", agent: reply)
    }

    /// True when the result takes the server down at once, without waiting for `fall` failures.
    public var forcesDown: Bool { agent?.forcesDown ?? false }

    public var description: String { (passed ? "passed: " : "failed: ") + reason }
}
