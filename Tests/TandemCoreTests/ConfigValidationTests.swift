import Foundation
import Testing
@testable import TandemCore

/// Every validation error, with its message and line.
@Suite struct ConfigValidationTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let yaml: String
        let expected: String
        var testDescription: String { expected }
    }

    static let lineCases: [Case] = [
        // Strict scalars.
        Case(yaml: minimal(replacingLine: 1, with: "serial: one"), expected: "serial: \"one\" is not a whole number (line 1)"),
        Case(yaml: minimal(replacingLine: 1, with: "serial: -3"), expected: "serial: -3 is out of range: use 0…9223372036854775807 (line 1)"),
        Case(yaml: minimal(replacingLine: 8, with: "  interval: 5"),
             expected: "heartbeat.interval: \"5\" is not a duration: write a whole number with a unit, like 20ms, 2s, 5m or 1h (line 8)"),
        Case(yaml: minimal(replacingLine: 8, with: "  interval: 1.5s"),
             expected: "heartbeat.interval: \"1.5s\" is not a duration: write a whole number with a unit, like 20ms, 2s, 5m or 1h (line 8)"),
        Case(yaml: minimal(replacingLine: 8, with: "  interval: 0ms"), expected: "heartbeat.interval: 0s is too short: at least 1ms (line 8)"),
        Case(yaml: minimal(replacingLine: 9, with: "  key_file: key"), expected: "heartbeat.key_file: \"key\" must be an absolute path (line 9)"),
        Case(yaml: minimal(replacingLine: 4, with: "    addresses: [10.0.0.256]"),
             expected: "nodes[0].addresses[0]: \"10.0.0.256\" is not an IPv4 or IPv6 address (line 4)"),
        Case(yaml: minimal(replacingLine: 4, with: "    addresses: [010.0.0.1]"),
             expected: "nodes[0].addresses[0]: \"010.0.0.1\" is not an IPv4 or IPv6 address (line 4)"),
        Case(yaml: minimal(replacingLine: 11, with: "  - address: 10.0.0.10"),
             expected: "virtual_ips[0].address: \"10.0.0.10\" needs a prefix length, like 192.0.2.10/24 or 2001:db8::10/64 (line 11)"),
        Case(yaml: minimal(replacingLine: 11, with: "  - address: 10.0.0.10/33"),
             expected: "virtual_ips[0].address: \"10.0.0.10/33\" is not an address with a valid prefix length (IPv4 /0…/32, IPv6 /0…/128) (line 11)"),
        Case(yaml: minimal(replacingLine: 11, with: "  - address: 224.0.0.5/24"),
             expected: "virtual_ips[0].address: 224.0.0.5 cannot be a virtual IP: use a unicast address (line 11)"),
        Case(yaml: minimal(replacingLine: 12, with: "    interface: a-very-long-interface-name"),
             expected: "virtual_ips[0].interface: \"a-very-long-interface-name\" is not a valid interface name (at most 15 characters, no '/', ':' or spaces) (line 12)"),
        Case(yaml: minimal(replacingLine: 16, with: "    port: 0"), expected: "virtual_servers[0].port: port 0 (every port) needs persistence, as ipvsadm requires (\"Zero port specified for non-persistent service\"): add persistence, or use a fwmark service to match several ports (line 16)"),
        Case(yaml: minimal(replacingLine: 16, with: "    port: 65536"), expected: "virtual_servers[0].port: 65536 is not a valid port (1…65535) (line 16)"),
        Case(yaml: minimal(replacingLine: 20, with: "        port: 0"),
             expected: "virtual_servers[0].real_servers[0].port: 0 is not a valid port (1…65535) (line 20)"),
        Case(yaml: minimal(replacingLine: 21, with: "        weight: 70000"),
             expected: "virtual_servers[0].real_servers[0].weight: 70000 is not a valid weight (0…65535) (line 21)"),
        Case(yaml: minimal(replacingLine: 21, with: "        weight: -1"),
             expected: "virtual_servers[0].real_servers[0].weight: -1 is not a valid weight (0…65535) (line 21)"),
        Case(yaml: minimal(replacingLine: 17, with: "    forwarding: direct"),
             expected: "virtual_servers[0].forwarding: \"direct\" is not one of: nat, dr, tunnel (line 17)"),
        // Unknown, repeated and missing keys.
        Case(yaml: minimal(replacingLine: 17, with: "    shceduler: rr"),
             expected: "virtual_servers[0].shceduler: unknown key; did you mean \"scheduler\"? (line 17)"),
        Case(yaml: minimal(replacingLine: 3, with: "  - name: a\n    colour: blue"),
             expected: "nodes[0].colour: unknown key; allowed here: name, addresses, priority, track_interfaces (line 4)"),
        Case(yaml: minimal(replacingLine: 16, with: "    port: 80\n    port: 81"), expected: "virtual_servers[0].port: appears twice; keep one (line 17)"),
        Case(yaml: minimal(replacingLine: 9, with: ""),
             expected: "heartbeat: missing key_file: heartbeats are authenticated with HMAC-SHA256 by default; give key_file, or write auth: none to opt out (line 8)"),
        Case(yaml: minimal(replacingLine: 1, with: ""),
             expected: "(top level): missing required key \"serial\": a whole number that you raise with every change (line 2)"),
        Case(yaml: minimal(replacingLine: 17, with: "    scheduler: rr"),
             expected: "virtual_servers[0]: missing required key \"forwarding\": nat, dr or tunnel (line 14)"),
        Case(yaml: minimal(appending: "sync: [eth1]"),
             expected: "sync: expected a mapping of keys to values, found a list (line 22)"),
        // Semantic rules.
        Case(yaml: minimal(replacingLine: 17, with: "    forwarding: dr\n    scheduler: fastest"),
             expected: "virtual_servers[0].scheduler: \"fastest\" is not a kernel scheduler: use one of rr wrr lc wlc lblc lblcr dh sh sed nq fo ovf mh twos none (module ip_vs_<name>; names are case-sensitive) (line 18)"),
        Case(yaml: minimal(replacingLine: 17, with: "    forwarding: dr\n    scheduler: rr\n    scheduler_flags: [sh-port]"),
             expected: "virtual_servers[0].scheduler_flags[0]: sh-port belongs to the sh scheduler, not rr (line 19)"),
        Case(yaml: minimal(replacingLine: 17, with: "    forwarding: dr\n    one_packet: true"),
             expected: "virtual_servers[0].one_packet: one-packet scheduling is for UDP services only; remove it or use protocol: udp (line 18)"),
        Case(yaml: minimal(replacingLine: 17, with: "    forwarding: dr\n    persistence: {netmask: 255.0.255.0}"),
             expected: "virtual_servers[0].persistence.netmask: \"255.0.255.0\" is not an IPv4 netmask: write a contiguous mask like 255.255.255.0 or /24 (0.0.0.0 or /0 for one persistence template for all clients) (line 18)"),
        Case(yaml: minimal(replacingLine: 17, with: "    forwarding: tunnel\n    tunnel: {type: gue}"),
             expected: "virtual_servers[0].tunnel: a GUE tunnel needs the port the real server decapsulates on (line 18)"),
        Case(yaml: minimal(replacingLine: 21, with: "        lower_threshold: 10"),
             expected: "virtual_servers[0].real_servers[0].lower_threshold: a lower threshold needs an upper threshold above it (the kernel refuses lower > upper) (line 21)"),
        Case(yaml: minimal(replacingLine: 8, with: "  interval: 100ms\n  dead_time: 100ms"),
             expected: "heartbeat.dead_time: dead time 100ms must be longer than the interval 100ms (at least 2×, usually 3×) (line 9)"),
        Case(yaml: minimal(replacingLine: 9, with: "  key_file: /k\n  auth: none"),
             expected: "heartbeat.key_file: auth is none, so a key file makes no sense: remove key_file or remove auth: none (line 9)"),
        Case(yaml: minimal(appending: "    health_check: {type: tcp, interval: 1s, timeout: 2s}"),
             expected: "virtual_servers[0].health_check.timeout: timeout 2s is longer than the interval 1s: checks would overlap; shorten the timeout or lengthen the interval (line 22)"),
        Case(yaml: minimal(appending: "    health_check: {type: exec, command: check.sh %h}"),
             expected: "virtual_servers[0].health_check.command: \"check.sh\" must be an absolute path: commands run without a shell or PATH (line 22)"),
        Case(yaml: minimal(appending: "    health_check: {type: http, status: [200-2000]}"),
             expected: "virtual_servers[0].health_check.status[0]: \"200-2000\" is not an HTTP status code or range like 200 or 200-299 (line 22)"),
        Case(yaml: minimal(appending: "    health_check: {type: tcp, expect: \"(unclosed\"}"),
             expected: "virtual_servers[0].health_check.expect: \"(unclosed\" is not a valid regular expression (line 22)"),
        Case(yaml: minimal(appending: "    health_check: {type: tcp, path: /}"),
             expected: "virtual_servers[0].health_check.path: unknown key; allowed here: type, interval, timeout, rise, fall, failure_action, warmup, port, send, expect (line 22)"),
        Case(yaml: minimal(appending: "sync: {interface: eth1, group: 10.1.1.1}"),
             expected: "sync.group: 10.1.1.1 is not a multicast address (224.0.0.0/4 or ff00::/8) (line 22)"),
        // Cross-checks, reported at the offending item's line.
        Case(yaml: minimal(replacingLine: 5, with: "  - name: a"),
             expected: "nodes[1].name: both nodes are called \"a\": give each router its own name (line 5)"),
        Case(yaml: minimal(replacingLine: 6, with: "    addresses: [10.0.0.1]"),
             expected: "nodes[1].addresses[0]: 10.0.0.1 is also an address of a: the two nodes must differ (line 6)"),
        Case(yaml: minimal(replacingLine: 6, with: "    addresses: [10.0.0.2, 10.9.0.2]"),
             expected: "nodes[1].addresses: b has 2 heartbeat paths and a has 1: path i of one node talks to path i of the other, so give both the same number (line 6)"),
        Case(yaml: minimal(replacingLine: 6, with: "    addresses: [\"fd00::2\"]"),
             expected: "nodes[1].addresses[0]: path 0 is IPv6 here but IPv4 on a: a path joins two addresses of one family (line 6)"),
        Case(yaml: minimal(replacingLine: 5, with: "  - name: b\n  - name: c\n    addresses: [10.0.0.3]"),
             expected: "nodes[1]: missing required key \"addresses\": this node's heartbeat address, one per path (line 5)"),
        Case(yaml: minimal(replacingLine: 15, with: "    address: 10.0.0.11"),
             expected: "virtual_servers[0].address: 10.0.0.11 is not one of the virtual_ips: add it there, or use a fwmark service (line 15)"),
        Case(yaml: minimal(replacingLine: 20, with: "        port: 8080"),
             expected: "virtual_servers[0].real_servers[0].port: 8080 differs from the service port 80: with direct routing packets reach the real server unchanged, so it must listen on 80 (line 20)"),
        Case(yaml: minimal(replacingLine: 16, with: "    port: 0\n    persistence: {timeout: 300s}"),
             expected: "virtual_servers[0].real_servers[0].port: 80 differs from the service port 0 (every port): with direct routing packets reach the real server unchanged, on the port each client used, so leave the real server's port out (line 21)"),
        Case(yaml: minimal(replacingLine: 19, with: "      - address: \"fd00::21\""),
             expected: "virtual_servers[0].real_servers[0].address: fd00::21 is IPv6 but the service is IPv4: only tunnel real servers may differ in family (line 19)"),
        Case(yaml: minimal(appending: "      - {address: 10.0.0.21, port: 80}"),
             expected: "virtual_servers[0].real_servers[1]: 10.0.0.21:80 is already real_servers[0] (line 22)"),
        Case(yaml: minimal(appending: "  - {name: web, fwmark: 3, forwarding: dr}"),
             expected: "virtual_servers[1].name: \"web\" is already the name of virtual_servers[0] (line 22)"),
        Case(yaml: minimal(appending: "  - {name: web2, address: 10.0.0.10, port: 80, forwarding: nat}"),
             expected: "virtual_servers[1]: tcp 10.0.0.10:80 is already virtual_servers[0] (web) (line 22)"),
        Case(yaml: minimal(appending: "  - {name: m, fwmark: 3, port: 80, forwarding: dr}"),
             expected: "virtual_servers[1].port: a fwmark service is matched by its mark alone; remove port (line 22)"),
        Case(yaml: minimal(appending: "  - {address: 10.0.0.10, port: 81, forwarding: dr}"),
             expected: "virtual_servers[1]: missing required key \"name\" (line 22)"),
    ]

    @Test(arguments: lineCases)
    func reportsErrorWithPathAndLine(_ c: Case) {
        let found = errors(of: c.yaml)
        #expect(found.contains(c.expected), "got: \(found)")
    }

    /// A refused interval is not replaced by the 1 s default and compared with the dead time:
    /// the operator would read an error about a value nobody wrote.
    @Test(arguments: ["0ms", "50", "0.5s"])
    func aRefusedIntervalIsSaidOnce(_ interval: String) {
        let found = errors(of: minimal(replacingLine: 8, with: "  interval: \(interval)\n  dead_time: 200ms"))
        #expect(found.count == 1 && found[0].hasPrefix("heartbeat.interval: "), "got: \(found)")
    }

    @Test func minimalConfigIsValid() {
        #expect(errors(of: minimalConfig) == [])
    }

    @Test func reportsEveryErrorNotOnlyTheFirst() {
        let yaml = minimal(replacingLine: 16, with: "    port: 0")
            .replacingOccurrences(of: "interval: 100ms", with: "interval: 5")
            .replacingOccurrences(of: "weight: 5", with: "weight: lots")
        #expect(errors(of: yaml).count == 3)
    }

    @Test func vipAddressIsNotAHeartbeatAddress() {
        let yaml = minimal(replacingLine: 11, with: "  - address: 10.0.0.1/24")
            .replacingOccurrences(of: "address: 10.0.0.10\n", with: "address: 10.0.0.1\n")
        #expect(errors(of: yaml).contains(
            "virtual_ips[0].address: 10.0.0.1 is a node's heartbeat address: a VIP moves between nodes, so it must be an address of its own (line 11)"))
    }

    @Test func natWithoutGatewayIsAWarning() throws {
        let yaml = minimal(replacingLine: 17, with: "    forwarding: nat")
        let result = try ConfigParser.parseWithWarnings(yaml: yaml)
        #expect(result.warnings.map(\.description).filter { !$0.hasPrefix("heartbeat") } == [
            "virtual_servers[0].forwarding: NAT real servers must route replies through the active router: add the internal gateway address to virtual_ips with nat_gateway: true (line 17)",
        ])
    }

    /// Commands run without a shell: shell syntax in the one-line form reaches the program as
    /// arguments (`/x.sh; echo y` runs /x.sh with ";" "echo" "y"), so it is pointed out.
    @Test func shellSyntaxInACommandIsAWarning() throws {
        let yaml = minimalConfig + "\nnotify:\n  active: /usr/local/bin/on-active.sh; echo done\n  standby: [/bin/sh, -c, \"a; b\"]\n"
        let result = try ConfigParser.parseWithWarnings(yaml: yaml)
        #expect(result.config.notify.active == ["/usr/local/bin/on-active.sh;", "echo", "done"])
        let warnings = result.warnings.map(\.description).filter { $0.hasPrefix("notify") }
        #expect(warnings.count == 1 && warnings[0].hasPrefix("notify.active: contains `;`, but commands run without a shell"), "\(warnings)")
    }

    /// An unknown key is skipped and the rest read as written, so the cross-checks still run:
    /// one pass reports a typo and a clash between nodes. An error that leaves a value out
    /// (here a duration without a unit) still holds the cross-checks back, as they could
    /// blame what is missing.
    @Test func aKeyTypoDoesNotHideTheCrossChecks() {
        let clash = minimal(replacingLine: 6, with: "    addresses: [10.0.0.1]")
        let crossCheck = errors(of: clash)
        #expect(crossCheck.count == 1, "\(crossCheck)")
        let typo = clash.replacingOccurrences(of: "  interval: 100ms", with: "  interval: 100ms\n  intreval: 5ms")
        let both = errors(of: typo)
        #expect(both.contains { $0.hasPrefix("heartbeat.intreval: unknown key; did you mean \"interval\"?") }, "\(both)")
        #expect(both.contains(crossCheck[0]), "\(both)")
        let loose = clash.replacingOccurrences(of: "  interval: 100ms", with: "  interval: 100")
        let held = errors(of: loose)
        #expect(held.count == 1 && held[0].hasPrefix("heartbeat.interval:"), "\(held)")
    }

    /// A pair's VIP on lo cannot be announced, and a VIP at the top or bottom of its subnet is
    /// the subnet's broadcast or network address: warnings, each naming the fix.
    @Test func vipsThatCannotWorkAsWrittenAreWarnings() throws {
        let onLo = try ConfigParser.parseWithWarnings(yaml: minimal(replacingLine: 12, with: "    interface: lo"))
        #expect(onLo.warnings.map(\.description).contains { $0.hasPrefix("virtual_ips[0].interface: lo has no link layer: no gratuitous ARP") },
                "\(onLo.warnings)")
        let broadcast = minimalConfig.replacingOccurrences(of: "10.0.0.10/24", with: "10.0.0.255/24")
            .replacingOccurrences(of: "    address: 10.0.0.10\n", with: "    address: 10.0.0.255\n")
        let edge = try ConfigParser.parseWithWarnings(yaml: broadcast)
        #expect(edge.warnings.map(\.description).contains { $0.hasPrefix("virtual_ips[0].address: 10.0.0.255 is the broadcast address of 10.0.0.255/24's subnet") },
                "\(edge.warnings)")
        #expect(Validator.subnetEdge(IPPrefix("10.0.0.0/24")!) == "network")
        #expect(Validator.subnetEdge(IPPrefix("10.0.0.1/31")!) == nil)
        #expect(Validator.subnetEdge(IPPrefix("10.0.0.10/24")!) == nil)
        #expect(Validator.subnetEdge(IPPrefix("fd00:99::/64")!) == "subnet-router anycast")
        #expect(Validator.subnetEdge(IPPrefix("fd00:99::10/64")!) == nil && Validator.subnetEdge(IPPrefix("fd00:99::/127")!) == nil)
        let anycast = minimalConfig.replacingOccurrences(of: "virtual_ips:\n", with: "virtual_ips:\n  - address: fd00:99::/64\n    interface: eth0\n")
        #expect(try ConfigParser.parseWithWarnings(yaml: anycast).warnings.map(\.description).contains {
            $0.hasPrefix("virtual_ips[0].address: fd00:99:: is the subnet-router anycast address of fd00:99::/64's subnet: every forwarding router")
        })
        // Ranges Linux routes but hosts drop (a trial's class E VIP passed in silence).
        for (vip, range) in [("240.0.0.1", "240.0.0.0/4"), ("0.1.2.3", "0.0.0.0/8")] {
            let reserved = minimalConfig.replacingOccurrences(of: "virtual_ips:\n", with: "virtual_ips:\n  - address: \(vip)/32\n    interface: eth0\n")
            #expect(reserved != minimalConfig)
            let said = try ConfigParser.parseWithWarnings(yaml: reserved).warnings.map(\.description)
            #expect(said.contains { $0.hasPrefix("virtual_ips[0].address: \(vip) is in \(range)") }, "\(said)")
        }
        #expect(Validator.reservedRange(IPAddress("239.255.255.255")!) == nil && Validator.reservedRange(IPAddress("1.0.0.1")!) == nil)
        #expect(try ConfigParser.parseWithWarnings(yaml: minimalConfig).warnings.isEmpty)
        // Addresses the kernel takes but clients never reach.
        #expect(Validator.unroutable(IPAddress("169.254.10.1")!)?.contains("link-local (169.254.0.0/16)") == true)
        #expect(Validator.unroutable(IPAddress("fe80::10")!)?.contains("link-local (fe80::/10)") == true)
        #expect(Validator.unroutable(IPAddress("::ffff:10.99.0.11")!)?.hasSuffix("write the IPv4 address 10.99.0.11 instead") == true)
        #expect(Validator.unroutable(IPAddress("fd00::10")!) == nil && Validator.unroutable(IPAddress("10.0.0.10")!) == nil)
        #expect(Validator.unroutable(IPAddress("febf::1")!) != nil && Validator.unroutable(IPAddress("fec0::1")!) == nil)
        // A mapped VIP whose IPv4 address is a node's heartbeat address: the hint says so (trial 35).
        let mappedPeer = minimalConfig.replacingOccurrences(of: "virtual_ips:\n", with: "virtual_ips:\n  - address: \"::ffff:10.0.0.2/128\"\n    interface: eth0\n")
        #expect(mappedPeer != minimalConfig)
        let said = try ConfigParser.parseWithWarnings(yaml: mappedPeer).warnings.map(\.description)
        #expect(said.contains { $0.hasPrefix("virtual_ips[0].address: ::ffff:10.0.0.2 is an IPv4-mapped IPv6 address")
                && $0.contains("write the IPv4 address 10.0.0.2 instead, but 10.0.0.2 is b's heartbeat address, which a VIP cannot be") },
                "\(said)")
    }

    /// A loopback heartbeat address never reaches the other router, and a pair without VIPs moves
    /// nothing: warnings (an operator's trial accepted both in silence).
    @Test func loopbackHeartbeatsAndAPairWithoutVIPsAreWarnings() throws {
        let loopback = minimalConfig.replacingOccurrences(of: "addresses: [10.0.0.1]", with: "addresses: [127.0.0.2]")
        #expect(loopback != minimalConfig)
        let warned = try ConfigParser.parseWithWarnings(yaml: loopback).warnings.map(\.description)
        #expect(warned.contains { $0.hasPrefix("nodes[0].addresses[0]: 127.0.0.2 is a loopback address: it never leaves this router") }, "\(warned)")
        let noVIPs = try ConfigParser.parseWithWarnings(yaml: String(minimalConfig[..<minimalConfig.range(of: "virtual_ips:")!.lowerBound]) + "virtual_ips: []\n")
        #expect(noVIPs.warnings.map(\.description).contains { $0.hasPrefix("virtual_ips: no virtual IPs: the pair elects an active router") },
                "\(noVIPs.warnings)")
    }

    /// Heartbeat addresses and a metrics endpoint that check-config passed but the kernel then
    /// refused (operator trial of session 32). An IPv6 link-local address binds only with a scope
    /// (EINVAL without: both routers failed at their next start): an error naming the fix. An
    /// IPv4-mapped address and a metrics server on the heartbeat port of a heartbeat address
    /// (config replication's TCP listener is there: EADDRINUSE) run, without /metrics for the
    /// second: warnings, so that an upgrade never refuses a config a pair runs on.
    /// Real and sorry servers the kernel can never reach (operator trial 33): an IPv6
    /// link-local address (IPVS keeps no scope) and an IPv4-mapped one (IPVS sends IPv6 to it).
    /// Warnings with the fix, as for VIPs; a unique local address passes.
    @Test func realServersTheKernelCannotReachAreWarned() throws {
        let v6 = minimalConfig.replacingOccurrences(of: "address: 10.0.0.10/24", with: "address: \"fd00::10/64\"")
            .replacingOccurrences(of: "    address: 10.0.0.10\n", with: "    address: \"fd00::10\"\n")
        func warnings(_ yaml: String) throws -> [String] { try ConfigParser.parseWithWarnings(yaml: yaml).warnings.map(\.description) }
        let linkLocal = v6.replacingOccurrences(of: "      - address: 10.0.0.21\n", with: "      - address: \"fe80::21\"\n")
            + "\n    sorry_server: {address: \"::ffff:10.0.0.99\", port: 80}\n"
        #expect(errors(of: linkLocal).isEmpty, "\(errors(of: linkLocal))")
        let warned = try warnings(linkLocal)
        #expect(warned.contains { $0.hasPrefix("virtual_servers[0].real_servers[0].address: fe80::21 is IPv6 link-local (fe80::/10): IPVS keeps no interface scope") }, "\(warned)")
        #expect(warned.contains { $0.hasPrefix("virtual_servers[0].sorry_server.address: ::ffff:10.0.0.99 is an IPv4-mapped IPv6 address") && $0.contains("write the IPv4 address 10.0.0.99") }, "\(warned)")
        let fine = v6.replacingOccurrences(of: "      - address: 10.0.0.21\n", with: "      - address: \"fd00::21\"\n")
        #expect(try !warnings(fine).contains { $0.contains("real_servers[0].address") })
    }

    @Test func heartbeatAddressesAndMetricsEndpointsTheKernelWouldRefuse() throws {
        let linkLocal = minimalConfig.replacingOccurrences(of: "addresses: [10.0.0.1]", with: "addresses: [10.0.0.1, \"fe80::1\"]")
            .replacingOccurrences(of: "addresses: [10.0.0.2]", with: "addresses: [10.0.0.2, \"fe80::2\"]")
        let refused = errors(of: linkLocal)
        #expect(refused.contains { $0.hasPrefix("nodes[0].addresses[1]: fe80::1 is IPv6 link-local (fe80::/10): the kernel binds such an address only with an interface scope") }, "\(refused)")
        #expect(refused.contains { $0.hasPrefix("nodes[1].addresses[1]: fe80::2 is IPv6 link-local") }, "\(refused)")
        let unique = linkLocal.replacingOccurrences(of: "fe80::", with: "fd00:5c::")
        #expect(errors(of: unique).isEmpty, "\(errors(of: unique))")
        func warnings(_ yaml: String) throws -> [String] { try ConfigParser.parseWithWarnings(yaml: yaml).warnings.map(\.description) }
        let mapped = minimalConfig.replacingOccurrences(of: "addresses: [10.0.0.1]", with: "addresses: [\"::ffff:10.0.0.1\"]")
            .replacingOccurrences(of: "addresses: [10.0.0.2]", with: "addresses: [\"::ffff:10.0.0.2\"]")
        #expect(errors(of: mapped).isEmpty, "\(errors(of: mapped))")
        #expect(try warnings(mapped).contains { $0.hasPrefix("nodes[0].addresses[0]: ::ffff:10.0.0.1 is an IPv4-mapped IPv6 address: write the IPv4 address 10.0.0.1 instead") })

        let port = try ConfigParser.parse(yaml: minimalConfig).heartbeat.port
        for listen in ["10.0.0.1:\(port)", "0.0.0.0:\(port)", "[::]:\(port)"] {
            let clash = minimalConfig + "\nmetrics:\n  listen: \"\(listen)\"\n"
            #expect(errors(of: clash).isEmpty)
            let warned = try warnings(clash)
            #expect(warned.contains { $0.hasPrefix("metrics.listen: \(listen) is on the heartbeat port \(port), where config replication listens on TCP") },
                    "\(listen): \(warned)")
        }
        // 0.0.0.0 does not meet IPv6 heartbeat addresses; another port or address meets nothing.
        let ipv6 = minimalConfig.replacingOccurrences(of: "addresses: [10.0.0.1]", with: "addresses: [\"fd00::1\"]")
            .replacingOccurrences(of: "addresses: [10.0.0.2]", with: "addresses: [\"fd00::2\"]")
        for (yaml, listen) in [(ipv6, "0.0.0.0:\(port)"), (minimalConfig, "10.0.0.1:9539"), (minimalConfig, "127.0.0.1:\(port)")] {
            #expect(try !warnings(yaml + "\nmetrics:\n  listen: \"\(listen)\"\n").contains { $0.hasPrefix("metrics.listen") }, "\(listen)")
        }
        let unauthenticated = minimalConfig.replacingOccurrences(of: "  key_file: /etc/tandem/key\n", with: "  auth: none\n")
            + "\nmetrics:\n  listen: \"10.0.0.1:\(port)\"\n"
        #expect(try !warnings(unauthenticated).contains { $0.hasPrefix("metrics.listen") }, "without a key nothing is mirrored, so nothing listens on TCP there")
    }

    /// A `$ROLE` argument of a notify command reaches it as written (no shell); a TCP-based
    /// check of a UDP service probes TCP only: warnings naming what to do instead.
    @Test func notifyShellVariablesAndTCPChecksOfUDPServicesAreWarnings() throws {
        let notify = minimalConfig + "\nnotify:\n  active: /usr/local/bin/notify.sh $ROLE\n"
        let warned = try ConfigParser.parseWithWarnings(yaml: notify).warnings.map(\.description)
        #expect(warned.contains { $0.hasPrefix("notify.active: $ROLE is passed as it is written: notify commands run without a shell") }, "\(warned)")
        let udp = minimalConfig.replacingOccurrences(of: "    port: 80\n    forwarding: dr\n",
                                                     with: "    port: 80\n    protocol: udp\n    forwarding: dr\n    health_check: {type: http}\n")
        let checks = try ConfigParser.parseWithWarnings(yaml: udp).warnings.map(\.description)
        #expect(checks.contains { $0.hasPrefix("virtual_servers[0].health_check: a http check of a UDP service connects over TCP") }, "\(checks)")
        // SCTP likewise (operator trial 33: no word).
        let sctp = try ConfigParser.parseWithWarnings(yaml: udp.replacingOccurrences(of: "protocol: udp", with: "protocol: sctp")).warnings.map(\.description)
        #expect(sctp.contains { $0.hasPrefix("virtual_servers[0].health_check: a http check of an SCTP service connects over TCP") && $0.contains("exec check") }, "\(sctp)")
    }

    /// A value that is too long is quoted in the error (up to 64 characters), not only counted.
    @Test func aTooLongValueIsQuotedInItsError() {
        let yaml = minimal(replacingLine: 13, with: "    interface: eth0\n    label: eth0:verylonglabel")
        #expect(errors(of: yaml).contains { $0.hasPrefix("virtual_ips[0].label: \"eth0:verylonglabel\" is 18 characters long; at most 15 are allowed") },
                "\(errors(of: yaml))")
    }

    @Test func authNoneIsAnExplicitOptOut() throws {
        let config = try ConfigParser.parse(yaml: minimal(replacingLine: 9, with: "  auth: none"))
        #expect(config.heartbeat.authentication == .none)
    }

    // MARK: Bad files

    @Test func malformedYAML() {
        #expect(errors(of: "serial: 1\nnodes: [\n") == ["(top level): is not valid YAML: did not find expected node content (line 3)"])
        // A tab where YAML wants indentation (a migrant's editor): the error says so.
        let tabbed = minimalConfig.replacingOccurrences(of: "\n  - address: 10.0.0.10/24", with: "\n\t- address: 10.0.0.10/24")
        #expect(tabbed != minimalConfig)
        let refused = errors(of: tabbed)
        #expect(refused.count == 1 && refused[0].contains("that line holds a tab, and YAML indents with spaces only"), "\(refused)")
    }

    @Test func emptyAndBlankFiles() {
        for text in ["", "   \n\n", "# only a comment\n"] {
            let found = errors(of: text)
            #expect(found.count == 1)
            #expect(found.first?.contains("empty") == true || found.first?.contains("no YAML document") == true, "\(found)")
        }
    }

    @Test func scalarDocument() {
        #expect(errors(of: "just a string") == ["(top level): expected a mapping of keys to values, found a single value (line 1)"])
    }

    @Test func binaryData() {
        var data = Data(minimalConfig.utf8)
        data.append(contentsOf: [0, 1, 2, 0xFF])
        #expect(throws: ConfigError.self) { try ConfigParser.parseWithWarnings(data: data) }
        do {
            _ = try ConfigParser.parseWithWarnings(data: data)
        } catch {
            #expect(error.description == "(top level): is not a text file (it contains NUL bytes): is this the right file?")
        }
        do {
            _ = try ConfigParser.parseWithWarnings(data: Data([0xC3, 0x28, 0x0A]))
        } catch {
            #expect(error.description == "(top level): is not UTF-8 text: is this the right file?")
        }
    }

    @Test func hugeData() {
        let data = Data(count: ConfigParser.maximumFileSize + 1)
        do {
            _ = try ConfigParser.parseWithWarnings(data: data)
            Issue.record("a huge file was accepted")
        } catch {
            #expect(error.description.contains("configs larger than 64 MiB are refused"))
        }
    }

    @Test func missingFileAndDirectory() {
        do {
            _ = try ConfigParser.load(path: "/nonexistent/tandem.yaml")
            Issue.record("a missing file was accepted")
        } catch {
            #expect(error.description == "/nonexistent/tandem.yaml: no such file: check the path")
        }
        do {
            _ = try ConfigParser.load(path: "/tmp")
            Issue.record("a directory was accepted")
        } catch {
            #expect(error.description == "/tmp: is a directory, not a config file")
        }
    }

    @Test func deeplyNestedGarbageDoesNotCrash() {
        let deep = String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000)
        #expect(!errors(of: "serial: \(deep)").isEmpty)
    }
}
