import Dispatch
import Logging
import ServiceLifecycle
import Synchronization
import TandemCore
import TandemKernel

/// Why the daemon could not start; `exitCode` follows sysexits (78 config, 71 system).
public struct DaemonStartError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public var exitCode: Int32
}

/// Paths that belong to this node only: never taken from a mirrored config when given on the
/// command line, so two daemons on one host (tests, the lab) do not collide.
public struct NodeLocalSettings: Sendable, Hashable {
    public var controlSocket: String
    public var stateDirectory: String
    /// A cluster director's BIRD control socket (`birdc -s`), for the BGP sessions in status.
    public var birdSocket: String

    /// BIRD's default control socket (Debian's bird2 package).
    public static let defaultBIRDSocket = "/run/bird/bird.ctl"

    public init(controlSocket: String, stateDirectory: String, birdSocket: String = NodeLocalSettings.defaultBIRDSocket) {
        self.controlSocket = controlSocket
        self.stateDirectory = stateDirectory
        self.birdSocket = birdSocket
    }
}

/// Wires the parts of a running `tandemd` and runs them in one `ServiceGroup`:
/// the heartbeat thread, which runs this node's `NodeState` (every runtime decision), SIGHUP/SIGUSR1
/// handling, periodic IPVS checks, real-server health checks (own event loop thread,
/// `Daemon+Health.swift`). SIGTERM/SIGINT start a graceful stop (handover, then exit 0).
public enum Daemon {
    /// Runs until stopped. Throws `DaemonStartError` when it cannot start.
    ///
    /// - Parameter serviceManager: systemd's notify socket (`SystemdNotifier`) or nothing: readiness
    ///   after the first election, status lines, reload and stop notices, the watchdog.
    /// - Parameter repairPeriod: how often the IPVS table and the sync daemon are checked against
    ///   the config and repaired (30 s unless `tandemd --repair-interval` says otherwise).
    public static func run(store initial: ConfigStore, nodeName: String, local: NodeLocalSettings, logger: Logger,
                           serviceManager: any ServiceManagerNotifying = NoServiceManager(),
                           repairPeriod: Duration = .seconds(30)) async throws {
        let config = initial.current
        // The one clock every part of the daemon reads (`TandemClock`).
        let clock = MonotonicClock()
        // A cluster director runs no heartbeats and no election (Daemon+Cluster.swift).
        if config.isCluster {
            try await runCluster(store: initial, nodeName: nodeName, local: local, logger: logger,
                                 serviceManager: serviceManager, repairPeriod: repairPeriod, clock: clock)
            return
        }
        let settings: Election.Settings
        do {
            settings = try Election.Settings(config: config, nodeName: nodeName)
        } catch {
            throw DaemonStartError(description: "\(initial.path): \(error)", exitCode: 78)
        }
        guard let node = config.node(named: nodeName), let peer = config.peer(of: nodeName) else {
            throw DaemonStartError(description: "\(initial.path): node \(nodeName) or its peer is missing", exitCode: 78)
        }
        let paths = HeartbeatPath.paths(node: node, peer: peer)
        guard !paths.isEmpty else {
            throw DaemonStartError(description: "\(initial.path): nodes \(node.name) and \(peer.name) have no heartbeat addresses to pair", exitCode: 78)
        }
        let keys = try loadKeys(config.heartbeat, logger: logger)
        let authenticator = keys?.authenticators.current

        let (epoch, epochWarning) = BootEpoch.next(stateDirectory: local.stateDirectory, now: BootEpoch.wallClock(clock))
        if let epochWarning { logger.warning("\(epochWarning)") }
        let builder = HeartbeatRoundBuilder(identity: HeartbeatIdentity(config: config, nodeName: nodeName, bootEpoch: epoch),
                                            authenticator: authenticator)
        let transport: UDPHeartbeatTransport
        // Two rtnetlink sockets: the heartbeat thread claims and releases VIPs through the first;
        // `tandemctl status` dumps links and addresses through the second, so a status call never
        // holds up a claim.
        let addressTable: LiveAddressTable
        let statusAddresses: LiveAddressTable
        do {
            transport = try UDPHeartbeatTransport(paths: paths, port: config.heartbeat.port, builder: builder)
            addressTable = try LiveAddressTable()
            statusAddresses = try LiveAddressTable()
        } catch {
            throw DaemonStartError(description: "\(error)", exitCode: 71)
        }
        // Counters and histograms only /metrics shows, fed as things happen.
        let metricsEvents = MetricsEvents()
        let packetSender = PacketAnnouncementSender()
        for interface in Set(config.virtualIPs.map(\.interface)) {
            do { try packetSender.prepare(interface: interface) } catch {
                logger.warning("announcements on \(interface): \(error)")
            }
        }
        let announcer = LiveAnnouncer(sender: CountingAnnouncementSender(packetSender, events: metricsEvents), clock: clock, onError: { vip, error in
            logger.warning("announce \(vip.prefix) on \(vip.interface): \(error)")
        })
        try ControlServer.prepare(path: local.controlSocket)
        let hub = EventHub(clock: clock)
        let notifier = Notifier(runner: ProcessNotifyRunner(runner: SpawnChildRunner(clock: clock)), nodeName: nodeName, logger: logger,
                                clock: clock, onFinished: { metricsEvents.notifyFinished(role: $0, succeeded: $1) },
                                onSkipped: { metricsEvents.notifySkipped(role: $0) })
        let worker = KernelWorker(config: config, notifier: notifier, logger: logger, events: hub,
                                  onReconcile: { metricsEvents.reconciled($0) }, clock: clock, makeKernel: { try LiveIPVSKernel() })
        let driver = ElectionDriver(config: config, settings: settings, addressTable: addressTable, announcer: announcer,
                                    sender: transport, worker: worker, logger: logger,
                                    heartbeatAddresses: paths.map(\.local), clock: clock,
                                    drains: LiveDrainKeeper.load(stateDirectory: local.stateDirectory, logger: logger))
        driver.drainKeeper = LiveDrainKeeper(stateDirectory: local.stateDirectory, logger: logger)
        driver.events = hub
        let reporter = ServiceManagerReporter(notifier: serviceManager, peer: peer.name,
                                              monotonicMicroseconds: ServiceManagerReporter.monotonicMicroseconds(clock))
        transport.onRoundLateness = { metricsEvents.heartbeatRoundSent(lateness: $0) }
        transport.clock = clock
        driver.onRoleChange = { role, reason in
            reporter.roleChanged(to: role, reason: reason)
            metricsEvents.roleChanged(to: role, reason: reason)
        }
        let verifier = HeartbeatVerifier(peerName: peer.name, pathCount: paths.count, authenticator: authenticator,
                                         nextAuthenticator: keys?.authenticators.next, localName: nodeName, localEpoch: epoch,
                                         challengeRetryMilliseconds: UInt64(clamping: max(config.heartbeat.interval.milliseconds, 100)),
                                         staleAfterMilliseconds: HeartbeatVerifier.staleAfterMilliseconds(deadTime: config.heartbeat.deadTime))
        let keysInForce = LockedBox(keys)
        let stopTimeout = driver.node.settings.stopTimeout
        let loop: HeartbeatLoop
        do {
            loop = try HeartbeatLoop(driver: driver, transport: transport, verifier: verifier, logger: logger,
                                     realtimeSetting: config.heartbeat.realtimePriority, keys: keys, clock: clock)
        } catch {
            throw DaemonStartError(description: "\(error)", exitCode: 71)
        }
        // Each reconcile NodeState asked for is reported back to it (cold standby announces after the install).
        worker.onReconciled = { reason, succeeded in loop.post(.node(.ipvsReconciled(reason, succeeded: succeeded))) }
        let tracked = Set(node.trackInterfaces.map(\.interface))
        do {
            driver.routeMonitor = try LiveRouteMonitor(
                interfaces: tracked, vips: config.virtualIPs, ownPorts: addressTable.ownPorts,
                watchedAddresses: Set(paths.map(\.local)),
                onError: { error in logger.warning("route monitor: \(error)") },
                handler: { event in
                    if case .vipRemoved(let vip, origin: .foreign) = event { metricsEvents.foreignRemoval(of: vip) }
                    loop.post(.route(event))
                })
        } catch {
            logger.error("route monitor unavailable (\(error)): tracked interfaces and foreign VIP removals are not watched")
        }

        logger.notice("starting: node \(nodeName) priority \(node.priority), peer \(peer.name); heartbeat every \(config.heartbeat.interval), dead time \(config.heartbeat.deadTime), port \(config.heartbeat.port), \(paths.map(\.description).joined(separator: ", ")); auth \(keys.map { "hmac-sha256 key \($0.current.fingerprint)" + ($0.next.map { " (also accepting \($0.fingerprint))" } ?? "") } ?? "none"); boot epoch \(epoch); VIPs \(NodeState.list(config.virtualIPs)); config serial \(config.serial) digest \(config.digest.prefix(16))")

        // What tandemd --check says on this host (a missing heartbeat address, a notify command
        // or exec check that cannot run here, a config file or program others can change, a host
        // that is the peer's, ...), logged once at start (trial 34: found only at the next
        // failover; trial 35).
        for line in hostWarnings(config, node: nodeName, configPath: initial.path) { logger.warning("config: \(line)") }

        let store = LockedBox(initial)
        // Each check's service key for the metrics' labels, by virtual server name: a table rebuilt at
        // each reload, read at a target's first result after start or reload (the metrics keep
        // each target's series until the next reload).
        let serviceKeys = LockedBox(Self.serviceKeys(config))
        // Health results go to NodeState (it owns the IPVS table's inputs), paced by DaemonHealth.
        let health = DaemonHealth(config: config, logger: logger, events: hub, clock: clock,
                                  onResult: { key in
                                      metricsEvents.healthRecorder(for: key, service: serviceKeys.withLock { $0[key.server.service] })
                                  },
                                  deliver: { down, weights in loop.post(.node(.realServerHealth(down: down, weights: weights))) })
        let controlGroup = ControlGroup(config.control.group, logger: logger)
        let reloadContext = ReloadContext(nodeName: nodeName,
                                          controlSocketFromConfig: local.controlSocket == config.control.socketPath,
                                          stateDirectoryFromConfig: local.stateDirectory == config.stateDirectory)
        // `peerKeys`: what the peer said of its heartbeat keys just before (an operator's reload
        // and SIGHUP ask; a mirrored reload does not: nil).
        let reloadInner: @Sendable (_ dryRun: Bool, _ peerKeys: PeerKeysAnswer?) -> Result<ReloadResult, ControlProtocolError> = { dryRun, peerKeys in
            let (running, runningDigest) = store.withLock { ($0.current, $0.digest) }
            let prepared: ConfigStore.Prepared
            switch store.withLock({ $0.prepareReload() }) {
            case .failure(let error):
                logger.error("reload rejected: \(error); keeping the config in force (digest \(runningDigest.prefix(16)))")
                hub.publish(.config, "reload rejected: \(error)")
                if !dryRun { loop.post(.node(.reloadFailed("\(error)"))) }
                return .failure(.refused("\(error)\nthe running config (serial \(running.serial)) stays in force"))
            case .success(let value):
                prepared = value
            }
            let fresh = prepared.config
            // A refusal of what the file asks on this node: logged, published, told to the node.
            func refuse(_ why: String) -> Result<ReloadResult, ControlProtocolError> {
                logger.error("reload rejected: \(why); keeping the running config")
                hub.publish(.config, "reload rejected: \(why)")
                if !dryRun { loop.post(.node(.reloadFailed(why))) }
                return .failure(.refused("\(store.withLock { $0.path }): \(why)\nthe running config (serial \(running.serial)) stays in force"))
            }
            if let renamed = ConfigDifference.renamed(from: running, to: fresh, node: nodeName) { return refuse(renamed) }
            let newSettings: Election.Settings
            do {
                newSettings = try Election.Settings(config: fresh, nodeName: nodeName)
            } catch {
                logger.error("reload rejected: \(error); keeping the running config")
                if !dryRun { loop.post(.node(.reloadFailed("\(error)"))) }
                return .failure(.refused("\(store.withLock { $0.path }): \(error); the running config stays in force"))
            }
            // A VIP brought in on an interface this node does not have would fault the node (and
            // the peer, once mirrored): refused, the running config stays (VIPInterfaceCheck).
            let absent = VIPInterfaceCheck.absent(in: fresh, running: running, exists: interfaceExists)
            if !absent.isEmpty { return refuse(VIPInterfaceCheck.problem(absent, node: nodeName)) }
            // So would one on an interface that is down or without carrier.
            let down = VIPInterfaceCheck.down(in: fresh, running: running, node: nodeName, isUp: interfaceIsUp)
            if !down.isEmpty { return refuse(VIPInterfaceCheck.downProblem(down, node: nodeName)) }
            // A VIP that is already an address of this host is the host's own: a standby would
            // remove it (and the active take it over).
            let here = (try? localAddressInterfaces()) ?? [:]
            let taken = VIPInterfaceCheck.alreadyHere(in: fresh, running: running, interfaceOf: { here[$0] })
            if !taken.isEmpty { return refuse(VIPInterfaceCheck.alreadyHereProblem(taken, node: nodeName)) }
            // Key files are read at every reload (a key may change under the same path) and
            // replace the heartbeat keys at once; a file that cannot be used refuses the reload.
            let freshKeys: HeartbeatKeySet?
            do {
                freshKeys = try HeartbeatKeySet.load(fresh.heartbeat)
            } catch {
                logger.error("reload rejected: \(error); keeping the running config and keys")
                if !dryRun { loop.post(.node(.reloadFailed("\(error)"))) }
                return .failure(.refused("\(store.withLock { $0.path }): \(error)\nthe running config (serial \(running.serial)) stays in force"))
            }
            // New keys that would refuse the live peer's heartbeats make both nodes active.
            let heard = loop.status
            let runningKeys = keysInForce.withLock { $0.map { ($0.current.fingerprint, $0.next?.fingerprint) } }
            let freshFingerprints = freshKeys.map { ($0.current.fingerprint, $0.next?.fingerprint) }
            if let lockout = HeartbeatKeyChange.lockout(
                running: runningKeys, fresh: freshFingerprints,
                peerAlive: heard.peerAlive, peerSignsWith: heard.authentication.peerKey, peerName: peer.name) {
                return refuse(lockout)
            }
            // And the other way: a signing key the live peer cannot check.
            if let refused = HeartbeatKeyChange.peerWouldRefuse(
                running: runningKeys, fresh: freshFingerprints, peerAlive: heard.peerAlive,
                peerSignsWith: heard.authentication.peerKey,
                peerRunsRunningConfig: heard.peer?.configDigest == HeartbeatMessage.ConfigDigest(hex: runningDigest),
                peerName: peer.name, peerSerial: heard.peer?.configSerial) {
                return refuse(refused)
            }
            // The peer's own word on the key this node would sign with (key bytes never travel).
            let peerKeyCheck = HeartbeatKeyChange.peerHoldsNewKey(running: runningKeys, fresh: freshFingerprints,
                                                                  peerAlive: heard.peerAlive, answer: peerKeys, peerName: peer.name)
            if let refusal = peerKeyCheck.refusal { return refuse(refusal) }
            // A changed config whose serial is not raised would not stay (ConfigBook.serialProblem).
            let freshVersion = ConfigVersion(serial: fresh.serial, digest: .init(hex: prepared.digest) ?? .zero)
            let runningVersion = ConfigVersion(serial: running.serial, digest: .init(hex: runningDigest) ?? .zero)
            let peerVersion = heard.peerAlive ? heard.peer.map { ConfigVersion(serial: $0.configSerial, digest: $0.configDigest) } : nil
            if let problem = ConfigBook.serialProblem(running: runningVersion, fresh: freshVersion, peer: peerVersion,
                                                      peerName: peer.name, mirrors: running.heartbeat.authentication.mirrorsConfig) {
                return refuse(problem)
            }
            let report = ConfigChange.reloadReport(ConfigDifference.changes(from: running, to: fresh, started: config, context: reloadContext),
                                                   ipvsUnavailable: worker.ipvsUnavailable)
            var changes = report.lines
            // Keys are files, not config: a key rotated under the same paths changes no config line
            // (changed paths have lines of their own).
            if fresh.heartbeat.authentication == running.heartbeat.authentication, fresh.heartbeat.nextKeyFile == running.heartbeat.nextKeyFile,
               let keyChange = HeartbeatKeyChange.describe(running: runningKeys, fresh: freshFingerprints) {
                changes.append(keyChange)
            }
            let restartNeeded = ConfigDifference.restartNeeded(started: config, current: fresh, context: reloadContext)
            // What check-config and tandemd --check would warn about on this node, then what of the
            // changes cannot reach the kernel.
            var warnings = prepared.warnings + hostWarnings(fresh, node: nodeName, configPath: initial.path) + report.warnings
                + (peerKeyCheck.warning.map { [$0] } ?? [])
                + ConfigDifference.drainNotes(drained: heard.drained, from: running, to: fresh)
            // Comments and layout alone change no version, so the peer never fetches them (trial 33).
            if running.heartbeat.authentication.mirrorsConfig, fresh.serial == running.serial, prepared.digest == runningDigest,
               let inForce = store.withLock({ $0.text }), inForce != prepared.text {
                warnings.append("the file differs from the config in force only in comments or layout (same serial, same digest): "
                    + "nothing changes, and \(peer.name)'s file keeps its own text until a change is mirrored; raise serial to "
                    + "mirror this file now")
            }
            var result = ReloadResult(applied: false, oldSerial: running.serial, newSerial: fresh.serial,
                                      oldDigest: runningDigest, newDigest: prepared.digest, changes: changes,
                                      restartNeeded: restartNeeded, warnings: warnings.isEmpty ? nil : warnings)
            guard !dryRun else { return .success(result) }
            let keysChanged = keysInForce.withLock { inForce -> Bool in
                let before = inForce.map { [$0.current.fingerprint, $0.next?.fingerprint ?? ""] }
                let after = freshKeys.map { [$0.current.fingerprint, $0.next?.fingerprint ?? ""] }
                inForce = freshKeys
                return before != after
            }
            if keysChanged { loop.post(.keys(freshKeys)) }
            guard case .replaced = store.withLock({ $0.commit(prepared) }) else {
                logger.notice("reload: config unchanged")
                result.applied = keysChanged
                // The node learns the version in force after every reload (a replication waiting
                // for it may find it loaded by an operator's reload in between).
                loop.post(.configVersion(ConfigVersion(serial: fresh.serial, digest: .init(hex: prepared.digest) ?? .zero)))
                return .success(result)
            }
            if !restartNeeded.isEmpty {
                logger.warning("reload: needs a restart to apply: \(restartNeeded.joined(separator: "; ")); running with the values it started with")
            }
            logger.notice("reload: config replaced (digest \(runningDigest.prefix(16)) -> \(prepared.digest.prefix(16)), serial \(fresh.serial))")
            for warning in warnings { logger.warning("reload: \(warning)") }
            if fresh.control.group != running.control.group { controlGroup.set(fresh.control.group, logger: logger) }
            hub.publish(.config, "config replaced: serial \(running.serial) -> \(fresh.serial), \(changes.count) change(s)")
            loop.post(.reload(fresh, newSettings))
            loop.post(.configVersion(ConfigVersion(serial: fresh.serial, digest: .init(hex: prepared.digest) ?? .zero)))
            serviceKeys.withLock { $0 = Self.serviceKeys(fresh) }
            metricsEvents.healthServicesChanged()
            health.monitor.resetResultObservers()
            health.apply(fresh)
            result.applied = true
            return .success(result)
        }
        // systemd hears RELOADING=1 ... READY=1 around every reload that may change something.
        // Why the file on disk was refused at the last reload (of any origin), until one takes it:
        // status says so, since a restart would fail on that file.
        let fileRefused = LockedBox<String?>(nil)
        let reloadChecked: @Sendable (_ dryRun: Bool, _ peerKeys: PeerKeysAnswer?) -> Result<ReloadResult, ControlProtocolError> = { dryRun, peerKeys in
            let result: Result<ReloadResult, ControlProtocolError>
            if dryRun {
                result = reloadInner(true, peerKeys)
            } else {
                reporter.reloading()
                result = reloadInner(false, peerKeys)
                reporter.reloaded()
            }
            switch result {
            case .success: fileRefused.withLock { $0 = nil }
            case .failure(let error):
                let first = error.description.split(separator: "\n").first.map(String.init) ?? error.description
                fileRefused.withLock { $0 = "\(first) (at \(ControlTime.iso8601(nanosecondsSinceEpoch: clock.wallNanoseconds())))" }
            }
            return result
        }
        let reloadConfig: @Sendable (_ dryRun: Bool) -> Result<ReloadResult, ControlProtocolError> = { reloadChecked($0, nil) }
        let reload: @Sendable () -> Void = { _ = reloadConfig(false) }
        let replication = try makeReplication(config: config, store: store, nodeName: nodeName, peerName: peer.name, paths: paths,
                                              loop: loop, reload: reload, keysInForce: { keysInForce.withLock { $0 } },
                                              logger: logger, clock: clock)
        // Before the heartbeat thread starts (HeartbeatService), so the driver is not shared yet.
        driver.replication = replication
        var parts = ControlCenter.Parts(
            nodeName: nodeName, configPath: initial.path, loop: loop, worker: worker, addressTable: statusAddresses,
            paths: paths, hub: hub, stateDirectory: local.stateDirectory, currentConfig: { store.withLock { $0.current } },
            currentDigest: { store.withLock { $0.digest } }, reload: reloadConfig)
        parts.clock = clock
        parts.replication = { ReplicationStatusLine.text(replication.status()) }
        parts.configFileRefused = { fileRefused.withLock { $0 } }
        // An operator's reload first asks the live peer which heartbeat keys it holds (bounded:
        // a peer that cannot be reached costs at most a second, and the reload says so).
        // (SIGHUP too; a mirrored reload runs on the peer channel's own thread and does not ask.)
        let reloadAskingPeer: @Sendable (_ dryRun: Bool) async -> Result<ReloadResult, ControlProtocolError> = { dryRun in
            let ask = store.withLock { $0.current }.heartbeat.authentication.mirrorsConfig && loop.status.peerAlive
            let answer = ask ? await replication.peerKeyFingerprints(timeout: .seconds(1)) : nil
            return reloadChecked(dryRun, answer)
        }
        parts.reloadAskingPeer = reloadAskingPeer
        // Once at start, the peer's own word on the key this node signs with: a node started on
        // a key the peer lacks (a next key written on one node only) is refused by it, and hears
        // no complaint (trial 35). Asked once the peer channel answers, for at most 10 s.
        if config.heartbeat.authentication.mirrorsConfig {
            let ours = keysInForce.withLock { $0.map { ($0.current.fingerprint, $0.next?.fingerprint) } }
            let peerName = peer.name
            Task {
                for _ in 0..<10 {
                    try? await Task.sleep(for: .seconds(1))
                    guard loop.status.peerAlive else { continue }
                    let answer = await replication.peerKeyFingerprints(timeout: .seconds(1))
                    guard case .known = answer else { continue }
                    if let warning = HeartbeatKeyChange.peerLacksOurKey(ours: ours, answer: answer, peerName: peerName) {
                        logger.warning("\(warning)")
                        hub.publish(.peer, warning)
                    }
                    return
                }
            }
        }
        parts.ipvsUnavailable = {
            worker.ipvsUnavailable.map { "\($0); tandemd tries again every 30s (`tandemctl doctor` checks this kernel)" }
        }
        parts.notify = { notifier.status() }
        let metricsListen = MetricsListenState()
        parts.metricsNotListening = { metricsListen.notListening }
        parts.restartNeeded = {
            ConfigDifference.restartNeeded(started: config, current: store.withLock { $0.current }, context: reloadContext)
        }
        let center = ControlCenter(
            parts: parts,
            logger: logger, health: { health.statusForControl() })
        center.restoreOperatorState()
        // The file a refused mirrored config was written to is back as it was: a restart reads
        // the config in force, so status no longer says the file on disk was refused.
        replication.onFileRestored { fileRefused.withLock { $0 = nil } }
        replication.onDrains { list in
            await withCheckedContinuation { continuation in
                loop.post(.peerDrains(list, reply: { continuation.resume(returning: $0) }))
            }
        }
        loop.watchdog = WatchdogPinger(notifier: serviceManager)
        let heartbeat = HeartbeatService(loop: loop, onStop: { reporter.stopping() })
        var configuration = ServiceGroupConfiguration(
            services: [
                .init(service: PeriodicReconcileService(worker: worker, period: repairPeriod)),
                .init(service: ResidentCodeService(settle: .seconds(10), period: .seconds(300))),
                .init(service: SignalService(onReload: { _ = await reloadAskingPeer(false) }, onStatus: { loop.post(.logStatus) })),
                .init(service: ControlServer(path: local.controlSocket, group: controlGroup, handler: center,
                                             logger: logger)),
                .init(service: health),
                .init(service: replication),
                .init(service: makeMetricsServer(config: config, nodeName: nodeName, state: metricsListen, center: center,
                                                 replication: replication, sent: transport.sendCounters,
                                                 events: metricsEvents, logger: logger)),
                .init(service: heartbeat, successTerminationBehavior: .gracefullyShutdownGroup),
            ],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        configuration.maximumGracefulShutdownDuration = .milliseconds(Int64(stopTimeout.milliseconds) + 1000)
        configuration.maximumCancellationDuration = .seconds(5)
        try await ServiceGroup(configuration: configuration).run()
        hub.finish()
        // The stop notify command is queued by the kernel worker: let it get there, then say
        // what the process still waits for. The heartbeat port stays held until the exit, so a
        // tandemd started meanwhile refuses to start rather than run its `active` command
        // before this one's `stop` (systemd's restart waits for the exit anyway).
        worker.finishQueuedWork()
        if let outstanding = notifier.outstanding() {
            let what = [outstanding.running.map { "\($0.notifyKey) (running)" }, outstanding.waiting.map { "\($0.notifyKey) (waiting)" }].compactMap { $0 }
            logger.notice("stopped; waiting for the notify command(s) \(what.joined(separator: " and ")) to end, each within notify.timeout (\(store.withLock { $0.current.notify.timeout })) and 1 s, before exiting: at most \((outstanding.worstCaseMs + 999) / 1000)s more\(serviceManager is NoServiceManager ? "" : "; systemd's stop timeout is extended meanwhile (EXTEND_TIMEOUT_USEC)")")
        }
        await drainExtendingStopTimeout(worker: worker, notifier: notifier, serviceManager: serviceManager, clock: clock)
    }

    /// Waits for `worker.drain()` (the notify commands still running or waiting at stop) off the
    /// cooperative pool, meanwhile sending systemd what `StopTimeoutExtender` decides, so the
    /// unit's `TimeoutStopSec=` does not kill tandemd while its commands keep to their timeouts.
    static func drainExtendingStopTimeout(worker: KernelWorker, notifier: Notifier, serviceManager: any ServiceManagerNotifying,
                                          clock: any TandemClock) async {
        await withTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                    DispatchQueue.global().async {
                        worker.drain()
                        done.resume()
                    }
                }
            }
            tasks.addTask {
                var extender = StopTimeoutExtender()
                while !Task.isCancelled {
                    if let message = extender.tick(now: clock.now(), outstanding: notifier.outstanding()) { serviceManager.send(message) }
                    try? await Task.sleep(for: .milliseconds(200))
                }
            }
            await tasks.next()
            tasks.cancelAll()
        }
    }

    /// Each virtual server's IPVS service key, by name.
    static func serviceKeys(_ config: Config) -> [String: IPVSServiceKey] {
        Dictionary(config.virtualServers.map { ($0.name, $0.ipvsService.key) }, uniquingKeysWith: { first, _ in first })
    }

    /// The heartbeat keys of `settings` (nil with `auth: none`, which is logged as a warning).
    static func loadKeys(_ settings: HeartbeatSettings, logger: Logger) throws -> HeartbeatKeySet? {
        do {
            guard let keys = try HeartbeatKeySet.load(settings) else {
                logger.warning("heartbeats are not authenticated (auth: none)")
                return nil
            }
            return keys
        } catch {
            throw DaemonStartError(description: "\(error)", exitCode: 78)
        }
    }
}
