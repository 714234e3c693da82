import Prometheus
import TandemCore

/// Turns a `MetricsSnapshot` into the Prometheus text exposition format 0.0.4, through a fresh
/// swift-prometheus registry per scrape (so every value is the snapshot's, and a series whose
/// object left the config leaves the output).
///
/// Naming follows Prometheus's conventions (prometheus/docs `practices/naming.md`): the prefix
/// `tandem_`, base units (`_seconds`, `_bytes`), `_total` on counters, state sets as one gauge
/// series per state (1 for the current one), info metrics as gauges of 1. Per-real-server and
/// per-service IPVS series carry node_exporter's IPVS collector label names and value formats
/// (`local_address`, `local_port`, `local_mark` as 8 upper-case hex digits, `proto` TCP/UDP/FWM,
/// `remote_address`, `remote_port`; node_exporter `collector/ipvs_linux.go`) plus `service`, so
/// dashboards and joins built for node_exporter work. Every label is bounded by the config: no
/// label carries free text.
///
/// swift-prometheus writes families in dictionary order: consumers (and tests) parse, never
/// compare raw text.
public enum MetricsExposition {
    /// The `Content-Type` of `render`'s output.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// One scrape's body: the snapshot's families, then the event-driven ones of `events`.
    public static func render(_ snapshot: MetricsSnapshot, events: MetricsEvents) -> [UInt8] {
        render(snapshot) + events.registry.emitToBuffer()
    }

    public static func render(_ snapshot: MetricsSnapshot) -> [UInt8] {
        let out = Families(registry: PrometheusCollectorRegistry())
        election(snapshot, out)
        heartbeats(snapshot, out)
        vips(snapshot, out)
        ipvs(snapshot, out)
        health(snapshot, out)
        config(snapshot, out)
        process(snapshot, out)
        return out.registry.emitToBuffer()
    }

    // MARK: - Families

    private static func election(_ s: MetricsSnapshot, _ out: Families) {
        let status = s.status
        for role in Role.allCases {
            out.gauge("tandem_role", "This node's role: 1 for the current state, 0 for the others (a state set).",
                      [("state", role.description)], role.description == status.role ? 1 : 0)
        }
        for (change, count) in s.events.roleChanges {
            out.counter("tandem_role_changes_total", "Role changes since the daemon started, by old role, new role and reason class.",
                        [("from", change.from.description), ("to", change.to.description), ("reason", change.reason.rawValue)], count)
        }
        if s.roleChangedAtNanoseconds > 0 {
            out.gauge("tandem_role_last_change_timestamp_seconds", "When the role last changed (or the daemon started), seconds since 1970 (UTC).",
                      [], Double(s.roleChangedAtNanoseconds) / 1e9)
        }
        out.gauge("tandem_priority", "This node's configured priority.", [], Double(status.priority))
        out.gauge("tandem_effective_priority", "This node's priority after tracked-interface penalties (what the election compares).",
                  [], Double(status.effectivePriority))
        out.gauge("tandem_maintenance", "1 while this node is in maintenance (pinned to standby by the operator).", [],
                  status.maintenance ? 1 : 0)
        out.gauge("tandem_local_faults", "This node's own faults now (no usable heartbeat path, a VIP interface down, …).", [],
                  Double(status.localFaults?.count ?? 0))
        out.gauge("tandem_peer_alive", "1 while the peer's heartbeats arrive within the dead time.", [], status.peer.alive ? 1 : 0)
        if let priority = status.peer.priority {
            out.gauge("tandem_peer_priority", "The priority the peer last announced.", [], Double(priority))
        }
        for role in Role.allCases {
            out.gauge("tandem_peer_role", "The role the peer last announced: 1 for that state, 0 for the others (all 0 until heard).",
                      [("state", role.description)], role.description == status.peer.role ? 1 : 0)
        }
        for path in status.peer.paths {
            guard let ms = path.lastHeardMs else { continue }
            out.gauge("tandem_peer_last_heard_age_seconds", "Time since the peer's last accepted heartbeat on each path, seconds.",
                      [("path", path.path)], Double(ms) / 1000)
        }
    }

