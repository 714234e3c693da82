import Foundation
import Prometheus
import Testing
import TandemCore
@testable import TandemDaemon

/// The exposition as families: swift-prometheus writes families (and series) in dictionary
/// order, so the text is compared after sorting each family's samples and the families by name.
/// Fails the test on a line that belongs to no family or a family without HELP or TYPE.
func normalizedExposition(_ bytes: [UInt8]) -> String {
    let text = String(decoding: bytes, as: UTF8.self)
    #expect(text.hasSuffix("\n"), "the exposition must end with a newline")
    var families: [String: (help: String?, type: String?, samples: [String])] = [:]
    var current: String?
    for line in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast() {
        if line.hasPrefix("# HELP ") || line.hasPrefix("# TYPE ") {
            let rest = line.dropFirst(7)
            let name = String(rest.prefix { $0 != " " })
            current = name
            if line.hasPrefix("# HELP ") { families[name, default: (nil, nil, [])].help = String(line) }
            else { families[name, default: (nil, nil, [])].type = String(line) }
            continue
        }
        guard let family = current, line.hasPrefix(family) else {
            Issue.record("sample outside its family: \(line)")
            continue
        }
        families[family]!.samples.append(String(line))
    }
    return families.keys.sorted().map { name in
        let f = families[name]!
        #expect(f.help != nil && f.type != nil, "family \(name) lacks HELP or TYPE")
        return ([f.help ?? "", f.type ?? ""] + f.samples.sorted()).joined(separator: "\n")
    }.joined(separator: "\n") + "\n"
}

private let pairYAML = """
    serial: 7
    nodes:
      - {name: ra, addresses: [10.0.1.1], priority: 100}
      - {name: rb, addresses: [10.0.1.2], priority: 90}
    heartbeat: {interval: 100ms, auth: none}
    virtual_ips:
      - {address: 10.0.0.10/24, interface: eth0}
    virtual_servers:
      - name: web
        address: 10.0.0.10
        port: 80
        forwarding: nat
        health_check: {type: tcp, interval: 1s, timeout: 500ms}
        sorry_server: {address: 10.0.2.250, port: 80}
        real_servers:
          - {address: 10.0.2.1, port: 80, weight: 10}
          - {address: 10.0.2.2, port: 80, weight: 20}
      - name: marked
        fwmark: 4096
        forwarding: dr
        real_servers:
          - {address: 10.0.3.1, weight: 5}
    metrics: {listen: [10.0.1.1:9539, 10.0.1.2:9539]}
    """

