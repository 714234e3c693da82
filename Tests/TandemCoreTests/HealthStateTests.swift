import Testing
@testable import TandemCore

private func ms(_ n: UInt64) -> MonotonicInstant { .milliseconds(n) }

/// Two services: `web` (HTTP check, quiesce, sorry server) with two real servers and `api`
/// (agent check, remove) with one; `dns` has no check.
private func config(webRise: Int = 2, webPath: String = "/healthz", warmup: TimeSpan? = nil) throws -> Config {
    let yaml = """
    serial: 1
    nodes:
      - name: a
        addresses: [10.0.0.1]
      - name: b
        addresses: [10.0.0.2]
    heartbeat:
      interval: 100ms
      key_file: /etc/tandem/key
    virtual_ips:
      - address: 10.0.0.10/24
        interface: eth0
    virtual_servers:
      - name: web
        address: 10.0.0.10
        port: 80
        forwarding: nat
        sorry_server: {address: 10.0.1.99, port: 80}
        health_check:
          type: http
          path: \(webPath)
          rise: \(webRise)
          fall: 2
    \(warmup.map { "      warmup: \($0)" } ?? "")
        real_servers:
          - {address: 10.0.1.1, port: 8080, weight: 10}
          - {address: 10.0.1.2, port: 8080, weight: 10}
      - name: api
        address: 10.0.0.10
        port: 8000
        forwarding: nat
        health_check:
          type: agent
          port: 5555
          failure_action: remove
        real_servers:
          - {address: 10.0.1.3, port: 8000, weight: 4}
      - name: dns
        address: 10.0.0.10
        port: 53
        protocol: udp
        forwarding: nat
        real_servers:
          - {address: 10.0.1.4, port: 53}
    """
    return try ConfigParser.parse(yaml: yaml)
}

private func id(_ service: String, _ address: String, _ port: UInt16) -> RealServerID {
    RealServerID(service: service, address: IPAddress(address)!, port: port)
}

@Suite struct HealthStateTests {
    @Test func targetsCoverCheckedServicesWithProbePorts() throws {
        let targets = HealthTarget.all(in: try config())
        #expect(targets.map(\.server) == [id("web", "10.0.1.1", 8080), id("web", "10.0.1.2", 8080), id("api", "10.0.1.3", 8000)])
        #expect(targets.map(\.probePort) == [8080, 8080, 5555])
        #expect(targets.map(\.weight) == [10, 10, 4])
    }

    /// The monitor's one-lookup record: the closure sees the tracker after the result; a key
    /// that is no longer a target records nothing.
    @Test func recordThenReadSeesTheTrackerAfterTheResult() throws {
        let cfg = try config()
        var state = HealthState()
        state.apply(targets: HealthTarget.all(in: cfg), at: .zero)
        let key = HealthTarget.all(in: cfg)[0].key
        let first = try #require(state.record(.success("connected"), for: key, at: ms(1000)) { ($0.status, $0.consecutiveSuccesses) })
        #expect(first.change?.new == .up && first.read == (.up, 1))
        let second = try #require(state.record(.success("connected"), for: key, at: ms(2000)) { ($0.status, $0.consecutiveSuccesses) })
        #expect(second.change == nil && second.read == (.up, 2))
        #expect(state.trackers[key]?.lastCheck == ms(2000))
        state.apply(targets: [], at: ms(2000))
        #expect(state.record(.failure("refused"), for: key, at: ms(3000)) { $0.status } == nil)
    }

    @Test func downSetAndWeightsDriveTheDesiredTable() throws {
        let cfg = try config()
        var state = HealthState()
        state.apply(targets: HealthTarget.all(in: cfg), at: .zero)
        let keys = HealthTarget.all(in: cfg).map(\.key)
        // Before any result: everything counts as up, no overrides.
        var inputs = state.tableInputs(at: .zero)
        #expect(inputs.down.isEmpty && inputs.weights.isEmpty)

        state.record(.failure("timed out after 1s"), for: keys[0], at: ms(1000))
        state.record(.success("HTTP 200"), for: keys[1], at: ms(1000))
        state.record(.agent(AgentReply(availability: .up, weightPercent: 50), text: "up 50%"), for: keys[2], at: ms(1000))
        inputs = state.tableInputs(at: ms(1000))
        #expect(inputs.down == [id("web", "10.0.1.1", 8080)])
        #expect(inputs.weights == [id("api", "10.0.1.3", 8000): 2])
        let table = cfg.desiredIPVSTable(down: inputs.down, weights: inputs.weights)
        let web = try #require(table.entries.first { $0.service.key == cfg.virtualServers[0].ipvsKey })
        #expect(web.destinations.map(\.weight) == [0, 10]) // quiesced, up; no sorry server
        let api = try #require(table.entries.first { $0.service.key == cfg.virtualServers[1].ipvsKey })
        #expect(api.destinations.map(\.weight) == [2])

        // Both web servers down: the sorry server appears. Agent says down: api removed.
        state.record(.failure("HTTP 503"), for: keys[1], at: ms(2000))
        state.record(.failure("HTTP 503"), for: keys[1], at: ms(3000))
        state.record(.agent(AgentReply(availability: .down), text: "down"), for: keys[2], at: ms(3000))
        inputs = state.tableInputs(at: ms(3000))
        let table2 = cfg.desiredIPVSTable(down: inputs.down, weights: inputs.weights)
        let web2 = try #require(table2.entries.first { $0.service.key == cfg.virtualServers[0].ipvsKey })
        #expect(web2.destinations.map(\.weight) == [0, 0, 1])
        #expect(web2.destinations.last?.address == IPAddress("10.0.1.99"))
        let api2 = try #require(table2.entries.first { $0.service.key == cfg.virtualServers[1].ipvsKey })
        #expect(api2.destinations.isEmpty)
    }

