import Testing
@testable import TandemCore

// MARK: - Builders

private func ip(_ text: String) -> IPAddress {
    guard let address = IPAddress(text) else { fatalError("bad test address \(text)") }
    return address
}

private func tcpKey(_ address: String, _ port: UInt16) -> IPVSServiceKey {
    .address(protocol: .tcp, address: ip(address), port: port)
}

private func service(_ key: IPVSServiceKey, _ scheduler: String = "wlc", flags: IPVSServiceFlags = [],
                     timeout: UInt32 = 0, netmask: UInt32? = nil, pe: String? = nil) -> IPVSService {
    IPVSService(key: key, scheduler: scheduler, flags: flags, timeout: timeout, netmask: netmask, persistenceEngine: pe)
}

private func real(_ address: String, _ port: UInt16, _ forwarding: IPVSForwarding = .masquerade, weight: Int32 = 1,
                  upper: UInt32 = 0, lower: UInt32 = 0) -> IPVSDestination {
    IPVSDestination(address: ip(address), port: port, forwarding: forwarding, weight: weight,
                    upperThreshold: upper, lowerThreshold: lower)
}

private func dkey(_ address: String, _ port: UInt16) -> IPVSDestinationKey {
    IPVSDestinationKey(address: ip(address), port: port)
}

private func table(_ entries: (IPVSService, [IPVSDestination])...) -> IPVSTable {
    IPVSTable(entries.map { IPVSServiceEntry(service: $0.0, destinations: $0.1) })
}

private func owning(_ services: [IPVSServiceKey], _ destinations: [(IPVSServiceKey, IPVSDestinationKey)] = []) -> IPVSOwnership {
    IPVSOwnership(services: Set(services),
                  destinations: Set(destinations.map { IPVSOwnership.Destination(service: $0.0, destination: $0.1) }))
}

// Fixtures shared by the table.
private let web = tcpKey("10.0.0.1", 80)
private let tls = tcpKey("10.0.0.1", 443)
private let dns = IPVSServiceKey.address(protocol: .udp, address: ip("10.0.0.2"), port: 53)
private let web6 = IPVSServiceKey.address(protocol: .tcp, address: ip("2001:db8::1"), port: 80)
private let mark7 = IPVSServiceKey.fwmark(family: .ipv4, mark: 7)
private let mark7v6 = IPVSServiceKey.fwmark(family: .ipv6, mark: 7)
private let foreignKey = tcpKey("10.9.9.9", 8080)

private let r1 = real("192.168.1.1", 80)
private let r2 = real("192.168.1.2", 80)
private let rForeign = real("192.168.1.99", 80, .directRoute, weight: 9)

private let full = table(
    (service(web), [r1, r2]),
    (service(tls, "rr"), [real("192.168.1.1", 443), real("192.168.1.2", 443)])
)

/// A service key whose hashed flag the kernel set (the model's initializer strips it, a dump
/// decoder might not: the planner must not care).
private func hashed(_ s: IPVSService) -> IPVSService {
    var copy = s
    copy.flags.insert(.hashed)
    return copy
}

// MARK: - Table-driven cases

struct PlanCase: Sendable, CustomTestStringConvertible {
    let name: String
    let desired: IPVSTable
    let observed: IPVSTable
    let owned: IPVSOwnership
    let expected: [IPVSChange]
    var testDescription: String { name }
}

