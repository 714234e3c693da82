import Crypto

extension Config {
    /// The config's semantic content as JSON with every default filled in, keys sorted, and
    /// order-free lists (virtual IPs, virtual servers, real servers, tracked interfaces, nodes)
    /// sorted by identity. Key order, comments, layout and equivalent spellings ("1s" and
    /// "1000ms") do not change it; any change of meaning does.
    public var canonical: JSONValue {
        var fields = canonicalFieldsButServices
        fields["virtual_servers"] = .array(canonicalServiceOrder.map(\.canonical))
        return .object(fields)
    }

    /// SHA-256 of the compact canonical JSON, in lowercase hex: identifies a config version.
    public var digest: String {
        var hash = SHA256()
        writeCanonicalCompact { hash.update(data: $0) }
        return Hex.encode(hash.finalize())
    }

    /// `canonical.compactUTF8`, written without building the virtual and real servers' JSON
    /// objects (a config may have tens of thousands): the same bytes.
    var canonicalCompactUTF8: [UInt8] {
        var all: [UInt8] = []
        all.reserveCapacity(300 + virtualServers.reduce(0) { $0 + 300 + 130 * $1.realServers.count })
        writeCanonicalCompact { all.append(contentsOf: $0) }
        return all
    }

    /// Writes `canonicalCompactUTF8` into a buffer of about 64 KiB and hands it to `take` each
    /// time it fills, and at the end: the digest hashes a large config's text without holding
    /// all of it.
    private func writeCanonicalCompact(_ take: ([UInt8]) -> Void) {
        let chunk = 64 * 1024
        var out = JSONWriter(indent: false)
        out.bytes.reserveCapacity(chunk + 4096)
        out.writeObject(canonicalFieldsButServices, level: 0, plus: "virtual_servers") { out, level in
            out.writeArray(canonicalServiceIndices, level: level) { out, i, _ in
                virtualServers[i].writeCompactCanonical(to: &out)
                if out.bytes.count >= chunk {
                    take(out.bytes)
                    out.bytes.removeAll(keepingCapacity: true)
                }
            }
        }
        take(out.bytes)
    }

    private var canonicalServiceOrder: [VirtualServer] { canonicalServiceIndices.map { virtualServers[$0] } }

    /// The indices of `virtualServers` in canonical order (by IPVS key), sorted without moving
    /// the services themselves.
    private var canonicalServiceIndices: [Int] {
        let keys = virtualServers.map(\.ipvsKey)
        return keys.indices.sorted { keys[$0] < keys[$1] }
    }

    /// The canonical form's top-level fields but `virtual_servers`.
    private var canonicalFieldsButServices: [String: JSONValue] {
        var fields: [String: JSONValue] = [
            "serial": .int(Int64(clamping: serial)),
            "nodes": .array(nodes.sorted { $0.name < $1.name }.map(\.canonical)),
            "heartbeat": heartbeat.canonical,
            "election": ["preempt": .bool(election.preempt), "preempt_delay_ms": ms(election.preemptDelay)],
            "announce": announce.canonical,
            "virtual_ips": .array(virtualIPs.sorted { $0.prefix < $1.prefix }.map(\.canonical)),
            "sync": sync.map(\.canonical) ?? .null,
            "standby_table": .string(standbyTable.rawValue),
            "ipvs_timeouts": ipvsTimeouts.map { ["tcp_ms": ms($0.tcp), "tcp_fin_ms": ms($0.tcpFin), "udp_ms": ms($0.udp)] } ?? .null,
            "notify": notify.canonical,
            "control": ["socket": .string(control.socketPath), "group": control.group.map(JSONValue.string) ?? .null],
            "state_directory": .string(stateDirectory),
        ]
        // Only when set, so configs without `metrics:` keep their digest.
        if !metrics.listen.isEmpty { fields["metrics"] = ["listen": .array(metrics.listen.map { .string($0.description) })] }
        // Only for a cluster, so a pair's config keeps its digest.
        if let cluster { fields["cluster"] = cluster.canonical }
        return fields
    }
}

