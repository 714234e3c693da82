/// Cross-checks between parts of a config that each parsed on their own: the pair has two
/// distinct nodes, services listen on virtual IPs, families agree, names and keys are unique,
/// DR and tunnel real servers use the service port.
///
/// Runs only on a config whose every part parsed, so list indexes equal the file's.
struct Validator {
    let diags: Diagnostics

    func fail(_ path: String, _ message: String) { diags.error(path, diags.line(of: path), message) }
    func warn(_ path: String, _ message: String) { diags.warning(path, diags.line(of: path), message) }

    /// Cross-checks a config the reader built. Skipped after an error that left something out
    /// (a value refused, a list item dropped), where a cross-check could blame what is not
    /// there; run after errors about keys alone (unknown, repeated), which the reader skips and
    /// nothing else depends on, so one pass reports a typo and a clash together.
    func validate(_ config: Config) {
        guard diags.onlyKeyErrors else { return }
        if let cluster = config.cluster {
            validateDirectors(config, cluster)
        } else {
            validateNodes(config)
        }
        validateVirtualIPs(config)
        validateServices(config)
        validateNotify(config.notify)
        validateMetrics(config)
        if config.cluster != nil { validateClusterServices(config) }
    }

    /// A metrics endpoint on the heartbeat port of an address where config replication listens
    /// (TCP, on every heartbeat address, when configs are mirrored): one of the two listeners
    /// could not bind (EADDRINUSE), and it would be the metrics server, found only in the log.
    /// `0.0.0.0` meets the IPv4 heartbeat addresses, `::` every one (Linux binds it dual-stack).
    /// A warning: such a pair runs (without /metrics), and must not be refused at its next start.
    func validateMetrics(_ config: Config) {
        guard config.cluster == nil, config.heartbeat.authentication.mirrorsConfig else { return }
        let port = config.heartbeat.port
        let replication = Set(config.nodes.flatMap(\.heartbeatAddresses))
        for (i, endpoint) in config.metrics.listen.enumerated() where endpoint.port == port {
            let meets = endpoint.address.isUnspecified
                ? endpoint.address.family == .ipv6 || replication.contains { $0.family == .ipv4 }
                : replication.contains(endpoint.address)
            guard meets else { continue }
            let path = config.metrics.listen.count == 1 ? "metrics.listen" : "metrics.listen[\(i)]"
            warn(path, "\(endpoint) is on the heartbeat port \(port), where config replication listens on TCP on the heartbeat "
                 + "addresses: metrics cannot be served there; choose another port (9539, say)")
        }
    }

    func validateNodes(_ config: Config) {
        let nodes = config.nodes
        guard nodes.count == 2 else {
            fail("nodes", nodes.count > 2
                 ? "a pair has exactly two nodes; found \(nodes.count): for more active directors add a cluster: section (see examples/cluster.yaml)"
                 : "a pair has exactly two nodes; found \(nodes.count)")
            return
        }
        if nodes[0].name == nodes[1].name {
            fail("nodes[1].name", "both nodes are called \"\(nodes[0].name)\": give each router its own name")
        }
        validateNodeAddresses(nodes)
        for (i, node) in nodes.enumerated() {
            var seen = Set<String>()
            for (j, t) in node.trackInterfaces.enumerated() where !seen.insert(t.interface).inserted {
                fail("nodes[\(i)].track_interfaces[\(j)]", "\(t.interface) is tracked twice")
            }
        }
        let a = nodes[0].heartbeatAddresses, b = nodes[1].heartbeatAddresses
        for (j, addr) in b.enumerated() where a.contains(addr) {
            fail("nodes[1].addresses[\(j)]", "\(addr) is also an address of \(nodes[0].name): the two nodes must differ")
        }
        if a.count != b.count {
            fail("nodes[1].addresses", "\(nodes[1].name) has \(b.count) heartbeat paths and \(nodes[0].name) has \(a.count): path i of one node talks to path i of the other, so give both the same number")
        } else {
            for j in a.indices where a[j].family != b[j].family {
                fail("nodes[1].addresses[\(j)]", "path \(j) is \(b[j].family) here but \(a[j].family) on \(nodes[0].name): a path joins two addresses of one family")
            }
        }
    }

