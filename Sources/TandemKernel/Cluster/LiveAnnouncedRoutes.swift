import Glibc
import Synchronization
import TandemCore

/// The cluster's kernel routing table, changed through one rtnetlink socket (libnl framing,
/// `ClusterRouteMessages` bytes).
///
/// - Add sends RTM_NEWROUTE with NLM_F_CREATE | NLM_F_EXCL: a route already there answers
///   EEXIST, reported as `.alreadyPresent`, and the kernel is left untouched.
/// - Remove sends RTM_DELROUTE naming the exact type, protocol and metric; ESRCH (no such route)
///   is `.alreadyAbsent`. A route of another protocol never matches, so a foreign route is safe.
/// - The routes go only into `table`. No `ip rule` selects it, so they do not change forwarding.
///
/// One socket, one lock: calls from several threads are serialised.
public final class LiveAnnouncedRoutes: AnnouncedRoutes {
    public let table: UInt32
    private let socket: Mutex<RouteSocket>

    /// Opens the rtnetlink socket. Throws when it cannot (no CAP_NET_ADMIN is only found later,
    /// at the first change: reading is allowed to everyone).
    public init(table: UInt32) throws(KernelError) {
        self.table = table
        socket = Mutex(try RouteSocket(purpose: "cluster routes of table \(table)"))
    }

    public func routes() throws(KernelError) -> [ClusterRoute] {
        try socket.withLock { s throws(KernelError) in try s.dumpRoutes(table: table) }
    }

    public func add(_ route: ClusterRoute) throws(KernelError) -> RouteChange {
        let object = "\(route) table \(table)"
        let payload = ClusterRouteMessages.request(route, table: table, delete: false)
        let rc = try socket.withLock { s throws(KernelError) in
            try s.send(type: ClusterRouteMessages.newRoute, flags: ClusterRouteMessages.createExclusive, payload: payload,
                       operation: "add route", object: object)
        }
        switch rc {
        case 0: return .added
        case EEXIST: return .alreadyPresent
        default: throw KernelError(operation: "add route", object: object, errno: rc, hint: LiveAnnouncedRoutes.hint(rc))
        }
    }

    public func remove(_ route: ClusterRoute) throws(KernelError) -> RouteChange {
        let object = "\(route) table \(table)"
        let payload = ClusterRouteMessages.request(route, table: table, delete: true)
        let rc = try socket.withLock { s throws(KernelError) in
            try s.send(type: ClusterRouteMessages.deleteRoute, flags: 0, payload: payload, operation: "delete route", object: object)
        }
        switch rc {
        case 0: return .removed
        case ESRCH, ENOENT: return .alreadyAbsent
        default: throw KernelError(operation: "delete route", object: object, errno: rc, hint: LiveAnnouncedRoutes.hint(rc))
        }
    }

    /// What an operator can do about a refusal.
    static func hint(_ errno: Int32) -> String? {
        switch errno {
        case EPERM, EACCES: return "changing routes needs CAP_NET_ADMIN: run as root or grant the capability"
        case ENODEV: return "the route's interface does not exist in this network namespace"
        case EAFNOSUPPORT: return "IPv6 is disabled on this host (net.ipv6.conf.all.disable_ipv6 or ipv6.disable=1): enable it or use IPv4 VIPs only"
        case EINVAL: return "the kernel refused the route's shape: check cluster.route_table and route_protocol"
        default: return nil
        }
    }
}
