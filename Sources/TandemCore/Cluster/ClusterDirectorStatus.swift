/// A cluster director's part of `tandemctl status` (`StatusReport.cluster`; nil for a pair).
public struct ClusterDirectorStatus: Codable, Sendable, Hashable {
    /// One VIP: whether this director announces it (its host route is in the route table BIRD
    /// learns) and why, in `RouteAnnouncement.Decision`'s words.
    public struct Announcement: Codable, Sendable, Hashable {
        public var address: String
        public var announced: Bool
        /// Every reason to withdraw, in `RouteAnnouncement`'s order; empty when announced.
        public var reasons: [String]
        /// `announced` or `withdrawn: maintenance; …`.
        public var decision: String

        public init(_ decision: RouteAnnouncement.Decision) {
            address = decision.address.description
            announced = decision.announce
            reasons = decision.reasons.map(\.description)
            self.decision = decision.description
        }
    }

    /// `idle`, `running`, `withdrawing` (stopping: routes withdrawn, VIPs still held) or `finished`.
    public var phase: String
    public var vipInterface: String
    public var routeTable: UInt32
    public var routeProtocol: UInt8
    /// Nil when the IPVS table is installed and verified; else why not.
    public var ipvsProblem: String?
    /// What the last reconcile of the route table could not do; nil when it did everything.
    public var routeProblems: [String]?
    /// One per VIP, in config order.
    public var announcements: [Announcement]
    /// This director's BGP sessions as its BIRD lists them (`birdc show protocols`); nil when
    /// BIRD could not be asked (then `bgpProblem` says why).
    public var bgp: [BGPSessionStatus]?
    public var bgpProblem: String?

    public init(phase: String, vipInterface: String, routeTable: UInt32, routeProtocol: UInt8, ipvsProblem: String?,
                routeProblems: [String]?, announcements: [Announcement], bgp: [BGPSessionStatus]? = nil,
                bgpProblem: String? = nil) {
        self.bgp = bgp
        self.bgpProblem = bgpProblem
        self.phase = phase
        self.vipInterface = vipInterface
        self.routeTable = routeTable
        self.routeProtocol = routeProtocol
        self.ipvsProblem = ipvsProblem
        self.routeProblems = routeProblems
        self.announcements = announcements
    }

    /// The director's lines of `tandemctl status`: what it announces and why, then problems.
    public var lines: [String] {
        var out = ["route table \(routeTable) proto \(routeProtocol), VIPs on \(vipInterface); IPVS table "
                   + (ipvsProblem.map { "NOT verified: \($0)" } ?? "installed and verified")]
        for problem in routeProblems ?? [] { out.append("  ROUTE PROBLEM: \(problem)") }
        if announcements.isEmpty { out.append("VIPs: none configured") }
        for a in announcements { out.append("  VIP \(a.address): \(a.decision)") }
        if let bgpProblem { out.append("BGP sessions: unknown: \(bgpProblem)") }
        if let bgp {
            out.append(bgp.isEmpty ? "BGP sessions: none in BIRD's config" : "BGP sessions (BIRD):")
            for session in bgp { out.append("  \(session.line)") }
        }
        return out
    }
}
