/// Cluster mode (`cluster:` in the config): every node listed under `nodes:` is an active
/// director. Each holds the VIPs on a non-ARPing interface, installs the same IPVS table and,
/// while it can serve a VIP, puts the VIP's host route (/32, /128) into a kernel routing table
/// that BIRD's kernel protocol learns and announces to the upstream routers over BGP, which
/// spread flows over the directors with ECMP. Tandem never speaks BGP itself.
///
/// Without `cluster:` a config is a pair (exactly two nodes, one active); with it, a cluster of
/// 2…16 directors with no election. See ../shared/reference/ecosystem.md §4 and
/// `examples/cluster.yaml`.
public struct ClusterSettings: Sendable, Hashable {
    /// The fewest and most directors a cluster may list: 16 is BIRD's default `merge paths`
    /// limit on the upstream router (doc "krt-merge-paths"), so more would not all receive flows.
    public static let directorCount = 2...16

    /// The interface that holds the VIPs on every director. It must not answer ARP/ND for them
    /// (`lo`, or a `dummy` interface): every director holds the same address.
    public var vipInterface: String
    /// The kernel routing table the VIP host routes go in, which BIRD's kernel protocol learns
    /// (`kernel table N; learn;`). No `ip rule` selects it, so it does not affect forwarding.
    public var routeTable: UInt32
    /// The rtnetlink protocol number (`rtm_protocol`, `ip route ... proto N`) that marks the routes
    /// Tandem installs; routes in the table with another protocol are not Tandem's and are left alone.
    public var routeProtocol: UInt8
    /// The BGP side, used only to generate BIRD's config (`tandemctl bird-config`).
    public var bgp: BGPSettings

    public static let defaultVIPInterface = "lo"
    public static let defaultRouteTable: UInt32 = 100
    public static let defaultRouteProtocol: UInt8 = 250

    /// Tables the kernel reserves (include/uapi/linux/rtnetlink.h `enum rt_class_t`): 0 unspec,
    /// 252 compat, 253 default, 254 main, 255 local.
    public static let reservedRouteTables: Set<UInt32> = [0, 252, 253, 254, 255]

    /// Protocol numbers a cluster may not use: 0…4 are interpreted by the kernel or written by
    /// `ip route` itself (unspec, redirect, kernel, boot, static; include/uapi/linux/rtnetlink.h:
    /// "Values of protocol >= RTPROT_STATIC are not interpreted by kernel", and an operator's
    /// `ip route add` without `proto` writes boot), and BIRD skips 0, 2 and its own 12 when
    /// learning (sysdep/linux/netlink.c `nl_parse_route`).
    public static let forbiddenRouteProtocols: Set<UInt8> = [0, 1, 2, 3, 4, 12]

    /// Numbers include/uapi/linux/rtnetlink.h assigns to other routing daemons (gated 8, ra 9,
    /// mrt 10, zebra 11, dnrouted 13, xorp 14, ntk 15, dhcp 16, mrouted 17, keepalived 18,
    /// babel 42, openr 99, bgp 186, isis 187, ospf 188, rip 189, eigrp 192): usable, but those
    /// daemons may write routes with them.
    public static let otherDaemonsRouteProtocols: [UInt8: String] = [
        8: "gated", 9: "ra", 10: "mrt", 11: "zebra", 13: "dnrouted", 14: "xorp", 15: "ntk", 16: "dhcp",
        17: "mrouted", 18: "keepalived", 42: "babel", 99: "openr", 186: "bgp", 187: "isis", 188: "ospf",
        189: "rip", 192: "eigrp",
    ]

    public init(vipInterface: String = ClusterSettings.defaultVIPInterface,
                routeTable: UInt32 = ClusterSettings.defaultRouteTable,
                routeProtocol: UInt8 = ClusterSettings.defaultRouteProtocol, bgp: BGPSettings) {
        self.vipInterface = vipInterface
        self.routeTable = routeTable
        self.routeProtocol = routeProtocol
        self.bgp = bgp
    }
}

/// The BGP sessions BIRD runs on every director (`cluster.bgp`). Tandem only writes them into
/// the generated BIRD config; it never opens a BGP session.
public struct BGPSettings: Sendable, Hashable {
    /// The AS every director announces from. All directors share it so that the upstream router
    /// sees equal AS paths and merges them into one multipath route (BIRD proto/bgp/attrs.c
    /// `bgp_rte_mergable`).
    public var localAS: UInt32
    /// The upstream routers, in file order.
    public var peers: [BGPPeer]
    /// BFD on every session (`bfd on`): a dead director is detected in `bfdDetectionTime`
    /// instead of the BGP hold time.
    public var bfd: Bool
    /// The BFD transmit and receive interval asked for (BIRD's `min tx interval`/`min rx interval`).
    public var bfdInterval: TimeSpan
    /// BFD detect multiplier: a session is down after this many intervals without a packet.
    public var bfdMultiplier: Int
    /// The BGP hold time offered (`hold time`); nil keeps BIRD's default (240 s).
    public var holdTime: TimeSpan?

    /// BFD defaults: 100 ms and 5, BIRD's own `min tx interval` and `multiplier` defaults (doc "BFD").
    public static let defaultBFDInterval = TimeSpan.milliseconds(100)
    public static let defaultBFDMultiplier = 5
    /// AS_TRANS (RFC 6793 §9): a placeholder for 4-byte AS numbers, never a real AS.
    public static let transitionAS: UInt32 = 23456

    /// How long a dead director keeps receiving flows at most with BFD: interval × multiplier
    /// (RFC 5880 §6.8.4, the detection time when both sides ask for the same interval).
    public var bfdDetectionTime: TimeSpan {
        TimeSpan(milliseconds: bfdInterval.milliseconds * UInt64(bfdMultiplier))
    }

    public init(localAS: UInt32, peers: [BGPPeer], bfd: Bool = true, bfdInterval: TimeSpan = BGPSettings.defaultBFDInterval,
                bfdMultiplier: Int = BGPSettings.defaultBFDMultiplier, holdTime: TimeSpan? = nil) {
        self.localAS = localAS
        self.peers = peers
        self.bfd = bfd
        self.bfdInterval = bfdInterval
        self.bfdMultiplier = bfdMultiplier
        self.holdTime = holdTime
    }
}

/// One upstream router a director peers with.
public struct BGPPeer: Sendable, Hashable {
    public var address: IPAddress
    /// The router's AS; equal to the local AS makes the session iBGP.
    public var remoteAS: UInt32
    /// BIRD protocol name; defaults to `upstream1`, `upstream2`… in file order.
    public var name: String

    public init(address: IPAddress, remoteAS: UInt32, name: String) {
        self.address = address
        self.remoteAS = remoteAS
        self.name = name
    }
}

extension Config {
    /// Whether this config describes a cluster of active directors rather than a pair.
    public var isCluster: Bool { cluster != nil }
}