private let planCases: [PlanCase] = [
    PlanCase(
        name: "empty to full: each service, then its real servers, services in key order",
        desired: full, observed: IPVSTable(), owned: .nothing,
        expected: [
            .addService(service(web)), .addDestination(web, r1), .addDestination(web, r2),
            .addService(service(tls, "rr")),
            .addDestination(tls, real("192.168.1.1", 443)), .addDestination(tls, real("192.168.1.2", 443)),
        ]),
    PlanCase(
        name: "full to empty with ownership: services deleted alone (the kernel drops their real servers)",
        desired: IPVSTable(), observed: full, owned: IPVSOwnership(full),
        expected: [.deleteService(web), .deleteService(tls)]),
    PlanCase(
        name: "full to empty without ownership: nothing is Tandem's",
        desired: IPVSTable(), observed: full, owned: .nothing, expected: []),
    PlanCase(
        name: "unchanged table is adopted with zero writes",
        desired: full, observed: full, owned: IPVSOwnership(full), expected: []),
    PlanCase(
        name: "unchanged table, ownership unknown (first start): still zero writes",
        desired: full, observed: full, owned: .nothing, expected: []),
    PlanCase(
        name: "foreign service survives a plan that keeps Tandem's",
        desired: table((service(web), [r1])),
        observed: table((service(web), [r1]), (service(foreignKey, "rr"), [rForeign])),
        owned: owning([web], [(web, r1.key)]), expected: []),
    PlanCase(
        name: "foreign service survives a plan that deletes Tandem's",
        desired: IPVSTable(),
        observed: table((service(web), [r1]), (service(foreignKey, "rr"), [rForeign])),
        owned: owning([web], [(web, r1.key)]), expected: [.deleteService(web)]),
    PlanCase(
        name: "foreign real server under an owned service survives",
        desired: table((service(web), [r1, r2])),
        observed: table((service(web), [r1, r2, rForeign])),
        owned: owning([web], [(web, r1.key), (web, r2.key)]), expected: []),
    PlanCase(
        name: "owned service with a foreign real server is kept; only owned real servers go",
        desired: IPVSTable(),
        observed: table((service(web), [r1, r2, rForeign])),
        owned: owning([web], [(web, r1.key), (web, r2.key)]),
        expected: [.deleteDestination(web, r1.key), .deleteDestination(web, r2.key)]),
    PlanCase(
        name: "real server removed by health (owned, not desired) is deleted",
        desired: table((service(web), [r1])),
        observed: table((service(web), [r1, r2])),
        owned: owning([web], [(web, r1.key), (web, r2.key)]),
        expected: [.deleteDestination(web, r2.key)]),
    PlanCase(
        name: "hashed flag takes no part",
        desired: full,
        observed: IPVSTable(full.entries.map { IPVSServiceEntry(service: hashed($0.service), destinations: $0.destinations) }),
        owned: IPVSOwnership(full), expected: []),
    PlanCase(
        name: "scheduler change is an in-place service update",
        desired: table((service(web, "rr"), [r1])), observed: table((service(web, "wlc"), [r1])),
        owned: IPVSOwnership(table((service(web), [r1]))), expected: [.updateService(service(web, "rr"))]),
    PlanCase(
        name: "persistence, netmask and engine changes are one in-place update",
        desired: table((service(web, flags: .persistent, timeout: 300, netmask: 0xFFFF_FF00, pe: "sip"), [r1])),
        observed: table((service(web), [r1])),
        owned: .nothing,
        expected: [.updateService(service(web, flags: .persistent, timeout: 300, netmask: 0xFFFF_FF00, pe: "sip"))]),
    PlanCase(
        name: "scheduler flags change is an in-place update",
        desired: table((service(web, "sh", flags: [.scheduler1, .scheduler2]), [])),
        observed: table((service(web, "sh", flags: [.scheduler1]), [])),
        owned: .nothing, expected: [.updateService(service(web, "sh", flags: [.scheduler1, .scheduler2]))]),
    PlanCase(
        name: "empty persistence engine name equals none",
        desired: table((service(web, pe: nil), [r1])), observed: table((service(web, pe: ""), [r1])),
        owned: .nothing, expected: []),
    PlanCase(
        name: "weight change is exactly one in-place real-server update",
        desired: table((service(web), [r1, real("192.168.1.2", 80, weight: 5)])),
        observed: table((service(web), [r1, r2])),
        owned: .nothing, expected: [.updateDestination(web, real("192.168.1.2", 80, weight: 5))]),
    PlanCase(
        name: "forwarding and threshold changes are in-place real-server updates",
        desired: table((service(web), [real("192.168.1.1", 80, .directRoute), real("192.168.1.2", 80, upper: 100, lower: 10)])),
        observed: table((service(web), [r1, r2])),
        owned: .nothing,
        expected: [.updateDestination(web, real("192.168.1.1", 80, .directRoute)),
                   .updateDestination(web, real("192.168.1.2", 80, upper: 100, lower: 10))]),
    PlanCase(
        name: "service update comes before its real-server changes",
        desired: table((service(web, "rr"), [r1, real("192.168.1.3", 80)])),
        observed: table((service(web), [r1, r2])),
        owned: owning([web], [(web, r1.key), (web, r2.key)]),
        expected: [.updateService(service(web, "rr")), .deleteDestination(web, r2.key),
                   .addDestination(web, real("192.168.1.3", 80))]),
    PlanCase(
        name: "fwmark IPv4 and IPv6 with the same mark are different services",
        desired: table((service(mark7), [real("192.168.1.1", 0, .directRoute)]),
                       (service(mark7v6), [real("2001:db8:1::1", 0, .directRoute)])),
        observed: table((service(mark7), [real("192.168.1.1", 0, .directRoute)])),
        owned: .nothing,
        expected: [.addService(service(mark7v6)), .addDestination(mark7v6, real("2001:db8:1::1", 0, .directRoute))]),
    PlanCase(
        name: "fwmark IPv6 owned, not desired: deleted; IPv4 twin untouched",
        desired: table((service(mark7), [])),
        observed: table((service(mark7), []), (service(mark7v6), [real("2001:db8:1::1", 0, .directRoute)])),
        owned: owning([mark7, mark7v6], [(mark7v6, dkey("2001:db8:1::1", 0))]),
        expected: [.deleteService(mark7v6)]),
    PlanCase(
        name: "IPv6 service: missing real server added, IPv6 persistence prefix updated",
        desired: table((service(web6, flags: .persistent, timeout: 60, netmask: 64),
                        [real("2001:db8:1::1", 80), real("2001:db8:1::2", 80)])),
        observed: table((service(web6, flags: .persistent, timeout: 60, netmask: 128), [real("2001:db8:1::1", 80)])),
        owned: .nothing,
        expected: [.updateService(service(web6, flags: .persistent, timeout: 60, netmask: 64)),
                   .addDestination(web6, real("2001:db8:1::2", 80))]),
    PlanCase(
        name: "drift repair: a real server edited behind Tandem's back (ipvsadm -e) is restored",
        desired: full,
        observed: table((service(web), [r1, real("192.168.1.2", 80, weight: 0)]),
                        (service(tls, "rr"), [real("192.168.1.1", 443), real("192.168.1.2", 443)])),
        owned: IPVSOwnership(full), expected: [.updateDestination(web, r2)]),
    PlanCase(
        name: "drift repair: a real server deleted behind Tandem's back (ipvsadm -d) is restored",
        desired: full,
        observed: table((service(web), [r2]), (service(tls, "rr"), [real("192.168.1.1", 443), real("192.168.1.2", 443)])),
        owned: IPVSOwnership(full), expected: [.addDestination(web, r1)]),
    PlanCase(
        name: "drift repair: a service deleted (ipvsadm -D) and another edited (ipvsadm -E) are restored",
        desired: full,
        observed: table((service(tls, "wlc"), [real("192.168.1.1", 443), real("192.168.1.2", 443)])),
        owned: IPVSOwnership(full),
        expected: [.addService(service(web)), .addDestination(web, r1), .addDestination(web, r2),
                   .updateService(service(tls, "rr"))]),
    PlanCase(
        name: "mixed plan: services in key order, each with its own changes",
        desired: table((service(web), [r1]), (service(dns, "rr"), [real("192.168.2.1", 53)])),
        observed: table((service(web), [r1]), (service(tls), [r1]), (service(dns), [])),
        owned: owning([tls], [(tls, r1.key)]),
        expected: [.deleteService(tls), .updateService(service(dns, "rr")), .addDestination(dns, real("192.168.2.1", 53))]),
    PlanCase(
        name: "owned real server under a foreign service is removed when not desired",
        desired: IPVSTable(),
        observed: table((service(foreignKey), [r1, rForeign])),
        owned: owning([], [(foreignKey, r1.key)]),
        expected: [.deleteDestination(foreignKey, r1.key)]),
]

