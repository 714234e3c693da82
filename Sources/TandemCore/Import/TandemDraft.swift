/// A Tandem config as an importer builds it: plain values with the source line of each part,
/// rendered as commented YAML in the layout of `examples/reference.yaml`. The rendered text is
/// then read back with `ConfigParser`, so an importer never hands out a config Tandem refuses.
public struct TandemDraft: Sendable {
    public struct Node: Sendable {
        public var name: String
        public var addresses: [String]
        public var priority: Int
        /// (interface, lower_priority_by or nil for fault)
        public var trackInterfaces: [(String, Int?)]
        public var source: SourceLocation?

        public init(name: String, addresses: [String], priority: Int, trackInterfaces: [(String, Int?)] = [], source: SourceLocation?) {
            self.name = name
            self.addresses = addresses
            self.priority = priority
            self.trackInterfaces = trackInterfaces
            self.source = source
        }

    }

    public struct VIP: Sendable, Hashable {
        public var prefix: String
        public var interface: String
        public var label: String?
        public var natGateway = false
        public var source: SourceLocation?

        public init(prefix: String, interface: String, label: String? = nil, natGateway: Bool = false, source: SourceLocation?) {
            self.prefix = prefix
            self.interface = interface
            self.label = label
            self.natGateway = natGateway
            self.source = source
        }
    }

    public struct Tunnel: Sendable, Hashable {
        public var type: String
        public var port: Int?
        public var checksum: String?

        public init(type: String, port: Int? = nil, checksum: String? = nil) {
            self.type = type
            self.port = port
            self.checksum = checksum
        }
    }

    /// nat, dr or tunnel.
    public struct Forwarding: Sendable, Hashable {
        public var method: String
        public var tunnel: Tunnel?

        public init(method: String, tunnel: Tunnel? = nil) {
            self.method = method
            self.tunnel = tunnel
        }
    }

    public struct RealServer: Sendable, Hashable {
        public var address: String
        public var port: Int?
        public var weight: Int
        public var upperThreshold: Int?
        public var lowerThreshold: Int?
        /// Only when it differs from the service's.
        public var forwarding: Forwarding?
        public var source: SourceLocation?

        public init(address: String, port: Int?, weight: Int, upperThreshold: Int? = nil, lowerThreshold: Int? = nil,
                    forwarding: Forwarding? = nil, source: SourceLocation?) {
            self.address = address
            self.port = port
            self.weight = weight
            self.upperThreshold = upperThreshold
            self.lowerThreshold = lowerThreshold
            self.forwarding = forwarding
            self.source = source
        }
    }

    /// A health check as YAML keys in order (type first); values are rendered as given.
    public struct HealthCheck: Sendable {
        public var fields: [(String, DraftValue)]
        public var source: SourceLocation?

        public init(fields: [(String, DraftValue)], source: SourceLocation?) {
            self.fields = fields
            self.source = source
        }

    }

    public struct VirtualServer: Sendable {
        public var name: String
        public var address: String?
        public var port: Int?
        public var `protocol`: String?
        public var fwmark: UInt32?
        public var family: String?
        public var scheduler: String
        public var schedulerFlags: [String] = []
        public var persistenceTimeout: Int?
        public var persistenceNetmask: String?
        public var persistenceEngine: String?
        public var onePacket = false
        public var forwarding: Forwarding
        public var sorryServer: (address: String, port: Int?, forwarding: Forwarding?)?
        public var healthCheck: HealthCheck?
        public var realServers: [RealServer]
        public var comments: [String] = []
        public var source: SourceLocation?

        public init(name: String, scheduler: String, forwarding: Forwarding, realServers: [RealServer], source: SourceLocation?) {
            self.name = name
            self.scheduler = scheduler
            self.forwarding = forwarding
            self.realServers = realServers
            self.source = source
        }

    }

    public struct Sync: Sendable, Hashable {
        public var interface: String
        public var syncID: Int?
        public var group: String?
        public var port: Int?
        public var ttl: Int?
        public var maxLength: Int?
        public var source: SourceLocation?

        public init(interface: String, syncID: Int? = nil, group: String? = nil, port: Int? = nil, ttl: Int? = nil,
                    maxLength: Int? = nil, source: SourceLocation?) {
            self.interface = interface
            self.syncID = syncID
            self.group = group
            self.port = port
            self.ttl = ttl
            self.maxLength = maxLength
            self.source = source
        }
    }

    public var header: [String] = []
    public var serial: UInt64 = 1
    public var nodes: [Node] = []
    public var heartbeatPort: Int?
    public var interval: String?
    public var deadTime: String?
    public var keyFile = "/etc/tandem/heartbeat.key"
    public var heartbeatSource: SourceLocation?
    public var preempt: Bool?
    public var preemptDelay: String?
    public var electionSource: SourceLocation?
    /// Announce keys in order (repeat, spacing, second_burst_delay, refresh_interval, refresh_repeat).
    public var announce: [(String, DraftValue, SourceLocation?)] = []
    public var virtualIPs: [VIP] = []
    public var virtualServers: [VirtualServer] = []
    public var sync: Sync?
    public var standbyTable: String?
    /// IPVS's protocol timeouts in seconds (`ipvsadm --set tcp tcpfin udp`); nil ones are not written.
    public struct Timeouts: Sendable {
        public var tcp: Int?
        public var tcpFin: Int?
        public var udp: Int?
        public var source: SourceLocation?