private func ms(_ t: TimeSpan) -> JSONValue { .int(Int64(clamping: t.milliseconds)) }
private func opt<T>(_ v: T?, _ f: (T) -> JSONValue) -> JSONValue { v.map(f) ?? .null }

extension Node {
    var canonical: JSONValue {
        [
            "name": .string(name),
            "addresses": .array(heartbeatAddresses.map { .string($0.description) }),
            "priority": .int(Int64(priority)),
            "track_interfaces": .array(trackInterfaces.sorted { $0.interface < $1.interface }.map { t in
                switch t.effect {
                case .fault: return ["interface": .string(t.interface), "effect": "fault"]
                case .lowerPriority(let by):
                    return ["interface": .string(t.interface), "effect": "lower_priority", "by": .int(Int64(by))]
                }
            }),
        ]
    }
}

extension HeartbeatSettings {
    var canonical: JSONValue {
        let auth: JSONValue
        switch authentication {
        case .none: auth = ["mode": "none"]
        case .hmacSHA256(let file):
            // next_key_file only when set, so configs without it keep their digest.
            auth = nextKeyFile.map { ["mode": "hmac-sha256", "key_file": .string(file), "next_key_file": .string($0)] }
                ?? ["mode": "hmac-sha256", "key_file": .string(file)]
        }
        return [
            "port": .int(Int64(port)), "interval_ms": ms(interval), "dead_time_ms": ms(deadTime), "auth": auth,
            "realtime_priority": opt(realtimePriority) { .int(Int64($0)) },
        ]
    }
}

extension AnnounceSettings {
    var canonical: JSONValue {
        [
            "repeat": .int(Int64(repeatCount)), "spacing_ms": ms(spacing),
            "second_burst_delay_ms": opt(secondBurstDelay, ms), "refresh_interval_ms": opt(refreshInterval, ms),
            "refresh_repeat": .int(Int64(refreshRepeat)), "arp_mode": .string(arpMode.rawValue),
        ]
    }
}

extension VirtualIP {
    var canonical: JSONValue {
        [
            "address": .string(prefix.description), "interface": .string(interface),
            "label": opt(label, JSONValue.string), "nat_gateway": .bool(natGateway),
        ]
    }
}

extension ForwardingMethod {
    /// `prefix` and the compact text of `canonical`, NAT and direct routing without building it.
    func writeCompactCanonical(after prefix: StaticString, to out: inout JSONWriter) {
        out.append(prefix)
        switch self {
        case .nat: out.append("{\"method\":\"nat\"}")
        case .directRouting: out.append("{\"method\":\"dr\"}")
        case .tunnel: out.write(canonical, level: 2)
        }
    }

    var canonical: JSONValue {
        switch self {
        case .nat: return ["method": "nat"]
        case .directRouting: return ["method": "dr"]
        case .tunnel(let t):
            return [
                "method": "tunnel", "type": .string(t.type.description),
                "port": opt(t.port) { .int(Int64($0)) }, "checksum": .string(t.checksum.description),
            ]
        }
    }
}

extension VirtualServer {
    var canonical: JSONValue {
        var fields = canonicalFieldsButRealServers
        fields["real_servers"] = .array(canonicalRealServerOrder.map(\.canonical))
        return .object(fields)
    }

    var canonicalRealServerOrder: [RealServer] {
        func before(_ a: RealServer, _ b: RealServer) -> Bool {
            IPVSDestinationKey(address: a.address, port: a.port) < IPVSDestinationKey(address: b.address, port: b.port)
        }
        // Usually written in order already: then the list itself, not a sorted copy (the sort is
        // stable, so it would keep that order too).
        if realServers.indices.dropFirst().allSatisfy({ !before(realServers[$0], realServers[$0 - 1]) }) { return realServers }
        return realServers.sorted(by: before)
    }

