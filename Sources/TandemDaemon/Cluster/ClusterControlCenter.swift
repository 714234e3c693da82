import Dispatch
import Logging
import Synchronization
import TandemCore
import TandemKernel

/// Carries out control commands for a cluster director (`tandemctl status`, `maintenance`,
/// `show ipvs`, `events`): reads the director's snapshot and asks `ClusterDirector` for
/// maintenance changes, never deciding anything itself; `reload` is the daemon's. Failover has
/// no meaning without a pair. Drains are this director's only (directors do not share them).
public final class ClusterControlCenter: ControlHandling {
    public struct Parts: Sendable {
        public var nodeName: String
        public var configPath: String
        /// The cluster section the director started with (table, protocol and interface in use).
        public var cluster: ClusterSettings
        public var currentConfig: @Sendable () -> Config
        public var currentDigest: @Sendable () -> String
        /// Re-reads the config file: validates it, and unless `dryRun` puts it in force.
        public var reload: @Sendable (_ dryRun: Bool) -> Result<ReloadResult, ControlProtocolError>
        public var director: ClusterDirector
        public var worker: KernelWorker
        public var hub: EventHub
        /// Where the maintenance flag is kept (node-local).
        public var stateDirectory: String
        /// Health of the checked real servers.
        public var health: @Sendable () -> [RealServerID: RealServerHealthInfo]
        public var clock: any TandemClock
        /// This director's BGP sessions from its BIRD, or why they cannot be read.
        public var bgpSessions: @Sendable () async -> Result<[BGPSessionStatus], BIRDQueryError>
    }

    private let parts: Parts
    private let logger: Logger
    /// A maintenance change is writing the flag file and waiting for the director.
    private let maintenanceChange = Mutex(false)
    /// When the director started (wall clock, ns since the epoch), for `role_since`.
    private let startedAt: UInt64

    public init(parts: Parts, logger: Logger) {
        self.parts = parts
        self.logger = logger
        startedAt = parts.clock.wallNanoseconds()
    }

    public func events() -> AsyncStream<ControlEvent> { parts.hub.subscribe() }

    public func handle(_ command: ControlCommand, from client: ControlClient) async -> ControlResponse {
        if command.changesState { logger.notice("control: \(command.name) requested by \(client)") }
        switch command {
        case .status:
            var response = ControlResponse()
            response.status = await status()
            return response
        case .maintenance(let on, _):
            return await maintenance(on)
        case .failover:
            return .failure(.refused("\(parts.nodeName) is a cluster director: every director is active, there is no failover; use `tandemctl maintenance on` to take this one out of the routes"))
        case .drain(let server, let service):
            return await drain(server: server, service: service, on: true)
        case .undrain(let server, let service):
            return await drain(server: server, service: service, on: false)
        case .reload(let dryRun):
            return ControlCenter.reloadResponse(parts.reload(dryRun), dryRun: dryRun)
        case .showIPVS:
            let config = parts.currentConfig()
            guard let listing = await parts.worker.currentListing(for: config) else {
                return .failure(.refused(IPVSIntent.needsIPVS(config)
                    ? "the IPVS table cannot be read here (no IPVS in this kernel? see `tandemctl doctor`)"
                    : "this config has no virtual servers: tandemd does not use IPVS"))
            }
            var response = ControlResponse()
            response.ipvs = IPVSListFormat.render(listing)
            return response
        case .events:
            return .failure(.badRequest("events is a stream: the server handles it"))
        }
    }

    /// The report: `mode` "cluster", role "director", one announcement per VIP with its reasons.
    public func status() async -> StatusReport {
        let config = parts.currentConfig()
        let s = parts.director.snapshot
        let listing = config.virtualServers.isEmpty ? nil : await parts.worker.currentListing(for: config)
        let services = StatusReport.services(config: config, listing: listing, health: parts.health(), drained: [])
        let announced = s.decisions.filter(\.announce).count
        let wallNow = parts.clock.wallNanoseconds()
        let vips = config.virtualIPs.map { vip in
            let decision = s.decisions.first { $0.address == vip.address }
            let missing = decision?.reasons.contains { if case .addressMissing = $0 { return true } else { return false } } ?? true
            return StatusReport.VIP(address: vip.prefix.description, interface: vip.interface, held: !missing,
                                    problem: missing ? "not on \(vip.interface)" : nil)
        }
        let cluster = parts.cluster
        var report = StatusReport(
            node: parts.nodeName, role: "director",
            roleReason: "cluster director (\(s.phase.rawValue)): announcing \(announced) of \(s.decisions.count) VIP(s)",
            roleSince: ControlTime.iso8601(nanosecondsSinceEpoch: startedAt),
            roleAgeMs: wallNow >= startedAt ? (wallNow - startedAt) / 1_000_000 : 0,
            priority: 0, effectivePriority: 0, maintenance: s.maintenance,
            peer: StatusReport.Peer(name: "none", role: "none", alive: false, lastHeardMs: nil, priority: nil, config: nil, paths: []),
            heartbeats: .init(), vips: vips, services: services,
            config: StatusReport.ConfigInfo(serial: config.serial, digest: parts.currentDigest(), path: parts.configPath),
            configWarning: nil, roleChanges: [])
        report.mode = "cluster"
        report.cluster = ClusterDirectorStatus(
            phase: s.phase.rawValue, vipInterface: cluster.vipInterface, routeTable: cluster.routeTable,
            routeProtocol: cluster.routeProtocol, ipvsProblem: s.ipvsProblem,
            routeProblems: s.routeProblems.isEmpty ? nil : s.routeProblems,
            announcements: s.decisions.map(ClusterDirectorStatus.Announcement.init))
        switch await parts.bgpSessions() {
        case .success(let sessions): report.cluster?.bgp = sessions
        case .failure(let error): report.cluster?.bgpProblem = error.description
        }
        return report
    }