// MARK: - Specific behaviours

// MARK: - Property test: random tables through an in-memory kernel

/// SplitMix64: small, seeded, reproducible.
private struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The kernel's IPVS table reduced to what the planner's changes do to it, refusing what the
/// kernel refuses (EEXIST on a duplicate add, ESRCH/ENOENT on a missing service or real server).
private struct KernelTableSimulator {
    struct Refused: Error, CustomStringConvertible {
        let change: IPVSChange
        let reason: String
        var description: String { "\(change): \(reason)" }
    }

    var services: [IPVSServiceKey: (service: IPVSService, destinations: [IPVSDestinationKey: IPVSDestination])] = [:]
    /// Changes that left the table as it was (an update to the same configuration).
    var noOps: [IPVSChange] = []

    init(_ table: IPVSTable) {
        for entry in table.entries {
            services[entry.service.key] = (entry.service, Dictionary(uniqueKeysWithValues: entry.destinations.map { ($0.key, $0) }))
        }
    }

    mutating func apply(_ change: IPVSChange) throws {
        switch change {
        case .addService(let s):
            guard services[s.key] == nil else { throw Refused(change: change, reason: "EEXIST") }
            services[s.key] = (s, [:])
        case .updateService(let s):
            guard let current = services[s.key] else { throw Refused(change: change, reason: "ESRCH") }
            if current.service.hasSameConfiguration(as: s) { noOps.append(change) }
            services[s.key]!.service = s
        case .deleteService(let key):
            guard services.removeValue(forKey: key) != nil else { throw Refused(change: change, reason: "ESRCH") }
        case .addDestination(let key, let d):
            guard services[key] != nil else { throw Refused(change: change, reason: "ESRCH") }
            guard services[key]!.destinations[d.key] == nil else { throw Refused(change: change, reason: "EEXIST") }
            services[key]!.destinations[d.key] = d
        case .updateDestination(let key, let d):
            guard let current = services[key]?.destinations[d.key] else { throw Refused(change: change, reason: "ENOENT") }
            if current.hasSameConfiguration(as: d) { noOps.append(change) }
            services[key]!.destinations[d.key] = d
        case .deleteDestination(let key, let dk):
            guard services[key]?.destinations.removeValue(forKey: dk) != nil else {
                throw Refused(change: change, reason: "ENOENT")
            }
        }
    }