/// A known state: ra active after rb went silent, web's first real server up and the second
/// down and drained, the fwmark service in the kernel, rb's config one serial behind.
private func knownSnapshot() throws -> (MetricsSnapshot, MetricsEvents) {
    let config = try ConfigParser.parse(yaml: pairYAML)
    let web = config.virtualServers[0].ipvsService, marked = config.virtualServers[1].ipvsService
    func destination(_ address: String, _ port: UInt16, weight: Int32) -> IPVSDestination {
        IPVSDestination(address: IPAddress(address)!, port: port, forwarding: .masquerade, weight: weight)
    }
    let listing = IPVSListing(services: [
        IPVSListedService(service: web, statistics: IPVSStatistics(connections: 30, inPackets: 300, outPackets: 200, inBytes: 30000, outBytes: 90000),
                          destinations: [
                              IPVSListedDestination(destination: destination("10.0.2.1", 80, weight: 10), activeConnections: 3,
                                                    inactiveConnections: 1, statistics: IPVSStatistics(connections: 30, inPackets: 300,
                                                                                                        outPackets: 200, inBytes: 30000, outBytes: 90000)),
                              IPVSListedDestination(destination: destination("10.0.2.2", 80, weight: 0)),
                          ]),
        IPVSListedService(service: marked, destinations: [IPVSListedDestination(destination: destination("10.0.3.1", 0, weight: 5))]),
    ])
    let health: [RealServerID: RealServerHealthInfo] = [
        RealServerID(service: "web", address: IPAddress("10.0.2.1")!, port: 80): .init(status: "up", reason: nil, ageMs: 61_500),
        RealServerID(service: "web", address: IPAddress("10.0.2.2")!, port: 80): .init(status: "down", reason: "refused", ageMs: 2_000),
    ]
    let drained: Set<RealServerID> = [RealServerID(service: "web", address: IPAddress("10.0.2.2")!, port: 80)]
    let services = StatusReport.services(config: config, listing: listing, health: health, drained: drained)
    let mine = StatusReport.ConfigInfo(serial: 7, digest: config.digest)
    let peer = StatusReport.Peer(name: "rb", role: "standby", alive: true, lastHeardMs: 40, priority: 90,
                                 config: .init(serial: 6, digest: "ab"),
                                 paths: [.init(path: "10.0.1.1 -> 10.0.1.2", received: 1200, lost: 3, lastHeardMs: 40,
                                               arrivalJitterMs: 0.25, dropped: ["malformed": 2, "replay": 1])])
    let status = StatusReport(node: "ra", role: "active", roleReason: "rb silent for 310ms on all paths", roleSince: nil, roleAgeMs: nil,
                              priority: 100, effectivePriority: 100, maintenance: false, peer: peer,
                              heartbeats: .init(accepted: 1200, malformed: 2), vips: [.init(address: "10.0.0.10/24", interface: "eth0", held: true)],
                              services: services, config: mine, configWarning: nil, roleChanges: [])
    var counters = HeartbeatVerifier.Counters()
    counters.accepted = 1200
    counters.malformed = 2
    counters.replayed = 1
    var replication = ReplicationStatus(enabled: true)
    replication.serves = 4
    replication.fetchFailures = 1
    let events = MetricsEvents()
    events.roleChanged(to: .standby, reason: "rb is active")
    events.roleChanged(to: .active, reason: "rb silent for 310ms on all paths (dead time 300ms)")
    let key = HealthTarget.Key(server: RealServerID(service: "web", address: IPAddress("10.0.2.1")!, port: 80), probe: .tcp(port: nil, send: nil, expect: nil))
    events.healthChecked(key, service: web.key, result: ProbeResult(passed: false, reason: "timeout", counted: false),
                         duration: .milliseconds(300))
    let process = ProcessStatistics(cpuSeconds: 1.5, residentMemoryBytes: 8_388_608, virtualMemoryBytes: 268_435_456,
                                    startTimeSeconds: 1_764_460_000, openFileDescriptors: 17, maximumFileDescriptors: 1024)
    return (MetricsSnapshot(status: status, roleChangedAtNanoseconds: 1_764_460_800_500_000_000, config: config, listing: listing,
                            heartbeats: counters, heartbeatsSent: [.init(sent: 1250, failed: 2)], replication: replication, events: events.counts, process: process), events)
}

@Suite("Metrics exposition")
struct MetricsExpositionTests {
    @Test func knownStateGivesTheGoldenExposition() throws {
        let (snapshot, events) = try knownSnapshot()
        let text = normalizedExposition(MetricsExposition.render(snapshot, events: events))
        let golden = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden/metrics-known-state.prom")
        let expected = (try? String(contentsOf: golden, encoding: .utf8)) ?? ""
        if text != expected {
            // For review with diff; copied over the golden file only after reading it line by line.
            let actual = FileManager.default.temporaryDirectory.appendingPathComponent("metrics-known-state.actual.prom")
            try text.write(to: actual, atomically: true, encoding: .utf8)
            Issue.record("the exposition differs from \(golden.path): see diff \(golden.path) \(actual.path)")
        }
    }

    @Test func eventsAreRecordedAsTheyHappen() {
        let events = MetricsEvents()
        var repair = IPVSReconcileOutcome(periodic: true)
        repair.duration = .milliseconds(3)
        repair.applied = [.deleteService(.fwmark(family: .ipv4, mark: 1))]
        repair.errors = ["EEXIST"]
        events.reconciled(repair)
        events.reconciled(IPVSReconcileOutcome(periodic: true))
        events.heartbeatRoundSent(lateness: .microseconds(300))
        let vip = VirtualIP(prefix: IPPrefix("10.0.0.10/24")!, interface: "eth0")
        events.announced(vip, succeeded: true)
        events.announced(vip, succeeded: true)
        events.foreignRemoval(of: vip)
        let text = normalizedExposition(events.registry.emitToBuffer())
        for line in [#"tandem_ipvs_reconciles_total{result="partial"} 1"#, #"tandem_ipvs_reconciles_total{result="unchanged"} 1"#,
                     #"tandem_ipvs_changes_total{kind="delete_service"} 1"#, #"tandem_ipvs_kernel_errors_total{errno="EEXIST"} 1"#,
                     "tandem_ipvs_drift_repairs_total 1", #"tandem_ipvs_reconcile_duration_seconds_bucket{le="0.002"} 1"#,
                     #"tandem_ipvs_reconcile_duration_seconds_bucket{le="0.005"} 2"#, "tandem_ipvs_reconcile_duration_seconds_count 2",
                     #"tandem_heartbeat_send_lateness_seconds_bucket{le="0.00025"} 0"#,
                     #"tandem_heartbeat_send_lateness_seconds_bucket{le="0.0005"} 1"#,
                     #"tandem_vip_announcements_total{vip="10.0.0.10/24",interface="eth0",result="sent"} 2"#,
                     #"tandem_vip_foreign_removals_total{vip="10.0.0.10/24",interface="eth0"} 1"#] {
            #expect(text.contains(line + "\n"), "missing \(line) in\n\(text)")
        }
    }

