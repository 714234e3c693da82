/// The runtime decisions of one node: the election (unchanged, `Election`), the VIPs it holds and
/// announces, its own health, what a route change or a reload does to the VIPs, the stop and its
/// timeout, the operator's failover, maintenance and drain requests with their one reply each,
/// the config versions and replication (`ConfigBook`), and the drain list (`DrainBook`).
///
/// Pure: it takes events with the time (`handle(_:at:)`) and returns effects (`NodeEffect`); it
/// reads no clock and touches nothing. The daemon's decision thread (the heartbeat thread) and
/// the simulator run it the same way, through `run(_:at:executor:)`.
///
/// Rules it owns (each a row in `NodeStateTests`):
/// - **Start-up.** Health is judged first (a node that starts with a fault never takes over);
///   VIPs already present are adopted (kept, not removed and re-added), except one that failed
///   duplicate address detection, an address conflict, which is never held.
/// - **Held VIPs** are those this node put on (or found usable on) their interfaces and has not
///   released or lost since: the only ones it announces. A VIP whose claim failed, that vanished
///   with its interface, or that failed duplicate address detection is never announced, and a
///   release cancels the announcements not yet sent (including one queued behind an IPVS install
///   with `standby_table: cold`).
/// - **Route changes.** A tracked link going down or away lowers the priority (the election); a
///   VIP removed by someone else while active is claimed again and announced (keepalived demotes
///   itself instead; here the active stays active, since the peer is still standby and a demotion
///   would only add an outage); a VIP added by someone else is left alone. Every change except
///   Tandem's own is followed by one fresh judgement of health (at most four rounds in a row).
/// - **Reload.** Removed VIPs are released and no longer watched (a failed release is retried
///   even though the config no longer names the VIP); added ones are claimed and announced while
///   holding, and released while not (a copy left on the interface by an earlier failed release
///   and a crash would double the active peer's); the election takes the new settings.
/// - **Stop.** A graceful stop hands over; after `stopTimeout` (or at a second signal) the node
///   releases everything, sends a release notice and finishes.
/// - **Requests.** At most one failover or maintenance change at a time. A failover without
///   `--force` is refused while a live peer runs another config. A request completes when the
///   roles say so (no polling), fails when the election abandons it or after the wait limit (the
///   handover timeout plus 2 s), and is answered when the node stops. Every request gets exactly
///   one `reply`, also one that arrives during or after the stop.
/// - **Config replication** follows `ConfigBook`'s rules: the peer's version comes with each
///   heartbeat; a higher one is fetched, checked, written and reloaded, one at a time, off the
///   decision thread; a reload of any origin tells the node the version in force.
/// - **Drains.** A drain or undrain changes the list here at once (kept in the state directory,
///   applied to IPVS), is offered to the peer, and is answered with the peer's answer. The
///   peer's offer is merged by `DrainBook`'s rule (the newer generation wins; an older one is
///   answered with ours). The list is offered to the peer whenever it is heard again, and again
///   after a back-off (1 s doubling to 60 s) when an offer failed while it is heard.
public struct NodeState: Sendable {
    /// What the node's decisions depend on in the config.
    public struct Settings: Sendable, Hashable {
        public var election: Election.Settings
        public var vips: [VirtualIP]
        /// Cold standby with virtual servers: the announcement after a claim waits for the IPVS install.
        public var announceAfterIPVSInstall: Bool
        /// How long a graceful stop may take before the node releases and finishes anyway.
        public var stopTimeout: TimeSpan

        public init(election: Election.Settings, vips: [VirtualIP], announceAfterIPVSInstall: Bool = false,
                    stopTimeout: TimeSpan? = nil) {
            self.election = election
            self.vips = vips
            self.announceAfterIPVSInstall = announceAfterIPVSInstall
            self.stopTimeout = stopTimeout ?? TimeSpan(milliseconds: election.handoverTimeout.milliseconds + 2000)
        }

        /// How long a failover or maintenance request may take to settle.
        public var requestWaitLimit: TimeSpan { TimeSpan(milliseconds: election.handoverTimeout.milliseconds + 2000) }
    }

    /// An operator request waiting for the roles to settle.
    public struct PendingRequest: Sendable, Hashable {
        public var id: NodeRequestID
        public var command: NodeCommand
        /// For a failover: whether this node was active when it was asked.
        public var wasActive: Bool
        public var since: MonotonicInstant
        public var deadline: MonotonicInstant
        /// A failover asked while the peer's config and this node's differ with one serial newer:
        /// it starts once the mirror has made them equal (`NodeState.drive`), or is refused at the deadline.
        public var awaitingMirror = false
    }

    public private(set) var settings: Settings
    public private(set) var election: Election
    /// VIPs this node holds (see the type's rules): the only ones it announces.
    public private(set) var heldVIPs: Set<VirtualIP> = []
    /// The newest judgement of this node's own health.
    public private(set) var health = LocalHealth.Report()
    /// Operator commands the election turned down, counted, with the newest.
    public private(set) var rejections: (count: UInt64, command: String, reason: String) = (0, "", "")
    /// The request being carried out, if any.
    public private(set) var pending: PendingRequest?
    /// The node has finished stopping.
    public private(set) var isFinished = false
    public private(set) var finishReason: String?
    /// When `.timer` is due next.
    public private(set) var timerDeadline: MonotonicInstant?
    /// The config in force, one being put in force, the peer's, and replication's rules.
    public private(set) var config: ConfigBook
    /// The version of the config in force.
    public var configVersion: ConfigVersion { config.running }
    /// The operator's drained real servers, kept equal on both nodes (`DrainBook`'s merge rule).
    public private(set) var drains: DrainBook
    /// When to offer the drain list to a peer heard again, and the retries of a failed offer.
    private var drainResync = DrainResync()
    private var drainResyncInFlight = false
    private var lastDrainOfferFailure: String?
    /// Drain requests waiting for the peer's answer.
    private var drainRequests: Set<NodeRequestID> = []
    /// What the IPVS table follows (holding, health, drains): the inputs last given to the worker.
    public private(set) var ipvs = IPVSInputs()

    private var electionTimer: MonotonicInstant?
    /// A claim or release failed: judge (and claim or release) again at this instant, not at once,
    /// so a kernel that keeps refusing gets one attempt (and one log line) per `retryDelay`.
    private var kernelRetryAt: MonotonicInstant?
    /// VIPs whose release failed: released again at the retry unless this node serves by then.
    private var releaseOwed: Set<VirtualIP> = []
    private var forceStopAt: MonotonicInstant?
    /// The stop command (`notify.stop`) has been asked for: it runs once.
    private var stopNotified = false
    private var sendFailures: [Int: String] = [:]
    private var healthStale = false
    private var judgeRounds = 0
    private var announceAfterInstall = false
    /// Cold standby: the VIPs to announce once every reconcile asked for so far has finished.
    private var announceWhenInstalled: [VirtualIP] = []
    /// `reconcileIPVS` effects not yet answered by `.ipvsReconciled`.
    private var reconcilesOutstanding = 0
    private var lastPeerView: (role: Role, alive: Bool)?
    /// Who added each stray address (a VIP, or a copy of a VIP's address, added by another
    /// program: `RouteWatchEvent.vipAdded` / `.vipCopyAdded`), for the line logged when the next
    /// judgement finds it.
    private var strayActors: [VirtualIP: String] = [:]
    /// Stray addresses whose removal failed: not asked again by the sweep (the release is retried
    /// at the retry delay) until a judgement finds them gone.
    private var straysSwept: Set<VirtualIP> = []
    /// Requests that arrived while another step was waiting for an answer.
    private var agenda: [Work] = []
    private var awaiting: Call?
    private var out: [NodeEffect] = []

