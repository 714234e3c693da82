import Foundation
import Testing
@testable import TandemCore

/// A cluster director's part of `tandemctl status`: per VIP, announced or not and why, in text and JSON.
@Suite struct ClusterDirectorStatusTests {
    static func report() -> StatusReport {
        let web = RouteAnnouncement.ServiceState(name: "web", key: .address(protocol: .tcp, address: IPAddress("10.0.5.11")!, port: 80),
                                                 liveRealServers: 0)
        let decisions = [
            RouteAnnouncement.Decision(address: IPAddress("10.0.5.10")!, reasons: []),
            RouteAnnouncement.Decision(address: IPAddress("10.0.5.11")!, reasons: [.maintenance, .noLiveRealServer([web])]),
        ]
        var report = StatusReport(
            node: "d1", role: "director", roleReason: "cluster director (running): announcing 1 of 2 VIP(s)",
            roleSince: nil, roleAgeMs: 65_000, priority: 0, effectivePriority: 0, maintenance: true,
            peer: .init(name: "none", role: "none", alive: false, lastHeardMs: nil, priority: nil, config: nil, paths: []),
            heartbeats: .init(), vips: [], services: [
                .init(name: "web", address: "tcp 10.0.5.11:80", scheduler: "mh", inKernel: true, realServers: [
                    .init(server: "10.0.0.21:80", health: "down", healthReason: "connection refused", healthAgeMs: 100,
                          drained: false, configWeight: 1, kernelWeight: 1, activeConnections: 3, inactiveConnections: 0),
                ]),
            ],
            config: .init(serial: 4, digest: String(repeating: "ab", count: 32)), configWarning: nil, roleChanges: [])
        report.mode = "cluster"
        report.cluster = ClusterDirectorStatus(phase: "running", vipInterface: "lo", routeTable: 100, routeProtocol: 250,
                                               ipvsProblem: nil, routeProblems: ["+ blackhole 10.0.5.10/32 proto 250: EPERM"],
                                               announcements: decisions.map(ClusterDirectorStatus.Announcement.init),
                                               bgp: [BGPSessionStatus(name: "upstream", state: "up", since: "05:49:01.156", info: "Established")])
        return report
    }

    @Test func text() {
        #expect(Self.report().text == """
        node d1: CLUSTER DIRECTOR for 1m 5s — cluster director (running): announcing 1 of 2 VIP(s)
          maintenance ON (every route withdrawn; `tandemctl maintenance off` to announce again)
        config: serial 4, digest abababababababab
        route table 100 proto 250, VIPs on lo; IPVS table installed and verified
          ROUTE PROBLEM: + blackhole 10.0.5.10/32 proto 250: EPERM
          VIP 10.0.5.10: announced
          VIP 10.0.5.11: withdrawn: maintenance; no live real server for tcp 10.0.5.11:80 (web)
        BGP sessions (BIRD):
          upstream: up since 05:49:01.156 (Established)
        services:
          web tcp 10.0.5.11:80 mh: 10.0.0.21:80 down, active 3

        """)
    }

    @Test func jsonSaysTheModeAndEachReason() throws {
        let data = try ControlProtocol.encoder().encode(Self.report())
        let json = String(decoding: data, as: UTF8.self)
        #expect(json.contains("\"mode\":\"cluster\""))
        #expect(json.contains("{\"address\":\"10.0.5.11\",\"announced\":false,\"decision\":\"withdrawn: maintenance; no live real server for tcp 10.0.5.11:80 (web)\",\"reasons\":[\"maintenance\",\"no live real server for tcp 10.0.5.11:80 (web)\"]}"))
        #expect(json.contains("\"route_table\":100"))
        #expect(json.contains("\"bgp\":[{\"info\":\"Established\",\"name\":\"upstream\",\"since\":\"05:49:01.156\",\"state\":\"up\"}]"))
        #expect(try ControlProtocol.decoder().decode(StatusReport.self, from: data) == Self.report())
        // A pair's report is unchanged: no mode, no cluster.
        var pair = Self.report()
        pair.mode = nil
        pair.cluster = nil
        let pairJSON = String(decoding: try ControlProtocol.encoder().encode(pair), as: UTF8.self)
        #expect(!pairJSON.contains("\"mode\"") && !pairJSON.contains("\"cluster\""))
    }
}
