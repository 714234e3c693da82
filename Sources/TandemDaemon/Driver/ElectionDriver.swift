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

/// Runs this node's `NodeState` on the heartbeat thread and carries out its effects: the thin
/// executor around the pure decisions (not thread-safe: one owner, the heartbeat thread).
///
/// The fast work happens here, in the order the state gives it: VIP claim and release
/// (rtnetlink, sub-millisecond), the first announcement, heartbeat sends. The slow work goes to
/// the `KernelWorker`: the IPVS reconcile after a claim (warm standby: verify and repair; cold:
/// install), the sync daemon's role and the notify command. Every rule (what a route change, a
/// reload, a stop or an operator request does) lives in `NodeState`; this class keeps only the
/// status the control socket shows (role history) and the callbacks for replies.
public final class ElectionDriver {
    /// The decisions: election, held VIPs, health, stop, requests.
    public private(set) var node: NodeState
    private var executor: Executor
    /// Replies owed to callers of `request(_:reply:)`, by request id.
    private var replies: [NodeRequestID: @Sendable (NodeReply) -> Void] = [:]
    /// Answers owed to the peer's drain offers, by request id (the same numbering).
    private var peerReplies: [NodeRequestID: @Sendable (PeerResponse) -> Void] = [:]
    private var nextRequest: NodeRequestID = 1
    /// Route events kept for one judgement (`routeEvent(judgeNow: false)`).
    private var queuedRoutes: [RouteWatchEvent] = []

    public init(config: Config, settings: Election.Settings, addressTable: any AddressTable, announcer: any Announcer,
                sender: any HeartbeatSending, worker: KernelWorker, logger: Logger, heartbeatAddresses: [IPAddress] = [],
                clock: any TandemClock = MonotonicClock(), drains: DrainBook = DrainBook()) {
        node = NodeState(settings: Self.nodeSettings(config, settings, worker: worker), config: ConfigVersion(config),
                         replicates: config.heartbeat.authentication.mirrorsConfig, drains: drains)
        executor = Executor(config: config, addressTable: addressTable, announcer: announcer, sender: sender,
                            worker: worker, logger: logger, heartbeatAddresses: heartbeatAddresses, clock: clock)
    }

    /// What an announcement sends, for the log (an operator checks it without tcpdump):
    /// "192.0.2.10/24 on eth0: 3 gratuitous ARP requests now, 3 more after 1s".
    static func announcement(_ vips: [VirtualIP], _ a: AnnounceSettings) -> String {
        let kinds = [vips.contains { $0.prefix.family == .ipv4 } ? "gratuitous ARP \(a.arpMode == .reply ? "replies" : "requests")" : nil,
                     vips.contains { $0.prefix.family == .ipv6 } ? "unsolicited neighbour advertisements" : nil].compactMap { $0 }
        var text = vips.map { "\($0.prefix) on \($0.interface)" }.joined(separator: ", ")
            + ": \(a.repeatCount) \(kinds.joined(separator: " / ")) each now"
        if let second = a.secondBurstDelay { text += ", \(a.repeatCount) more after \(second)" }
        if let refresh = a.refreshInterval { text += ", then \(a.refreshRepeat) every \(refresh) while active" }
        return text
    }

    static func nodeSettings(_ config: Config, _ settings: Election.Settings, worker: KernelWorker) -> NodeState.Settings {
        NodeState.Settings(election: settings, vips: config.virtualIPs, announceAfterIPVSInstall: worker.installsOnClaim(config))
    }

    /// The election, borrowed (`_read`): the heartbeat loop asks it something every wake-up, and
    /// a plain getter copied the whole value (its peer, settings and sets) each time.
    public var election: Election { _read { yield node.election } }
    /// `NodeState.peerIsAlive(at:)`: the heartbeat loop's question at every wake-up, without
    /// copying the election out of `node`.
    public func peerIsAlive(at now: MonotonicInstant) -> Bool { node.peerIsAlive(at: now) }
    /// `NodeState.statusFields(at:)`, for the status the heartbeat loop publishes.
    public func statusFields(at now: MonotonicInstant) -> NodeState.StatusFields { node.statusFields(at: now) }
    public var config: Config { executor.config }
    public var timerDeadline: MonotonicInstant? { node.timerDeadline }
    public var isFinished: Bool { node.isFinished }
    public var finishReason: String? { node.finishReason }
    public var heldVIPs: Set<VirtualIP> { node.heldVIPs }
    public var health: LocalHealth.Report { _read { yield node.health } }
    public var rejections: (count: UInt64, command: String, reason: String) { node.rejections }
    /// The newest role changes (at most `historyLimit`), oldest first.
    public var history: [RoleHistoryEntry] { executor.history }
    static let historyLimit = 20
    /// The reason of the last role change.
    public var roleReason: String { executor.roleReason }
    /// Wall-clock time (ns since the epoch) of the last role change.
    public var roleChangedAt: UInt64 { executor.roleChangedAt }

