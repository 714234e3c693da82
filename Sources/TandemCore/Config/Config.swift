/// The whole configuration of a Tandem pair (or, with `cluster`, of a cluster of active
/// directors): one file, identical on every router.
///
/// A `Config` is a validated value: every field already has its default applied, every
/// cross-check has passed. Build one with `ConfigParser.parse(_:)`; the YAML language is
/// documented in `examples/reference.yaml`.
public struct Config: Sendable, Hashable {
    /// Orders config versions between the peers: the node with the lower serial fetches the other's.
    public var serial: UInt64
    /// The two routers, in file order.
    public var nodes: [Node]
    public var heartbeat: HeartbeatSettings
    public var election: ElectionSettings
    public var announce: AnnounceSettings
    public var virtualIPs: [VirtualIP]
    public var virtualServers: [VirtualServer]
    public var sync: SyncSettings?
    public var standbyTable: StandbyTable
    public var ipvsTimeouts: IPVSTimeouts?
    public var notify: NotifySettings
    public var control: ControlSettings
    public var stateDirectory: String
    /// The Prometheus endpoint (`metrics:`); off unless `listen` names an address.
    public var metrics = MetricsSettings()
    /// Cluster mode (`cluster:`): nil for a pair. With it, `nodes` lists 2…16 active directors.
    public var cluster: ClusterSettings?

    public init(serial: UInt64, nodes: [Node], heartbeat: HeartbeatSettings, election: ElectionSettings,
                announce: AnnounceSettings, virtualIPs: [VirtualIP], virtualServers: [VirtualServer],
                sync: SyncSettings?, standbyTable: StandbyTable, ipvsTimeouts: IPVSTimeouts?,
                notify: NotifySettings, control: ControlSettings, stateDirectory: String) {
        self.serial = serial
        self.nodes = nodes
        self.heartbeat = heartbeat
        self.election = election
        self.announce = announce
        self.virtualIPs = virtualIPs
        self.virtualServers = virtualServers
        self.sync = sync
        self.standbyTable = standbyTable
        self.ipvsTimeouts = ipvsTimeouts
        self.notify = notify
        self.control = control
        self.stateDirectory = stateDirectory
    }

    /// The node called `name`, if the config lists it.
    public func node(named name: String) -> Node? { nodes.first { $0.name == name } }

    /// The other node of the pair.
    public func peer(of name: String) -> Node? { nodes.first { $0.name != name } }
}

/// A span of time, kept in milliseconds. Written in the config as `20ms`, `1s`, `5m`, `1h`.
public struct TimeSpan: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var milliseconds: UInt64

    public init(milliseconds: UInt64) { self.milliseconds = milliseconds }
    public static func seconds(_ s: UInt64) -> TimeSpan { TimeSpan(milliseconds: s * 1000) }
    public static func milliseconds(_ ms: UInt64) -> TimeSpan { TimeSpan(milliseconds: ms) }

    /// Parses `<digits><unit>` with unit `ms`, `s`, `m` or `h`. Nothing else is accepted: no
    /// bare numbers (is "5" seconds or milliseconds?), no fractions, no spaces, no signs.
    public init?(parsing text: String) {
        let digits = text.prefix { $0.isASCII && $0.isNumber }
        let unit = text.dropFirst(digits.count)
        guard !digits.isEmpty, digits.count <= 12, let n = UInt64(digits) else { return nil }
        switch unit {
        case "ms": milliseconds = n
        case "s": milliseconds = n * 1000
        case "m": milliseconds = n * 60_000
        case "h": milliseconds = n * 3_600_000
        default: return nil
        }
    }

    public var seconds: Double { Double(milliseconds) / 1000 }

    /// The shortest exact form: `1h`, `5m`, `2s`, `150ms`.
    public var description: String {
        if milliseconds == 0 { return "0s" }
        if milliseconds % 3_600_000 == 0 { return "\(milliseconds / 3_600_000)h" }
        if milliseconds % 60_000 == 0 { return "\(milliseconds / 60_000)m" }
        if milliseconds % 1000 == 0 { return "\(milliseconds / 1000)s" }
        return "\(milliseconds)ms"
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.milliseconds < rhs.milliseconds }
}

