/// What the kernel reports besides its table: the IPVS version, the connection timeouts and
/// the connection-synchronisation daemons. (The table itself, with counters, is `IPVSListing`.)

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

    /// `Timeout (tcp tcpfin udp): 900 120 300`, as `ipvsadm -L --timeout` prints it.
    public var listing: String { "Timeout (tcp tcpfin udp): \(tcp) \(tcpFin) \(udp)\n" }
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

    /// `master sync daemon (mcast=eth0, syncid=1, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)`,
    /// one line per daemon, master first, as `ipvsadm -L --daemon` prints them (ipvsadm.c `list_daemon`).
    public static func listing(_ daemons: [IPVSSyncDaemon]) -> String {
        daemons.sorted { $0.role.rawValue < $1.role.rawValue }.map { d in
            var line = "\(d.role) sync daemon (mcast=\(d.interface), syncid=\(d.syncID)"
            if let maxLength = d.maxLength, maxLength != 0 { line += ", maxlen=\(maxLength)" }
            if let group = d.group { line += ", group=\(group)" }
            if let port = d.port, port != 0 { line += ", port=\(port)" }
            if let ttl = d.ttl, ttl != 0 { line += ", ttl=\(ttl)" }
            return line + ")\n"
        }.joined()
    }
}
