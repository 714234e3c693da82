import NIOCore
import Synchronization

/// One coarse timer queue per event loop (5 ms resolution) for the health subsystem's many
/// timers: next-check slots, check timeouts, warm-up steps.
///
/// Why not `EventLoop.scheduleTask`: NIO cancels a scheduled task with a linear search of the
/// loop's task heap, and every check would cancel at least one timer (its timeout, and NIO's own
/// connect timeout), so with N servers each cancel scans O(N) entries: at 5,000 servers a second
/// that is the dominant cost (measured with perf). Timers here are never cancelled: an action
/// that fires after its work is done (a completed promise, a removed target) does nothing. NIO's
/// heap then holds only one repeating tick per loop plus connect timeouts in flight.
final class CoarseTimers: @unchecked Sendable {
    static let resolution = TimeAmount.milliseconds(5)

    private struct Entry {
        var deadline: UInt64
        var sequence: UInt64
        var action: @Sendable () -> Void
        func precedes(_ other: Entry) -> Bool {
            (deadline, sequence) < (other.deadline, other.sequence)
        }
    }

    private let loop: any EventLoop
    // Touched only on `loop` (hence @unchecked Sendable).
    private var heap: [Entry] = []
    private var sequence: UInt64 = 0
    private var ticker: RepeatedTask?

    init(loop: any EventLoop) { self.loop = loop }

    /// Runs `action` on the loop at (or up to one resolution after) `deadline`. Callable from any thread.
    func schedule(at deadline: NIODeadline, _ action: @escaping @Sendable () -> Void) {
        if loop.inEventLoop {
            insert(deadline, action)
        } else {
            loop.execute { self.insert(deadline, action) }
        }
    }

    private func insert(_ deadline: NIODeadline, _ action: @escaping @Sendable () -> Void) {
        sequence += 1
        heap.append(Entry(deadline: deadline.uptimeNanoseconds, sequence: sequence, action: action))
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard heap[i].precedes(heap[parent]) else { break }
            heap.swapAt(i, parent)
            i = parent
        }
        if ticker == nil {
            ticker = loop.scheduleRepeatedTask(initialDelay: Self.resolution, delay: Self.resolution) { [self] _ in
                self.tick()
            }
        }
    }

    private func popFirst() -> Entry {
        let first = heap[0]
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < heap.count, heap[l].precedes(heap[m]) { m = l }
                if r < heap.count, heap[r].precedes(heap[m]) { m = r }
                if m == i { break }
                heap.swapAt(i, m)
                i = m
            }
        }
        return first
    }

    private func tick() {
        let now = NIODeadline.now().uptimeNanoseconds
        while let first = heap.first, first.deadline <= now {
            popFirst().action()
        }
        if heap.isEmpty {
            ticker?.cancel()
            ticker = nil
        }
    }
}

/// The `CoarseTimers` of each event loop a component uses.
final class CoarseTimerRegistry: Sendable {
    private let timers = Mutex<[ObjectIdentifier: CoarseTimers]>([:])

    func timers(for loop: any EventLoop) -> CoarseTimers {
        timers.withLock { all in
            let id = ObjectIdentifier(loop)
            if let t = all[id] { return t }
            let t = CoarseTimers(loop: loop)
            all[id] = t
            return t
        }
    }
}
