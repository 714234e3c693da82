import Dispatch
import Glibc
import Logging
import ServiceLifecycle
import Synchronization
import TandemCore
import TandemKernel
import UnixSignals

/// What `tandemctl status` shows of a director, copied out after every event.
public struct ClusterDirectorSnapshot: Sendable {
    public var phase: ClusterDirectorState.Phase = .idle
    public var maintenance = false
    public var ipvsProblem: String?
    public var decisions: [RouteAnnouncement.Decision] = []
    public var routeProblems: [String] = []
}

/// Runs this director's `ClusterDirectorState` on one serial queue and carries out its effects:
/// the thin executor around the pure decisions (cluster mode's counterpart of `ElectionDriver` and
/// `HeartbeatLoop`; there are no peer heartbeats and no election).
///
/// Effects go to: the address table (claim and release on `vip_interface`, read the addresses;
/// rtnetlink, sub-millisecond, done on the queue), the `KernelWorker` (IPVS reconciles, reported
/// back through `onTableState`, and the sync daemons in both roles), the route table
/// (`AnnouncedRoutes.reconcile`, done on the queue: a route dump and a few writes), the logger
/// and the event hub. The one timer is a `DispatchQueue.asyncAfter` on the same queue at the state's
/// deadline (`dispatchTime`: the live clock's CLOCK_MONOTONIC).
///
/// Thread-safety: `state`, `replies` and `timerGeneration` are touched only on `queue`.
public final class ClusterDirector: @unchecked Sendable {
    private let queue = DispatchQueue(label: "tandem.cluster-director")
    private var state: ClusterDirectorState
    private let addressTable: any AddressTable
    private let routes: any AnnouncedRoutes
    private let worker: KernelWorker
    private let logger: Logger
    private let events: EventHub?
    private let clock: any TandemClock
    private var replies: [NodeRequestID: @Sendable (NodeReply) -> Void] = [:]
    private var nextRequest: NodeRequestID = 1
    private var timerGeneration: UInt64 = 0
    /// systemd's watchdog, pinged from the director's queue (a stuck queue stops the pings).
    private var watchdog: WatchdogPinger?
    private let uncheckedServers: @Sendable () -> Set<RealServerID>
    private let keepDrains: @Sendable (Set<RealServerID>) -> Void
    /// `watchFirstVerdicts` is scheduled (on `queue`).
    private var watchingVerdicts = false
    private let snapshotBox = Mutex(ClusterDirectorSnapshot())
    private let finished = Mutex<(done: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    /// - Parameters:
    ///   - settings: the config (a cluster) and the director's timings.
    ///   - maintenance: the operator's flag kept in the state directory (`tandemctl maintenance on`
    ///     survives a restart).
    ///   - addressTable: claims and reads the VIPs on `vip_interface`.
    ///   - routes: the cluster's route table (`LiveAnnouncedRoutes` on `cluster.route_table`).
    ///   - watchdog: systemd's watchdog (nil when off), pinged every 500 ms from the queue.
    ///   - unchecked: the checked real servers without a first verdict now (`DaemonHealth`);
    ///     read at start and every 100 ms until it is empty, each change posted as `.unchecked`.
    ///   - drained, keepDrains: the drain list from the state directory, and where a changed one
    ///     is kept (called on the director's queue).
    public init(settings: ClusterDirectorState.Settings, maintenance: Bool, addressTable: any AddressTable,
                routes: any AnnouncedRoutes, worker: KernelWorker, logger: Logger, events: EventHub?, clock: any TandemClock,
                watchdog: WatchdogPinger? = nil, unchecked: @escaping @Sendable () -> Set<RealServerID> = { [] },
                drained: Set<RealServerID> = [], keepDrains: @escaping @Sendable (Set<RealServerID>) -> Void = { _ in }) {
        self.watchdog = watchdog
        self.keepDrains = keepDrains
        self.uncheckedServers = unchecked
        state = ClusterDirectorState(settings: settings, maintenance: maintenance, unchecked: unchecked(), drained: drained)
        self.addressTable = addressTable
        self.routes = routes
        self.worker = worker
        self.logger = logger
        self.events = events
        self.clock = clock
    }

    /// The state as of the last event handled.
    public var snapshot: ClusterDirectorSnapshot { snapshotBox.withLock { $0 } }

    /// Handles `event` on the director's queue.
    public func post(_ event: ClusterDirectorState.Event) {
        queue.async { self.run(event) }
    }

    /// Starts the director (`.start`) and the watchdog pings.
    public func start() {
        queue.async {
            self.pingWatchdog()
            self.run(.start)
            self.watchFirstVerdicts()
        }
    }

    /// A reload put `config` in force (validated; its cluster section the one the director
    /// started with, since table, protocol and interface need a restart). The IPVS worker gets it
    /// first; the health checks must already run `config`'s targets (`DaemonHealth.apply`), so
    /// new real servers count as unchecked until their first verdict.
    public func reload(_ config: Config) {
        queue.async {
            self.worker.configChanged(config)
            self.run(.reload(config))
            self.run(.unchecked(self.uncheckedServers()))
            self.watchFirstVerdicts()
        }
    }

    /// Reads the servers without a first verdict until there are none (a first verdict comes
    /// within one check interval and timeout, so this ends soon after start or a reload).
    private func watchFirstVerdicts() {
        guard !state.unchecked.isEmpty, !state.isFinished, !watchingVerdicts else { return }
        watchingVerdicts = true
        queue.asyncAfter(deadline: Self.dispatchTime(clock.now().adding(milliseconds: 100))) {
            self.watchingVerdicts = false
            let now = self.uncheckedServers()
            if now != self.state.unchecked { self.run(.unchecked(now)) }
            self.watchFirstVerdicts()
        }
    }

    private func pingWatchdog() {
        guard watchdog != nil, !state.isFinished else { return }
        watchdog?.tick(now: clock.now().nanoseconds)
        queue.asyncAfter(deadline: Self.dispatchTime(clock.now().adding(milliseconds: 500))) { self.pingWatchdog() }
    }

    /// `tandemctl maintenance on|off`; `reply` is called exactly once.
    public func maintenance(_ on: Bool, reply: @escaping @Sendable (NodeReply) -> Void) {
        queue.async {
            let id = self.nextRequest
            self.nextRequest += 1
            self.replies[id] = reply
            self.run(.maintenance(on: on, request: id))
        }
    }

    /// `tandemctl drain`/`undrain`; `reply` is called exactly once.
    public func drain(_ servers: Set<RealServerID>, on: Bool, reply: @escaping @Sendable (NodeReply) -> Void) {
        queue.async {
            let id = self.nextRequest
            self.nextRequest += 1
            self.replies[id] = reply
            self.run(.drain(servers, on: on, request: id))
        }
    }

    /// The addresses on `vip_interface` changed (the route monitor saw a VIP come or go): read
    /// them now, so a VIP removed behind Tandem's back is withdrawn at once, not at the next repair.
    public func addressesChanged() {
        queue.async { self.run(self.observeAddresses()) }
    }

    /// The addresses on `vip_interface` as `.addressesObserved` (nil: unreadable).
    private func observeAddresses() -> ClusterDirectorState.Event {
        let interface = state.settings.vipInterface
        guard let list = try? addressTable.addresses() else { return .addressesObserved(nil) }
        return .addressesObserved(Set(list.filter { $0.interface == interface }.map(\.prefix.address)))
    }

    /// Returns once the state has finished (after a stop).
    public func waitUntilFinished() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = finished.withLock { f -> Bool in
                if f.done { return true }
                f.waiters.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    /// Waits until every event posted so far was handled (tests, shutdown).
    public func drain() { queue.sync {} }

    // MARK: - On `queue`

    private func run(_ first: ClusterDirectorState.Event) {
        var pending = [first]
        while !pending.isEmpty {
            let event = pending.removeFirst()
            let effects = state.handle(event, at: clock.now())
            for effect in effects {
                if let answer = execute(effect) { pending.append(answer) }
            }
        }
        let s = state
        snapshotBox.withLock {
            $0 = ClusterDirectorSnapshot(phase: s.phase, maintenance: s.maintenance, ipvsProblem: s.ipvsProblem,
                                         decisions: s.decisions, routeProblems: s.routeProblems)
        }
        if s.isFinished { finish() }
    }

    /// Carries out one effect; returns the answer the state asked for, if any.
    private func execute(_ effect: ClusterDirectorState.Effect) -> ClusterDirectorState.Event? {
        switch effect {
        case .claim(let vips):
            for vip in vips {
                do {
                    if try addressTable.claim(vip) == .added { logger.notice("claimed \(vip.prefix) on \(vip.interface)") }
                } catch {
                    logger.error("claim \(vip.prefix) on \(vip.interface): \(error); the VIP is withdrawn until the address is there")
                }
            }
        case .release(let vips):
            for vip in vips {
                do {
                    if try addressTable.release(vip) == .removed { logger.notice("released \(vip.prefix) from \(vip.interface)") }
                } catch {
                    logger.error("release \(vip.prefix) from \(vip.interface): \(error)")
                }
            }
        case .observeAddresses:
            return observeAddresses()
        case .reconcileIPVS(let inputs):
            worker.reconcile(inputs, reason: .health)
        case .runSyncDaemons:
            worker.runSyncDaemonsInBothRoles()
        case .drainsChanged(let servers):
            keepDrains(servers)
        case .reconcileRoutes(let announce):
            return .routesReconciled(problems: reconcileRoutes(announce))
        case .reply(let id, let reply):
            replies.removeValue(forKey: id)?(reply)
        case .log(let level, let text):
            switch level {
            case .info: logger.info("\(text)")
            case .notice: logger.notice("\(text)")
            case .warning: logger.warning("\(text)")
            case .error: logger.error("\(text)")
            }
        case .publish(let kind, let text):
            events?.publish(kind, text)
        case .scheduleTimer(let deadline):
            timerGeneration += 1
            if let deadline { arm(deadline, generation: timerGeneration) }
        case .finished:
            break
        }
        return nil
    }

    /// The dispatch time of `instant`: on Linux dispatch's uptime clock is CLOCK_MONOTONIC
    /// (libdispatch src/shims/time.h `_dispatch_uptime`), the live `MonotonicClock`'s base, so
    /// the instant converts without reading a clock here.
    static func dispatchTime(_ instant: MonotonicInstant) -> DispatchTime {
        DispatchTime(uptimeNanoseconds: instant.nanoseconds)
    }

    /// Gives `.timer` at `deadline` on the daemon's clock; a wake-up before it (rounding) waits
    /// again rather than losing the timer. The wait follows CLOCK_MONOTONIC (`dispatchTime`).
    private func arm(_ deadline: MonotonicInstant, generation: UInt64) {
        queue.asyncAfter(deadline: Self.dispatchTime(deadline)) {
            guard generation == self.timerGeneration else { return }
            if self.clock.now() < deadline {
                self.arm(deadline, generation: generation)
            } else {
                self.run(.timer)
            }
        }
    }

    /// Reconciles the route table; returns every problem as text (empty when it is as asked).
    private func reconcileRoutes(_ announce: Set<IPAddress>) -> [String] {
        let settings = state.settings
        let vips = Set(settings.config.virtualIPs.map(\.address))
        do {
            let report = try routes.reconcile(announce: announce, vips: vips, protocol: settings.routeProtocol)
            for (action, change) in report.done where change == .added || change == .removed {
                logger.notice("route table \(routes.table): \(action)")
            }
            var problems = report.failed.map { "\($0.action): \($0.error)" }
            problems += report.plan.conflicts.map {
                "a foreign route \($0) in table \(routes.table) holds a VIP's destination: remove it (ip route del table \(routes.table) \($0.destination) proto \($0.protocolNumber))"
            }
            return problems
        } catch {
            return ["cannot read route table \(routes.table): \(error)"]
        }
    }

    private func finish() {
        let waiters = finished.withLock { f -> [CheckedContinuation<Void, Never>] in
            guard !f.done else { return [] }
            f.done = true
            defer { f.waiters = [] }
            return f.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}

/// The director as a `Service`: starts it, and on graceful shutdown (SIGTERM, SIGINT) asks it to
/// stop (withdraw, wait, release) and waits; a second signal skips the wait.
public final class ClusterDirectorService: Service {
    let director: ClusterDirector
    private let onStop: @Sendable () -> Void

    init(director: ClusterDirector, onStop: @escaping @Sendable () -> Void) {
        self.director = director
        self.onStop = onStop
    }

    public func run() async throws {
        if StartupSignals.take(SIGTERM) || StartupSignals.take(SIGINT) { return }
        director.start()
        let director = self.director
        let secondSignal = LockedBox<Task<Void, Never>?>(nil)
        await withGracefulShutdownHandler {
            await director.waitUntilFinished()
        } onGracefulShutdown: { [onStop] in
            onStop()
            director.post(.stop)
            let task = Task {
                for await _ in await UnixSignalsSequence(trapping: .sigterm, .sigint) {
                    director.post(.stop)
                    break
                }
            }
            secondSignal.withLock { $0 = task }
        }
        secondSignal.withLock { $0?.cancel() }
    }
}