    /// Drains on this director only; the answer lists each real server's connections here and
    /// says the other directors were not told (`tandemctl drain --wait` follows them to zero).
    func drain(server: String, service: String?, on: Bool) async -> ControlResponse {
        let config = parts.currentConfig()
        let (endpoint, ids): (ServerEndpoint, [RealServerID])
        do { (endpoint, ids) = try ControlCenter.drainTargets(server: server, service: service, config: config) } catch { return .failure(error) }
        let reply = await withCheckedContinuation { (continuation: CheckedContinuation<NodeReply, Never>) in
            parts.director.drain(Set(ids), on: on, reply: { continuation.resume(returning: $0) })
        }
        guard case .drainDone(_, let note) = reply else {
            if case .refused(let why) = reply { return .failure(.refused(why)) }
            return .failure(.failed("unexpected answer to \(on ? "drain" : "undrain")"))
        }
        let listing = await parts.worker.currentListing(for: config)
        let entries = ids.map { id -> DrainResult.Entry in
            let key = config.virtualServers.first { $0.name == id.service }?.ipvsService.key
            let dest = listing?.services.first { $0.service.key == key }?.destinations
                .first { $0.destination.address == id.address && $0.destination.port == id.port }
            return DrainResult.Entry(service: id.service, server: endpoint.description, drained: on,
                                     activeConnections: dest?.activeConnections, inactiveConnections: dest?.inactiveConnections)
        }
        var text = "\(on ? "drained" : "undrained") \(endpoint) in \(ids.map(\.service).joined(separator: ", ")) on \(parts.nodeName)"
        if case .failed(let why) = note { text += "; \(why)" }
        logger.notice("\(text)")
        parts.hub.publish(.drain, text)
        var response = ControlResponse(message: text)
        response.drain = DrainResult(entries: entries, peerInformed: false)
        return response
    }

    /// The flag file is written first (the choice survives a crash) and the director answers once
    /// the route table followed; the answer adds the active connections still on this director
    /// (IPVS_DEST_ATTR_ACTIVE_CONNS summed over the table), which `tandemctl status` shows falling.
    func maintenance(_ on: Bool) async -> ControlResponse {
        let acquired = maintenanceChange.withLock { busy -> Bool in
            if busy { return false }
            busy = true
            return true
        }
        guard acquired else { return .failure(.refused("another maintenance change is in progress")) }
        defer { maintenanceChange.withLock { $0 = false } }
        let directory = parts.stateDirectory
        do {
            try OperatorState.setMaintenanceFlag(on, stateDirectory: directory)
        } catch {
            return .failure(.failed("cannot record maintenance in \(directory): \(FileErrorText.describe(error)); nothing changed"))
        }
        let reply = await withCheckedContinuation { (continuation: CheckedContinuation<NodeReply, Never>) in
            parts.director.maintenance(on, reply: { continuation.resume(returning: $0) })
        }
        switch reply {
        case .maintenanceDone(let text):
            var message = text
            if let listing = await parts.worker.currentListing(for: parts.currentConfig()) {
                let active = listing.services.reduce(0) { sum, s in sum + s.destinations.reduce(0) { $0 + Int($1.activeConnections) } }
                message += "; \(active) active connection(s) on this director now (`tandemctl status` shows them per real server)"
            }
            return ControlResponse(message: message)
        case .refused(let why):
            try? OperatorState.setMaintenanceFlag(!on, stateDirectory: directory)
            return .failure(.refused(why))
        case .failed(let why):
            return .failure(.failed(why))
        case .failoverDone, .drainDone:
            return .failure(.failed("unexpected answer to maintenance"))
        }
    }
}

/// Why BIRD's BGP sessions could not be read.
public struct BIRDQueryError: Error, Sendable, CustomStringConvertible {
    public var description: String
}

/// Asks this director's BIRD for its protocols (`birdc -s SOCKET show protocols`, 1 s at most,
/// on a queue of its own so a status call never blocks a shared thread on it).
public struct BIRDSessionReader: Sendable {
    public var socket: String
    public var runner: any ChildRunning
    private static let queue = DispatchQueue(label: "tandem.birdc")

    public init(socket: String, runner: any ChildRunning) {
        self.socket = socket
        self.runner = runner
    }

    public func sessions() async -> Result<[BGPSessionStatus], BIRDQueryError> {
        let request = ChildRequest(arguments: ["birdc", "-s", socket, "show", "protocols"], timeout: .seconds(1),
                                   terminationGrace: .milliseconds(200), outputLimit: 65536)
        let runner = self.runner
        let socket = self.socket
        let outcome = await withCheckedContinuation { (continuation: CheckedContinuation<ChildOutcome, Never>) in
            Self.queue.async { continuation.resume(returning: runner.run(request)) }
        }
        let text = String(decoding: outcome.output, as: UTF8.self)
        guard outcome.succeeded else {
            return .failure(BIRDQueryError(description: "birdc -s \(socket) show protocols \(outcome)" + (outcome.outputLine().map { ": \($0)" } ?? "")
                                           + " (is BIRD running with this control socket? tandemd --bird-socket)"))
        }
        do {
            return .success(try BIRDProtocols.bgpSessions(text))
        } catch {
            return .failure(BIRDQueryError(description: "\(error)"))
        }
    }
}
