/// Everything `tandemctl status` shows, as the daemon reports it (`status --json` is this, in
/// snake_case). Built by `StatusReport.services(...)` and the daemon from pure inputs.
public struct StatusReport: Codable, Sendable, Hashable {
    /// This node's name.
    public var node: String
    public var role: String
    /// Why the role is what it is (the reason of the last role change).
    public var roleReason: String
    /// When the role last changed (UTC, ISO 8601) and how long ago, in milliseconds.
    public var roleSince: String?
    public var roleAgeMs: UInt64?
    public var priority: Int
    public var effectivePriority: Int
    public var maintenance: Bool
    /// With preempt on: this node handed the VIPs over in an operator's failover and does not
    /// take them back by preemption (`Election.preemptSuspended`), worded; nil when not.
    public var preemptSuspended: String?
    public var peer: Peer
    /// Heartbeat packets accepted and dropped (by reason) since start.
    public var heartbeats: HeartbeatCounters
    public var vips: [VIP]
    public var services: [Service]
    public var config: ConfigInfo
    /// Conflicting or differing configs between the nodes, worded for the operator; nil when equal.
    public var configWarning: String?
    /// Why the config file on disk was refused at the last reload (the running config is the one
    /// before it, and a restart would read the file); nil when the last reload took it.
    public var configFileRefused: String?
    /// Both nodes active for longer than the handover timeout although this one wins: the peer
    /// does not hear it (heartbeats lost one way). Worded for the operator; nil when not.
    public var dualActive: String?
    /// Newest last.
    public var roleChanges: [RoleChange]
    /// The last config replication, when there was one (issue 7).
    public var replication: String?
    /// Settings of the config in force that differ from the ones the daemon started with and
    /// that only a restart applies ("heartbeat port 539 -> 540"); nil or empty when none.
    public var restartNeeded: [String]?
    /// Heartbeat keys, the key the peer signs with, and the boot-epoch challenge (issue 13).
    public var authentication: Authentication?
    /// The notify commands: the one running, how many wait, the last one and the last failed
    /// one (`NotifyLedger`); nil while none has been queued since start.
    public var notify: Notify?
    /// Why this node cannot open IPVS now (no ip_vs module, no CAP_NET_ADMIN), worded for the
    /// operator, with when tandemd tries again; nil when it can. A standby without IPVS cannot
    /// serve after a takeover, so it is shown whatever the role.
    public var ipvsUnavailable: String?
    /// The `metrics.listen` endpoints this node should serve `/metrics` on but has not bound
    /// (the address not on the node yet, the port taken), each with why; tandemd keeps trying
    /// (`MetricsListenPolicy`). Another node's addresses are not listed. Nil when none is missing.
    public var metricsNotListening: [MetricsEndpoint]?

    /// A `metrics.listen` endpoint that is not served, and why.
    public struct MetricsEndpoint: Codable, Sendable, Hashable {
        /// `ADDRESS:PORT` as in `metrics.listen` (IPv6 in brackets).
        public var listen: String
        public var reason: String

        public init(listen: String, reason: String) {
            self.listen = listen
            self.reason = reason
        }
    }

    /// The notify commands' state (`NotifyLedger.status`).
    public struct Notify: Codable, Sendable, Hashable {
        public struct Running: Codable, Sendable, Hashable {
            public var role: String
            public var command: String
            /// ISO 8601, when it started.
            public var since: String
            public var forMs: UInt64
        }
        public struct Ended: Codable, Sendable, Hashable {
            public var role: String
            public var command: String
            /// "succeeded" or "failed".
            public var result: String
            /// How it ended, with its first output ("exited with status 1; output: …").
            public var outcome: String
            /// ISO 8601, when it ended.
            public var at: String
            public var durationMs: UInt64
        }
        public var running: Running?
        /// Commands waiting behind the running one: 0 or 1 (only the newest role change's waits).
        public var queued: Int
        /// The role whose command waits, if one does.
        public var waiting: String?
        public var last: Ended?
        public var lastFailure: Ended?
        /// Commands since start, by result.
        public var succeeded: UInt64
        public var failed: UInt64
        /// Commands not run because a newer role change came before they started.
        public var skipped: UInt64
    }

