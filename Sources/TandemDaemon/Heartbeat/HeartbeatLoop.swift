import CEpoll
import Glibc
import Logging
import Synchronization
import TandemCore
import TandemKernel

/// Something another thread asks of the heartbeat thread.
public enum HeartbeatLoopEvent: Sendable {
    /// From the route monitor: a link or a VIP changed.
    case route(RouteWatchEvent)
    /// Graceful stop (SIGTERM): hand over if active, then finish.
    case stop
    /// Second SIGTERM or stop timeout: release now and finish.
    case forceStop(String)
    /// A reload brought a valid new config.
    case reload(Config, Election.Settings)
    /// Log one status line (SIGUSR1).
    case logStatus
    /// `tandemctl failover` or `maintenance`: `reply` is called exactly once (`NodeState`'s
    /// answer: at once for a refusal, when the roles settle, or when the daemon stops).
    case request(NodeCommand, reply: @Sendable (NodeReply) -> Void)
    /// The config in force changed: heartbeats carry its serial and digest from now on (the
    /// peer fetches by them). Computed by the poster, not on the heartbeat thread.
    case configVersion(ConfigVersion)
    /// A reload brought other heartbeat keys (nil: `auth: none`): sign and verify with them from now on.
    case keys(HeartbeatKeySet?)
    /// What another executor found or saw, handed to `NodeState` as it is: config replication's
    /// fetch and write, a reload that refused the file, the real servers' health.
    case node(NodeEvent)
    /// The peer offered its drain list over the peer channel: `reply` is called exactly once.
    case peerDrains(DrainList, reply: @Sendable (PeerResponse) -> Void)
}

extension HeartbeatLoopEvent {
    var isRequest: Bool {
        switch self {
        case .request, .peerDrains: return true
        default: return false
        }
    }
}

/// What the heartbeat thread last knew, for status readers on other threads.
public struct HeartbeatStatus: Sendable {
    public var role: Role = .starting
    public var peer: Election.PeerStatus?
    public var counters = HeartbeatVerifier.Counters()
    public var paths: [HeartbeatVerifier.PathStatistics] = []
    public var now: MonotonicInstant = .zero
    public var effectivePriority: UInt8 = 0
    public var maintenance = false
    /// `Election.preemptSuspended`: this node does not preempt the peer it handed over to.
    public var preemptSuspended = false
    public var roleReason = ""
    /// Wall-clock nanoseconds of the last role change.
    public var roleChangedAt: UInt64 = 0
    public var history: [RoleHistoryEntry] = []
    /// Operator commands refused by the election: how many, and the newest.
    public var rejections: (count: UInt64, command: String, reason: String) = (0, "", "")
    /// Whether the peer was alive at `now`.
    public var peerAlive = false
    /// Which key the peer signs with, and the epoch challenge's state.
    public var authentication = HeartbeatVerifier.AuthenticationStatus()
    /// Fingerprints of this node's keys (current, next), nil with `auth: none`.
    public var keyFingerprints: (current: String, next: String?)?
    /// This node's own faults (`LocalHealth`), most basic first; empty when healthy.
    public var localFaults: [String] = []
    /// The state of each heartbeat path's local end, in path order (`LocalHealth`).
    public var localPaths: [LocalHealth.PathState] = []
    /// The operator's drained real servers (`NodeState.drains`).
    public var drained: Set<RealServerID> = []
    /// Packets dropped on each path's socket, by reason class (`DropReason.category`), in path order.
    public var pathDrops: [[String: UInt64]] = []
    /// How long the peer has stayed active although this node wins, once past the handover
    /// timeout (`Election.lastingDualActiveMilliseconds`); nil when not.
    public var dualActiveMs: UInt64?
}

