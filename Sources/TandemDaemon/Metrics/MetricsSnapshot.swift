import Prometheus
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
    /// Heartbeat packets sent and refused per path, in the order of `status.peer.paths`.
    public var heartbeatsSent: [HeartbeatSendCounters.PathCounts]
    /// Config replication's counters and conflict flag (`tandemctl status` shows them as one line).
    public var replication: ReplicationStatus
    /// Role changes and health-check overload skips since start.
    public var events: MetricsEvents.Counts
    /// CPU, memory, descriptors and start time; nil where /proc cannot be read.
    public var process: ProcessStatistics?

    public init(status: StatusReport, roleChangedAtNanoseconds: UInt64, config: Config, listing: IPVSListing?, heartbeats: HeartbeatVerifier.Counters,
                heartbeatsSent: [HeartbeatSendCounters.PathCounts], replication: ReplicationStatus, events: MetricsEvents.Counts, process: ProcessStatistics?) {
        self.status = status
        self.roleChangedAtNanoseconds = roleChangedAtNanoseconds
        self.config = config
        self.listing = listing
        self.heartbeats = heartbeats
        self.heartbeatsSent = heartbeatsSent
        self.replication = replication
        self.events = events
        self.process = process
    }
}

/// What only the metrics endpoint shows, fed by hooks in the daemon as things happen:
/// - role changes (`ElectionDriver.onRoleChange`, on the heartbeat thread) and health results
///   not counted because the checks ran late: plain counters, in `counts`, rendered with the
///   snapshot;
/// - every IPVS reconcile (`KernelWorker`'s observer) and every health-check result
///   (`HealthMonitor`'s observer): counters and histograms in `registry`, a swift-prometheus
///   registry that lives as long as the daemon and is appended to each scrape. A health target's
///   series are looked up in the registry once and then kept in a table by target
///   (`HealthSeries`), and the monitor keeps each target's (`healthRecorder(for:service:)`): a
///   result costs an atomic add and a histogram update, not a registry lookup by seven labels
///   built from strings (thousands of results a second).
/// Thread-safe.
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

    /// IPVS reconcile durations: 0.5 ms (an unchanged table of a few services) to 5 s.
    static let reconcileBuckets: [Duration] = [.microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
                                               .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
                                               .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(5)]
    /// Health-check durations: 1 ms (a TCP connect on a LAN) to 30 s (an exec check's longest timeout).
    static let checkBuckets: [Duration] = [.milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
                                           .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
                                           .milliseconds(500), .seconds(1), .seconds(2), .seconds(5), .seconds(10), .seconds(30)]

    private let state = Mutex<(counts: Counts, role: Role)>((Counts(), .starting))
    /// The event-driven families (names apart from the snapshot's, so one scrape never repeats a family).
    public let registry = PrometheusCollectorRegistry()
    /// Looked up once: the heartbeat thread records into it every round.
    private let sendLatenessHistogram: DurationHistogram
    /// Each health target's series, made at its first result; emptied when the virtual servers'
    /// service keys change (`healthServicesChanged()`).
    private let healthSeries = Mutex<[HealthTarget.Key: HealthSeries]>([:])

    /// One health target's series in `registry`: its check type's duration histogram and, once a
    /// result of that outcome was recorded, its `tandem_health_checks_total` counter per outcome.
    private final class HealthSeries: Sendable {
        /// The key of the target's virtual service when the series were made; nil when it had left
        /// the config (then results are not counted, only timed).
        let service: IPVSServiceKey?
        let duration: DurationHistogram
        /// By `Outcome.rawValue`.
        private let counters = Mutex<[Counter?]>([nil, nil, nil])

        init(service: IPVSServiceKey?, duration: DurationHistogram) {
            self.service = service
            self.duration = duration
        }

        enum Outcome: Int {
            case passed = 0, failed, uncounted
            var label: String { ["passed", "failed", "uncounted"][rawValue] }
        }

        /// The counter of `outcome` for `key`, made in `registry` at its first use.
        func counter(_ outcome: Outcome, of key: HealthTarget.Key, in registry: PrometheusCollectorRegistry) -> Counter? {
            counters.withLock { counters in
                if let counter = counters[outcome.rawValue] { return counter }
                return made(outcome, of: key, in: registry, into: &counters)
            }
        }

        private func made(_ outcome: Outcome, of key: HealthTarget.Key, in registry: PrometheusCollectorRegistry,
                          into counters: inout [Counter?]) -> Counter? {
            guard let service else { return nil }
            let labels = [("service", key.server.service)] + MetricsExposition.serviceLabels(service)
                + [("remote_address", key.server.address.description), ("remote_port", String(key.server.port)),
                   ("check", key.probe.typeName), ("result", outcome.label)]
            let counter = registry.makeCounter(descriptor: MetricsEvents.checks, labels: labels)
            counters[outcome.rawValue] = counter
            return counter
        }
    }

    /// Heartbeat send lateness: 0.1 ms (a prompt wake-up) to 1 s (a stalled thread).
    static let latenessBuckets: [Duration] = [.microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1),
                                              .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
                                              .milliseconds(50), .milliseconds(100), .milliseconds(250), .seconds(1)]

    public init() {
        // Families without labels exist from the start (at 0), so rate() and absent() work at once.
        _ = registry.makeDurationHistogram(descriptor: Self.reconcileDuration, buckets: Self.reconcileBuckets)
        sendLatenessHistogram = registry.makeDurationHistogram(descriptor: Self.sendLateness, buckets: Self.latenessBuckets)
        _ = registry.makeCounter(descriptor: Self.driftRepairs)
        // Every role × result from the start, at 0: `increase()` then sees a first failure (a
        // series born at 1 shows no increase, and the alert would never fire for it).
        for role in Self.notifyRoles { for result in Self.notifyResults { _ = notifyCounter(role, result) } }
    }

    private static func descriptor(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }
    private static var reconcileDuration: MetricNameDescriptor { descriptor("tandem_ipvs_reconcile_duration_seconds",
                                                      "Time an IPVS reconcile took, from dumping the table to the last write, seconds.") }
    private static var reconciles: MetricNameDescriptor { descriptor("tandem_ipvs_reconciles_total",
                                               "IPVS reconciles by result: unchanged, applied, partial (some writes refused), failed.") }
    private static var changes: MetricNameDescriptor { descriptor("tandem_ipvs_changes_total", "IPVS changes the kernel accepted, by kind.") }
    private static var kernelErrors: MetricNameDescriptor { descriptor("tandem_ipvs_kernel_errors_total",
                                                 "IPVS requests the kernel refused, by errno name (other: no errno).") }
    private static var driftRepairs: MetricNameDescriptor { descriptor("tandem_ipvs_drift_repairs_total",
                                                 "Periodic checks that found the kernel's IPVS table drifted from the config and wrote it back.") }
    private static var sendLateness: MetricNameDescriptor {
        descriptor("tandem_heartbeat_send_lateness_seconds",
                   "How much later than one interval after the previous round each heartbeat round went out (0 when on time), seconds.")
    }
    private static var announcements: MetricNameDescriptor {
        descriptor("tandem_vip_announcements_total",
                   "Gratuitous ARPs and unsolicited neighbour advertisements for each VIP, by result (sent, failed).")
    }
    private static var foreignRemovals: MetricNameDescriptor {
        descriptor("tandem_vip_foreign_removals_total",
                   "Removals of a VIP by another program seen on this node (an active node puts a held VIP back).")
    }
    private static var notifyCommands: MetricNameDescriptor {
        descriptor("tandem_notify_commands_total",
                   "Notify commands (notify: in the config) by the role they were for and result: succeeded, failed, or skipped (a newer role change came before it started).")
    }
    private static var checks: MetricNameDescriptor { descriptor("tandem_health_checks_total",
                                           "Health-check results per real server: passed, failed, or uncounted (ran too late to mean anything).") }
    private static var checkDuration: MetricNameDescriptor { descriptor("tandem_health_check_duration_seconds",
                                                  "Time a health check took, by check type, seconds.") }

    /// The node changed role to `to` for `reason` (the election's wording); the previous role is
    /// the last one recorded (starting at first).
    public func roleChanged(to: Role, reason: String) {
        state.withLock { s in
            let change = RoleChange(from: s.role, to: to, reason: RoleChangeReason(to: to, reason: reason))
            s.counts.roleChanges[change, default: 0] += 1
            s.role = to
        }
    }

    public var counts: Counts { state.withLock { $0.counts } }

    /// A heartbeat round went out `lateness` after it was due (on the heartbeat thread: one
    /// uncontended lock).
    public func heartbeatRoundSent(lateness: Duration) {
        sendLatenessHistogram.record(lateness)
    }

    /// A notify command run for `role` ended (on the notify queue).
    public func notifyFinished(role: Role, succeeded: Bool) {
        notifyCounter(role, succeeded ? "succeeded" : "failed").increment()
    }

    /// A notify command for `role` was skipped: a newer role change came before it started.
    public func notifySkipped(role: Role) { notifyCounter(role, "skipped").increment() }

    /// The roles that have notify commands (`Notifier.command(for:in:)`: every one but starting) and the results.
    static let notifyRoles = Role.allCases.filter { $0 != .starting }
    static let notifyResults = ["succeeded", "failed", "skipped"]

    private func notifyCounter(_ role: Role, _ result: String) -> Counter {
        registry.makeCounter(descriptor: Self.notifyCommands, labels: [("role", role.description), ("result", result)])
    }

    /// One announcement for `vip` was handed to the kernel (or refused).
    public func announced(_ vip: VirtualIP, succeeded: Bool) {
        registry.makeCounter(descriptor: Self.announcements, labels: Self.vipLabels(vip) + [("result", succeeded ? "sent" : "failed")])
            .increment()
    }

    /// The route monitor saw another program remove `vip` from its interface.
    public func foreignRemoval(of vip: VirtualIP) {
        registry.makeCounter(descriptor: Self.foreignRemovals, labels: Self.vipLabels(vip)).increment()
    }

    /// The labels of `tandem_vip_held` ("10.0.0.10/24" as `tandemctl status` writes it).
    static func vipLabels(_ vip: VirtualIP) -> [(String, String)] {
        [("vip", vip.prefix.description), ("interface", vip.interface)]
    }

    /// One IPVS reconcile reached the kernel.
    public func reconciled(_ outcome: IPVSReconcileOutcome) {
        registry.makeDurationHistogram(descriptor: Self.reconcileDuration, buckets: Self.reconcileBuckets).record(outcome.duration)
        registry.makeCounter(descriptor: Self.reconciles, labels: [("result", outcome.result)]).increment()
        for change in outcome.applied {
            registry.makeCounter(descriptor: Self.changes, labels: [("kind", change.kindLabel)]).increment()
        }
        for error in outcome.errors {
            registry.makeCounter(descriptor: Self.kernelErrors, labels: [("errno", error)]).increment()
        }
        if outcome.periodic && !outcome.applied.isEmpty { registry.makeCounter(descriptor: Self.driftRepairs).increment() }
    }

    /// One health check finished after `duration`; `service` gives the key of its virtual service
    /// in the config in force (for node_exporter's labels), nil when it left the config. It is
    /// read only at the target's first result and at the first after `healthServicesChanged()`.
    public func healthChecked(_ key: HealthTarget.Key, service: @autoclosure () -> IPVSServiceKey?, result: ProbeResult,
                              duration: Duration) {
        record(result, duration: duration, of: key, in: series(of: key, service: service()))
    }

    /// What records `key`'s results as `healthChecked` does, its series looked up now (with
    /// `service`, read only if they do not exist yet): for the monitor to keep with the target
    /// until `healthServicesChanged()`.
    public func healthRecorder(for key: HealthTarget.Key, service: @autoclosure () -> IPVSServiceKey?)
        -> @Sendable (ProbeResult, Duration) -> Void {
        let series = series(of: key, service: service())
        return { [self] result, duration in record(result, duration: duration, of: key, in: series) }
    }

    /// `key`'s series, made (in the registry) at its first result.
    private func series(of key: HealthTarget.Key, service: @autoclosure () -> IPVSServiceKey?) -> HealthSeries {
        healthSeries.withLock { table in
            if let series = table[key] { return series }
            let series = HealthSeries(
                service: service(),
                duration: registry.makeDurationHistogram(descriptor: Self.checkDuration, labels: [("check", key.probe.typeName)],
                                                         buckets: Self.checkBuckets))
            table[key] = series
            return series
        }
    }

    private func record(_ result: ProbeResult, duration: Duration, of key: HealthTarget.Key, in series: HealthSeries) {
        let outcome: HealthSeries.Outcome = !result.counted ? .uncounted : result.passed ? .passed : .failed
        if !result.counted { state.withLock { $0.counts.healthOverloadSkips += 1 } }
        series.duration.record(duration)
        series.counter(outcome, of: key, in: registry)?.increment()
    }

    /// The virtual servers' service keys may have changed (a reload): each target's series are
    /// looked up again at its next result, with its service's key then.
    public func healthServicesChanged() {
        healthSeries.withLock { $0.removeAll() }
    }
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
