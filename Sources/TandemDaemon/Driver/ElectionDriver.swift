import Logging
import Synchronization
import TandemCore
import TandemKernel

/// One role change, for status.
public struct RoleHistoryEntry: Sendable, Hashable {
    /// Wall-clock nanoseconds since the epoch.
    public var at: UInt64
    public var from: Role
    public var to: Role
    public var reason: String
}

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
///
/// This node's own health (`LocalHealth`: heartbeat paths, VIP interfaces, address conflicts)
/// is judged from a fresh dump of links and addresses at start, after every route event and
/// whenever a path starts or stops failing to send; the faults go to the election. While the
/// node holds the VIPs, a VIP missing from an interface that is up is claimed again, by
/// interface name, so a re-created interface (new ifindex) gets its VIPs back.
///
/// Announcements go out only for VIPs this node holds: a VIP whose claim failed, that vanished
/// with its interface, or that failed duplicate address detection is never announced, and a
/// release cancels announcements not yet sent (including one queued behind an IPVS install).
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

    /// This node's heartbeat address of each path, in path order (judged by `LocalHealth`).
    let heartbeatAddresses: [IPAddress]
    /// Paths on which sending fails now, as the transport last said.
    private var sendFailures: [Int: String] = [:]
    /// The newest judgement of this node's own health.
    public private(set) var health = LocalHealth.Report()
    /// Links or addresses may have changed, or a path's sending did: judge again after the current actions.
    private var healthStale = false
    private var judging = false
    /// VIPs this node put on (or found on) their interfaces and has not released or lost since:
    /// the only ones it announces.
    public private(set) var heldVIPs: Set<VirtualIP> = []
    /// Lets a release cancel an announcement still queued behind the IPVS install.
    private let announceGate = AnnounceGate()

    public init(config: Config, settings: Election.Settings, addressTable: any AddressTable, announcer: any Announcer,
                sender: any HeartbeatSending, worker: KernelWorker, logger: Logger, heartbeatAddresses: [IPAddress] = []) {
        self.config = config
        self.election = Election(settings: settings)
        self.addressTable = addressTable
        self.announcer = announcer
        self.sender = sender
        self.worker = worker
        self.logger = logger
        self.heartbeatAddresses = heartbeatAddresses
    }

    var vips: [VirtualIP] { config.virtualIPs }

    // MARK: - Events

    /// Start-up: this node's health is judged first (a node that starts with a fault never takes
    /// over), then VIPs already present are adopted (kept, not removed and re-added) — except one
    /// that failed duplicate address detection, which is an address conflict, never held.
    public func start(at now: MonotonicInstant) {
        judgeHealth(at: now)
        let present = health.vips.filter { $0.state.isPresent && $0.state != .conflict }.map(\.vip)
        if !present.isEmpty {
            logger.notice("found VIPs already present at start-up: \(Self.list(present)); keeping them unless \(election.settings.peerName) is active")
        }
        for entry in health.vips { routeMonitor?.track(entry.vip, present: entry.state.isPresent) }
        // Only a usable copy is announced; the others count for the election (a stale VIP is
        // released when the peer is active) and are held once usable (`judgeHealth`).
        heldVIPs = Set(health.vips.filter { $0.state == .held }.map(\.vip))
        worker.started(holdingVIPs: !present.isEmpty)
        perform(election.started(at: now, holdingVIPs: !present.isEmpty), at: now)
    }

    /// Judges this node's health from a fresh dump and gives the faults to the election; while
    /// holding the VIPs, claims again those missing from an interface that is up, and stops
    /// counting (and announcing) those that are gone.
    private func judgeHealth(at now: MonotonicInstant) {
        let report: LocalHealth.Report
        do {
            report = try addressTable.assessHealth(heartbeatAddresses: heartbeatAddresses, sendFailures: sendFailures,
                                                   vips: vips, trackedInterfaces: election.settings.trackedInterfaces)
        } catch {
            logger.error("cannot read links and addresses to judge this node's health: \(error)")
            return
        }
        let before = health
        health = report
        if report.faults != before.faults {
            if report.faults.isEmpty {
                logger.notice("local faults cleared")
            } else {
                logger.warning("local fault: \(report.faults.joined(separator: "; "))")
            }
            events?.publish(.role, report.faults.isEmpty ? "\(election.settings.nodeName): local faults cleared"
                                : "\(election.settings.nodeName): local fault: \(report.faults.joined(separator: "; "))")
        }
        for entry in report.vips where entry.state == .conflict && before.state(of: entry.vip) != .conflict {
            logger.error("VIP \(entry.vip.prefix) on \(entry.vip.interface): \(LocalHealth.VIPState.conflict.problem(entry.vip) ?? "")")
        }
        // VIPs that are no longer there (their interface went, or someone removed them) are not held.
        let lost = report.vipActions(held: heldVIPs, serving: false).lost
        if !lost.isEmpty {
            heldVIPs.subtract(lost)
            announcer.end(Array(lost))
        }
        perform(election.localFaultsChanged(report.faults, at: now), at: now)
        guard election.holdingVIPs, election.role == .active || election.role == .stopping else { return }
        let (_, usable, missing) = report.vipActions(held: heldVIPs, serving: true)
        if !usable.isEmpty {
            heldVIPs.formUnion(usable)
            logger.notice("VIPs usable now: \(Self.list(usable))")
            announce(usable, reason: "usable now")
        }
        guard !missing.isEmpty else { return }
        logger.warning("VIPs missing while active: \(Self.list(missing)); claiming them again")
        let claimed = claim(missing)
        announce(claimed, reason: "re-claimed")
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

    /// A link watched by the route monitor changed, or a VIP changed behind Tandem's back. Every
    /// event except the notification of Tandem's own VIP change is followed by a fresh judgement
    /// of this node's health (`judgeHealth`), which also re-adds VIPs missing while active — at
    /// once, or with `judgeNow: false` at the next `judgeHealthIfStale` (the heartbeat loop judges
    /// once per batch of events).
    public func routeEvent(_ event: RouteWatchEvent, at now: MonotonicInstant, judgeNow: Bool = true) {
        var stale = true
        switch event {
        case .linkDown(let name):
            logger.notice("link \(name) is down")
            perform(election.trackedInterfaceChanged(name, isUp: false, at: now), at: now)
        case .linkRemoved(let name):
            logger.notice("link \(name) is gone")
            perform(election.trackedInterfaceChanged(name, isUp: false, at: now), at: now)
        case .linkUp(let name):
            logger.notice("link \(name) is up")
            perform(election.trackedInterfaceChanged(name, isUp: true, at: now), at: now)
        case .vipRemoved(let vip, let origin):
            stale = origin != .tandem
            guard vips.contains(vip) else { break }
            if origin != .tandem, election.holdingVIPs, election.role == .active || election.role == .stopping {
                logger.warning("VIP \(vip.prefix) on \(vip.interface) was removed by \(origin) while active: re-adding it")
            }
        case .vipAdded(let vip, let origin):
            stale = origin != .tandem
            guard origin != .tandem, vips.contains(vip), !election.holdingVIPs else { break }
            logger.warning("VIP \(vip.prefix) on \(vip.interface) was added by \(origin) while \(election.role): leaving it (Tandem did not add it)")
        case .overrun:
            logger.warning("route monitor lost notifications (overrun): state re-read")
        case .hostChanged:
            break
        }
        if stale { healthStale = true }
        if judgeNow { perform([], at: now) }
    }

    /// Judges this node's health if something may have changed since the last judgement.
    public func judgeHealthIfStale(at now: MonotonicInstant) {
        if healthStale { perform([], at: now) }
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
        if !removed.isEmpty {
            announcer.end(removed)
            heldVIPs.subtract(removed)
        }
        if election.holdingVIPs {
            if !removed.isEmpty {
                release(removed, log: "VIPs released (removed from the config)")
            }
            if !added.isEmpty {
                announce(claim(added), reason: "added by a reload")
            }
        }
        worker.configChanged(new)
        healthStale = true
        perform(election.settingsChanged(settings, at: now), at: now)
    }

    // MARK: - Actions

    /// Carries out `actions` in order; then, when links, addresses or a path's sending may have
    /// changed meanwhile, judges this node's health again (bounded: at most four rounds).
    public func perform(_ actions: [Election.Action], at now: MonotonicInstant) {
        carryOut(actions, at: now)
        guard !judging else { return }
        judging = true
        defer { judging = false }
        var rounds = 0
        while healthStale, rounds < 4, !isFinished {
            healthStale = false
            rounds += 1
            judgeHealth(at: now)
        }
    }

    private func carryOut(_ actions: [Election.Action], at now: MonotonicInstant) {
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
                _ = claim(vips)
                worker.claimed()
                announceAfterInstall = worker.installsOnClaim(config)
            case .announce(let reason):
                announce(reason: reason)
            case .release(let reason):
                release(reason: reason)
            case .send(let outgoing):
                let failing = sender.send(outgoing)
                if failing != sendFailures {
                    sendFailures = failing
                    healthStale = true
                }
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

    /// The election's `announce`: every VIP this node holds.
    private func announce(reason: String) {
        let held = vips.filter(heldVIPs.contains)
        if held.count < vips.count {
            let skipped = vips.filter { !heldVIPs.contains($0) }
            logger.warning("not announcing \(Self.list(skipped)): not held by this node")
        }
        guard !held.isEmpty else { return }
        if announceAfterInstall {
            announceAfterInstall = false
            let settings = config.announce
            let announcer = self.announcer
            let logger = self.logger
            let gate = announceGate
            let ticket = gate.ticket()
            worker.afterPendingWork {
                gate.run(ticket) {
                    do { try announcer.begin(held, settings: settings) } catch { logger.error("announce: \(error)") }
                }
            }
            return
        }
        announce(held, reason: reason)
    }

    /// Announces `vips` now (they must be held).
    private func announce(_ vips: [VirtualIP], reason: String) {
        guard !vips.isEmpty else { return }
        do { try announcer.begin(vips, settings: config.announce) } catch { logger.error("announce: \(error)") }
    }

    /// Claims `vips`; returns those now held. A VIP that was already present counts only when it
    /// is usable: one that failed duplicate address detection, or is still tentative, is not
    /// held and not announced (`judgeHealth` reports the conflict).
    private func claim(_ vips: [VirtualIP]) -> [VirtualIP] {
        let results = change(vips, present: true, log: "VIPs claimed")
        var held = results.filter { $0.value == .added }.map(\.key)
        let adopted = results.filter { $0.value == .alreadyPresent }.map(\.key)
        if !adopted.isEmpty {
            healthStale = true
            if let addresses = try? addressTable.addresses() {
                for vip in adopted {
                    let flags = addresses.first { $0.matches(vip) }?.flags ?? 0
                    if flags & (InterfaceAddress.dadFailedFlag | InterfaceAddress.tentativeFlag) == 0 {
                        held.append(vip)
                    } else {
                        logger.error("VIP \(vip.prefix) on \(vip.interface) is present but \(flags & InterfaceAddress.dadFailedFlag != 0 ? "failed duplicate address detection (address conflict)" : "tentative"): not held, not announced")
                    }
                }
            }
        }
        heldVIPs.formUnion(held)
        return vips.filter(held.contains)
    }

    /// Releases every VIP: pending announcements are cancelled first. A VIP in address conflict is
    /// left where it is (so the conflict stays visible), and one whose interface is gone has
    /// gone with it.
    private func release(reason: String) {
        announceGate.invalidate()
        announcer.end(vips)
        heldVIPs.removeAll()
        let leave = Set(health.vips.filter { $0.state == .conflict || $0.state == .interfaceMissing }.map(\.vip))
        release(vips.filter { !leave.contains($0) }, log: "VIPs released")
        worker.released()
    }

    private func release(_ vips: [VirtualIP], log: String) {
        _ = change(vips, present: false, log: log)
    }

    /// Claims (`present`) or releases VIPs one by one, telling the route monitor first so that
    /// the notification of our own change is not taken for someone else's, and logs one line.
    /// Returns what happened to each VIP that did not fail. Each claim resolves the interface by
    /// name at that moment, so a re-created interface (new ifindex) is found.
    private func change(_ vips: [VirtualIP], present: Bool, log: String) -> [VirtualIP: AddressChange] {
        guard !vips.isEmpty else { return [:] }
        let (changed, unchanged) = present ? (AddressChange.added, "already present") : (.removed, "already absent")
        var done: [String] = []
        var results: [VirtualIP: AddressChange] = [:]
        for vip in vips {
            routeMonitor?.expect(vip, present: present)
            do {
                let result = present ? try addressTable.claim(vip) : try addressTable.release(vip)
                if result != changed { routeMonitor?.cancelExpectation(vip) }
                routeMonitor?.track(vip, present: present)
                results[vip] = result
                done.append("\(vip.prefix) on \(vip.interface) (\(result == changed ? changed.rawValue : unchanged))")
            } catch {
                routeMonitor?.cancelExpectation(vip)
                if present { announcer.end([vip]) }
                healthStale = true
                logger.error("\(present ? "claim" : "release") VIP \(vip.prefix) on \(vip.interface): \(error)")
            }
        }
        if !done.isEmpty { logger.notice("\(log): \(done.joined(separator: ", "))") }
        return results
    }

    static func list(_ vips: [VirtualIP]) -> String {
        vips.map { "\($0.prefix) on \($0.interface)" }.joined(separator: ", ")
    }
}

/// Lets a release cancel an announcement queued on another thread (behind the IPVS install): the
/// queued work runs only if no release happened since its ticket was taken, and the check and the
/// sends happen under one lock, so a release either comes after the sends (and ends their
/// schedule) or prevents them.
final class AnnounceGate: Sendable {
    private let generation = Mutex<UInt64>(0)

    /// The current generation, to pass to `run` later.
    func ticket() -> UInt64 { generation.withLock { $0 } }

    /// Cancels every ticket taken so far.
    func invalidate() { generation.withLock { $0 &+= 1 } }

    /// Runs `body` if `ticket` is still current.
    func run(_ ticket: UInt64, _ body: () -> Void) {
        generation.withLock { current in
            if current == ticket { body() }
        }
    }
}
