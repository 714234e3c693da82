import Logging
import Synchronization
import Testing
import TandemCore
import TandemKernel
@testable import TandemDaemon
import TandemTesting

private let vip = IPAddress("10.0.5.10")!

private func clusterYAML(services: Bool) -> String {
    """
    serial: 1
    nodes: [{name: d1, addresses: [10.0.0.1]}, {name: d2, addresses: [10.0.0.2]}]
    heartbeat: {auth: none}
    cluster:
      bgp: {local_as: 65010, peers: [{address: 10.0.0.254, as: 65000}]}
    virtual_ips: [{address: 10.0.5.10/32}]

    """ + (services ? """
    virtual_servers:
      - name: web
        address: 10.0.5.10
        port: 80
        scheduler: mh
        scheduler_flags: [mh-fallback]
        forwarding: dr
        real_servers: [{address: 10.0.0.21}]

    """ : "")
}

/// A kernel that accepts every write and keeps none: a dump after the writes differs.
private final class ForgetfulIPVSKernel: IPVSKernel, @unchecked Sendable {
    let inner = InMemoryIPVSKernel()
    func info() throws -> IPVSInfo { try inner.info() }
    func dump() throws -> IPVSListing { try inner.dump() }
    func apply(_ changes: [IPVSChange]) throws -> [IPVSChangeResult] { changes.map { IPVSChangeResult(change: $0, error: nil) } }
    func timeouts() throws -> IPVSTimeoutSettings { try inner.timeouts() }
    func setTimeouts(_ timeouts: IPVSTimeoutSettings) throws { try inner.setTimeouts(timeouts) }
    func syncDaemons() throws -> [IPVSSyncDaemon] { try inner.syncDaemons() }
    func startSyncDaemon(_ daemon: IPVSSyncDaemon) throws { try inner.startSyncDaemon(daemon) }
    func stopSyncDaemon(_ role: IPVSSyncDaemon.Role) throws { try inner.stopSyncDaemon(role) }
}

private struct NoIPVS: Error, CustomStringConvertible {
    var description: String { "IPVS is not available in this kernel" }
}

private func quietLogger() -> Logger { Logger(label: "test") { _ in SwiftLogNoOpLogHandler() } }

private func worker(_ config: Config, verifies: Bool = true, kernel: @escaping @Sendable () throws -> any IPVSKernel) -> KernelWorker {
    let logger = quietLogger()
    return KernelWorker(config: config, notifier: Notifier(runner: RecordingNotifyRunner(log: OrderLog()), nodeName: "d1", logger: logger),
                        logger: logger, interfaceMTU: { _ in 1500 }, verifiesWrites: verifies, makeKernel: kernel)
}

/// The table states a worker reports, in order.
private func tableStates(_ w: KernelWorker, after body: () -> Void) -> [String?] {
    let states = Mutex<[String?]>([])
    w.onTableState = { problem in states.withLock { $0.append(problem) } }
    body()
    w.drain()
    return states.withLock { $0 }
}

@Suite struct ClusterDirectorTests {
    // MARK: KernelWorker's cluster parts

    @Test func theSyncDaemonRunsInBothRolesAndIsRepaired() throws {
        let rig = try KernelWorkerSyncTests.Rig(sync: "{interface: eth0, sync_id: 1}")
        rig.worker.runSyncDaemonsInBothRoles()
        #expect(rig.writes() == ["sync start master", "sync start backup"])
        rig.worker.periodicCheck()
        #expect(rig.writes().isEmpty)
        try rig.ipvs.stopSyncDaemon(.backup)
        rig.worker.periodicCheck()
        #expect(rig.writes() == ["sync start backup"])
        let roles = rig.ipvs.daemons.map { "\($0.role)" }.sorted()
        #expect(roles == ["backup", "master"])
    }

    @Test func theTableStateIsReportedAfterEveryReconcile() throws {
        let config = try ConfigParser.parse(yaml: clusterYAML(services: true))
        let kernel = InMemoryIPVSKernel()
        let logged = LoggingIPVSKernel(kernel, log: OrderLog())
        let good = worker(config) { logged }
        #expect(tableStates(good) { good.reconcile(IPVSInputs(holdingVIPs: true), reason: .health); good.periodicCheck() } == [nil, nil])
        #expect(kernel.listing.services.count == 1)

        let unopenable = worker(config) { throw NoIPVS() }
        #expect(tableStates(unopenable) { unopenable.reconcile(IPVSInputs(holdingVIPs: true), reason: .health) }
            == ["IPVS cannot be opened: IPVS is not available in this kernel"])

        let noScheduler = InMemoryIPVSKernel()
        noScheduler.schedulers = ["none"]
        let refusing = LoggingIPVSKernel(noScheduler, log: OrderLog())
        let refused = worker(config) { refusing }
        let problem = tableStates(refused) { refused.reconcile(IPVSInputs(holdingVIPs: true), reason: .health) }
        #expect(problem.count == 1)
        #expect(problem.first??.hasPrefix("2 of 2 change(s) refused, first: ") == true)

