/// The kernel's IPVS table with what it reports about it, and its rendering in the layouts of
/// `ipvsadm -Ln` (plus `--stats`, `--rate`, `--thresholds`, `--persistent-conn`, `--tun-info`,
/// `--exact`), so that `tandemctl ipvs show` reads like the tool operators know.
///
/// Layouts follow ipvsadm.c (`list_all`, `print_title`, `print_service_entry`, `print_largenum`,
/// `print_sched_flags`, `fwd_name`, `fwd_tun_info`) character for character, trailing spaces
/// included; see `../shared/reference/kernel-interfaces.md` §7.

/// 64-bit traffic counters and rate estimates of a service or real server
/// (`IPVS_SVC_ATTR_STATS64` / `IPVS_DEST_ATTR_STATS64`). Rates are per second.
public struct IPVSStatistics: Sendable, Hashable {
    public var connections: UInt64
    public var inPackets: UInt64
    public var outPackets: UInt64
    public var inBytes: UInt64
    public var outBytes: UInt64
    public var connectionRate: UInt64
    public var inPacketRate: UInt64
    public var outPacketRate: UInt64
    public var inByteRate: UInt64
    public var outByteRate: UInt64

    public init(connections: UInt64 = 0, inPackets: UInt64 = 0, outPackets: UInt64 = 0, inBytes: UInt64 = 0,
                outBytes: UInt64 = 0, connectionRate: UInt64 = 0, inPacketRate: UInt64 = 0,
                outPacketRate: UInt64 = 0, inByteRate: UInt64 = 0, outByteRate: UInt64 = 0) {
        self.connections = connections
        self.inPackets = inPackets
        self.outPackets = outPackets
        self.inBytes = inBytes
        self.outBytes = outBytes
        self.connectionRate = connectionRate
        self.inPacketRate = inPacketRate
        self.outPacketRate = outPacketRate
        self.inByteRate = inByteRate
        self.outByteRate = outByteRate
    }
}

/// A real server as the kernel reports it: its configuration plus connection counts and counters.
public struct IPVSListedDestination: Sendable, Hashable {
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

/// A virtual service as the kernel reports it, with its real servers.
public struct IPVSListedService: Sendable, Hashable {
    public var service: IPVSService
    public var statistics: IPVSStatistics
    public var destinations: [IPVSListedDestination]

    public init(service: IPVSService, statistics: IPVSStatistics = IPVSStatistics(),
                destinations: [IPVSListedDestination] = []) {
        self.service = service
        self.statistics = statistics
        self.destinations = destinations
    }
}

/// The whole observed table (`IPVS_CMD_GET_INFO` plus service and real-server dumps).
public struct IPVSListing: Sendable, Hashable {
    /// IPVS version code as the kernel reports it: 0x010201 is 1.2.1.
    public var version: UInt32
    /// Size of the connection hash table (`size=` in the first line).
    public var connectionTableSize: UInt32
    /// Services, each with its real servers, in the kernel's dump order (which ipvsadm's
    /// listing order depends on: `IPVSAdmOrder`).
    public var services: [IPVSListedService]

    public init(version: UInt32 = 0x01_02_01, connectionTableSize: UInt32 = 4096, services: [IPVSListedService] = []) {
        self.version = version
        self.connectionTableSize = connectionTableSize
        self.services = services
    }

    /// `1.2.1` (ipvsadm's `NVERSION`).
    public var versionString: String {
        "\((version >> 16) & 0xFF).\((version >> 8) & 0xFF).\(version & 0xFF)"
    }

    /// The configuration part only, without counters: what the reconcile planner compares.
    public var table: IPVSTable {
        IPVSTable(services.map { IPVSServiceEntry(service: $0.service, destinations: $0.destinations.map(\.destination)) })
    }
}

/// Renders an `IPVSListing` exactly as `ipvsadm -L -n` with the matching option prints it.
public enum IPVSListFormat {
    /// Which `ipvsadm -Ln` layout to print.
    public enum View: Sendable, Hashable, CaseIterable {
        /// `ipvsadm -Ln`: scheduler and flags, forwarding, weight, connection counts.
        case standard
        /// `--stats`: Conns, InPkts, OutPkts, InBytes, OutBytes.
        case stats
        /// `--rate`: CPS, InPPS, OutPPS, InBPS, OutBPS.
        case rate
        /// `--thresholds`: upper and lower connection thresholds.
        case thresholds
        /// `--persistent-conn`: weight and persistent-connection count.
        case persistentConnections
        /// `--tun-info`: tunnel type, GUE port and checksum option.
        case tunnelInfo
    }