    @Test func changesAreReported() throws {
        let cfg = try config()
        var state = HealthState()
        state.apply(targets: HealthTarget.all(in: cfg), at: .zero)
        let key = HealthTarget.all(in: cfg)[0].key
        let first = state.record(.success("HTTP 200"), for: key, at: ms(500))
        #expect(first?.old == .unknown && first?.new == .up && first?.server == id("web", "10.0.1.1", 8080))
        #expect(state.record(.failure("x"), for: key, at: ms(1500)) == nil)
        let down = state.record(.failure("x"), for: key, at: ms(2500))
        #expect(down?.new == .down && down?.at == ms(2500))
    }

    @Test func reloadKeepsStateOfUnchangedTargetsOnly() throws {
        let cfg = try config()
        var state = HealthState()
        state.apply(targets: HealthTarget.all(in: cfg), at: .zero)
        for t in HealthTarget.all(in: cfg) { state.record(.failure("down"), for: t.key, at: ms(1000)) }
        #expect(state.tableInputs(at: ms(1000)).down.count == 3)

        // New rise only: same probe, state kept, new rise in force.
        let cfg2 = try config(webRise: 3)
        let result = state.apply(targets: HealthTarget.all(in: cfg2), at: ms(2000))
        #expect(result.added.isEmpty && result.removed.isEmpty)
        #expect(state.tableInputs(at: ms(2000)).down.count == 3)
        #expect(state.trackers[HealthTarget.all(in: cfg2)[0].key]?.rise == 3)

        // New path: the web probes changed, their state starts over; api keeps its state.
        let cfg3 = try config(webPath: "/other")
        let r3 = state.apply(targets: HealthTarget.all(in: cfg3), at: ms(3000))
        #expect(r3.added.count == 2 && r3.removed.count == 2)
        #expect(state.tableInputs(at: ms(3000)).down == [id("api", "10.0.1.3", 8000)])
        // A late result for a removed probe is ignored.
        #expect(state.record(.success("late"), for: HealthTarget.all(in: cfg)[0].key, at: ms(3100)) == nil)
    }

    @Test func warmupStepsAreScheduled() throws {
        let cfg = try config(warmup: .seconds(10))
        var state = HealthState()
        state.apply(targets: HealthTarget.all(in: cfg), at: .zero)
        let key = HealthTarget.all(in: cfg)[0].key
        state.record(.failure("x"), for: key, at: ms(0))
        state.record(.success("ok"), for: key, at: ms(1000))
        state.record(.success("ok"), for: key, at: ms(2000))
        #expect(state.tableInputs(at: ms(2000)).weights == [id("web", "10.0.1.1", 8080): 1])
        #expect(state.nextWeightChange(after: ms(2000)) == ms(3000))
        #expect(state.tableInputs(at: ms(7000)).weights == [id("web", "10.0.1.1", 8080): 6])
        #expect(state.tableInputs(at: ms(12_000)).weights.isEmpty)
        #expect(state.nextWeightChange(after: ms(12_000)) == nil)
    }

    @Test func snapshotListsEveryTarget() throws {
        let cfg = try config()
        var state = HealthState()
        state.apply(targets: HealthTarget.all(in: cfg), at: .zero)
        let key = HealthTarget.all(in: cfg)[2].key
        state.record(.agent(AgentReply(weightPercent: 50), text: "50%"), for: key, at: ms(100))
        let snap = state.snapshot(at: ms(200))
        #expect(snap.count == 3)
        let api = try #require(snap.first { $0.key == key })
        #expect(api.status == .up && api.since == ms(100) && api.effectiveWeight == 2 && api.configuredWeight == 4)
        #expect(api.lastResult?.reason == "agent replied \"50%\"")
    }
}
