import Foundation
import Testing
@testable import TandemCore

@Suite("Control protocol")
struct ControlProtocolTests {
    static let commands: [ControlCommand] = [
        .status, .failover(force: false), .failover(force: true), .maintenance(on: true), .maintenance(on: true, force: true), .maintenance(on: false),
        .drain(server: "10.0.1.11:80", service: "web"), .undrain(server: "[2001:db8::11]:443", service: nil),
        .reload(dryRun: true), .reload(dryRun: false), .showIPVS, .events,
    ]

    @Test(arguments: commands)
    func everyCommandRoundTrips(command: ControlCommand) throws {
        let line = ControlProtocol.line(ControlRequest(command))
        #expect(line.last == UInt8(ascii: "\n"))
        #expect(!line.dropLast().contains(UInt8(ascii: "\n")))
        #expect(try ControlRequest.parse(line.dropLast()) == command)
    }

    @Test func requestGoldenBytes() {
        let line = String(decoding: ControlProtocol.line(ControlRequest(.drain(server: "10.0.1.11:80", service: "web"))), as: UTF8.self)
        #expect(line == #"{"command":"drain","server":"10.0.1.11:80","service":"web","version":1}"# + "\n")
        let reload = String(decoding: ControlProtocol.line(ControlRequest(.reload(dryRun: true))), as: UTF8.self)
        #expect(reload == #"{"command":"reload","dry_run":true,"version":1}"# + "\n")
    }

