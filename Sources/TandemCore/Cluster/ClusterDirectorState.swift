/// Every runtime decision of one cluster director (cluster mode, issue 19), pure: it takes events
/// with the time as an argument and returns effects, and never touches the kernel. The daemon's
/// `ClusterDriver` carries the effects out (VIP claims, the IPVS worker, the route table) and
/// feeds what it found back as events.
///
/// What a director does, and in which order:
/// - **Start**: claim every VIP on `cluster.vip_interface` (no gratuitous ARP or unsolicited NA:
///   the interface answers none, the route draws the traffic), read the addresses back, ask for
///   the IPVS table every director installs (`IPVSInputs.holdingVIPs` is always true: there is no
///   standby), start the sync daemon as master and backup when the config has `sync:`, and
///   reconcile the route table once even though nothing can be announced yet (the IPVS table is
///   not verified), which removes routes a crashed predecessor left behind.
/// - **First health verdicts**: a real server whose health check has not given its first result
///   (`unchecked`) does not count as live, so a director that starts or restarts announces once
///   its checks have seen the real servers, not before (the pair's IPVS table counts such a
///   server as up, `HealthTracker`; a director must not draw flows it may not be able to serve).
///   It still counts in the IPVS table, as for a pair.
/// - **Announce**: after every change of a fact (`RouteAnnouncement.decide`'s inputs) the
///   decisions are made again; when the set of VIPs to announce changed, the route table is
///   reconciled to it (`reconcileRoutes`). Every `repairInterval` the VIPs are claimed again (a
///   removed one comes back), the addresses read and the table reconciled even when nothing
///   changed (drift: someone deleted a route).
/// - **Maintenance on/off**: the operator's request changes the decisions (maintenance withdraws
///   every VIP, `RouteAnnouncement` rule 2) and is answered once the route table was reconciled,
///   so `tandemctl maintenance on` returns after the routes are gone from the table. The VIPs and
///   the IPVS table stay: the connections the router already sent here finish.
/// - **Drain** (`tandemctl drain` on this director): the real server's weight goes to 0 in this
///   director's IPVS table (established connections finish) and it no longer counts as live; the
///   list is kept in the state directory. Directors do not share drains: run the command on each
///   (the answer says so), or every director but one hashes the server's flows there.
/// - **Reload** (a new config, already validated, still a cluster with the same route table,
///   protocol and `vip_interface`: those need a restart, `ConfigDifference`): the decisions are
///   made for the new VIPs and the table reconciled first (a removed VIP's route goes), then the
///   removed VIPs are released (their routes are already withdrawn; flows still arriving for them
///   are no longer served, as the operator asked), the new ones claimed, and the IPVS table follows.
/// - **Stop** (SIGTERM, restart): the routes are withdrawn FIRST, then the director waits
///   `withdrawalGrace` with the VIPs and the IPVS table still in place, so the flows the router
///   sends until BIRD's withdrawal reaches it are still forwarded; then the VIPs are released and
///   the state finishes. A second stop request skips the wait.
///
/// One owner (the director's thread); not thread-safe.
public struct ClusterDirectorState: Sendable {
    /// How long a stop waits between withdrawing the routes and releasing the VIPs: 1 s.
    ///
    /// A route removed from the table reaches BIRD as a netlink notification at once and BIRD sends
    /// the BGP withdrawal at once; the host test (`integration/host/test_cluster_routes.py`)
    /// measured 0.04 s from the removal to the upstream router's kernel. BFD plays no part in a
    /// graceful withdrawal (it detects a director that died, `BGPSettings.bfdDetectionTime`), so the
    /// wait is not tied to it: 1 s is 25 times the measured propagation, short enough for a
    /// restart and for systemd's stop timeout.
    public static let defaultWithdrawalGrace: UInt64 = 1000
    /// How often the VIPs, the addresses and the route table are checked and repaired: 5 s.
    /// A route dump of a table of a few hundred VIPs costs well under a millisecond.
    public static let defaultRepairInterval: UInt64 = 5000

