import Logging
import TandemCore

/// Executes the election's actions: the thin handler around the pure `Election`.
///
/// Runs on the heartbeat thread (not thread-safe: one owner). The fast work happens here, in the
/// order the election gives it — VIP claim and release (rtnetlink, sub-millisecond), the first
/// announcement, heartbeat sends — and the slow work goes to the `KernelWorker`: the IPVS
/// reconcile after a claim (warm standby: verify and repair; cold: install), the sync daemon's
/// role and the notify command, which the worker runs after the sync change.
///
/// With `standby_table: cold` and virtual servers, the announcement that follows a claim is
/// queued behind the IPVS install, so neighbours are pointed here only once the table is in.
///
/// A VIP removed by someone else while this node is active is re-added at once and announced
/// (keepalived demotes itself instead; here the active stays active, since the peer is still
/// standby and a demotion would only add an outage). The re-add is logged as a warning.
/// One role change, for status.
public struct RoleHistoryEntry: Sendable, Hashable {
    /// Wall-clock nanoseconds since the epoch.
    public var at: UInt64
    public var from: Role
    public var to: Role
    public var reason: String
}

public final class ElectionDriver {
    public private(set) var election: Election
    public private(set) var config: Config
    let addressTable: any AddressTable
    let announcer: any Announcer
    let sender: any HeartbeatSending
    let worker: KernelWorker
    let logger: Logger
    /// Set once the monitor exists (it is created after the driver, to deliver into it).
    public var routeMonitor: (any RouteMonitor)?

    /// When `timerFired` is due next.
    public private(set) var timerDeadline: MonotonicInstant?
    /// The election has finished stopping: the daemon may exit.
    public private(set) var isFinished = false
    /// Reason the daemon stopped, once finished.
    public private(set) var finishReason: String?
    private var announceAfterInstall = false

    /// Where role, peer and command events go (the control socket's `events`); nil in tests.
    public var events: EventHub?
    /// Called on the heartbeat thread for every role change (systemd's READY=1 and STATUS=).
    public var onRoleChange: (@Sendable (_ to: Role, _ reason: String) -> Void)?
    /// The newest role changes (at most `historyLimit`), oldest first.
    public private(set) var history: [RoleHistoryEntry] = []
    static let historyLimit = 20
    /// The reason of the last role change.
    public private(set) var roleReason = "starting up"
    /// Wall-clock time (ns since the epoch) of the last role change.
    public private(set) var roleChangedAt = realtimeNanoseconds()
    /// Operator commands the election turned down, counted, with the newest.
    public private(set) var rejections: (count: UInt64, command: String, reason: String) = (0, "", "")
    private var lastPeerView: (role: Role, alive: Bool)?

    public init(config: Config, settings: Election.Settings, addressTable: any AddressTable, announcer: any Announcer,
                sender: any HeartbeatSending, worker: KernelWorker, logger: Logger) {
        self.config = config
        self.election = Election(settings: settings)
        self.addressTable = addressTable
        self.announcer = announcer
        self.sender = sender
        self.worker = worker
        self.logger = logger
    }

    var vips: [VirtualIP] { config.virtualIPs }

    // MARK: - Events

    /// Start-up: VIPs already present are adopted (kept, not removed and re-added).
    public func start(at now: MonotonicInstant) {
        var present: [VirtualIP] = []
        do {
            present = try addressTable.present(vips)
        } catch {
            logger.error("cannot list addresses at start-up: \(error)")
        }
        if !present.isEmpty {
            logger.notice("found VIPs already present at start-up: \(Self.list(present)); keeping them unless \(election.settings.peerName) is active")
        }
        for vip in vips { routeMonitor?.track(vip, present: present.contains(vip)) }
        worker.started(holdingVIPs: !present.isEmpty)
        perform(election.started(at: now, holdingVIPs: !present.isEmpty), at: now)
    }

    public func heartbeatReceived(_ message: HeartbeatMessage, at now: MonotonicInstant) {
        perform(election.heartbeatReceived(message, at: now), at: now)
        notePeer(at: now)
    }

    public func timerFired(at now: MonotonicInstant) {
        perform(election.timerFired(at: now), at: now)
        notePeer(at: now)
    }