/// One router of the pair.
public struct Node: Sendable, Hashable {
    public var name: String
    /// This node's heartbeat addresses, one per path. Path `i` of one node talks to path `i` of
    /// the other: the first is the primary link, a second is typically a private crossover link.
    public var heartbeatAddresses: [IPAddress]
    /// Election priority, 1…255; higher wins.
    public var priority: Int
    public var trackInterfaces: [TrackedInterface]

    public init(name: String, heartbeatAddresses: [IPAddress], priority: Int, trackInterfaces: [TrackedInterface]) {
        self.name = name
        self.heartbeatAddresses = heartbeatAddresses
        self.priority = priority
        self.trackInterfaces = trackInterfaces
    }
}

/// An interface whose link state affects the election.
public struct TrackedInterface: Sendable, Hashable {
    /// What a down link does to this node.
    public enum Effect: Sendable, Hashable {
        /// The node enters the fault role and gives up the VIPs.
        case fault
        /// The node's effective priority drops by this much (1…254).
        case lowerPriority(by: Int)
    }

    public var interface: String
    public var effect: Effect

    public init(interface: String, effect: Effect) {
        self.interface = interface
        self.effect = effect
    }
}

/// How the peers talk.
public struct HeartbeatSettings: Sendable, Hashable {
    /// Authentication of heartbeats and of config replication.
    public enum Authentication: Sendable, Hashable {
        /// HMAC-SHA256 with the key in this file (at least 16 bytes).
        case hmacSHA256(keyFile: String)
        /// No authentication: only when the config says `auth: none`.
        case none

        /// Whether configs are mirrored between the nodes: only over an authenticated channel
        /// (an unauthenticated one never rewrites a config).
        public var mirrorsConfig: Bool { if case .hmacSHA256 = self { true } else { false } }
    }

    /// Below this dead time `check-config` warns about `realtime_priority: off`: the default scheduler
    /// has been measured holding a heartbeat thread back 30-43 ms on a loaded two-core router
    /// (integration/bench/README.md), and this leaves about five times that.
    public static let schedulerSafeDeadTime = TimeSpan.milliseconds(250)

    public var port: UInt16
    public var interval: TimeSpan
    /// Silence after which the peer is declared dead.
    public var deadTime: TimeSpan
    public var authentication: Authentication
    /// A second key accepted alongside `key_file` while the pair changes keys (`next_key_file`;
    /// only with HMAC authentication). This node still signs with `key_file`. See the README's
    /// "Changing the heartbeat key".
    public var nextKeyFile: String?
    /// `realtime_priority` as the config writes it: nil when absent (the heartbeat thread then asks
    /// for `defaultRealtimePriority`), 0 for `off` (the default scheduler), else a SCHED_FIFO
    /// priority 1…99. What the thread runs with is `effectiveRealtimePriority`.
    public var realtimePriority: Int?

    /// The SCHED_FIFO priority of the heartbeat thread when the config does not give one. On by
    /// default because the default scheduler has been measured holding the thread back 30-43 ms
    /// on a loaded two-core router (four CPU hogs: false takeovers at a 30 ms dead time; with
    /// SCHED_FIFO none, integration/bench/README.md). 50 is below the kernel's threaded IRQ
    /// handlers (SCHED_FIFO 50 too, by creation order) and far from 99 (migration, watchdog).
    public static let defaultRealtimePriority = 50

    /// The SCHED_FIFO priority the heartbeat thread asks for; nil for the default scheduler
    /// (`realtime_priority: off`). If the kernel refuses (no CAP_SYS_NICE, RLIMIT_RTPRIO 0), the
    /// thread logs why once and runs with the default scheduler.
    public var effectiveRealtimePriority: Int? { Self.effectiveRealtimePriority(realtimePriority) }