    public struct Settings: Sendable, Hashable {
        /// The config in force; must be a cluster (`config.cluster` set).
        public var config: Config
        /// Milliseconds between the withdrawal and the release of the VIPs at a stop.
        public var withdrawalGrace: UInt64
        /// Milliseconds between two repairs of VIPs and routes.
        public var repairInterval: UInt64

        public init(config: Config, withdrawalGrace: UInt64 = ClusterDirectorState.defaultWithdrawalGrace,
                    repairInterval: UInt64 = ClusterDirectorState.defaultRepairInterval) {
            self.config = config
            self.withdrawalGrace = withdrawalGrace
            self.repairInterval = max(repairInterval, 1)
        }

        /// `cluster.vip_interface`, `lo` when the config is not a cluster.
        public var vipInterface: String { config.cluster?.vipInterface ?? ClusterSettings.defaultVIPInterface }
        /// `cluster.route_protocol`.
        public var routeProtocol: UInt8 { config.cluster?.routeProtocol ?? ClusterSettings.defaultRouteProtocol }
    }

    /// What happened.
    public enum Event: Sendable, Hashable {
        /// tandemd started as this director.
        case start
        /// The IPVS worker finished a reconcile: nil when the desired table is installed and a dump
        /// matched it, else why not (the kernel's error, the changes refused).
        case ipvsReconciled(problem: String?)
        /// The health checks' verdicts: real servers down, and weight overrides in force
        /// (drains, agent feedback, warm-up), as `Config.desiredIPVSTable(down:weights:)` takes them.
        case health(down: Set<RealServerID>, weights: [RealServerID: Int])
        /// The checked real servers that have no first verdict yet (empty once all have one).
        case unchecked(Set<RealServerID>)
        /// The addresses on `vip_interface` now (the answer to `observeAddresses`); nil when they
        /// could not be read (then every VIP counts as missing).
        case addressesObserved(Set<IPAddress>?)
        /// `tandemctl drain`/`undrain` of these real servers; answered at once by `reply(id, .drainDone)`.
        case drain(Set<RealServerID>, on: Bool, request: NodeRequestID)
        /// `tandemctl maintenance on|off`; answered once by `reply(id, …)`.
        case maintenance(on: Bool, request: NodeRequestID)
        /// SIGTERM or SIGINT; a second one skips the wait.
        case stop
        /// A reload put this config in force (validated; same cluster table, protocol and interface).
        case reload(Config)
        /// The instant last asked for with `scheduleTimer` has come.
        case timer
        /// The answer to `reconcileRoutes`: each failure as text ("cannot read table 100: …",
        /// "+ blackhole 10.0.5.10/32 proto 250: EPERM …", conflicts); empty when the table now
        /// holds exactly the routes asked for.
        case routesReconciled(problems: [String])
    }

    /// What the executor must do, in the order given. `claim`, `release`, `observeAddresses` and
    /// `reconcileRoutes` are done at once; `observeAddresses` and `reconcileRoutes` are answered
    /// (`addressesObserved`, `routesReconciled`) before the next outside event.
    public enum Effect: Sendable, Hashable {
        /// Put these VIPs on `vip_interface` (already there is fine). No ARP or NA announcement.
        case claim([VirtualIP])
        /// Take these VIPs off their interface.
        case release([VirtualIP])
        /// Read the addresses on `vip_interface`; answer `.addressesObserved`.
        case observeAddresses
        /// Bring the IPVS table to the one these inputs and the config make (the same on every
        /// director); answered later by `.ipvsReconciled`.
        case reconcileIPVS(IPVSInputs)
        /// Run the connection-sync daemon as master and as backup (the config has `sync:`).
        case runSyncDaemons
        /// The drained set changed: keep it in the state directory.
        case drainsChanged(Set<RealServerID>)
        /// Reconcile the route table to announce exactly these VIPs (`AnnouncedRoutes.reconcile`);
        /// answer `.routesReconciled`.
        case reconcileRoutes(announce: Set<IPAddress>)
        /// The one answer to request `id`.
        case reply(NodeRequestID, NodeReply)
        case log(NodeLogLevel, String)
        /// One event for `tandemctl events`.
        case publish(ControlEvent.Kind, String)
        /// Give `.timer` at this instant (nil: none). Replaces the previous one.
        case scheduleTimer(MonotonicInstant?)
        /// Stopping is complete: the daemon may exit.
        case finished(reason: String)
    }

