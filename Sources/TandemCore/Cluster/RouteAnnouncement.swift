/// Whether a director of a cluster announces each VIP, and why: a pure decision from facts the
/// daemon gathers, with no I/O (the planner turns it into route changes, `RoutePlanner`).
///
/// A director announces a VIP (puts its host route into the cluster's table, which BIRD learns
/// and exports over BGP) only while it can serve it. Every condition below must hold; each one
/// that fails is a reason, and all reasons are reported, in this order:
///
/// 1. tandemd is running, not stopping: a stop or restart withdraws before anything else is torn
///    down, so the upstream router moves the flows while this director still forwards them;
/// 2. the director is not in maintenance (`tandemctl maintenance on` withdraws first, then the
///    existing connections drain);
/// 3. the IPVS table is installed and verified: the last reconcile applied the desired table and
///    a dump matched it. Until then the director would accept flows it cannot forward;
/// 4. the VIP's address is on the cluster's `vip_interface`: without it the kernel does not take
///    the packets as local and IPVS never sees them;
/// 5. every virtual service of the VIP has at least one live real server: up by its health check
///    and with a weight above 0 after drains and agent feedback.
///
/// Choices, and why:
/// - **A sorry server does not count as live.** In a cluster the other directors are the
///   fallback: a director that sees no real server (its inside link failed, say) should hand its
///   flows to directors that do, not send one flow in N to the sorry page. The cost: when every
///   director sees a service down, every one withdraws and the VIP stops being routed at all.
/// - **Every service of the VIP must be live**, as issue 19 states: a director that announces a
///   VIP takes flows for all its ports. The cost: a service down on every director takes the
///   VIP's other services down with it; put services that fail independently on separate VIPs.
/// - **fwmark services gate no VIP**: the firewall rule that marks packets decides which
///   addresses they cover, and the config does not say (`check-config` warns).
public enum RouteAnnouncement {
    /// Facts about the whole director.
    public struct DirectorState: Sendable, Hashable {
        /// False once tandemd has begun to stop (SIGTERM, restart): everything is withdrawn first.
        public var running: Bool
        /// `tandemctl maintenance on`.
        public var maintenance: Bool
        /// Nil while the IPVS table is installed and a dump matched it; else why not, for the
        /// reason text ("not installed yet", "3 entries differ from the config").
        public var ipvsProblem: String?

        public init(running: Bool, maintenance: Bool, ipvsProblem: String?) {
            self.running = running
            self.maintenance = maintenance
            self.ipvsProblem = ipvsProblem
        }
    }

    /// Facts about one virtual service of a VIP.
    public struct ServiceState: Sendable, Hashable {
        /// The virtual server's name in the config.
        public var name: String
        public var key: IPVSServiceKey
        /// Real servers that are up by their health check and have a weight above 0 now.
        public var liveRealServers: Int

        public init(name: String, key: IPVSServiceKey, liveRealServers: Int) {
            self.name = name
            self.key = key
            self.liveRealServers = liveRealServers
        }
    }

    /// Facts about one VIP.
    public struct VIPState: Sendable, Hashable {
        public var address: IPAddress
        /// The address is on the cluster's `vip_interface` (an address dump or the link monitor).
        public var addressPresent: Bool
        /// The address-matched virtual services whose address is this VIP, in config order.
        public var services: [ServiceState]

        public init(address: IPAddress, addressPresent: Bool, services: [ServiceState]) {
            self.address = address
            self.addressPresent = addressPresent
            self.services = services
        }
    }

    /// Why a VIP is withdrawn.
    public enum Reason: Sendable, Hashable, CustomStringConvertible {
        case stopping
        case maintenance
        case ipvsNotVerified(String)
        case addressMissing(interface: String)
        /// The services (name and key) that have no live real server.
        case noLiveRealServer([ServiceState])

        public var description: String {
            switch self {
            case .stopping: return "tandemd is stopping"
            case .maintenance: return "maintenance"
            case .ipvsNotVerified(let why): return "IPVS table not verified (\(why))"
            case .addressMissing(let interface): return "the address is not on \(interface)"
            case .noLiveRealServer(let services):
                return "no live real server for " + services.map { "\($0.key) (\($0.name))" }.joined(separator: ", ")
            }
        }
    }

    /// The decision for one VIP.
    public struct Decision: Sendable, Hashable, CustomStringConvertible {
        public var address: IPAddress
        /// Empty: announce. Otherwise every reason to withdraw, in the order of the type's rules.
        public var reasons: [Reason]

        public init(address: IPAddress, reasons: [Reason]) {
            self.address = address
            self.reasons = reasons
        }

        public var announce: Bool { reasons.isEmpty }

        /// `announced`, or `withdrawn: maintenance; no live real server for tcp 10.0.0.5:80 (www)`.
        public var description: String {
            announce ? "announced" : "withdrawn: " + reasons.map(\.description).joined(separator: "; ")
        }
    }

    /// The decision for every VIP, in the order given.
    public static func decide(director: DirectorState, vips: [VIPState], vipInterface: String) -> [Decision] {
        vips.map { decide(director: director, vip: $0, vipInterface: vipInterface) }
    }

    /// The decision for one VIP (see the type's rules).
    public static func decide(director: DirectorState, vip: VIPState, vipInterface: String) -> Decision {
        var reasons: [Reason] = []
        if !director.running { reasons.append(.stopping) }
        if director.maintenance { reasons.append(.maintenance) }
        if let problem = director.ipvsProblem { reasons.append(.ipvsNotVerified(problem)) }
        if !vip.addressPresent { reasons.append(.addressMissing(interface: vipInterface)) }
        let dead = vip.services.filter { $0.liveRealServers <= 0 }
        if !dead.isEmpty { reasons.append(.noLiveRealServer(dead)) }
        return Decision(address: vip.address, reasons: reasons)
    }
}

extension Config {
    /// The VIP facts `RouteAnnouncement.decide` needs, from this config and the daemon's state.
    ///
    /// - Parameters:
    ///   - presentAddresses: the addresses on the cluster's `vip_interface` now.
    ///   - down: real servers down by their health check (`HealthTracker`).
    ///   - weights: weight overrides in force (drain, agent feedback, warm-up), as for
    ///     `desiredIPVSTable(down:weights:)`.
    /// - Returns: one state per VIP in config order, with its address-matched services; a real
    ///   server is live when it is not down and its weight after `weights` is above 0.
    public func clusterVIPStates(presentAddresses: Set<IPAddress>, down: Set<RealServerID>,
                                 weights: [RealServerID: Int]) -> [RouteAnnouncement.VIPState] {
        virtualIPs.map { vip in
            let services = virtualServers.compactMap { vs -> RouteAnnouncement.ServiceState? in
                guard case .address(let address, _, _) = vs.match, address == vip.address else { return nil }
                let live = vs.realServers.filter { rs in
                    let id = RealServerID(service: vs.name, address: rs.address, port: rs.port)
                    return !down.contains(id) && (weights[id] ?? rs.weight) > 0
                }.count
                return RouteAnnouncement.ServiceState(name: vs.name, key: vs.ipvsKey, liveRealServers: live)
            }
            return RouteAnnouncement.VIPState(address: vip.address, addressPresent: presentAddresses.contains(vip.address),
                                              services: services)
        }
    }
}