    var table: IPVSTable {
        IPVSTable(services.values.map { IPVSServiceEntry(service: $0.service, destinations: Array($0.destinations.values)) })
    }
}

/// Equality on configuration only (what the kernel would show in `ipvsadm -S`).
private func sameConfiguration(_ a: IPVSTable, _ b: IPVSTable) -> Bool {
    guard a.entries.count == b.entries.count else { return false }
    return zip(a.entries, b.entries).allSatisfy { x, y in
        x.service.hasSameConfiguration(as: y.service) && x.destinations.count == y.destinations.count
            && zip(x.destinations, y.destinations).allSatisfy { $0.hasSameConfiguration(as: $1) }
    }
}

private struct RandomTables {
    var rng: SeededGenerator

    static let serviceKeys: [IPVSServiceKey] = [
        tcpKey("10.0.0.1", 80), tcpKey("10.0.0.1", 443),
        .address(protocol: .udp, address: ip("10.0.0.2"), port: 53),
        .address(protocol: .sctp, address: ip("10.0.0.3"), port: 9),
        .address(protocol: .tcp, address: ip("2001:db8::1"), port: 80),
        .fwmark(family: .ipv4, mark: 7), .fwmark(family: .ipv6, mark: 7), .fwmark(family: .ipv4, mark: 9),
    ]