    public enum Phase: String, Sendable, Hashable {
        /// Not started yet.
        case idle
        case running
        /// Stopping: the routes are being withdrawn or the grace period runs.
        case withdrawing
        case finished
    }

    public private(set) var settings: Settings
    public private(set) var phase: Phase = .idle
    public private(set) var maintenance = false
    /// Nil once the IPVS table is installed and verified.
    public private(set) var ipvsProblem: String? = "no reconcile has finished yet"
    /// The VIP addresses found on `vip_interface` at the last observation.
    public private(set) var presentAddresses: Set<IPAddress> = []
    public private(set) var down: Set<RealServerID> = []
    public private(set) var weights: [RealServerID: Int] = [:]
    /// Checked real servers without a first verdict: not live for the decisions.
    public private(set) var unchecked: Set<RealServerID>
    /// Real servers drained on this director (weight 0 in its table, not live).
    public private(set) var drained: Set<RealServerID>
    /// The decisions in force, one per VIP in config order (empty before the start).
    public private(set) var decisions: [RouteAnnouncement.Decision] = []
    /// The problems of the last route reconcile (empty: the table is as asked).
    public private(set) var routeProblems: [String] = []
    /// The set last given to `reconcileRoutes` (nil before the first).
    public private(set) var requestedAnnouncements: Set<IPAddress>?
    /// When the next `.timer` is due.
    public private(set) var timerDeadline: MonotonicInstant?
    /// Why the state finished.
    public private(set) var finishReason: String?

    /// Maintenance requests waiting for the route reconcile they caused.
    private var pendingMaintenance: [(id: NodeRequestID, on: Bool)] = []
    private var nextRepair: MonotonicInstant?
    /// Set when a stop's withdrawal was reconciled: the VIPs are released at this instant.
    private var releaseAt: MonotonicInstant?

    /// - Parameters:
    ///   - maintenance: the operator's flag as kept across restarts.
    ///   - unchecked: the real servers with a health check, none of which has a verdict at start.
    ///   - drained: the drain list kept in the state directory.
    public init(settings: Settings, maintenance: Bool = false, unchecked: Set<RealServerID> = [], drained: Set<RealServerID> = []) {
        self.settings = settings
        self.maintenance = maintenance
        self.unchecked = unchecked
        self.drained = drained
    }

    public var isFinished: Bool { phase == .finished }

    /// The VIPs the decisions announce now.
    public var announced: Set<IPAddress> { Set(decisions.filter(\.announce).map(\.address)) }

    /// The inputs of the IPVS table: the VIPs are always held, real servers follow health.
    public var ipvsInputs: IPVSInputs { IPVSInputs(holdingVIPs: true, down: down, weights: weights, drained: drained) }