    /// Appends the compact text of `canonical` without building it: the keys in the order
    /// `JSONWriter` sorts them (`String` order, which for these ASCII keys is byte order), the
    /// rarer nested values (tunnel forwarding, persistence, sorry server, health check) through
    /// their `canonical` values.
    func writeCompactCanonical(to out: inout JSONWriter) {
        switch match {
        case .address(let a, let port, let proto):
            out.append("{\"address\":")
            out.quote(a)
            forwarding.writeCompactCanonical(after: ",\"forwarding\":", to: &out)
            writeHealthCheckToPersistence(to: &out)
            out.append(",\"port\":")
            out.integer(Int64(port))
            out.append(",\"protocol\":")
            out.quote(proto.description)
        case .fwmark(let mark, let family):
            out.append("{\"family\":")
            out.append(family == .ipv4 ? "\"ipv4\"" : "\"ipv6\"")
            forwarding.writeCompactCanonical(after: ",\"forwarding\":", to: &out)
            out.append(",\"fwmark\":")
            out.integer(Int64(mark))
            writeHealthCheckToPersistence(to: &out)
        }
        out.append(",\"real_servers\":")
        out.writeArray(canonicalRealServerOrder, level: 2) { out, rs, _ in rs.writeCompactCanonical(to: &out) }
        out.append(",\"scheduler\":")
        out.quote(scheduler.name)
        out.append(",\"scheduler_flags\":")
        if scheduler.flags.isEmpty {
            out.append("[]")
        } else {
            out.write(.array(scheduler.flags.map(\.rawValue).sorted().map(JSONValue.string)), level: 2)
        }
        out.append(",\"sorry_server\":")
        if let sorryServer { out.write(sorryServer.canonical, level: 2) } else { out.append("null") }
        out.append("}")
    }

    /// The keys from `health_check` to `persistence`, which sort between the two match kinds'
    /// own keys.
    private func writeHealthCheckToPersistence(to out: inout JSONWriter) {
        out.append(",\"health_check\":")
        if let healthCheck { out.write(healthCheck.canonical, level: 2) } else { out.append("null") }
        out.append(",\"name\":")
        out.quote(name)
        out.append(",\"one_packet\":")
        out.append(onePacket ? "true" : "false")
        out.append(",\"persistence\":")
        if let persistence { out.write(persistence.canonical, level: 2) } else { out.append("null") }
    }

    /// The canonical fields but `real_servers`.
    var canonicalFieldsButRealServers: [String: JSONValue] {
        var fields: [String: JSONValue] = [
            "name": .string(name),
            "scheduler": .string(scheduler.name),
            "scheduler_flags": .array(scheduler.flags.map(\.rawValue).sorted().map(JSONValue.string)),
            "persistence": opt(persistence, \.canonical),
            "one_packet": .bool(onePacket),
            "forwarding": forwarding.canonical,
            "sorry_server": opt(sorryServer, \.canonical),
            "health_check": opt(healthCheck, \.canonical),
        ]
        switch match {
        case .address(let a, let port, let proto):
            fields["address"] = .string(a.description)
            fields["port"] = .int(Int64(port))
            fields["protocol"] = .string(proto.description)
        case .fwmark(let mark, let family):
            fields["fwmark"] = .int(Int64(mark))
            fields["family"] = .string(family == .ipv4 ? "ipv4" : "ipv6")
        }
        return fields
    }
}

extension Persistence {
    var canonical: JSONValue {
        ["timeout_ms": ms(timeout), "prefix_length": .int(Int64(prefixLength)), "engine": opt(engine, JSONValue.string)]
    }
}

extension SorryServer {
    var canonical: JSONValue {
        ["address": .string(address.description), "port": .int(Int64(port)), "weight": .int(Int64(weight)),
         "forwarding": opt(forwarding, \.canonical)]
    }
}

extension RealServer {
    var canonical: JSONValue {
        [
            "address": .string(address.description), "port": .int(Int64(port)), "weight": .int(Int64(weight)),
            "upper_threshold": .int(Int64(upperThreshold)), "lower_threshold": .int(Int64(lowerThreshold)),
            "forwarding": opt(forwarding, \.canonical),
        ]
    }