    static func destinationKeys(for key: IPVSServiceKey) -> [IPVSDestinationKey] {
        let port: UInt16
        switch key {
        case .fwmark: port = 0
        case .address(_, _, let p): port = p
        }
        let addresses = key.family == .ipv4
            ? ["192.168.1.1", "192.168.1.2", "192.168.1.3", "192.168.1.4"]
            : ["2001:db8:1::1", "2001:db8:1::2", "2001:db8:1::3"]
        return addresses.map { IPVSDestinationKey(address: ip($0), port: port) }
    }

    mutating func chance(_ percent: UInt64) -> Bool { rng.next() % 100 < percent }
    mutating func pick<T>(_ values: [T]) -> T { values[Int(rng.next() % UInt64(values.count))] }

    mutating func service(_ key: IPVSServiceKey, kernelFlags: Bool) -> IPVSService {
        var s = IPVSService(
            key: key, scheduler: pick(["wlc", "rr", "sh", "mh"]),
            flags: IPVSServiceFlags(rawValue: UInt32(rng.next() % 64)),
            timeout: pick([0, 300]),
            netmask: chance(70) ? nil : IPVSService.netmask(prefixLength: key.family == .ipv4 ? 24 : 64, family: key.family),
            persistenceEngine: pick([nil, "", "sip"]))
        if kernelFlags && chance(50) { s.flags.insert(.hashed) }
        return s
    }

    mutating func destination(_ key: IPVSDestinationKey) -> IPVSDestination {
        IPVSDestination(address: key.address, port: key.port,
                        forwarding: pick([.masquerade, .local, .tunnel, .directRoute]),
                        weight: Int32(rng.next() % 3), upperThreshold: pick([0, 100]), lowerThreshold: pick([0, 10]),
                        tunnelType: pick(IPVSTunnelType.allCases), tunnelPort: pick([0, 6080]),
                        tunnelChecksum: pick(IPVSTunnelChecksum.allCases))
    }

    mutating func entry(_ key: IPVSServiceKey, kernelFlags: Bool) -> IPVSServiceEntry {
        let destinations = Self.destinationKeys(for: key).filter { _ in chance(50) }.map { destination($0) }
        return IPVSServiceEntry(service: service(key, kernelFlags: kernelFlags), destinations: destinations)
    }

    /// A desired table and an observed one that overlaps it in every way: same entries,
    /// edited entries, missing entries, extra entries.
    mutating func pair() -> (desired: IPVSTable, observed: IPVSTable, owned: IPVSOwnership) {
        var desired: [IPVSServiceEntry] = []
        var observed: [IPVSServiceEntry] = []
        for key in Self.serviceKeys {
            let wanted: IPVSServiceEntry? = chance(60) ? entry(key, kernelFlags: false) : nil
            if let wanted { desired.append(wanted) }
            switch rng.next() % 4 {
            case 0: break  // absent from the kernel
            case 1: observed.append(entry(key, kernelFlags: true))  // unrelated content
            default:
                guard var copy = wanted else {
                    observed.append(entry(key, kernelFlags: true))
                    continue
                }
                // The desired entry as the kernel would show it, with some drift.
                if chance(30) { copy.service = service(key, kernelFlags: true) }
                if chance(30) { copy.service.flags.insert(.hashed) }
                copy.destinations = copy.destinations.compactMap { d in
                    if chance(15) { return nil }
                    return chance(20) ? destination(d.key) : d
                }
                for extra in Self.destinationKeys(for: key) where !copy.destinations.contains(where: { $0.key == extra }) {
                    if chance(25) { copy.destinations.append(destination(extra)) }
                }
                observed.append(copy)
            }
        }
        var owned = IPVSOwnership()
        for entry in observed + desired {
            if chance(60) { owned.services.insert(entry.service.key) }
            for d in entry.destinations where chance(60) {
                owned.destinations.insert(IPVSOwnership.Destination(service: entry.service.key, destination: d.key))
            }
        }
        return (IPVSTable(desired), IPVSTable(observed), owned)
    }
}

