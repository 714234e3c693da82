/// The text `ipvsadm -S -n` (`ipvsadm-save -n`) prints for a table, so that an operator (or a
/// test) can diff Tandem's desired table against the kernel with ordinary tools, and feed it to
/// `ipvsadm -R`.
///
/// Layout (ipvsadm.c `print_service_entry` with FMT_RULE, `print_tunnel_rule`,
/// `print_sched_flags`): services in ipvsadm order, each `-A` line followed by its `-a` lines.
/// The order is the one `ipvsadm -S -n` prints once Tandem has installed the table
/// (`IPVSAdmOrder.installed`). Firewall marks print unsigned, as ipvsadm after 1.31 does
/// (upstream commit e61c8cd); Debian's 1.31 prints marks of 2^31 and above as negative numbers,
/// which its own `ipvsadm -R` then refuses.
public enum IPVSSaveFormat {
    public static func render(_ table: IPVSTable) -> String {
        var out = ""
        for entry in IPVSAdmOrder.installed(table) {
            out += "-A \(IPVSAdmNotation.serviceRule(entry.service))\n"
            for d in entry.destinations {
                out += "-a \(IPVSAdmNotation.destinationSaveRule(d, of: entry.service.key))\n"
            }
        }
        return out
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
                "scheduler_flags": .array(IPVSAdmNotation.schedulerFlagNames(s).map(JSONValue.string)),
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