    private enum Work: Sendable {
        case action(Election.Action)
        /// After the first judgement: adopt what is present and start the election.
        case start
        /// After a judgement: while holding, claim again the VIPs missing from an interface that
        /// is up, and announce those usable now; `back`: held VIPs whose link came back (their
        /// address stayed on it meanwhile).
        case reclaim(LocalHealth.Report, back: [VirtualIP])
        /// After a reload: while holding, claim the VIPs it added.
        case claimAdded([VirtualIP])
        /// The retry of releases that failed.
        case retryRelease
        /// Stray addresses on this node while it does not serve the VIPs (`strays`): removed.
        case removeStrays([VirtualIP])
        case releaseAll(reason: String)
        case sendNotice(Election.Outgoing)
        case finish(reason: String)
    }

    private enum Call: Sendable {
        case judge(start: Bool)
        case claim(ClaimPurpose, [VirtualIP])
        case release(ReleasePurpose, [VirtualIP])
        case send
    }

    private enum ClaimPurpose: Sendable { case takeover, reclaim, reload }
    private enum ReleasePurpose: Sendable { case all, removedByReload, retry, staleAdded, stray }

    /// - Parameters:
    ///   - config: the version of the config the node starts with.
    ///   - replicates: whether the peer's higher config is fetched and applied (false with
    ///     `auth: none`: an unauthenticated channel never rewrites a config).
    ///   - drains: the drain list kept in the state directory (restored at start).
    public init(settings: Settings, config: ConfigVersion = ConfigVersion(serial: 0, digest: .zero), replicates: Bool = false,
                drains: DrainBook = DrainBook()) {
        self.settings = settings
        election = Election(settings: settings.election)
        self.config = ConfigBook(running: config, replicates: replicates)
        self.drains = drains
    }

    /// Whether the state waits for the answer to a call (`answer(_:at:)`).
    public var isAwaitingAnswer: Bool { awaiting != nil }

    /// Whether the peer is heard (`Election.peerIsAlive`), asked by the heartbeat loop at every
    /// wake-up. Answered inside this module: another module reading `election` gets a copy of
    /// the whole value (its peer, settings and sets retained and released), which was a cost per
    /// heartbeat in issue 16's profile.
    public func peerIsAlive(at now: MonotonicInstant) -> Bool { election.peerIsAlive(at: now) }

    /// The periodic heartbeats the heartbeat loop may send on its own from `now`
    /// (`Election.steadyHeartbeats`), recording them with `steadyHeartbeatsSent` before the first
    /// packet, event, failed send (then `.steadySendFailed`) or `until`: only while nothing else of this node waits (no
    /// call, work, request, stop, retry, health judgement, send failure or drain offer owed, and
    /// no timer but the election's), so every tick they replace would have sent the round and
    /// done nothing else. nil otherwise.
    public func steadyHeartbeats(at now: MonotonicInstant) -> Election.SteadyHeartbeats? {
        guard nothingButTheElectionsTimer else { return nil }
        return election.steadyHeartbeats(at: now)
    }

    /// Nothing of the node is due or in course but the election's own timer: no call, work,
    /// request, stop, retry, health judgement, send failure or drain exchange (the condition of
    /// `steadyHeartbeats` and `steadyFollowing`, under which the loop may skip the node).
    private var nothingButTheElectionsTimer: Bool {
        !isFinished && awaiting == nil && agenda.isEmpty && pending == nil && forceStopAt == nil && kernelRetryAt == nil
            && !healthStale && sendFailures.isEmpty && !drainResyncInFlight && !(config.replicates && drainResync.offerPending)
            && drainRequests.isEmpty && electionTimer != nil && timerDeadline == electionTimer
    }

    /// The routine heartbeats the heartbeat loop may keep without handing each to the node
    /// (`Election.steadyFollowing`), while nothing else of the node is due or in course (the
    /// same conditions as `steadyHeartbeats`) and the active runs this node's config. The loop
    /// hands the newest kept one to the node (`NodeEvent.heartbeat`, at the instant it
    /// arrived) before anything else.
    public func steadyFollowing(at now: MonotonicInstant) -> Election.SteadyFollowing? {
        guard nothingButTheElectionsTimer, let plan = election.steadyFollowing(at: now),
              config.hearsRoutinely(ConfigVersion(serial: plan.configSerial, digest: plan.configDigest)) else { return nil }
        return plan
    }

    /// What status readers see of the election and the node, read in place (see `peerIsAlive(at:)`).
    public struct StatusFields: Sendable {
        public var role: Role
        public var peer: Election.PeerStatus?
        public var effectivePriority: UInt8
        public var maintenance: Bool
        /// `Election.preemptSuspended`: after an operator's failover away from this node.
        public var preemptSuspended: Bool
        public var peerAlive: Bool
        public var dualActiveMs: UInt64?
        public var localFaults: [String]
        public var localPaths: [LocalHealth.PathState]
        public var drained: Set<RealServerID>
    }

    /// The fields the heartbeat loop publishes at every wake-up, at `now`.
    public func statusFields(at now: MonotonicInstant) -> StatusFields {
        StatusFields(role: election.role, peer: election.peer, effectivePriority: election.effectivePriority,
                     maintenance: election.maintenance, preemptSuspended: election.preemptSuspended,
                     peerAlive: election.peerIsAlive(at: now),
                     dualActiveMs: election.lastingDualActiveMilliseconds(at: now), localFaults: health.faults,
                     localPaths: health.paths, drained: drains.drained)
    }

    private var nodeName: String { settings.election.nodeName }
    private var peerName: String { settings.election.peerName }
    private var vips: [VirtualIP] { settings.vips }
    private var healthQuery: HealthQuery {
        HealthQuery(sendFailures: sendFailures, vips: vips, trackedInterfaces: settings.election.trackedInterfaces)
    }
    private var servesVIPs: Bool { election.holdingVIPs && (election.role == .active || election.role == .stopping) }

    // MARK: - Events

    /// Handles one event; returns the effects to carry out, in order. When the last is a call,
    /// its answer must come back through `answer(_:at:)` before the next event.
    public mutating func handle(_ event: NodeEvent, at now: MonotonicInstant) -> [NodeEffect] {
        precondition(awaiting == nil, "NodeState.handle(\(event)) while waiting for an answer")
        out = []
        judgeRounds = 0
        if isFinished {
            if case .command(let id, let command) = event {
                out.append(.reply(id, .refused("tandemd has stopped: \(command.name) not carried out")))
            }
            if case .peerDrains(_, let id) = event { out.append(.answerPeer(id, .failure("tandemd has stopped"))) }
            return take()
        }
        switch event {
        case .start:
            if !drains.drained.isEmpty {
                out.append(.log(.notice, "drained real servers restored from the state directory: \(drains.drained.sorted().map(\.description).joined(separator: ", "))"))
                out.append(.drainsChanged(drains))
            }
            awaiting = .judge(start: true)
            out.append(.judgeHealth(healthQuery))
            return take()
        case .heartbeat(let message, let waited, let withdrawn):
            agenda += election.heartbeatReceived(message, at: now, waitedNanoseconds: waited, withdrawn: withdrawn).map(Work.action)
            if message.kind != .release {
                book(config.peerHeard(ConfigVersion(serial: message.configSerial, digest: message.configDigest), at: now))
            }
        case .timer:
            if let forceStopAt, now >= forceStopAt {
                forceStop(reason: "the handover did not finish within \(settings.stopTimeout)")
                break
            }
            if let due = electionTimer, now >= due {
                electionTimer = nil
                agenda += election.timerFired(at: now).map(Work.action)
            }
            if let retry = kernelRetryAt, now >= retry {
                kernelRetryAt = nil
                healthStale = true
                straysSwept = []
                if !releaseOwed.isEmpty { agenda.append(.retryRelease) }
            }
        case .steadySendFailed(let failing):
            if failing != sendFailures {
                sendFailures = failing
                healthStale = true
            }
        case .routes(let events):
            for routeEvent in events { route(routeEvent, at: now) }
        case .command(let id, let command):
            request(id, command, at: now)
        case .reload(let new):
            reload(new, at: now)
        case .configLoaded(let version):
            book(config.loaded(version, at: now))
        case .reloadFailed(let why):
            book(config.reloadFailed(why, at: now))
        case .peerConfigFetched(let fetched, let sentAs):
            book(config.fetched(fetched, sentAs: sentAs, nodeName: nodeName, peerName: peerName, at: now))
        case .configWritten(let version, let failure):
            book(config.written(version, failure: failure, at: now))
        case .peerDrains(let list, let id):
            peerDrains(list, answer: id)
        case .ipvsReconciled(let reason, let succeeded):
            reconcilesOutstanding = max(0, reconcilesOutstanding - 1)
            if !succeeded, reason == .claimed, !announceWhenInstalled.isEmpty {
                out.append(.log(.warning, "the IPVS table could not be installed (see the ipvs error); announcing the VIPs anyway, as the peer no longer serves them"))
            }
            announceIfInstalled()
        case .realServerHealth(let down, let weights):
            if down != ipvs.down || weights != ipvs.weights {
                reconcileIPVS(.health) {
                    $0.down = down
                    $0.weights = weights
                }
            }
        case .drainsOffered(let list, let request, let outcome):
            drainsOffered(list, request: request, outcome, at: now)
        case .stop:
            if forceStopAt == nil { forceStopAt = now + settings.stopTimeout }
            agenda += election.stopRequested(at: now).map(Work.action)
        case .forceStop(let reason):
            forceStop(reason: reason)
        }
        drive(at: now)
        return take()
    }

