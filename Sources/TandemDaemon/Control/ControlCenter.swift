#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import ServiceLifecycle
import Synchronization
import TandemCore
import TandemHealth
import TandemKernel

/// Carries out control commands for a running daemon: reads its state for `status`, asks the
/// heartbeat thread's `NodeState` for failovers, maintenance and drains (never touching the
/// election or the drain list itself), keeps the maintenance flag in the state directory so it
/// survives a restart (the drain list is kept by `LiveDrainKeeper`, as `NodeState` decides).
public final class ControlCenter: ControlHandling {
    /// What the center needs from the daemon.
    public struct Parts: Sendable {
        public var nodeName: String
        public var configPath: String
        public var loop: HeartbeatLoop
        public var worker: KernelWorker
        /// For status reads only, through its own rtnetlink socket (never the one the heartbeat
        /// thread claims VIPs through, so a status call cannot hold up a claim).
        public var addressTable: any AddressTable
        /// Status times, drain generations and the drain resync schedule.
        public var clock: any TandemClock = MonotonicClock()
        public var paths: [HeartbeatPath]
        public var hub: EventHub
        /// Where drains and the maintenance flag are kept (node-local).
        public var stateDirectory: String
        public var currentConfig: @Sendable () -> Config
        /// `currentConfig().digest`, cached by the store (hashing a large config is slow).
        public var currentDigest: @Sendable () -> String
        /// Re-reads the config file: validates it, and unless `dryRun` puts it in force.
        public var reload: @Sendable (_ dryRun: Bool) -> Result<ReloadResult, ControlProtocolError>
        /// Health of the checked real servers (empty until health checks run).
        public var health: @Sendable () -> [RealServerID: RealServerHealthInfo] = { [:] }
        /// One line about the last config replication, if any.
        public var replication: @Sendable () -> String? = { nil }
        /// Settings in force that only a restart applies (`ConfigDifference.restartNeeded`).
        public var restartNeeded: @Sendable () -> [String] = { [] }
        /// Why the config file on disk was refused at the last reload, while no reload has taken
        /// a file since; nil otherwise.
        public var configFileRefused: @Sendable () -> String? = { nil }
        /// An operator's reload when it first asks the peer something (a pair's node: which
        /// heartbeat keys it holds); nil runs `reload` as it is.
        public var reloadAskingPeer: (@Sendable (_ dryRun: Bool) async -> Result<ReloadResult, ControlProtocolError>)?
        /// Why IPVS cannot be opened now (`KernelWorker.ipvsUnavailable`); nil when it can.
        public var ipvsUnavailable: @Sendable () -> String? = { nil }
        /// The `metrics.listen` endpoints not served (`MetricsListenState.notListening`).
        public var metricsNotListening: @Sendable () -> [StatusReport.MetricsEndpoint] = { [] }
        /// The notify commands' state (`Notifier.status`).
        public var notify: @Sendable () -> StatusReport.Notify? = { nil }

        public init(nodeName: String, configPath: String, loop: HeartbeatLoop, worker: KernelWorker,
                    addressTable: any AddressTable, paths: [HeartbeatPath], hub: EventHub, stateDirectory: String,
                    currentConfig: @escaping @Sendable () -> Config, currentDigest: @escaping @Sendable () -> String,
                    reload: @escaping @Sendable (Bool) -> Result<ReloadResult, ControlProtocolError>) {
            self.nodeName = nodeName
            self.configPath = configPath
            self.loop = loop
            self.worker = worker
            self.addressTable = addressTable
            self.paths = paths
            self.hub = hub
            self.stateDirectory = stateDirectory
            self.currentConfig = currentConfig
            self.currentDigest = currentDigest
            self.reload = reload
        }
    }

    private let parts: Parts
    private let logger: Logger
    /// A maintenance change is writing the flag file and waiting for the node.
    private let maintenanceChange = Mutex(false)

    public init(parts: Parts, logger: Logger,
                health: (@Sendable () -> [RealServerID: RealServerHealthInfo])? = nil) {
        var parts = parts
        if let health { parts.health = health }
        self.parts = parts
        self.logger = logger
    }