    /// `tandemctl failover`: returns the reason when the election refuses at once (the handover
    /// itself completes later, or is abandoned with a `rejected` counted in `rejections`).
    public func failoverRequested(force: Bool, at now: MonotonicInstant) -> String? {
        let actions = election.failoverRequested(at: now, force: force)
        perform(actions, at: now)
        return Self.rejection(in: actions)
    }

    /// `tandemctl maintenance on|off`.
    public func maintenanceRequested(_ on: Bool, at now: MonotonicInstant) -> String? {
        let actions = election.maintenanceRequested(on, at: now)
        perform(actions, at: now)
        return Self.rejection(in: actions)
    }

    static func rejection(in actions: [Election.Action]) -> String? {
        for action in actions { if case .rejected(_, let reason) = action { return reason } }
        return nil
    }

    /// Emits a `peer` event when the peer's role or liveness changed since the last look.
    private func notePeer(at now: MonotonicInstant) {
        guard let peer = election.peer else { return }
        let view = (role: peer.role, alive: election.peerIsAlive(at: now))
        defer { lastPeerView = view }
        guard let last = lastPeerView else {
            events?.publish(.peer, "\(election.settings.peerName) heard: \(peer.role), priority \(peer.priority)")
            return
        }
        if last.alive && !view.alive {
            events?.publish(.peer, "\(election.settings.peerName) lost: \(peer.departed ? "it released and left" : "silent for the dead time \(election.settings.deadTime)")")
        } else if !last.alive && view.alive {
            events?.publish(.peer, "\(election.settings.peerName) heard again: \(peer.role), priority \(peer.priority)")
        } else if last.role != view.role {
            events?.publish(.peer, "\(election.settings.peerName): \(last.role) -> \(view.role)")
        }
    }

    public func stopRequested(at now: MonotonicInstant) {
        perform(election.stopRequested(at: now), at: now)
    }

    /// A second stop request (or the stop timeout): release everything now and finish.
    public func forceStop(reason: String, at now: MonotonicInstant) {
        guard !isFinished else { return }
        logger.warning("stop forced: \(reason)")
        if election.holdingVIPs || election.role == .active || election.role == .stopping { release(reason: reason) }
        sender.send(Election.Outgoing(kind: .release, role: .stopping, priority: election.effectivePriority))
        isFinished = true
        finishReason = reason
    }

    /// A link watched by the route monitor changed, or a VIP changed behind Tandem's back.
    public func routeEvent(_ event: RouteWatchEvent, at now: MonotonicInstant) {
        switch event {
        case .linkDown(let name), .linkRemoved(let name):
            logger.notice("link \(name) is down")
            perform(election.trackedInterfaceChanged(name, isUp: false, at: now), at: now)
        case .linkUp(let name):
            logger.notice("link \(name) is up")
            perform(election.trackedInterfaceChanged(name, isUp: true, at: now), at: now)
        case .vipRemoved(let vip, let origin):
            guard origin != .tandem, vips.contains(vip) else { return }
            if election.holdingVIPs && (election.role == .active || election.role == .stopping) {
                logger.warning("VIP \(vip.prefix) on \(vip.interface) was removed by \(origin) while active: re-adding it")
                claim([vip])
                do { try announcer.begin([vip], settings: config.announce) } catch {
                    logger.error("announce \(vip.prefix) on \(vip.interface): \(error)")
                }
            }
        case .vipAdded(let vip, let origin):
            guard origin != .tandem, vips.contains(vip), !election.holdingVIPs else { return }
            logger.warning("VIP \(vip.prefix) on \(vip.interface) was added by \(origin) while \(election.role): leaving it (Tandem did not add it)")
        case .overrun:
            logger.warning("route monitor lost notifications (overrun): state re-read")
        }
    }

