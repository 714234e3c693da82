import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization
import TandemCore
import TandemHealth
import TandemKernel

/// tandemd's real-server health checks: a `HealthMonitor` on its own event loop thread (never the
/// heartbeat thread, so checks cannot delay a heartbeat), whose changes reach `NodeState` (which
/// owns the IPVS table's inputs: `NodeEvent.realServerHealth`) paced by `HealthDeliveryPacer`: at
/// most one delivery per 100 ms, each with the latest state, none when the inputs did not change.
///
/// Both routers run the checks whatever their role, so a standby takes over with warm health
/// state. Each status change is logged as one line:
/// `real server 10.0.0.2:80 of service web: up -> down: 3 consecutive failures (fall 3); last failed: connection refused`.
///
/// A `Service` for the daemon's `ServiceGroup`: checks run from `init` on; graceful shutdown
/// stops them and shuts the event loop down.
public final class DaemonHealth: Service, Sendable {
    /// The checks and their state.
    public let monitor: HealthMonitor
    private let group: MultiThreadedEventLoopGroup
    private let courier: HealthCourier
    /// Ages in status ("since").
    let clock: any TandemClock

    /// Starts checking `config`'s real servers. `deliver` receives the IPVS table's health inputs
    /// (the daemon posts them to the heartbeat loop's `NodeState`); `prober` (a `NIOHealthProber`
    /// on `clock` by default) is replaceable for tests.
    public init(config: Config, logger: Logger, prober: (any HealthProber)? = nil,
                spacingMilliseconds: UInt64 = 100, events: EventHub? = nil, clock: any TandemClock = MonotonicClock(),
                onResult: (@Sendable (HealthTarget.Key) -> HealthMonitor.ResultObserver)? = nil,
                deliver: @escaping @Sendable (_ down: Set<RealServerID>, _ weights: [RealServerID: Int]) -> Void) {
        self.clock = clock
        group = MultiThreadedEventLoopGroup(numberOfThreads: Self.threads(cores: System.coreCount))
        let courier = HealthCourier(loop: group.next(), logger: logger, spacingMilliseconds: spacingMilliseconds, events: events,
                                    clock: clock, deliver: deliver)
        self.courier = courier
        monitor = HealthMonitor(group: group, prober: prober, clock: clock, onUpdate: { courier.updated($0) },
                                onUncounted: { courier.uncounted($0, $1) }, onResult: onResult)
        courier.attach(monitor)
        apply(config)
    }

    /// Health-check threads: one per core but one (left to the heartbeat thread, the kernel
    /// and the rest), at least one, at most four.
    static func threads(cores: Int) -> Int { min(4, max(1, cores - 1)) }

    /// Checks `config`'s real servers (at start and on every reload): unchanged targets keep
    /// their state; targets gone from the config no longer count (the reconcile hears of it).
    public func apply(_ config: Config) {
        let targets = HealthTarget.all(in: config)
        monitor.apply(targets: targets)
        courier.changed()
    }

    /// Every checked real server's health now (thread-safe; for the control socket).
    public func snapshot() -> [HealthServerStatus] {
        monitor.serverStatuses()
    }

    /// Runs until graceful shutdown; then stops every check and the event loop.
    public func run() async throws {
        try await monitor.run()
        courier.detach()
        try await group.shutdownGracefully()
    }
}

/// Carries health updates to the log and, paced, to the reconcile.
final class HealthCourier: Sendable {
    private struct State {
        var pacer: HealthDeliveryPacer
        var monitor: HealthMonitor?
        var lastDown: Set<RealServerID> = []
        var lastWeights: [RealServerID: Int] = [:]
        /// Uncounted results since the last overload warning, and when it was logged.
        var uncounted = 0
        var lastOverloadWarning: MonotonicInstant?
    }

    /// At most one overload warning per minute.
    static let overloadWarningSpacing = TimeSpan.seconds(60)

    private let loop: any EventLoop
    private let logger: Logger
    private let events: EventHub?
    private let clock: any TandemClock
    private let deliver: @Sendable (Set<RealServerID>, [RealServerID: Int]) -> Void
    private let state: Mutex<State>