    /// How the peer's heartbeats are authenticated. Built by `Authentication.init(verifier:…)`.
    public struct Authentication: Codable, Sendable, Hashable {
        /// "hmac-sha256" or "none".
        public var mode: String
        /// Fingerprints ("sha256:" + 12 hex digits) of this node's `key_file` and `next_key_file`.
        public var keyFingerprint: String?
        public var nextKeyFingerprint: String?
        /// "current" or "next": which of this node's keys verified the peer's last authentic packet.
        public var peerKey: String?
        /// "ok"; "refusing" while packets naming the peer fail authentication (the keys differ); or
        /// "re-authenticating" while packets of an epoch that is not accepted arrive.
        public var state: String
        /// What is happening, worded for the operator (nil when there is nothing to say).
        public var detail: String?
        /// When (UTC, ISO 8601) the peer last proved a new epoch by answering a challenge.
        public var verifiedByChallengeAt: String?
        public var challengesSent: UInt64
        public var answersAccepted: UInt64
        public var challengesAnswered: UInt64

        public init(mode: String, keyFingerprint: String?, nextKeyFingerprint: String?, peerKey: String?, state: String,
                    detail: String?, verifiedByChallengeAt: String?, challengesSent: UInt64, answersAccepted: UInt64,
                    challengesAnswered: UInt64) {
            self.mode = mode
            self.keyFingerprint = keyFingerprint
            self.nextKeyFingerprint = nextKeyFingerprint
            self.peerKey = peerKey
            self.state = state
            self.detail = detail
            self.verifiedByChallengeAt = verifiedByChallengeAt
            self.challengesSent = challengesSent
            self.answersAccepted = answersAccepted
            self.challengesAnswered = challengesAnswered
        }

        /// From the verifier's state at monotonic `now`; `wallNow` (nanoseconds since 1970) dates
        /// the monotonic instants; `fingerprints` nil means `auth: none`.
        public init(status: HeartbeatVerifier.AuthenticationStatus, counters: HeartbeatVerifier.Counters,
                    fingerprints: (current: String, next: String?)?, now: MonotonicInstant, wallNow: UInt64) {
            func wall(_ instant: MonotonicInstant) -> String {
                let back = now.nanoseconds(since: instant)
                return ControlTime.iso8601(nanosecondsSinceEpoch: wallNow >= back ? wallNow - back : 0)
            }
            var detail: String?
            var state = "ok"
            if let refused = status.refused {
                state = "refusing"
                detail = "\(refused.count) heartbeat\(refused.count == 1 ? "" : "s") naming the peer failed authentication since \(wall(refused.since)), "
                    + "none authentic since: it signs with a key this node does not hold (key_file / next_key_file differ between the "
                    + "nodes: compare the key fingerprints in `tandemctl status` on both), or they are forged; this node cannot hear "
                    + "the peer, so both nodes may be active"
            } else if let pending = status.reauthenticating {
                state = "re-authenticating"
                detail = "the peer sends boot epoch \(pending.questionedEpoch), older than its current epoch \(pending.currentEpoch) "
                    + "(a restart with its state lost and its clock behind, or a replay): not accepted until it answers a challenge; "
                    + "\(pending.challengesSent) challenge\(pending.challengesSent == 1 ? "" : "s") since \(wall(pending.since))"
            } else if let verified = status.lastVerified,
                      status.lastReplayRefuted.map({ $0.at < verified.at }) ?? true {
                detail = "peer verified by challenge at \(wall(verified.at)): boot epoch \(verified.epoch)"
                    + (verified.previousEpoch.map { " replaced \($0) (it restarted with an older epoch)" } ?? "")
            } else if let refuted = status.lastReplayRefuted {
                detail = "replay refuted at \(wall(refuted.at)): packets of boot epoch \(refuted.questionedEpoch) were answered "
                    + "by the live peer with its current epoch \(refuted.currentEpoch)"
            }
            self.init(mode: fingerprints == nil ? "none" : "hmac-sha256", keyFingerprint: fingerprints?.current,
                      nextKeyFingerprint: fingerprints?.next, peerKey: status.peerKey?.rawValue, state: state, detail: detail,
                      verifiedByChallengeAt: status.lastVerified.map { wall($0.at) }, challengesSent: counters.challengesSent,
                      answersAccepted: counters.answersAccepted, challengesAnswered: counters.challengesAnswered)
        }
    }
    /// This node's own faults (no usable heartbeat path, a VIP interface missing or without
    /// carrier, an address conflict), most basic first; nil or empty when healthy.
    public var localFaults: [String]?
    /// "cluster" for a cluster director (issue 19); absent for a pair, whose report is unchanged.
    public var mode: String?
    /// A cluster director's announcements per VIP and why; nil for a pair.
    public var cluster: ClusterDirectorStatus?

