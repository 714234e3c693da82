import Synchronization
import TandemCore
import TandemKernel

/// Fans events (role, peer, health, kernel, config, drain, control) out to every
/// `tandemctl events --follow` client. Publishing never blocks: each subscriber has its own
/// bounded buffer (the newest 1,000 events), so a slow reader loses old events rather than
/// slowing the heartbeat thread, which publishes role and peer events.
public final class EventHub: Sendable {
    private struct State {
        var next = 0
        var subscribers: [Int: AsyncStream<ControlEvent>.Continuation] = [:]
        var recent: [ControlEvent] = []
    }

    private let state = Mutex(State())
    /// How many past events a new subscriber receives first.
    static let replayCount = 20

    private let clock: any TandemClock

    public init(clock: any TandemClock = MonotonicClock()) { self.clock = clock }

    /// Publishes one event, stamped with the wall clock now.
    public func publish(_ kind: ControlEvent.Kind, _ message: String) {
        let event = ControlEvent(time: ControlTime.iso8601(nanosecondsSinceEpoch: clock.wallNanoseconds()), kind: kind, message: message)
        let targets = state.withLock { state -> [AsyncStream<ControlEvent>.Continuation] in
            state.recent.append(event)
            if state.recent.count > Self.replayCount { state.recent.removeFirst(state.recent.count - Self.replayCount) }
            return Array(state.subscribers.values)
        }
        for target in targets { target.yield(event) }
    }

    /// A stream of every event from now on (after the most recent few, when `replay`); it
    /// ends when the subscriber stops iterating or is dropped.
    public func subscribe(replay: Bool = false) -> AsyncStream<ControlEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: ControlEvent.self, bufferingPolicy: .bufferingNewest(1000))
        let past = state.withLock { state -> [ControlEvent] in
            let id = state.next
            state.next += 1
            state.subscribers[id] = continuation
            continuation.onTermination = { [weak self] _ in
                _ = self?.state.withLock { $0.subscribers.removeValue(forKey: id) }
            }
            return replay ? state.recent : []
        }
        for event in past { continuation.yield(event) }
        return stream
    }

    /// Ends every subscription (shutdown).
    public func finish() {
        let targets = state.withLock { state -> [AsyncStream<ControlEvent>.Continuation] in
            defer { state.subscribers = [:] }
            return Array(state.subscribers.values)
        }
        for target in targets { target.finish() }
    }

    /// Number of live subscribers (tests).
    public var subscriberCount: Int { state.withLock { $0.subscribers.count } }
}
