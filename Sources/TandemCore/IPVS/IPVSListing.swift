/// The kernel's table printed exactly as `ipvsadm -Ln` (and `--stats`, `--rate`, `--exact`,
/// `--daemon`, `--timeout`) prints it, so operators and scripts read familiar text. Layouts are
/// ipvsadm 1.31's `list_all`, `print_title`, `print_service_entry`, `print_largenum` and
/// `list_daemon` (printf widths kept, trailing spaces included).
public enum IPVSListing {
    /// Which columns to print.
    public enum Columns: Sendable, Hashable {
        /// Forward, Weight, ActiveConn, InActConn.
        case connections
        /// Conns, InPkts, OutPkts, InBytes, OutBytes.
        case statistics
        /// CPS, InPPS, OutPPS, InBPS, OutBPS.
        case rates
    }

    /// The whole listing: version line, titles, then every service and its real servers.
    /// `exact` prints counters without K/M/G scaling (ipvsadm `--exact`).
    public static func list(_ table: IPVSObservedTable, info: IPVSInfo, columns: Columns = .connections,
                            exact: Bool = false) -> String {
        var out = "IP Virtual Server version \(info.versionString) (size=\(info.connectionTableSize))\n"
        switch columns {
        case .connections:
            out += "Prot LocalAddress:Port Scheduler Flags\n"
            out += "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"
        case .statistics:
            out += pad("Prot LocalAddress:Port", 33) + " " + ["Conns", "InPkts", "OutPkts", "InBytes", "OutBytes"]
                .map { leftPad($0, 8) }.joined(separator: " ") + "\n  -> RemoteAddress:Port\n"
        case .rates:
            out += pad("Prot LocalAddress:Port", 33) + " " + ["CPS", "InPPS", "OutPPS", "InBPS", "OutBPS"]
                .map { leftPad($0, 8) }.joined(separator: " ") + "\n  -> RemoteAddress:Port\n"
        }
        for observed in table.services {
            out += serviceLine(observed, columns: columns, exact: exact) + "\n"
            for d in observed.destinations {
                var name = "\(d.destination.address.bracketed):\(d.destination.port)"
                if d.destination.address.family != .ipv6 { name = String(name.prefix(28)) }
                switch columns {
                case .connections:
                    out += "  -> " + pad(name, 28) + " " + pad(forwardingName(d.destination.forwarding), 7) + " "
                        + pad(String(d.destination.weight), 6) + " " + pad(String(d.activeConnections), 10) + " "
                        + pad(String(d.inactiveConnections), 10) + "\n"
                case .statistics:
                    let s = d.statistics
                    out += "  -> " + pad(name, 28)
                        + [s.connections, s.inPackets, s.outPackets, s.inBytes, s.outBytes].map { largeNumber($0, exact: exact) }.joined()
                        + "\n"
                case .rates:
                    let s = d.statistics
                    out += "  -> " + pad(name, 28) + " " + leftPad(String(s.connectionsPerSecond), 8) + " "
                        + leftPad(String(s.inPacketsPerSecond), 8) + " " + leftPad(String(s.outPacketsPerSecond), 8)
                        + largeNumber(s.inBytesPerSecond, exact: exact) + largeNumber(s.outBytesPerSecond, exact: exact) + "\n"
                }
            }
        }
        return out
    }

    /// `TCP  10.0.0.1:80`, `FWM  7 IPv6`; IPv4 names cut at 33 characters as ipvsadm cuts them.
    static func serviceName(_ key: IPVSServiceKey) -> String {
        switch key {
        case .fwmark(let family, let mark):
            return family == .ipv6 ? "FWM  \(mark) IPv6" : "FWM  \(mark)"
        case .address(let proto, let address, let port):
            let name = pad(protocolName(proto), 4) + " \(address.bracketed):\(port)"
            return address.family == .ipv6 ? name : String(name.prefix(33))
        }
    }

