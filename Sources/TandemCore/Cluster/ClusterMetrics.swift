/// A cluster director's `/metrics` (Prometheus text format 0.0.4, all gauges), made from its
/// decisions and BIRD's sessions. Pure. The pair's families (role, peer, heartbeats) do not apply
/// to a director and are not exported by it.
public enum ClusterMetrics {
    /// The label value of a withdrawal reason: `stopping`, `maintenance`, `ipvs_not_verified`,
    /// `address_missing`, `no_live_real_server`.
    public static func label(_ reason: RouteAnnouncement.Reason) -> String {
        switch reason {
        case .stopping: return "stopping"
        case .maintenance: return "maintenance"
        case .ipvsNotVerified: return "ipvs_not_verified"
        case .addressMissing: return "address_missing"
        case .noLiveRealServer: return "no_live_real_server"
        }
    }

    /// - Parameters:
    ///   - decisions: one per VIP, in config order.
    ///   - bgp: BIRD's BGP sessions, nil when BIRD could not be asked (the family is then left out).
    public static func render(decisions: [RouteAnnouncement.Decision], maintenance: Bool, ipvsVerified: Bool,
                              routeProblems: Int, bgp: [BGPSessionStatus]?) -> String {
        var out = ""
        func family(_ name: String, _ help: String) { out += "# HELP \(name) \(help)\n# TYPE \(name) gauge\n" }
        family("tandem_cluster_vip_announced", "Whether this director announces the VIP's host route (1) or withdraws it (0).")
        for d in decisions { out += "tandem_cluster_vip_announced{vip=\"\(escape("\(d.address)"))\"} \(d.announce ? 1 : 0)\n" }
        family("tandem_cluster_vip_withdrawal_reason", "1 for each reason a VIP is withdrawn for (RouteAnnouncement's rules).")
        for d in decisions {
            for reason in d.reasons {
                out += "tandem_cluster_vip_withdrawal_reason{vip=\"\(escape("\(d.address)"))\",reason=\"\(label(reason))\"} 1\n"
            }
        }
        family("tandem_cluster_maintenance", "Whether `tandemctl maintenance on` is in force on this director.")
        out += "tandem_cluster_maintenance \(maintenance ? 1 : 0)\n"
        family("tandem_cluster_ipvs_verified", "Whether the IPVS table is installed and a dump matched it.")
        out += "tandem_cluster_ipvs_verified \(ipvsVerified ? 1 : 0)\n"
        family("tandem_cluster_route_problems", "What the last reconcile of the route table could not do.")
        out += "tandem_cluster_route_problems \(routeProblems)\n"
        if let bgp {
            family("tandem_cluster_bgp_session_up", "Whether BIRD's BGP session is up (Established), by BIRD protocol name.")
            for session in bgp { out += "tandem_cluster_bgp_session_up{session=\"\(escape(session.name))\"} \(session.state == "up" ? 1 : 0)\n" }
        }
        return out
    }

    /// A label value with `\`, `"` and newlines escaped (the text format's rules).
    static func escape(_ value: String) -> String {
        var out = ""
        for c in value {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(c)
            }
        }
        return out
    }
}
