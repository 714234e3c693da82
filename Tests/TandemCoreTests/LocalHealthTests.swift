import Testing
@testable import TandemCore
import TandemTesting

/// Hosts described as links and addresses, judged by `LocalHealth.assess`.
struct LocalHealthCase: CustomTestStringConvertible, Sendable {
    var name: String
    var heartbeat: [String] = ["10.0.0.2"]
    var sendFailures: [Int: String] = [:]
    var tracked: [TrackedInterface] = []
    var links: [LinkState]
    var addresses: [InterfaceAddress]
    /// Expected faults, each given by a fragment it must contain (in order); [] for healthy.
    var faults: [String]
    var paths: [LocalHealth.PathState]
    var vipStates: [LocalHealth.VIPState]
    var testDescription: String { name }
}

private let vip4 = VirtualIP(prefix: IPPrefix("192.0.2.10/24")!, interface: "eth1")
private let vip6 = VirtualIP(prefix: IPPrefix("2001:db8::10/64")!, interface: "eth1")

private func up(_ name: String, _ index: Int32) -> LinkState { InMemoryAddressTable.link(name, index: index) }
private func noCarrier(_ name: String, _ index: Int32) -> LinkState { InMemoryAddressTable.link(name, index: index, up: false) }
private func addr(_ text: String, on name: String, index: Int32 = 2, flags: UInt32 = 0x80) -> InterfaceAddress {
    InterfaceAddress(interfaceIndex: index, interface: name, prefix: IPPrefix(text)!, flags: flags)
}

private let healthyLinks = [up("eth0", 2), up("eth1", 3), up("hb", 4)]
private let healthyAddresses = [addr("10.0.0.2/24", on: "eth0"), addr("10.1.0.2/24", on: "hb", index: 4),
                                addr("192.0.2.10/24", on: "eth1", index: 3), addr("2001:db8::10/64", on: "eth1", index: 3, flags: 0x82)]

let localHealthCases: [LocalHealthCase] = [
    LocalHealthCase(name: "healthy: one path usable, VIPs held, no faults",
                    links: healthyLinks, addresses: healthyAddresses, faults: [],
                    paths: [.usable(interface: "eth0")], vipStates: [.held, .held]),
    LocalHealthCase(name: "the only heartbeat address is gone: a fault of this node",
                    links: healthyLinks, addresses: Array(healthyAddresses.dropFirst()),
                    faults: ["no usable heartbeat path (path 0 10.0.0.2: address not configured on any interface)"],
                    paths: [.addressMissing], vipStates: [.held, .held]),
    LocalHealthCase(name: "two paths, one address gone: still healthy",
                    heartbeat: ["10.0.0.2", "10.1.0.2"], links: healthyLinks, addresses: Array(healthyAddresses.dropFirst()),
                    faults: [], paths: [.addressMissing, .usable(interface: "hb")], vipStates: [.held, .held]),
    LocalHealthCase(name: "two paths, both unusable (one address gone, the other link without carrier)",
                    heartbeat: ["10.0.0.2", "10.1.0.2"], links: [up("eth0", 2), up("eth1", 3), noCarrier("hb", 4)],
                    addresses: Array(healthyAddresses.dropFirst()),
                    faults: ["path 0 10.0.0.2: address not configured on any interface; path 1 10.1.0.2: interface hb is down or has no carrier"],
                    paths: [.addressMissing, .linkDown(interface: "hb")], vipStates: [.held, .held]),
    LocalHealthCase(name: "heartbeat interface down: a fault",
                    links: [noCarrier("eth0", 2), up("eth1", 3)], addresses: healthyAddresses,
                    faults: ["interface eth0 is down or has no carrier"], paths: [.linkDown(interface: "eth0")],
                    vipStates: [.held, .held]),
    LocalHealthCase(name: "sends failing on the only path: a fault",
                    sendFailures: [0: "Network is unreachable (errno 101)"], links: healthyLinks, addresses: healthyAddresses,
                    faults: ["sending fails: Network is unreachable (errno 101)"],
                    paths: [.sendFailing("Network is unreachable (errno 101)")], vipStates: [.held, .held]),
    LocalHealthCase(name: "an IPv6 heartbeat address still tentative is not usable yet",
                    heartbeat: ["fd00::2"], links: healthyLinks, addresses: healthyAddresses + [addr("fd00::2/64", on: "eth0", flags: 0x40)],
                    faults: ["tentative"], paths: [.addressNotReady(interface: "eth0", dadFailed: false)], vipStates: [.held, .held]),
    LocalHealthCase(name: "VIP interface deleted: a fault, its VIPs cannot be held",
                    links: [up("eth0", 2)], addresses: [addr("10.0.0.2/24", on: "eth0")],
                    faults: ["VIP interface eth1 does not exist"], paths: [.usable(interface: "eth0")],
                    vipStates: [.interfaceMissing, .interfaceMissing]),
    LocalHealthCase(name: "VIP interface without carrier: a fault; the address is there but unreachable",
                    links: [up("eth0", 2), noCarrier("eth1", 3)], addresses: healthyAddresses,
                    faults: ["VIP interface eth1 is down or has no carrier"], paths: [.usable(interface: "eth0")],
                    vipStates: [.noCarrier(present: true), .noCarrier(present: true)]),
    LocalHealthCase(name: "VIP interface tracked with lower_priority: the election handles it, no fault here",
                    tracked: [TrackedInterface(interface: "eth1", effect: .lowerPriority(by: 50))],
                    links: [up("eth0", 2), noCarrier("eth1", 3)], addresses: healthyAddresses,
                    faults: [], paths: [.usable(interface: "eth0")],
                    vipStates: [.noCarrier(present: true), .noCarrier(present: true)]),
    LocalHealthCase(name: "IPv6 VIP present but dadfailed: an address conflict, never held",
                    links: healthyLinks,
                    addresses: Array(healthyAddresses.dropLast()) + [addr("2001:db8::10/64", on: "eth1", index: 3, flags: 0x48)],
                    faults: ["address conflict: VIP 2001:db8::10/64 on eth1 failed duplicate address detection"],
                    paths: [.usable(interface: "eth0")], vipStates: [.held, .conflict]),
    LocalHealthCase(name: "IPv6 VIP tentative: not held yet, not a fault",
                    links: healthyLinks,
                    addresses: Array(healthyAddresses.dropLast()) + [addr("2001:db8::10/64", on: "eth1", index: 3, flags: 0x40)],
                    faults: [], paths: [.usable(interface: "eth0")], vipStates: [.held, .tentative]),
    LocalHealthCase(name: "VIP absent from an interface that is up: not held, not a fault",
                    links: healthyLinks, addresses: [addr("10.0.0.2/24", on: "eth0")],
                    faults: [], paths: [.usable(interface: "eth0")], vipStates: [.absent, .absent]),
]