    /// Where role, peer and command events go (the control socket's `events`); nil in tests.
    public var events: EventHub? {
        get { executor.events }
        set { executor.events = newValue }
    }
    /// Called on the heartbeat thread for every role change (systemd's READY=1 and STATUS=).
    public var onRoleChange: (@Sendable (_ to: Role, _ reason: String) -> Void)? {
        get { executor.onRoleChange }
        set { executor.onRoleChange = newValue }
    }
    /// Set once the monitor exists (it is created after the driver, to deliver into it).
    public var routeMonitor: (any RouteMonitor)? {
        get { executor.routeMonitor }
        set { executor.routeMonitor = newValue }
    }

    // MARK: - Events

    private func run(_ event: NodeEvent, at now: MonotonicInstant) {
        node.run(event, at: now, executor: &executor)
        let (replies, peerAnswers) = executor.takeReplies()
        for (id, reply) in replies {
            self.replies.removeValue(forKey: id)?(reply)
        }
        for (id, answer) in peerAnswers {
            peerReplies.removeValue(forKey: id)?(answer)
        }
    }

    /// Start-up: judge health, adopt VIPs already present, start the election.
    public func start(at now: MonotonicInstant) { run(.start, at: now) }

    public func heartbeatReceived(_ message: HeartbeatMessage, waitedNanoseconds: UInt64? = nil, withdrawn: Bool = false,
                                  at now: MonotonicInstant) {
        run(.heartbeat(message, waitedNanoseconds: waitedNanoseconds, withdrawn: withdrawn), at: now)
    }

    public func timerFired(at now: MonotonicInstant) { run(.timer, at: now) }

    /// `NodeState.steadyHeartbeats`: the periodic heartbeats the loop may send on its own; nil
    /// while route events wait for `judgeHealthIfStale`.
    public func steadyHeartbeats(at now: MonotonicInstant) -> Election.SteadyHeartbeats? {
        queuedRoutes.isEmpty ? node.steadyHeartbeats(at: now) : nil
    }

    /// `NodeState.steadyFollowing`: the routine heartbeats the loop may keep; nil while route
    /// events wait for `judgeHealthIfStale`.
    public func steadyFollowing(at now: MonotonicInstant) -> Election.SteadyFollowing? {
        queuedRoutes.isEmpty ? node.steadyFollowing(at: now) : nil
    }

    /// The loop sent the steady heartbeats, the last at `lastAt` (`NodeState.steadyHeartbeatsSent`);
    /// `failing`: the paths the last send found failing (`NodeEvent.steadySendFailed`).
    public func steadyHeartbeatsSent(lastAt: MonotonicInstant, next: MonotonicInstant, failing: [Int: String], at now: MonotonicInstant) {
        node.steadyHeartbeatsSent(lastAt: lastAt, next: next)
        if !failing.isEmpty { run(.steadySendFailed(failing), at: now) }
    }

    /// An operator request; `reply` is called exactly once, on this thread (at once for a
    /// refusal, later when the roles settle, or when the node stops).
    public func request(_ command: NodeCommand, at now: MonotonicInstant, reply: @escaping @Sendable (NodeReply) -> Void) {
        let id = nextRequest
        nextRequest += 1
        replies[id] = reply
        run(.command(id, command), at: now)
    }

    /// The peer's drain list; `reply` is called exactly once, on this thread.
    public func peerDrains(_ list: DrainList, at now: MonotonicInstant, reply: @escaping @Sendable (PeerResponse) -> Void) {
        let id = nextRequest
        nextRequest += 1
        peerReplies[id] = reply
        run(.peerDrains(list, answer: id), at: now)
    }

    public func stopRequested(at now: MonotonicInstant) { run(.stop, at: now) }

    /// A second stop request (or the stop timeout): release everything now and finish.
    public func forceStop(reason: String, at now: MonotonicInstant) { run(.forceStop(reason: reason), at: now) }