    /// Every role x result of the notify counter exists from the start at 0, so `increase()` sees
    /// a first failure (a series born at 1 never shows one, and the alert would not fire).
    @Test func notifyCountersStartAtZero() {
        let events = MetricsEvents()
        var text = normalizedExposition(events.registry.emitToBuffer())
        for role in ["active", "standby", "fault", "maintenance", "stopping"] {
            for result in ["succeeded", "failed", "skipped"] {
                #expect(text.contains(#"tandem_notify_commands_total{role="\#(role)",result="\#(result)"} 0"# + "\n"), "\(role) \(result)")
            }
        }
        events.notifyFinished(role: .active, succeeded: false)
        events.notifySkipped(role: .standby)
        text = normalizedExposition(events.registry.emitToBuffer())
        #expect(text.contains(#"tandem_notify_commands_total{role="active",result="failed"} 1"# + "\n"))
        #expect(text.contains(#"tandem_notify_commands_total{role="standby",result="skipped"} 1"# + "\n"))
    }

    @Test func healthResultsAddUpPerTargetAndFollowAReload() {
        let events = MetricsEvents()
        let key = HealthTarget.Key(server: RealServerID(service: "web", address: IPAddress("10.0.2.1")!, port: 80),
                                   probe: .tcp(port: nil, send: nil, expect: nil))
        let before = IPVSServiceKey.address(protocol: .tcp, address: IPAddress("10.0.0.10")!, port: 80)
        let after = IPVSServiceKey.address(protocol: .tcp, address: IPAddress("10.0.0.11")!, port: 8080)
        var lookups = 0
        func service(_ key: IPVSServiceKey) -> IPVSServiceKey? {
            lookups += 1
            return key
        }
        for passed in [true, true, false, true] {
            events.healthChecked(key, service: service(before), result: ProbeResult(passed: passed, reason: ""), duration: .milliseconds(3))
        }
        #expect(lookups == 1, "the service key is looked up at the target's first result only")
        events.healthServicesChanged()
        events.healthChecked(key, service: service(after), result: ProbeResult(passed: true, reason: ""), duration: .milliseconds(30))
        events.healthChecked(key, service: nil, result: ProbeResult(passed: true, reason: ""), duration: .milliseconds(30))
        #expect(lookups == 2)
        let text = normalizedExposition(events.registry.emitToBuffer())
        func checks(_ local: String, _ port: Int, _ result: String) -> String {
            #"tandem_health_checks_total{service="web",local_address="\#(local)",local_port="\#(port)",local_mark="",proto="TCP","#
                + #"remote_address="10.0.2.1",remote_port="80",check="tcp",result="\#(result)"}"#
        }
        for line in [checks("10.0.0.10", 80, "passed") + " 3", checks("10.0.0.10", 80, "failed") + " 1",
                     checks("10.0.0.11", 8080, "passed") + " 2",
                     #"tandem_health_check_duration_seconds_bucket{check="tcp",le="0.005"} 4"#,
                     #"tandem_health_check_duration_seconds_count{check="tcp"} 6"#] {
            #expect(text.contains(line + "\n"), "missing \(line) in\n\(text)")
        }
    }

    @Test func labelValuesAreEscaped() {
        let registry = PrometheusCollectorRegistry()
        Families(registry: registry).gauge("tandem_test", "Help with a back\\slash.", [("v", "a\"b\\c\nd")], 1)
        let text = String(decoding: registry.emitToBuffer(), as: UTF8.self)
        #expect(text.contains(#"tandem_test{v="a\"b\\c\nd"} 1"#), "\(text)")
        #expect(text.contains(#"# HELP tandem_test Help with a back\\slash."#), "\(text)")
    }

    @Test func fwmarkServicesUseNodeExportersLabels() {
        let labels = MetricsExposition.serviceLabels(.fwmark(family: .ipv4, mark: 0x1000_1000))
        #expect(labels.map { "\($0.0)=\($0.1)" } == ["local_address=", "local_port=0", "local_mark=10001000", "proto=FWM"])
        let small = MetricsExposition.serviceLabels(.fwmark(family: .ipv6, mark: 7))
        #expect(small.first { $0.0 == "local_mark" }?.1 == "00000007")
        let tcp = MetricsExposition.serviceLabels(.address(protocol: .tcp, address: IPAddress("fd00::10")!, port: 443))
        #expect(tcp.map { "\($0.0)=\($0.1)" } == ["local_address=fd00::10", "local_port=443", "local_mark=", "proto=TCP"])
    }

