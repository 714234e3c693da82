import Synchronization

/// A value behind a lock, shareable by reference between threads and escaping closures
/// (a `Mutex` itself cannot be captured: it is not copyable).
public final class LockedBox<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>

    public init(_ value: Value) { mutex = Mutex(value) }

    public func withLock<R: Sendable>(_ body: (inout Value) -> R) -> R {
        mutex.withLock { value in body(&value) }
    }

    public var value: Value { mutex.withLock { $0 } }
}