    /// Each node's own addresses: present, at most 4, unicast, none twice within the node.
    func validateNodeAddresses(_ nodes: [Node]) {
        for (i, node) in nodes.enumerated() {
            let path = "nodes[\(i)].addresses"
            if node.heartbeatAddresses.isEmpty { fail(path, "give at least one heartbeat address") }
            if node.heartbeatAddresses.count > 4 { fail(path, "at most 4 heartbeat paths are supported") }
            for (j, a) in node.heartbeatAddresses.enumerated() {
                if a.isUnspecified || a.isMulticast || a.isLimitedBroadcast {
                    fail("\(path)[\(j)]", "\(a) cannot be a heartbeat address: use the node's own unicast address")
                } else if let problem = Self.unbindableHeartbeatAddress(a) {
                    fail("\(path)[\(j)]", problem)
                } else if let v4 = a.mappedIPv4 {
                    // It binds (an IPv6 socket carries IPv4 then), so a pair written so on both
                    // nodes runs: a warning, never a refusal at the next start after an upgrade.
                    warn("\(path)[\(j)]", "\(a) is an IPv4-mapped IPv6 address: write the IPv4 address \(v4) instead")
                }
                if node.heartbeatAddresses[..<j].contains(a) { fail("\(path)[\(j)]", "\(a) is listed twice") }
                if a.isLoopback {
                    warn("\(path)[\(j)]", "\(a) is a loopback address: it never leaves this router, so the other router cannot hear "
                        + "these heartbeats (both would go active); use an address on the LAN or on a dedicated heartbeat link")
                }
            }
        }
    }

    func validateVirtualIPs(_ config: Config) {
        if config.cluster == nil, config.virtualIPs.isEmpty {
            warn("virtual_ips", "no virtual IPs: the pair elects an active router but no address moves to it, so clients "
                + "keep no path through a failover; add the service addresses (and a nat_gateway address for NAT)")
        }
        var seen: [IPAddress: Int] = [:]
        for (i, vip) in config.virtualIPs.enumerated() {
            if let first = seen[vip.address] {
                fail("virtual_ips[\(i)].address", "\(vip.address) is already virtual_ips[\(first)]")
            } else {
                seen[vip.address] = i
            }
            if config.nodes.contains(where: { $0.heartbeatAddresses.contains(vip.address) }) {
                fail("virtual_ips[\(i)].address", "\(vip.address) is a node's heartbeat address: a VIP moves between nodes, so it must be an address of its own")
            }
            // A pair moves a VIP by announcing it (GARP / NA) from its interface; loopback has no
            // link layer, so no announcement leaves it and clients keep the old router's MAC.
            if config.cluster == nil, vip.interface == "lo" {
                warn("virtual_ips[\(i)].interface", "lo has no link layer: no gratuitous ARP or neighbour advertisement can announce \(vip.prefix) from it, so after a failover clients keep sending to the old router until their neighbour entries expire; put the VIP on the LAN interface (lo suits cluster mode, where routes announce it)")
            }
            if let edge = Self.subnetEdge(vip.prefix) {
                let why = edge == "subnet-router anycast"
                    ? "every forwarding router on the link answers it (Linux joins it on each interface of a forwarding host, the standby too), so clients may reach the wrong router"
                    : "hosts on it treat it as such, not as a server"
                warn("virtual_ips[\(i)].address", "\(vip.address) is the \(edge) address of \(vip.prefix)'s subnet: \(why); choose another address or prefix length")
            }
            if var problem = Self.unroutable(vip.address) ?? Self.reservedRange(vip.address) {
                // The IPv4 address a mapped one stands for may be taken already (trial 35: the hint
                // named rb's heartbeat address, an error once followed).
                if let v4 = vip.address.mappedIPv4, let owner = config.nodes.first(where: { $0.heartbeatAddresses.contains(v4) }) {
                    problem += ", but \(v4) is \(owner.name)'s heartbeat address, which a VIP cannot be: choose an address of its own"
                }
                warn("virtual_ips[\(i)].address", problem)
            }
        }
    }

    /// Why a heartbeat socket cannot use `address` although it is a unicast address, nil when it
    /// can. An IPv6 link-local address (fe80::/10, RFC 4291 §2.5.6) names no link by itself: the
    /// kernel refuses to bind one without a scope (net/ipv6/af_inet6.c `__inet6_bind`: EINVAL),
    /// so both daemons would fail at their next start (it never ran, so refusing it stops no pair).
    static func unbindableHeartbeatAddress(_ address: IPAddress) -> String? {
        guard case .v6(let high, _) = address, high >> 54 == 0x3FA else { return nil }
        return "\(address) is IPv6 link-local (fe80::/10): the kernel binds such an address only with an interface "
            + "scope, which a heartbeat address does not take, so tandemd could not start; give the heartbeat link a "
            + "unique local address on both routers (ip addr add fd00:5c::1/64 dev IFACE, and ::2 on the peer) or use IPv4"
    }