    private static func heartbeats(_ s: MetricsSnapshot, _ out: Families) {
        for path in s.status.peer.paths {
            out.counter("tandem_heartbeats_received_total", "Authentic heartbeats accepted from the peer, per path.",
                        [("path", path.path)], path.received)
            out.counter("tandem_heartbeats_lost_total", "Peer heartbeats missing by sequence number, per path (lost or reordered).",
                        [("path", path.path)], path.lost)
        }
        for (path, counts) in zip(s.status.peer.paths, s.heartbeatsSent) {
            out.counter("tandem_heartbeats_sent_total", "Heartbeat packets this node handed to the kernel, per path.",
                        [("path", path.path)], counts.sent)
            out.counter("tandem_heartbeat_send_errors_total", "Heartbeat sends the kernel refused, per path (no route, link down, …).",
                        [("path", path.path)], counts.failed)
        }
        let c = s.heartbeats
        for path in s.status.peer.paths {
            for reason in Self.dropReasons {
                out.counter("tandem_heartbeats_dropped_total", "Heartbeat packets dropped, per path (the socket they arrived on) and reason.",
                            [("path", path.path), ("reason", reason)], path.dropped?[reason] ?? 0)
            }
            if let jitter = path.arrivalJitterMs {
                out.gauge("tandem_heartbeat_arrival_jitter_seconds",
                          "Interarrival jitter of the peer's heartbeats per path: running mean (gain 1/16, RFC 3550) of each arrival's deviation from the sender's interval, seconds.",
                          [("path", path.path)], jitter / 1000)
            }
        }
        let challenges: [(String, UInt64)] = [
            ("sent", c.challengesSent), ("answer_accepted", c.answersAccepted), ("answered", c.challengesAnswered),
        ]
        for (kind, count) in challenges {
            out.counter("tandem_heartbeat_epoch_challenges_total",
                        "Boot-epoch challenges: sent by this node, peer answers accepted, peer challenges answered.",
                        [("kind", kind)], count)
        }
    }

    /// `HeartbeatVerifier.DropReason.category`'s values: every one is exported (0 until it happens).
    static let dropReasons = ["malformed", "unauthenticated", "replay", "unexpected_sender", "unknown_path", "rate_limited", "stale"]

    private static func vips(_ s: MetricsSnapshot, _ out: Families) {
        for vip in s.status.vips {
            out.gauge("tandem_vip_held", "1 while this node holds the VIP usably (on its interface, up with carrier, no conflict).",
                      [("vip", vip.address), ("interface", vip.interface)], vip.held ? 1 : 0)
        }
    }

    /// node_exporter's label names and formats for a service.
    static func serviceLabels(_ key: IPVSServiceKey) -> [(String, String)] {
        switch key {
        case .address(let proto, let address, let port):
            return [("local_address", address.description), ("local_port", String(port)), ("local_mark", ""),
                    ("proto", proto.description.uppercased())]
        case .fwmark(_, let mark):
            let hex = String(mark, radix: 16, uppercase: true)
            return [("local_address", ""), ("local_port", "0"),
                    ("local_mark", String(repeating: "0", count: max(0, 8 - hex.count)) + hex), ("proto", "FWM")]
        }
    }

    private static func statistics(_ out: Families, prefix: String, what: String, labels: [(String, String)], _ stats: IPVSStatistics) {
        let figures: [(String, String, UInt64)] = [
            ("connections_total", "Connections scheduled", stats.connections),
            ("incoming_packets_total", "Packets from clients", stats.inPackets),
            ("outgoing_packets_total", "Packets to clients", stats.outPackets),
            ("incoming_bytes_total", "Bytes from clients", stats.inBytes),
            ("outgoing_bytes_total", "Bytes to clients", stats.outBytes),
        ]
        for (suffix, help, value) in figures {
            out.counter("\(prefix)_\(suffix)", "\(help) \(what), as the kernel's IPVS counters say.", labels, value)
        }
    }