/// The heartbeat/election loop on its own thread: poll on the path sockets and a wake-up
/// pipe, then, every time round, in this order:
/// 1. every datagram already queued on every path, each verified and (if accepted) given to
///    the election — so a stall never makes queued heartbeats look like silence;
/// 2. the events other threads posted (route changes, stop, reload);
/// 3. the election's one timer, when due.
/// A settled active's timer-only wake-ups skip all three: while `NodeState.steadyHeartbeats`
/// says nothing but its periodic heartbeat is due, the loop sends that round itself at each tick
/// with nothing to read, and hands `NodeState` what it sent (`ElectionDriver.steadyHeartbeatsSent`)
/// before anything else: a packet or an event to read, a send that fails, the plan's end, or
/// the status publication's turn (`steadyPublishPeriod`).
/// A settled standby's wake-ups on its active's routine heartbeats skip 2 and 3 likewise: while
/// `NodeState.steadyFollowing` says nothing else is due, each such packet is verified and kept
/// (the newest) without the node; the node hears the newest kept one, at the instant it
/// arrived, before anything else: another packet, an event, the active's dead time or this
/// standby's own heartbeat coming due, or the publication's turn.
/// Nothing else runs on this thread; health probes, IPVS work and notify commands are
/// elsewhere, so none of them can delay a heartbeat. The thread runs SCHED_FIFO at
/// `realtime_priority` (50 unless the config says otherwise or `off`).
public final class HeartbeatLoop: @unchecked Sendable {
    // Thread-confined to the heartbeat thread once started:
    private let driver: ElectionDriver
    private let transport: UDPHeartbeatTransport
    private var verifier: HeartbeatVerifier
    private let clock: any TandemClock
    private var logLimiter = LogRateLimiter()
    private var keyFingerprints: (current: String, next: String?)?
    /// systemd's watchdog, fed from this loop so that a wedged loop gets tandemd restarted. Set
    /// before `start()`.
    var watchdog: WatchdogPinger?
    /// The SCHED_FIFO priority this thread runs with now; nil for the default scheduler.
    private var runningPriority: Int?
    /// Whether the scheduler was chosen (and logged) once, at start.
    private var schedulerChosen = false
    /// Packets dropped on each path's socket, by reason class (`DropReason.category`).
    private var pathDrops: [[String: UInt64]]
    /// How long the status may go unpublished while the loop sends steady heartbeats on its own.
    static let steadyPublishPeriodMilliseconds: UInt64 = 100
    /// The packets accepted in one wake-up, in the order read (kept to reuse its storage).
    private var accepted: [(message: HeartbeatMessage, waited: UInt64?, at: MonotonicInstant)] = []