    public struct Peer: Codable, Sendable, Hashable {
        public var name: String
        /// "unknown" until heard.
        public var role: String
        public var alive: Bool
        public var lastHeardMs: UInt64?
        public var priority: Int?
        public var config: ConfigInfo?
        public var paths: [Path]

        public init(name: String, role: String, alive: Bool, lastHeardMs: UInt64?, priority: Int?, config: ConfigInfo?, paths: [Path]) {
            self.name = name
            self.role = role
            self.alive = alive
            self.lastHeardMs = lastHeardMs
            self.priority = priority
            self.config = config
            self.paths = paths
        }
    }

    public struct Path: Codable, Sendable, Hashable {
        /// "10.0.1.1 -> 10.0.1.2".
        public var path: String
        public var received: UInt64
        public var lost: UInt64
        public var lastHeardMs: UInt64?
        /// Why this node's own end of the path cannot carry heartbeats ("address not configured on
        /// any interface", "sending fails: …"); nil when it can.
        public var localProblem: String?
        /// Interarrival jitter of the peer's heartbeats on this path, ms (`PathStatistics.arrivalJitterNanoseconds`).
        public var arrivalJitterMs: Double?
        /// Packets dropped on this path's socket, by reason class (malformed, unauthenticated, replay, …).
        public var dropped: [String: UInt64]?

        public init(path: String, received: UInt64, lost: UInt64, lastHeardMs: UInt64?, localProblem: String? = nil,
                    arrivalJitterMs: Double? = nil, dropped: [String: UInt64]? = nil) {
            self.path = path
            self.received = received
            self.lost = lost
            self.lastHeardMs = lastHeardMs
            self.localProblem = localProblem
            self.arrivalJitterMs = arrivalJitterMs
            self.dropped = dropped
        }
    }

    public struct HeartbeatCounters: Codable, Sendable, Hashable {
        public var accepted: UInt64
        public var malformed: UInt64
        public var unauthenticated: UInt64
        public var replayed: UInt64
        public var unexpectedSender: UInt64
        public var unknownPath: UInt64
        /// Authentic packets held back in the network (`HeartbeatVerifier`'s stale bound); nil
        /// from a daemon before the field.
        public var stale: UInt64?

        public init(accepted: UInt64 = 0, malformed: UInt64 = 0, unauthenticated: UInt64 = 0, replayed: UInt64 = 0,
                    unexpectedSender: UInt64 = 0, unknownPath: UInt64 = 0, stale: UInt64? = 0) {
            self.accepted = accepted
            self.malformed = malformed
            self.unauthenticated = unauthenticated
            self.replayed = replayed
            self.unexpectedSender = unexpectedSender
            self.unknownPath = unknownPath
            self.stale = stale
        }
    }