    private static func ipvs(_ s: MetricsSnapshot, _ out: Families) {
        guard !s.config.virtualServers.isEmpty else { return }
        out.gauge("tandem_ipvs_table_readable", "1 when the kernel's IPVS table could be read for this scrape.", [],
                  s.listing == nil ? 0 : 1)
        var listed: [IPVSServiceKey: IPVSListedService] = [:]
        for service in s.listing?.services ?? [] { listed[service.service.key] = service }
        for (vs, service) in zip(s.config.virtualServers, s.status.services) {
            let key = vs.ipvsService.key
            let labels = [("service", vs.name)] + serviceLabels(key)
            if let inKernel = service.inKernel {
                out.gauge("tandem_ipvs_service_in_kernel", "1 when the configured virtual service is in the kernel's IPVS table.",
                          labels, inKernel ? 1 : 0)
            }
            let kernel = listed[key]
            if let kernel {
                statistics(out, prefix: "tandem_ipvs_service", what: "for the virtual service", labels: labels, kernel.statistics)
            }
            for (rs, endpoint) in zip(service.realServers, endpoints(of: vs)) {
                let rsLabels = labels + [("remote_address", endpoint.address.description), ("remote_port", String(endpoint.port))]
                out.gauge("tandem_real_server_configured_weight", "The real server's weight in the config (the sorry server's too).",
                          rsLabels, Double(rs.configWeight))
                out.gauge("tandem_real_server_drained", "1 while an operator has drained the real server (weight 0 in the kernel).",
                          rsLabels, rs.drained ? 1 : 0)
                out.gauge("tandem_real_server_sorry", "1 for the virtual service's sorry server.", rsLabels, rs.health == "sorry" ? 1 : 0)
                let destination = kernel?.destinations.first { $0.destination.address == endpoint.address && $0.destination.port == endpoint.port }
                out.gauge("tandem_ipvs_backend_in_kernel", "1 when the real server is in the kernel's IPVS table.", rsLabels,
                          destination == nil ? 0 : 1)
                guard let destination else { continue }
                out.gauge("tandem_ipvs_backend_weight", "The real server's weight in the kernel's IPVS table.", rsLabels,
                          Double(destination.destination.weight))
                out.gauge("tandem_ipvs_backend_connections_active", "Active (established) connections to the real server.", rsLabels,
                          Double(destination.activeConnections))
                out.gauge("tandem_ipvs_backend_connections_inactive", "Inactive connections to the real server.", rsLabels,
                          Double(destination.inactiveConnections))
                statistics(out, prefix: "tandem_ipvs_backend", what: "for the real server", labels: rsLabels, destination.statistics)
            }
        }
    }

    /// The real servers of `vs` and then its sorry server: the order of `StatusReport.services`.
    private static func endpoints(of vs: VirtualServer) -> [ServerEndpoint] {
        vs.realServers.map { ServerEndpoint(address: $0.address, port: $0.port) }
            + (vs.sorryServer.map { [ServerEndpoint(address: $0.address, port: $0.port)] } ?? [])
    }

    private static func health(_ s: MetricsSnapshot, _ out: Families) {
        out.counter("tandem_health_check_overload_skips_total",
                    "Health-check results not counted because the checks ran too far behind (the checks are overloaded).",
                    [], s.events.healthOverloadSkips)
        for (vs, service) in zip(s.config.virtualServers, s.status.services) where vs.healthCheck != nil {
            for (rs, endpoint) in zip(service.realServers, endpoints(of: vs)) where rs.health != "sorry" {
                let labels = [("service", vs.name)] + serviceLabels(vs.ipvsService.key)
                    + [("remote_address", endpoint.address.description), ("remote_port", String(endpoint.port))]
                for state in ["up", "down", "unknown"] {
                    out.gauge("tandem_real_server_health", "The real server's health-check state: 1 for the current one.",
                              labels + [("state", state)], rs.health == state ? 1 : 0)
                }
                if let ms = rs.healthAgeMs {
                    out.gauge("tandem_real_server_health_change_age_seconds",
                              "Time since the real server's health state last changed (or checking began), seconds.",
                              labels, Double(ms) / 1000)
                }
            }
        }
    }