    static let badRequests: [(String, String, String)] = [
        ("not json", "bad-request", "not a JSON request object"),
        (#"{"command":"status"}"#, "bad-request", "missing \"version\""),
        (#"{"version":2,"command":"status"}"#, "unsupported-version", "protocol version 2 is not supported"),
        (#"{"version":1,"command":"explode"}"#, "bad-request", "unknown command \"explode\" (known: status, failover"),
        (#"{"version":1,"command":"maintenance"}"#, "bad-request", "maintenance needs \"on\""),
        (#"{"version":1,"command":"drain"}"#, "bad-request", "drain needs \"server\""),
        (#"{"version":1,"command":"drain","server":"10.0.1.11"}"#, "bad-request", "is not ADDR:PORT"),
        (#"{"version":1,"command":"drain","server":"web:80"}"#, "bad-request", "\"web\" is not an IP address"),
        (#"{"version":1,"command":"drain","server":"10.0.1.11:0"}"#, "bad-request", "port \"0\" is not 1-65535"),
        (#"{"version":1,"command":"drain","server":"2001:db8::1:80"}"#, "bad-request", "write IPv6 as [ADDR]:PORT"),
        (#"{"version":"1","command":"status"}"#, "bad-request", "wrong type at \"version\""),
    ]

    @Test(arguments: badRequests)
    func badRequestsGetSpecificErrors(line: String, code: String, message: String) {
        #expect {
            try ControlRequest.parse(Array(line.utf8))
        } throws: { error in
            guard let error = error as? ControlProtocolError else { return false }
            return error.code == code && error.description.contains(message)
        }
    }

    @Test func stateChangingCommandsAreMarked() {
        #expect(!ControlCommand.status.changesState)
        #expect(!ControlCommand.showIPVS.changesState)
        #expect(!ControlCommand.events.changesState)
        #expect(!ControlCommand.reload(dryRun: true).changesState)
        #expect(ControlCommand.reload(dryRun: false).changesState)
        #expect(ControlCommand.failover(force: false).changesState)
        #expect(ControlCommand.drain(server: "10.0.0.1:1", service: nil).changesState)
    }

    @Test func responsesRoundTripAndCarryErrors() throws {
        var response = ControlResponse(message: "ok")
        response.failover = FailoverResult(from: "a", to: "b", durationMs: 12, message: "failover complete")
        let line = ControlProtocol.line(response)
        #expect(try ControlResponse.parse(line.dropLast()) == response)
        let failure = ControlResponse.failure(.notAuthorized("only root may"))
        let decoded = try ControlResponse.parse(ControlProtocol.line(failure).dropLast())
        #expect(!decoded.ok && decoded.error == ControlErrorBody(code: "not-authorized", message: "only root may"))
        #expect(ControlProtocolError(code: "refused", message: "x") == .refused("x"))
    }

    @Test func endpoints() throws {
        #expect(try ServerEndpoint.parse("10.0.1.11:80") == ServerEndpoint(address: IPAddress("10.0.1.11")!, port: 80))
        #expect(try ServerEndpoint.parse("[2001:db8::11]:443").description == "[2001:db8::11]:443")
        #expect(throws: ControlProtocolError.self) { try ServerEndpoint.parse("[2001:db8::11]443") }
    }

    @Test(arguments: [
        (UInt64(0), "1970-01-01T00:00:00.000Z"),
        (UInt64(951_782_400_123_000_000), "2000-02-29T00:00:00.123Z"),
        (UInt64(1_795_834_923_045_000_000), "2026-11-28T03:02:03.045Z"),
        (UInt64(4_107_542_399_999_000_000), "2100-02-28T23:59:59.999Z"),
    ])
    func isoTimes(nanoseconds: UInt64, text: String) {
        #expect(ControlTime.iso8601(nanosecondsSinceEpoch: nanoseconds) == text)
    }

    @Test func ages() {
        #expect(ControlTime.age(milliseconds: 4) == "4ms")
        #expect(ControlTime.age(milliseconds: 1_530) == "1.5s")
        #expect(ControlTime.age(milliseconds: 42_000) == "42s")
        #expect(ControlTime.age(milliseconds: 724_000) == "12m 4s")
        #expect(ControlTime.age(milliseconds: 10_920_000) == "3h 2m")
        #expect(ControlTime.age(milliseconds: 187_200_000) == "2d 4h")
    }
}

@Suite("Status report")
struct StatusReportTests {
    static let config: Config = {
        let yaml = minimalConfig.replacingOccurrences(of: "    forwarding: dr\n", with: """
                forwarding: dr
                health_check: {type: tcp, interval: 1s, timeout: 1s}
                sorry_server: {address: 10.0.0.99, port: 80}

            """) + "\n" + """
                  - address: 10.0.0.22
                    port: 80
                    weight: 3

            """
        return try! ConfigParser.parse(yaml: yaml)
    }()

    static func listing(weights: [String: UInt32]) -> IPVSListing {
        let vs = config.virtualServers[0]
        let dests = weights.sorted { $0.key < $1.key }.map { address, weight in
            IPVSListedDestination(destination: vs.destination(address: IPAddress(address)!, port: 80, weight: Int(weight), upper: 0,
                                                              lower: 0, forwarding: nil),
                                  activeConnections: 7, inactiveConnections: 2)
        }
        return IPVSListing(services: [IPVSListedService(service: vs.ipvsService, destinations: dests)])
    }

    @Test func servicesJoinConfigKernelHealthAndDrains() {
        let id21 = RealServerID(service: "web", address: IPAddress("10.0.0.21")!, port: 80)
        let id22 = RealServerID(service: "web", address: IPAddress("10.0.0.22")!, port: 80)
        let services = StatusReport.services(
            config: Self.config, listing: Self.listing(weights: ["10.0.0.21": 0]),
            health: [id21: RealServerHealthInfo(status: "up", reason: "connected", ageMs: 5000),
                     id22: RealServerHealthInfo(status: "down", reason: "connection refused", ageMs: 1200)],
            drained: [id21])
        #expect(services.count == 1)
        let web = services[0]
        #expect(web.name == "web" && web.address == "tcp 10.0.0.10:80" && web.inKernel == true)
        #expect(web.realServers.map(\.server) == ["10.0.0.21:80", "10.0.0.22:80", "10.0.0.99:80"])
        let first = web.realServers[0], second = web.realServers[1], sorry = web.realServers[2]
        #expect(first.health == "up" && first.drained && first.configWeight == 5 && first.kernelWeight == 0 && first.activeConnections == 7)
        #expect(second.health == "down" && !second.drained && second.kernelWeight == nil && second.activeConnections == nil)
        #expect(sorry.health == "sorry" && sorry.healthReason == "standing by")
        let unreadable = StatusReport.services(config: Self.config, listing: nil, health: [:], drained: [])
        #expect(unreadable[0].inKernel == nil && unreadable[0].realServers[0].health == "unknown")
    }

    @Test func configWarnings() {
        let mine = StatusReport.ConfigInfo(serial: 3, digest: String(repeating: "a", count: 64))
        #expect(StatusReport.configWarning(mine: mine, peer: mine, peerName: "b") == nil)
        #expect(StatusReport.configWarning(mine: mine, peer: nil, peerName: "b") == nil)
        let conflict = StatusReport.configWarning(mine: mine, peer: .init(serial: 3, digest: String(repeating: "b", count: 64)), peerName: "b")
        #expect(conflict?.hasPrefix("CONFIG CONFLICT: both nodes run serial 3") == true)
        let newer = StatusReport.configWarning(mine: mine, peer: .init(serial: 4, digest: String(repeating: "b", count: 64)), peerName: "b")
        #expect(newer == "configs differ: serial 3 here, 4 on b; b has the newer one and the other should fetch it")
    }

    @Test func humanLayout() {
        let digest = "3f2a9c1b0d4e5f60" + String(repeating: "0", count: 48)
        let report = StatusReport(
            node: "a", role: "active", roleReason: "b silent for 31ms on all paths (dead time 30ms)",
            roleSince: "2026-11-29T01:02:03.456Z", roleAgeMs: 724_000, priority: 100, effectivePriority: 100, maintenance: false,
            peer: .init(name: "b", role: "standby", alive: true, lastHeardMs: 4, priority: 90,
                        config: .init(serial: 7, digest: digest),
                        paths: [.init(path: "10.0.1.1 -> 10.0.1.2", received: 998, lost: 2, lastHeardMs: 4),
                                .init(path: "10.0.2.1 -> 10.0.2.2", received: 0, lost: 0, lastHeardMs: nil)]),
            heartbeats: .init(accepted: 998, replayed: 3), vips: [.init(address: "10.0.0.10/24", interface: "eth0", held: true)],
            services: [.init(name: "web", address: "tcp 10.0.0.10:80", scheduler: "wlc", inKernel: true, realServers: [
                .init(server: "10.0.0.21:80", health: "up", healthReason: nil, healthAgeMs: 5000, drained: true, configWeight: 5,
                      kernelWeight: 0, activeConnections: 7, inactiveConnections: 2),
                .init(server: "10.0.0.22:80", health: "down", healthReason: "connection refused", healthAgeMs: 1200, drained: false,
                      configWeight: 3, kernelWeight: nil, activeConnections: nil, inactiveConnections: nil),
            ])],
            config: .init(serial: 7, digest: digest, path: "/etc/tandem/tandem.yaml"), configWarning: nil,
            roleChanges: [.init(time: "2026-11-29T01:02:03.456Z", from: "standby", to: "active", reason: "b silent for 31ms on all paths (dead time 30ms)")])
        let expected = """
        node a: ACTIVE for 12m 4s — became active: b silent for 31ms on all paths (dead time 30ms)
          priority 100
        peer b: standby, priority 90, heard 4ms ago
          path 10.0.1.1 -> 10.0.1.2: received 998, lost 2 (0.2%), last heard 4ms ago
          path 10.0.2.1 -> 10.0.2.2: received 0, lost 0 (0%), last heard never
          heartbeats accepted 998, dropped 3 (malformed 0, unauthenticated 0, replayed 3, unexpected sender 0, unknown path 0)
        config: serial 7, digest 3f2a9c1b0d4e5f60 (same on b)
        VIPs held: 10.0.0.10/24 on eth0
        services:
          real server     health  since  weight cfg/kernel  active  inactive  note
          web tcp 10.0.0.10:80 wlc
            10.0.0.21:80  up      5.0s   5/0                7       2         DRAINED
            10.0.0.22:80  down    1.2s   3/-                -       -         connection refused
        recent role changes:
          2026-11-29T01:02:03.456Z standby -> active: b silent for 31ms on all paths (dead time 30ms)

        """
        #expect(report.text == expected)
        // The same active with no readable IPVS table: warned at the top, not only per service.
        var unreadable = report
        unreadable.services[0].inKernel = nil
        #expect(unreadable.text.contains("  WARNING: the kernel's IPVS table is not readable on this active node"))
        #expect(!report.text.contains("WARNING"))
        // An active that keeps a VIP it cannot serve (its link tracked with lower_priority_by is
        // down) while the live standby could (trial 35): warned; not with the standby unheard.
        var stranded = report
        stranded.vips[0].held = false
        stranded.vips[0].problem = "interface eth0 is down or has no carrier (address still configured, unreachable)"
        #expect(stranded.text.contains("  WARNING: this active node cannot serve its VIPs while b, a live standby, could: "
                                       + "`tandemctl failover` moves them (a lowered priority moves them by itself only with election.preempt on)"),
                "\(stranded.text)")
        stranded.peer.alive = false
        #expect(!stranded.text.contains("cannot serve its VIPs"))
    }

    @Test func humanLayoutOfAFaultyNode() {
        let digest = String(repeating: "0", count: 64)
        let report = StatusReport(
            node: "b", role: "fault", roleReason: "no usable heartbeat path", roleSince: nil, roleAgeMs: nil, priority: 90,
            effectivePriority: 90, maintenance: false,
            peer: .init(name: "a", role: "active", alive: false, lastHeardMs: 900, priority: 100, config: nil,
                        paths: [.init(path: "10.0.1.2 -> 10.0.1.1", received: 10, lost: 0, lastHeardMs: 900,
                                      localProblem: "address not configured on any interface")]),
            heartbeats: .init(accepted: 10),
            vips: [.init(address: "2001:db8::10/64", interface: "eth1", held: false, problem: "address conflict: …")],
            services: [], config: .init(serial: 1, digest: digest), configWarning: nil, roleChanges: [],
            localFaults: ["no usable heartbeat path", "address conflict: …"])
        let lines = report.text.split(separator: "\n").map(String.init)
        #expect(lines[1...3] == ["  priority 90", "  FAULT: no usable heartbeat path", "  FAULT: address conflict: …"])
        #expect(lines.contains("  path 10.0.1.2 -> 10.0.1.1: received 10, lost 0 (0.0%), last heard 900ms ago — NOT USABLE here: address not configured on any interface"))
        #expect(lines.contains("VIPs not held: 2001:db8::10/64 on eth1"))
        #expect(lines.contains("  VIP 2001:db8::10/64 on eth1: address conflict: …"))
        // In fault, and the peer not heard: nobody serves the VIPs.
        #expect(lines.contains("  WARNING: nobody serves the VIPs: this node is in fault and a is not heard"), "\(lines)")
        let json = String(decoding: (try? ControlProtocol.encoder().encode(report)) ?? Data(), as: UTF8.self)
        #expect(json.contains("\"local_faults\":[\"no usable heartbeat path\""))
        #expect(json.contains("\"local_problem\":\"address not configured on any interface\""))
        #expect(!json.contains("metrics_not_listening") && !report.text.contains("/metrics"))
        var unserved = report
        unserved.metricsNotListening = [.init(listen: "10.0.1.2:9539", reason: "not an address of this node yet")]
        #expect(unserved.text.contains("  WARNING: /metrics is not served on 10.0.1.2:9539: not an address of this node yet (check metrics.listen and this node's addresses)"))
        let unservedJSON = String(decoding: (try? ControlProtocol.encoder().encode(unserved)) ?? Data(), as: UTF8.self)
        #expect(unservedJSON.contains("\"metrics_not_listening\":[{\"listen\":\"10.0.1.2:9539\",\"reason\":\"not an address of this node yet\"}]"))
    }

    @Test func reloadDifference() throws {
        let old = try ConfigParser.parse(yaml: minimalConfig)
        let new = try ConfigParser.parse(yaml: minimalConfig.replacingOccurrences(of: "serial: 7", with: "serial: 8")
            .replacingOccurrences(of: "weight: 5", with: "weight: 2")
            .replacingOccurrences(of: "virtual_ips:\n", with: "virtual_ips:\n  - address: 10.0.0.11/24\n    interface: eth0\n"))
        #expect(ConfigDifference.lines(from: old, to: new) == [
            "+ VIP 10.0.0.11/24 on eth0",
            "~ ipvs: update real server 10.0.0.21:80 of tcp 10.0.0.10:80",
            "~ serial 7 -> 8",
        ])
        #expect(ConfigDifference.lines(from: old, to: old).isEmpty)
    }
}
