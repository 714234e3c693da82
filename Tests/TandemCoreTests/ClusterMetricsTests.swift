import Testing
@testable import TandemCore

/// A director's `/metrics`: every VIP's announcement, each withdrawal reason, and BIRD's sessions.
@Suite struct ClusterMetricsTests {
    @Test func exposition() {
        let web = RouteAnnouncement.ServiceState(name: "web", key: .address(protocol: .tcp, address: IPAddress("10.0.5.11")!, port: 80),
                                                 liveRealServers: 0)
        let text = ClusterMetrics.render(
            decisions: [RouteAnnouncement.Decision(address: IPAddress("10.0.5.10")!, reasons: []),
                        RouteAnnouncement.Decision(address: IPAddress("10.0.5.11")!, reasons: [.maintenance, .noLiveRealServer([web])])],
            maintenance: true, ipvsVerified: false, routeProblems: 2,
            bgp: [BGPSessionStatus(name: "up\"4", state: "up", since: "05:49:01", info: "Established"),
                  BGPSessionStatus(name: "up6", state: "start", since: "05:49:01", info: "Active")])
        #expect(text == """
        # HELP tandem_cluster_vip_announced Whether this director announces the VIP's host route (1) or withdraws it (0).
        # TYPE tandem_cluster_vip_announced gauge
        tandem_cluster_vip_announced{vip="10.0.5.10"} 1
        tandem_cluster_vip_announced{vip="10.0.5.11"} 0
        # HELP tandem_cluster_vip_withdrawal_reason 1 for each reason a VIP is withdrawn for (RouteAnnouncement's rules).
        # TYPE tandem_cluster_vip_withdrawal_reason gauge
        tandem_cluster_vip_withdrawal_reason{vip="10.0.5.11",reason="maintenance"} 1
        tandem_cluster_vip_withdrawal_reason{vip="10.0.5.11",reason="no_live_real_server"} 1
        # HELP tandem_cluster_maintenance Whether `tandemctl maintenance on` is in force on this director.
        # TYPE tandem_cluster_maintenance gauge
        tandem_cluster_maintenance 1
        # HELP tandem_cluster_ipvs_verified Whether the IPVS table is installed and a dump matched it.
        # TYPE tandem_cluster_ipvs_verified gauge
        tandem_cluster_ipvs_verified 0
        # HELP tandem_cluster_route_problems What the last reconcile of the route table could not do.
        # TYPE tandem_cluster_route_problems gauge
        tandem_cluster_route_problems 2
        # HELP tandem_cluster_bgp_session_up Whether BIRD's BGP session is up (Established), by BIRD protocol name.
        # TYPE tandem_cluster_bgp_session_up gauge
        tandem_cluster_bgp_session_up{session="up\\"4"} 1
        tandem_cluster_bgp_session_up{session="up6"} 0

        """)
        // Without BIRD the session family is left out.
        #expect(!ClusterMetrics.render(decisions: [], maintenance: false, ipvsVerified: true, routeProblems: 0, bgp: nil)
            .contains("bgp"))
    }
}