    /// The answer to the call that ended the last batch of effects; returns the next batch.
    public mutating func answer(_ answer: NodeAnswer, at now: MonotonicInstant) -> [NodeEffect] {
        guard let call = awaiting else { preconditionFailure("NodeState.answer(\(answer)) with no call outstanding") }
        awaiting = nil
        out = []
        switch (call, answer) {
        case (.judge(let start), .judged(let report)):
            judged(report, start: start, at: now)
        case (.judge(let start), .judgementFailed(let why)):
            out.append(.log(.error, "cannot read links and addresses to judge this node's health: \(why)"))
            if start { agenda.insert(.start, at: 0) }
        case (.claim(let purpose, let asked), .claimed(let results)):
            claimed(asked, results, purpose: purpose, at: now)
        case (.release(let purpose, let asked), .released(let results)):
            released(asked, results, purpose: purpose, at: now)
        case (.send, .sent(let failing)):
            if failing != sendFailures {
                sendFailures = failing
                healthStale = true
            }
        default:
            preconditionFailure("NodeState.answer: \(answer) does not answer \(call)")
        }
        drive(at: now)
        return take()
    }

    private mutating func take() -> [NodeEffect] {
        defer { out = [] }
        return out
    }

    // MARK: - The agenda

    /// Works through the agenda until it is empty or a call is outstanding; then judges health
    /// again while something may have changed (at most four rounds per event), and settles.
    private mutating func drive(at now: MonotonicInstant) {
        while awaiting == nil {
            if !agenda.isEmpty {
                perform(agenda.removeFirst(), at: now)
                continue
            }
            // Whatever made this node stop serving (start-up as standby, a failover, maintenance,
            // a fault), and however the address came (added by hand, by another daemon, back with
            // its interface), it keeps no VIP and no copy of one's address once settled there.
            let sweep = strays.filter { !straysSwept.contains($0) && !releaseOwed.contains($0) }
            if !sweep.isEmpty {
                agenda.append(.removeStrays(sweep))
                continue
            }
            if startFailoverAfterMirror(at: now) { continue }
            if healthStale, judgeRounds < 4, !isFinished {
                healthStale = false
                judgeRounds += 1
                awaiting = .judge(start: false)
                out.append(.judgeHealth(healthQuery))
                continue
            }
            settle(at: now)
            return
        }
    }

    private mutating func perform(_ work: Work, at now: MonotonicInstant) {
        switch work {
        case .action(let action):
            carryOut(action, at: now)
        case .start:
            start(at: now)
        case .reclaim(let report, let back):
            reclaim(report, back: back)
        case .claimAdded(let list):
            if election.holdingVIPs {
                claim(list, purpose: .reload)
            } else {
                // Not serving: a copy already on the interface (left by an earlier failed
                // release, a crash) must go, or it doubles the active peer's.
                awaiting = .release(.staleAdded, list)
                out.append(.release(list))
            }
        case .retryRelease:
            // Owed releases of VIPs still configured wait while this node serves (it holds
            // them now); those a reload removed are released whatever the role.
            let owed = vips.filter(releaseOwed.contains)
                + releaseOwed.filter { !vips.contains($0) }.sorted { $0.prefix.description < $1.prefix.description }
            releaseOwed = []
            let list = servesVIPs ? owed.filter { !vips.contains($0) } : owed
            guard !list.isEmpty else { return }
            out.append(.log(.notice, "releasing again VIPs whose release failed: \(Self.list(list))"))
            awaiting = .release(.retry, list)
            out.append(.release(list))
        case .removeStrays(let list):
            guard keepsNoVIPCopies else { return }
            awaiting = .release(.stray, list)
            out.append(.release(list))
        case .releaseAll(let reason):
            releaseAll(reason: reason)
        case .sendNotice(let outgoing):
            awaiting = .send
            out.append(.send(outgoing))
        case .finish(let reason):
            finish(reason: reason, at: now)
        }
    }

    private mutating func carryOut(_ action: Election.Action, at now: MonotonicInstant) {
        switch action {
        case .transition(let from, let to, let reason):
            out.append(.log(.notice, "role \(from) -> \(to): \(reason)"))
            out.append(.roleChanged(from: from, to: to, reason: reason))
            out.append(.publish(.role, "\(nodeName): \(from) -> \(to): \(reason)"))
        case .claim:
            claim(vips, purpose: .takeover)
        case .announce(let reason, let again):
            // Why the neighbours are told again (the peer back after a silence, a dual-active
            // contest won, …); the announcement's own line says what goes out.
            if again { out.append(.log(.info, reason)) }
            announceHeld()
        case .release(let reason):
            releaseAll(reason: reason)
        case .send(let outgoing):
            awaiting = .send
            out.append(.send(outgoing))
        case .notify(let role, let reason):
            if role == .stopping {
                guard !stopNotified else { return }
                stopNotified = true
            }
            out.append(.notify(role: role, reason: reason))
        case .rejected(let command, let reason):
            out.append(.log(.warning, "\(command) rejected: \(reason)"))
            rejections = (rejections.count + 1, command, reason)
            out.append(.publish(.control, "\(command) rejected: \(reason)"))
            if let pending, pending.command.name == command {
                self.pending = nil
                // A maintenance handover nobody took ends with maintenance off again: nothing
                // changed, so the answer is a refusal (the daemon takes its flag file back).
                let undone: Bool
                if case .maintenance(true, _) = pending.command { undone = !election.maintenance } else { undone = false }
                out.append(.reply(pending.id, undone ? .refused(reason) : .failed(reason)))
            }
        case .scheduleTimer(let at):
            electionTimer = at
        case .finished(let reason):
            finish(reason: reason, at: now)
        case .alert(let level, let text):
            out.append(.log(level, text))
            out.append(.publish(.peer, text))
        }
    }