        public init(tcp: Int? = nil, tcpFin: Int? = nil, udp: Int? = nil, source: SourceLocation? = nil) {
            self.tcp = tcp
            self.tcpFin = tcpFin
            self.udp = udp
            self.source = source
        }

        /// The largest timeout the kernel takes, s (INT_MAX/HZ at HZ=1000: ip_vs_ctl.c ip_vs_set_timeout).
        public static let maximumSeconds = Int(KernelLimits.maximumProtocolTimeout.milliseconds / 1000)
    }
    public var ipvsTimeouts: Timeouts?
    /// role, command as arguments, source
    public var notify: [(String, [String], SourceLocation?)] = []

    public init() {}

}

/// A YAML scalar or flow list as a draft holds it.
public enum DraftValue: Sendable, Hashable, CustomStringConvertible {
    case text(String)
    case number(Int)
    case bool(Bool)
    /// Written as is: durations (`2s`), masks.
    case raw(String)
    case list([DraftValue])

    public var description: String {
        switch self {
        case .text(let s): return TandemDraft.quote(s)
        case .number(let n): return String(n)
        case .bool(let b): return b ? "true" : "false"
        case .raw(let s): return s
        case .list(let items): return "[" + items.map(\.description).joined(separator: ", ") + "]"
        }
    }
}