    /// Why clients cannot use `address` as a service address, nil when they can: a link-local
    /// address (169.254.0.0/16, RFC 3927; fe80::/10, RFC 4291 §2.5.6) is valid on its link only,
    /// and an IPv4-mapped IPv6 address (::ffff:0:0/96, §2.5.5.2) stands for an IPv4 peer inside
    /// IPv6 sockets, never reached on an interface. The kernel adds both without complaint.
    static func unroutable(_ address: IPAddress) -> String? {
        switch address {
        case .v4(let value) where value >> 16 == 0xA9FE:
            return "\(address) is link-local (169.254.0.0/16): valid on its link only, so routed clients never reach it; use a routable address"
        case .v6(let high, _) where high >> 54 == 0x3FA:
            return "\(address) is link-local (fe80::/10): valid on its link only, so routed clients never reach it; use a global or unique local address"
        case _ where address.mappedIPv4 != nil:
            return "\(address) is an IPv4-mapped IPv6 address: IPv4 clients never reach it on an interface; write the IPv4 address \(address.mappedIPv4!) instead"
        default:
            return nil
        }
    }

    /// Notify commands run without a shell: a `$NAME` or `${NAME}` argument reaches the command as
    /// it is written (the role, reason and node are in its environment instead).
    func validateNotify(_ notify: NotifySettings) {
        let commands: [(String, [String]?)] = [("active", notify.active), ("standby", notify.standby), ("fault", notify.fault),
                                               ("maintenance", notify.maintenance), ("stop", notify.stop)]
        for (role, command) in commands {
            guard let command, let argument = command.dropFirst().first(where: { $0.contains("$") }) else { continue }
            warn("notify.\(role)", "\(argument) is passed as it is written: notify commands run without a shell; the command finds "
                + "the role, the reason and the node in its environment (TANDEM_ROLE, TANDEM_REASON, TANDEM_NODE), or run "
                + "[/bin/sh, -c, \"…\"] for a shell")
        }
    }

    /// "network" or "broadcast" when an IPv4 prefix of 30 bits or fewer has its address at the
    /// bottom or top of the subnet (RFC 919, RFC 3021 exempts /31); "subnet-router anycast" when
    /// an IPv6 prefix of 126 bits or fewer has its address at the bottom of the subnet (RFC 4291
    /// §2.6.1: every router of the link answers it, and Linux joins it on every interface of a
    /// forwarding host, as an LVS router is; RFC 6164 exempts /127); nil otherwise.
    static func subnetEdge(_ prefix: IPPrefix) -> String? {
        switch prefix.address {
        case .v4(let value):
            guard prefix.length <= 30 else { return nil }
            let host = prefix.length == 0 ? UInt32.max : (UInt32.max >> UInt32(prefix.length))
            if value & host == 0 { return "network" }
            if value & host == host { return "broadcast" }
            return nil
        case .v6:
            guard prefix.length <= 126, prefix.address.masked(prefixLength: prefix.length) == prefix.address else { return nil }
            return "subnet-router anycast"
        }
    }

    /// Why an IPv4 VIP lies in a range hosts do not treat as unicast, nil when it does not: 0.0.0.0/8
    /// ("this network", RFC 1122 §3.2.1.3: a source address only) and 240.0.0.0/4 (reserved, RFC
    /// 1112 §4; RFC 6890). Linux adds and routes both, but most hosts, routers and firewalls drop
    /// packets to them, so clients would not reach the service.
    static func reservedRange(_ address: IPAddress) -> String? {
        guard case .v4(let value) = address, !address.isLimitedBroadcast else { return nil }
        if value >> 24 == 0 {
            return "\(address) is in 0.0.0.0/8 (\"this network\", RFC 1122): hosts use it only as a source, and most drop packets sent to it; use a routable address"
        }
        if value >> 28 == 0xF {
            return "\(address) is in 240.0.0.0/4 (reserved, RFC 1112): Linux routes it, but most hosts, routers and firewalls drop packets to it; use a routable address"
        }
        return nil
    }

