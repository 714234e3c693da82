import Testing
@testable import TandemCore
@testable import TandemKernel

/// RTM_NEWROUTE dump replies captured from a Linux 6.x kernel for table 100 of a fresh namespace
/// after `ip route add blackhole 10.0.5.10/32 table 100 proto 250`, `ip -6 route add blackhole
/// fd00::10/128 table 100 proto 250`, `ip route add unreachable 10.0.6.0/24 table 100 metric 7`
/// and `ip route add 10.0.7.1/32 dev lo table 100 proto static`, one message each.
private enum RouteDumpCaptures {
    static let blackhole4 = hex("2c00000018000200010000005c3600000220000064fa00060000000008000f0064000000080001000a00050a")
    static let unreachable = hex("3400000018000200010000005c36000002180000640300070000000008000f0064000000080001000a0006000800060007000000")
    static let unicastLo = hex("3400000018000200010000005c360000022000006404fd010000000008000f0064000000080001000a0007010800040001000000")
    static let blackhole6 = hex("""
        74000000 18000200 01000000 5c360000 0a800000 64fa0006 00000000 08000f00 64000000
        14000100 fd000000 00000000 00000000 00000010 08000600 00040000 08000400 01000000
        24000c00 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000
        05001400 00000000
        """)
}

@Suite struct ClusterRouteMessagesTests {
    @Test func decodesWhatTheKernelDumped() {
        func decode(_ bytes: [UInt8]) -> String? { ClusterRouteMessages.route(message: bytes[...], table: 100)?.description }
        #expect(decode(RouteDumpCaptures.blackhole4) == "blackhole 10.0.5.10/32 proto 250")
        #expect(decode(RouteDumpCaptures.blackhole6) == "blackhole fd00::10/128 proto 250 metric 1024")
        #expect(decode(RouteDumpCaptures.unreachable) == "type 7 10.0.6.0/24 proto 3 metric 7")
        #expect(decode(RouteDumpCaptures.unicastLo) == "unicast 10.0.7.1/32 dev #1 proto 4")
        // What Tandem installs for these VIPs is exactly what the kernel lists after `ip route add`.
        #expect(ClusterRouteMessages.route(message: RouteDumpCaptures.blackhole4[...], table: 100)
                == ClusterRoute.announcement(of: IPAddress("10.0.5.10")!, protocol: 250))
        #expect(ClusterRouteMessages.route(message: RouteDumpCaptures.blackhole6[...], table: 100)
                == ClusterRoute.announcement(of: IPAddress("fd00::10")!, protocol: 250))
    }

    @Test func keepsOnlyTheTableAskedForAndDropsWhatIsNotARoute() {
        #expect(ClusterRouteMessages.route(message: RouteDumpCaptures.blackhole4[...], table: 101) == nil)
        #expect(ClusterRouteMessages.route(message: RouteDumpCaptures.blackhole4.prefix(27), table: 100) == nil)
        var cloned = RouteDumpCaptures.blackhole4
        cloned[25] = 0x02  // rtm_flags |= RTM_F_CLONED (0x200)
        #expect(ClusterRouteMessages.route(message: cloned[...], table: 100) == nil)
        var deleted = RouteDumpCaptures.blackhole4
        deleted[4] = 25  // RTM_DELROUTE
        #expect(ClusterRouteMessages.route(message: deleted[...], table: 100) == nil)
    }

    @Test func encodesAddAndDeleteAsIPRouteDoes() {
        let route = ClusterRoute.announcement(of: IPAddress("10.0.5.10")!, protocol: 250)
        #expect(ClusterRouteMessages.request(route, table: 100, delete: false) == hex("""
            02200000 64fa0006 00000000  08000100 0a00050a  08000f00 64000000  08000600 00000000
            """))
        // A delete asks for any scope (RT_SCOPE_NOWHERE) and the exact type, protocol and metric.
        #expect(ClusterRouteMessages.request(route, table: 100, delete: true) == hex("""
            02200000 64faff06 00000000  08000100 0a00050a  08000f00 64000000  08000600 00000000
            """))
        // A table above 255 goes in RTA_TABLE only.
        #expect(ClusterRouteMessages.request(route, table: 1000, delete: false).prefix(12) == hex("02200000 00fa0006 00000000")[...])
        #expect(ClusterRouteMessages.request(route, table: 1000, delete: false)[20..<28] == hex("08000f00 e8030000")[...])
    }

    /// A request wrapped as a kernel reply decodes back to the same route, for every shape.
    @Test(arguments: [
        ClusterRoute.announcement(of: IPAddress("10.0.5.10")!, protocol: 250),
        ClusterRoute.announcement(of: IPAddress("2001:db8::7")!, protocol: 99),
        ClusterRoute(destination: IPPrefix("192.0.2.0/24")!, kind: .unicast(interfaceIndex: 3), protocolNumber: 4, priority: 20),
        ClusterRoute(destination: IPPrefix("0.0.0.0/0")!, kind: .other(7), protocolNumber: 250),
    ])
    func roundTrip(_ route: ClusterRoute) {
        for table: UInt32 in [100, 70000] {
            let payload = ClusterRouteMessages.request(route, table: table, delete: false)
            let length = UInt32(16 + payload.count)
            let message = withUnsafeBytes(of: length) { Array($0) } + [24, 0, 2, 0] + [UInt8](repeating: 0, count: 8) + payload
            #expect(ClusterRouteMessages.route(message: message[...], table: table) == route)
        }
    }
}