    init(loop: any EventLoop, logger: Logger, spacingMilliseconds: UInt64, events: EventHub? = nil,
         clock: any TandemClock = MonotonicClock(),
         deliver: @escaping @Sendable (Set<RealServerID>, [RealServerID: Int]) -> Void) {
        self.clock = clock
        self.loop = loop
        self.logger = logger
        self.events = events
        self.deliver = deliver
        state = Mutex(State(pacer: HealthDeliveryPacer(spacingMilliseconds: spacingMilliseconds)))
    }

    func attach(_ monitor: HealthMonitor) { state.withLock { $0.monitor = monitor } }
    /// Breaks the monitor ↔ courier cycle at shutdown; later updates are ignored.
    func detach() { state.withLock { $0.monitor = nil } }

    /// The monitor published `update` (on a health loop thread).
    func updated(_ update: HealthMonitor.HealthUpdate) {
        log(update)
        changed()
    }

    func log(_ update: HealthMonitor.HealthUpdate) {
        let server = update.server
        let name = "real server \(server.address.bracketed):\(server.port) of service \(server.service)"
        guard let change = update.change else {
            logger.info("\(name): weight now \(update.weight.map(String.init) ?? "-")")
            events?.publish(.health, "\(name): weight now \(update.weight.map(String.init) ?? "-")")
            return
        }
        let line: Logger.Message = "\(name): \(change.old) -> \(change.new): \(change.reason)"
        events?.publish(.health, "\(line)")
        switch (change.old, change.new) {
        case (.unknown, .up): logger.debug(line)
        case (_, .down): logger.warning(line)
        default: logger.notice(line)
        }
    }

    /// A result that did not count: the checks ran so far behind that a timeout said nothing
    /// about the server. Logged (at most once a minute, with a count) and published.
    func uncounted(_ key: HealthTarget.Key, _ result: ProbeResult) {
        let now = clock.now()
        let count: Int? = state.withLock { s in
            s.uncounted += 1
            if let last = s.lastOverloadWarning, now < last + Self.overloadWarningSpacing { return nil }
            s.lastOverloadWarning = now
            defer { s.uncounted = 0 }
            return s.uncounted
        }
        guard let count else { return }
        let text = "health checks are overloaded: \(count) result(s) not counted since the last warning, e.g. \(key): \(result.reason); "
            + "lengthen the check intervals or give the router more CPU"
        logger.warning("\(text)")
        events?.publish(.health, text)
    }

    /// Health or the target set changed: deliver now, or arm the pacing timer.
    func changed() {
        let action = state.withLock { $0.pacer.changed(at: clock.now()) }
        act(action)
    }

    private func act(_ action: HealthDeliveryPacer.Action) {
        switch action {
        case .wait:
            break
        case .deliver:
            deliverLatest()
        case .scheduleDelivery(let at):
            loop.scheduleTask(deadline: .uptimeNanoseconds(at.nanoseconds)) { [self] in
                let next = self.state.withLock { $0.pacer.timerFired(at: clock.now()) }
                self.act(next)
            }
        }
    }

    /// Reads the monitor's table inputs now and hands them over unless they equal the last ones.
    /// Under the lock, so two deliveries racing (timer, reload) reach the worker in the order
    /// their states were read; `deliver` only queues work.
    private func deliverLatest() {
        state.withLock { s in
            guard let monitor = s.monitor else { return }
            let (down, weights) = monitor.tableInputs()
            if down == s.lastDown && weights == s.lastWeights { return }
            s.lastDown = down
            s.lastWeights = weights
            deliver(down, weights)
        }
    }
}

extension DaemonHealth {
    /// The health of every checked real server, as `tandemctl status` shows it.
    func statusForControl() -> [RealServerID: RealServerHealthInfo] {
        let now = clock.now()
        var result: [RealServerID: RealServerHealthInfo] = [:]
        for entry in snapshot() {
            let id = RealServerID(service: entry.service, address: entry.address, port: entry.port)
            let status: String
            switch entry.status {
            case .up: status = "up"
            case .down: status = "down"
            case .unknown: status = "unknown"
            }
            var reason = entry.lastResult.map { "\(entry.check): \($0)" }
            if let weight = entry.effectiveWeight, weight != entry.configuredWeight {
                reason = (reason.map { $0 + "; " } ?? "") + "weight \(weight) (agent)"
            }
            result[id] = RealServerHealthInfo(status: status, reason: reason, ageMs: now.milliseconds(since: entry.since))
        }
        return result
    }
}