    public struct VIP: Codable, Sendable, Hashable {
        /// "10.0.0.100/24".
        public var address: String
        public var interface: String
        /// Whether the address is on this node now and usable: its interface up with carrier, not
        /// tentative, not in address conflict.
        public var held: Bool
        /// What is wrong with it ("interface eth1 is down or has no carrier", an address
        /// conflict, …); nil when held or simply absent.
        public var problem: String?

        public init(address: String, interface: String, held: Bool, problem: String? = nil) {
            self.address = address
            self.interface = interface
            self.held = held
            self.problem = problem
        }
    }

    public struct Service: Codable, Sendable, Hashable {
        public var name: String
        /// "tcp 10.0.0.100:80", "fwmark 7".
        public var address: String
        public var scheduler: String
        /// Whether the service is in the kernel table (nil when the table could not be read).
        public var inKernel: Bool?
        public var realServers: [RealServer]

        public init(name: String, address: String, scheduler: String, inKernel: Bool?, realServers: [RealServer]) {
            self.name = name
            self.address = address
            self.scheduler = scheduler
            self.inKernel = inKernel
            self.realServers = realServers
        }
    }

    public struct RealServer: Codable, Sendable, Hashable {
        /// "10.0.1.11:80".
        public var server: String
        /// "up", "down", "unknown" (not checked yet), "unchecked" (no health check), "sorry" (the sorry server).
        public var health: String
        public var healthReason: String?
        public var healthAgeMs: UInt64?
        public var drained: Bool
        public var configWeight: Int
        /// Nil when the server is not in the kernel table (removed, or the table could not be read).
        public var kernelWeight: Int?
        public var activeConnections: UInt32?
        public var inactiveConnections: UInt32?
        /// Packets IPVS has forwarded to this real server since it entered the table (ipvsadm's
        /// InPkts); nil when it is not in the kernel table. A director's drain wait watches it stop.
        public var inPackets: UInt64?

        public init(server: String, health: String, healthReason: String?, healthAgeMs: UInt64?, drained: Bool,
                    configWeight: Int, kernelWeight: Int?, activeConnections: UInt32?, inactiveConnections: UInt32?,
                    inPackets: UInt64? = nil) {
            self.server = server
            self.health = health
            self.healthReason = healthReason
            self.healthAgeMs = healthAgeMs
            self.drained = drained
            self.configWeight = configWeight
            self.kernelWeight = kernelWeight
            self.activeConnections = activeConnections
            self.inactiveConnections = inactiveConnections
            self.inPackets = inPackets
        }
    }

    public struct ConfigInfo: Codable, Sendable, Hashable {
        public var serial: UInt64
        /// SHA-256 of the canonical config, lower-case hex.
        public var digest: String
        public var path: String?

        public init(serial: UInt64, digest: String, path: String? = nil) {
            self.serial = serial
            self.digest = digest
            self.path = path
        }
    }

    public struct RoleChange: Codable, Sendable, Hashable {
        public var time: String
        public var from: String
        public var to: String
        public var reason: String

        public init(time: String, from: String, to: String, reason: String) {
            self.time = time
            self.from = from
            self.to = to
            self.reason = reason
        }
    }

    public init(node: String, role: String, roleReason: String, roleSince: String?, roleAgeMs: UInt64?, priority: Int,
                effectivePriority: Int, maintenance: Bool, peer: Peer, heartbeats: HeartbeatCounters, vips: [VIP],
                services: [Service], config: ConfigInfo, configWarning: String?, roleChanges: [RoleChange],
                replication: String? = nil, restartNeeded: [String]? = nil, localFaults: [String]? = nil) {
        self.node = node
        self.role = role
        self.roleReason = roleReason
        self.roleSince = roleSince
        self.roleAgeMs = roleAgeMs
        self.priority = priority
        self.effectivePriority = effectivePriority
        self.maintenance = maintenance
        self.peer = peer
        self.heartbeats = heartbeats
        self.vips = vips
        self.services = services
        self.config = config
        self.configWarning = configWarning
        self.roleChanges = roleChanges
        self.replication = replication
        self.restartNeeded = restartNeeded
        self.localFaults = localFaults
    }
}