    @Test(arguments: [
        (Role.active, "rb silent for 310ms on all paths (dead time 300ms)", RoleChangeReason.peerSilent),
        (.active, "no heartbeat from rb within the dead time (300ms) since start", .peerSilent),
        (.active, "rb released the VIPs and left", .peerLeft),
        (.active, "rb asked us to take over", .peerLeft),
        (.active, "failover requested on ra: rb handed the VIPs over", .operatorRequest),
        (.active, "rb is in maintenance", .peerLeft),
        (.standby, "failover handover complete: rb has claimed the VIPs", .operatorRequest),
        (.maintenance, "maintenance requested", .operatorRequest),
        (.stopping, "stop requested: handing over to rb", .operatorRequest),
        (.fault, "tracked interface eth1 is down", .fault),
        (.standby, "local faults cleared: listening for rb for the dead time (300ms) before deciding", .fault),
        (.standby, "rb is also active and wins (priority 90 vs 100)", .election),
        (.active, "rb is active with lower priority (90 < 100) and preempt is on", .election),
        (.standby, "rb is starting and will decide", .election),
        (.active, "VIPs already held at start and rb is standby: keeping them", .other),
    ])
    func roleChangeReasonsFallInBoundedClasses(to: Role, reason: String, expected: RoleChangeReason) {
        #expect(RoleChangeReason(to: to, reason: reason) == expected)
    }

    @Test func processStatisticsAreReadFromProcFormat() throws {
        // comm with a space and a parenthesis: fields are counted after the last ")".
        let stat = "4242 (tandem d) (x)) S 1 4242 4242 0 -1 4194560 900 0 0 0 150 50 0 0 20 0 9 0 12345 268435456 2048 "
            + "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0"
        let procStat = "cpu  1 2 3 4\nbtime 1764460000\nprocesses 99\n"
        let p = try #require(ProcessStatistics.parse(stat: stat, procStat: procStat, openFileDescriptors: 12,
                                                     maximumFileDescriptors: 1024, ticksPerSecond: 100, pageSize: 4096))
        #expect(p.cpuSeconds == 2.0)
        #expect(p.startTimeSeconds == 1_764_460_123.45)
        #expect(p.virtualMemoryBytes == 268_435_456)
        #expect(p.residentMemoryBytes == 2048 * 4096)
        #expect(ProcessStatistics.parse(stat: "garbage", procStat: procStat, openFileDescriptors: 0, maximumFileDescriptors: 0,
                                        ticksPerSecond: 100, pageSize: 4096) == nil)
    }
}

@Suite("metrics: in the config")
struct MetricsConfigTests {
    private func config(_ metrics: String) throws -> Config {
        try ConfigParser.parse(yaml: pairYAML.replacingOccurrences(of: "metrics: {listen: [10.0.1.1:9539, 10.0.1.2:9539]}", with: metrics))
    }

    @Test func listenIsOneAddressOrAList() throws {
        #expect(try config("").metrics.listen.isEmpty)
        #expect(try config("metrics: {listen: 127.0.0.1:9539}").metrics.listen.map(\.description) == ["127.0.0.1:9539"])
        #expect(try config("metrics: {listen: [10.0.1.1:9539, '[fd00::1]:9540']}").metrics.listen.map(\.description)
                == ["10.0.1.1:9539", "[fd00::1]:9540"])
    }

    @Test func badListenNamesTheFieldAndTheForm() {
        do {
            _ = try config("metrics: {listen: [10.0.1.1:9539, localhost]}")
            Issue.record("accepted a host name")
        } catch {
            #expect("\(error)".contains("metrics.listen[1]"), "\(error)")
            #expect("\(error)".contains("is not ADDRESS:PORT"), "\(error)")
        }
    }

    @Test func aListenChangeNeedsARestart() throws {
        let restart = ConfigDifference.restartNeeded(started: try config(""), current: try config("metrics: {listen: 127.0.0.1:9539}"),
                                                     context: ReloadContext(nodeName: "ra"))
        #expect(restart == ["metrics listen off -> 127.0.0.1:9539"])
    }

    @Test func metricsChangeTheDigestOnlyWhenSet() throws {
        let without = try config("")
        let with = try config("metrics: {listen: 127.0.0.1:9539}")
        #expect(!String(decoding: without.canonical.compactUTF8, as: UTF8.self).contains("metrics"))
        #expect(with.digest != without.digest)
    }
}
