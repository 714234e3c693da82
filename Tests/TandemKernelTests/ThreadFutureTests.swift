import Glibc
import Synchronization
import Testing
@testable import TandemKernel

struct ThreadFutureTests {
    struct Refused: Error, Equatable { var code: Int }

    @Test func theValueComesFromAnotherThreadWhileTheCallerWorks() async throws {
        let callerThread = pthread_self()
        let ranOn = Mutex<pthread_t?>(nil)
        let gate = Mutex(false)
        let future = try ThreadFuture(object: "test") { () -> Int in
            ranOn.withLock { $0 = pthread_self() }
            // Finishes only after the caller has moved on, so `value` is awaited while running.
            for _ in 0..<2_000 where !gate.withLock({ $0 }) { usleep(1_000) }
            return 42
        }
        gate.withLock { $0 = true }
        #expect(try await future.value == 42)
        let worker = try #require(ranOn.withLock { $0 })
        #expect(pthread_equal(worker, callerThread) == 0)
    }

    @Test func aValueAlreadyFinishedIsReturnedAtOnce() async throws {
        let future = try ThreadFuture(object: "test") { "done" }
        for _ in 0..<200 { usleep(1_000) }  // long enough for the thread to finish first
        #expect(try await future.value == "done")
    }

    @Test func theBodysErrorIsRethrownUnchanged() async throws {
        let future = try ThreadFuture(object: "test") { () throws -> Int in throw Refused(code: 7) }
        await #expect(throws: Refused(code: 7)) { try await future.value }
    }
}