    /// A reload brought a new config (already validated). The election's settings, the VIPs and
    /// the IPVS table follow it; heartbeat addresses and port need a restart.
    public func configChanged(_ new: Config, settings: Election.Settings, at now: MonotonicInstant) {
        let old = config
        config = new
        let removed = old.virtualIPs.filter { !new.virtualIPs.contains($0) }
        let added = new.virtualIPs.filter { !old.virtualIPs.contains($0) }
        for vip in removed { routeMonitor?.untrack(vip) }
        for vip in added { routeMonitor?.track(vip, present: false) }
        if election.holdingVIPs {
            if !removed.isEmpty {
                announcer.end(removed)
                release(removed, log: "VIPs released (removed from the config)")
            }
            if !added.isEmpty {
                claim(added)
                do { try announcer.begin(added, settings: new.announce) } catch { logger.error("announce: \(error)") }
            }
        }
        worker.configChanged(new)
        perform(election.settingsChanged(settings, at: now), at: now)
    }

    // MARK: - Actions

    /// Carries out `actions` in order.
    public func perform(_ actions: [Election.Action], at now: MonotonicInstant) {
        for action in actions {
            switch action {
            case .transition(let from, let to, let reason):
                logger.notice("role \(from) -> \(to): \(reason)")
                onRoleChange?(to, reason)
                roleReason = reason
                roleChangedAt = realtimeNanoseconds()
                history.append(RoleHistoryEntry(at: roleChangedAt, from: from, to: to, reason: reason))
                if history.count > Self.historyLimit { history.removeFirst(history.count - Self.historyLimit) }
                events?.publish(.role, "\(election.settings.nodeName): \(from) -> \(to): \(reason)")
            case .claim:
                claim(vips)
                worker.claimed()
                announceAfterInstall = worker.installsOnClaim(config)
            case .announce(let reason):
                announce(reason: reason)
            case .release(let reason):
                release(reason: reason)
            case .send(let outgoing):
                sender.send(outgoing)
            case .notify(let role, let reason):
                worker.roleSettled(role, reason: reason)
            case .rejected(let command, let reason):
                logger.warning("\(command) rejected: \(reason)")
                rejections = (rejections.count + 1, command, reason)
                events?.publish(.control, "\(command) rejected: \(reason)")
            case .scheduleTimer(let at):
                timerDeadline = at
            case .finished(let reason):
                isFinished = true
                finishReason = reason
                timerDeadline = nil
                logger.notice("stopped: \(reason)")
            }
        }
    }

    private func announce(reason: String) {
        let vips = self.vips
        let settings = config.announce
        let announcer = self.announcer
        let logger = self.logger
        if announceAfterInstall {
            announceAfterInstall = false
            worker.afterPendingWork {
                do { try announcer.begin(vips, settings: settings) } catch { logger.error("announce: \(error)") }
            }
            return
        }
        do { try announcer.begin(vips, settings: settings) } catch { logger.error("announce: \(error)") }
    }

    private func claim(_ vips: [VirtualIP]) {
        change(vips, present: true, log: "VIPs claimed")
    }

    private func release(reason: String) {
        announcer.end(vips)
        release(vips, log: "VIPs released")
        worker.released()
    }

    private func release(_ vips: [VirtualIP], log: String) {
        change(vips, present: false, log: log)
    }

    /// Claims (`present`) or releases VIPs one by one, telling the route monitor first so that
    /// the notification of our own change is not taken for someone else's, and logs one line.
    private func change(_ vips: [VirtualIP], present: Bool, log: String) {
        guard !vips.isEmpty else { return }
        let (changed, unchanged) = present ? (AddressChange.added, "already present") : (.removed, "already absent")
        var done: [String] = []
        for vip in vips {
            routeMonitor?.expect(vip, present: present)
            do {
                let result = present ? try addressTable.claim(vip) : try addressTable.release(vip)
                if result != changed { routeMonitor?.cancelExpectation(vip) }
                routeMonitor?.track(vip, present: present)
                done.append("\(vip.prefix) on \(vip.interface) (\(result == changed ? changed.rawValue : unchanged))")
            } catch {
                routeMonitor?.cancelExpectation(vip)
                logger.error("\(present ? "claim" : "release") VIP \(vip.prefix) on \(vip.interface): \(error)")
            }
        }
        if !done.isEmpty { logger.notice("\(log): \(done.joined(separator: ", "))") }
    }

    static func list(_ vips: [VirtualIP]) -> String {
        vips.map { "\($0.prefix) on \($0.interface)" }.joined(separator: ", ")
    }
}
