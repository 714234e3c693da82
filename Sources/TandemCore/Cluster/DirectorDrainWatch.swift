/// When a director in maintenance has drained, for `tandemctl maintenance on --wait` (pure).
///
/// A pair's standby has drained when its active connections reach zero. A director does not work
/// that way: once its routes are withdrawn the upstream router sends it nothing, the flows it
/// carried are hashed to the other directors, which forward them through the entries the IPVS sync
/// daemon gave them, and this director's own entries see no packet again and stay ESTABLISHED until
/// IPVS's TCP timeout (900 s by default). Found by the cluster lab (docs/cluster-scale.md, "The
/// drain finding"). So a director has drained when no packet reached its real servers for
/// `quietSeconds` in a row (IPVS's InPkts counters stop rising: the router has stopped sending
/// here), or when its active connections reach zero, whichever comes first.
public struct DirectorDrainWatch: Sendable {
    /// One look at the director's table: its active connections and the sum of its real servers'
    /// InPkts counters.
    public struct Sample: Sendable, Hashable {
        public var active: Int
        public var inPackets: UInt64

        public init(active: Int, inPackets: UInt64) {
            self.active = active
            self.inPackets = inPackets
        }
    }

    public enum Verdict: Sendable, Hashable {
        /// Still draining: the active connections and the packets since the previous sample.
        case draining(active: Int, packets: UInt64)
        /// Drained, and why (a line for the operator).
        case drained(String)
    }

    /// How many seconds without a packet count as drained: 3 (IPVS counts every forwarded packet
    /// at once; three one-second looks without one leave room for a slow flow's keep-alive gap).
    public static let defaultQuietSeconds = 3

    public let quietSeconds: Int
    private var previous: UInt64?
    private var quiet = 0

    public init(quietSeconds: Int = DirectorDrainWatch.defaultQuietSeconds) {
        self.quietSeconds = max(quietSeconds, 1)
    }

    /// Takes the sample of this second (the first one only sets the baseline).
    public mutating func observe(_ sample: Sample) -> Verdict {
        if sample.active == 0 { return .drained("no active connections left on this director") }
        defer { previous = sample.inPackets }
        guard let previous else { return .draining(active: sample.active, packets: 0) }
        // A counter that went down was reset (the real server left and re-entered the table): no packet seen.
        let packets = sample.inPackets >= previous ? sample.inPackets - previous : 0
        quiet = packets == 0 ? quiet + 1 : 0
        if quiet >= quietSeconds {
            return .drained("no packet reached this director for \(quietSeconds) s: the router sends it nothing; "
                + "its \(sample.active) remaining connection entries carry no traffic (their flows continue on the "
                + "other directors through the synced entries) and expire with IPVS's timeouts")
        }
        return .draining(active: sample.active, packets: packets)
    }
}