    /// The full listing: version line, title lines, then each service followed by its real
    /// servers, in exactly ipvsadm's order (`IPVSAdmOrder`) given that `listing` keeps the
    /// kernel's dump order. `exact` is `--exact`: counters in full instead of scaled with K/M/G/T.
    public static func render(_ listing: IPVSListing, view: View = .standard, exact: Bool = false) -> String {
        var out = "IP Virtual Server version \(listing.versionString) (size=\(listing.connectionTableSize))\n"
        out += title(view)
        for entry in IPVSAdmOrder.services(dumpOrder: listing.services, key: \.service.key) {
            out += serviceLine(entry, view: view, exact: exact)
            for destination in IPVSAdmOrder.destinations(dumpOrder: entry.destinations, key: \.destination.key) {
                out += destinationLine(destination, view: view, exact: exact)
            }
        }
        return out
    }

    /// The title lines of `print_title`.
    static func title(_ view: View) -> String {
        let prot = pad("Prot LocalAddress:Port", 33)
        switch view {
        case .standard:
            return "Prot LocalAddress:Port Scheduler Flags\n"
                + "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"
        case .tunnelInfo:
            return "Prot LocalAddress:Port Scheduler Flags\n"
                + "  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n"
        case .stats:
            return prot + ["Conns", "InPkts", "OutPkts", "InBytes", "OutBytes"].map { " " + padLeft($0, 8) }.joined()
                + "\n  -> RemoteAddress:Port\n"
        case .rate:
            return prot + ["CPS", "InPPS", "OutPPS", "InBPS", "OutBPS"].map { " " + padLeft($0, 8) }.joined()
                + "\n  -> RemoteAddress:Port\n"
        case .thresholds:
            return prot + ["Uthreshold", "Lthreshold", "ActiveConn", "InActConn"].map { " " + pad($0, 10) }.joined()
                + "\n  -> RemoteAddress:Port\n"
        case .persistentConnections:
            return prot + " " + pad("Weight", 9) + " " + pad("PersistConn", 11) + " " + pad("ActiveConn", 10)
                + " " + pad("InActConn", 10) + "\n  -> RemoteAddress:Port\n"
        }
    }

    /// `TCP  10.0.0.1:80`, `FWM  7 IPv6`: protocol in 4 columns, IPv4 names cut at 33 characters.
    static func serviceName(_ key: IPVSServiceKey) -> String {
        switch key {
        case .fwmark(let family, let mark):
            return family == .ipv6 ? "FWM  \(mark) IPv6" : "FWM  \(mark)"
        case .address(let proto, let address, let port):
            let name = pad(IPVSAdmNotation.protocolName(proto), 4) + " " + "\(address.bracketed):\(port)"
            return address.family == .ipv6 ? name : String(name.prefix(33))
        }
    }

    static func serviceLine(_ entry: IPVSListedService, view: View, exact: Bool) -> String {
        let service = entry.service
        let name = serviceName(service.key)
        let stats = entry.statistics
        switch view {
        case .stats:
            return pad(name, 33) + [stats.connections, stats.inPackets, stats.outPackets, stats.inBytes, stats.outBytes]
                .map { largeNumber($0, exact: exact) }.joined() + "\n"
        case .rate:
            return pad(name, 33) + [stats.connectionRate, stats.inPacketRate, stats.outPacketRate, stats.inByteRate,
                                    stats.outByteRate]
                .map { largeNumber($0, exact: exact) }.joined() + "\n"
        case .standard, .thresholds, .persistentConnections, .tunnelInfo:
            var line = "\(name) \(service.scheduler)"
            if !service.flags.isDisjoint(with: [.scheduler1, .scheduler2, .scheduler3]) {
                line += " (" + IPVSAdmNotation.schedulerFlagNames(service).joined(separator: ",") + ")"
            }
            if service.flags.contains(.persistent) {
                line += " persistent \(service.timeout)"
                if let mask = IPVSAdmNotation.netmaskText(service) { line += " mask \(mask)" }
                if let engine = service.normalizedPersistenceEngine { line += " pe \(engine)" }
            }
            if service.flags.contains(.onePacket) { line += " ops" }
            return line + "\n"
        }
    }

