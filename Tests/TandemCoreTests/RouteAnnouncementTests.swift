import Testing
import TandemCore
import TandemTesting

private let vip = IPAddress("10.0.5.10")!
private let web = RouteAnnouncement.ServiceState(name: "web", key: .address(protocol: .tcp, address: vip, port: 80), liveRealServers: 2)
private let tls = RouteAnnouncement.ServiceState(name: "tls", key: .address(protocol: .tcp, address: vip, port: 443), liveRealServers: 1)

private func dead(_ s: RouteAnnouncement.ServiceState) -> RouteAnnouncement.ServiceState {
    var s = s
    s.liveRealServers = 0
    return s
}

/// The announce/withdraw decision, as a table: director and VIP facts → the text an operator reads.
@Suite struct RouteAnnouncementTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var running = true
        var maintenance = false
        var ipvsProblem: String?
        var present = true
        var services: [RouteAnnouncement.ServiceState] = [web, tls]
        let expected: String
        var testDescription: String { expected }
    }

    static let cases: [Case] = [
        Case(expected: "announced"),
        Case(services: [], expected: "announced"),
        Case(running: false, expected: "withdrawn: tandemd is stopping"),
        Case(maintenance: true, expected: "withdrawn: maintenance"),
        Case(ipvsProblem: "not installed yet", expected: "withdrawn: IPVS table not verified (not installed yet)"),
        Case(present: false, expected: "withdrawn: the address is not on lo"),
        Case(services: [web, dead(tls)], expected: "withdrawn: no live real server for tcp 10.0.5.10:443 (tls)"),
        Case(services: [dead(web), dead(tls)],
             expected: "withdrawn: no live real server for tcp 10.0.5.10:80 (web), tcp 10.0.5.10:443 (tls)"),
        // Every reason, in the documented order.
        Case(running: false, maintenance: true, ipvsProblem: "3 entries differ", present: false, services: [dead(web)],
             expected: "withdrawn: tandemd is stopping; maintenance; IPVS table not verified (3 entries differ); the address is not on lo; no live real server for tcp 10.0.5.10:80 (web)"),
    ]

    @Test(arguments: cases)
    func decision(_ c: Case) {
        let director = RouteAnnouncement.DirectorState(running: c.running, maintenance: c.maintenance, ipvsProblem: c.ipvsProblem)
        let state = RouteAnnouncement.VIPState(address: vip, addressPresent: c.present, services: c.services)
        let decision = RouteAnnouncement.decide(director: director, vip: state, vipInterface: "lo")
        #expect(decision.description == c.expected)
        #expect(decision.announce == (c.expected == "announced"))
    }

    /// The facts from a config: a down server, a drained one (weight 0), a weight-0 server, a
    /// sorry server (not live), a fwmark service (gates no VIP), a VIP without services.
    @Test func vipStatesFromAConfig() throws {
        let config = try ConfigParser.parse(yaml: minimalClusterConfig
            .replacingOccurrences(of: "virtual_ips:\n  - address: 10.0.5.10/32", with: "virtual_ips:\n  - address: 10.0.5.10/32\n  - address: 10.0.5.11/32")
            .replacingOccurrences(of: "      - address: 10.0.0.21", with: """
                      - address: 10.0.0.21
                      - address: 10.0.0.22
                      - address: 10.0.0.23
                        weight: 0
                    sorry_server: {address: 10.0.0.99}
                  - name: marked
                    fwmark: 5
                    scheduler: mh
                    scheduler_flags: [mh-fallback]
                    forwarding: dr
                    real_servers: [{address: 10.0.0.24}]
                """))
        let a = IPAddress("10.0.5.10")!, b = IPAddress("10.0.5.11")!
        func id(_ last: String) -> RealServerID { RealServerID(service: "web", address: IPAddress("10.0.0.\(last)")!, port: 80) }
        let key = IPVSServiceKey.address(protocol: .tcp, address: a, port: 80)

        let healthy = config.clusterVIPStates(presentAddresses: [a, b], down: [], weights: [:])
        #expect(healthy == [
            RouteAnnouncement.VIPState(address: a, addressPresent: true, services: [.init(name: "web", key: key, liveRealServers: 2)]),
            RouteAnnouncement.VIPState(address: b, addressPresent: true, services: []),
        ])
        // One down, one drained: none live, and the sorry server does not count.
        let states = config.clusterVIPStates(presentAddresses: [b], down: [id("21")], weights: [id("22"): 0])
        #expect(states[0].services.map(\.liveRealServers) == [0])
        #expect(!states[0].addressPresent)
        let director = RouteAnnouncement.DirectorState(running: true, maintenance: false, ipvsProblem: nil)
        #expect(RouteAnnouncement.decide(director: director, vips: states, vipInterface: "lo").map(\.description) == [
            "withdrawn: the address is not on lo; no live real server for tcp 10.0.5.10:80 (web)",
            "announced",
        ])
        // An agent's weight override above 0 brings the weight-0 server to life.
        let revived = config.clusterVIPStates(presentAddresses: [a], down: [id("21")], weights: [id("22"): 0, id("23"): 5])
        #expect(revived[0].services.map(\.liveRealServers) == [1])
    }
}

