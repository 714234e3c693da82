/// What the kernel reports about its IPVS table: the configured values (the model types of
/// IPVSModel.swift, which take part in diffs) plus counters and connection numbers (which never
/// do). Identity apart from observation, as cloudflare/ipvs keeps `Service` apart from
/// `ServiceExtended`.

/// 64-bit traffic counters and rate estimates of a service or real server (`IPVS_STATS_ATTR_*`
/// from the kernel's STATS64 nest). Rates are the kernel's estimator values per second.
public struct IPVSStatistics: Sendable, Hashable {
    public var connections: UInt64
    public var inPackets: UInt64
    public var outPackets: UInt64
    public var inBytes: UInt64
    public var outBytes: UInt64
    public var connectionsPerSecond: UInt64
    public var inPacketsPerSecond: UInt64
    public var outPacketsPerSecond: UInt64
    public var inBytesPerSecond: UInt64
    public var outBytesPerSecond: UInt64

    public init(connections: UInt64 = 0, inPackets: UInt64 = 0, outPackets: UInt64 = 0, inBytes: UInt64 = 0,
                outBytes: UInt64 = 0, connectionsPerSecond: UInt64 = 0, inPacketsPerSecond: UInt64 = 0,
                outPacketsPerSecond: UInt64 = 0, inBytesPerSecond: UInt64 = 0, outBytesPerSecond: UInt64 = 0) {
        self.connections = connections
        self.inPackets = inPackets
        self.outPackets = outPackets
        self.inBytes = inBytes
        self.outBytes = outBytes
        self.connectionsPerSecond = connectionsPerSecond
        self.inPacketsPerSecond = inPacketsPerSecond
        self.outPacketsPerSecond = outPacketsPerSecond
        self.inBytesPerSecond = inBytesPerSecond
        self.outBytesPerSecond = outBytesPerSecond
    }
}

/// A real server as the kernel reports it.
public struct IPVSObservedDestination: Sendable, Hashable {
    public var destination: IPVSDestination
    public var activeConnections: UInt32
    public var inactiveConnections: UInt32
    public var persistentConnections: UInt32
    public var statistics: IPVSStatistics

    public init(destination: IPVSDestination, activeConnections: UInt32 = 0, inactiveConnections: UInt32 = 0,
                persistentConnections: UInt32 = 0, statistics: IPVSStatistics = IPVSStatistics()) {
        self.destination = destination
        self.activeConnections = activeConnections
        self.inactiveConnections = inactiveConnections
        self.persistentConnections = persistentConnections
        self.statistics = statistics
    }
}

/// A virtual service as the kernel reports it, with its real servers in (address, port) order.
public struct IPVSObservedService: Sendable, Hashable {
    public var service: IPVSService
    public var statistics: IPVSStatistics
    public var destinations: [IPVSObservedDestination]

    public init(service: IPVSService, statistics: IPVSStatistics = IPVSStatistics(),
                destinations: [IPVSObservedDestination] = []) {
        self.service = service
        self.statistics = statistics
        self.destinations = destinations.sorted { $0.destination.key < $1.destination.key }
    }

    /// The configured part only, as the planner compares it.
    public var entry: IPVSServiceEntry {
        IPVSServiceEntry(service: service, destinations: destinations.map(\.destination))
    }
}

/// The kernel's whole table as observed, services in `ipvsadm` order.
public struct IPVSObservedTable: Sendable, Hashable {
    public private(set) var services: [IPVSObservedService]

    public init(_ services: [IPVSObservedService] = []) {
        self.services = services.sorted { $0.service.key < $1.service.key }
    }

    /// The configured part only: what `IPVSPlanner.plan(desired:observed:owned:)` takes.
    public var table: IPVSTable { IPVSTable(services.map(\.entry)) }
}

/// The IPVS version and connection-table size (`IPVS_CMD_GET_INFO`).
public struct IPVSInfo: Sendable, Hashable {
    /// `IP_VS_VERSION_CODE`, e.g. 0x010201.
    public var version: UInt32
    /// Buckets of the connection hash table (2^CONFIG_IP_VS_TAB_BITS).
    public var connectionTableSize: UInt32

    public init(version: UInt32, connectionTableSize: UInt32) {
        self.version = version
        self.connectionTableSize = connectionTableSize
    }

    /// "1.2.1", as ipvsadm prints it (`NVERSION`).
    public var versionString: String { "\(version >> 16).\((version >> 8) & 0xFF).\(version & 0xFF)" }
}

/// The kernel's connection timeouts in seconds (`IPVS_CMD_GET_CONFIG`); 0 in `set` leaves a value unchanged.
public struct IPVSTimeoutSettings: Sendable, Hashable {
    public var tcp: UInt32
    public var tcpFin: UInt32
    public var udp: UInt32

    public init(tcp: UInt32, tcpFin: UInt32, udp: UInt32) {
        self.tcp = tcp
        self.tcpFin = tcpFin
        self.udp = udp
    }
}

/// A connection-synchronisation daemon of the kernel (ipvsadm --start-daemon). Optional values
/// left nil take the kernel's defaults: group 224.0.0.81, port 8848, TTL 1, maxlen from the MTU.
public struct IPVSSyncDaemon: Sendable, Hashable, CustomStringConvertible {
    /// `IP_VS_STATE_MASTER` = 1 sends, `IP_VS_STATE_BACKUP` = 2 receives.
    public enum Role: UInt32, Sendable, Hashable, CaseIterable, CustomStringConvertible {
        case master = 1
        case backup = 2

        public var description: String { self == .master ? "master" : "backup" }
    }

    public var role: Role
    public var interface: String
    public var syncID: UInt32
    public var maxLength: UInt16?
    public var group: IPAddress?
    public var port: UInt16?
    public var ttl: UInt8?

    public init(role: Role, interface: String, syncID: UInt32, maxLength: UInt16? = nil, group: IPAddress? = nil,
                port: UInt16? = nil, ttl: UInt8? = nil) {
        self.role = role
        self.interface = interface
        self.syncID = syncID
        self.maxLength = maxLength
        self.group = group
        self.port = port
        self.ttl = ttl
    }

    /// `master sync daemon on eth0 (syncid 1)`.
    public var description: String { "\(role) sync daemon on \(interface) (syncid \(syncID))" }
}
