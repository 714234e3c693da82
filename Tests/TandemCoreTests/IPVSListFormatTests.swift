import Foundation
import Testing
@testable import TandemCore

// Golden strings are written line by line (with `|` marking where ipvsadm's trailing spaces end)
// so that no editor can strip the trailing spaces that are part of the format.
private func lines(_ text: [String]) -> String {
    text.map { line in
        precondition(!line.hasSuffix(" "), "mark trailing spaces with |")
        return (line.hasSuffix("|") ? String(line.dropLast()) : line) + "\n"
    }.joined()
}

private func ip(_ text: String) -> IPAddress {
    guard let address = IPAddress(text) else { fatalError("bad test address \(text)") }
    return address
}

/// The table `Fixtures/ipvsadm/make-golden.sh` builds with ipvsadm in a VM (every service kind,
/// every scheduler-flag spelling, persistence with masks and an engine, all forwarding methods and
/// tunnel types), listed in shuffled order: the formatter sorts like ipvsadm.
private let goldenListing = IPVSListing(version: 0x01_02_01, connectionTableSize: 4096, services: [
    IPVSListedService(
        service: IPVSService(key: .fwmark(family: .ipv6, mark: 7), scheduler: "lc", flags: .persistent, timeout: 360),
        destinations: [
            IPVSListedDestination(destination: IPVSDestination(address: ip("2001:db8:1::2"), port: 0, forwarding: .tunnel,
                                                               tunnelType: .gre, tunnelChecksum: .none)),
        ]),
    IPVSListedService(
        service: IPVSService(key: .address(protocol: .tcp, address: ip("10.0.0.1"), port: 80), scheduler: "wlc"),
        destinations: [
            IPVSListedDestination(destination: IPVSDestination(address: ip("192.168.1.3"), port: 80, forwarding: .directRoute,
                                                               weight: 0, upperThreshold: 100, lowerThreshold: 10)),
            IPVSListedDestination(destination: IPVSDestination(address: ip("192.168.1.2"), port: 80, forwarding: .masquerade)),
        ]),
    IPVSListedService(
        service: IPVSService(key: .address(protocol: .udp, address: ip("10.0.0.2"), port: 53), scheduler: "sh",
                             flags: [.persistent, .scheduler1, .scheduler2], timeout: 300, netmask: 0xFFFF_FF00),
        destinations: [
            IPVSListedDestination(destination: IPVSDestination(address: ip("192.168.1.4"), port: 53, forwarding: .tunnel, weight: 5,
                                                               tunnelType: .gue, tunnelPort: 6080, tunnelChecksum: .checksum)),
        ]),
    IPVSListedService(
        service: IPVSService(key: .address(protocol: .udp, address: ip("10.0.0.5"), port: 5060), scheduler: "lc",
                             flags: .persistent, timeout: 360, persistenceEngine: "sip")),
    IPVSListedService(
        service: IPVSService(key: .address(protocol: .tcp, address: ip("2001:db8::1"), port: 443), scheduler: "mh",
                             flags: [.persistent, .scheduler2], timeout: 60, netmask: 64),
        destinations: [
            IPVSListedDestination(destination: IPVSDestination(address: ip("2001:db8:1::1"), port: 443, forwarding: .masquerade,
                                                               weight: 2)),
        ]),
    IPVSListedService(
        service: IPVSService(key: .fwmark(family: .ipv4, mark: 7), scheduler: "wrr", flags: [.scheduler1, .scheduler3]),
        destinations: [
            IPVSListedDestination(destination: IPVSDestination(address: ip("192.168.1.5"), port: 0, forwarding: .directRoute,
                                                               weight: 3)),
        ]),
])

private func fixture(_ name: String) throws -> String {
    let url = try #require(Bundle.module.url(forResource: name, withExtension: "txt", subdirectory: "Fixtures/ipvsadm"))
    return try String(contentsOf: url, encoding: .utf8)
}

