import Foundation
import Testing
@testable import TandemCore

@Suite struct VIPInterfaceCheckTests {
    static let base = """
        serial: 1
        nodes:
          - {name: ra, addresses: [10.77.0.1], priority: 150}
          - {name: rb, addresses: [10.77.0.2], priority: 100}
        heartbeat: {interval: 100ms, dead_time: 400ms, auth: none}
        virtual_ips:
          - {address: 10.77.0.10/24, interface: eth0}

        """

    func config(_ extra: String) throws -> Config {
        try ConfigParser.parseWithWarnings(data: Array((Self.base + extra).utf8)).config
    }

    /// A VIP on an interface this host lacks is found; one the running config already has there
    /// is not the reload's doing and is left out; each interface is looked up once.
    @Test func findsVIPsOnInterfacesThisHostLacks() throws {
        let running = try config("  - {address: 10.88.0.10/24, interface: eth8}\n")
        let fresh = try config("  - {address: 10.88.0.10/24, interface: eth8}\n  - {address: 10.66.0.10/24, interface: eth9}\n"
                               + "  - {address: 10.66.0.11/24, interface: eth9}\n")
        var looked: [String] = []
        let exists = { (name: String) -> Bool in looked.append(name); return name == "eth0" }
        let absent = VIPInterfaceCheck.absent(in: fresh, running: running, exists: exists)
        #expect(absent.map(\.prefix.description) == ["10.66.0.10/24", "10.66.0.11/24"])
        #expect(looked == ["eth9"])  // eth0 and eth8 carry only VIPs the running config has
        #expect(VIPInterfaceCheck.absent(in: fresh, exists: { $0 == "eth0" }).count == 3)
        #expect(VIPInterfaceCheck.absent(in: fresh, exists: { _ in true }).isEmpty)
        let text = VIPInterfaceCheck.problem(absent, node: "ra")
        #expect(text == "virtual_ips: 10.66.0.10/24 on eth9, 10.66.0.11/24 on eth9: interface eth9 does not exist on ra; "
                + "with it this node would be judged faulty and release every VIP (and so would the peer, once the "
                + "config is mirrored there): correct the name, or create the interface first")
    }

    /// A VIP brought in on an interface that exists but is down or without carrier faults the
    /// node (trial 35: one reload left both routers in fault); one the running config has there
    /// already, one on a missing interface (`absent` names it) and one on an interface the node
    /// tracks with lower_priority_by (it only loses priority) are left out.
    @Test func findsVIPsOnInterfacesThatAreDown() throws {
        let text = Self.base.replacingOccurrences(of: "priority: 150}", with: "priority: 150, track_interfaces: [{interface: eth4, lower_priority_by: 20}, eth5]}")
        func parse(_ extra: String) throws -> Config { try ConfigParser.parseWithWarnings(data: Array((text + extra).utf8)).config }
        let running = try parse("  - {address: 10.88.0.10/24, interface: eth8}\n")
        let fresh = try parse("  - {address: 10.88.0.10/24, interface: eth8}\n  - {address: 10.66.0.10/24, interface: ext1}\n"
                              + "  - {address: 10.66.1.10/24, interface: eth4}\n  - {address: 10.66.2.10/24, interface: eth5}\n"
                              + "  - {address: 10.66.3.10/24, interface: gone}\n")
        let isUp = { (name: String) -> Bool? in name == "gone" ? nil : name == "eth0" }
        let down = VIPInterfaceCheck.down(in: fresh, running: running, node: "ra", isUp: isUp)
        #expect(down.map(\.prefix.description) == ["10.66.0.10/24", "10.66.2.10/24"], "eth5 is tracked to fault: it faults all the same")
        #expect(VIPInterfaceCheck.down(in: fresh, running: running, node: "rb", isUp: isUp).count == 3, "rb tracks nothing")
        #expect(VIPInterfaceCheck.down(in: fresh, node: "ra", isUp: { _ in true }).isEmpty)
        #expect(VIPInterfaceCheck.downProblem(Array(down.prefix(1)), node: "ra")
                == "virtual_ips: 10.66.0.10/24 on ext1: interface ext1 is down or without carrier on ra; with it this node would be "
                + "judged faulty and release every VIP (and so would the peer, once the config is mirrored there): bring it up "
                + "with carrier first (ip link set ext1 up, and the cable or the other end), or track it with lower_priority_by "
                + "in ra's track_interfaces")
    }

    /// A VIP brought in whose address this host already has is the host's own (trial 35: the
    /// standby deleted its management address, the active took it over): found with the
    /// interface it is on; one the running config already has is this tandemd's.
    @Test func findsVIPsThatAreAlreadyAddressesOfThisHost() throws {
        let running = try config("  - {address: 10.88.0.10/24, interface: eth8}\n")
        let fresh = try config("  - {address: 10.88.0.10/24, interface: eth8}\n  - {address: 10.77.0.50/24, interface: eth0}\n"
                               + "  - {address: 2001:db8::2/64, interface: eth0}\n")
        let here: [IPAddress: String] = [IPAddress("10.88.0.10")!: "eth8", IPAddress("10.77.0.50")!: "mgmt0", IPAddress("10.77.0.1")!: "eth0"]
        let found = VIPInterfaceCheck.alreadyHere(in: fresh, running: running, interfaceOf: { here[$0] })
        #expect(found.map { "\($0.vip.prefix) \($0.interface)" } == ["10.77.0.50/24 mgmt0"])
        #expect(VIPInterfaceCheck.alreadyHere(in: fresh, interfaceOf: { here[$0] }).count == 2, "without a running config")
        let moved = try config("  - {address: 10.88.0.10/25, interface: eth9}\n")
        #expect(VIPInterfaceCheck.alreadyHere(in: moved, running: running, interfaceOf: { here[$0] }).isEmpty,
                "a running VIP moved to another interface is this tandemd's")
        #expect(VIPInterfaceCheck.alreadyHereProblem(found, node: "rb")
                == "virtual_ips: 10.77.0.50/24 on eth0 (10.77.0.50 is on mgmt0): already an address of rb that no running VIP "
                + "put there; a standby removes every VIP address it finds, so rb would lose it and the active router take it "
                + "over: write an address no host uses, or, if it is a leftover of an earlier VIP, remove it first "
                + "(ip addr del 10.77.0.50 dev mgmt0)")
    }

    /// The sync daemons' interface and this node's tracked interfaces, when this host lacks
    /// them (operator trial of session 32: a missing sync.interface passed without a word):
    /// one warning each, naming the effect and the fix.
    @Test func findsTheSyncAndTrackedInterfacesThisHostLacks() throws {
        let text = Self.base.replacingOccurrences(of: "priority: 150}", with: "priority: 150, track_interfaces: [eth3, {interface: eth4, lower_priority_by: 20}]}")
            + "sync: {interface: eth7}\n"
        let config = try ConfigParser.parseWithWarnings(data: Array(text.utf8)).config
        let lines = VIPInterfaceCheck.otherAbsent(in: config, node: "ra", exists: { $0 == "eth0" || $0 == "eth4" })
        #expect(lines == [
            "sync.interface: eth7 does not exist on ra: the kernel cannot start the IPVS sync daemons on it, so connections are not "
                + "synchronised and a failover drops them; correct the name, or create the interface first",
            "track_interfaces: eth3 does not exist on ra: it counts as down (this node is judged faulty) until it exists; "
                + "correct the name, or create the interface first",
        ])
        #expect(VIPInterfaceCheck.otherAbsent(in: config, node: "rb", exists: { $0 != "eth7" }) .count == 1, "rb tracks nothing; the sync interface is missing")
        #expect(VIPInterfaceCheck.otherAbsent(in: config, node: "ra", exists: { _ in true }).isEmpty)
    }

    /// A VIP whose subnet holds the peer's heartbeat address, on another interface than this
    /// node's end of that path: claiming it adds a second connected route to the peer, and the
    /// heartbeats may leave by it. Warned, with the fix; a VIP on the path's interface, a host
    /// prefix, a subnet without the peer's address, or a path whose local address is not on
    /// this host is not.
    @Test func findsVIPsThatWouldRouteTheHeartbeatsAway() throws {
        let config = try config("  - {address: 10.77.0.11/24, interface: eth1}\n  - {address: 10.77.0.12/32, interface: eth1}\n"
                                + "  - {address: 10.99.0.10/24, interface: eth1}\n")
        let here: [IPAddress: String] = [IPAddress("10.77.0.1")!: "eth0"]
        let lines = VIPInterfaceCheck.heartbeatRouteConflicts(in: config, node: "ra", interfaceOf: { here[$0] })
        #expect(lines == [
            "virtual_ips: 10.77.0.11/24 on eth1: its subnet holds rb's heartbeat address 10.77.0.2, which ra reaches from 10.77.0.1 "
                + "on eth0: once claimed, the kernel has a second route to 10.77.0.2 through eth1, and heartbeats may leave by it "
                + "(after eth0 flaps, say) and be lost: a takeover while ra still serves. Put the VIP on eth0, or give it a /32 prefix",
        ])
        // rb's own end is not on this host: nothing to judge there.
        #expect(VIPInterfaceCheck.heartbeatRouteConflicts(in: config, node: "rb", interfaceOf: { here[$0] }).isEmpty)
        // The path on eth1 as well: every VIP is on the path's interface.
        #expect(VIPInterfaceCheck.heartbeatRouteConflicts(in: config, node: "ra", interfaceOf: { _ in "eth1" }).count == 1,
                "10.77.0.10/24 on eth0 is then the one on another interface")
    }

    /// `tandemd --check --node rb` on a host without rb's heartbeat address said "valid" (trial
    /// 33); at run time that path neither listens nor sends. One warning per missing address,
    /// naming the path, the peer's end and the fix; nothing when every address is here.
    @Test func findsTheHeartbeatAddressesThisHostLacks() throws {
        let config = try config("")
        let lines = VIPInterfaceCheck.heartbeatAddressesAbsent(in: config, node: "rb", isLocal: { $0 == IPAddress("10.77.0.9")! })
        #expect(lines == [
            "nodes: rb's heartbeat address 10.77.0.2 is on no interface of this host: heartbeat path 0 to ra's 10.77.0.1 neither "
                + "listens nor sends until it is (status shows it NOT USABLE here); add the address (ip addr add 10.77.0.2/PREFIX "
                + "dev IFACE), or correct rb's addresses",
        ])
        #expect(VIPInterfaceCheck.heartbeatAddressesAbsent(in: config, node: "ra", isLocal: { $0 == IPAddress("10.77.0.1")! }).isEmpty)
        #expect(VIPInterfaceCheck.heartbeatAddressesAbsent(in: config, node: "nobody", isLocal: { _ in false }).isEmpty)
    }

    /// `tandemd --check --node ra` on rb's host said "valid" and told the operator to add ra's
    /// address there, which would duplicate it on the LAN (trial 35). A host holding none of the
    /// node's heartbeat addresses and some of the peer's is named as the peer's, in place of the
    /// advice; a host holding neither node's, or one of the node's own, is not.
    @Test func aHostHoldingOnlyThePeersHeartbeatAddressesIsNamedAsThePeers() throws {
        let two = try ConfigParser.parseWithWarnings(data: Array(Self.base.replacingOccurrences(
            of: "[10.77.0.1]", with: "[10.35.0.1, 10.36.0.1]").replacingOccurrences(of: "[10.77.0.2]", with: "[10.35.0.2, 10.36.0.2]").utf8)).config
        let rbHere: Set<IPAddress> = [IPAddress("10.35.0.2")!, IPAddress("10.36.0.2")!, IPAddress("127.0.0.1")!]
        let expected = "nodes: this host has rb's heartbeat addresses 10.35.0.2, 10.36.0.2 and none of ra's: is this rb? (--node rb); "
            + "as ra here tandemd has no heartbeat path and stays in fault, and adding ra's addresses here would duplicate them on the LAN"
        #expect(VIPInterfaceCheck.peersHost(in: two, node: "ra", isLocal: rbHere.contains) == expected)
        #expect(VIPInterfaceCheck.heartbeatAddressesAbsent(in: two, node: "ra", isLocal: rbHere.contains) == [expected])
        #expect(VIPInterfaceCheck.peersHost(in: two, node: "rb", isLocal: rbHere.contains) == nil)
        #expect(VIPInterfaceCheck.heartbeatAddressesAbsent(in: two, node: "rb", isLocal: rbHere.contains).isEmpty)
        // One of the peer's addresses is enough, and is the one named.
        let one = VIPInterfaceCheck.peersHost(in: two, node: "ra", isLocal: { $0 == IPAddress("10.36.0.2")! })
        #expect(one == "nodes: this host has rb's heartbeat address 10.36.0.2 and none of ra's: is this rb? (--node rb); "
            + "as ra here tandemd has no heartbeat path and stays in fault, and adding ra's addresses here would duplicate them on the LAN")
        // Neither node's addresses: the advice to add them stays, one line per address.
        #expect(VIPInterfaceCheck.peersHost(in: two, node: "ra", isLocal: { _ in false }) == nil)
        let absent = VIPInterfaceCheck.heartbeatAddressesAbsent(in: two, node: "ra", isLocal: { _ in false })
        #expect(absent.count == 2 && absent.allSatisfy { $0.contains("add the address (ip addr add 10.3") })
        // One of ra's own and one of rb's (a half-configured host): not the peer's host.
        #expect(VIPInterfaceCheck.peersHost(in: two, node: "ra", isLocal: { [IPAddress("10.35.0.1")!, IPAddress("10.36.0.2")!].contains($0) }) == nil)
    }
}