/// What the health checker knows of one real server, as status shows it.
public struct RealServerHealthInfo: Sendable, Hashable {
    /// "up", "down" or "unknown".
    public var status: String
    public var reason: String?
    public var ageMs: UInt64?

    public init(status: String, reason: String?, ageMs: UInt64?) {
        self.status = status
        self.reason = reason
        self.ageMs = ageMs
    }
}

extension StatusReport {
    /// Each virtual service of `config` with its real servers: health, drain, the weight in the
    /// config and the weight and connections in the kernel (`listing`, nil when unreadable).
    public static func services(config: Config, listing: IPVSListing?, health: [RealServerID: RealServerHealthInfo],
                                drained: Set<RealServerID>) -> [Service] {
        var listed: [IPVSServiceKey: IPVSListedService] = [:]
        for service in listing?.services ?? [] { listed[service.service.key] = service }
        return config.virtualServers.map { vs in
            let kernel = listed[vs.ipvsService.key]
            func inKernel(_ address: IPAddress, _ port: UInt16) -> IPVSListedDestination? {
                kernel?.destinations.first { $0.destination.address == address && $0.destination.port == port }
            }
            var servers: [RealServer] = vs.realServers.map { rs in
                let id = RealServerID(service: vs.name, address: rs.address, port: rs.port)
                let info = health[id]
                let observed = inKernel(rs.address, rs.port)
                return RealServer(server: ServerEndpoint(address: rs.address, port: rs.port).description,
                                  health: vs.healthCheck == nil ? "unchecked" : (info?.status ?? "unknown"),
                                  healthReason: info?.reason, healthAgeMs: info?.ageMs, drained: drained.contains(id),
                                  configWeight: rs.weight, kernelWeight: observed.map { Int($0.destination.weight) },
                                  activeConnections: observed?.activeConnections, inactiveConnections: observed?.inactiveConnections,
                                  inPackets: observed?.statistics.inPackets)
            }
            if let sorry = vs.sorryServer {
                let observed = inKernel(sorry.address, sorry.port)
                servers.append(RealServer(server: ServerEndpoint(address: sorry.address, port: sorry.port).description,
                                          health: "sorry", healthReason: observed == nil ? "standing by" : "installed: no live real server has weight above 0",
                                          healthAgeMs: nil, drained: false, configWeight: sorry.weight,
                                          kernelWeight: observed.map { Int($0.destination.weight) },
                                          activeConnections: observed?.activeConnections,
                                          inactiveConnections: observed?.inactiveConnections,
                                          inPackets: observed?.statistics.inPackets))
            }
            return Service(name: vs.name, address: vs.ipvsService.key.description,
                           scheduler: vs.ipvsService.scheduler, inKernel: listing == nil ? nil : kernel != nil,
                           realServers: servers)
        }
    }

    /// The warning shown when the two nodes' configs differ; nil when they agree or the peer is unknown.
    public static func configWarning(mine: ConfigInfo, peer: ConfigInfo?, peerName: String) -> String? {
        guard let peer, peer.digest != mine.digest else { return nil }
        if peer.serial == mine.serial {
            return "CONFIG CONFLICT: both nodes run serial \(mine.serial) with different contents (digest \(mine.digest.prefix(12)) here, \(peer.digest.prefix(12)) on \(peerName)); nothing is applied automatically: make the files equal and bump the serial on one node"
        }
        let newer = peer.serial > mine.serial ? peerName : "this node"
        return "configs differ: serial \(mine.serial) here, \(peer.serial) on \(peerName); \(newer) has the newer one and the other should fetch it"
    }
}