    private mutating func finish(reason: String, at now: MonotonicInstant) {
        guard !isFinished else { return }
        isFinished = true
        finishReason = reason
        electionTimer = nil
        forceStopAt = nil
        agenda = []
        out.append(.log(.notice, "stopped: \(reason)"))
        if let pending {
            self.pending = nil
            if case .failover = pending.command, pending.wasActive, !pending.awaitingMirror, election.peer?.role == .active,
               election.peerIsAlive(at: now), !election.holdingVIPs {
                // Stopped during its own failover after the peer claimed, and the peer is still
                // heard serving: the move completed.
                let ms = Int(now.milliseconds(since: pending.since))
                let text = "failover complete: \(nodeName) -> \(peerName) in \(ms)ms (make-before-break); \(nodeName) then stopped (\(reason))"
                out.append(.publish(.control, text))
                out.append(.reply(pending.id, .failoverDone(from: nodeName, to: peerName, milliseconds: ms, message: text)))
            } else {
                out.append(.reply(pending.id, .failed("tandemd stopped (\(reason)) before the \(pending.command.name) completed")))
            }
        }
        for id in drainRequests.sorted() {
            out.append(.reply(id, .drainDone(drains.list, peer: .failed("tandemd stopped (\(reason)) before the peer answered"))))
        }
        drainRequests = []
        out.append(.scheduleTimer(nil))
        timerDeadline = nil
        out.append(.finished(reason: reason))
    }

    /// After each event: peer news, request completion and the one timer.
    private mutating func settle(at now: MonotonicInstant) {
        guard !isFinished else { return }
        notePeer(at: now)
        completeRequest(at: now)
        let offerDue = drainResync.observe(peerAlive: election.peerIsAlive(at: now), at: now)
        if offerDue, config.replicates, !drainResyncInFlight {
            drainResyncInFlight = true
            out.append(.offerDrains(drains.list, request: nil))
        }
        var next = electionTimer
        if let retry = kernelRetryAt, next.map({ retry < $0 }) ?? true { next = retry }
        if let forceStopAt, next.map({ forceStopAt < $0 }) ?? true { next = forceStopAt }
        if let deadline = pending?.deadline, next.map({ deadline < $0 }) ?? true { next = deadline }
        if next != timerDeadline {
            timerDeadline = next
            out.append(.scheduleTimer(next))
        }
    }

    /// The heartbeat loop sent `steadyHeartbeats`' rounds on its own, the last at `lastAt`, the
    /// next due at `next`: recorded as the timer's ticks would have left things (the election's
    /// schedule and this node's timer, which may be due now); those ticks did nothing else, so
    /// nothing else changes and no effect comes out. The loop then goes its usual way: packets,
    /// events, the timer.
    public mutating func steadyHeartbeatsSent(lastAt: MonotonicInstant, next: MonotonicInstant) {
        guard !isFinished, let due = election.steadyHeartbeatsSent(lastAt: lastAt, next: next) else { return }
        // `steadyHeartbeats` was given only while the election's timer was this node's only one.
        electionTimer = due
        timerDeadline = due
    }

    // MARK: - Start-up and health

    private mutating func start(at now: MonotonicInstant) {
        let present = health.vips.filter { $0.state.isPresent && $0.state != .conflict }.map(\.vip)
        if !present.isEmpty {
            out.append(.log(.notice, "found VIPs already present at start-up: \(Self.list(present)); keeping them unless \(peerName) is active"))
        }
        let tracked = health.vips.isEmpty ? vips.map { LocalHealth.VIPEntry(vip: $0, state: .absent) } : health.vips
        let presentNow = tracked.filter { $0.state.isPresent }.map(\.vip)
        let absentNow = tracked.filter { !$0.state.isPresent }.map(\.vip)
        if !presentNow.isEmpty { out.append(.track(presentNow, present: true)) }
        if !absentNow.isEmpty { out.append(.track(absentNow, present: false)) }
        // Only a usable copy is announced; the others count for the election (a stale VIP is
        // released when the peer is active) and are held once usable (`judged`).
        heldVIPs = Set(health.vips.filter { $0.state == .held }.map(\.vip))
        reconcileIPVS(.startUp) { $0.holdingVIPs = !present.isEmpty }
        agenda += election.started(at: now, holdingVIPs: !present.isEmpty).map(Work.action)
    }

    private mutating func judged(_ report: LocalHealth.Report, start: Bool, at now: MonotonicInstant) {
        let before = health
        health = report
        logNewStrays(before: before)
        let present = Set(strays(in: report))
        straysSwept.formIntersection(present)
        strayActors = strayActors.filter { present.contains($0.key) }
        if report.faults != before.faults {
            out.append(report.faults.isEmpty ? .log(.notice, "local faults cleared")
                : .log(.warning, "local fault: \(report.faults.joined(separator: "; "))"))
            out.append(.publish(.role, report.faults.isEmpty ? "\(nodeName): local faults cleared"
                : "\(nodeName): local fault: \(report.faults.joined(separator: "; "))"))
        }
        for entry in report.vips where entry.state == .conflict && before.state(of: entry.vip) != .conflict {
            out.append(.log(.error, "VIP \(entry.vip.prefix) on \(entry.vip.interface): \(LocalHealth.VIPState.conflict.problem(entry.vip) ?? "")"))
        }
        // VIPs that are no longer there (their interface went, or someone removed them) are not held.
        let lost = report.vipActions(held: heldVIPs, serving: false).lost
        if !lost.isEmpty {
            heldVIPs.subtract(lost)
            out.append(.endAnnouncements(vips.filter(lost.contains)))
        }
        // Held VIPs that were not usable (their link down or without carrier, the address kept on
        // it) and are again: the neighbours may have forgotten them, or learnt another router's
        // MAC meanwhile (trial 35: nothing was announced when the cable came back).
        let back = report.vips.filter { entry in
            entry.state == .held && heldVIPs.contains(entry.vip) && before.state(of: entry.vip) == .noCarrier(present: true)
        }.map(\.vip)
        agenda.insert(contentsOf: election.localFaultsChanged(report.faults, at: now).map(Work.action)
                      + [start ? .start : .reclaim(report, back: back)], at: 0)
    }

    private mutating func reclaim(_ report: LocalHealth.Report, back: [VirtualIP]) {
        guard servesVIPs else { return }
        let returned = back.filter(heldVIPs.contains)
        if !returned.isEmpty {
            out.append(.log(.notice, "VIPs usable again, their link back: \(Self.list(returned)); announcing them"))
            announceOwn(returned)
        }
        let (_, usable, missing) = report.vipActions(held: heldVIPs, serving: true)
        if !usable.isEmpty {
            heldVIPs.formUnion(usable)
            out.append(.log(.notice, "VIPs usable now: \(Self.list(usable))"))
            announceOwn(usable)
        }
        guard !missing.isEmpty else { return }
        out.append(.log(.warning, "VIPs missing while active: \(Self.list(missing)); claiming them again"))
        claim(missing, purpose: .reclaim)
    }

    // MARK: - Claims and releases

    private mutating func claim(_ list: [VirtualIP], purpose: ClaimPurpose) {
        guard !list.isEmpty else {
            if purpose == .takeover { afterTakeoverClaim() }
            return
        }
        awaiting = .claim(purpose, list)
        out.append(.claim(list))
    }

