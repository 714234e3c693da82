import Testing
@testable import TandemCore

/// ipvsadm's listing order, checked against real `ipvsadm -S -n` / `-Ln` output from Debian 12's
/// ipvsadm 1.31 on its 6.1 kernel (written down from a VM run, not by reasoning; the VM test
/// integration/vm/test_ipvsadm_order.py checks the same against random tables).
@Suite struct IPVSAdmOrderTests {
    static func ip(_ text: String) -> IPAddress { IPAddress(text)! }

    /// Issue 13's example: ipvsadm lists 192.0.2.10 before 10.10.0.1, and 192.0.2.31 and
    /// 203.0.113.41 before 10.10.0.11, because it subtracts addresses into a signed int.
    @Test func issueExampleMatchesIpvsadmSave() throws {
        let yaml = """
        serial: 1
        nodes:
          - {name: lvs-a, addresses: [192.0.2.2]}
          - {name: lvs-b, addresses: [192.0.2.3]}
        heartbeat: {auth: none}
        virtual_ips:
          - {address: 192.0.2.10/24, interface: eth0}
          - {address: 10.10.0.1/24, interface: eth1, nat_gateway: true}
        virtual_servers:
          - name: web
            address: 192.0.2.10
            port: 80
            forwarding: nat
            real_servers:
              - {address: 10.10.0.11, port: 8080}
              - {address: 192.0.2.31, port: 8080}
              - {address: 203.0.113.41, port: 8080}
          - name: internal-dns
            address: 10.10.0.1
            port: 53
            forwarding: nat
            real_servers:
              - {address: 10.10.0.21, port: 53}
        """
        let config = try ConfigParser.parse(yaml: yaml)
        // `ipvsadm -S -n` in the VM after `ipvsadm -R` of these rules.
        #expect(IPVSSaveFormat.render(config.desiredIPVSTable()) == """
        -A -t 192.0.2.10:80 -s wlc
        -a -t 192.0.2.10:80 -r 192.0.2.31:8080 -m -w 1
        -a -t 192.0.2.10:80 -r 203.0.113.41:8080 -m -w 1
        -a -t 192.0.2.10:80 -r 10.10.0.11:8080 -m -w 1
        -A -t 10.10.0.1:53 -s wlc
        -a -t 10.10.0.1:53 -r 10.10.0.21:53 -m -w 1

        """)
        // `ipvsadm -Ln`, whatever order the kernel dumps these in.
        let listing = IPVSListing(services: config.desiredIPVSTable().entries.reversed().map { entry in
            IPVSListedService(service: entry.service, destinations: entry.destinations.map { IPVSListedDestination(destination: $0) })
        })
        let pad = "         "
        #expect(IPVSListFormat.render(listing) == """
        IP Virtual Server version 1.2.1 (size=4096)
        Prot LocalAddress:Port Scheduler Flags
          -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
        TCP  192.0.2.10:80 wlc
          -> 192.0.2.31:8080              Masq    1      0          0\(pad)
          -> 203.0.113.41:8080            Masq    1      0          0\(pad)
          -> 10.10.0.11:8080              Masq    1      0          0\(pad)
        TCP  10.10.0.1:53 wlc
          -> 10.10.0.21:53                Masq    1      0          0\(pad)

        """)
    }

    /// Addresses spread over the whole 32-bit circle: ipvsadm's relation is a cycle (10 before 100
    /// before 200 before 10), so its output follows the kernel's dump order, which is the reverse
    /// of the order the real servers were added in. Each row: the order `ipvsadm -a` added them,
    /// and the order `ipvsadm -S -n` then printed (first octets).
    @Test(arguments: [
        ([10, 100, 200], [200, 10, 100]), ([200, 100, 10], [10, 100, 200]), ([100, 10, 200], [200, 10, 100]),
        ([100, 200, 10], [10, 100, 200]), ([10, 200, 100], [100, 200, 10]), ([200, 10, 100], [100, 200, 10]),
        ([1, 70, 140, 210], [140, 210, 1, 70]), ([210, 140, 70, 1], [140, 210, 1, 70]), ([70, 1, 210, 140], [140, 210, 1, 70]),
    ])
    func cyclicRealServersFollowTheDumpOrder(_ added: [UInt32], _ printed: [UInt32]) {
        let dump = added.reversed().map { IPVSDestinationKey(address: .v4($0 << 24 | 1), port: 80) }
        let sorted = IPVSAdmOrder.destinations(dumpOrder: dump, key: { $0 })
        #expect(sorted.map { $0.address } == printed.map { IPAddress.v4($0 << 24 | 1) })
    }

    /// IPv4 before IPv6 services, TCP before UDP, fd00:: before 2001:db8:: (word difference),
    /// then ports; the same for real servers. Real output, from any input order.
    @Test func ipv6ServicesAndRealServers() {
        let t6 = { (a: String, p: UInt16) in IPVSServiceKey.address(protocol: .tcp, address: Self.ip(a), port: p) }
        let expected = [IPVSServiceKey.address(protocol: .tcp, address: Self.ip("192.0.2.1"), port: 80),
                        t6("fd00::1", 80), t6("2001:db8::1", 80), t6("2001:db8::1", 443),
                        .address(protocol: .udp, address: Self.ip("2001:db8::1"), port: 53)]
        for shift in 0..<expected.count {
            let dump = Array(expected[shift...] + expected[..<shift]).reversed()
            #expect(IPVSAdmOrder.services(dumpOrder: Array(dump), key: { $0 }) == expected)
        }
        let dests = [IPVSDestinationKey(address: Self.ip("fd00::5"), port: 80),
                     IPVSDestinationKey(address: Self.ip("2001:db8::5"), port: 80),
                     IPVSDestinationKey(address: Self.ip("2001:db8::5"), port: 81)]
        #expect(IPVSAdmOrder.destinations(dumpOrder: dests.reversed(), key: { $0 }) == dests)
    }

    /// Marks compare the same way (3000000000 "before" 1), and print unsigned: Debian's ipvsadm
    /// 1.31 prints `-f -1294967296`, which its own `ipvsadm -R` refuses.
    @Test func fwmarksWrapAndPrintUnsigned() {
        #expect(IPVSAdmOrder.compare(IPVSServiceKey.fwmark(family: .ipv4, mark: 3_000_000_000), .fwmark(family: .ipv4, mark: 1)) < 0)
        #expect(IPVSAdmOrder.compare(IPVSServiceKey.fwmark(family: .ipv4, mark: 1), .fwmark(family: .ipv4, mark: 5)) < 0)
        let table = IPVSTable([IPVSServiceEntry(service: IPVSService(key: .fwmark(family: .ipv6, mark: 3_000_000_000), scheduler: "rr"),
                                                destinations: [])])
        #expect(IPVSSaveFormat.render(table) == "-A -f 3000000000 -6 -s rr\n")
    }

    /// glibc's merge sort on a consistent order is an ordinary sort.
    @Test func consistentOrderIsSorted() {
        var g = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            let base = UInt32.random(in: 0...UInt32.max, using: &g)
            let keys = (0..<Int.random(in: 0...12, using: &g)).map { _ in
                IPVSDestinationKey(address: .v4(base &+ UInt32.random(in: 0..<(1 << 30), using: &g)),
                                   port: UInt16.random(in: 1...3, using: &g))
            }
            let unique = Array(Set(keys)).shuffled(using: &g)
            let sorted = IPVSAdmOrder.destinations(dumpOrder: unique, key: { $0 })
            for (a, b) in zip(sorted, sorted.dropFirst()) { #expect(IPVSAdmOrder.compare(a, b) < 0) }
        }
    }
}