extension TandemDraft {
    /// A YAML double-quoted scalar (JSON escapes are valid YAML), or the text itself when it is
    /// a plain word YAML reads back unchanged as a string.
    public static func quote(_ s: String) -> String {
        let plain = !s.isEmpty && s.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_./".contains($0)) }
            && !["true", "false", "yes", "no", "on", "off", "null", "~", "y", "n"].contains(s.lowercased())
            && Int(s) == nil && Double(s) == nil && !s.hasPrefix("-")
        if plain { return s }
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 || u.value == 0x7f {
                    out += "\\x" + (u.value < 16 ? "0" : "") + String(u.value, radix: 16)
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }

    /// The config as YAML, with each part's source line, and the path each source line became.
    public func renderWithMappings() -> (String, [ImportMapping]) {
        var out: [String] = header.map { "# " + $0 }
        var mappings: [ImportMapping] = []
        func map(_ source: SourceLocation?, _ path: String) {
            if let source { mappings.append(ImportMapping(source: source, path: path)) }
        }
        func from(_ source: SourceLocation?) -> String { source.map { "  # from \($0)" } ?? "" }
        func forwardingLines(_ f: Forwarding, indent: String) -> [String] {
            var lines = ["\(indent)forwarding: \(f.method)"]
            if let t = f.tunnel {
                var parts = ["type: \(t.type)"]
                if let p = t.port { parts.append("port: \(p)") }
                if let c = t.checksum { parts.append("checksum: \(c)") }
                lines.append("\(indent)tunnel: {\(parts.joined(separator: ", "))}")
            }
            return lines
        }

        out.append("")
        out.append("serial: \(serial)")
        out.append("")
        out.append("nodes:")
        for (i, node) in nodes.enumerated() {
            map(node.source, "nodes[\(i)]")
            out.append("  - name: \(Self.quote(node.name))\(from(node.source))")
            out.append("    addresses: [\(node.addresses.map(Self.quote).joined(separator: ", "))]")
            out.append("    priority: \(node.priority)")
            if !node.trackInterfaces.isEmpty {
                out.append("    track_interfaces:")
                for (name, by) in node.trackInterfaces {
                    if let by {
                        out.append("      - {interface: \(Self.quote(name)), lower_priority_by: \(by)}")
                    } else {
                        out.append("      - \(Self.quote(name))")
                    }
                }
            }
        }
        out.append("")
        out.append("heartbeat:\(from(heartbeatSource))")
        map(heartbeatSource, "heartbeat")
        if let heartbeatPort { out.append("  port: \(heartbeatPort)") }
        if let interval { out.append("  interval: \(interval)") }
        if let deadTime { out.append("  dead_time: \(deadTime)") }
        out.append("  key_file: \(keyFile)          # create it on both routers: head -c 32 /dev/urandom > \(keyFile); chmod 600 \(keyFile)")
        if preempt != nil || preemptDelay != nil {
            out.append("")
            out.append("election:\(from(electionSource))")
            map(electionSource, "election")
            if let preempt { out.append("  preempt: \(preempt)") }
            if let preemptDelay { out.append("  preempt_delay: \(preemptDelay)") }
        }
        if !announce.isEmpty {
            out.append("")
            out.append("announce:")
            for (key, value, source) in announce {
                map(source, "announce.\(key)")
                out.append("  \(key): \(value)\(from(source))")
            }
        }
        if !virtualIPs.isEmpty {
            out.append("")
            out.append("virtual_ips:")
            for (i, vip) in virtualIPs.enumerated() {
                map(vip.source, "virtual_ips[\(i)]")
                var parts = ["address: \(Self.quote(vip.prefix))", "interface: \(Self.quote(vip.interface))"]
                if let label = vip.label { parts.append("label: \(Self.quote(label))") }
                if vip.natGateway { parts.append("nat_gateway: true") }
                out.append("  - {\(parts.joined(separator: ", "))}\(from(vip.source))")
            }
        }
        if !virtualServers.isEmpty {
            out.append("")
            out.append("virtual_servers:")
            for (i, vs) in virtualServers.enumerated() {
                let path = "virtual_servers[\(i)]"
                map(vs.source, path)
                if i > 0 { out.append("") }
                for comment in vs.comments { out.append("  # \(comment)") }
                out.append("  - name: \(Self.quote(vs.name))\(from(vs.source))")
                if let fwmark = vs.fwmark {
                    out.append("    fwmark: \(fwmark)")
                    if let family = vs.family { out.append("    family: \(family)") }
                } else {
                    if let a = vs.address { out.append("    address: \(Self.quote(a))") }
                    if let p = vs.port { out.append("    port: \(p)") }
                    if let p = vs.protocol { out.append("    protocol: \(p)") }
                }
                out.append("    scheduler: \(vs.scheduler)")
                if !vs.schedulerFlags.isEmpty { out.append("    scheduler_flags: [\(vs.schedulerFlags.joined(separator: ", "))]") }
                if let t = vs.persistenceTimeout {
                    var parts = ["timeout: \(t)s"]
                    if let m = vs.persistenceNetmask { parts.append("netmask: \(Self.quote(m))") }
                    if let e = vs.persistenceEngine { parts.append("engine: \(Self.quote(e))") }
                    out.append("    persistence: {\(parts.joined(separator: ", "))}")
                }
                if vs.onePacket { out.append("    one_packet: true") }
                out += forwardingLines(vs.forwarding, indent: "    ")
                if let sorry = vs.sorryServer {
                    out.append("    sorry_server:")
                    out.append("      address: \(Self.quote(sorry.address))")
                    if let p = sorry.port { out.append("      port: \(p)") }
                    if let f = sorry.forwarding { out += forwardingLines(f, indent: "      ") }
                }
                if let hc = vs.healthCheck {
                    map(hc.source, "\(path).health_check")
                    out.append("    health_check:\(from(hc.source))")
                    for (key, value) in hc.fields { out.append("      \(key): \(value)") }
                }
                out.append("    real_servers:")
                for (j, rs) in vs.realServers.enumerated() {
                    map(rs.source, "\(path).real_servers[\(j)]")
                    var parts = ["address: \(Self.quote(rs.address))"]
                    if let p = rs.port { parts.append("port: \(p)") }
                    parts.append("weight: \(rs.weight)")
                    if let u = rs.upperThreshold { parts.append("upper_threshold: \(u)") }
                    if let l = rs.lowerThreshold { parts.append("lower_threshold: \(l)") }
                    if let f = rs.forwarding {
                        parts.append("forwarding: \(f.method)")
                        if let t = f.tunnel {
                            var tp = ["type: \(t.type)"]
                            if let p = t.port { tp.append("port: \(p)") }
                            if let c = t.checksum { tp.append("checksum: \(c)") }
                            parts.append("tunnel: {\(tp.joined(separator: ", "))}")
                        }
                    }
                    out.append("      - {\(parts.joined(separator: ", "))}\(from(rs.source))")
                }
            }
        }
        if let sync {
            map(sync.source, "sync")
            out.append("")
            out.append("sync:\(from(sync.source))")
            out.append("  interface: \(Self.quote(sync.interface))")
            if let v = sync.syncID { out.append("  sync_id: \(v)") }
            if let v = sync.group { out.append("  group: \(Self.quote(v))") }
            if let v = sync.port { out.append("  port: \(v)") }
            if let v = sync.ttl { out.append("  ttl: \(v)") }
            if let v = sync.maxLength { out.append("  max_length: \(v)") }
        }
        if let standbyTable {
            out.append("")
            out.append("standby_table: \(standbyTable)")
        }
        if let t = ipvsTimeouts, t.tcp != nil || t.tcpFin != nil || t.udp != nil {
            map(t.source, "ipvs_timeouts")
            out.append("")
            out.append("ipvs_timeouts:\(from(t.source))")
            if let v = t.tcp { out.append("  tcp: \(v)s") }
            if let v = t.tcpFin { out.append("  tcp_fin: \(v)s") }
            if let v = t.udp { out.append("  udp: \(v)s") }
        }
        if !notify.isEmpty {
            out.append("")
            out.append("notify:")
            for (role, command, source) in notify {
                map(source, "notify.\(role)")
                out.append("  \(role): [\(command.map(Self.quote).joined(separator: ", "))]\(from(source))")
            }
        }
        return (out.joined(separator: "\n") + "\n", mappings)
    }

    public func render() -> String { renderWithMappings().0 }
}