@Suite("Local health")
struct LocalHealthTests {
    @Test(arguments: localHealthCases)
    func judge(_ row: LocalHealthCase) {
        let report = LocalHealth.assess(heartbeatAddresses: row.heartbeat.map { IPAddress($0)! }, sendFailures: row.sendFailures,
                                        vips: [vip4, vip6], trackedInterfaces: row.tracked, links: row.links,
                                        addresses: row.addresses)
        #expect(report.faults.count == row.faults.count, "\(report.faults)")
        for (fault, fragment) in zip(report.faults, row.faults) {
            #expect(fault.contains(fragment), "\(fault) should contain \(fragment)")
        }
        #expect(report.paths == row.paths)
        #expect(report.vips.map(\.state) == row.vipStates)
    }

    /// A VIP's address with another prefix length or on another interface is a copy; one on a
    /// loopback or NOARP link (a direct-routing real server's) is not, nor is the VIP itself.
    @Test func copiesOfAVIPsAddressAreFoundExceptOnQuietLinks() {
        var dummy = up("dr0", 6)
        dummy.flags |= LinkState.noARPFlag
        var loopback = up("lo", 1)
        loopback.flags |= LinkState.loopbackFlag
        let addresses = healthyAddresses + [
            addr("192.0.2.10/32", on: "eth1", index: 3), addr("192.0.2.10/24", on: "eth0"), addr("2001:db8::10/128", on: "hb", index: 4),
            addr("192.0.2.10/32", on: "lo", index: 1), addr("192.0.2.10/32", on: "dr0", index: 6), addr("192.0.2.11/32", on: "eth1", index: 3),
        ]
        let report = LocalHealth.assess(heartbeatAddresses: [], sendFailures: [:], vips: [vip4, vip6], trackedInterfaces: [],
                                        links: healthyLinks + [dummy, loopback], addresses: addresses)
        #expect(report.copies == [VirtualIP(prefix: IPPrefix("192.0.2.10/32")!, interface: "eth1"),
                                  VirtualIP(prefix: IPPrefix("192.0.2.10/24")!, interface: "eth0"),
                                  VirtualIP(prefix: IPPrefix("2001:db8::10/128")!, interface: "hb")])
        #expect(report.vips.map(\.state) == [.held, .held])
        // A VIP with a label (or nat_gateway) is itself, not a copy of itself.
        var labelled = vip4
        labelled.label = "eth1:vip"
        labelled.natGateway = true
        let itself = LocalHealth.assess(heartbeatAddresses: [], sendFailures: [:], vips: [labelled], trackedInterfaces: [],
                                        links: healthyLinks, addresses: healthyAddresses)
        #expect(itself.copies.isEmpty, "\(itself.copies)")
        #expect(itself.vips.map(\.state) == [.held])
    }

    @Test func problemsNameTheInterfaceAndTheFix() {
        #expect(LocalHealth.VIPState.held.problem(vip4) == nil)
        #expect(LocalHealth.VIPState.absent.problem(vip4) == nil)
        #expect(LocalHealth.VIPState.interfaceMissing.problem(vip4) == "interface eth1 does not exist")
        let conflict = LocalHealth.VIPState.conflict.problem(vip6) ?? ""
        #expect(conflict.contains("ip addr del 2001:db8::10/64 dev eth1"))
        #expect(LocalHealth.VIPState.conflict.isPresent)
        #expect(LocalHealth.VIPState.noCarrier(present: false).isPresent == false)
    }
}

/// The held-VIP bookkeeping the driver follows after each judgement.
@Suite struct LocalHealthVIPActionsTests {
    static func vip(_ last: UInt32) -> VirtualIP {
        VirtualIP(prefix: IPPrefix(address: .v4(0xC000_0200 | last), length: 24), interface: "eth0")
    }

    @Test func lostUsableAndMissing() {
        let (a, b, c, d) = (Self.vip(10), Self.vip(11), Self.vip(12), Self.vip(13))
        let report = LocalHealth.Report(vips: [
            .init(vip: a, state: .held), .init(vip: b, state: .conflict),
            .init(vip: c, state: .absent), .init(vip: d, state: .held),
        ])
        let serving = report.vipActions(held: [a, b, c], serving: true)
        #expect(serving.lost == [b, c])
        #expect(serving.usable == [d])
        #expect(serving.missing == [c])
        let standby = report.vipActions(held: [a, b], serving: false)
        #expect(standby.lost == [b])
        #expect(standby.usable.isEmpty && standby.missing.isEmpty)
        #expect(LocalHealth.Report().vipActions(held: [a], serving: true).lost == [a], "a VIP no longer assessed is not held")
    }
}