    // Shared:
    /// Events for the thread; `closed` once the loop has finished (a request posted then is refused at once).
    private let inbox = Mutex<(events: [HeartbeatLoopEvent], closed: Bool)>(([], false))
    private let wake: WakeUpEvent
    /// The path sockets (indices 0..<n) and the wake-up pipe (index n), waited on together.
    private let waitSet: HeartbeatWaitSet
    private let logger: Logger
    /// `realtime_priority` as the config at start wrote it (`HeartbeatSettings.realtimePriority`).
    private let realtimeSetting: Int?
    private let snapshot = Mutex(HeartbeatStatus())
    private let completion = Mutex<(done: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    init(driver: ElectionDriver, transport: UDPHeartbeatTransport, verifier: HeartbeatVerifier, logger: Logger,
         realtimeSetting: Int?, keys: HeartbeatKeySet?, clock: any TandemClock = MonotonicClock()) throws(PosixError) {
        self.clock = clock
        keyFingerprints = keys.map { ($0.current.fingerprint, $0.next?.fingerprint) }
        self.driver = driver
        self.transport = transport
        self.verifier = verifier
        self.logger = logger
        self.realtimeSetting = realtimeSetting
        pathDrops = Array(repeating: [:], count: transport.sockets.count)
        wake = try WakeUpEvent()
        waitSet = try HeartbeatWaitSet(descriptors: transport.sockets.map(\.descriptor) + [wake.descriptor])
    }

    /// Posts an event to the heartbeat thread (any thread).
    public func post(_ event: HeartbeatLoopEvent) {
        let posted = inbox.withLock { inbox -> Bool in
            guard !inbox.closed else { return false }
            inbox.events.append(event)
            return true
        }
        if posted { wake.signal() } else { Self.refuseAfterStop(event) }
    }

    /// Answers a request that can no longer reach the stopped loop.
    private static func refuseAfterStop(_ event: HeartbeatLoopEvent) {
        if case .request(let command, let reply) = event {
            reply(.refused("tandemd has stopped: \(command.name) not carried out"))
        }
        if case .peerDrains(_, let reply) = event { reply(.failure("tandemd has stopped")) }
    }

    /// The latest status (any thread).
    public var status: HeartbeatStatus { snapshot.withLock { $0 } }

    /// Waits until the loop has finished (the election stopped, or a forced stop).
    public func waitUntilFinished() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = completion.withLock { state -> Bool in
                if state.done { return true }
                state.waiters.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    /// Logs that a stop signal came during start-up, so the election never started.
    func logStartupStop() {
        logger.notice("stop signal received during start-up: exiting before taking any role")
    }

    /// Starts the dedicated thread.
    func start() throws(PosixError) {
        let context = Unmanaged.passRetained(self).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { arg in
            let loop = Unmanaged<HeartbeatLoop>.fromOpaque(arg!).takeRetainedValue()
            loop.run()
            return nil
        }, context)
        if rc != 0 {
            Unmanaged<HeartbeatLoop>.fromOpaque(context).release()
            throw PosixError(operation: "start", object: "heartbeat thread", errno: rc)
        }
        pthread_detach(thread)
    }

    private func run() {
        // `top -H`, `ps -L` and /proc/PID/task/TID/comm show it by name (15 characters at most).
        _ = tandem_set_thread_name("heartbeat")
        applyRealtimePriority(realtimeSetting)
        transport.onSendError = { [logger] path, code in
            logger.warning("heartbeat send on \(path) failed: \(String(cString: strerror(code))) (errno \(code))")
        }
        var buffer = [UInt8](repeating: 0, count: 2048)
        driver.start(at: clock.now())
        // The steady heartbeats in course, the send time of the last one sent on them, the paths
        // its send found failing, and when the status was last published.
        var steady: Election.SteadyHeartbeats?
        var steadyLast: MonotonicInstant?
        var steadyFailing: [Int: String] = [:]
        var publishedAt = MonotonicInstant.zero
        // A settled standby's routine heartbeats from its active, read here and kept (the
        // newest) until anything else happens, and the newest kept one.
        var following: Election.SteadyFollowing?
        var kept: (message: HeartbeatMessage, waited: UInt64?, at: MonotonicInstant)?
        while !driver.isFinished {
            // 0. A settled active's periodic heartbeat, sent here while nothing else happens.
            if var plan = steady {
                let wake = plan.wakeUp
                waitUntil(wake)
                let woke = clock.now()
                let quiet = !waitSet.ready.contains(true)
                if quiet, woke < wake { continue }  // woken for the watchdog's ping
                if quiet, plan.isDue(at: woke), woke < publishedAt.adding(milliseconds: Self.steadyPublishPeriodMilliseconds) {
                    let failing = transport.send(plan.outgoing)
                    plan.sent(at: woke)
                    steadyLast = woke
                    steady = plan
                    if failing.isEmpty { continue }
                    steadyFailing = failing
                }
                // Something to read, a failing path, the plan's end or the publication's turn:
                // the node first hears what was sent, then the usual round below.
                if let last = steadyLast { driver.steadyHeartbeatsSent(lastAt: last, next: plan.next, failing: steadyFailing, at: woke) }
                steady = nil
                steadyLast = nil
                steadyFailing = [:]
                if driver.isFinished { break }
            }
            var now = clock.now()
            let publishBy = publishedAt.adding(milliseconds: Self.steadyPublishPeriodMilliseconds)
            // Keeping routine heartbeats, the publication's turn waits for the next packet (one
            // interval at most) rather than a wake-up of its own.
            let deadline = waitUntil(following?.wakeUp ?? driver.timerDeadline ?? now.adding(milliseconds: 1000))
            // Woken later than the deadline: this thread was starved or stopped, and what its
            // sockets hold may have waited there that long (not held back in the network).
            let woke = clock.now()
            let readLate = woke > deadline ? woke.nanoseconds(since: deadline) : 0
            // 1. Every packet already received, before any timer: from each socket the wait found
            // ready, and from every socket when the peer is not (or no longer) heard, so a
            // silence is never judged on a stale look (after a stall, say).
            // Read and verified first, then given to the election together, so that a request
            // the peer withdrew later in the same queue is not acted on
            // (`HeartbeatMessage.withdrawnRequests`): a node that was paused reads it all at once.
            // Keeping routine heartbeats, the node's view of the peer is older than the plan's.
            let judgedAt = clock.now()
            let judging = !(following?.peerIsAlive(at: judgedAt) ?? driver.peerIsAlive(at: judgedAt))
            accepted.removeAll(keepingCapacity: true)
            for (index, socket) in transport.sockets.enumerated() where judging || waitSet.ready[index] {
                var budget = 256
                while budget > 0, let (count, source) = socket.receive(into: &buffer) {
                    budget -= 1
                    now = clock.now()
                    let bytes = Array(buffer[0..<count])
                    let verdict = verifier.verify(bytes, at: now, localSequence: transport.builder.sequence, readLateNanoseconds: readLate)
                    transport.sendsTime = verifier.peerTakesSendTime
                    switch verdict {
                    case .accepted(let message, let waited):
                        // Routine while nothing else was read: kept, the node not told yet.
                        if accepted.isEmpty, following?.keeps(message, at: now) == true {
                            kept = (message, waited, now)
                        } else {
                            following = nil
                            accepted.append((message, waited, now))
                        }
                    case .dropped(let reason):
                        pathDrops[index][reason.category, default: 0] += 1
                        logDrop(reason, from: Posix.ipAddress(of: source), local: socket.local, at: now)
                    case .authentication(let event):
                        logAuthentication(event, at: now)
                    }
                    for reply in verifier.takeOutbox() { transport.send(reply.bytes, onPath: reply.pathIndex) }
                }
            }
            // Nothing but routine heartbeats and before the plan's wake-up or the publication's
            // turn: wait again. Otherwise the node hears the newest kept one first, at the
            // instant it arrived, then the usual round.
            if let plan = following, accepted.isEmpty, !waitSet.ready[transport.sockets.count],
               woke < plan.wakeUp, woke < publishBy { continue }
            following = nil
            if let last = kept {
                accepted.insert(last, at: 0)
                kept = nil
            }
            deliver(accepted)
            // 2. Events from other threads.
            if waitSet.ready[transport.sockets.count] { wake.drain() }
            var events = inbox.withLock { inbox -> [HeartbeatLoopEvent] in defer { inbox.events = [] }; return inbox.events }
            // Every route event makes the driver re-read links and addresses once: a burst of
            // `hostChanged` needs one reading, so keep only the last of them.
            if let last = events.lastIndex(where: { if case .route(.hostChanged) = $0 { return true } else { return false } }) {
                events = events.enumerated().filter { index, event in
                    if case .route(.hostChanged) = event { return index == last }
                    return true
                }.map(\.element)
            }
            for event in events {
                now = clock.now()
                // Once finished, only requests still need an answer (`NodeState` refuses them).
                if driver.isFinished, !event.isRequest { continue }
                handle(event, at: now)
            }
            if !driver.isFinished { driver.judgeHealthIfStale(at: clock.now()) }
            // 3. The timer.
            now = clock.now()
            if !driver.isFinished, let due = driver.timerDeadline, now >= due {
                driver.timerFired(at: now)
            }
            publish(at: now)
            publishedAt = now
            steady = driver.isFinished ? nil : driver.steadyHeartbeats(at: now)
            following = driver.isFinished || steady != nil ? nil : driver.steadyFollowing(at: now)
        }
        publish(at: clock.now())
        // Requests posted after the last look are refused here; later ones by `post`.
        let left = inbox.withLock { inbox -> [HeartbeatLoopEvent] in
            inbox.closed = true
            defer { inbox.events = [] }
            return inbox.events
        }
        for event in left { Self.refuseAfterStop(event) }
        let waiters = completion.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.done = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Feeds systemd's watchdog, then waits on the sockets and the wake-up pipe until `deadline`
    /// or the watchdog's next ping, whichever comes first. Returns the instant waited for.
    @discardableResult
    private func waitUntil(_ deadline: MonotonicInstant) -> MonotonicInstant {
        let now = clock.now()
        var until = deadline
        if watchdog != nil {
            watchdog!.tick(now: now.nanoseconds)
            let ping = MonotonicInstant(nanoseconds: now.nanoseconds + watchdog!.nanosecondsUntilNext(now: now.nanoseconds))
            if ping < until { until = ping }
        }
        waitSet.wait(timeoutNanoseconds: until > now ? until.nanoseconds(since: now) : 0)
        return until
    }

    /// Gives the packets read in one wake-up to the election in the order read, each request
    /// the same read shows withdrawn marked so (the election decides what that changes).
    private func deliver(_ batch: [(message: HeartbeatMessage, waited: UInt64?, at: MonotonicInstant)]) {
        let withdrawn = batch.count > 1 ? HeartbeatMessage.withdrawnRequests(batch.map(\.message)) : []
        for (index, item) in batch.enumerated() {
            if driver.isFinished { break }
            driver.heartbeatReceived(item.message, waitedNanoseconds: item.waited, withdrawn: !withdrawn.isEmpty && withdrawn[index], at: item.at)
        }
    }

    private func handle(_ event: HeartbeatLoopEvent, at now: MonotonicInstant) {
        switch event {
        case .route(let routeEvent):
            logger.debug("link and address monitor: \(routeEvent)")
            driver.routeEvent(routeEvent, at: now, judgeNow: false)
        case .stop:
            driver.stopRequested(at: now)
        case .forceStop(let reason):
            driver.forceStop(reason: reason, at: now)
        case .reload(let config, let settings):
            transport.builder.identity.intervalMilliseconds = UInt32(clamping: config.heartbeat.interval.milliseconds)
            verifier.staleAfterMilliseconds = HeartbeatVerifier.staleAfterMilliseconds(deadTime: config.heartbeat.deadTime)
            applyRealtimePriority(config.heartbeat.realtimePriority)
            driver.configChanged(config, settings: settings, at: now)
        case .keys(let keys):
            let authenticators = keys?.authenticators
            verifier.replaceKeys(current: authenticators?.current, next: authenticators?.next)
            transport.builder.authenticator = authenticators?.current
            keyFingerprints = keys.map { ($0.current.fingerprint, $0.next?.fingerprint) }
            let text = keys.map { "signing with \($0.current.fingerprint)" + ($0.next.map { ", also accepting \($0.fingerprint)" } ?? "") }
            logger.notice("heartbeat keys replaced: \(text ?? "unauthenticated (auth: none)")")
        case .configVersion(let version):
            transport.builder.identity.configSerial = version.serial
            transport.builder.identity.configDigest = version.digest
            driver.configVersionChanged(version, at: now)
        case .node(let event):
            driver.handle(event, at: now)
        case .peerDrains(let list, let reply):
            driver.peerDrains(list, at: now, reply: reply)
        case .logStatus:
            logger.notice("status: \(statusLine(at: now))")
        case .request(let command, let reply):
            driver.request(command, at: now, reply: reply)
        }
    }

    /// Heartbeat thread only: switches this thread to SCHED_FIFO at the priority `setting` asks
    /// for (`HeartbeatSettings.effectiveRealtimePriority`: 50 when absent), or back to the default
    /// scheduler (`off`); at start and at each reload. A refusal is logged with its fix and the
    /// thread keeps the scheduler it has; the next reload tries again.
    private func applyRealtimePriority(_ setting: Int?) {
        let wanted = HeartbeatSettings.effectiveRealtimePriority(setting)
        let described = HeartbeatSettings.realtimeDescription(setting)
        guard !schedulerChosen || wanted != runningPriority else { return }
        schedulerChosen = true
        if let wanted {
            if let code = makeCurrentThreadRealtime(priority: wanted) {
                let fix = code == EPERM
                    ? "give tandemd CAP_SYS_NICE and an RLIMIT_RTPRIO of at least \(wanted) (systemd: LimitRTPRIO=\(wanted); the packaged unit has both), or write heartbeat: realtime_priority: off to run with the default scheduler on purpose"
                    : "write heartbeat: realtime_priority: off to run with the default scheduler on purpose"
                logger.warning("heartbeat thread: cannot switch to \(described): \(String(cString: strerror(code))) (errno \(code)); running with \(runningPriority.map { "SCHED_FIFO priority \($0)" } ?? "the default scheduler"), so a busy CPU can delay heartbeats into a false takeover: \(fix)")
                return
            }
            logger.info("heartbeat thread runs \(described)")
        } else {
            var parameters = sched_param()
            parameters.sched_priority = 0
            let code = pthread_setschedparam(pthread_self(), SCHED_OTHER, &parameters)
            if code != 0 {
                logger.warning("heartbeat thread: cannot return to the default scheduler: \(String(cString: strerror(code))) (errno \(code))")
                return
            }
            logger.info("heartbeat thread runs with the default scheduler (realtime_priority: off)")
        }
        runningPriority = wanted
    }

    private func statusLine(at now: MonotonicInstant) -> String {
        let election = driver.election
        let c = verifier.counters
        var parts = ["role \(election.role)", "priority \(election.effectivePriority)"]
        if let peer = election.peer {
            parts.append("peer \(election.settings.peerName) \(peer.role) priority \(peer.priority) heard \(now.milliseconds(since: peer.lastHeard))ms ago")
        } else {
            parts.append("peer \(election.settings.peerName) never heard")
        }
        for (index, path) in verifier.paths.enumerated() {
            let age = path.lastHeard.map { "\(now.milliseconds(since: $0))ms ago" } ?? "never"
            parts.append("path \(index) received \(path.received) lost \(path.lost) last heard \(age)")
        }
        parts.append("accepted \(c.accepted) " + dropCounters(c))
        let auth = verifier.authenticationStatus(at: now)
        if let key = auth.peerKey { parts.append("peer signs with the \(key) key") }
        parts.append("epoch challenges sent \(c.challengesSent) answers accepted \(c.answersAccepted) answered \(c.challengesAnswered)")
        if let pending = auth.reauthenticating {
            parts.append("re-authenticating the peer: epoch \(pending.questionedEpoch) is older than \(pending.currentEpoch)")
        }
        return parts.joined(separator: "; ")
    }

    private func dropCounters(_ c: HeartbeatVerifier.Counters) -> String {
        "dropped malformed \(c.malformed) unauthenticated \(c.unauthenticated) replayed \(c.replayed) unexpected-sender \(c.unexpectedSender) unknown-path \(c.unknownPath) rate-limited \(c.rateLimited) stale \(c.stale)"
    }

    /// One line per dropped packet: the first 5 of a reason, then one a minute with the count
    /// left out (`LogRateLimiter`), so a peer dropped forever does not flood the log.
    private func logDrop(_ reason: HeartbeatVerifier.DropReason, from source: IPAddress?, local: IPAddress,
                         at now: MonotonicInstant) {
        guard case .write(let suppressed) = logLimiter.admit(reason.category, at: now) else { return }
        let more = suppressed == 0 ? "" : "; \(suppressed) more like it not logged"
        logger.warning("heartbeat dropped from \(source?.description ?? "?") to \(local): \(reason) (\(dropCounters(verifier.counters))\(more))")
    }

    private func logAuthentication(_ event: HeartbeatVerifier.AuthenticationEvent, at now: MonotonicInstant) {
        switch event {
        case .challengeAnswered:
            guard case .write(let suppressed) = logLimiter.admit("answered", at: now) else { return }
            logger.info("\(event)\(suppressed == 0 ? "" : "; \(suppressed) more not logged")")
        case .peerVerified:
            logger.notice("\(event)")
        case .replayRefuted:
            guard case .write(let suppressed) = logLimiter.admit("refuted", at: now) else { return }
            logger.warning("\(event)\(suppressed == 0 ? "" : "; \(suppressed) more not logged")")
        }
    }

    /// Every wake-up: the node's fields are read inside TandemCore (`statusFields(at:)`), since
    /// reading `election` or `health` from this module copies the whole value each time.
    private func publish(at now: MonotonicInstant) {
        let node = driver.statusFields(at: now)
        let status = HeartbeatStatus(role: node.role, peer: node.peer, counters: verifier.counters,
                                     paths: verifier.paths, now: now, effectivePriority: node.effectivePriority,
                                     maintenance: node.maintenance, preemptSuspended: node.preemptSuspended,
                                     roleReason: driver.roleReason, roleChangedAt: driver.roleChangedAt,
                                     history: driver.history, rejections: driver.rejections,
                                     peerAlive: node.peerAlive,
                                     authentication: verifier.authenticationStatus(at: now), keyFingerprints: keyFingerprints,
                                     localFaults: node.localFaults, localPaths: node.localPaths,
                                     drained: node.drained, pathDrops: pathDrops,
                                     dualActiveMs: node.dualActiveMs)
        snapshot.withLock { $0 = status }
    }
}