/// Desired announcements against the kernel table → the route changes.
@Suite struct RoutePlannerTests {
    static let proto: UInt8 = 250
    static let a = IPAddress("10.0.5.10")!, b = IPAddress("10.0.5.11")!, six = IPAddress("fd00::10")!

    static func own(_ address: IPAddress) -> ClusterRoute { ClusterRoute.announcement(of: address, protocol: proto) }

    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let announce: Set<IPAddress>
        let observed: [ClusterRoute]
        let actions: [String]
        var conflicts: [String] = []
        var foreign: Int = 0
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "empty table, two VIPs", announce: [a, six], observed: [],
             actions: ["+ blackhole 10.0.5.10/32 proto 250", "+ blackhole fd00::10/128 proto 250 metric 1024"]),
        Case(name: "in step: nothing to do", announce: [a], observed: [own(a)], actions: []),
        Case(name: "withdraw one, keep one", announce: [a], observed: [own(b), own(a)],
             actions: ["- blackhole 10.0.5.11/32 proto 250"]),
        Case(name: "withdraw all", announce: [], observed: [own(a), own(six)],
             actions: ["- blackhole 10.0.5.10/32 proto 250", "- blackhole fd00::10/128 proto 250 metric 1024"]),
        Case(name: "own route of the wrong shape is replaced, removal first", announce: [a],
             observed: [ClusterRoute(destination: IPPrefix("10.0.5.10/32")!, kind: .unicast(interfaceIndex: 1), protocolNumber: proto)],
             actions: ["- unicast 10.0.5.10/32 dev #1 proto 250", "+ blackhole 10.0.5.10/32 proto 250"]),
        Case(name: "own stale non-host route is removed", announce: [],
             observed: [ClusterRoute(destination: IPPrefix("10.0.5.0/24")!, kind: .blackhole, protocolNumber: proto, priority: 5)],
             actions: ["- blackhole 10.0.5.0/24 proto 250 metric 5"]),
        Case(name: "foreign routes are left alone", announce: [a],
             observed: [ClusterRoute(destination: IPPrefix("192.0.2.0/24")!, kind: .unicast(interfaceIndex: 2), protocolNumber: 4)],
             actions: ["+ blackhole 10.0.5.10/32 proto 250"], foreign: 1),
        Case(name: "a foreign route on a VIP is a conflict and blocks the add", announce: [a],
             observed: [ClusterRoute(destination: IPPrefix("10.0.5.10/32")!, kind: .blackhole, protocolNumber: 3)],
             actions: [], conflicts: ["blackhole 10.0.5.10/32 proto 3"], foreign: 1),
        Case(name: "a foreign route on a withdrawn VIP is a conflict too", announce: [],
             observed: [ClusterRoute(destination: IPPrefix("10.0.5.11/32")!, kind: .blackhole, protocolNumber: 12)],
             actions: [], conflicts: ["blackhole 10.0.5.11/32 proto 12"], foreign: 1),
        Case(name: "a duplicate row is removed once", announce: [], observed: [own(b), own(b)],
             actions: ["- blackhole 10.0.5.11/32 proto 250"]),
    ]

    @Test(arguments: cases)
    func plan(_ c: Case) {
        let plan = RoutePlanner.plan(announce: c.announce, vips: [Self.a, Self.b, Self.six], observed: c.observed, protocol: Self.proto)
        #expect(plan.actions.map(\.description) == c.actions)
        #expect(plan.conflicts.map(\.description) == c.conflicts)
        #expect(plan.foreign.count == c.foreign)
    }

    /// Reconcile through the fake: applying the plan reaches the desired table, a second
    /// reconcile does nothing, and one failing route does not stop the others.
    @Test func reconcileConvergesAndIsolatesFailures() throws {
        let foreign = ClusterRoute(destination: IPPrefix("192.0.2.0/24")!, kind: .unicast(interfaceIndex: 2), protocolNumber: 4)
        let table = InMemoryAnnouncedRoutes(routes: [Self.own(Self.b), foreign])
        let first = try table.reconcile(announce: [Self.a, Self.six], vips: [Self.a, Self.b, Self.six], protocol: Self.proto)
        #expect(first.failed.isEmpty)
        #expect(Set(table.current) == [Self.own(Self.a), Self.own(Self.six), foreign])
        #expect(table.log == ["remove blackhole 10.0.5.11/32 proto 250", "add blackhole 10.0.5.10/32 proto 250",
                              "add blackhole fd00::10/128 proto 250 metric 1024"])
        let second = try table.reconcile(announce: [Self.a, Self.six], vips: [Self.a, Self.b, Self.six], protocol: Self.proto)
        #expect(second.plan.actions.isEmpty && second.done.isEmpty)

        table.setFailing(IPPrefix("10.0.5.10/32")!)
        let third = try table.reconcile(announce: [Self.b], vips: [Self.a, Self.b, Self.six], protocol: Self.proto)
        #expect(third.failed.map(\.action.description) == ["- blackhole 10.0.5.10/32 proto 250"])
        #expect(Set(table.current) == [Self.own(Self.a), Self.own(Self.b), foreign])

        table.setReadFails(true)
        #expect(throws: InMemoryAnnouncedRoutes.Failure.self) {
            try table.reconcile(announce: [], vips: [Self.a], protocol: Self.proto)
        }
    }
}
