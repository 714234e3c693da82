import NIOCore
import NIOPosix
import Synchronization
import TandemCore
import TandemKernel

/// Runs the health checks of a config and keeps their state.
///
/// Every target (real server × probe) has its own fixed-rate schedule on one loop of the
/// monitor's event loop group, which must not be the heartbeat's: checks never delay a
/// heartbeat. The first check of a target runs at a random point within its first interval so
/// thousands of targets do not fire together. A check never overlaps the next (the config keeps
/// timeout ≤ interval; a check still running when its slot comes is skipped).
///
/// Results that do not count (a timeout while the checks ran far behind) go to `onUncounted`.
/// Changes are published as `HealthUpdate`s (status changes and weight changes: agent feedback,
/// warm-up steps) on `updates` and to the optional callback. `apply(targets:)` on a reload keeps the
/// state of every target whose real server and probe are unchanged.
public final class HealthMonitor: Sendable {
    /// One change of a real server's health or effective weight.
    public struct HealthUpdate: Sendable, Hashable, CustomStringConvertible {
        public var key: HealthTarget.Key
        /// The status change, nil when only the weight changed.
        public var change: HealthState.Change?
        /// The effective weight now; nil while down.
        public var weight: Int?
        public var at: MonotonicInstant

        public var server: RealServerID { key.server }
        public var description: String {
            change?.description ?? "\(key.server): weight \(weight.map(String.init) ?? "-")"
        }
    }

    private struct Inner {
        var health = HealthState()
        /// Bumped when a key is (re)added, so a removed target's pending slot never runs.
        var generation: [HealthTarget.Key: UInt64] = [:]
        var nextGeneration: UInt64 = 0
        var running: Set<HealthTarget.Key> = []
        var weights: [HealthTarget.Key: Int?] = [:]
        var stopped = false
    }

    private let group: any EventLoopGroup
    private let prober: any HealthProber
    private let inner = Mutex(Inner())
    private let timers: CoarseTimerRegistry
    private let clock: any TandemClock
    private let onUpdate: (@Sendable (HealthUpdate) -> Void)?
    private let onUncounted: (@Sendable (HealthTarget.Key, ProbeResult) -> Void)?
    /// Every result with how long its probe took (monotonic), counted or not.
    private let onResult: (@Sendable (HealthTarget.Key, ProbeResult, Duration) -> Void)?
    private let continuation: AsyncStream<HealthUpdate>.Continuation
    /// Every update, in order. Buffers the newest 10,000 if nobody reads.
    public let updates: AsyncStream<HealthUpdate>

    /// `clock` times the checks and dates the changes; `prober` defaults to a `NIOHealthProber` on it.
    public init(group: any EventLoopGroup, prober: (any HealthProber)? = nil,
                clock: any TandemClock = MonotonicClock(),
                onUpdate: (@Sendable (HealthUpdate) -> Void)? = nil,
                onUncounted: (@Sendable (HealthTarget.Key, ProbeResult) -> Void)? = nil,
                onResult: (@Sendable (HealthTarget.Key, ProbeResult, Duration) -> Void)? = nil) {
        self.clock = clock
        timers = CoarseTimerRegistry(clock: clock)
        self.onUncounted = onUncounted
        self.onResult = onResult
        self.group = group
        self.prober = prober ?? NIOHealthProber(clock: clock)
        self.onUpdate = onUpdate
        let (stream, continuation) = AsyncStream.makeStream(of: HealthUpdate.self, bufferingPolicy: .bufferingNewest(10_000))
        self.updates = stream
        self.continuation = continuation
    }

    /// The monitor's clock now (CLOCK_MONOTONIC in the live clock, NIO's time base).
    public func now() -> MonotonicInstant { clock.now() }

    /// The monitor's clock now, as a NIO deadline.
    private func deadlineNow() -> NIODeadline { .uptimeNanoseconds(clock.now().nanoseconds) }

    /// Starts checking `targets` (`HealthTarget.all(in:)` of a config); on a reload, keeps
    /// unchanged targets' state and schedules, stops removed ones and starts new ones.
    public func apply(targets: [HealthTarget]) {
        let now = clock.now()
        let added: [(HealthTarget, UInt64)] = inner.withLock { inner in
            guard !inner.stopped else { return [] }
            let (added, removed) = inner.health.apply(targets: targets, at: now)
            for key in removed {
                inner.generation[key] = nil
                inner.weights[key] = nil
            }
            return added.compactMap { key in
                inner.nextGeneration += 1
                inner.generation[key] = inner.nextGeneration
                return inner.health.targets[key].map { ($0, inner.nextGeneration) }
            }
        }
        for (target, generation) in added {
            let loop = group.next()
            let interval = Int64(target.check.interval.milliseconds)
            let jitter = TimeAmount.milliseconds(Int64.random(in: 0..<max(1, interval)))
            schedule(target.key, generation: generation, at: deadlineNow() + jitter, on: loop)
        }
    }