    /// A link watched by the route monitor changed, or a VIP changed behind Tandem's back. With
    /// `judgeNow: false` the event waits for `judgeHealthIfStale`, so that a batch of events is
    /// followed by one judgement of this node's health.
    public func routeEvent(_ event: RouteWatchEvent, at now: MonotonicInstant, judgeNow: Bool = true) {
        queuedRoutes.append(event)
        if judgeNow { judgeHealthIfStale(at: now) }
    }

    /// Hands the route events kept so far to the state (one judgement for all of them).
    public func judgeHealthIfStale(at now: MonotonicInstant) {
        guard !queuedRoutes.isEmpty else { return }
        let batch = queuedRoutes
        queuedRoutes = []
        run(.routes(batch), at: now)
    }

    /// A reload brought a new config (already validated). The election's settings, the VIPs and
    /// the IPVS table follow it; heartbeat addresses and port need a restart.
    public func configChanged(_ new: Config, settings: Election.Settings, at now: MonotonicInstant) {
        executor.config = new
        executor.worker.configChanged(new)
        run(.reload(Self.nodeSettings(new, settings, worker: executor.worker)), at: now)
    }

    /// The config in force has another serial and digest (a failover compares them with the peer's).
    public func configVersionChanged(_ version: ConfigVersion, at now: MonotonicInstant) {
        run(.configLoaded(version), at: now)
    }

    /// An event another executor reports (config replication's fetch and write, a failed reload).
    public func handle(_ event: NodeEvent, at now: MonotonicInstant) { run(event, at: now) }

    /// Carries out config replication's effects (fetch, write, reload, status); set once the
    /// replication service exists (it is created after the driver). Nil: they are dropped.
    public var replication: (any ConfigReplicating)? {
        get { executor.replication }
        set { executor.replication = newValue }
    }

    /// Keeps the drain list in the state directory and gives it to the IPVS table; set before
    /// the heartbeat thread starts. Nil: drains change only the state (tests).
    public var drainKeeper: (any DrainKeeping)? {
        get { executor.drainKeeper }
        set { executor.drainKeeper = newValue }
    }

    // MARK: - Effects

    /// Carries out `NodeEffect`s on the live kernel, announcer, heartbeat sockets and IPVS worker.
    struct Executor: NodeExecutor {
        var config: Config
        let addressTable: any AddressTable
        let announcer: any Announcer
        let sender: any HeartbeatSending
        let worker: KernelWorker
        let logger: Logger
        let heartbeatAddresses: [IPAddress]
        var routeMonitor: (any RouteMonitor)?
        var replication: (any ConfigReplicating)?
        var drainKeeper: (any DrainKeeping)?
        var events: EventHub?
        var onRoleChange: (@Sendable (_ to: Role, _ reason: String) -> Void)?
        var history: [RoleHistoryEntry] = []
        var roleReason = "starting up"
        var roleChangedAt: UInt64
        let clock: any TandemClock
        private var replies: [(NodeRequestID, NodeReply)] = []
        private var peerAnswers: [(NodeRequestID, PeerResponse)] = []

        init(config: Config, addressTable: any AddressTable, announcer: any Announcer, sender: any HeartbeatSending,
             worker: KernelWorker, logger: Logger, heartbeatAddresses: [IPAddress], clock: any TandemClock) {
            self.clock = clock
            roleChangedAt = clock.wallNanoseconds()
            self.config = config
            self.addressTable = addressTable
            self.announcer = announcer
            self.sender = sender
            self.worker = worker
            self.logger = logger
            self.heartbeatAddresses = heartbeatAddresses
        }

        mutating func takeReplies() -> ([(NodeRequestID, NodeReply)], [(NodeRequestID, PeerResponse)]) {
            defer {
                replies = []
                peerAnswers = []
            }
            return (replies, peerAnswers)
        }