    private mutating func claimed(_ asked: [VirtualIP], _ results: [VirtualIP: VIPClaimOutcome], purpose: ClaimPurpose,
                                  at now: MonotonicInstant) {
        var done: [String] = []
        var held: [VirtualIP] = []
        for vip in asked {
            switch results[vip] ?? .failed("no answer") {
            case .added:
                held.append(vip)
                done.append("\(vip.prefix) on \(vip.interface) (added)")
            case .alreadyPresent(let flags):
                healthStale = true
                done.append("\(vip.prefix) on \(vip.interface) (already present)")
                guard let flags else { continue }
                if flags & (InterfaceAddress.dadFailedFlag | InterfaceAddress.tentativeFlag) == 0 {
                    held.append(vip)
                } else {
                    let why = flags & InterfaceAddress.dadFailedFlag != 0 ? "failed duplicate address detection (address conflict)" : "tentative"
                    out.append(.log(.error, "VIP \(vip.prefix) on \(vip.interface) is present but \(why): not held, not announced"))
                }
            case .failed(let why):
                out.append(.endAnnouncements([vip]))
                scheduleKernelRetry(at: now)
                out.append(.log(.error, "claim VIP \(vip.prefix) on \(vip.interface): \(why); retrying in \(retryDelay)"))
            }
        }
        let log = purpose == .reload ? "VIPs claimed (added by a reload)" : "VIPs claimed"
        if !done.isEmpty { out.append(.log(.notice, "\(log): \(done.joined(separator: ", "))")) }
        heldVIPs.formUnion(held)
        let nowHeld = asked.filter(held.contains)
        switch purpose {
        case .takeover:
            afterTakeoverClaim()
        case .reclaim, .reload:
            announceOwn(nowHeld)
        }
    }

    /// How long after a failed address change it is tried again: the heartbeat interval, within 100 ms … 1 s.
    public var retryDelay: TimeSpan {
        TimeSpan(milliseconds: min(1000, max(100, settings.election.interval.milliseconds)))
    }

    private mutating func scheduleKernelRetry(at now: MonotonicInstant) {
        if kernelRetryAt == nil { kernelRetryAt = now + retryDelay }
    }

    private mutating func afterTakeoverClaim() {
        reconcileIPVS(.claimed) { $0.holdingVIPs = true }
        announceAfterInstall = settings.announceAfterIPVSInstall
    }

    /// The election's `announce`: every VIP this node holds.
    private mutating func announceHeld() {
        let held = vips.filter(heldVIPs.contains)
        if held.count < vips.count {
            out.append(.log(.warning, "not announcing \(Self.list(vips.filter { !heldVIPs.contains($0) })): not held by this node"))
        }
        guard !held.isEmpty else { return }
        if announceAfterInstall {
            announceAfterInstall = false
            announceWhenInstalled = held
            announceIfInstalled()
        } else {
            out.append(.announce(held))
        }
    }

    /// Releases every VIP: pending announcements are cancelled first. A VIP in address conflict is
    /// left where it is (so the conflict stays visible), and one whose interface is gone has gone with it.
    private mutating func releaseAll(reason: String) {
        announceAfterInstall = false
        announceWhenInstalled = []
        out.append(.endAnnouncements(vips))
        heldVIPs.removeAll()
        let leave = Set(health.vips.filter { $0.state == .conflict || $0.state == .interfaceMissing }.map(\.vip))
        let list = vips.filter { !leave.contains($0) }
        guard !list.isEmpty else {
            reconcileIPVS(.released) { $0.holdingVIPs = false }
            return
        }
        awaiting = .release(.all, list)
        out.append(.release(list))
    }

    private mutating func released(_ asked: [VirtualIP], _ results: [VirtualIP: VIPReleaseOutcome], purpose: ReleasePurpose,
                                   at now: MonotonicInstant) {
        var done: [String] = []
        for vip in asked {
            switch results[vip] ?? .failed("no answer") {
            case .removed: done.append("\(vip.prefix) on \(vip.interface) (removed)")
            case .alreadyAbsent where purpose == .staleAdded || purpose == .stray: break
            case .alreadyAbsent: done.append("\(vip.prefix) on \(vip.interface) (already absent)")
            case .failed(let why):
                // A stray is tried again by the sweep after the retry delay, and only while this
                // node still serves nothing; a configured VIP's release is owed whatever happens.
                if purpose != .stray { releaseOwed.insert(vip) }
                scheduleKernelRetry(at: now)
                out.append(.log(.error, "release VIP \(vip.prefix) on \(vip.interface): \(why); retrying in \(retryDelay)"))
            }
        }
        let log: String
        switch purpose {
        case .all, .retry: log = "VIPs released"
        case .removedByReload: log = "VIPs released (removed from the config)"
        case .staleAdded: log = "VIPs added by a reload were already present on this \(election.role) node: stale copies released"
        case .stray: log = "VIP addresses Tandem did not add removed from this \(election.role) node"
        }
        // What this node removed is gone: the judgement in hand says so too (no second sweep of
        // it, no need to read the kernel again); a stray whose removal failed waits for the retry.
        for vip in asked {
            switch results[vip] ?? .failed("no answer") {
            case .removed, .alreadyAbsent:
                health.noteRemoved(vip)
                straysSwept.remove(vip)
            case .failed:
                straysSwept.insert(vip)
            }
        }
        if !done.isEmpty { out.append(.log(.notice, "\(log): \(done.joined(separator: ", "))")) }
        if purpose == .all { reconcileIPVS(.released) { $0.holdingVIPs = false } }
    }

    private mutating func forceStop(reason: String) {
        out.append(.log(.warning, "stop forced: \(reason)"))
        agenda = []
        if election.holdingVIPs || election.role == .active || election.role == .stopping {
            agenda.append(.releaseAll(reason: reason))
        }
        // The stop command, after the release, unless the election's own leaving ran it.
        if !stopNotified { agenda.append(.action(.notify(role: .stopping, reason: reason))) }
        agenda.append(.sendNotice(Election.Outgoing(kind: .release, role: .stopping, priority: election.effectivePriority)))
        agenda.append(.finish(reason: reason))
    }

    // MARK: - Route changes and reloads

    private mutating func route(_ event: RouteWatchEvent, at now: MonotonicInstant) {
        var stale = true
        switch event {
        case .linkDown(let name):
            out.append(.log(.notice, "link \(name) is down"))
            trackedLinkChanged(name, isUp: false, at: now)
        case .linkRemoved(let name, let why):
            switch why {
            case .deleted: out.append(.log(.notice, "link \(name) is gone (deleted)"))
            case .missing: out.append(.log(.notice, "link \(name) does not exist"))
            case .renamed(let to): out.append(.log(.notice, "link \(name) was renamed to \(to): for Tandem \(name) is gone until a link of that name is up again"))
            }
            trackedLinkChanged(name, isUp: false, at: now)
        case .linkUp(let name):
            out.append(.log(.notice, "link \(name) is up"))
            trackedLinkChanged(name, isUp: true, at: now)
        case .linkAddressChanged(let name, let from, let to):
            // The neighbours keep sending to the old MAC (the kernel tells them nothing unless
            // arp_notify is set): the VIPs served on the link are announced with the new one.
            // Not while handing over (the peer is taking them), nor before a cold standby's
            // install (its pending announcement reads the new MAC when it goes out).
            stale = false
            let announceable = servesVIPs && !election.isHandingOver && announceWhenInstalled.isEmpty && !announceAfterInstall
            let served = announceable ? vips.filter { $0.interface == name && heldVIPs.contains($0) } : []
            out.append(.log(.notice, "link \(name) changed its hardware address from \(from) to \(to)"
                + (served.isEmpty ? "" : ": announcing \(Self.list(served)) with the new one")))
            announceOwn(served)
        case .vipRemoved(let vip, let origin):
            stale = origin != .tandem
            if origin != .tandem, vips.contains(vip), servesVIPs {
                // IPv6 notifications never name the requester: the kernel's own flush when the link
                // goes down reads as foreign too (trial 34 took it for another program).
                let actor = origin == .foreign && vip.family == .ipv6
                    ? "another program, or by the kernel as \(vip.interface) went down (IPv6 removals never say which)" : origin.actor
                out.append(.log(.warning, "VIP \(vip.prefix) on \(vip.interface) was removed by \(actor) while active: re-adding it"))
            }
        case .vipAdded(let vip, let origin):
            stale = origin != .tandem
            if origin != .tandem, vips.contains(vip), !election.holdingVIPs {
                // A node that does not serve the VIPs never keeps a copy: it would answer ARP and
                // neighbour solicitations for the address the active serves (a duplicate IP). The
                // judgement this makes stale finds it (`strays`): it is logged with who added it
                // and removed.
                if keepsNoVIPCopies {
                    strayActors[vip] = origin.actor
                } else {
                    out.append(.log(.warning, "VIP \(vip.prefix) on \(vip.interface) was added by \(origin.actor) while \(election.role): leaving it (Tandem did not add it)"))
                }
            }
        case .vipCopyAdded(let vip, let copy, let origin):
            // The judgement this makes stale finds the copy (`LocalHealth.Report.copies`): it
            // logs it and, on a node that does not serve the VIPs, the sweep removes it.
            stale = origin != .tandem
            if origin != .tandem, vips.contains(vip) { strayActors[copy] = origin.actor }
        case .overrun:
            out.append(.log(.warning, "route monitor lost notifications (overrun): state re-read"))
        case .hostChanged:
            break
        }
        if stale { healthStale = true }
    }