    private static func config(_ s: MetricsSnapshot, _ out: Families) {
        let mine = s.status.config
        out.gauge("tandem_config_serial", "Serial of the config in force.", [], Double(mine.serial))
        out.gauge("tandem_config_info", "The config in force: its digest (SHA-256 of the canonical form) as a label; always 1.",
                  [("digest", mine.digest)], 1)
        let peer = s.status.peer
        if let theirs = peer.config {
            out.gauge("tandem_peer_config_serial", "Serial of the config the peer last announced.", [], Double(theirs.serial))
        }
        let conflict = s.replication.conflict
            || (peer.alive && peer.config.map { $0.serial == mine.serial && $0.digest != mine.digest } ?? false)
        out.gauge("tandem_config_conflict", "1 while both nodes run the same serial with different contents (nothing is applied).",
                  [], conflict ? 1 : 0)
        out.gauge("tandem_config_restart_needed", "Settings of the config in force that only a restart applies.", [],
                  Double(s.status.restartNeeded?.count ?? 0))
        let r = s.replication
        out.gauge("tandem_config_replication_enabled", "1 when config replication runs (heartbeats are authenticated).", [],
                  r.enabled ? 1 : 0)
        let attempts: [(String, String, UInt64)] = [
            ("fetch", "success", r.fetches), ("fetch", "failure", r.fetchFailures), ("serve", "success", r.serves),
        ]
        for (direction, result, count) in attempts {
            out.counter("tandem_config_replications_total", "Config replications with the peer, by direction and result.",
                        [("direction", direction), ("result", result)], count)
        }
        out.counter("tandem_config_replication_authentication_failures_total",
                    "Peer-channel connections whose handshake failed the key check (either way).", [], r.authenticationFailures)
    }

    private static func process(_ s: MetricsSnapshot, _ out: Families) {
        out.gauge("tandem_build_info", "Protocol versions this tandemd speaks, as labels; always 1.",
                  [("control_protocol", String(ControlProtocol.version)), ("heartbeat_protocol", String(HeartbeatCodec.version))], 1)
        guard let p = s.process else { return }
        out.counter("process_cpu_seconds_total", "Total user and system CPU time spent, seconds.", [], p.cpuSeconds)
        out.gauge("process_resident_memory_bytes", "Resident memory size, bytes.", [], Double(p.residentMemoryBytes))
        out.gauge("process_virtual_memory_bytes", "Virtual memory size, bytes.", [], Double(p.virtualMemoryBytes))
        out.gauge("process_start_time_seconds", "Start time of the process, seconds since 1970 (UTC).", [], p.startTimeSeconds)
        out.gauge("process_open_fds", "Open file descriptors.", [], Double(p.openFileDescriptors))
        out.gauge("process_max_fds", "Maximum number of open file descriptors (RLIMIT_NOFILE).", [], Double(p.maximumFileDescriptors))
    }
}

/// Registers each series in a registry, with its help text (promtool wants one per family).
struct Families {
    let registry: PrometheusCollectorRegistry

    private func descriptor(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    func gauge(_ name: String, _ help: String, _ labels: [(String, String)], _ value: Double) {
        registry.makeGauge(descriptor: descriptor(name, help), labels: labels).set(to: value)
    }

    func counter(_ name: String, _ help: String, _ labels: [(String, String)], _ value: UInt64) {
        registry.makeCounter(descriptor: descriptor(name, help), labels: labels).increment(by: Int64(clamping: value))
    }

    func counter(_ name: String, _ help: String, _ labels: [(String, String)], _ value: Double) {
        registry.makeCounter(descriptor: descriptor(name, help), labels: labels).increment(by: value)
    }
}
