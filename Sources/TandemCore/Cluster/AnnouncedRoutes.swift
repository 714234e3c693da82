/// What adding or removing one route did.
public enum RouteChange: String, Sendable, Hashable {
    case added
    /// The kernel already held it (EEXIST); nothing changed.
    case alreadyPresent
    case removed
    /// The kernel did not hold it (ESRCH); nothing changed.
    case alreadyAbsent
}

/// The cluster's kernel routing table (`cluster.route_table`), through which a director tells
/// BIRD which VIPs to announce.
///
/// Adding and removing are idempotent: adding a present route and removing an absent one succeed
/// with `.alreadyPresent` / `.alreadyAbsent`. Implementations never touch another table, and
/// `remove` removes only a route of exactly the given protocol, type and metric.
public protocol AnnouncedRoutes: Sendable {
    /// The kernel table these routes go in.
    var table: UInt32 { get }
    /// Every route of the table, of any protocol, IPv4 and IPv6.
    func routes() throws -> [ClusterRoute]
    func add(_ route: ClusterRoute) throws -> RouteChange
    func remove(_ route: ClusterRoute) throws -> RouteChange
}

/// What one reconcile of the route table did.
public struct RouteReconcileReport: Sendable {
    /// The plan, made from the table as it was read.
    public var plan: RoutePlanner.Plan
    /// Each action that ran, with what it changed.
    public var done: [(action: RoutePlanner.Action, change: RouteChange)]
    /// Each action that failed, with the error (the others still ran).
    public var failed: [(action: RoutePlanner.Action, error: any Error)]
}

extension AnnouncedRoutes {
    /// Reads the table, plans (`RoutePlanner.plan`) and applies every action in order. A failed
    /// action does not stop the others: a withdrawal must not wait on an unrelated addition.
    ///
    /// - Throws: only when the table cannot be read (then nothing was changed).
    public func reconcile(announce: Set<IPAddress>, vips: Set<IPAddress>, protocol proto: UInt8) throws -> RouteReconcileReport {
        let plan = RoutePlanner.plan(announce: announce, vips: vips, observed: try routes(), protocol: proto)
        var report = RouteReconcileReport(plan: plan, done: [], failed: [])
        for action in plan.actions {
            do {
                switch action {
                case .add(let route): report.done.append((action, try add(route)))
                case .remove(let route): report.done.append((action, try remove(route)))
                }
            } catch {
                report.failed.append((action, error))
            }
        }
        return report
    }
}