    private mutating func reload(_ new: Settings, at now: MonotonicInstant) {
        let old = settings.vips
        let removed = old.filter { !new.vips.contains($0) }
        let added = new.vips.filter { !old.contains($0) }
        settings = new
        if !removed.isEmpty { out.append(.untrack(removed)) }
        if !added.isEmpty { out.append(.track(added, present: false)) }
        if !removed.isEmpty {
            out.append(.endAnnouncements(removed))
            heldVIPs.subtract(removed)
        }
        if election.holdingVIPs, !removed.isEmpty {
            awaiting = .release(.removedByReload, removed)
            out.append(.release(removed))
        }
        if !added.isEmpty { agenda.append(.claimAdded(added)) }
        healthStale = true
        // While the release of removed VIPs is outstanding, its answer resumes the agenda.
        agenda += election.settingsChanged(new.election, at: now).map(Work.action)
    }

    // MARK: - The IPVS table's inputs

    /// Changes the inputs and asks the worker to reconcile (at start-up, a claim and a release
    /// always; a health or drain change only when it changed something).
    private mutating func reconcileIPVS(_ reason: IPVSReconcileReason, _ change: (inout IPVSInputs) -> Void) {
        change(&ipvs)
        ipvs.drained = drains.drained
        reconcilesOutstanding += 1
        out.append(.reconcileIPVS(ipvs, reason: reason))
    }

    /// Cold standby: announces the VIPs waiting for the install once no reconcile is outstanding,
    /// only those still held, and only while serving and not handing over (a release in between
    /// dropped them; a node that has asked its peer to take over would point the neighbours
    /// away from the peer that already announced).
    private mutating func announceIfInstalled() {
        guard !announceWhenInstalled.isEmpty, reconcilesOutstanding == 0 else { return }
        let list = announceWhenInstalled.filter(heldVIPs.contains)
        announceWhenInstalled = []
        if servesVIPs { announceOwn(list) }
    }

    /// An announcement NodeState decides on its own (a cold install finished, a VIP held again or
    /// added by a reload), not the election's: none while handing over, since the peer may have
    /// claimed and announced the VIPs already; the VIPs stay held for packets in flight.
    private mutating func announceOwn(_ list: [VirtualIP]) {
        guard !list.isEmpty, !election.isHandingOver else { return }
        out.append(.announce(list))
    }

    // MARK: - Drains

    /// The operator drained or undrained `ids`: kept, applied, and offered to the peer (the
    /// reply waits for its answer).
    private mutating func drain(_ id: NodeRequestID, _ ids: [RealServerID], on: Bool, wallClock: UInt64) {
        drains.change(ids, drained: on, wallClock: wallClock)
        out.append(.drainsChanged(drains))
        if drains.drained != ipvs.drained { reconcileIPVS(.drains) { _ in } }
        guard config.replicates else {
            out.append(.reply(id, .drainDone(drains.list, peer: .failed("no peer channel: heartbeats are not authenticated (auth: none)"))))
            return
        }
        drainRequests.insert(id)
        out.append(.offerDrains(drains.list, request: id))
    }

    /// The peer's list: adopted when newer (so a drain holds on both nodes and survives a
    /// failover), answered with ours when ours is newer, refused whole when malformed.
    private mutating func peerDrains(_ list: DrainList, answer id: NodeRequestID) {
        switch drains.merge(list) {
        case .malformed(let line):
            out.append(.answerPeer(id, .failure("drain entry \"\(line)\" is not SERVICE ADDRESS PORT")))
        case .same:
            out.append(.answerPeer(id, .accepted("has the same drain list")))
        case .sendOursBack(let ours):
            out.append(.answerPeer(id, .accepted("kept its newer drain list and sends it back")))
            if !drainResyncInFlight {
                drainResyncInFlight = true
                out.append(.offerDrains(ours, request: nil))
            }
        case .adopted(let parsed):
            out.append(.drainsChanged(drains))
            if drains.drained != ipvs.drained { reconcileIPVS(.drains) { _ in } }
            let text = "drains mirrored from the peer: \(parsed.isEmpty ? "none" : parsed.sorted().map(\.description).joined(separator: ", "))"
            out.append(.log(.notice, text))
            out.append(.publish(.drain, text))
            out.append(.answerPeer(id, .accepted(parsed.isEmpty ? "no real server drained there either now"
                                                 : "\(parsed.count) real server(s) drained there too, the same list")))
        }
    }

    private mutating func drainsOffered(_ list: DrainList, request: NodeRequestID?, _ outcome: DrainOffer, at now: MonotonicInstant) {
        if let request {
            guard drainRequests.remove(request) != nil else { return }
            out.append(.reply(request, .drainDone(list, peer: outcome)))
            // The peer missed it: offered again after the back-off while the peer is heard.
            if case .failed = outcome { drainResync.offerFailedElsewhere(at: now) }
            return
        }
        drainResyncInFlight = false
        switch outcome {
        case .accepted(let answer):
            drainResync.offered(succeeded: true, at: now)
            lastDrainOfferFailure = nil
            out.append(.log(.info, "drain list (\(list.entries.count) drained) offered to \(peerName), heard (again): \(answer)"))
        case .failed(let why):
            drainResync.offered(succeeded: false, at: now)
            if why != lastDrainOfferFailure {
                lastDrainOfferFailure = why
                out.append(.log(.warning, "cannot offer the drain list to the peer: \(why); retrying while it is heard"))
            }
        }
    }

    // MARK: - Config replication

    /// Turns the config book's steps into effects, with the log lines operators know.
    private mutating func book(_ steps: [ConfigBook.Step]) {
        for step in steps {
            switch step {
            case .fetch(let target):
                out.append(.log(.notice, "config replication: \(peerName) runs \(target), this node \(config.running); fetching"))
                out.append(.fetchPeerConfig(target))
            case .conflictDetected(let local, let peer):
                out.append(.configConflict(local: local, peer: peer))
                out.append(.log(.error, "config conflict: this node and \(peerName) both run serial \(local.serial) with different configs (digest \(local.digest.description.prefix(16)) here, \(peer.digest.description.prefix(16)) there); nothing is applied: raise the serial on the node whose config should win and reload it"))
                out.append(.publish(.config, "config conflict with \(peerName) at serial \(local.serial)"))
            case .conflictResolved:
                out.append(.configConflict(local: nil, peer: nil))
                out.append(.log(.notice, "config conflict with \(peerName) resolved"))
                out.append(.publish(.config, "config conflict with \(peerName) resolved"))
            case .write(let version):
                out.append(.writeConfig(version))
            case .reload:
                out.append(.reloadConfig)
            case .applied(let version, let ms):
                out.append(.replicationResult(serial: version.serial, result: "applied", succeeded: true))
                out.append(.log(.notice, "config replication: applied \(peerName)'s config serial \(version.serial) (digest \(version.digest.description.prefix(16)); fetched, validated, written and reloaded in \(ms) ms)"))
                out.append(.publish(.config, "applied \(peerName)'s config serial \(version.serial)"))
            case .refused(let serial, let reason):
                out.append(.replicationResult(serial: serial, result: "refused: \(reason)", succeeded: false))
                out.append(.log(.error, "config replication: refused \(peerName)'s config serial \(serial): \(reason); keeping this node's config"))
            case .restoreFile(let version):
                out.append(.restoreConfigFile(version))
            case .failed(let serial, let reason):
                out.append(.replicationResult(serial: serial, result: reason, succeeded: false))
                out.append(.log(.warning, "config replication: \(peerName)'s config serial \(serial): \(reason); retrying"))
            }
        }
    }

