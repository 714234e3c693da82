import NIOCore
import Synchronization
import TandemCore
import TandemKernel

/// One coarse timer queue per event loop (5 ms resolution) for the health subsystem's many
/// timers: next-check slots, check timeouts, warm-up steps.
///
/// Why not `EventLoop.scheduleTask`: NIO cancels a scheduled task with a linear search of the
/// loop's task heap, and every check would cancel at least one timer (its timeout, and NIO's own
/// connect timeout), so with N servers each cancel scans O(N) entries: at 5,000 servers a second
/// that is the dominant cost (measured with perf). Timers here are never cancelled: an action
/// that fires after its work is done (a completed promise, a removed target) does nothing. NIO's
/// heap then holds only one repeating tick per loop plus connect timeouts in flight.
/// Actions due in the same 5 ms tick run in deadline order (then in the order scheduled).
/// Time is read from `clock` (its CLOCK_MONOTONIC is NIO's uptime clock): NIO only paces the
/// ticks, the clock decides what is due, so a `ManualClock` drives the timers in tests.
final class CoarseTimers: @unchecked Sendable {
    static let resolution = TimeAmount.milliseconds(5)
    /// Slots of the wheel: by default 1,024 × 5 ms = 5.12 s ahead; later deadlines wait in `far`.
    private let slots: UInt64

    private enum Action: Sendable {
        case closure(@Sendable () -> Void)
        case target(any CoarseTimerTarget)
    }

    private struct Entry {
        var deadline: UInt64
        var sequence: UInt64
        var action: Action
    }

    private let loop: any EventLoop
    private let clock: any TandemClock
    // Touched only on `loop` (hence @unchecked Sendable).
    /// A timing wheel: the actions due at tick `t` (a multiple of the resolution) sit in slot
    /// `t % slots`. Inserting and firing cost O(1), where a heap of closures cost O(log n)
    /// moves of reference-counted entries.
    private var wheel: [[Entry]]
    /// Actions due more than one turn of the wheel ahead, by tick.
    private var far: [UInt64: [Entry]] = [:]
    /// Every tick up to this one has fired.
    private var fired: UInt64
    private var count = 0
    private var sequence: UInt64 = 0
    private var spare: [Entry] = []
    private var ticker: RepeatedTask?

    init(loop: any EventLoop, slots: Int = 1024, clock: any TandemClock = MonotonicClock()) {
        self.loop = loop
        self.clock = clock
        self.slots = UInt64(max(1, slots))
        wheel = Array(repeating: [], count: max(1, slots))
        fired = clock.now().nanoseconds / UInt64(Self.resolution.nanoseconds)
    }

    /// The clock's time now, as a deadline for `schedule(at:)`.
    var now: NIODeadline { .uptimeNanoseconds(clock.now().nanoseconds) }

    /// Runs `action` on the loop at (or up to one resolution after) `deadline`, never before.
    /// Callable from any thread.
    func schedule(at deadline: NIODeadline, _ action: @escaping @Sendable () -> Void) {
        schedule(deadline, .closure(action))
    }

    /// Calls `target.timerFired(deadline:)` on the loop at (or up to one resolution after)
    /// `deadline`, never before. Callable from any thread.
    func schedule(at deadline: NIODeadline, target: any CoarseTimerTarget) {
        schedule(deadline, .target(target))
    }

    private func schedule(_ deadline: NIODeadline, _ action: Action) {
        if loop.inEventLoop {
            insert(deadline, action)
        } else {
            loop.execute { self.insert(deadline, action) }
        }
    }

    private func insert(_ deadline: NIODeadline, _ action: Action) {
        let resolution = UInt64(Self.resolution.nanoseconds)
        if count == 0 {
            // Idle until now (no ticker ran): start the wheel at the present tick.
            fired = max(fired, clock.now().nanoseconds / resolution)
        }
        // Rounded up: a tick fires only actions whose deadline has passed.
        let tick = max((deadline.uptimeNanoseconds + resolution - 1) / resolution, fired + 1)
        sequence += 1
        let entry = Entry(deadline: deadline.uptimeNanoseconds, sequence: sequence, action: action)
        if tick - fired <= slots {
            wheel[Int(tick % slots)].append(entry)
        } else {
            far[tick, default: []].append(entry)
        }
        count += 1
        if ticker == nil {
            ticker = loop.scheduleRepeatedTask(initialDelay: Self.resolution, delay: Self.resolution) { [self] _ in
                self.tick()
            }
        }
    }

    private func tick() {
        let now = clock.now().nanoseconds / UInt64(Self.resolution.nanoseconds)
        while fired < now && count > 0 {
            fired += 1
            // Actions may schedule more; one due a full turn ahead lands in this same slot,
            // which is why the slot is swapped out before its actions run.
            swap(&wheel[Int(fired % slots)], &spare)
            if !far.isEmpty, let later = far.removeValue(forKey: fired) { spare += later }
            count -= spare.count
            // In deadline order, also for actions that were already due when scheduled (a busy
            // loop): those all land in the next tick.
            if spare.count > 1 { spare.sort { ($0.deadline, $0.sequence) < ($1.deadline, $1.sequence) } }
            for entry in spare {
                switch entry.action {
                case .closure(let action): action()
                case .target(let target): target.timerFired(deadline: .uptimeNanoseconds(entry.deadline))
                }
            }
            spare.removeAll(keepingCapacity: true)
        }
        fired = max(fired, now)
        if count == 0 {
            ticker?.cancel()
            ticker = nil
        }
    }
}

/// An object a `CoarseTimers` timer calls when it fires, instead of a closure: a schedule that
/// repeats thousands of times a second (a health check's next slot) then makes no closure each
/// time. The timer keeps the object until it fires.
protocol CoarseTimerTarget: AnyObject, Sendable {
    /// On the loop, at (or up to one resolution after) `deadline`.
    func timerFired(deadline: NIODeadline)
}

/// The `CoarseTimers` of each event loop a component uses.
final class CoarseTimerRegistry: Sendable {
    private let timers = Mutex<[ObjectIdentifier: CoarseTimers]>([:])
    private let clock: any TandemClock

    init(clock: any TandemClock = MonotonicClock()) { self.clock = clock }

    func timers(for loop: any EventLoop) -> CoarseTimers {
        timers.withLock { all in
            let id = ObjectIdentifier(loop)
            if let t = all[id] { return t }
            let t = CoarseTimers(loop: loop, clock: clock)
            all[id] = t
            return t
        }
    }
}