    static func serviceLine(_ observed: IPVSObservedService, columns: Columns, exact: Bool) -> String {
        let s = observed.service
        let name = serviceName(s.key)
        switch columns {
        case .statistics:
            let t = observed.statistics
            return pad(name, 33) + [t.connections, t.inPackets, t.outPackets, t.inBytes, t.outBytes]
                .map { largeNumber($0, exact: exact) }.joined()
        case .rates:
            let t = observed.statistics
            return pad(name, 33) + [t.connectionsPerSecond, t.inPacketsPerSecond, t.outPacketsPerSecond,
                                    t.inBytesPerSecond, t.outBytesPerSecond].map { largeNumber($0, exact: exact) }.joined()
        case .connections:
            var line = "\(name) \(s.scheduler)"
            let flags = schedulerFlagNames(s)
            if !flags.isEmpty { line += " (\(flags.joined(separator: ",")))" }
            if s.flags.contains(.persistent) {
                line += " persistent \(s.timeout)"
                switch s.key.family {
                case .ipv4: if s.netmask != 0xFFFF_FFFF { line += " mask \(IPAddress.v4(s.netmask))" }
                case .ipv6: if s.netmask != 128 { line += " mask \(s.netmask)" }
                }
                if let engine = s.persistenceEngine { line += " pe \(engine)" }
            }
            if s.flags.contains(.onePacket) { line += " ops" }
            return line
        }
    }

    /// ipvsadm's names for the scheduler flag bits: sh-/mh- names for those schedulers, flag-N otherwise.
    public static func schedulerFlagNames(_ s: IPVSService) -> [String] {
        var names: [String] = []
        switch s.scheduler {
        case "sh", "mh":
            if s.flags.contains(.scheduler1) { names.append("\(s.scheduler)-fallback") }
            if s.flags.contains(.scheduler2) { names.append("\(s.scheduler)-port") }
        default:
            if s.flags.contains(.scheduler1) { names.append("flag-1") }
            if s.flags.contains(.scheduler2) { names.append("flag-2") }
            if s.flags.contains(.scheduler3) { names.append("flag-3") }
        }
        return names
    }

    /// `master sync daemon (mcast=eth0, syncid=1, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)`,
    /// one line per daemon, master first (ipvsadm `--daemon`).
    public static func daemons(_ daemons: [IPVSSyncDaemon]) -> String {
        daemons.sorted { $0.role.rawValue < $1.role.rawValue }.map { d in
            var line = "\(d.role) sync daemon (mcast=\(d.interface), syncid=\(d.syncID)"
            if let maxLength = d.maxLength, maxLength != 0 { line += ", maxlen=\(maxLength)" }
            if let group = d.group { line += ", group=\(group)" }
            if let port = d.port, port != 0 { line += ", port=\(port)" }
            if let ttl = d.ttl, ttl != 0 { line += ", ttl=\(ttl)" }
            return line + ")\n"
        }.joined()
    }

    /// `Timeout (tcp tcpfin udp): 900 120 300` (ipvsadm `--timeout`).
    public static func timeouts(_ t: IPVSTimeoutSettings) -> String {
        "Timeout (tcp tcpfin udp): \(t.tcp) \(t.tcpFin) \(t.udp)\n"
    }

    static func protocolName(_ p: IPVSProtocol) -> String {
        switch p {
        case .tcp: return "TCP"
        case .udp: return "UDP"
        case .sctp: return "SCTP"
        }
    }

    /// `Masq`, `Local`, `Tunnel`, `Route` (ipvsadm `fwd_name`).
    static func forwardingName(_ f: IPVSForwarding) -> String {
        switch f {
        case .masquerade: return "Masq"
        case .local: return "Local"
        case .tunnel: return "Tunnel"
        case .directRoute: return "Route"
        }
    }

    /// ipvsadm's `print_largenum`: `%9llu` below 100 million, else scaled to K/M/G/T in 8 columns;
    /// with `exact`, the full number right-aligned in max(9, digits + 1) columns.
    static func largeNumber(_ n: UInt64, exact: Bool) -> String {
        if exact {
            let digits = String(n)
            return leftPad(digits, digits.count <= 8 ? 9 : digits.count + 1)
        }
        switch n {
        case ..<100_000_000: return leftPad(String(n), 9)
        case ..<1_000_000_000: return leftPad(String(n / 1000), 8) + "K"
        case ..<100_000_000_000: return leftPad(String(n / 1_000_000), 8) + "M"
        case ..<100_000_000_000_000: return leftPad(String(n / 1_000_000_000), 8) + "G"
        default: return leftPad(String(n / 1_000_000_000_000), 8) + "T"
        }
    }

    /// `%-Ns`: left-aligned, padded with spaces, never cut.
    static func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s : s + String(repeating: " ", count: width - s.count)
    }

    /// `%Ns`: right-aligned.
    static func leftPad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s : String(repeating: " ", count: width - s.count) + s
    }
}