    /// Stops every check; results still in flight are dropped.
    public func stop() {
        inner.withLock { inner in
            inner.stopped = true
            inner.generation = [:]
        }
        continuation.finish()
    }

    /// Every target's health now (for `tandemctl status`).
    public func snapshot() -> [HealthState.Entry] {
        let now = clock.now()
        return inner.withLock { $0.health.snapshot(at: now) }
    }

    /// The `down` set and `weights` map for `Config.desiredIPVSTable` now.
    public func tableInputs() -> (down: Set<RealServerID>, weights: [RealServerID: Int]) {
        let now = clock.now()
        return inner.withLock { $0.health.tableInputs(at: now) }
    }

    private func schedule(_ key: HealthTarget.Key, generation: UInt64, at deadline: NIODeadline, on loop: any EventLoop) {
        timers.timers(for: loop).schedule(at: deadline) { [self] in
            self.runCheck(key, generation: generation, slot: deadline, on: loop)
        }
    }

    private func runCheck(_ key: HealthTarget.Key, generation: UInt64, slot: NIODeadline, on loop: any EventLoop) {
        let (target, start): (HealthTarget?, Bool) = inner.withLock { inner in
            guard !inner.stopped, inner.generation[key] == generation, let target = inner.health.targets[key] else {
                return (nil, false)
            }
            // Still running (cannot happen while timeout ≤ interval): skip this slot, keep the schedule.
            if inner.running.contains(key) { return (target, false) }
            inner.running.insert(key)
            return (target, true)
        }
        guard let target else { return }
        let interval = TimeAmount.milliseconds(Int64(target.check.interval.milliseconds))
        var next = slot + interval
        let now = deadlineNow()
        if next < now { next = now + interval } // fell behind (suspended process): do not burst
        schedule(key, generation: generation, at: next, on: loop)
        guard start else { return }
        let probeStarted = clock.now()
        prober.probe(target, on: loop).whenComplete { [self] result in
            let probeResult: ProbeResult
            switch result {
            case .success(let r): probeResult = r
            case .failure(let error): probeResult = .failure("\(error)")
            }
            self.onResult?(key, probeResult, .nanoseconds(Int64(clamping: self.clock.now().nanoseconds(since: probeStarted))))
            self.record(probeResult, for: key, on: loop)
        }
    }

    private func record(_ result: ProbeResult, for key: HealthTarget.Key, on loop: any EventLoop) {
        let now = clock.now()
        let (update, nextStep): (HealthUpdate?, MonotonicInstant?) = inner.withLock { inner in
            inner.running.remove(key)
            guard !inner.stopped else { return (nil, nil) }
            let change = inner.health.record(result, for: key, at: now)
            return publishable(&inner, key: key, change: change, at: now)
        }
        if let update { publish(update) }
        if let nextStep { scheduleWeightStep(key, at: nextStep, on: loop) }
        if !result.counted { onUncounted?(key, result) }
    }

    /// Decides whether `key`'s status or effective weight changed since last published.
    private func publishable(_ inner: inout Inner, key: HealthTarget.Key, change: HealthState.Change?,
                             at now: MonotonicInstant) -> (HealthUpdate?, MonotonicInstant?) {
        guard let target = inner.health.targets[key], let tracker = inner.health.trackers[key] else { return (nil, nil) }
        let weight = tracker.effectiveWeight(configured: target.weight, warmup: target.check.warmup, at: now)
        let previous = inner.weights[key] ?? .some(target.weight)
        inner.weights[key] = .some(weight)
        let nextStep = change?.new == .up ? tracker.nextWeightChange(warmup: target.check.warmup, after: now) : nil
        guard change != nil || weight != previous else { return (nil, nextStep) }
        return (HealthUpdate(key: key, change: change, weight: weight, at: now), nextStep)
    }

    /// Warm-up: re-evaluates the weight at each ramp step and publishes it.
    private func scheduleWeightStep(_ key: HealthTarget.Key, at instant: MonotonicInstant, on loop: any EventLoop) {
        let deadline = NIODeadline.uptimeNanoseconds(instant.nanoseconds)
        timers.timers(for: loop).schedule(at: deadline) { [self] in
            let now = self.clock.now()
            let (update, next): (HealthUpdate?, MonotonicInstant?) = self.inner.withLock { inner in
                guard !inner.stopped, let tracker = inner.health.trackers[key], let target = inner.health.targets[key] else {
                    return (nil, nil)
                }
                let (u, _) = self.publishable(&inner, key: key, change: nil, at: now)
                return (u, tracker.nextWeightChange(warmup: target.check.warmup, after: now))
            }
            if let update { self.publish(update) }
            if let next { self.scheduleWeightStep(key, at: next, on: loop) }
        }
    }

    private func publish(_ update: HealthUpdate) {
        continuation.yield(update)
        onUpdate?(update)
    }
}