    /// Handles one event; returns the effects in order.
    public mutating func handle(_ event: Event, at now: MonotonicInstant) -> [Effect] {
        guard phase != .finished else {
            // Every request is answered, even after the end.
            switch event {
            case .maintenance(_, let id), .drain(_, _, let id): return [.reply(id, .refused("tandemd has stopped"))]
            default: return []
            }
        }
        var effects: [Effect] = []
        switch event {
        case .start:
            guard phase == .idle else { return [] }
            phase = .running
            let vips = settings.config.virtualIPs
            effects.append(.log(.notice, "director: claiming \(vips.count) VIP(s) on \(settings.vipInterface) (no ARP/NA), installing the IPVS table"
                                + (maintenance ? "; maintenance is on: nothing is announced" : "")))
            if !unchecked.isEmpty {
                effects.append(.log(.notice, "director: waiting for the first health verdicts of \(unchecked.count) real server(s) before counting them live"))
            }
            effects.append(.claim(vips))
            effects.append(.observeAddresses)
            effects.append(.reconcileIPVS(ipvsInputs))
            if settings.config.sync != nil { effects.append(.runSyncDaemons) }
            effects += decide(force: true, at: now)
            nextRepair = now.adding(milliseconds: settings.repairInterval)
        case .ipvsReconciled(let problem):
            if problem != ipvsProblem {
                effects.append(problem.map { .log(.warning, "director: IPVS table not verified: \($0)") }
                               ?? .log(.notice, "director: IPVS table installed and verified"))
            }
            ipvsProblem = problem
            effects += decide(force: false, at: now)
        case .health(let newDown, let newWeights):
            guard newDown != down || newWeights != weights else { return [] }
            down = newDown
            weights = newWeights
            if phase == .running { effects.append(.reconcileIPVS(ipvsInputs)) }
            effects += decide(force: false, at: now)
        case .unchecked(let servers):
            guard servers != unchecked else { return [] }
            unchecked = servers
            effects += decide(force: false, at: now)
        case .addressesObserved(let addresses):
            if addresses == nil { effects.append(.log(.error, "director: the addresses on \(settings.vipInterface) cannot be read: every VIP counts as missing")) }
            presentAddresses = (addresses ?? []).intersection(settings.config.virtualIPs.map(\.address))
            effects += decide(force: false, at: now)
        case .drain(let servers, let on, let id):
            guard phase == .running else { return [.reply(id, .refused("tandemd is stopping"))] }
            let fresh = on ? drained.union(servers) : drained.subtracting(servers)
            let list = DrainBook(drained: fresh).list
            let note = DrainOffer.failed("cluster directors do not share drains: run the same command on every director")
            guard fresh != drained else { return [.reply(id, .drainDone(list, peer: note))] }
            drained = fresh
            effects.append(.drainsChanged(fresh))
            effects.append(.reconcileIPVS(ipvsInputs))
            effects += decide(force: false, at: now)
            effects.append(.reply(id, .drainDone(list, peer: note)))
        case .maintenance(let on, let id):
            guard phase == .running else { return [.reply(id, .refused("tandemd is stopping: the routes are already withdrawn"))] }
            guard on != maintenance else {
                return [.reply(id, .maintenanceDone(message: "maintenance is already \(on ? "on" : "off"): nothing changed"))]
            }
            maintenance = on
            effects.append(.log(.notice, "director: maintenance \(on ? "on: withdrawing every route" : "off: announcing again what can be served")"))
            pendingMaintenance.append((id, on))
            effects += decide(force: true, at: now)
        case .reload(let config):
            guard phase == .running else {
                return [.log(.warning, "director: reload while \(phase.rawValue): the new config is not applied")]
            }
            let old = settings.config.virtualIPs
            settings.config = config
            let removed = old.filter { !config.virtualIPs.contains($0) }
            let added = config.virtualIPs.filter { !old.contains($0) }
            effects.append(.log(.notice, "director: config serial \(config.serial) in force: \(added.count) VIP(s) added, \(removed.count) removed"))
            effects += decide(force: true, at: now)
            if !removed.isEmpty { effects.append(.release(removed)) }
            if !added.isEmpty { effects.append(.claim(added)) }
            effects.append(.observeAddresses)
            effects.append(.reconcileIPVS(ipvsInputs))
        case .stop:
            switch phase {
            case .running:
                phase = .withdrawing
                effects.append(.log(.notice, "director: stopping: withdrawing every route first"))
                effects += decide(force: true, at: now)
            case .withdrawing:
                effects.append(.log(.notice, "director: second stop request: releasing the VIPs without waiting"))
                effects += finish(reason: "stopped (second stop request)")
            case .idle:
                effects += finish(reason: "stopped before starting")
            case .finished:
                break
            }
        case .timer:
            if phase == .withdrawing, let releaseAt, now >= releaseAt {
                effects += finish(reason: "stopped")
            } else if phase == .running, let due = nextRepair, now >= due {
                nextRepair = now.adding(milliseconds: settings.repairInterval)
                effects.append(.claim(settings.config.virtualIPs))
                effects.append(.observeAddresses)
                effects += decide(force: true, at: now)
            }
        case .routesReconciled(let problems):
            if problems != routeProblems {
                effects.append(problems.isEmpty ? .log(.notice, "director: route table repaired")
                               : .log(.error, "director: route table: " + problems.joined(separator: "; ")))
            }
            routeProblems = problems
            for request in pendingMaintenance {
                effects.append(.reply(request.id, .maintenanceDone(message: maintenanceText(on: request.on))))
            }
            pendingMaintenance = []
            if phase == .withdrawing && releaseAt == nil {
                releaseAt = now.adding(milliseconds: settings.withdrawalGrace)
                effects.append(.log(.notice, problems.isEmpty
                    ? "director: routes withdrawn; releasing the VIPs in \(settings.withdrawalGrace) ms, once BGP has carried the withdrawal"
                    : "director: the withdrawal failed in part (\(problems.joined(separator: "; "))); releasing the VIPs in \(settings.withdrawalGrace) ms anyway"))
            }
        }
        effects.append(contentsOf: scheduleTimer())
        return effects
    }