    /// A tracked link went up or down: the election decides; a changed effective priority
    /// (`lower_priority_by`) is logged, since it can move the VIPs at the next comparison.
    private mutating func trackedLinkChanged(_ name: String, isUp: Bool, at now: MonotonicInstant) {
        let before = election.effectivePriority
        agenda += election.trackedInterfaceChanged(name, isUp: isUp, at: now).map(Work.action)
        let after = election.effectivePriority
        if after != before {
            out.append(.log(.notice, "effective priority \(before) -> \(after): tracked link \(name) is \(isUp ? "up" : "down") "
                + "(priority \(election.settings.priority), lowered by its tracked links that are down)"))
        }
    }

    /// Addresses this node must not keep while it does not serve the VIPs: configured VIPs present
    /// (not one in address conflict, left so the conflict stays visible) and copies of a VIP's
    /// address (`LocalHealth.Report.copies`). Empty while it serves them or starts.
    private var strays: [VirtualIP] { keepsNoVIPCopies ? strays(in: health) : [] }

    /// The addresses of `report` that are strays whenever this node does not serve the VIPs.
    private func strays(in report: LocalHealth.Report) -> [VirtualIP] {
        report.vips.filter { $0.state.isPresent && $0.state != .conflict }.map(\.vip) + report.copies
    }

    /// One line for each stray address a judgement found for the first time: what it is, who
    /// added it when known, and what happens to it (`drive` removes it on a node that does not
    /// serve the VIPs; a serving node leaves a copy until it stops serving).
    private mutating func logNewStrays(before: LocalHealth.Report) {
        if keepsNoVIPCopies {
            for entry in health.vips where entry.state.isPresent && entry.state != .conflict && before.state(of: entry.vip)?.isPresent != true {
                let vip = entry.vip
                let how = strayActors[vip].map { "was added by \($0) while \(election.role)" }
                    ?? "is on this \(election.role) node although Tandem did not add it"
                out.append(.log(.warning, "VIP \(vip.prefix) on \(vip.interface) \(how): removing it (\(peerName) serves it when active; "
                    + "a second copy here would answer for it too)"))
            }
        }
        for copy in health.copies where !before.copies.contains(copy) {
            guard let vip = vips.first(where: { $0.prefix.address == copy.prefix.address }) else { continue }
            let what = "\(copy.prefix) on \(copy.interface), a copy of VIP \(vip.prefix) on \(vip.interface) with another "
                + (copy.interface == vip.interface ? "prefix length" : "interface")
            let how = strayActors[copy].map { "was added by \($0) while \(election.role)" }
                ?? (election.role == .starting ? "was found at start-up" : "is on this \(election.role) node")
            if keepsNoVIPCopies {
                out.append(.log(.warning, "\(what), \(how): removing it "
                    + "(\(peerName) serves the VIP when active; a copy here would answer ARP and neighbour solicitations for it too)"))
            } else if election.role == .starting {
                out.append(.log(.warning, "\(what), \(how): it stays only if this node becomes active, and goes when it stops "
                    + "serving the VIPs (a copy answers ARP and neighbour solicitations for the VIP too)"))
            } else {
                out.append(.log(.warning, "\(what), \(how): leaving it while this node serves the VIPs (Tandem did not add it); "
                    + "it is removed when this node stops serving them, as a copy would answer for the VIP there too"))
            }
        }
    }

    /// A node that does not serve the VIPs (standby, maintenance, fault, holding none) keeps no
    /// copy of one: it would answer ARP and neighbour solicitations for the address the active serves.
    private var keepsNoVIPCopies: Bool {
        !election.holdingVIPs && [.standby, .maintenance, .fault].contains(election.role)
    }

    // MARK: - Operator requests

    /// Why a failover is refused at once while the two configs differ, and what to do: equal
    /// serials with different contents (a conflict nobody mirrors: settle it by hand), or no mirror
    /// at all (`auth: none`: configs are copied by hand). Differing serials with a mirror are not
    /// refused here: the failover waits for the mirror (`startFailoverAfterMirror`).
    static func configsDiffer(here: UInt64, peer: UInt64, peerName: String, mirrors: Bool) -> String {
        let differ = "configs differ (serial \(here) here, \(peer) on \(peerName)): \(peerName) would serve a different table; "
        if !mirrors, here != peer {
            return differ + "configs are not mirrored without heartbeat authentication (auth: none): copy the newer config "
                + "to the other node and reload it there, or use --force"
        }
        return differ + "equal serials with different contents are a conflict nobody mirrors: raise the serial of the right "
            + "config and reload it, or use --force"
    }

    private mutating func request(_ id: NodeRequestID, _ command: NodeCommand, at now: MonotonicInstant) {
        if case .drain(let ids, let on, let wallClock) = command {
            drain(id, ids, on: on, wallClock: wallClock)
            return
        }
        if forceStopAt != nil || election.role == .stopping {
            out.append(.reply(id, .refused("tandemd is stopping: \(command.name) not carried out")))
            return
        }
        if pending != nil {
            out.append(.reply(id, .refused("another failover or maintenance change is in progress")))
            return
        }
        let actions: [Election.Action]
        switch command {
        case .failover(let force):
            // Only a failover the election would carry out now waits for anything (the others are
            // refused below with the election's own reason: this node or the peer in fault,
            // maintenance, starting).
            if !force, election.failoverRunnable(at: now), let peer = election.peer, peer.configDigest != config.running.digest {
                // One side runs a newer serial: replication mirrors it within a few heartbeats (a
                // failover right after a reload), so wait for that rather than refuse. Equal serials
                // with different contents, or no replication, would wait for nothing, and neither
                // would a newer peer config this node has already refused.
                let peerVersion = ConfigVersion(serial: peer.configSerial, digest: peer.configDigest)
                guard config.replicates, peer.configSerial != config.running.serial else {
                    out.append(.reply(id, .refused(Self.configsDiffer(here: config.running.serial, peer: peer.configSerial, peerName: peerName,
                                                                       mirrors: config.replicates))))
                    return
                }
                if config.refusedPeerVersion == peerVersion {
                    out.append(.reply(id, .refused("configs differ (serial \(config.running.serial) here, \(peer.configSerial) on \(peerName)): "
                        + "this node refused \(peerName)'s config serial \(peer.configSerial) (this node's log says why): fix that, or use --force")))
                    return
                }
                pending = PendingRequest(id: id, command: command, wasActive: election.role == .active, since: now,
                                         deadline: now + settings.requestWaitLimit, awaitingMirror: true)
                out.append(.log(.notice, "failover waits for the config mirror: serial \(config.running.serial) here, "
                    + "\(peer.configSerial) on \(peerName); it starts once both run the same config (at most \(settings.requestWaitLimit))"))
                return
            }
            pending = PendingRequest(id: id, command: command, wasActive: election.role == .active, since: now,
                                     deadline: now + settings.requestWaitLimit)
            actions = election.failoverRequested(at: now, force: force)
        case .maintenance(let on, let force):
            pending = PendingRequest(id: id, command: command, wasActive: election.role == .active, since: now,
                                     deadline: now + settings.requestWaitLimit)
            actions = election.maintenanceRequested(on, force: force, at: now)
        case .drain:
            return
        }
        carryOutRequest(id, actions)
    }