    func validateServices(_ config: Config) {
        let vipAddresses = Set(config.virtualIPs.map(\.address))
        var nodeOf: [IPAddress: String] = [:]
        for node in config.nodes { for a in node.heartbeatAddresses { nodeOf[a] = node.name } }
        var names: [String: Int] = Dictionary(minimumCapacity: config.virtualServers.count)
        var keys: [IPVSServiceKey: Int] = Dictionary(minimumCapacity: config.virtualServers.count)
        var mixedFamily = false
        let natGatewayFamilies = Set(config.virtualIPs.filter(\.natGateway).map(\.family))
        for (i, vs) in config.virtualServers.enumerated() {
            // Paths are built only for a problem: most services have none.
            var path: String { "virtual_servers[\(i)]" }
            if let first = names[vs.name] {
                fail("\(path).name", "\"\(vs.name)\" is already the name of virtual_servers[\(first)]")
            } else {
                names[vs.name] = i
            }
            if let first = keys[vs.ipvsKey] {
                fail(path, "\(vs.ipvsKey) is already virtual_servers[\(first)] (\(config.virtualServers[first].name))")
            } else {
                keys[vs.ipvsKey] = i
            }
            if case .address(let address, _, _) = vs.match, !vipAddresses.contains(address) {
                fail("\(path).address", "\(address) is not one of the virtual_ips: add it there, or use a fwmark service")
            }
            if case .fwmark(let mark, let family) = vs.match, !config.virtualIPs.contains(where: { $0.family == family }) {
                warn("\(path).fwmark", "no virtual IP is \(family), so no \(family) traffic marked \(mark) comes to this pair through a VIP: add an \(family) VIP, or check the service's family")
            }
            if vs.realServers.isEmpty {
                warn("\(path).real_servers", vs.sorryServer == nil
                     ? "the service has no real servers and no sorry server: the kernel accepts its connections and has nowhere to send them"
                     : "the service has no real servers: the sorry server takes every connection")
            } else if vs.realServers.allSatisfy({ $0.weight == 0 }) {
                warn("\(path).real_servers", vs.sorryServer == nil
                     ? "every real server has weight 0, so none takes a new connection: give at least one a weight above 0"
                     : "every real server has weight 0, so the sorry server takes every new connection")
            }
            if case .address(_, _, let proto) = vs.match, proto == .udp || proto == .sctp, let check = vs.healthCheck,
               ["tcp", "http", "https"].contains(check.probe.typeName), check.probe.port == nil {
                let name = proto == .udp ? "UDP" : "SCTP"
                let fix = proto == .udp ? "check the UDP service itself with type udp (send and expect) or exec"
                    : "check the SCTP service itself with an exec check (an SCTP client such as a small script)"
                warn("\(path).health_check", "a \(check.probe.typeName) check of a\(proto == .udp ? "" : "n") \(name) service connects over TCP: it says only whether each real server also listens on TCP there; \(fix)")
            }
            if let check = vs.healthCheck, check.probe.port == nil, check.probe.typeName != "exec",
               let zero = vs.realServers.firstIndex(where: { $0.port == 0 }) {
                fail("\(path).health_check", "real_servers[\(zero)] has port 0 (it keeps the client's destination port), so a \(check.probe.typeName) check has no port to probe: give health_check.port")
            }
            // A cluster warns about NAT on its own terms (validateClusterServices).
            if case .nat = vs.forwarding, config.cluster == nil, !natGatewayFamilies.contains(vs.family) {
                warn("\(path).forwarding", "NAT real servers must route replies through the active router: add the internal gateway address to virtual_ips with nat_gateway: true")
            }
            var destinations = DestinationIndex(vs.realServers.count)
            for (j, rs) in vs.realServers.enumerated() {
                var rpath: String { "\(path).real_servers[\(j)]" }
                let key = IPVSDestinationKey(address: rs.address, port: rs.port)
                if let first = destinations.first(key) {
                    fail(rpath, "\(key) is already real_servers[\(first)]")
                } else {
                    destinations.add(key, at: j)
                }
                let forwarding = rs.forwarding ?? vs.forwarding
                mixedFamily = mixedFamily || rs.address.family != vs.family
                checkDestination(rpath, address: rs.address, port: rs.port, forwarding: forwarding, service: vs)
                checkNotThePair(rpath, address: rs.address, port: rs.port, what: "a real server", service: vs,
                                vips: vipAddresses, nodeOf: nodeOf, config: config)
            }
            if let sorry = vs.sorryServer {
                var spath: String { "\(path).sorry_server" }
                if destinations.first(IPVSDestinationKey(address: sorry.address, port: sorry.port)) != nil {
                    fail(spath, "the sorry server is also a real server of this service: use a separate server")
                }
                checkDestination(spath, address: sorry.address, port: sorry.port,
                                 forwarding: sorry.forwarding ?? vs.forwarding, service: vs)
                checkNotThePair(spath, address: sorry.address, port: sorry.port, what: "the sorry server", service: vs,
                                vips: vipAddresses, nodeOf: nodeOf, config: config)
            }
        }
        if mixedFamily, config.sync != nil {
            fail("sync", "the kernel refuses connection sync while a service has real servers of the other address family; remove those or remove sync")
        }
    }