/// Counters and connection numbers, with values chosen to cross every scaling step.
private let busyListing = IPVSListing(services: [
    IPVSListedService(
        service: IPVSService(key: .address(protocol: .tcp, address: ip("10.0.0.1"), port: 80), scheduler: "wlc"),
        statistics: IPVSStatistics(connections: 123_456_789, inPackets: 99_999_999, outPackets: 100_000_000,
                                   inBytes: 99_999_999_999, outBytes: 1_234_567_890_123_456,
                                   connectionRate: 12, inPacketRate: 999_999_999, outPacketRate: 0,
                                   inByteRate: 5_000_000_000, outByteRate: 7),
        destinations: [
            IPVSListedDestination(destination: IPVSDestination(address: ip("192.168.1.3"), port: 80, forwarding: .directRoute,
                                                               weight: 0, upperThreshold: 100, lowerThreshold: 10),
                                  activeConnections: 4, inactiveConnections: 12, persistentConnections: 2,
                                  statistics: IPVSStatistics(connections: 5, inPackets: 6, outPackets: 7, inBytes: 8,
                                                             outBytes: 9, connectionRate: 1, inPacketRate: 2,
                                                             outPacketRate: 123_456_789, inByteRate: 400_000_000,
                                                             outByteRate: 5)),
            IPVSListedDestination(destination: IPVSDestination(address: ip("192.168.1.2"), port: 80, forwarding: .masquerade),
                                  activeConnections: 1_234_567, inactiveConnections: 3),
        ]),
    IPVSListedService(
        service: IPVSService(key: .address(protocol: .sctp, address: ip("10.0.0.3"), port: 9), scheduler: "rr")),
    IPVSListedService(
        service: IPVSService(key: .address(protocol: .udp, address: ip("10.0.0.4"), port: 9), scheduler: "sh",
                             flags: [.scheduler3, .onePacket], persistenceEngine: "sip")),
])

