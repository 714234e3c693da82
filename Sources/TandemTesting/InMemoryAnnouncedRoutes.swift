import Synchronization
import TandemCore

/// An in-memory `AnnouncedRoutes` for tests: one table's routes, a log of the calls that changed
/// something, and failures to inject. Like the kernel, adding a route whose destination, type
/// and metric are already there reports `.alreadyPresent` (whatever its protocol, as IPv4's
/// NLM_F_EXCL does), and removing matches destination, type, protocol and metric.
public final class InMemoryAnnouncedRoutes: AnnouncedRoutes {
    /// An injected failure.
    public struct Failure: Error, Sendable, Hashable, CustomStringConvertible {
        public var description: String
    }

    public let table: UInt32
    private let state: Mutex<(routes: [ClusterRoute], log: [String], failing: Set<IPPrefix>, readFails: Bool)>

    public init(table: UInt32 = 100, routes: [ClusterRoute] = []) {
        self.table = table
        state = Mutex((routes, [], [], false))
    }

    /// The table now.
    public var current: [ClusterRoute] { state.withLock { $0.routes } }
    /// `add blackhole 10.0.0.5/32 proto 250`, one line per change made, in order.
    public var log: [String] { state.withLock { $0.log } }

    /// Makes every add and remove of a route to `destination` fail (or succeed again).
    public func setFailing(_ destination: IPPrefix, _ failing: Bool = true) {
        state.withLock { s in
            if failing { s.failing.insert(destination) } else { s.failing.remove(destination) }
        }
    }

    /// Makes `routes()` fail (or succeed again).
    public func setReadFails(_ fails: Bool) { state.withLock { $0.readFails = fails } }

    public func routes() throws -> [ClusterRoute] {
        try state.withLock { s in
            if s.readFails { throw Failure(description: "dump routes of table \(table) failed (injected)") }
            return s.routes
        }
    }

    public func add(_ route: ClusterRoute) throws -> RouteChange {
        try state.withLock { s in
            if s.failing.contains(route.destination) { throw Failure(description: "add route \(route) failed (injected)") }
            if s.routes.contains(where: { $0.destination == route.destination && $0.kind.type == route.kind.type && $0.priority == route.priority }) {
                return .alreadyPresent
            }
            s.routes.append(route)
            s.log.append("add \(route)")
            return .added
        }
    }

    public func remove(_ route: ClusterRoute) throws -> RouteChange {
        try state.withLock { s in
            if s.failing.contains(route.destination) { throw Failure(description: "remove route \(route) failed (injected)") }
            guard let index = s.routes.firstIndex(where: {
                $0.destination == route.destination && $0.kind.type == route.kind.type
                    && $0.protocolNumber == route.protocolNumber && $0.priority == route.priority
            }) else { return .alreadyAbsent }
            s.routes.remove(at: index)
            s.log.append("remove \(route)")
            return .removed
        }
    }
}
