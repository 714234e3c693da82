import Synchronization
import TandemCore

/// Everything one scrape of `/metrics` shows, read at once from the sources `tandemctl status`
/// reads: the status report itself (`ControlCenter.snapshot()`, built by the same code as
/// `status`), the IPVS listing that report was built from, the heartbeat verifier's counters,
/// the replication service's status, the counters only metrics keep (`MetricsEvents`) and the
/// process's own figures. A value: `MetricsExposition.render(_:)` turns it into text.
public struct MetricsSnapshot: Sendable {
    /// What `tandemctl status` shows, from the same call.
    public var status: StatusReport
    /// When the role last changed (or the daemon started), wall-clock nanoseconds since 1970: the
    /// instant `status`'s `role_since` is printed from.
    public var roleChangedAtNanoseconds: UInt64
    /// The config in force when the report was built (maps service names to IPVS keys).
    public var config: Config
    /// The kernel's IPVS table the report's services were built from; nil when it could not be
    /// read or the config has no virtual servers.
    public var listing: IPVSListing?
    /// The heartbeat verifier's counters (the report shows most of them; this also has rate limits).
    public var heartbeats: HeartbeatVerifier.Counters
    /// Config replication's counters and conflict flag (`tandemctl status` shows them as one line).
    public var replication: ReplicationStatus
    /// Role changes and health-check overload skips since start.
    public var events: MetricsEvents.Counts
    /// CPU, memory, descriptors and start time; nil where /proc cannot be read.
    public var process: ProcessStatistics?

    public init(status: StatusReport, roleChangedAtNanoseconds: UInt64, config: Config, listing: IPVSListing?, heartbeats: HeartbeatVerifier.Counters,
                replication: ReplicationStatus, events: MetricsEvents.Counts, process: ProcessStatistics?) {
        self.status = status
        self.roleChangedAtNanoseconds = roleChangedAtNanoseconds
        self.config = config
        self.listing = listing
        self.heartbeats = heartbeats
        self.replication = replication
        self.events = events
        self.process = process
    }
}

/// Counters that only the metrics endpoint shows, fed by hooks in the daemon: role changes (from
/// `ElectionDriver.onRoleChange`, on the heartbeat thread) and health results not counted
/// because the checks ran late (`HealthCourier`). Thread-safe; `counts` copies them.
public final class MetricsEvents: Sendable {
    public struct RoleChange: Sendable, Hashable {
        public var from: Role
        public var to: Role
        public var reason: RoleChangeReason
    }

    public struct Counts: Sendable, Hashable {
        /// Role changes since start, by from, to and reason class.
        public var roleChanges: [RoleChange: UInt64] = [:]
        /// Health-check results dropped as meaningless because the checks ran behind (overload).
        public var healthOverloadSkips: UInt64 = 0

        public init(roleChanges: [RoleChange: UInt64] = [:], healthOverloadSkips: UInt64 = 0) {
            self.roleChanges = roleChanges
            self.healthOverloadSkips = healthOverloadSkips
        }
    }

    private let state = Mutex<(counts: Counts, role: Role)>((Counts(), .starting))

    public init() {}

    /// The node changed role to `to` for `reason` (the election's wording); the previous role is
    /// the last one recorded (starting at first).
    public func roleChanged(to: Role, reason: String) {
        state.withLock { s in
            let change = RoleChange(from: s.role, to: to, reason: RoleChangeReason(to: to, reason: reason))
            s.counts.roleChanges[change, default: 0] += 1
            s.role = to
        }
    }

    /// A health-check result was not counted (the checks are overloaded).
    public func healthResultSkipped() {
        state.withLock { $0.counts.healthOverloadSkips += 1 }
    }

    public var counts: Counts { state.withLock { $0.counts } }
}

/// The class of a role change's reason: a bounded label value for
/// `tandem_role_changes_total{reason=…}`, read from the election's wording (`Election`'s
/// `inactiveTarget` and `become` calls). The text itself stays in `tandemctl status`.
public enum RoleChangeReason: String, Sendable, Hashable, CaseIterable {
    /// The peer went silent for the dead time, or was never heard within it after start.
    case peerSilent = "peer_silent"
    /// The peer left, asked us to take over, or is in fault, maintenance or stopping.
    case peerLeft = "peer_left"
    /// An operator's request on this node: failover, maintenance, stop.
    case operatorRequest = "operator"
    /// A local fault (tracked interface down, no usable heartbeat path) or its end.
    case fault
    /// The election compared priorities or roles (preemption, both active, the peer's state).
    case election
    /// None of the above (keeping VIPs already held at start, a handover that timed out, …).
    case other

    public init(to: Role, reason: String) {
        let text = reason.lowercased()
        func any(_ words: String...) -> Bool { words.contains { text.contains($0) } }
        if to == .fault || text.hasPrefix("local faults") {
            self = .fault
        } else if any("silent", "no heartbeat") {
            self = .peerSilent
        } else if any("asked us to take over", "released the vips and left", "is in stopping", "is in maintenance", "is in fault") {
            self = .peerLeft
        } else if to == .stopping || to == .maintenance || any("failover", "maintenance", "stop requested", "handover complete") {
            self = .operatorRequest
        } else if any("already held") {
            self = .other
        } else if any("wins", "preempt", "is active", "is starting", "is standby") {
            self = .election
        } else {
            self = .other
        }
    }
}