    /// A destination must not be the pair itself. A VIP moves with the active role, so as a
    /// real or sorry server it is a local destination on the active and a remote one (the
    /// active) on the standby; the service's own VIP and port is a forwarding loop. A node's
    /// heartbeat address is that router itself: allowed, since a director may serve too, but
    /// only that node serves locally, so it is a warning.
    func checkNotThePair(_ path: @autoclosure () -> String, address: IPAddress, port: UInt16, what: String, service vs: VirtualServer,
                         vips: Set<IPAddress>, nodeOf: [IPAddress: String], config: Config) {
        if vips.contains(address) {
            if case .address(let vip, let servicePort, _) = vs.match, vip == address, servicePort == port || port == 0 {
                fail("\(path()).address", "\(what) \(address.bracketed):\(port) is this service's own VIP and port: a forwarding loop; use the server's own address")
            } else {
                fail("\(path()).address", "\(address) is one of the pair's virtual IPs: \(what) would be local on the active router and the active itself seen from the standby; use the server's own address (or 127.0.0.1 to serve on the routers themselves)")
            }
        } else if let node = nodeOf[address] {
            let other = config.nodes.first { $0.name != node }?.name ?? "the other node"
            warn("\(path()).address", "\(address) is \(node)'s heartbeat address: \(what) is \(node) itself (local on \(node), forwarded to \(node) by \(other)); use a separate server, or 127.0.0.1 if each router serves")
        }
    }

    func checkDestination(_ path: @autoclosure () -> String, address: IPAddress, port: UInt16, forwarding: ForwardingMethod,
                          service vs: VirtualServer) {
        if address.isUnspecified || address.isMulticast || address.isLimitedBroadcast {
            fail("\(path()).address", "\(address) cannot be a real server: use its unicast address")
        }
        if case .v6(let high, _) = address, high >> 54 == 0x3FA {
            warn("\(path()).address", "\(address) is IPv6 link-local (fe80::/10): IPVS keeps no interface scope with a real "
                 + "server, so the kernel cannot route to it and its health checks fail; use the server's global or unique local address")
        } else if let v4 = address.mappedIPv4 {
            warn("\(path()).address", "\(address) is an IPv4-mapped IPv6 address: IPVS would send IPv6 packets to it, which no "
                 + "IPv4 host takes, and its health checks fail; write the IPv4 address \(v4) (in an IPv4 service, or with tunnel forwarding)")
        }
        if address.family != vs.family {
            if case .tunnel = forwarding {} else {
                fail("\(path()).address", "\(address) is \(address.family) but the service is \(vs.family): only tunnel real servers may differ in family")
            }
        }
        guard case .address(_, let servicePort, _) = vs.match else { return }
        switch forwarding {
        case .directRouting, .tunnel:
            if port != servicePort {
                let how = forwarding == .directRouting ? "direct routing" : "a tunnel"
                if servicePort == 0 {
                    fail("\(path()).port", "\(port) differs from the service port 0 (every port): with \(how) packets reach the real server unchanged, "
                         + "on the port each client used, so leave the real server's port out")
                } else {
                    fail("\(path()).port", "\(port) differs from the service port \(servicePort): with \(how) packets reach the real server unchanged, so it must listen on \(servicePort)")
                }
            }
        case .nat:
            break
        }
    }
}

/// The index of each distinct real server of one service: a list searched linearly for the few
/// most services have (no hashing, no table per service), a dictionary beyond 16.
private struct DestinationIndex {
    private var list: [(key: IPVSDestinationKey, index: Int)] = []
    private var table: [IPVSDestinationKey: Int]?

    init(_ count: Int) {
        if count > 16 { table = Dictionary(minimumCapacity: count) } else { list.reserveCapacity(count) }
    }

    /// The index `key` was first added at.
    func first(_ key: IPVSDestinationKey) -> Int? {
        if let table { return table[key] }
        return list.first { $0.key == key }?.index
    }

    mutating func add(_ key: IPVSDestinationKey, at index: Int) {
        if table != nil { table![key] = index } else { list.append((key, index)) }
    }
}