        let forgetful = ForgetfulIPVSKernel()
        let verifying = worker(config) { forgetful }
        #expect(tableStates(verifying) { verifying.reconcile(IPVSInputs(holdingVIPs: true), reason: .health) }
            == ["the table still differs after the writes: 1 service added, 1 real server added"])
        // Without verification (a pair) the same writes count as done.
        let trusting = worker(config, verifies: false) { ForgetfulIPVSKernel() }
        #expect(tableStates(trusting) { trusting.reconcile(IPVSInputs(holdingVIPs: true), reason: .health) } == [nil])
    }

    // MARK: The director with fakes

    final class Rig: Sendable {
        let addresses = InMemoryAddressTable(links: [InMemoryAddressTable.link("lo", index: 1)])
        let routes = InMemoryAnnouncedRoutes()
        let worker: KernelWorker
        let director: ClusterDirector

        /// What the health checks report as without a first verdict.
        let pending = LockedBox<Set<RealServerID>>([])

        init(services: Bool, pending initial: Set<RealServerID> = [], kernel: @escaping @Sendable () throws -> any IPVSKernel) throws {
            pending.withLock { $0 = initial }
            let config = try ConfigParser.parse(yaml: clusterYAML(services: services))
            worker = TandemDaemonTests.worker(config, kernel: kernel)
            director = ClusterDirector(settings: .init(config: config, withdrawalGrace: 50), maintenance: false,
                                       addressTable: addresses, routes: routes, worker: worker, logger: quietLogger(),
                                       events: nil, clock: MonotonicClock(), unchecked: { [pending] in pending.withLock { $0 } })
            let director = self.director
            worker.onTableState = { director.post(.ipvsReconciled(problem: $0)) }
        }

        /// Everything posted so far handled: the director's queue, the worker's, the director's again.
        func settle() {
            director.drain()
            worker.drain()
            director.drain()
        }

        var announced: [String] { routes.current.map(\.destination.description) }
        var onLo: [String] { ((try? addresses.addresses()) ?? []).map(\.prefix.description) }

        func maintenance(_ on: Bool) async -> NodeReply {
            await withCheckedContinuation { continuation in
                director.maintenance(on) { continuation.resume(returning: $0) }
            }
        }
    }

    @Test func aDirectorAnnouncesDrainsAndWithdrawsBeforeReleasing() async throws {
        let kernel = LoggingIPVSKernel(InMemoryIPVSKernel(), log: OrderLog())
        let rig = try Rig(services: true) { kernel }
        rig.director.start()
        rig.settle()
        #expect(rig.onLo == ["10.0.5.10/32"])
        #expect(rig.announced == ["10.0.5.10/32"])
        #expect(rig.director.snapshot.decisions.map(\.description) == ["announced"])

        let on = await rig.maintenance(true)
        #expect(rig.announced.isEmpty)
        guard case .maintenanceDone(let text) = on else { Issue.record("maintenance on: \(on)"); return }
        #expect(text.hasPrefix("maintenance on: every route withdrawn"))
        #expect(rig.onLo == ["10.0.5.10/32"])
        _ = await rig.maintenance(false)
        #expect(rig.announced == ["10.0.5.10/32"])

        rig.director.post(.stop)
        rig.director.drain()
        #expect(rig.announced.isEmpty)
        #expect(rig.onLo == ["10.0.5.10/32"])  // the grace period: still forwarding
        await rig.director.waitUntilFinished()
        #expect(rig.onLo.isEmpty)
        #expect(rig.director.snapshot.phase == .finished)
    }

    @Test func aDirectorAnnouncesOnceTheFirstHealthVerdictsAreIn() async throws {
        let kernel = LoggingIPVSKernel(InMemoryIPVSKernel(), log: OrderLog())
        let web = RealServerID(service: "web", address: IPAddress("10.0.0.21")!, port: 80)
        let rig = try Rig(services: true, pending: [web]) { kernel }
        rig.director.start()
        rig.settle()
        #expect(rig.announced.isEmpty)
        rig.pending.withLock { $0 = [] }
        // Read every 100 ms: announced within a few reads.
        for _ in 0..<50 where rig.announced.isEmpty { try await Task.sleep(for: .milliseconds(20)) }
        #expect(rig.announced == ["10.0.5.10/32"])
        #expect(rig.director.snapshot.decisions.map(\.description) == ["announced"])
    }

    @Test func aDirectorWithoutIPVSWithdrawsAndSaysWhy() throws {
        let rig = try Rig(services: true) { throw NoIPVS() }
        rig.director.start()
        rig.settle()
        #expect(rig.onLo == ["10.0.5.10/32"])
        #expect(rig.announced.isEmpty)
        #expect(rig.director.snapshot.decisions.map(\.description)
            == ["withdrawn: IPVS table not verified (IPVS cannot be opened: IPVS is not available in this kernel)"])
    }

    @Test func aStaleRouteOfTandemsIsRemovedAtStart() throws {
        let stale = ClusterRoute.announcement(of: IPAddress("10.0.5.99")!, protocol: 250)
        let rig = try Rig(services: false) { throw NoIPVS() }
        _ = try rig.routes.add(stale)
        rig.director.start()
        rig.settle()
        #expect(rig.announced == ["10.0.5.10/32"])  // no IPVS needed: an empty table is verified
    }
}