    /// The priority a `realtime_priority` setting (nil: absent, 0: off) asks for; nil for `off`.
    public static func effectiveRealtimePriority(_ setting: Int?) -> Int? {
        switch setting {
        case nil: return defaultRealtimePriority
        case 0: return nil
        case let priority: return priority
        }
    }

    /// `realtime_priority` in words: "SCHED_FIFO 50 (the default)", "SCHED_FIFO 70", "off".
    public var realtimeDescription: String { Self.realtimeDescription(realtimePriority) }

    /// A `realtime_priority` setting (nil: absent, 0: off) in words.
    public static func realtimeDescription(_ setting: Int?) -> String {
        switch setting {
        case nil: return "SCHED_FIFO \(defaultRealtimePriority) (the default)"
        case 0: return "off"
        case let priority?: return "SCHED_FIFO \(priority)"
        }
    }

    public init(port: UInt16 = 539, interval: TimeSpan, deadTime: TimeSpan, authentication: Authentication,
                realtimePriority: Int? = nil, nextKeyFile: String? = nil) {
        self.port = port
        self.interval = interval
        self.deadTime = deadTime
        self.authentication = authentication
        self.realtimePriority = realtimePriority
        self.nextKeyFile = nextKeyFile
    }
}

/// Election policy.
public struct ElectionSettings: Sendable, Hashable {
    /// When true a higher-priority node that returns takes over; by default it stays standby (as pulse did).
    public var preempt: Bool
    /// How long a preempting node waits, hearing the peer, before it takes over.
    public var preemptDelay: TimeSpan

    public init(preempt: Bool = false, preemptDelay: TimeSpan = .milliseconds(0)) {
        self.preempt = preempt
        self.preemptDelay = preemptDelay
    }
}

/// Gratuitous ARP / unsolicited neighbour advertisement schedule (keepalived's
/// garp_master_repeat / delay / refresh vocabulary).
public struct AnnounceSettings: Sendable, Hashable {
    /// Form of gratuitous ARP: request (RFC 5227 announcement) or reply (`arping -A`).
    public enum ARPMode: String, Sendable, Hashable, CaseIterable {
        case request, reply
    }

    /// Messages per VIP at claim time.
    public var repeatCount: Int
    /// Gap between messages of one burst.
    public var spacing: TimeSpan
    /// A second burst this long after the claim; nil for none.
    public var secondBurstDelay: TimeSpan?
    /// While active, send `refreshRepeat` messages every `refreshInterval`; nil for no refresh.
    public var refreshInterval: TimeSpan?
    public var refreshRepeat: Int
    public var arpMode: ARPMode

    public init(repeatCount: Int = 5, spacing: TimeSpan = .milliseconds(0), secondBurstDelay: TimeSpan? = .seconds(5),
                refreshInterval: TimeSpan? = nil, refreshRepeat: Int = 1, arpMode: ARPMode = .request) {
        self.repeatCount = repeatCount
        self.spacing = spacing
        self.secondBurstDelay = secondBurstDelay
        self.refreshInterval = refreshInterval
        self.refreshRepeat = refreshRepeat
        self.arpMode = arpMode
    }
}

/// An address the active router holds.
public struct VirtualIP: Sendable, Hashable {
    public var prefix: IPPrefix
    public var interface: String
    /// `ip addr` label (IPv4 only), at most 15 characters and starting with the interface name.
    public var label: String?
    /// The internal gateway NAT real servers route through (pulse's `nat_router`).
    public var natGateway: Bool

    public init(prefix: IPPrefix, interface: String, label: String? = nil, natGateway: Bool = false) {
        self.prefix = prefix
        self.interface = interface
        self.label = label
        self.natGateway = natGateway
    }

