extension Config {
    /// The IPVS table this config asks for, given which real servers are down.
    ///
    /// - A down real server is left out (`failure_action: remove`) or kept at weight 0
    ///   (`quiesce`), per its service's health check.
    /// - The sorry server is installed only while the live real servers can take no new
    ///   connection: their summed weight, after `weights`, is 0. So a service whose servers are
    ///   all down, all drained, all at `weight: 0`, all reported 0% by their agents, or that has
    ///   none, goes to its sorry server. This is keepalived's quorum rule with its default quorum
    ///   of 1 (keepalived check/ipwrapper.c: the sorry server comes in when the summed weight of
    ///   the live real servers falls below the quorum).
    /// - `weights` overrides a real server's configured weight (drain, agent feedback, warm-up).
    public func desiredIPVSTable(down: Set<RealServerID> = [], weights: [RealServerID: Int] = [:]) -> IPVSTable {
        IPVSTable(desiredIPVSEntries(down: down, weights: weights))
    }

    /// The entries of `desiredIPVSTable(down:weights:)` in config order: services as the file
    /// lists them, each with its real servers as listed and the sorry server last. This is the
    /// order Tandem installs them in, which `IPVSAdmOrder` needs to reproduce ipvsadm's listing.
    public func desiredIPVSEntries(down: Set<RealServerID> = [], weights: [RealServerID: Int] = [:]) -> [IPVSServiceEntry] {
        virtualServers.map { vs in
            var destinations: [IPVSDestination] = []
            var liveWeight = 0
            for rs in vs.realServers {
                let id = RealServerID(service: vs.name, address: rs.address, port: rs.port)
                // Most tables (show-config, a first apply) have no overrides: skip hashing the IDs.
                var weight = weights.isEmpty ? rs.weight : weights[id] ?? rs.weight
                if !down.isEmpty && down.contains(id) {
                    if vs.healthCheck?.failureAction == .remove { continue }
                    weight = 0
                } else {
                    liveWeight += max(0, weight)
                }
                destinations.append(vs.destination(address: rs.address, port: rs.port, weight: weight,
                                                   upper: rs.upperThreshold, lower: rs.lowerThreshold,
                                                   forwarding: rs.forwarding))
            }
            if liveWeight == 0, let sorry = vs.sorryServer {
                destinations.append(vs.destination(address: sorry.address, port: sorry.port, weight: sorry.weight,
                                                   upper: 0, lower: 0, forwarding: sorry.forwarding))
            }
            return IPVSServiceEntry(service: vs.ipvsService, destinations: destinations)
        }
    }

    /// Every IPVS entry this config names, sorry servers included: what Tandem owns in the kernel.
    public var namedIPVSEntries: IPVSTable {
        IPVSTable(virtualServers.map { vs in
            var destinations = vs.realServers.map {
                vs.destination(address: $0.address, port: $0.port, weight: $0.weight, upper: $0.upperThreshold,
                               lower: $0.lowerThreshold, forwarding: $0.forwarding)
            }
            if let sorry = vs.sorryServer {
                destinations.append(vs.destination(address: sorry.address, port: sorry.port, weight: sorry.weight,
                                                   upper: 0, lower: 0, forwarding: sorry.forwarding))
            }
            return IPVSServiceEntry(service: vs.ipvsService, destinations: destinations)
        })
    }
}

/// Names one real server of one virtual server, for health and weight overrides.
public struct RealServerID: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The virtual server's name.
    public var service: String
    public var address: IPAddress
    public var port: UInt16

    public init(service: String, address: IPAddress, port: UInt16) {
        self.service = service
        self.address = address
        self.port = port
    }

    public var description: String { "\(address.bracketed):\(port) of \(service)" }

    public static func < (lhs: Self, rhs: Self) -> Bool {
        (lhs.service, lhs.address, lhs.port) < (rhs.service, rhs.address, rhs.port)
    }
}

extension VirtualServer {
    /// The kernel's view of this service's configuration.
    public var ipvsService: IPVSService {
        var flags: IPVSServiceFlags = []
        if persistence != nil { flags.insert(.persistent) }
        if onePacket { flags.insert(.onePacket) }
        for flag in scheduler.flags { flags.insert(flag.bit) }
        return IPVSService(
            key: ipvsKey,
            scheduler: scheduler.name,
            flags: flags,
            timeout: persistence.map { UInt32($0.timeout.milliseconds / 1000) } ?? 0,
            netmask: persistence.map { IPVSService.netmask(prefixLength: $0.prefixLength, family: family) },
            persistenceEngine: persistence?.engine
        )
    }

    func destination(address: IPAddress, port: UInt16, weight: Int, upper: UInt32, lower: UInt32,
                     forwarding override: ForwardingMethod?) -> IPVSDestination {
        let method = override ?? forwarding
        var d = IPVSDestination(address: address, port: port, forwarding: method.ipvs, weight: Int32(weight),
                                upperThreshold: upper, lowerThreshold: lower)
        if case .tunnel(let t) = method {
            d.tunnelType = t.type
            d.tunnelPort = t.type == .gue ? (t.port ?? 0) : 0
            d.tunnelChecksum = t.type == .ipip ? .none : t.checksum
        }
        return d
    }
}
