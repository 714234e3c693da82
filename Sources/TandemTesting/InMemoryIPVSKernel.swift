import Glibc
import TandemCore
import TandemKernel

/// An IPVS table in memory that answers like the kernel's (`ip_vs_ctl.c`): EEXIST for adding
/// what exists, ESRCH for a missing service, ENOENT for a missing real server or an unknown
/// scheduler, ERANGE for a negative weight or a lower threshold above the upper one. For tests
/// of code that drives an `IPVSKernel`; it counts the changes written to it.
public final class InMemoryIPVSKernel: IPVSKernel {
    /// The table as a dump returns it.
    public private(set) var listing: IPVSListing
    public private(set) var daemons: [IPVSSyncDaemon] = []
    public var currentTimeouts = IPVSTimeoutSettings(tcp: 900, tcpFin: 120, udp: 300)
    /// Schedulers whose module "loads"; others fail with ENOENT.
    public var schedulers: Set<String> = Set(["none"] + Scheduler.known)
    /// Interfaces a sync daemon may use; others fail with ENODEV.
    public var interfaces: Set<String> = ["lo"]
    /// MTU of each interface in bytes (1500 when not listed): a backup's default maxlen follows it.
    public var mtus: [String: Int] = [:]
    /// Changes applied successfully so far.
    public private(set) var writes = 0

    public init(_ table: IPVSTable = IPVSTable()) {
        listing = IPVSListing(services: table.entries.map { entry in
            IPVSListedService(service: entry.service, destinations: entry.destinations.map { IPVSListedDestination(destination: $0) })
        })
    }

    public func info() throws -> IPVSInfo { IPVSInfo(version: 0x010201, connectionTableSize: 4096) }

    public func dump() throws -> IPVSListing { listing }

    public func apply(_ changes: [IPVSChange]) throws -> [IPVSChangeResult] {
        changes.map { change in
            let code = perform(change)
            if code == 0 { writes += 1 }
            return IPVSChangeResult(change: change, error: code == 0 ? nil : .ipvs(change, errno: code))
        }
    }

    /// Applies one change, returning 0 or the errno the kernel would return.
    private func perform(_ change: IPVSChange) -> Int32 {
        var services = listing.services
        func index(_ key: IPVSServiceKey) -> Int? { services.firstIndex { $0.service.key == key } }
        switch change {
        case .addService(let s):
            guard index(s.key) == nil else { return EEXIST }
            guard schedulers.contains(s.scheduler) else { return ENOENT }
            if s.key.family == .ipv6 && !(1...128).contains(s.netmask) { return EINVAL }
            services.append(IPVSListedService(service: s))
        case .updateService(let s):
            guard let i = index(s.key) else { return ESRCH }
            guard schedulers.contains(s.scheduler) else { return ENOENT }
            if s.key.family == .ipv6 && !(1...128).contains(s.netmask) { return EINVAL }
            services[i].service = s
        case .deleteService(let key):
            guard let i = index(key) else { return ESRCH }
            services.remove(at: i)
        case .addDestination(let key, let d):
            guard let i = index(key) else { return ESRCH }
            if let code = InMemoryIPVSKernel.check(d) { return code }
            guard !services[i].destinations.contains(where: { $0.destination.key == d.key }) else { return EEXIST }
            // The kernel links a new real server at the head of its service's list
            // (ip_vs_ctl.c __ip_vs_update_dest, list_add_rcu), so dumps list the newest first.
            services[i].destinations.insert(IPVSListedDestination(destination: d), at: 0)
        case .updateDestination(let key, let d):
            guard let i = index(key) else { return ESRCH }
            if let code = InMemoryIPVSKernel.check(d) { return code }
            guard let j = services[i].destinations.firstIndex(where: { $0.destination.key == d.key }) else { return ENOENT }
            services[i].destinations[j].destination = d
        case .deleteDestination(let key, let d):
            guard let i = index(key) else { return ESRCH }
            guard let j = services[i].destinations.firstIndex(where: { $0.destination.key == d }) else { return ENOENT }
            services[i].destinations.remove(at: j)
        }
        listing.services = services
        return 0
    }

    private static func check(_ d: IPVSDestination) -> Int32? {
        if d.weight < 0 || d.lowerThreshold > d.upperThreshold { return ERANGE }
        if d.forwarding == .tunnel && d.tunnelType == .gue && d.tunnelPort == 0 { return EINVAL }
        return nil
    }

    public func timeouts() throws -> IPVSTimeoutSettings { currentTimeouts }

    public func setTimeouts(_ timeouts: IPVSTimeoutSettings) throws {
        if timeouts.tcp != 0 { currentTimeouts.tcp = timeouts.tcp }
        if timeouts.tcpFin != 0 { currentTimeouts.tcpFin = timeouts.tcpFin }
        if timeouts.udp != 0 { currentTimeouts.udp = timeouts.udp }
    }

    public func syncDaemons() throws -> [IPVSSyncDaemon] { daemons }

    public func startSyncDaemon(_ daemon: IPVSSyncDaemon) throws {
        guard interfaces.contains(daemon.interface) else {
            throw KernelError.ipvsDaemon(start: true, role: daemon.role, interface: daemon.interface, errno: ENODEV)
        }
        guard !daemons.contains(where: { $0.role == daemon.role }) else {
            throw KernelError.ipvsDaemon(start: true, role: daemon.role, interface: daemon.interface, errno: EEXIST)
        }
        // Stored as the kernel stores it: defaults filled in, maxlen clamped (ip_vs_sync.c).
        daemons.append(SyncDaemonRules.effective(daemon, interfaceMTU: mtus[daemon.interface] ?? 1500))
        daemons.sort { $0.role.rawValue < $1.role.rawValue }
    }

    public func stopSyncDaemon(_ role: IPVSSyncDaemon.Role) throws {
        guard let i = daemons.firstIndex(where: { $0.role == role }) else {
            throw KernelError.ipvsDaemon(start: false, role: role, interface: nil, errno: ESRCH)
        }
        daemons.remove(at: i)
    }
}