    static func destinationLine(_ entry: IPVSListedDestination, view: View, exact: Bool) -> String {
        let destination = entry.destination
        var name = "\(destination.address.bracketed):\(destination.port)"
        if destination.address.family == .ipv4 { name = String(name.prefix(28)) }
        let head = "  -> " + pad(name, 28)
        let stats = entry.statistics
        let forward = IPVSAdmNotation.forwardingName(destination.forwarding)
        switch view {
        case .standard:
            return head + " " + pad(forward, 7) + " " + pad(String(destination.weight), 6) + " "
                + pad(String(entry.activeConnections), 10) + " " + pad(String(entry.inactiveConnections), 10) + "\n"
        case .tunnelInfo:
            return head + " " + pad(forward, 7) + " " + pad(IPVSAdmNotation.tunnelInfo(destination) ?? "n/a", 13) + " "
                + pad(String(destination.weight), 6) + " " + pad(String(entry.activeConnections), 10) + " "
                + pad(String(entry.inactiveConnections), 10) + "\n"
        case .thresholds:
            return head + " " + pad(String(destination.upperThreshold), 10) + " "
                + pad(String(destination.lowerThreshold), 10) + " " + pad(String(entry.activeConnections), 10) + " "
                + pad(String(entry.inactiveConnections), 10) + "\n"
        case .persistentConnections:
            // ipvsadm prints the weight with %u here.
            return head + " " + pad(String(UInt32(bitPattern: destination.weight)), 9) + " "
                + pad(String(entry.persistentConnections), 11) + " " + pad(String(entry.activeConnections), 10) + " "
                + pad(String(entry.inactiveConnections), 10) + "\n"
        case .stats:
            return head + [stats.connections, stats.inPackets, stats.outPackets, stats.inBytes, stats.outBytes]
                .map { largeNumber($0, exact: exact) }.joined() + "\n"
        case .rate:
            // ipvsadm prints the three small rates plainly (%8llu) and scales only the byte rates.
            return head + [stats.connectionRate, stats.inPacketRate, stats.outPacketRate].map { " " + padLeft(String($0), 8) }
                .joined() + largeNumber(stats.inByteRate, exact: exact) + largeNumber(stats.outByteRate, exact: exact)
                + "\n"
        }
    }

    /// ipvsadm's `print_largenum`: 9 columns, right-aligned. Exact: the number in full (wider
    /// than 8 digits: its width plus one). Otherwise below 100 million in full, then scaled:
    /// thousands with K below 1 billion, millions with M below 100 billion, billions with G
    /// below 100 trillion, else trillions with T (truncating division).
    public static func largeNumber(_ value: UInt64, exact: Bool) -> String {
        let digits = String(value)
        if exact { return padLeft(digits, digits.count <= 8 ? 9 : digits.count + 1) }
        switch value {
        case ..<100_000_000: return padLeft(digits, 9)
        case ..<1_000_000_000: return padLeft(String(value / 1_000), 8) + "K"
        case ..<100_000_000_000: return padLeft(String(value / 1_000_000), 8) + "M"
        case ..<100_000_000_000_000: return padLeft(String(value / 1_000_000_000), 8) + "G"
        default: return padLeft(String(value / 1_000_000_000_000), 8) + "T"
        }
    }

    /// `%-Ns`: left-aligned, padded with spaces, never cut.
    static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }

    /// `%Ns`: right-aligned, padded with spaces, never cut.
    static func padLeft(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
    }
}

/// The words and switches `ipvsadm` uses for the model's values, shared by the listing and the
/// plan notation.
public enum IPVSAdmNotation {
    /// `TCP`, `UDP`, `SCTP` (ipvsadm `protocol_name`).
    public static func protocolName(_ proto: IPVSProtocol) -> String {
        switch proto {
        case .tcp: return "TCP"
        case .udp: return "UDP"
        case .sctp: return "SCTP"
        }
    }

    /// `Masq`, `Local`, `Tunnel`, `Route` (ipvsadm `fwd_name`).
    public static func forwardingName(_ forwarding: IPVSForwarding) -> String {
        switch forwarding {
        case .masquerade: return "Masq"
        case .local: return "Local"
        case .tunnel: return "Tunnel"
        case .directRoute: return "Route"
        }
    }

    /// `-m`, `-i`, `-g` (ipvsadm `fwd_switch`; a local real server saves as `-g`).
    public static func forwardingSwitch(_ forwarding: IPVSForwarding) -> String {
        switch forwarding {
        case .masquerade: return "-m"
        case .tunnel: return "-i"
        case .local, .directRoute: return "-g"
        }
    }

    /// Scheduler flag names as ipvsadm prints them (`print_sched_flags`): the bits mean
    /// sh-fallback/sh-port for `sh`, mh-fallback/mh-port for `mh`, flag-1/2/3 otherwise
    /// (sh and mh give no name to the third bit).
    public static func schedulerFlagNames(_ service: IPVSService) -> [String] {
        let flags = service.flags
        switch service.scheduler {
        case "sh", "mh":
            let prefix = service.scheduler
            return [(IPVSServiceFlags.scheduler1, "\(prefix)-fallback"), (.scheduler2, "\(prefix)-port")]
                .filter { flags.contains($0.0) }.map(\.1)
        default:
            return [(IPVSServiceFlags.scheduler1, "flag-1"), (.scheduler2, "flag-2"), (.scheduler3, "flag-3")]
                .filter { flags.contains($0.0) }.map(\.1)
        }
    }

