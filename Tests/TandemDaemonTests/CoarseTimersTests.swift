import NIOCore
import NIOPosix
import Synchronization
import Testing
@testable import TandemHealth

/// The health checks' timer wheel on a real event loop: never early, every action once, in
/// deadline order across ticks, deadlines beyond one turn of the wheel, rescheduling from an
/// action, and restarting after going idle. Bounds only (no upper timing bound but a loose one).
@Suite struct CoarseTimersTests {
    let loop = MultiThreadedEventLoopGroup.singleton.next()

    /// Schedules one action per offset (milliseconds from now); returns (offset, fired late by
    /// ms) in firing order: deadline order, also when the loop is busy and several come due in
    /// one tick.
    private func run(_ offsets: [Int64], slots: Int) async throws -> [(Int64, Int64)] {
        let timers = CoarseTimers(loop: loop, slots: slots)
        let log = Mutex<[(Int64, Int64)]>([])
        let start = NIODeadline.now()
        let done = loop.makePromise(of: Void.self)
        let remaining = Mutex(offsets.count)
        for offset in offsets {
            let deadline = start + .milliseconds(offset)
            timers.schedule(at: deadline) {
                let late = (NIODeadline.now() - deadline).nanoseconds / 1_000_000
                log.withLock { $0.append((offset, late)) }
                if remaining.withLock({ $0 -= 1; return $0 }) == 0 { done.succeed() }
            }
        }
        try await done.futureResult.get()
        return log.withLock { $0 }
    }

    @Test func neverEarlyAndInDeadlineOrderAcrossTicks() async throws {
        let offsets: [Int64] = [40, 0, 12, 25, 7, 60, 31]
        let fired = try await run(offsets, slots: 1024)
        #expect(fired.map(\.0) == offsets.sorted())
        #expect(fired.allSatisfy { $0.1 >= 0 && $0.1 < 1000 })
    }

    @Test func deadlinesBeyondOneTurnOfTheWheel() async throws {
        // 4 slots × 5 ms: everything past 20 ms waits outside the wheel first.
        let offsets: [Int64] = [90, 3, 55, 27, 140, 14]
        let fired = try await run(offsets, slots: 4)
        #expect(fired.map(\.0) == offsets.sorted())
        #expect(fired.allSatisfy { $0.1 >= 0 })
    }

    @Test func anActionCanScheduleMoreIncludingExactlyOneTurnAhead() async throws {
        let timers = CoarseTimers(loop: loop, slots: 4)
        let done = loop.makePromise(of: Int.self)
        let hops = Mutex(0)
        @Sendable func hop() {
            let n = hops.withLock { $0 += 1; return $0 }
            if n == 5 { done.succeed(n); return }
            // 4 slots × 5 ms: 20 ms lands in the slot being fired.
            timers.schedule(at: .now() + .milliseconds(n.isMultiple(of: 2) ? 20 : 0), hop)
        }
        timers.schedule(at: .now(), hop)
        #expect(try await done.futureResult.get() == 5)
    }

    @Test func firesAgainAfterGoingIdle() async throws {
        let timers = CoarseTimers(loop: loop)
        for _ in 0..<2 {
            let done = loop.makePromise(of: Void.self)
            let deadline = NIODeadline.now() + .milliseconds(10)
            timers.schedule(at: deadline) {
                #expect(NIODeadline.now() >= deadline)
                done.succeed()
            }
            try await done.futureResult.get()
            try await Task.sleep(for: .milliseconds(30))  // the ticker stops while nothing is due
        }
    }
}