/// What the kernel must hold after the plan, stated from the rules rather than from the planner.
private func expectedResult(desired: IPVSTable, observed: IPVSTable, owned: IPVSOwnership) -> IPVSTable {
    var result: [IPVSServiceEntry] = []
    let keys = Set(desired.serviceKeys).union(observed.serviceKeys)
    for key in keys {
        let wanted = desired[key]
        let present = observed[key]
        let foreignDestinations = (present?.destinations ?? []).filter { !owned.owns($0.key, of: key) }
        if let wanted {
            let wantedKeys = Set(wanted.destinations.map(\.key))
            result.append(IPVSServiceEntry(service: wanted.service,
                                           destinations: wanted.destinations + foreignDestinations.filter { !wantedKeys.contains($0.key) }))
        } else if let present {
            if owned.owns(key) && foreignDestinations.isEmpty { continue }
            result.append(IPVSServiceEntry(service: present.service, destinations: foreignDestinations))
        }
    }
    return IPVSTable(result)
}

private extension IPVSChange {
    var serviceKey: IPVSServiceKey {
        switch self {
        case .addService(let s), .updateService(let s): return s.key
        case .deleteService(let k), .deleteDestination(let k, _), .addDestination(let k, _), .updateDestination(let k, _): return k
        }
    }
}

@Suite struct IPVSPlannerTests {
    @Test(arguments: planCases)
    func planMatchesTable(_ c: PlanCase) {
        #expect(IPVSPlanner.plan(desired: c.desired, observed: c.observed, owned: c.owned) == c.expected)
    }

    @Test func countersTakeNoPartInTheDiff() {
        let listing = IPVSListing(services: full.entries.map { entry in
            IPVSListedService(
                service: hashed(entry.service),
                statistics: IPVSStatistics(connections: 12345, inPackets: 99, outBytes: 1 << 40, connectionRate: 7),
                destinations: entry.destinations.map {
                    IPVSListedDestination(destination: $0, activeConnections: 17, inactiveConnections: 3,
                                          persistentConnections: 2, statistics: IPVSStatistics(connections: 5))
                })
        })
        #expect(IPVSPlanner.plan(desired: full, observed: listing.table, owned: IPVSOwnership(full)) == [])
    }

    @Test func tunnelFieldsCountOnlyWhereIPVSAdmSetsThem() {
        func tunnel(_ type: IPVSTunnelType, port: UInt16 = 0, checksum: IPVSTunnelChecksum = .none,
                    forwarding: IPVSForwarding = .tunnel) -> IPVSDestination {
            IPVSDestination(address: ip("192.168.1.1"), port: 80, forwarding: forwarding, tunnelType: type,
                            tunnelPort: port, tunnelChecksum: checksum)
        }
        let cases: [(IPVSDestination, IPVSDestination, Bool)] = [
            (tunnel(.ipip, forwarding: .masquerade), tunnel(.gue, port: 6080, checksum: .checksum, forwarding: .masquerade), true),
            (tunnel(.ipip), tunnel(.ipip, port: 6080, checksum: .checksum), true),
            (tunnel(.ipip), tunnel(.gre), false),
            (tunnel(.gre, checksum: .none), tunnel(.gre, port: 1, checksum: .none), true),
            (tunnel(.gre, checksum: .none), tunnel(.gre, checksum: .checksum), false),
            (tunnel(.gue, port: 6080), tunnel(.gue, port: 6081), false),
            (tunnel(.gue, port: 6080, checksum: .remoteChecksum), tunnel(.gue, port: 6080, checksum: .checksum), false),
            (tunnel(.gue, port: 6080, checksum: .checksum), tunnel(.gue, port: 6080, checksum: .checksum), true),
        ]
        for (desired, observed, same) in cases {
            #expect(desired.hasSameConfiguration(as: observed) == same, "\(desired) vs \(observed)")
            let plan = IPVSPlanner.plan(desired: table((service(web), [desired])), observed: table((service(web), [observed])),
                                        owned: .nothing)
            #expect(plan == (same ? [] : [.updateDestination(web, desired)]))
        }
    }