    /// Start-up: re-applies the stored maintenance flag (`NodeState` restores the drains).
    public func restoreOperatorState() {
        let directory = parts.stateDirectory
        if OperatorState.maintenanceFlag(stateDirectory: directory) {
            logger.notice("maintenance is on (flag file in \(directory)): this node stays standby until `tandemctl maintenance off`")
            parts.loop.post(.request(.maintenance(true, force: true), reply: { _ in }))
        }
    }

    public func events() -> AsyncStream<ControlEvent> { parts.hub.subscribe() }

    public func handle(_ command: ControlCommand, from client: ControlClient) async -> ControlResponse {
        if command.changesState { logger.notice("control: \(command.name) requested by \(client)") }
        switch command {
        case .status:
            var response = ControlResponse()
            response.status = await status()
            return response
        case .failover(let force):
            return await failover(force: force)
        case .maintenance(let on, let force):
            return await maintenance(on, force: force)
        case .drain(let server, let service):
            return await drain(server: server, service: service, on: true)
        case .undrain(let server, let service):
            return await drain(server: server, service: service, on: false)
        case .reload(let dryRun):
            if let asking = parts.reloadAskingPeer { return ControlCenter.reloadResponse(await asking(dryRun), dryRun: dryRun) }
            return ControlCenter.reloadResponse(parts.reload(dryRun), dryRun: dryRun)
        case .showIPVS:
            guard let listing = await parts.worker.currentListing(for: parts.currentConfig()) else {
                return .failure(.refused(IPVSIntent.needsIPVS(parts.currentConfig())
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

    // MARK: - Status

    public func status() async -> StatusReport { await statusSources().report }

    /// The status report with the inputs it was built from, read once: `/metrics` renders these,
    /// so it shows the numbers `tandemctl status` shows.
    public struct StatusSources: Sendable {
        public var report: StatusReport
        /// The config in force the report describes.
        public var config: Config
        /// The IPVS table the report's services were built from (nil: unreadable, or no virtual servers).
        public var listing: IPVSListing?
        /// The heartbeat thread's status the report was built from.
        public var loop: HeartbeatStatus
    }

    public func statusSources() async -> StatusSources {
        let config = parts.currentConfig()
        let s = parts.loop.status
        let node = config.node(named: parts.nodeName)
        let peerName = config.peer(of: parts.nodeName)?.name ?? "?"
        let wallNow = parts.clock.wallNanoseconds()
        let peerConfig = s.peer.map { StatusReport.ConfigInfo(serial: $0.configSerial, digest: $0.configDigest.description) }
        let paths = zip(parts.paths, s.paths).enumerated().map { index, pair in
            let (path, stats) = pair
            let local = index < s.localPaths.count ? s.localPaths[index] : nil
            return StatusReport.Path(path: "\(path.local) -> \(path.peer)", received: stats.received, lost: stats.lost,
                                     lastHeardMs: stats.lastHeard.map { s.now.milliseconds(since: $0) },
                                     localProblem: local.flatMap { $0.isUsable ? nil : $0.description },
                                     arrivalJitterMs: stats.received > 1 ? Double(stats.arrivalJitterNanoseconds) / 1e6 : nil,
                                     dropped: index < s.pathDrops.count ? s.pathDrops[index] : [:])
        }
        let peer = StatusReport.Peer(name: peerName, role: s.peer.map { $0.role.description } ?? "unknown", alive: s.peerAlive,
                                     lastHeardMs: s.peer.map { s.now.milliseconds(since: $0.lastHeard) },
                                     priority: s.peer.map { Int($0.priority) }, config: peerConfig, paths: paths)
        // Held means usable: on its interface, the interface up with carrier, not tentative and
        // not in address conflict (LocalHealth.VIPState).
        let tracked = node?.trackInterfaces ?? []
        let judged = try? parts.addressTable.assessHealth(heartbeatAddresses: [], sendFailures: [:], vips: config.virtualIPs,
                                                          trackedInterfaces: tracked)
        let vips = config.virtualIPs.map { vip in
            let state = judged?.state(of: vip)
            return StatusReport.VIP(address: vip.prefix.description, interface: vip.interface, held: state == .held,
                                    problem: state.map { $0.problem(vip) } ?? "links and addresses cannot be read")
        }
        let listing = config.virtualServers.isEmpty ? nil : await parts.worker.currentListing(for: config)
        let services = StatusReport.services(config: config, listing: listing, health: parts.health(),
                                             drained: s.drained)
        let mine = StatusReport.ConfigInfo(serial: config.serial, digest: parts.currentDigest(), path: parts.configPath)
        let c = s.counters
        var report = StatusReport(
            node: parts.nodeName, role: s.role.description, roleReason: s.roleReason,
            roleSince: s.roleChangedAt == 0 ? nil : ControlTime.iso8601(nanosecondsSinceEpoch: s.roleChangedAt),
            roleAgeMs: wallNow >= s.roleChangedAt ? (wallNow - s.roleChangedAt) / 1_000_000 : 0,
            priority: node?.priority ?? 0, effectivePriority: Int(s.effectivePriority), maintenance: s.maintenance,
            peer: peer,
            heartbeats: .init(accepted: c.accepted, malformed: c.malformed, unauthenticated: c.unauthenticated,
                              replayed: c.replayed, unexpectedSender: c.unexpectedSender, unknownPath: c.unknownPath, stale: c.stale),
            vips: vips, services: services, config: mine,
            configWarning: StatusReport.configWarning(mine: mine, peer: s.peerAlive ? peerConfig : nil, peerName: peerName),
            roleChanges: s.history.map {
                StatusReport.RoleChange(time: ControlTime.iso8601(nanosecondsSinceEpoch: $0.at), from: $0.from.description,
                                        to: $0.to.description, reason: $0.reason)
            },
            replication: parts.replication(), restartNeeded: parts.restartNeeded(), localFaults: s.localFaults)
        report.authentication = StatusReport.Authentication(status: s.authentication, counters: c, fingerprints: s.keyFingerprints,
                                                             now: s.now, wallNow: wallNow)
        report.configFileRefused = parts.configFileRefused()
        report.ipvsUnavailable = parts.ipvsUnavailable()
        let metricsNotListening = parts.metricsNotListening()
        report.metricsNotListening = metricsNotListening.isEmpty ? nil : metricsNotListening
        report.notify = parts.notify()
        if s.preemptSuspended {
            report.preemptSuspended = "preempt suspended after a failover: \(peerName) serves; \(parts.nodeName) takes the VIPs back "
                + "only if \(peerName) stops serving or its priority drops, or with `tandemctl failover`"
        }
        report.dualActive = s.dualActiveMs.map {
            "DUAL ACTIVE for \($0)ms: \(peerName) stays active although \(parts.nodeName) wins, so it does not hear "
                + "\(parts.nodeName)'s heartbeats (lost one way, or refused: a key it lacks; compare the key fingerprints on both); both hold the VIPs"
        }
        return StatusSources(report: report, config: config, listing: listing, loop: s)
    }

    // MARK: - Failover and maintenance

    /// Asks the heartbeat thread's `NodeState`, which answers every request exactly once.
    private func ask(_ command: NodeCommand) async -> NodeReply {
        await withCheckedContinuation { (continuation: CheckedContinuation<NodeReply, Never>) in
            parts.loop.post(.request(command, reply: { continuation.resume(returning: $0) }))
        }
    }

    private static func response(_ reply: NodeReply) -> ControlResponse {
        switch reply {
        case .refused(let why): return .failure(.refused(why))
        case .failed(let why): return .failure(.failed(why))
        case .failoverDone(let from, let to, let ms, let text):
            var response = ControlResponse(message: text)
            response.failover = FailoverResult(from: from, to: to, durationMs: ms, message: text)
            return response
        case .maintenanceDone(let text):
            return ControlResponse(message: text)
        case .drainDone(let list, _):
            return ControlResponse(message: "\(list.entries.count) real server(s) drained")
        }
    }

    func failover(force: Bool) async -> ControlResponse {
        Self.response(await ask(.failover(force: force)))
    }

    /// The flag file is written first (so the choice survives a crash) and taken back when the
    /// node refuses; `maintenanceChange` keeps two requests from racing on the file.
    func maintenance(_ on: Bool, force: Bool = false) async -> ControlResponse {
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
        let reply = await ask(.maintenance(on, force: force))
        if case .refused = reply { try? OperatorState.setMaintenanceFlag(!on, stateDirectory: directory) }
        return Self.response(reply)
    }

    // MARK: - Drain

    /// The real servers `tandemctl drain SERVER [--service NAME]` names in `config`, or why none.
    /// An undrain also names drained ones a reload removed from the config (`drained`: the drain
    /// list), so that the list can be cleared of them.
    static func drainTargets(server: String, service: String?, config: Config, drained: Set<RealServerID> = [],
                             undrain: Bool = false) throws(ControlProtocolError) -> (ServerEndpoint, [RealServerID]) {
        let endpoint = try ServerEndpoint.parse(server)
        let matching = config.virtualServers.filter { service == nil || $0.name == service }
        let orphans = undrain ? drained.filter { id in
            id.address == endpoint.address && id.port == endpoint.port && (service == nil || id.service == service)
                && !config.virtualServers.contains { $0.name == id.service && $0.realServers.contains { $0.address == id.address && $0.port == id.port } }
        }.sorted() : []
        if let service, matching.isEmpty, orphans.isEmpty {
            throw .refused("no virtual server named \(service) (known: \(config.virtualServers.map(\.name).joined(separator: ", ")))")
        }
        let ids = matching.compactMap { vs -> RealServerID? in
            guard vs.realServers.contains(where: { $0.address == endpoint.address && $0.port == endpoint.port }) else { return nil }
            return RealServerID(service: vs.name, address: endpoint.address, port: endpoint.port)
        } + orphans
        guard !ids.isEmpty else {
            throw .refused("no real server \(endpoint) in \(service.map { "virtual server \($0)" } ?? "any virtual server") of the config")
        }
        return (endpoint, ids)
    }

    func drain(server: String, service: String?, on: Bool) async -> ControlResponse {
        let config = parts.currentConfig()
        let (endpoint, ids): (ServerEndpoint, [RealServerID])
        do {
            (endpoint, ids) = try Self.drainTargets(server: server, service: service, config: config,
                                                    drained: parts.loop.status.drained, undrain: !on)
        } catch { return .failure(error) }
        // Already as asked (a second drain, an undrain of a server not drained): said, not hidden.
        let before = parts.loop.status.drained
        let unchanged = !ids.isEmpty && ids.allSatisfy { before.contains($0) == on }
        let told: DrainOffer
        switch await ask(.drain(ids, on: on, wallClock: parts.clock.wallNanoseconds())) {
        case .drainDone(_, let peer): told = peer
        case .refused(let why), .failed(let why): return .failure(.refused(why))
        case .failoverDone, .maintenanceDone: return .failure(.failed("unexpected answer to \(on ? "drain" : "undrain")"))
        }
        let listing = await parts.worker.listing()
        var listed: [IPVSServiceKey: IPVSListedService] = [:]
        for s in listing?.services ?? [] { listed[s.service.key] = s }
        let entries = ids.map { id -> DrainResult.Entry in
            let key = config.virtualServers.first { $0.name == id.service }?.ipvsService.key
            let dest = key.flatMap { listed[$0] }?.destinations.first { $0.destination.address == id.address && $0.destination.port == id.port }
            return DrainResult.Entry(service: id.service, server: endpoint.description, drained: on,
                                     activeConnections: dest?.activeConnections, inactiveConnections: dest?.inactiveConnections)
        }
        let services = ids.map(\.service).joined(separator: ", ")
        var text = unchanged
            ? "\(endpoint) was \(on ? "already drained" : "not drained") in \(services) on \(parts.nodeName): nothing changed here"
            : "\(on ? "drained" : "undrained") \(endpoint) in \(services) on \(parts.nodeName)"
        switch told {
        case .accepted(let answer): text += "; peer: \(answer)"
        case .failed(let why): text += "; the peer was NOT told (\(why)): it gets this node's list when it is heard again (the newer list wins)"
        }
        logger.notice("\(text)")
        parts.hub.publish(.drain, text)
        var response = ControlResponse(message: text)
        if case .accepted = told { response.drain = DrainResult(entries: entries, peerInformed: true) } else {
            response.drain = DrainResult(entries: entries, peerInformed: false)
        }
        return response
    }
}

/// The operator's persistent choices, as files in the state directory.
enum OperatorState {
    static func maintenancePath(_ directory: String) -> String { directory + "/maintenance" }
    static func drainsPath(_ directory: String) -> String { directory + "/drains" }

    static func maintenanceFlag(stateDirectory: String) -> Bool {
        FileManager.default.fileExists(atPath: maintenancePath(stateDirectory))
    }

    static func setMaintenanceFlag(_ on: Bool, stateDirectory: String) throws {
        let path = maintenancePath(stateDirectory)
        if on {
            try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true)
            try AtomicFileWriter.write(Array("maintenance requested with tandemctl; remove with `tandemctl maintenance off`\n".utf8), to: path)
        } else if FileManager.default.fileExists(atPath: path) {
            try FileManager.default.removeItem(atPath: path)
        }
    }

    /// `generation N`, then one drained real server per line: `SERVICE ADDRESS PORT`.
    static func storeDrains(_ book: DrainBook, stateDirectory: String) throws {
        try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true)
        let text = "generation \(book.generation)\n" + book.list.entries.map { $0 + "\n" }.joined()
        try AtomicFileWriter.write(Array(text.utf8), to: drainsPath(stateDirectory))
    }

    static func loadDrains(stateDirectory: String, logger: Logger) -> DrainBook {
        guard let data = FileManager.default.contents(atPath: drainsPath(stateDirectory)) else { return DrainBook() }
        var result: Set<RealServerID> = []
        var generation: UInt64 = 0
        for (index, line) in String(decoding: data, as: UTF8.self).split(separator: "\n").enumerated() {
            if line.hasPrefix("generation "), let value = UInt64(line.dropFirst("generation ".count)) {
                generation = value
                continue
            }
            guard let id = DrainBook.parse(line) else {
                logger.warning("\(drainsPath(stateDirectory)) line \(index + 1): \"\(line)\" is not SERVICE ADDRESS PORT: ignored")
                continue
            }
            result.insert(id)
        }
        return DrainBook(drained: result, generation: generation)
    }
}

/// The one line `tandemctl status` shows about config mirroring.
enum ReplicationStatusLine {
    static func text(_ status: ReplicationStatus) -> String? {
        guard status.enabled else { return status.disabledReason.map { "off: \($0)" } }
        var parts: [String] = []
        if let last = status.lastReplication {
            let when = ControlTime.iso8601(nanosecondsSinceEpoch: UInt64(max(0, last.when.timeIntervalSince1970) * 1e9))
            parts.append("\(when) \(last.direction.rawValue) serial \(last.serial) (\(last.peer)): \(last.result)")
        } else {
            parts.append("none yet")
        }
        parts.append("fetches \(status.fetches), serves \(status.serves), failed fetches \(status.fetchFailures), authentication failures \(status.authenticationFailures)")
        if status.conflict { parts.append("CONFLICT: equal serials, different contents") }
        for (address, why) in status.notListening.sorted(by: { $0.key < $1.key }) {
            parts.append("NOT LISTENING on \(address) (\(why); retrying): the peer cannot fetch over that path")
        }
        return parts.joined(separator: "; ")
    }
}

extension ControlCenter {
    /// The answer to `tandemctl reload [--dry-run]` for a pair's node and a director alike.
    static func reloadResponse(_ result: Result<ReloadResult, ControlProtocolError>, dryRun: Bool) -> ControlResponse {
        switch result {
        case .success(let result):
            var response = ControlResponse(message: result.applied ? "reloaded" : dryRun ? "dry run: nothing applied" : "config unchanged")
            response.reload = result
            return response
        case .failure(let error):
            return .failure(error)
        }
    }
}
