/// The text `ipvsadm -S -n` (`ipvsadm-save -n`) prints for a table, so that an operator (or a
/// test) can diff Tandem's desired table against the kernel with ordinary tools, and feed it to
/// `ipvsadm -R`.
///
/// Layout (ipvsadm.c `print_service_entry` with FMT_RULE, `print_tunnel_rule`,
/// `print_sched_flags`): services in ipvsadm order, each `-A` line followed by its `-a` lines.
public enum IPVSSaveFormat {
    public static func render(_ table: IPVSTable) -> String {
        var out = ""
        for entry in table.entries {
            let svc = serviceArgument(entry.service.key)
            out += "-A \(svc)\(serviceOptions(entry.service))\n"
            for d in entry.destinations {
                out += "-a \(svc) -r \(d.address.bracketed):\(d.port) \(forwardingSwitch(d.forwarding)) -w \(d.weight)"
                if d.forwarding == .tunnel {
                    out += " --tun-type \(d.tunnelType)"
                    switch d.tunnelType {
                    case .ipip: break
                    case .gue: out += " --tun-port \(d.tunnelPort) \(checksumSwitch(d.tunnelChecksum))"
                    case .gre: out += " \(checksumSwitch(d.tunnelChecksum))"
                    }
                }
                out += "\n"
            }
        }
        return out
    }

    /// `-t 192.0.2.10:80`, `-u [2001:db8::1]:53`, `--sctp-service …`, `-f 7`, `-f 7 -6`.
    public static func serviceArgument(_ key: IPVSServiceKey) -> String {
        switch key {
        case .address(let proto, let address, let port):
            let option: String
            switch proto {
            case .tcp: option = "-t"
            case .udp: option = "-u"
            case .sctp: option = "--sctp-service"
            }
            return "\(option) \(address.bracketed):\(port)"
        case .fwmark(let family, let mark):
            return family == .ipv4 ? "-f \(mark)" : "-f \(mark) -6"
        }
    }

    /// ` -s wlc -p 360 -M 255.255.255.0 --pe sip -o -b sh-fallback,sh-port`.
    static func serviceOptions(_ s: IPVSService) -> String {
        var out = " -s \(s.scheduler)"
        if s.flags.contains(.persistent) {
            out += " -p \(s.timeout)"
            switch s.key.family {
            case .ipv4:
                if s.netmask != 0xFFFF_FFFF { out += " -M \(IPAddress.v4(s.netmask))" }
            case .ipv6:
                if s.netmask != 128 { out += " -M \(s.netmask)" }
            }
        }
        if let pe = s.persistenceEngine, !pe.isEmpty { out += " --pe \(pe)" }
        if s.flags.contains(.onePacket) { out += " -o" }
        let names = schedulerFlagNames(s)
        if !names.isEmpty { out += " -b \(names.joined(separator: ","))" }
        return out
    }

    /// ipvsadm's names for the scheduler flag bits, which depend on the scheduler.
    public static func schedulerFlagNames(_ s: IPVSService) -> [String] {
        let prefix: String? = s.scheduler == "sh" ? "sh" : (s.scheduler == "mh" ? "mh" : nil)
        var names: [String] = []
        if s.flags.contains(.scheduler1) { names.append(prefix.map { "\($0)-fallback" } ?? "flag-1") }
        if s.flags.contains(.scheduler2) { names.append(prefix.map { "\($0)-port" } ?? "flag-2") }
        if s.flags.contains(.scheduler3) { names.append("flag-3") }
        return names
    }

    /// `-m`, `-i` or `-g` (local-node servers are saved as `-g`, as ipvsadm does).
    static func forwardingSwitch(_ f: IPVSForwarding) -> String {
        switch f {
        case .masquerade: return "-m"
        case .tunnel: return "-i"
        case .directRoute, .local: return "-g"
        }
    }

    static func checksumSwitch(_ c: IPVSTunnelChecksum) -> String {
        switch c {
        case .none: return "--tun-nocsum"
        case .checksum: return "--tun-csum"
        case .remoteChecksum: return "--tun-remcsum"
        }
    }
}

extension IPVSTable {
    /// The table as JSON for scripts: services in ipvsadm order, with their real servers.
    public var json: JSONValue {
        .array(entries.map { entry in
            let s = entry.service
            var service: [String: JSONValue] = [
                "family": .string(s.key.family == .ipv4 ? "ipv4" : "ipv6"),
                "scheduler": .string(s.scheduler),
                "scheduler_flags": .array(IPVSSaveFormat.schedulerFlagNames(s).map(JSONValue.string)),
                "persistent": .bool(s.flags.contains(.persistent)),
                "one_packet": .bool(s.flags.contains(.onePacket)),
                "persistence_engine": s.persistenceEngine.map(JSONValue.string) ?? .null,
            ]
            if s.flags.contains(.persistent) {
                service["timeout"] = .int(Int64(s.timeout))
                service["netmask"] = s.key.family == .ipv4 ? .string(IPAddress.v4(s.netmask).description) : .int(Int64(s.netmask))
            }
            switch s.key {
            case .address(let proto, let address, let port):
                service["protocol"] = .string(proto.description)
                service["address"] = .string(address.description)
                service["port"] = .int(Int64(port))
            case .fwmark(_, let mark):
                service["fwmark"] = .int(Int64(mark))
            }
            service["real_servers"] = .array(entry.destinations.map { d in
                var dest: [String: JSONValue] = [
                    "address": .string(d.address.description), "port": .int(Int64(d.port)),
                    "forwarding": .string(d.forwarding.description), "weight": .int(Int64(d.weight)),
                    "upper_threshold": .int(Int64(d.upperThreshold)), "lower_threshold": .int(Int64(d.lowerThreshold)),
                ]
                if d.forwarding == .tunnel {
                    dest["tunnel_type"] = .string(d.tunnelType.description)
                    if d.tunnelType == .gue { dest["tunnel_port"] = .int(Int64(d.tunnelPort)) }
                    if d.tunnelType != .ipip { dest["tunnel_checksum"] = .string(d.tunnelChecksum.description) }
                }
                return .object(dest)
            })
            return .object(service)
        })
    }
}