    public var address: IPAddress { prefix.address }
    public var family: AddressFamily { prefix.family }
}

/// Forwarding method as configured (ipvsadm's -m / -g / -i).
public enum ForwardingMethod: Sendable, Hashable {
    case nat
    case directRouting
    case tunnel(TunnelSettings)

    var ipvs: IPVSForwarding {
        switch self {
        case .nat: return .masquerade
        case .directRouting: return .directRoute
        case .tunnel: return .tunnel
        }
    }
}

/// Tunnel encapsulation of a tunnel-forwarded real server.
public struct TunnelSettings: Sendable, Hashable {
    public var type: IPVSTunnelType
    /// GUE destination port; required for GUE, absent otherwise.
    public var port: UInt16?
    public var checksum: IPVSTunnelChecksum

    public init(type: IPVSTunnelType = .ipip, port: UInt16? = nil, checksum: IPVSTunnelChecksum = .none) {
        self.type = type
        self.port = port
        self.checksum = checksum
    }
}

/// Persistence: clients from the same network go to the same real server for `timeout`.
public struct Persistence: Sendable, Hashable {
    public var timeout: TimeSpan
    /// Prefix length of the client network (IPv4 netmask written as 255.255.255.0 or /24; IPv6 as 64).
    public var prefixLength: Int
    /// Persistence engine, e.g. "sip".
    public var engine: String?

    public init(timeout: TimeSpan, prefixLength: Int, engine: String? = nil) {
        self.timeout = timeout
        self.prefixLength = prefixLength
        self.engine = engine
    }
}

/// What identifies a virtual server on the wire.
public enum VirtualServerMatch: Sendable, Hashable {
    case address(IPAddress, port: UInt16, protocol: IPVSProtocol)
    case fwmark(UInt32, family: AddressFamily)
}

/// A load-balanced service and its real servers.
public struct VirtualServer: Sendable, Hashable {
    public var name: String
    public var match: VirtualServerMatch
    public var scheduler: Scheduler
    public var persistence: Persistence?
    public var onePacket: Bool
    public var forwarding: ForwardingMethod
    public var sorryServer: SorryServer?
    public var healthCheck: HealthCheck?
    public var realServers: [RealServer]

    public init(name: String, match: VirtualServerMatch, scheduler: Scheduler, persistence: Persistence?,
                onePacket: Bool, forwarding: ForwardingMethod, sorryServer: SorryServer?,
                healthCheck: HealthCheck?, realServers: [RealServer]) {
        self.name = name
        self.match = match
        self.scheduler = scheduler
        self.persistence = persistence
        self.onePacket = onePacket
        self.forwarding = forwarding
        self.sorryServer = sorryServer
        self.healthCheck = healthCheck
        self.realServers = realServers
    }

    public var family: AddressFamily {
        switch match {
        case .address(let a, _, _): return a.family
        case .fwmark(_, let f): return f
        }
    }

    public var ipvsKey: IPVSServiceKey {
        switch match {
        case .address(let a, let port, let proto): return .address(protocol: proto, address: a, port: port)
        case .fwmark(let mark, let family): return .fwmark(family: family, mark: mark)
        }
    }
}

/// An IPVS scheduler with its flags.
public struct Scheduler: Sendable, Hashable {
    /// Every scheduler the kernel ships (net/netfilter/ipvs/Kconfig), and `none`.
    public static let known = KernelLimits.schedulers

    /// Scheduler flags, named as ipvsadm's `-b` names them.
    public enum Flag: String, Sendable, Hashable, CaseIterable {
        case shFallback = "sh-fallback"
        case shPort = "sh-port"
        case mhFallback = "mh-fallback"
        case mhPort = "mh-port"

        /// Which scheduler the flag belongs to.
        public var scheduler: String { rawValue.hasPrefix("sh") ? "sh" : "mh" }
        var bit: IPVSServiceFlags { rawValue.hasSuffix("fallback") ? .scheduler1 : .scheduler2 }
    }