@Suite struct IPVSListFormatTests {
    @Test func standardListingOfASimpleTable() {
        let listing = IPVSListing(services: [
            IPVSListedService(
                service: IPVSService(key: .address(protocol: .tcp, address: ip("10.0.0.1"), port: 80), scheduler: "wlc"),
                destinations: [
                    IPVSListedDestination(destination: IPVSDestination(address: ip("192.168.1.2"), port: 80, forwarding: .masquerade),
                                          activeConnections: 0, inactiveConnections: 0),
                ]),
        ])
        #expect(IPVSListFormat.render(listing) == lines([
            "IP Virtual Server version 1.2.1 (size=4096)",
            "Prot LocalAddress:Port Scheduler Flags",
            "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn",
            "TCP  10.0.0.1:80 wlc",
            "  -> 192.168.1.2:80               Masq    1      0          0         |",
        ]))
    }

    @Test(arguments: [
        (IPVSListFormat.View.standard, false, "list"),
        (.stats, false, "list-stats"),
        (.stats, true, "list-stats-exact"),
        (.rate, false, "list-rate"),
        (.thresholds, false, "list-thresholds"),
        (.persistentConnections, false, "list-persistent-conn"),
        (.tunnelInfo, false, "list-tun-info"),
    ])
    func matchesRealIPVSAdmOutput(_ view: IPVSListFormat.View, _ exact: Bool, _ name: String) throws {
        #expect(IPVSListFormat.render(goldenListing, view: view, exact: exact) == (try fixture(name)))
    }

    @Test func ruleNotationMatchesIPVSAdmSave() throws {
        // `ipvsadm -S -n` of the same table; it leaves thresholds out, the plan notation adds -x/-y.
        var saved: [String] = []
        for entry in goldenListing.table.entries {
            saved.append("-A " + IPVSAdmNotation.serviceRule(entry.service))
            for var destination in entry.destinations {
                destination.upperThreshold = 0
                destination.lowerThreshold = 0
                saved.append("-a " + IPVSAdmNotation.destinationRule(destination, of: entry.service.key))
            }
        }
        #expect(saved.map { $0 + "\n" }.joined() == (try fixture("save")))
    }

    @Test func standardListingWithConnectionsOpsAndUnnamedFlag() {
        #expect(IPVSListFormat.render(busyListing) == lines([
            "IP Virtual Server version 1.2.1 (size=4096)",
            "Prot LocalAddress:Port Scheduler Flags",
            "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn",
            "TCP  10.0.0.1:80 wlc",
            "  -> 192.168.1.2:80               Masq    1      1234567    3         |",
            "  -> 192.168.1.3:80               Route   0      4          12        |",
            // ipvsadm prints the engine only for persistent services, and "()" for a flag sh has no name for.
            "UDP  10.0.0.4:9 sh () ops",
            "SCTP 10.0.0.3:9 rr",
        ]))
    }

    @Test func statsListingScalesLargeNumbers() {
        #expect(IPVSListFormat.render(busyListing, view: .stats) == lines([
            "IP Virtual Server version 1.2.1 (size=4096)",
            "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes",
            "  -> RemoteAddress:Port",
            "TCP  10.0.0.1:80                   123456K 99999999  100000K   99999M    1234T",
            "  -> 192.168.1.2:80                      0        0        0        0        0",
            "  -> 192.168.1.3:80                      5        6        7        8        9",
            "UDP  10.0.0.4:9                          0        0        0        0        0",
            "SCTP 10.0.0.3:9                          0        0        0        0        0",
        ]))
        let exact = IPVSListFormat.render(busyListing, view: .stats, exact: true).split(separator: "\n")
        #expect(exact[3] == "TCP  10.0.0.1:80                  123456789 99999999 100000000 99999999999 1234567890123456")
    }

    @Test func rateListingScalesOnlyByteRatesOfRealServers() {
        let text = IPVSListFormat.render(busyListing, view: .rate)
        #expect(Array(text.split(separator: "\n").prefix(6)) == [
            "IP Virtual Server version 1.2.1 (size=4096)",
            "Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS",
            "  -> RemoteAddress:Port",
            "TCP  10.0.0.1:80                        12  999999K        0    5000M        7",
            "  -> 192.168.1.2:80                      0        0        0        0        0",
            "  -> 192.168.1.3:80                      1        2 123456789  400000K        5",
        ])
    }

    @Test func thresholdAndPersistentViewsShowConnectionNumbers() {
        let thresholds = IPVSListFormat.render(busyListing, view: .thresholds).split(separator: "\n")
        #expect(thresholds[4] == "  -> 192.168.1.2:80               0          0          1234567    3         ")
        #expect(thresholds[5] == "  -> 192.168.1.3:80               100        10         4          12        ")
        let persistent = IPVSListFormat.render(busyListing, view: .persistentConnections).split(separator: "\n")
        #expect(persistent[5] == "  -> 192.168.1.3:80               0         2           4          12        ")
    }

    @Test(arguments: [
        (UInt64(0), false, "        0"),
        (99_999_999, false, " 99999999"),
        (100_000_000, false, "  100000K"),
        (999_999_999, false, "  999999K"),
        (1_000_000_000, false, "    1000M"),
        (99_999_999_999, false, "   99999M"),
        (100_000_000_000, false, "     100G"),
        (99_999_999_999_999, false, "   99999G"),
        (100_000_000_000_000, false, "     100T"),
        (UInt64.max, false, "18446744T"),
        (12, true, "       12"),
        (12_345_678, true, " 12345678"),
        (123_456_789, true, " 123456789"),
        (UInt64.max, true, " 18446744073709551615"),
    ])
    func largeNumbers(_ value: UInt64, _ exact: Bool, _ expected: String) {
        #expect(IPVSListFormat.largeNumber(value, exact: exact) == expected)
    }

    @Test func emptyTableAndOtherVersion() {
        #expect(IPVSListFormat.render(IPVSListing(version: 0x01_02_01, connectionTableSize: 1 << 20)) == lines([
            "IP Virtual Server version 1.2.1 (size=1048576)",
            "Prot LocalAddress:Port Scheduler Flags",
            "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn",
        ]))
        #expect(IPVSListing(version: 0x01_03_0A).versionString == "1.3.10")
    }

    @Test func listingTableDropsCounters() {
        let table = busyListing.table
        #expect(table.entries.count == 3)
        #expect(table.entries.first?.service.key == .address(protocol: .tcp, address: ip("10.0.0.1"), port: 80))
        #expect(table[.address(protocol: .tcp, address: ip("10.0.0.1"), port: 80)]?.destinations.map(\.weight) == [1, 0])
    }
}
