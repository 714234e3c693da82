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

    /// What receives one target's results, with how long each probe took (monotonic).
    public typealias ResultObserver = @Sendable (ProbeResult, Duration) -> Void

    /// One target's schedule: made when the target is added, retired when it is removed (or
    /// re-added: the new slot replaces it), kept alive by its pending timer (it is the timer's
    /// target: no closure per check) and reached by its probe completion, so a check finds its
    /// state (settings, tracker position, metrics observer) without looking its key up.
    private final class Slot: CoarseTimerTarget, @unchecked Sendable {
        let key: HealthTarget.Key
        /// The loop every check of this target runs on, and its timers.
        let loop: any EventLoop
        let timers: CoarseTimers
        /// The monitor (a stopped monitor retires its slots, so their timers stop).
        let monitor: HealthMonitor
        // Under the monitor's lock:
        /// The target's settings; a reload that keeps its key replaces them.
        var target: HealthTarget
        /// The target's tracker in the monitor's `HealthState` (`position(of:)`), updated at
        /// every apply.
        var position: Int?
        /// Removed (or the monitor stopped): its pending slot and any result in flight do nothing.
        var retired = false
        /// The effective weight last published (the configured one until the first result).
        var publishedWeight: Int?
        // Only on `loop`:
        /// A check is running (cannot overlap the next slot while timeout ≤ interval).
        var running = false
        var probeStarted = MonotonicInstant.zero
        /// The monitor's `onResult` for this target, made at its first result and again after
        /// `resetResultObservers()`: made for `observerGeneration` (`.max`: not made yet).
        /// Closures are kept in non-optional properties: an optional one is converted (a thunk
        /// made) each time it is read or stored.
        var observer: ResultObserver = { _, _ in }
        var observerGeneration = UInt64.max
        // Any thread:
        /// What every probe of this target completes, made once. It reaches the slot through a
        /// weak reference (no cycle); the slot's pending timer keeps it while a check runs (a
        /// slot retired and gone before its last result drops that result, as a retired slot
        /// ignores it).
        let completion: @Sendable (ProbeResult) -> Void
        private let reference: Reference

        /// A weak reference to a slot, made before the slot itself.
        private final class Reference: @unchecked Sendable {
            weak var slot: Slot?
        }

        init(target: HealthTarget, loop: any EventLoop, timers: CoarseTimers, monitor: HealthMonitor) {
            key = target.key
            self.target = target
            self.loop = loop
            self.timers = timers
            self.monitor = monitor
            publishedWeight = target.weight
            let reference = Reference()
            self.reference = reference
            completion = { result in
                if let slot = reference.slot { slot.monitor.finished(slot, result) }
            }
            reference.slot = self
        }

        func timerFired(deadline: NIODeadline) { monitor.runCheck(self, slot: deadline) }
    }

    private struct Inner {
        var health = HealthState()
        var slots: [HealthTarget.Key: Slot] = [:]
        var stopped = false
    }

    private let group: any EventLoopGroup
    private let prober: any HealthProber
    private let inner = Mutex(Inner())
    private let timers: CoarseTimerRegistry
    private let clock: any TandemClock
    private let onUpdate: (@Sendable (HealthUpdate) -> Void)?
    private let onUncounted: (@Sendable (HealthTarget.Key, ProbeResult) -> Void)?
    /// Makes what receives a target's every result, counted or not (see `ResultObserver`).
    private let onResult: (@Sendable (HealthTarget.Key) -> ResultObserver)?
    /// Raised by `resetResultObservers()`: each target asks `onResult` again at its next result.
    private let observerGeneration = Atomic<UInt64>(0)
    private let continuation: AsyncStream<HealthUpdate>.Continuation
    /// Every update, in order. Buffers the newest 10,000 if nobody reads.
    public let updates: AsyncStream<HealthUpdate>

    /// `clock` times the checks and dates the changes; `prober` defaults to a `NIOHealthProber` on it.
    /// `onResult` makes, for a target at its first result, what receives that target's results:
    /// kept with the target (no lookup per result) until `resetResultObservers()`.
    public init(group: any EventLoopGroup, prober: (any HealthProber)? = nil,
                clock: any TandemClock = MonotonicClock(),
                onUpdate: (@Sendable (HealthUpdate) -> Void)? = nil,
                onUncounted: (@Sendable (HealthTarget.Key, ProbeResult) -> Void)? = nil,
                onResult: (@Sendable (HealthTarget.Key) -> ResultObserver)? = nil) {
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
        let added: [(Slot, TimeSpan)] = inner.withLock { inner in
            guard !inner.stopped else { return [] }
            let (added, removed) = inner.health.apply(targets: targets, at: now)
            for key in removed { inner.slots.removeValue(forKey: key)?.retired = true }
            // Kept targets take their new settings (interval, timeout, weight, …) at their next
            // check; every tracker may have moved.
            for (key, slot) in inner.slots {
                if let target = inner.health.targets[key] { slot.target = target }
                slot.position = inner.health.position(of: key)
            }
            return added.compactMap { key in
                guard let target = inner.health.targets[key] else { return nil }
                let loop = group.next()
                let slot = Slot(target: target, loop: loop, timers: timers.timers(for: loop), monitor: self)
                slot.position = inner.health.position(of: key)
                inner.slots[key] = slot
                return (slot, target.check.interval)
            }
        }
        for (slot, interval) in added {
            let interval = Int64(interval.milliseconds)
            let jitter = TimeAmount.milliseconds(Int64.random(in: 0..<max(1, interval)))
            schedule(slot, at: deadlineNow() + jitter)
        }
    }

    /// Stops every check; results still in flight are dropped.
    public func stop() {
        inner.withLock { inner in
            inner.stopped = true
            for slot in inner.slots.values { slot.retired = true }
            inner.slots = [:]
        }
        continuation.finish()
    }

    /// Each target asks `onResult` for a new observer at its next result (the observers' view of
    /// the config changed: a reload).
    public func resetResultObservers() {
        observerGeneration.wrappingAdd(1, ordering: .relaxed)
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

    private func schedule(_ slot: Slot, at deadline: NIODeadline) {
        slot.timers.schedule(at: deadline, target: slot)
    }

    /// On the slot's loop, at its deadline: schedules the next slot and starts a check unless
    /// one is still running.
    private func runCheck(_ slot: Slot, slot deadline: NIODeadline) {
        let target: HealthTarget? = inner.withLock { inner in
            inner.stopped || slot.retired ? nil : slot.target
        }
        guard let target else { return }
        let interval = TimeAmount.milliseconds(Int64(target.check.interval.milliseconds))
        var next = deadline + interval
        let now = deadlineNow()
        if next < now { next = now + interval } // fell behind (suspended process): do not burst
        schedule(slot, at: next)
        // Still running (cannot happen while timeout ≤ interval): skip this slot, keep the schedule.
        guard !slot.running else { return }
        slot.running = true
        slot.probeStarted = clock.now()
        prober.probe(target, on: slot.loop, completion: slot.completion)
    }

    /// On the slot's loop: a check's result.
    private func finished(_ slot: Slot, _ result: ProbeResult) {
        let now = clock.now()
        slot.running = false
        if let onResult {
            let generation = observerGeneration.load(ordering: .relaxed)
            if slot.observerGeneration != generation {
                slot.observer = onResult(slot.key)
                slot.observerGeneration = generation
            }
            slot.observer(result, .nanoseconds(Int64(clamping: now.nanoseconds(since: slot.probeStarted))))
        }
        let (update, nextStep): (HealthUpdate?, MonotonicInstant?) = inner.withLock { inner in
            guard !inner.stopped, !slot.retired, let position = slot.position else { return (nil, nil) }
            let (change, (weight, step)) = inner.health.record(result, at: position, for: slot.key, at: now) { tracker in
                (tracker.effectiveWeight(configured: slot.target.weight, warmup: slot.target.check.warmup, at: now),
                 tracker.nextWeightChange(warmup: slot.target.check.warmup, after: now))
            }
            return (publishable(slot, change: change, weight: weight, at: now), change?.new == .up ? step : nil)
        }
        if let update { publish(update) }
        if let nextStep { scheduleWeightStep(slot, at: nextStep) }
        if !result.counted { onUncounted?(slot.key, result) }
    }

    /// The update to publish if `slot`'s status changed or its effective weight differs from
    /// the one last published (under the lock).
    private func publishable(_ slot: Slot, change: HealthState.Change?, weight: Int?, at now: MonotonicInstant) -> HealthUpdate? {
        let previous = slot.publishedWeight
        slot.publishedWeight = weight
        guard change != nil || weight != previous else { return nil }
        return HealthUpdate(key: slot.key, change: change, weight: weight, at: now)
    }

    /// Warm-up: re-evaluates the weight at each ramp step and publishes it.
    private func scheduleWeightStep(_ slot: Slot, at instant: MonotonicInstant) {
        let deadline = NIODeadline.uptimeNanoseconds(instant.nanoseconds)
        slot.timers.schedule(at: deadline) { [self] in
            let now = self.clock.now()
            let (update, next): (HealthUpdate?, MonotonicInstant?) = self.inner.withLock { inner in
                guard !inner.stopped, !slot.retired, let tracker = inner.health.tracker(for: slot.key) else { return (nil, nil) }
                let warmup = slot.target.check.warmup
                let weight = tracker.effectiveWeight(configured: slot.target.weight, warmup: warmup, at: now)
                return (self.publishable(slot, change: nil, weight: weight, at: now), tracker.nextWeightChange(warmup: warmup, after: now))
            }
            if let update { self.publish(update) }
            if let next { self.scheduleWeightStep(slot, at: next) }
        }
    }

    private func publish(_ update: HealthUpdate) {
        continuation.yield(update)
        onUpdate?(update)
    }
}