    public var name: String
    public var flags: Set<Flag>

    public init(name: String, flags: Set<Flag> = []) {
        self.name = name
        self.flags = flags
    }
}

/// A real server of a virtual server.
public struct RealServer: Sendable, Hashable {
    public var address: IPAddress
    /// 0 only for fwmark services (keep the client's destination port).
    public var port: UInt16
    /// 0…65535; 0 takes no new connections.
    public var weight: Int
    public var upperThreshold: UInt32
    public var lowerThreshold: UInt32
    /// Overrides the virtual server's forwarding method for this server.
    public var forwarding: ForwardingMethod?

    public init(address: IPAddress, port: UInt16, weight: Int = 1, upperThreshold: UInt32 = 0,
                lowerThreshold: UInt32 = 0, forwarding: ForwardingMethod? = nil) {
        self.address = address
        self.port = port
        self.weight = weight
        self.upperThreshold = upperThreshold
        self.lowerThreshold = lowerThreshold
        self.forwarding = forwarding
    }
}

/// Where traffic goes while no real server of a service is up.
public struct SorryServer: Sendable, Hashable {
    public var address: IPAddress
    public var port: UInt16
    public var weight: Int
    public var forwarding: ForwardingMethod?

    public init(address: IPAddress, port: UInt16, weight: Int = 1, forwarding: ForwardingMethod? = nil) {
        self.address = address
        self.port = port
        self.weight = weight
        self.forwarding = forwarding
    }
}

/// How a virtual server checks its real servers.
public struct HealthCheck: Sendable, Hashable {
    /// What a failed real server becomes.
    public enum FailureAction: String, Sendable, Hashable, CaseIterable {
        /// Weight 0: existing connections finish, no new ones arrive.
        case quiesce
        /// Taken out of the table.
        case remove
    }

    /// The probe and its own parameters.
    public enum Probe: Sendable, Hashable {
        /// TCP connect, optionally sending `send` and matching the reply against the regular expression `expect`.
        case tcp(port: UInt16?, send: String?, expect: String?)
        /// HTTP or HTTPS GET.
        case http(HTTPProbe)
        /// UDP datagram `send`, reply matched against `expect`.
        case udp(port: UInt16?, send: String, expect: String?)
        /// A program run with `%h` / `%p` replaced by the real server's address and port; exit 0 means up.
        case exec(command: [String])
        /// HAProxy agent-check protocol on `port`: a percentage sets the weight; up/down/drain/maint.
        case agent(port: UInt16, send: String?)

        public var typeName: String {
            switch self {
            case .tcp: return "tcp"
            case .http(let h): return h.tls ? "https" : "http"
            case .udp: return "udp"
            case .exec: return "exec"
            case .agent: return "agent"
            }
        }
    }

    public var probe: Probe
    public var interval: TimeSpan
    public var timeout: TimeSpan
    /// Consecutive successes before a down server is up again.
    public var rise: Int
    /// Consecutive failures before an up server is down.
    public var fall: Int
    public var failureAction: FailureAction
    /// After a server comes up its weight ramps from 0 to full over this time; nil for at once.
    public var warmup: TimeSpan?

    public init(probe: Probe, interval: TimeSpan = .seconds(2), timeout: TimeSpan = .seconds(1), rise: Int = 2,
                fall: Int = 3, failureAction: FailureAction = .quiesce, warmup: TimeSpan? = nil) {
        self.probe = probe
        self.interval = interval
        self.timeout = timeout
        self.rise = rise
        self.fall = fall
        self.failureAction = failureAction
        self.warmup = warmup
    }
}

/// Parameters of an HTTP or HTTPS check.
public struct HTTPProbe: Sendable, Hashable {
    public var tls: Bool
    public var port: UInt16?
    public var path: String
    public var host: String?
    /// TLS server name; defaults to `host`.
    public var serverName: String?
    /// Accepted status codes as closed ranges; default 200…399.
    public var status: [ClosedRange<Int>]
    /// Regular expression the body must match.
    public var body: String?
    public var verifyCertificate: Bool

