import Glibc
import Synchronization

/// A detached POSIX thread that runs one closure and ends (what `Thread.detachNewThread` did,
/// without Foundation): for work that blocks, such as waiting on an `exec` check's child.
public enum DetachedThread {
    private final class Work {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }

    /// Starts `body` on a new detached thread; throws when the system refuses one (`object`
    /// names it in the error).
    public static func start(object: String, _ body: @escaping @Sendable () -> Void) throws(PosixError) {
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        let context = Unmanaged.passRetained(Work(body)).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(&thread, &attributes, { arg in
            Unmanaged<Work>.fromOpaque(arg!).takeRetainedValue().body()
            return nil
        }, context)
        if rc != 0 {
            Unmanaged<Work>.fromOpaque(context).release()
            throw PosixError(operation: "start thread", object: object, errno: rc)
        }
    }
}

/// A value computed on its own detached thread, started at once and awaited later: blocking work
/// (an IPVS dump) that overlaps other work on the caller's thread. An error the body throws is
/// rethrown by `value`, unchanged.
public final class ThreadFuture<Value: Sendable>: Sendable {
    private enum State: Sendable {
        case running
        case finished(Result<Value, any Error>)
        case awaited(CheckedContinuation<Value, any Error>)
    }

    private let state = Mutex<State>(.running)

    /// Starts `body` on a new detached thread; throws when the system refuses one (`object` names
    /// the work in that error).
    public init(object: String, _ body: @escaping @Sendable () throws -> Value) throws(PosixError) {
        try DetachedThread.start(object: object) { [self] in
            let result = Result(catching: body)
            let waiting: CheckedContinuation<Value, any Error>? = state.withLock { state in
                if case .awaited(let continuation) = state { return continuation }
                state = .finished(result)
                return nil
            }
            waiting?.resume(with: result)
        }
    }

    /// The body's value once it has finished (at once if it already has). Await it once.
    public var value: Value {
        get async throws {
            try await withCheckedThrowingContinuation { continuation in
                let done: Result<Value, any Error>? = state.withLock { state in
                    switch state {
                    case .finished(let result):
                        return result
                    case .running:
                        state = .awaited(continuation)
                        return nil
                    case .awaited:
                        preconditionFailure("ThreadFuture.value awaited twice")
                    }
                }
                if let done { continuation.resume(with: done) }
            }
        }
    }
}