    /// Appends the compact text of `canonical` without building it: the same keys, in the order
    /// `JSONWriter` sorts them (a config may have tens of thousands of real servers).
    func writeCompactCanonical(to out: inout JSONWriter) {
        out.append("{\"address\":")
        out.quote(address)
        out.append(",\"forwarding\":")
        if let forwarding { out.write(forwarding.canonical, level: 1) } else { out.append("null") }
        out.append(",\"lower_threshold\":")
        out.integer(Int64(lowerThreshold))
        out.append(",\"port\":")
        out.integer(Int64(port))
        out.append(",\"upper_threshold\":")
        out.integer(Int64(upperThreshold))
        out.append(",\"weight\":")
        out.integer(Int64(weight))
        out.append("}")
    }
}

extension HealthCheck {
    var canonical: JSONValue {
        var fields: [String: JSONValue] = [
            "type": .string(probe.typeName), "interval_ms": ms(interval), "timeout_ms": ms(timeout),
            "rise": .int(Int64(rise)), "fall": .int(Int64(fall)), "failure_action": .string(failureAction.rawValue),
            "warmup_ms": opt(warmup, ms),
        ]
        func port(_ p: UInt16?) -> JSONValue { opt(p) { .int(Int64($0)) } }
        switch probe {
        case .tcp(let p, let send, let expect):
            fields["port"] = port(p)
            fields["send"] = opt(send, JSONValue.string)
            fields["expect"] = opt(expect, JSONValue.string)
        case .udp(let p, let send, let expect):
            fields["port"] = port(p)
            fields["send"] = .string(send)
            fields["expect"] = opt(expect, JSONValue.string)
        case .http(let h):
            fields["port"] = port(h.port)
            fields["path"] = .string(h.path)
            fields["host"] = opt(h.host, JSONValue.string)
            fields["sni"] = opt(h.serverName, JSONValue.string)
            fields["status"] = .array(h.status.map { .string("\($0.lowerBound)-\($0.upperBound)") })
            fields["body"] = opt(h.body, JSONValue.string)
            fields["verify_certificate"] = .bool(h.verifyCertificate)
        case .exec(let command):
            fields["command"] = .array(command.map(JSONValue.string))
        case .agent(let p, let send):
            fields["port"] = .int(Int64(p))
            fields["send"] = opt(send, JSONValue.string)
        }
        return .object(fields)
    }
}

extension SyncSettings {
    var canonical: JSONValue {
        [
            "interface": .string(interface), "sync_id": .int(Int64(syncID)),
            "group": opt(group) { .string($0.description) }, "port": opt(port) { .int(Int64($0)) },
            "ttl": opt(ttl) { .int(Int64($0)) }, "max_length": opt(maxLength) { .int(Int64($0)) },
        ]
    }
}

extension NotifySettings {
    var canonical: JSONValue {
        func cmd(_ c: [String]?) -> JSONValue { opt(c) { .array($0.map(JSONValue.string)) } }
        return [
            "active": cmd(active), "standby": cmd(standby), "fault": cmd(fault),
            "maintenance": cmd(maintenance), "stop": cmd(stop), "timeout_ms": ms(timeout),
        ]
    }
}

extension ClusterSettings {
    /// BGP peers keep file order: it names them (`upstream1`, …) and orders BIRD's protocols.
    var canonical: JSONValue {
        [
            "vip_interface": .string(vipInterface), "route_table": .int(Int64(routeTable)),
            "route_protocol": .int(Int64(routeProtocol)),
            "bgp": [
                "local_as": .int(Int64(bgp.localAS)),
                "peers": .array(bgp.peers.map { ["address": .string($0.address.description), "as": .int(Int64($0.remoteAS)), "name": .string($0.name)] }),
                "bfd": .bool(bgp.bfd), "bfd_interval_ms": ms(bgp.bfdInterval), "bfd_multiplier": .int(Int64(bgp.bfdMultiplier)),
                "hold_time_ms": opt(bgp.holdTime, ms),
            ],
        ]
    }
}
