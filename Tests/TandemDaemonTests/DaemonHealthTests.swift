import Foundation
import Logging
import Synchronization
import Testing
import TandemCore
@testable import TandemDaemon
import TandemHealth

/// A config whose `web` service has `count` real servers 10.0.1.1… under a fast TCP check (or
/// none), with a sorry server.
private func config(servers count: Int, checked: Bool = true, failureAction: String = "quiesce") throws -> Config {
    let check = checked ? """
            health_check: {type: tcp, interval: 20ms, timeout: 10ms, rise: 2, fall: 2, failure_action: \(failureAction)}

        """ : ""
    let reals = (1...count).map { "      - {address: 10.0.1.\($0), port: 80, weight: 10}" }.joined(separator: "\n")
    return try ConfigParser.parse(yaml: """
        serial: 1
        nodes:
          - {name: a, addresses: [10.0.0.1]}
          - {name: b, addresses: [10.0.0.2]}
        heartbeat: {interval: 100ms, auth: none}
        virtual_ips:
          - {address: 10.0.0.10/24, interface: eth0}
        virtual_servers:
          - name: web
            address: 10.0.0.10
            port: 80
            forwarding: nat
            sorry_server: {address: 10.0.1.250, port: 80}
        \(check)    real_servers:
        \(reals)
        """)
}

private func server(_ n: Int) -> RealServerID { RealServerID(service: "web", address: IPAddress("10.0.1.\(n)")!, port: 80) }

/// What the reconcile was handed, and when.
private final class Deliveries: Sendable {
    private let items = Mutex<[(at: ContinuousClock.Instant, down: Set<RealServerID>, weights: [RealServerID: Int])]>([])
    func record(_ down: Set<RealServerID>, _ weights: [RealServerID: Int]) {
        items.withLock { $0.append((ContinuousClock.now, down, weights)) }
    }
    var all: [(at: ContinuousClock.Instant, down: Set<RealServerID>, weights: [RealServerID: Int])] { items.withLock { $0 } }
    var count: Int { items.withLock { $0.count } }
}

private final class Lines: Sendable {
    private let items = Mutex<[String]>([])
    func append(_ s: String) { items.withLock { $0.append(s) } }
    var all: [String] { items.withLock { $0 } }
}

private func eventually(_ seconds: Double = 3, _ condition: () -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try await Task.sleep(for: .milliseconds(5))
    }
    return condition()
}

@Suite(.serialized) struct DaemonHealthTests {
    private func make(_ cfg: Config, prober: ScriptedProber) -> (DaemonHealth, Deliveries, Lines) {
        let deliveries = Deliveries()
        let lines = Lines()
        let logger = Logger(label: "test") { _ in TandemLogHandler(label: "a", write: { lines.append($0) }) }
        let health = DaemonHealth(config: cfg, logger: logger, prober: prober, deliver: deliveries.record)
        return (health, deliveries, lines)
    }

    @Test func downAndBackReachTheReconcileAndTheLog() async throws {
        let prober = ScriptedProber()
        for n in 1...2 { prober.set(.success("connected"), for: server(n)) }
        let (health, deliveries, lines) = make(try config(servers: 2), prober: prober)
        defer { health.monitor.stop() }
        #expect(try await eventually { health.snapshot().allSatisfy { $0.status == .up } })
        // All up from the first results: the table inputs did not change, nothing is handed over.
        try await Task.sleep(for: .milliseconds(150))
        #expect(deliveries.count == 0)

        prober.set(.failure("connection refused"), for: server(1))
        #expect(try await eventually { deliveries.all.last?.down == [server(1)] })
        #expect(lines.all.contains { $0.contains("warning a: real server 10.0.1.1:80 of service web: up -> down: 2 consecutive failures (fall 2); last failed: connection refused") }, "\(lines.all)")
        let status = try #require(health.snapshot().first)
        #expect(status.service == "web" && status.server == "10.0.1.1:80" && status.check == "tcp")
        #expect(status.status == .down && status.effectiveWeight == nil && status.configuredWeight == 10)
        #expect(status.lastResult == "failed: connection refused")
        #expect(status.since <= health.monitor.now() && status.lastCheck != nil)

        prober.set(.success("connected"), for: server(1))
        #expect(try await eventually { deliveries.all.last?.down == [] })
        #expect(lines.all.contains { $0.contains("notice a: real server 10.0.1.1:80 of service web: down -> up: 2 consecutive successes (rise 2); last passed: connected") }, "\(lines.all)")
        #expect(health.snapshot().map(\.effectiveWeight) == [10, 10])
    }

    /// Forty servers failing together: coalesced into a few deliveries at least 100 ms apart, the
    /// last with every server down.
    @Test func burstIsCoalesced() async throws {
        let prober = ScriptedProber()
        for n in 1...40 { prober.set(.success("connected"), for: server(n)) }
        let (health, deliveries, _) = make(try config(servers: 40), prober: prober)
        defer { health.monitor.stop() }
        #expect(try await eventually { health.snapshot().allSatisfy { $0.status == .up } })
        try await Task.sleep(for: .milliseconds(150)) // past the pacing of the first results
        for n in 1...40 { prober.set(.failure("timed out after 10ms"), for: server(n)) }
        let all = Set((1...40).map(server))
        #expect(try await eventually { deliveries.all.last?.down == all })
        try await Task.sleep(for: .milliseconds(250))
        let got = deliveries.all
        #expect(got.last?.down == all)
        // 40 changes, a handful of deliveries (how many depends on when the burst starts relative
        // to the pacing timer; the unit tests of HealthDeliveryPacer pin the exact sequence).
        #expect(got.count >= 1 && got.count <= 4, "\(got.count) deliveries")
        for (a, b) in zip(got, got.dropFirst()) {
            #expect(b.at - a.at >= .milliseconds(95))
        }
    }

    /// A reload that drops the health check: the servers it had down count as up again.
    @Test func reloadWithoutCheckReleasesDownServers() async throws {
        let prober = ScriptedProber()
        prober.set(.success("connected"), for: server(1))
        prober.set(.failure("connection refused"), for: server(2))
        let (health, deliveries, _) = make(try config(servers: 2), prober: prober)
        defer { health.monitor.stop() }
        #expect(try await eventually { deliveries.all.last?.down == [server(2)] })
        health.apply(try config(servers: 2, checked: false))
        #expect(try await eventually { deliveries.all.last?.down == [] })
        #expect(health.snapshot().isEmpty)
    }

    /// The daemon's table for those inputs: quiesced or removed per config, sorry server only while
    /// every real server is down.
    @Test(arguments: ["quiesce", "remove"])
    func allDownInstallsTheSorryServer(_ action: String) async throws {
        let prober = ScriptedProber()
        for n in 1...2 { prober.set(.failure("connection refused"), for: server(n)) }
        let cfg = try config(servers: 2, failureAction: action)
        let (health, deliveries, _) = make(cfg, prober: prober)
        defer { health.monitor.stop() }
        #expect(try await eventually { deliveries.all.last?.down.count == 2 })
        let last = try #require(deliveries.all.last)
        let table = cfg.desiredIPVSTable(down: last.down, weights: last.weights)
        let expected: [(String, Int32)] = action == "quiesce"
            ? [("10.0.1.1", 0), ("10.0.1.2", 0), ("10.0.1.250", 1)] : [("10.0.1.250", 1)]
        let got = table.entries[0].destinations.map { ($0.address.description, $0.weight) }
        #expect(got.map(\.0) == expected.map(\.0) && got.map(\.1) == expected.map(\.1))
    }
}
