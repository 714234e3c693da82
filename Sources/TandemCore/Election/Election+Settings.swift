extension Election {
    /// The election's view of the configuration: this node, its peer, and the timing.
    public struct Settings: Sendable, Hashable {
        public var nodeName: String
        public var peerName: String
        /// Configured priority, 1…255; higher wins.
        public var priority: Int
        public var trackedInterfaces: [TrackedInterface]
        /// When true, a standby whose effective priority is strictly higher than the active's takes
        /// over after hearing it continuously for `preemptDelay`.
        public var preempt: Bool
        public var preemptDelay: TimeSpan
        /// How often a heartbeat goes out on every path.
        public var interval: TimeSpan
        /// The peer is declared dead when no valid packet has arrived on any path for this long.
        public var deadTime: TimeSpan
        /// How long a handing-over active waits for the peer to claim before giving up on the handover.
        public var handoverTimeout: TimeSpan

        /// How often a standby that follows a live active sends its own heartbeat: ten intervals,
        /// at most one second, never less than the interval (10 ms → 100 ms, 100 ms → 1 s, 1 s → 1 s).
        /// The active heard every interval is what the standby's dead time runs on; the standby's
        /// heartbeats only tell the active that someone could take over, so they need not come as
        /// often. The standby advertises this interval in its packets and the active judges it by
        /// that (`Election.deadTime(of:)`), as a VRRPv3 backup judges its master by the master's
        /// advertised interval (RFC 5798 §6.1, Master_Adver_Interval). Keepalived's backup sends
        /// nothing at all; Tandem's standby still sends, so the active knows whether a handover
        /// (stop, failover, maintenance) has a taker.
        public var standbyInterval: TimeSpan {
            let tenfold = TimeSpan(milliseconds: interval.milliseconds.multipliedReportingOverflow(by: 10).partialValue)
            return max(interval, min(tenfold, .seconds(1)))
        }

        public init(nodeName: String, peerName: String, priority: Int, trackedInterfaces: [TrackedInterface] = [],
                    preempt: Bool = false, preemptDelay: TimeSpan = .milliseconds(0), interval: TimeSpan,
                    deadTime: TimeSpan, handoverTimeout: TimeSpan? = nil) {
            self.nodeName = nodeName
            self.peerName = peerName
            self.priority = priority
            self.trackedInterfaces = trackedInterfaces
            self.preempt = preempt
            self.preemptDelay = preemptDelay
            self.interval = interval
            self.deadTime = deadTime
            self.handoverTimeout = handoverTimeout ?? Settings.defaultHandoverTimeout(deadTime: deadTime)
        }

        /// Reads this node's part of `config`; `nodeName` must be one of its two nodes.
        public init(config: Config, nodeName: String) throws(ElectionSettingsError) {
            guard let node = config.node(named: nodeName) else {
                throw .unknownNode(nodeName, known: config.nodes.map(\.name))
            }
            guard let peer = config.peer(of: nodeName) else { throw .noPeer(nodeName) }
            self.init(nodeName: node.name, peerName: peer.name, priority: node.priority,
                      trackedInterfaces: node.trackInterfaces, preempt: config.election.preempt,
                      preemptDelay: config.election.preemptDelay, interval: config.heartbeat.interval,
                      deadTime: config.heartbeat.deadTime)
        }

        /// Four dead times, and at least one second: long enough for a claim to complete, short
        /// enough that a stop is never held up for long by a peer that cannot claim.
        public static func defaultHandoverTimeout(deadTime: TimeSpan) -> TimeSpan {
            max(.seconds(1), TimeSpan(milliseconds: deadTime.milliseconds.multipliedReportingOverflow(by: 4).partialValue))
        }
    }
}

/// Why the election cannot be set up from a config.
public enum ElectionSettingsError: Error, Sendable, Hashable, CustomStringConvertible {
    case unknownNode(String, known: [String])
    case noPeer(String)

    public var description: String {
        switch self {
        case .unknownNode(let name, let known):
            return "node \"\(name)\" is not in the config (nodes: \(known.joined(separator: ", "))): pass --node with one of them"
        case .noPeer(let name):
            return "the config lists no peer for node \"\(name)\": nodes must name two routers"
        }
    }
}
