import Logging
import ServiceLifecycle
import TandemCore
import TandemKernel

extension Daemon {
    /// Runs a cluster director (the config has `cluster:`) until stopped: no peer heartbeats and no
    /// election; `ClusterDirector` owns the decisions (`ClusterDirectorState`). It reuses the
    /// pair's parts: `KernelWorker` for the IPVS table (the same on every director, checked every
    /// `repairPeriod`) and the sync daemons, `DaemonHealth` for the real servers, the control
    /// server, and adds the cluster's route table (`LiveAnnouncedRoutes`). SIGTERM/SIGINT withdraw
    /// every route, wait `ClusterDirectorState.defaultWithdrawalGrace`, release the VIPs and exit 0;
    /// SIGHUP and `tandemctl reload` reload (`reloader`).
    static func runCluster(store initial: ConfigStore, nodeName: String, local: NodeLocalSettings, logger: Logger,
                           serviceManager: any ServiceManagerNotifying, repairPeriod: Duration,
                           clock: MonotonicClock) async throws {
        let config = initial.current
        guard let cluster = config.cluster else { return }
        guard config.node(named: nodeName) != nil else {
            throw DaemonStartError(description: "\(initial.path): node \(nodeName) is not one of the cluster's directors (\(config.nodes.map(\.name).joined(separator: ", "))): pass --node NAME", exitCode: 78)
        }
        let addressTable: LiveAddressTable
        let routes: LiveAnnouncedRoutes
        do {
            addressTable = try LiveAddressTable()
            routes = try LiveAnnouncedRoutes(table: cluster.routeTable)
        } catch {
            throw DaemonStartError(description: "\(error)", exitCode: 71)
        }
        try ControlServer.prepare(path: local.controlSocket)
        let hub = EventHub(clock: clock)
        let notifier = Notifier(runner: ProcessNotifyRunner(runner: SpawnChildRunner(clock: clock)), nodeName: nodeName, logger: logger, clock: clock)
        let worker = KernelWorker(config: config, notifier: notifier, logger: logger, events: hub, clock: clock,
                                  verifiesWrites: true, makeKernel: { try LiveIPVSKernel() })
        let maintenance = OperatorState.maintenanceFlag(stateDirectory: local.stateDirectory)
        if maintenance {
            logger.notice("maintenance is on (flag file in \(local.stateDirectory)): nothing is announced until `tandemctl maintenance off`")
        }
        // The director is made after the health checks (it reads their first verdicts) and
        // receives their deliveries through this box.
        let box = LockedBox<ClusterDirector?>(nil)
        let health = DaemonHealth(config: config, logger: logger, events: hub, clock: clock,
                                  deliver: { down, weights in box.withLock { $0 }?.post(.health(down: down, weights: weights)) })
        let director = ClusterDirector(settings: .init(config: config), maintenance: maintenance, addressTable: addressTable,
                                       routes: routes, worker: worker, logger: logger, events: hub, clock: clock,
                                       watchdog: WatchdogPinger(notifier: serviceManager),
                                       unchecked: {
                                           Set(health.snapshot().filter { $0.status == .unknown }
                                               .map { RealServerID(service: $0.service, address: $0.address, port: $0.port) })
                                       },
                                       drained: OperatorState.loadDrains(stateDirectory: local.stateDirectory, logger: logger).drained,
                                       keepDrains: { servers in
                                           do {
                                               try OperatorState.storeDrains(DrainBook(drained: servers), stateDirectory: local.stateDirectory)
                                           } catch {
                                               logger.error("cannot keep the drain list in \(local.stateDirectory): \(FileErrorText.describe(error)); it is in force until tandemd stops")
                                           }
                                       })
        box.withLock { $0 = director }
        worker.onTableState = { problem in director.post(.ipvsReconciled(problem: problem)) }
        // A VIP that leaves vip_interface behind Tandem's back is withdrawn at once (the 5 s
        // repair claims it again); without the monitor only the repair notices.
        let monitor: LiveRouteMonitor?
        do {
            monitor = try LiveRouteMonitor(interfaces: [cluster.vipInterface], vips: config.virtualIPs, ownPorts: addressTable.ownPorts,
                                           onError: { error in logger.warning("route monitor: \(error)") },
                                           handler: { event in
                                               switch event {
                                               case .vipRemoved, .vipAdded, .overrun: director.addressesChanged()
                                               default: break
                                               }
                                           })
        } catch {
            logger.error("route monitor unavailable (\(error)): a VIP removed from \(cluster.vipInterface) is noticed by the 5 s repair only")
            monitor = nil
        }
        let store = LockedBox(initial)
        let birdReader = BIRDSessionReader(socket: local.birdSocket, runner: SpawnChildRunner(clock: clock))
        let reload = reloader(store: store, started: config, nodeName: nodeName, local: local, director: director,
                              health: health, hub: hub, logger: logger, ipvsUnavailable: { worker.ipvsUnavailable },
                              onVIPs: { vips in for vip in vips { monitor?.track(vip, present: false) } })
        let center = ClusterControlCenter(
            parts: .init(nodeName: nodeName, configPath: initial.path, cluster: cluster,
                         currentConfig: { store.withLock { $0.current } }, currentDigest: { store.withLock { $0.digest } },
                         reload: reload, director: director, worker: worker, hub: hub, stateDirectory: local.stateDirectory,
                         health: { health.statusForControl() }, clock: clock,
                         bgpSessions: { await birdReader.sessions() }),
            logger: logger)
        logger.notice("starting: cluster director \(nodeName) of \(config.nodes.count); VIPs \(config.virtualIPs.map { "\($0.prefix)" }.joined(separator: ", ")) on \(cluster.vipInterface); route table \(cluster.routeTable) proto \(cluster.routeProtocol); \(config.virtualServers.count) virtual server(s); config serial \(config.serial) digest \(initial.digest.prefix(16))")
        serviceManager.send(.ready(status: "cluster director \(nodeName)"))
        let service = ClusterDirectorService(director: director, onStop: {
            serviceManager.send(.stopping(status: "withdrawing the routes"))
        })
        var configuration = ServiceGroupConfiguration(
            services: [
                .init(service: PeriodicReconcileService(worker: worker, period: repairPeriod)),
                .init(service: SignalService(onReload: { _ = reload(false) }, onStatus: {
                    let s = director.snapshot
                    let vips = s.decisions.map { "\($0.address) \($0)" }.joined(separator: "; ")
                    logger.notice("status: director \(nodeName) \(s.phase.rawValue)\(s.maintenance ? ", maintenance" : ""); \(vips)")
                })),
                .init(service: ControlServer(path: local.controlSocket, group: ControlGroup(config.control.group, logger: logger),
                                             handler: center, logger: logger)),
                .init(service: health),
                .init(service: MetricsServer(listen: config.metrics.listen, vips: Set(config.virtualIPs.map(\.prefix.address)),
                                             otherNodes: config.nodes.filter { $0.name != nodeName }, logger: logger, render: {
                    let s = director.snapshot
                    let bgp = try? await birdReader.sessions().get()
                    return Array(ClusterMetrics.render(decisions: s.decisions, maintenance: s.maintenance, ipvsVerified: s.ipvsProblem == nil,
                                                       routeProblems: s.routeProblems.count, bgp: bgp).utf8)
                })),
                .init(service: service, successTerminationBehavior: .gracefullyShutdownGroup),
            ],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        configuration.maximumGracefulShutdownDuration = Duration.milliseconds(Int64(ClusterDirectorState.defaultWithdrawalGrace) + 4000)
        configuration.maximumCancellationDuration = Duration.seconds(5)
        try await ServiceGroup(configuration: configuration).run()
        monitor?.stop()
        hub.finish()
        worker.drain()
    }

    /// A director's reload (`tandemctl reload`, SIGHUP): validates the file (a switch to a pair is
    /// refused by `ConfigStore`), reports the difference and what needs a restart, and unless
    /// `dryRun` puts it in force: health checks first, then `onVIPs` with the VIPs it adds (the
    /// route monitor watches them), then the director (`ClusterDirector.reload`).
    /// The cluster section in force stays the one the director started with (its route table,
    /// protocol and interface need a restart and are listed so; the BGP part is BIRD's).
    /// `ipvsUnavailable`: why the IPVS table cannot be opened now (`KernelWorker.ipvsUnavailable`).
    static func reloader(store: LockedBox<ConfigStore>, started: Config, nodeName: String, local: NodeLocalSettings,
                         director: ClusterDirector, health: DaemonHealth, hub: EventHub, logger: Logger,
                         ipvsUnavailable: @escaping @Sendable () -> String? = { nil },
                         onVIPs: @escaping @Sendable ([VirtualIP]) -> Void) -> @Sendable (Bool) -> Result<ReloadResult, ControlProtocolError> {
        let context = ReloadContext(nodeName: nodeName, controlSocketFromConfig: local.controlSocket == started.control.socketPath,
                                    stateDirectoryFromConfig: local.stateDirectory == started.stateDirectory)
        return { dryRun in
            let (running, runningDigest) = store.withLock { ($0.current, $0.digest) }
            let prepared: ConfigStore.Prepared
            switch store.withLock({ $0.prepareReload() }) {
            case .failure(let error):
                logger.error("reload rejected: \(error); keeping the config in force (digest \(runningDigest.prefix(16)))")
                hub.publish(.config, "reload rejected: \(error)")
                return .failure(.refused("\(error)\nthe running config (serial \(running.serial)) stays in force"))
            case .success(let value):
                prepared = value
            }
            var fresh = prepared.config
            guard fresh.node(named: nodeName) != nil else {
                return .failure(.refused("\(store.withLock { $0.path }): node \(nodeName) is not one of the new config's directors; the running config (serial \(running.serial)) stays in force"))
            }
            let report = ConfigChange.reloadReport(ConfigDifference.changes(from: running, to: fresh, started: started, context: context),
                                                   ipvsUnavailable: ipvsUnavailable())
            let changes = report.lines
            let restartNeeded = ConfigDifference.restartNeeded(started: started, current: fresh, context: context)
            var result = ReloadResult(applied: false, oldSerial: running.serial, newSerial: fresh.serial, oldDigest: runningDigest,
                                      newDigest: prepared.digest, changes: changes, restartNeeded: restartNeeded,
                                      warnings: report.warnings.isEmpty ? nil : report.warnings)
            guard !dryRun else { return .success(result) }
            guard case .replaced = store.withLock({ $0.commit(prepared) }) else {
                logger.notice("reload: config unchanged")
                return .success(result)
            }
            if !restartNeeded.isEmpty {
                logger.warning("reload: needs a restart to apply: \(restartNeeded.joined(separator: "; ")); running with the values it started with")
            }
            logger.notice("reload: config replaced (digest \(runningDigest.prefix(16)) -> \(prepared.digest.prefix(16)), serial \(fresh.serial))")
            for warning in report.warnings { logger.warning("reload: \(warning)") }
            hub.publish(.config, "config replaced: serial \(running.serial) -> \(fresh.serial), \(changes.count) change(s)")
            fresh.cluster = started.cluster
            if let vipInterface = started.cluster?.vipInterface {
                fresh.virtualIPs = fresh.virtualIPs.map { vip in
                    var vip = vip
                    vip.interface = vipInterface
                    return vip
                }
            }
            health.apply(fresh)
            onVIPs(fresh.virtualIPs.filter { !running.virtualIPs.contains($0) })
            director.reload(fresh)
            result.applied = true
            return .success(result)
        }
    }
}