    public init(tls: Bool, port: UInt16? = nil, path: String = "/", host: String? = nil, serverName: String? = nil,
                status: [ClosedRange<Int>] = [200...399], body: String? = nil, verifyCertificate: Bool = false) {
        self.tls = tls
        self.port = port
        self.path = path
        self.host = host
        self.serverName = serverName
        self.status = status
        self.body = body
        self.verifyCertificate = verifyCertificate
    }
}

/// The kernel's connection-synchronisation daemon (ipvsadm --start-daemon).
public struct SyncSettings: Sendable, Hashable {
    public var interface: String
    /// 0…255; only messages with this id are accepted.
    public var syncID: UInt8
    /// Multicast group; kernel default 224.0.0.81.
    public var group: IPAddress?
    /// UDP port; kernel default 8848.
    public var port: UInt16?
    /// Multicast TTL 1…255; kernel default 1.
    public var ttl: UInt8?
    /// Maximum sync message payload in bytes; kernel default is the MTU minus headers.
    public var maxLength: UInt16?

    public init(interface: String, syncID: UInt8, group: IPAddress? = nil, port: UInt16? = nil, ttl: UInt8? = nil,
                maxLength: UInt16? = nil) {
        self.interface = interface
        self.syncID = syncID
        self.group = group
        self.port = port
        self.ttl = ttl
        self.maxLength = maxLength
    }
}

/// Whether the standby keeps the IPVS table installed.
public enum StandbyTable: String, Sendable, Hashable, CaseIterable {
    /// Both routers keep the table; a takeover is a VIP claim plus announcements.
    case warm
    /// Only the active router holds the table (pulse's behaviour).
    case cold
}

/// IPVS connection timeouts (ipvsadm --set tcp tcpfin udp).
public struct IPVSTimeouts: Sendable, Hashable {
    public var tcp: TimeSpan
    public var tcpFin: TimeSpan
    public var udp: TimeSpan

    public init(tcp: TimeSpan, tcpFin: TimeSpan, udp: TimeSpan) {
        self.tcp = tcp
        self.tcpFin = tcpFin
        self.udp = udp
    }
}

/// Commands run on role changes. Each is an argument vector (no shell); the role and reason are
/// passed in the environment.
public struct NotifySettings: Sendable, Hashable {
    public var active: [String]?
    public var standby: [String]?
    public var fault: [String]?
    public var maintenance: [String]?
    public var stop: [String]?
    /// Longest a notify command may run before it is killed.
    public var timeout: TimeSpan

    public init(active: [String]? = nil, standby: [String]? = nil, fault: [String]? = nil,
                maintenance: [String]? = nil, stop: [String]? = nil, timeout: TimeSpan = .seconds(30)) {
        self.active = active
        self.standby = standby
        self.fault = fault
        self.maintenance = maintenance
        self.stop = stop
        self.timeout = timeout
    }
}

/// The local control socket.
public struct ControlSettings: Sendable, Hashable {
    public var socketPath: String
    /// Members of this group (and root) may change state; nil for root only.
    public var group: String?

    public init(socketPath: String = "/run/tandem/tandemd.sock", group: String? = nil) {
        self.socketPath = socketPath
        self.group = group
    }
}

/// The Prometheus endpoint (`metrics:` in the config): `GET /metrics` on each `listen` address
/// that this node can bind (a wildcard, a loopback address, or an address of this node), so one
/// file can list both routers' addresses. Off (no socket at all) while `listen` is empty, the
/// default.
public struct MetricsSettings: Sendable, Hashable {
    /// Where to serve, in config order; empty: metrics are off.
    public var listen: [ServerEndpoint]

    public init(listen: [ServerEndpoint] = []) {
        self.listen = listen
    }
}
