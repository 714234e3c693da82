import Testing
@testable import TandemCore

@Suite struct IPVSIntentTests {
    /// Two nodes and one VIP, then `rest`.
    static func pair(_ rest: String) throws -> Config {
        try ConfigParser.parse(yaml: """
        serial: 1
        nodes:
          - {name: a, addresses: [10.0.0.1]}
          - {name: b, addresses: [10.0.0.2]}
        heartbeat: {interval: 100ms, dead_time: 400ms, key_file: /etc/tandem/key}
        virtual_ips:
          - {address: 10.0.0.10/24, interface: eth0}
        \(rest)
        """)
    }

    static func config(standby: String) throws -> Config {
        try pair("""
        standby_table: \(standby)
        virtual_servers:
          - name: web
            address: 10.0.0.10
            port: 80
            forwarding: dr
            real_servers:
              - {address: 10.0.0.21, port: 80, weight: 5}
              - {address: 10.0.0.22, port: 80, weight: 7}

        """)
    }

    static let first = RealServerID(service: "web", address: IPAddress("10.0.0.21")!, port: 80)
    static let second = RealServerID(service: "web", address: IPAddress("10.0.0.22")!, port: 80)

    func weights(_ intent: IPVSIntent) -> [Int32] {
        intent.desired.entries.flatMap { $0.destinations.map(\.weight) }
    }

    @Test(arguments: [("warm", false, 1), ("warm", true, 1), ("cold", false, 0), ("cold", true, 1)])
    func standbyTableDecidesWhetherAStandbyInstalls(standby: String, holding: Bool, services: Int) throws {
        let intent = IPVSIntent(config: try Self.config(standby: standby), holdingVIPs: holding, down: [], weights: [:],
                                drained: [], formerlyOwned: .nothing)
        #expect(intent.desired.entries.count == services)
        // Owned whatever the role: a cold standby removes its own entries on release.
        #expect(intent.owned.services.count == 1)
    }

    @Test func aDrainedRealServerGetsWeightZeroWhateverItsHealthOrAgentWeight() throws {
        let config = try Self.config(standby: "warm")
        let plain = IPVSIntent(config: config, holdingVIPs: true, down: [], weights: [Self.first: 3], drained: [],
                               formerlyOwned: .nothing)
        #expect(weights(plain).sorted() == [3, 7])
        let drained = IPVSIntent(config: config, holdingVIPs: true, down: [], weights: [Self.first: 3],
                                 drained: [Self.first, Self.second], formerlyOwned: .nothing)
        #expect(weights(drained) == [0, 0])
    }

    @Test func entriesOfAReplacedConfigStayOwnedUntilRemoved() throws {
        let old = try Self.pair("""
        virtual_servers:
          - name: dns
            address: 10.0.0.10
            port: 53
            protocol: udp
            forwarding: dr
            real_servers:
              - {address: 10.0.0.31, port: 53}

        """)
        let formerly = IPVSOwnership(old.namedIPVSEntries)
        let intent = IPVSIntent(config: try Self.config(standby: "warm"), holdingVIPs: true, down: [], weights: [:],
                                drained: [], formerlyOwned: formerly)
        #expect(intent.owned.services.count == 2)
        #expect(intent.desired.entries.count == 1)
        #expect(IPVSIntent.needsIPVS(try Self.pair(""), formerlyOwned: formerly))
    }
}