    /// The persistence mask if it is not the full one: `255.255.255.0` for IPv4, `64` for IPv6.
    public static func netmaskText(_ service: IPVSService) -> String? {
        guard service.netmask != IPVSService.fullNetmask(for: service.key.family) else { return nil }
        return service.key.family == .ipv4 ? IPAddress.v4(service.netmask).description : String(service.netmask)
    }

    /// `-t 10.0.0.1:80`, `-u [2001:db8::1]:53`, `--sctp-service 10.0.0.1:9`, `-f 7`, `-f 7 -6`.
    public static func serviceSwitch(_ key: IPVSServiceKey) -> String {
        switch key {
        case .fwmark(let family, let mark):
            return family == .ipv6 ? "-f \(mark) -6" : "-f \(mark)"
        case .address(let proto, let address, let port):
            let option: String
            switch proto {
            case .tcp: option = "-t"
            case .udp: option = "-u"
            case .sctp: option = "--sctp-service"
            }
            return "\(option) \(address.bracketed):\(port)"
        }
    }

    /// A service as `ipvsadm -S -n` writes it after `-A`: `-t 10.0.0.1:80 -s wlc -p 300 -M 255.255.255.0`.
    public static func serviceRule(_ service: IPVSService) -> String {
        var rule = "\(serviceSwitch(service.key)) -s \(service.scheduler)"
        if service.flags.contains(.persistent) {
            rule += " -p \(service.timeout)"
            if let mask = netmaskText(service) { rule += " -M \(mask)" }
        }
        if let engine = service.normalizedPersistenceEngine { rule += " --pe \(engine)" }
        if service.flags.contains(.onePacket) { rule += " -o" }
        let flagNames = schedulerFlagNames(service)
        if !flagNames.isEmpty { rule += " -b " + flagNames.joined(separator: ",") }
        return rule
    }

    /// A real server exactly as `ipvsadm -S -n` writes it after `-a` (which never prints thresholds):
    /// `-t 10.0.0.1:80 -r 192.168.1.2:80 -i -w 1 --tun-type gue --tun-port 6080 --tun-csum`.
    public static func destinationSaveRule(_ destination: IPVSDestination, of key: IPVSServiceKey) -> String {
        var rule = "\(serviceSwitch(key)) -r \(destination.key) \(forwardingSwitch(destination.forwarding))"
            + " -w \(destination.weight)"
        if destination.forwarding == .tunnel {
            rule += " --tun-type \(destination.tunnelType)"
            switch destination.tunnelType {
            case .ipip: break
            case .gue: rule += " --tun-port \(destination.tunnelPort) \(checksumOption(destination.tunnelChecksum))"
            case .gre: rule += " \(checksumOption(destination.tunnelChecksum))"
            }
        }
        return rule
    }

    /// `destinationSaveRule` plus `-x`/`-y` when a threshold is set, for showing a planned change.
    public static func destinationRule(_ destination: IPVSDestination, of key: IPVSServiceKey) -> String {
        var rule = destinationSaveRule(destination, of: key)
        if destination.upperThreshold != 0 { rule += " -x \(destination.upperThreshold)" }
        if destination.lowerThreshold != 0 { rule += " -y \(destination.lowerThreshold)" }
        return rule
    }

    /// `--tun-nocsum`, `--tun-csum`, `--tun-remcsum`.
    static func checksumOption(_ checksum: IPVSTunnelChecksum) -> String {
        switch checksum {
        case .none: return "--tun-nocsum"
        case .checksum: return "--tun-csum"
        case .remoteChecksum: return "--tun-remcsum"
        }
    }

    /// `ipip`, `gue:6080:+c`, `gre:-c` for tunnels (ipvsadm `fwd_tun_info`); nil otherwise.
    static func tunnelInfo(_ destination: IPVSDestination) -> String? {
        guard destination.forwarding == .tunnel else { return nil }
        let flag: String
        switch destination.tunnelChecksum {
        case .none: flag = "-c"
        case .checksum: flag = "+c"
        case .remoteChecksum: flag = "r+c"
        }
        switch destination.tunnelType {
        case .ipip: return "ipip"
        case .gue: return "gue:\(destination.tunnelPort):\(flag)"
        case .gre: return "gre:\(flag)"
        }
    }
}
