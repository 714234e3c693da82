/// The operator's drained real servers (weight 0 whatever their health) and the rule that keeps
/// the two nodes' lists equal.
///
/// Every change stamps the list with a generation: the wall clock in nanoseconds, or one more than
/// the previous generation when the clock reads less (stepped back), so generations only grow on
/// one node. Between nodes the newer generation wins (`merge`): a drain holds on both and survives
/// a failover; an older list offered by the peer (it restarted, or drains changed here while it
/// was away) is answered with this node's list. Equal generations are the same list.
public struct DrainBook: Sendable, Hashable {
    public private(set) var drained: Set<RealServerID>
    public private(set) var generation: UInt64

    public init(drained: Set<RealServerID> = [], generation: UInt64 = 0) {
        self.drained = drained
        self.generation = generation
    }

    /// The list as the peer channel carries it and the state directory keeps it.
    public var list: DrainList { DrainList(generation: generation, entries: Self.lines(drained)) }

    /// Drains (`on`) or undrains `ids` at wall-clock time `wallClock` (ns since the epoch).
    public mutating func change(_ ids: some Sequence<RealServerID>, drained on: Bool, wallClock: UInt64) {
        if on { drained.formUnion(ids) } else { drained.subtract(ids) }
        generation = max(wallClock, generation &+ 1)
    }

    /// What `merge` did with the peer's list.
    public enum Merge: Sendable, Hashable {
        /// The peer's list was newer: it is this node's now.
        case adopted(Set<RealServerID>)
        /// Same generation: nothing to do.
        case same
        /// Ours is newer: send it back (outside this exchange).
        case sendOursBack(DrainList)
        /// A line is not `SERVICE ADDRESS PORT`: the list is refused whole and nothing changes.
        case malformed(line: String)
    }

    /// Takes the peer's `list` when it is newer than ours.
    public mutating func merge(_ list: DrainList) -> Merge {
        var parsed: Set<RealServerID> = []
        for line in list.entries {
            guard let id = Self.parse(line) else { return .malformed(line: line) }
            parsed.insert(id)
        }
        guard list.generation > generation else {
            return DrainResync.shouldAnswer(received: list.generation, ours: generation) ? .sendOursBack(self.list) : .same
        }
        drained = parsed
        generation = list.generation
        return .adopted(parsed)
    }

    /// `SERVICE ADDRESS PORT`, one per drained real server, sorted.
    public static func lines(_ drains: Set<RealServerID>) -> [String] {
        drains.sorted().map { "\($0.service) \($0.address) \($0.port)" }
    }

    /// One `SERVICE ADDRESS PORT` line; nil when it is not one.
    public static func parse(_ line: some StringProtocol) -> RealServerID? {
        let fields = line.split(separator: " ")
        guard fields.count == 3, let address = IPAddress(fields[1]), let port = UInt16(fields[2]) else { return nil }
        return RealServerID(service: String(fields[0]), address: address, port: port)
    }
}