    /// Makes the decisions again; logs each VIP whose decision changed and asks for a route
    /// reconcile when the set to announce changed (or `force`).
    private mutating func decide(force: Bool, at now: MonotonicInstant) -> [Effect] {
        // Before the start nothing is decided: facts (health) are only kept.
        guard phase != .idle else { return [] }
        let director = RouteAnnouncement.DirectorState(running: phase == .running, maintenance: maintenance, ipvsProblem: ipvsProblem)
        // A drained server has weight 0 in the table: not live.
        let effective = weights.merging(drained.map { ($0, 0) }, uniquingKeysWith: { _, drainedWeight in drainedWeight })
        let vips = settings.config.clusterVIPStates(presentAddresses: presentAddresses, down: down.union(unchecked), weights: effective)
        let fresh = RouteAnnouncement.decide(director: director, vips: vips, vipInterface: settings.vipInterface)
        var effects: [Effect] = []
        let before = Dictionary(decisions.map { ($0.address, $0) }, uniquingKeysWith: { first, _ in first })
        for decision in fresh where before[decision.address] != decision {
            let line = "VIP \(decision.address): \(decision)"
            effects.append(.log(decision.announce ? .notice : .warning, line))
            effects.append(.publish(.role, line))
        }
        decisions = fresh
        let announce = announced
        if force || announce != requestedAnnouncements {
            requestedAnnouncements = announce
            effects.append(.reconcileRoutes(announce: announce))
        }
        return effects
    }

    private mutating func finish(reason: String) -> [Effect] {
        phase = .finished
        finishReason = reason
        releaseAt = nil
        nextRepair = nil
        var effects: [Effect] = [.release(settings.config.virtualIPs)]
        for request in pendingMaintenance { effects.append(.reply(request.id, .refused("tandemd stopped"))) }
        pendingMaintenance = []
        effects.append(.log(.notice, "director: \(reason); VIPs released"))
        effects.append(.finished(reason: reason))
        return effects
    }

    private mutating func scheduleTimer() -> [Effect] {
        let wanted: MonotonicInstant? = switch phase {
        case .running: nextRepair
        case .withdrawing: releaseAt
        case .idle, .finished: nil
        }
        guard wanted != timerDeadline else { return [] }
        timerDeadline = wanted
        return [.scheduleTimer(wanted)]
    }

    /// The answer to a maintenance request, once its route reconcile ran.
    private func maintenanceText(on: Bool) -> String {
        let failed = routeProblems.isEmpty ? "" : "; the route table did not follow: " + routeProblems.joined(separator: "; ")
        if on {
            return "maintenance on: every route withdrawn (\(decisions.count) VIP(s)); new flows go to the other directors, and so do the packets of established ones (they continue there through the entries the sync daemon gave them; without sync they break)\(failed)"
        }
        let announced = decisions.filter(\.announce).map { "\($0.address)" }
        let withheld = decisions.filter { !$0.announce }.map { "\($0.address) \($0)" }
        var text = "maintenance off: announcing " + (announced.isEmpty ? "no VIP" : announced.joined(separator: ", "))
        if !withheld.isEmpty { text += "; still " + withheld.joined(separator: "; ") }
        return text + failed
    }
}
