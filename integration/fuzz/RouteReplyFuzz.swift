// Fuzz target `rtnetlink`: rtnetlink messages as the link and address monitor and the address
// table read them: a datagram walked as libnl walks it, each link and address message decoded by
// `RouteMessages` (what RouteNetlink.swift's VALID callback calls for notifications and dump
// replies), then fed to `RouteWatch` as `LiveRouteMonitor` feeds it: notification by notification,
// then as a dump after an overrun.
//
// Each message is also decoded as a route of the cluster's table (`ClusterRouteMessages`, what
// `LiveAnnouncedRoutes.routes()` reads).
//
// Properties checked on every input:
// 1. Nothing traps, whatever the bytes.
// 2. Decoding a datagram gives what decoding its messages one by one gives.
// 3. A decoded route, encoded as Tandem's request and decoded again, is the same route (its
//    destination masked to its prefix, as the request writes it).

@testable import TandemCore

func rtnetlinkFuzz(_ input: [UInt8]) {
    let notifications = RouteMessages.notifications(inDatagram: input)
    var oneByOne: [RouteNotification] = []
    var offset = 0
    while input.count - offset >= 16 {
        let length = Int(input[offset]) | Int(input[offset + 1]) << 8 | Int(input[offset + 2]) << 16 | Int(input[offset + 3]) << 24
        guard length >= 16, length <= input.count - offset else { break }
        let message = input[offset..<(offset + length)]
        if let n = RouteMessages.notification(message: message) { oneByOne.append(n) }
        for table: UInt32 in [100, 70000] {
            if let route = ClusterRouteMessages.route(message: message, table: table) { checkRouteRoundTrip(route, table: table) }
        }
        offset += (length + 3) & ~3
    }
    precondition(oneByOne == notifications, "a datagram decodes differently from its messages")

    let vips = [VirtualIP(prefix: IPPrefix("10.0.0.100/24")!, interface: "v0", label: "v0:vip"),
                VirtualIP(prefix: IPPrefix("2001:db8::100/64")!, interface: "v0")]
    var watch = RouteWatch(interfaces: ["v0", "v1", "lo"], vips: vips, ownPorts: [31441],
                           watchedAddresses: [IPAddress("10.0.0.1")!])
    for vip in vips { watch.track(vip, present: true) }
    watch.expect(vips[0], present: false)
    for notification in notifications { _ = watch.apply(notification) }

    var links: [LinkState] = []
    var addresses: [InterfaceAddress] = []
    for notification in notifications {
        switch notification {
        case .linkChanged(let link): links.append(link)
        case .addressAdded(let address, _): addresses.append(address)
        default: break
        }
    }
    let names = Dictionary(links.map { ($0.index, $0.name) }, uniquingKeysWith: { a, _ in a })
    for index in addresses.indices { addresses[index].interface = names[addresses[index].interfaceIndex] ?? "" }
    _ = watch.resynchronise(links: links, addresses: addresses, afterOverrun: true)
}

/// Property 3 for one decoded route.
func checkRouteRoundTrip(_ route: ClusterRoute, table: UInt32) {
    let payload = ClusterRouteMessages.request(route, table: table, delete: false)
    let length = UInt32(16 + payload.count)
    let message = withUnsafeBytes(of: length) { Array($0) } + [24, 0, 2, 0] + [UInt8](repeating: 0, count: 8) + payload
    var expected = route
    expected.destination.address = route.destination.address.masked(prefixLength: route.destination.length)
    precondition(ClusterRouteMessages.route(message: message[...], table: table) == expected, "a route does not survive encoding")
}

/// Seeds besides the unit tests' captured messages (run.sh extracts those): none are needed.
func rtnetlinkSeeds() -> [(String, [UInt8])] { [] }
