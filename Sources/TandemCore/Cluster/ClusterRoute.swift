/// One route of the cluster's kernel routing table, as rtnetlink lists it (`ip route show table N`).
///
/// Identity for the planner is (destination, kind, protocol, priority); the table is implicit
/// (the one `AnnouncedRoutes` works on).
public struct ClusterRoute: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The route type (`rtm_type`, include/uapi/linux/rtnetlink.h) and, for unicast, its device.
    public enum Kind: Sendable, Hashable {
        /// RTN_BLACKHOLE: what Tandem installs. It needs no interface, is the same for IPv4 and
        /// IPv6, and BIRD learns it (sysdep/linux/netlink.c `nl_parse_route`: RTD_BLACKHOLE).
        /// Since no `ip rule` selects the table, it drops nothing.
        case blackhole
        /// RTN_UNICAST through the interface with this index (0 when the route names none).
        case unicast(interfaceIndex: Int32)
        /// Any other type (unreachable 7, prohibit 8, local 2, …), by number.
        case other(UInt8)

        /// RTN_BLACKHOLE.
        public static let blackholeType: UInt8 = 6
        /// RTN_UNICAST.
        public static let unicastType: UInt8 = 1

        public var type: UInt8 {
            switch self {
            case .blackhole: return Kind.blackholeType
            case .unicast: return Kind.unicastType
            case .other(let t): return t
            }
        }
    }

    public var destination: IPPrefix
    public var kind: Kind
    /// `rtm_protocol`: who installed the route (Tandem's is `cluster.route_protocol`).
    public var protocolNumber: UInt8
    /// RTA_PRIORITY, the route's metric (`ip route ... metric N`).
    public var priority: UInt32

    /// The metric Tandem installs: 0 for IPv4; for IPv6 1024, what the kernel stores for 0 anyway
    /// (IP6_RT_PRIO_USER, net/ipv6/route.c `ip6_route_info_create`), so a dump matches the request.
    public static func announcementPriority(_ family: AddressFamily) -> UInt32 { family == .ipv6 ? 1024 : 0 }

    public init(destination: IPPrefix, kind: Kind, protocolNumber: UInt8, priority: UInt32 = 0) {
        self.destination = destination
        self.kind = kind
        self.protocolNumber = protocolNumber
        self.priority = priority
    }

    /// The route Tandem installs for `vip`: a blackhole host route (/32, /128) with `protocol`
    /// and `announcementPriority`.
    public static func announcement(of vip: IPAddress, protocol: UInt8) -> ClusterRoute {
        ClusterRoute(destination: IPPrefix(address: vip, length: vip.family.bitWidth), kind: .blackhole,
                     protocolNumber: `protocol`, priority: announcementPriority(vip.family))
    }

    /// `blackhole 10.0.0.5/32 proto 250`, `unicast 10.0.0.0/24 dev #1 proto 4 metric 10`.
    public var description: String {
        var text: String
        switch kind {
        case .blackhole: text = "blackhole \(destination)"
        case .unicast(let index): text = "unicast \(destination)" + (index == 0 ? "" : " dev #\(index)")
        case .other(let type): text = "type \(type) \(destination)"
        }
        text += " proto \(protocolNumber)"
        if priority != 0 { text += " metric \(priority)" }
        return text
    }

    public static func < (lhs: ClusterRoute, rhs: ClusterRoute) -> Bool {
        (lhs.destination, lhs.protocolNumber, lhs.priority, lhs.kind.type) < (rhs.destination, rhs.protocolNumber, rhs.priority, rhs.kind.type)
    }
}

/// Takes the cluster's routing table from what the kernel holds to what the decisions want.
///
/// Rules:
/// - Tandem's routes are the ones with its protocol number; only those are ever removed. A route
///   of Tandem's that is not wanted (a withdrawn VIP, a VIP no longer configured, a route of the
///   wrong shape left by an older version or by hand) is removed.
/// - A wanted VIP without Tandem's exact route gets it: `ClusterRoute.announcement`.
/// - Routes of other protocols are foreign: never touched, always reported. A foreign route on a
///   VIP's destination is a conflict: the kernel refuses a second route with the same destination
///   and metric (EEXIST), so Tandem does not try to add its own, and the generated BIRD config
///   imports only Tandem's protocol, so the VIP is not announced from this director until the
///   operator removes the foreign route.
/// - Removals come first (a withdrawal reaches BGP before anything new), each group sorted.
public enum RoutePlanner {
    /// One change to make.
    public enum Action: Sendable, Hashable, CustomStringConvertible {
        case add(ClusterRoute)
        case remove(ClusterRoute)

        public var description: String {
            switch self {
            case .add(let r): return "+ \(r)"
            case .remove(let r): return "- \(r)"
            }
        }
    }

    public struct Plan: Sendable, Hashable {
        /// Removals, then additions.
        public var actions: [Action]
        /// Routes of other protocols in the table, sorted: left alone.
        public var foreign: [ClusterRoute]
        /// Foreign routes whose destination is a VIP this director announces or withdraws: BIRD
        /// announces them regardless. Sorted.
        public var conflicts: [ClusterRoute]
    }

    /// The plan from `observed` (every route of the table) to announcing exactly `announce`.
    ///
    /// - Parameters:
    ///   - announce: the VIPs to announce (the decisions' `announce`).
    ///   - vips: every VIP of the config, announced or not, to tell conflicts from other foreign routes.
    ///   - observed: the table's routes, as `AnnouncedRoutes.routes()` lists them.
    ///   - protocol: `cluster.route_protocol`.
    public static func plan(announce: Set<IPAddress>, vips: Set<IPAddress>, observed: [ClusterRoute], protocol proto: UInt8) -> Plan {
        let own = observed.filter { $0.protocolNumber == proto }
        let foreign = observed.filter { $0.protocolNumber != proto }.sorted()
        let vipPrefixes = Set(vips.union(announce).map { IPPrefix(address: $0, length: $0.family.bitWidth) })
        let conflicts = foreign.filter { vipPrefixes.contains($0.destination) }
        let blocked = Set(conflicts.map(\.destination))
        let wanted = Set(announce.map { ClusterRoute.announcement(of: $0, protocol: proto) })
        var seen = Set<ClusterRoute>()
        var removals: [ClusterRoute] = []
        for route in own {
            // A duplicate row (the same route listed twice) is removed once.
            guard seen.insert(route).inserted else { continue }
            if !wanted.contains(route) { removals.append(route) }
        }
        let additions = wanted.filter { !seen.contains($0) && !blocked.contains($0.destination) }
        return Plan(actions: removals.sorted().map(Action.remove) + additions.sorted().map(Action.add),
                    foreign: foreign, conflicts: conflicts)
    }
}