        mutating func execute(_ effect: NodeEffect, at now: MonotonicInstant) -> NodeAnswer? {
            switch effect {
            case .judgeHealth(let query):
                do {
                    return .judged(try addressTable.assessHealth(heartbeatAddresses: heartbeatAddresses,
                                                                 sendFailures: query.sendFailures, vips: query.vips,
                                                                 trackedInterfaces: query.trackedInterfaces))
                } catch {
                    return .judgementFailed("\(error)")
                }
            case .claim(let vips):
                return .claimed(claim(vips))
            case .release(let vips):
                return .released(release(vips))
            case .send(let outgoing):
                return .sent(sender.send(outgoing))
            case .track(let vips, let present):
                for vip in vips { routeMonitor?.track(vip, present: present) }
            case .untrack(let vips):
                for vip in vips { routeMonitor?.untrack(vip) }
            case .announce(let vips):
                do {
                    try announcer.begin(vips, settings: config.announce)
                    logger.info("announcing \(ElectionDriver.announcement(vips, config.announce))")
                } catch { logger.error("announce: \(error)") }
            case .endAnnouncements(let vips):
                if !vips.isEmpty { announcer.end(vips) }
            case .reconcileIPVS(let inputs, let reason):
                worker.reconcile(inputs, reason: reason)
            case .notify(let role, let reason):
                worker.roleSettled(role, reason: reason)
            case .roleChanged(let from, let to, let reason):
                onRoleChange?(to, reason)
                roleReason = reason
                roleChangedAt = clock.wallNanoseconds()
                history.append(RoleHistoryEntry(at: roleChangedAt, from: from, to: to, reason: reason))
                if history.count > ElectionDriver.historyLimit { history.removeFirst(history.count - ElectionDriver.historyLimit) }
            case .log(let level, let text):
                switch level {
                case .info: logger.info("\(text)")
                case .notice: logger.notice("\(text)")
                case .warning: logger.warning("\(text)")
                case .error: logger.error("\(text)")
                }
            case .publish(let kind, let text):
                events?.publish(kind, text)
            case .reply(let id, let reply):
                replies.append((id, reply))
            case .fetchPeerConfig(let version):
                replication?.fetch(version)
            case .writeConfig(let version):
                replication?.write(version)
            case .reloadConfig:
                replication?.reload()
            case .restoreConfigFile(let version):
                replication?.restore(version)
            case .replicationResult(let serial, let result, let succeeded):
                replication?.record(serial: serial, result: result, succeeded: succeeded)
            case .configConflict(let local, let peer):
                replication?.conflict(local: local, peer: peer)
            case .drainsChanged(let book):
                drainKeeper?.changed(book)
            case .offerDrains(let list, let request):
                replication?.offerDrains(list, request: request)
            case .answerPeer(let id, let response):
                peerAnswers.append((id, response))
            case .scheduleTimer, .finished:
                break
            }
            return nil
        }

        /// Claims `vips` one by one, telling the route monitor first so that the notification of
        /// our own change is not taken for someone else's. Each claim resolves the interface by
        /// name at that moment, so a re-created interface (new ifindex) is found. A VIP that was
        /// already there is reported with its flags (tentative, failed DAD), read once.
        private func claim(_ vips: [VirtualIP]) -> [VirtualIP: VIPClaimOutcome] {
            var results: [VirtualIP: VIPClaimOutcome] = [:]
            var present: [InterfaceAddress]?
            var readAddresses = false
            for vip in vips {
                routeMonitor?.expect(vip, present: true)
                do {
                    let result = try addressTable.claim(vip)
                    if result != .added { routeMonitor?.cancelExpectation(vip) }
                    routeMonitor?.track(vip, present: true)
                    if result == .added {
                        results[vip] = .added
                    } else {
                        if !readAddresses {
                            readAddresses = true
                            present = try? addressTable.addresses()
                        }
                        results[vip] = .alreadyPresent(flags: present.map { list in list.first { $0.matches(vip) }?.flags ?? 0 })
                    }
                } catch {
                    routeMonitor?.cancelExpectation(vip)
                    results[vip] = .failed("\(error)")
                }
            }
            return results
        }

        private func release(_ vips: [VirtualIP]) -> [VirtualIP: VIPReleaseOutcome] {
            var results: [VirtualIP: VIPReleaseOutcome] = [:]
            for vip in vips {
                // Only the config's VIPs are watched: a copy of one (another prefix or interface)
                // or a VIP a reload removed is released without becoming a tracked VIP.
                let watched = config.virtualIPs.contains(vip)
                if watched { routeMonitor?.expect(vip, present: false) }
                do {
                    let result = try addressTable.release(vip)
                    if watched {
                        if result != .removed { routeMonitor?.cancelExpectation(vip) }
                        routeMonitor?.track(vip, present: false)
                    }
                    results[vip] = result == .removed ? .removed : .alreadyAbsent
                } catch {
                    if watched { routeMonitor?.cancelExpectation(vip) }
                    results[vip] = .failed("\(error)")
                }
            }
            return results
        }
    }
}