    @Test func ownershipOfATableAndUnion() {
        let a = IPVSOwnership(table((service(web), [r1])))
        let b = IPVSOwnership(table((service(tls), [r2])))
        #expect(a.owns(web) && !a.owns(tls))
        #expect(a.owns(r1.key, of: web) && !a.owns(r1.key, of: tls) && !a.owns(r2.key, of: web))
        let both = a.union(b)
        #expect(both.services == [web, tls])
        #expect(both.owns(r2.key, of: tls) && both.owns(r1.key, of: web))
        #expect(IPVSOwnership.nothing.services.isEmpty && IPVSOwnership.nothing.destinations.isEmpty)
    }

    @Test func reloadDropsEntriesOfTheOldConfiguration() {
        // Reload: ownership is the union of the old and the new configuration.
        let old = table((service(web), [r1, r2]), (service(tls), [r1]))
        let new = table((service(web), [r1]))
        let plan = IPVSPlanner.plan(desired: new, observed: old, owned: IPVSOwnership(old).union(IPVSOwnership(new)))
        #expect(plan == [.deleteDestination(web, r2.key), .deleteService(tls)])
    }

    @Test func summaryAndRendering() {
        let changes: [IPVSChange] = [
            .addService(service(web, "sh", flags: [.persistent, .scheduler1, .scheduler2, .onePacket], timeout: 300,
                                netmask: 0xFFFF_FF00, pe: "sip")),
            .addDestination(web, real("192.168.1.1", 80, .masquerade, weight: 2, upper: 100, lower: 5)),
            .updateService(service(mark7v6, "rr", flags: .persistent, timeout: 60, netmask: 64)),
            .updateDestination(mark7v6, IPVSDestination(address: ip("2001:db8:1::1"), port: 0, forwarding: .tunnel, weight: 3,
                                                        tunnelType: .gue, tunnelPort: 6080, tunnelChecksum: .remoteChecksum)),
            .updateDestination(dns, IPVSDestination(address: ip("192.168.2.1"), port: 53, forwarding: .tunnel,
                                                    tunnelType: .gre, tunnelChecksum: .checksum)),
            .deleteDestination(dns, dkey("192.168.2.2", 53)),
            .deleteService(.address(protocol: .sctp, address: ip("10.0.0.3"), port: 9)),
        ]
        let summary = IPVSPlanSummary(changes)
        #expect(summary == IPVSPlanSummary(servicesAdded: 1, servicesUpdated: 1, servicesDeleted: 1, destinationsAdded: 1,
                                           destinationsUpdated: 2, destinationsDeleted: 1))
        #expect(summary.total == 7)
        #expect(summary.description
            == "1 service added, 1 service updated, 1 service deleted, 1 real server added, 2 real servers updated, 1 real server deleted")
        #expect(IPVSPlanner.render(changes) == """
            + -A -t 10.0.0.1:80 -s sh -p 300 -M 255.255.255.0 --pe sip -o -b sh-fallback,sh-port
            + -a -t 10.0.0.1:80 -r 192.168.1.1:80 -m -w 2 -x 100 -y 5
            ~ -E -f 7 -6 -s rr -p 60 -M 64
            ~ -e -f 7 -6 -r [2001:db8:1::1]:0 -i -w 3 --tun-type gue --tun-port 6080 --tun-remcsum
            ~ -e -u 10.0.0.2:53 -r 192.168.2.1:53 -i -w 1 --tun-type gre --tun-csum
            - -d -u 10.0.0.2:53 -r 192.168.2.2:53
            - -D --sctp-service 10.0.0.3:9
            1 service added, 1 service updated, 1 service deleted, 1 real server added, 2 real servers updated, 1 real server deleted

            """)
        #expect(IPVSPlanner.render([]) == "no changes\n")
        #expect(IPVSPlanSummary([]).isEmpty)
        #expect(IPVSPlanSummary([.addService(service(web)), .addService(service(tls))]).description == "2 services added")
    }

    @Test func largeTablePlansLinearly() {
        // 10,000 services × 4 real servers: the benchmark's shape.
        var entries: [IPVSServiceEntry] = []
        for i in 0..<10_000 {
            let key = IPVSServiceKey.address(protocol: .tcp, address: .v4(0x0A00_0000 + UInt32(i)), port: 80)
            entries.append(IPVSServiceEntry(service: service(key), destinations: (1...4).map {
                IPVSDestination(address: .v4(0xC0A8_0000 + UInt32($0)), port: 80, forwarding: .masquerade)
            }))
        }
        let big = IPVSTable(entries)
        let load = IPVSPlanner.plan(desired: big, observed: IPVSTable(), owned: .nothing)
        #expect(IPVSPlanSummary(load) == IPVSPlanSummary(servicesAdded: 10_000, destinationsAdded: 40_000))
        #expect(IPVSPlanner.plan(desired: big, observed: big, owned: IPVSOwnership(big)) == [])

        var changed = entries
        changed[4321].destinations[2].weight = 7
        let oneWeight = IPVSPlanner.plan(desired: IPVSTable(changed), observed: big, owned: IPVSOwnership(big))
        #expect(oneWeight == [.updateDestination(changed[4321].service.key, changed[4321].destinations[2])])
    }

    @Test func randomTablesReconcileThroughASimulatedKernel() throws {
        var generator = RandomTables(rng: SeededGenerator(state: 0x7A4D_E2C0_1234_5678))
        var nonEmptyPlans = 0
        for round in 0..<200 {
            let (desired, observed, owned) = generator.pair()
            let plan = IPVSPlanner.plan(desired: desired, observed: observed, owned: owned)
            if !plan.isEmpty { nonEmptyPlans += 1 }

            // Every change is accepted by the (simulated) kernel in the order given, and changes something.
            var kernel = KernelTableSimulator(observed)
            for change in plan {
                try kernel.apply(change)
            }
            #expect(kernel.noOps.isEmpty, "round \(round): no-op updates \(kernel.noOps)")

            // Desired entries match, owned undesired ones are gone, foreign ones are untouched.
            let expected = expectedResult(desired: desired, observed: observed, owned: owned)
            #expect(sameConfiguration(kernel.table, expected), "round \(round): plan \(plan)")

            // Adoption: planning again against the result writes nothing.
            #expect(IPVSPlanner.plan(desired: desired, observed: kernel.table, owned: owned) == [], "round \(round)")

            // At most one change per object: no delete-and-add, no duplicate.
            var touchedServices: [IPVSServiceKey: Int] = [:]
            var touchedDestinations: Set<IPVSOwnership.Destination> = []
            for change in plan {
                switch change {
                case .addService(let s), .updateService(let s): touchedServices[s.key, default: 0] += 1
                case .deleteService(let k): touchedServices[k, default: 0] += 1
                case .addDestination(let k, let d), .updateDestination(let k, let d):
                    #expect(touchedDestinations.insert(.init(service: k, destination: d.key)).inserted, "round \(round)")
                case .deleteDestination(let k, let dk):
                    #expect(touchedDestinations.insert(.init(service: k, destination: dk)).inserted, "round \(round)")
                }
            }
            #expect(touchedServices.values.allSatisfy { $0 == 1 }, "round \(round)")

            // Ordering: services in key order, contiguous; a service's own add/update first; a deleted
            // service has no other change.
            let keys = plan.map(\.serviceKey)
            #expect(keys == keys.sorted(), "round \(round): \(plan)")
            for key in Set(keys) {
                let own = plan.filter { $0.serviceKey == key }
                for (index, change) in own.enumerated() {
                    switch change {
                    case .addService, .updateService: #expect(index == 0, "round \(round)")
                    case .deleteService: #expect(own.count == 1, "round \(round)")
                    default: break
                    }
                }
            }
        }
        // The generator must actually exercise the planner.
        #expect(nonEmptyPlans > 150)
    }
}