    /// The election's answer to a request: a refusal at once is answered `refused` (nothing
    /// changed); the other actions go on the agenda.
    private mutating func carryOutRequest(_ id: NodeRequestID, _ actions: [Election.Action]) {
        for action in actions {
            guard case .rejected(let name, let reason) = action else { continue }
            pending = nil
            out.append(.reply(id, .refused(reason)))
            out.append(.log(.warning, "\(name) rejected: \(reason)"))
            rejections = (rejections.count + 1, name, reason)
            out.append(.publish(.control, "\(name) rejected: \(reason)"))
        }
        agenda += actions.filter { if case .rejected = $0 { return false } else { return true } }.map(Work.action)
    }

    /// A failover that waited for the config mirror starts once both nodes run the same config
    /// (or the peer is no longer heard: the election then says what it does); true when it started.
    private mutating func startFailoverAfterMirror(at now: MonotonicInstant) -> Bool {
        guard var request = pending, request.awaitingMirror, case .failover(let force) = request.command, let peer = election.peer else {
            return false
        }
        // What the operator asked no longer applies: answered, nothing done (a failover asked on
        // the active must never become one that pulls the VIPs back).
        let gone = !election.peerIsAlive(at: now) ? "\(peerName) is no longer heard"
            : request.wasActive != (election.role == .active) ? "this node became \(election.role) meanwhile" : nil
        if let gone {
            pending = nil
            out.append(.reply(request.id, .refused("\(gone) while the failover waited for the config mirror: nothing done")))
            return false
        }
        guard peer.configDigest == config.running.digest else { return false }
        out.append(.log(.notice, "failover starts: \(peerName) runs this node's config (serial \(config.running.serial)) after "
            + "\(now.milliseconds(since: request.since))ms"))
        // The handover is timed (and bounded) from here, as for a failover asked now.
        request.awaitingMirror = false
        request.since = now
        request.deadline = now + settings.requestWaitLimit
        pending = request
        carryOutRequest(request.id, election.failoverRequested(at: now, force: force))
        return true
    }

    /// Answers the pending request when the roles say it is done, or when its wait limit passed.
    private mutating func completeRequest(at now: MonotonicInstant) {
        guard let request = pending else { return }
        if request.awaitingMirror {
            guard now >= request.deadline, let peer = election.peer else { return }
            pending = nil
            let (here, there) = (config.running.serial, peer.configSerial)
            let stuck = here > there
                ? "\(peerName) has not taken this node's serial \(here) (it may have refused it: its log and `tandemctl status` say why)"
                : "this node has not taken \(peerName)'s serial \(there) (this node's log and `tandemctl status` say why)"
            out.append(.reply(request.id, .refused("configs differ (serial \(here) here, \(there) on \(peerName)) after waiting "
                + "\(settings.requestWaitLimit) for the mirror: \(stuck); fix that, or use --force")))
            return
        }
        let role = election.role
        let peerAlive = election.peerIsAlive(at: now)
        let peerRole = election.peer?.role
        let ms = Int(now.milliseconds(since: request.since))
        switch request.command {
        case .failover(let force):
            let done = request.wasActive
                ? role != .active && role != .stopping && (!peerAlive || peerRole == .active || force)
                : role == .active && peerRole != .active
            if done {
                let (from, to) = request.wasActive ? (nodeName, peerName) : (peerName, nodeName)
                var text = request.wasActive && peerRole != .active
                    ? "failover forced: \(nodeName) released the VIPs in \(ms)ms; \(peerName) is \(peerAlive ? peerRole?.description ?? "unknown" : "not heard")"
                    : "failover complete: \(from) -> \(to) in \(ms)ms (make-before-break)"
                // With preempt on, the node of higher priority that handed over does not take the
                // VIPs back after the preempt delay (`Election.preemptSuspended`): say so, on either side.
                if request.wasActive, election.preemptSuspended {
                    text += "; preempt is suspended on \(nodeName) while \(peerName) serves (`tandemctl failover` moves the VIPs back)"
                } else if !request.wasActive, settings.election.preempt, let peer = election.peer, peer.priority > election.effectivePriority {
                    text += "; \(peerName) (priority \(peer.priority)) does not preempt while \(nodeName) serves (`tandemctl failover` moves the VIPs back)"
                }
                pending = nil
                out.append(.publish(.control, text))
                out.append(.reply(request.id, .failoverDone(from: from, to: to, milliseconds: ms, message: text)))
                return
            }
            if now >= request.deadline {
                pending = nil
                out.append(.reply(request.id, .failed("the handover did not complete within \(settings.requestWaitLimit): see `tandemctl status`")))
            }
        case .maintenance(let on, _):
            if on ? role == .maintenance : role != .maintenance {
                let text = on ? "maintenance on: \(nodeName) is pinned to standby (role \(role)); it survives a restart"
                    : "maintenance off: \(nodeName) is \(role)"
                pending = nil
                out.append(.publish(.control, text))
                out.append(.reply(request.id, .maintenanceDone(message: text)))
                return
            }
            if now >= request.deadline {
                pending = nil
                out.append(.reply(request.id, .failed("maintenance \(on ? "on" : "off") is recorded but the role did not settle within \(settings.requestWaitLimit): see `tandemctl status`")))
            }
        case .drain:
            // Never pending: a drain is answered when the peer answers its offer.
            pending = nil
        }
    }

    /// A `peer` event when the peer's role or liveness changed since the last look.
    private mutating func notePeer(at now: MonotonicInstant) {
        guard let peer = election.peer else { return }
        let view = (role: peer.role, alive: election.peerIsAlive(at: now))
        defer { lastPeerView = view }
        guard let last = lastPeerView else {
            out.append(.publish(.peer, "\(peerName) heard: \(peer.role), priority \(peer.priority)"))
            return
        }
        if last.alive && !view.alive {
            // A departing standby held nothing: it stopped; an active (or one stopping) released the VIPs.
            let left = last.role == .active || last.role == .stopping ? "it released the VIPs and left" : "it stopped and left"
            // The dead time the peer was judged by: scaled when it advertises a longer interval (a standby).
            let judged = election.deadTime(of: peer)
            let silence = judged == settings.election.deadTime ? "silent for the dead time \(judged)"
                : "silent for \(judged) (the dead time \(settings.election.deadTime) scaled to its \(TimeSpan(milliseconds: UInt64(peer.intervalMilliseconds))) interval)"
            let what = "\(peerName) lost: \(peer.departed ? left : silence)"
            out.append(.publish(.peer, what))
            // In the log too: losing the peer is news whatever this node does about it.
            let consequence = switch election.role {
            case .active: "; this node keeps the VIPs with no standby to fail over to"
            case .maintenance: "; this node is in maintenance, so NOBODY serves the VIPs: `tandemctl maintenance off` takes them"
            case .fault: "; this node is in fault, so NOBODY serves the VIPs"
            default: ""
            }
            out.append(.log(peer.departed ? .notice : .warning, "peer " + what + consequence))
        } else if !last.alive && view.alive {
            let what = "\(peerName) heard again: \(peer.role), priority \(peer.priority)"
            out.append(.publish(.peer, what))
            out.append(.log(.notice, "peer " + what))
        } else if last.role != view.role {
            out.append(.publish(.peer, "\(peerName): \(last.role) -> \(view.role)"))
        }
    }

    /// "ADDRESS/LEN on INTERFACE, …".
    public static func list(_ vips: [VirtualIP]) -> String {
        vips.map { "\($0.prefix) on \($0.interface)" }.joined(separator: ", ")
    }
}
