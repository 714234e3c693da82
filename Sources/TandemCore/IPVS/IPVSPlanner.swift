/// The IPVS entries Tandem answers for: service keys and (service, real server) pairs.
///
/// The kernel's table is shared: an operator may add a service with `ipvsadm -A`, or a real server
/// by hand under a service Tandem made. The planner touches only what this value names (plus
/// whatever the desired table names, which it is about to own anyway), so everything else
/// survives every plan.
///
/// The caller builds it from configuration, not from health: a real server that a failed check
/// took out of the desired table is still owned, so the planner removes it from the kernel. On a
/// reload, pass the union of the old and the new configuration's tables, so that entries dropped
/// from the configuration are removed too.
public struct IPVSOwnership: Sendable, Hashable {
    /// A real server within a service, as ownership names it.
    public struct Destination: Sendable, Hashable, Comparable, CustomStringConvertible {
        public var service: IPVSServiceKey
        public var destination: IPVSDestinationKey

        public init(service: IPVSServiceKey, destination: IPVSDestinationKey) {
            self.service = service
            self.destination = destination
        }

        public var description: String { "\(destination) of \(service)" }

        public static func < (lhs: Self, rhs: Self) -> Bool {
            (lhs.service, lhs.destination) < (rhs.service, rhs.destination)
        }
    }

    public var services: Set<IPVSServiceKey>
    public var destinations: Set<Destination>

    public init(services: Set<IPVSServiceKey> = [], destinations: Set<Destination> = []) {
        self.services = services
        self.destinations = destinations
    }

    /// Owns every service and every real server of `table`.
    public init(_ table: IPVSTable) {
        var services = Set<IPVSServiceKey>(minimumCapacity: table.entries.count)
        var destinations = Set<Destination>()
        for entry in table.entries {
            services.insert(entry.service.key)
            for destination in entry.destinations {
                destinations.insert(Destination(service: entry.service.key, destination: destination.key))
            }
        }
        self.init(services: services, destinations: destinations)
    }

    /// Owns nothing: every entry of an observed table is foreign.
    public static let nothing = IPVSOwnership()

    public func union(_ other: IPVSOwnership) -> IPVSOwnership {
        IPVSOwnership(services: services.union(other.services), destinations: destinations.union(other.destinations))
    }

    public func owns(_ service: IPVSServiceKey) -> Bool { services.contains(service) }

    public func owns(_ destination: IPVSDestinationKey, of service: IPVSServiceKey) -> Bool {
        destinations.contains(Destination(service: service, destination: destination))
    }
}

/// Computes the changes that turn the kernel's IPVS table into the desired one, touching only
/// what Tandem owns. Pure: tables in, changes out; `TandemKernel` applies them.
///
/// One planner serves start-up (a matching table is adopted with zero writes: no flush, no
/// dropped connections), reload, health changes and periodic drift repair (an owned entry edited
/// with `ipvsadm -e` or deleted with `ipvsadm -d` behind Tandem's back differs from the desired
/// table, so the next plan restores it).
///
/// Rules:
/// - Identity: a service is its key, (family, fwmark) or (family, protocol, address, port); a real
///   server is (family, address, port) within its service. Only configured fields are compared
///   (`hasSameConfiguration(as:)`); counters and the kernel's `hashed` flag never take part.
/// - In place: a changed service (scheduler, flags, persistence timeout, netmask, engine) gives
///   `updateService`, a changed real server (forwarding, weight, thresholds, tunnel) gives
///   `updateDestination`. Never delete-and-add, which would drop live connections.
/// - Ownership: an entry that is neither desired nor owned is foreign and never touched. An owned
///   entry that is not desired is deleted.
/// - An owned service that is no longer desired but still has foreign real servers (added by hand)
///   is kept, with its scheduler and flags as observed; only its owned real servers are deleted.
///   Deleting it would delete the operator's real servers with it.
/// - An owned service that is deleted is deleted alone: the kernel removes its real servers with
///   it (`ip_vs_ctl.c` `__ip_vs_del_service` unlinks every dest), so listing them first would only
///   add writes. Explicit real-server deletions are emitted only for services that stay.
///
/// Order (deterministic): services in key order (`ipvsadm` order); for each service, its own
/// change first when it is added or updated, then its real servers: deletions, then updates and
/// additions in real-server key order. A service is thus created or updated before its real
/// servers change, and no real-server change ever follows its service's deletion.
public enum IPVSPlanner {
    /// The smallest ordered change list that makes `observed` match `desired` on every entry
    /// that is desired or owned, leaving every other entry as it is.
    public static func plan(desired: IPVSTable, observed: IPVSTable, owned: IPVSOwnership) -> [IPVSChange] {
        let desiredByKey = desired.entriesByKey()
        let observedByKey = observed.entriesByKey()
        let keys = Set(desiredByKey.keys).union(observedByKey.keys).sorted()
        var changes: [IPVSChange] = []
        changes.reserveCapacity(desired.entries.count)

        for key in keys {
            switch (desiredByKey[key], observedByKey[key]) {
            case (let wanted?, nil):
                changes.append(.addService(wanted.service))
                for destination in wanted.destinations {
                    changes.append(.addDestination(key, destination))
                }

            case (let wanted?, let present?):
                if !wanted.service.hasSameConfiguration(as: present.service) {
                    changes.append(.updateService(wanted.service))
                }
                planDestinations(of: key, desired: wanted.destinations, observed: present.destinations,
                                 owned: owned, into: &changes)

            case (nil, let present?):
                guard owned.owns(key) else {
                    // A foreign service keeps its own real servers; but a real server Tandem owns
                    // under it (and no longer wants) is still Tandem's to remove.
                    planDestinations(of: key, desired: [], observed: present.destinations,
                                     owned: owned, into: &changes)
                    continue
                }
                let foreign = present.destinations.filter { !owned.owns($0.key, of: key) }
                if foreign.isEmpty {
                    changes.append(.deleteService(key))
                } else {
                    planDestinations(of: key, desired: [], observed: present.destinations,
                                     owned: owned, into: &changes)
                }

            case (nil, nil):
                continue
            }
        }
        return changes
    }

    /// Real-server changes within one service that exists (or is being kept): deletions of owned,
    /// undesired real servers first, then updates and additions in key order. Both arrays are in
    /// key order (`IPVSTable` sorts them).
    private static func planDestinations(of service: IPVSServiceKey, desired: [IPVSDestination],
                                         observed: [IPVSDestination], owned: IPVSOwnership,
                                         into changes: inout [IPVSChange]) {
        var observedByKey = [IPVSDestinationKey: IPVSDestination](minimumCapacity: observed.count)
        for destination in observed { observedByKey[destination.key] = destination }
        let desiredKeys = Set(desired.map(\.key))

        for destination in observed where !desiredKeys.contains(destination.key) {
            if owned.owns(destination.key, of: service) {
                changes.append(.deleteDestination(service, destination.key))
            }
        }
        for destination in desired {
            if let present = observedByKey[destination.key] {
                if !destination.hasSameConfiguration(as: present) {
                    changes.append(.updateDestination(service, destination))
                }
            } else {
                changes.append(.addDestination(service, destination))
            }
        }
    }
}

/// Counts of a plan's changes by kind, for logs and `tandemctl ipvs apply --dry-run`.
public struct IPVSPlanSummary: Sendable, Hashable, CustomStringConvertible {
    public var servicesAdded = 0
    public var servicesUpdated = 0
    public var servicesDeleted = 0
    public var destinationsAdded = 0
    public var destinationsUpdated = 0
    public var destinationsDeleted = 0

    public init(servicesAdded: Int = 0, servicesUpdated: Int = 0, servicesDeleted: Int = 0,
                destinationsAdded: Int = 0, destinationsUpdated: Int = 0, destinationsDeleted: Int = 0) {
        self.servicesAdded = servicesAdded
        self.servicesUpdated = servicesUpdated
        self.servicesDeleted = servicesDeleted
        self.destinationsAdded = destinationsAdded
        self.destinationsUpdated = destinationsUpdated
        self.destinationsDeleted = destinationsDeleted
    }

    public init(_ changes: some Sequence<IPVSChange>) {
        self.init()
        for change in changes {
            switch change {
            case .addService: servicesAdded += 1
            case .updateService: servicesUpdated += 1
            case .deleteService: servicesDeleted += 1
            case .addDestination: destinationsAdded += 1
            case .updateDestination: destinationsUpdated += 1
            case .deleteDestination: destinationsDeleted += 1
            }
        }
    }

    /// Number of changes, which is the number of kernel writes applying them takes.
    public var total: Int {
        servicesAdded + servicesUpdated + servicesDeleted + destinationsAdded + destinationsUpdated + destinationsDeleted
    }

    public var isEmpty: Bool { total == 0 }

    /// `no changes`, or e.g. `2 services added, 1 real server updated`.
    public var description: String {
        if isEmpty { return "no changes" }
        func phrase(_ count: Int, _ noun: String, _ verb: String) -> String? {
            count == 0 ? nil : "\(count) \(noun)\(count == 1 ? "" : "s") \(verb)"
        }
        return [
            phrase(servicesAdded, "service", "added"),
            phrase(servicesUpdated, "service", "updated"),
            phrase(servicesDeleted, "service", "deleted"),
            phrase(destinationsAdded, "real server", "added"),
            phrase(destinationsUpdated, "real server", "updated"),
            phrase(destinationsDeleted, "real server", "deleted"),
        ].compactMap { $0 }.joined(separator: ", ")
    }
}

extension IPVSChange {
    /// The change in `ipvsadm` notation, prefixed `+` (add), `~` (update) or `-` (delete):
    /// `+ -A -t 10.0.0.1:80 -s wlc`, `~ -e -t 10.0.0.1:80 -r 192.168.1.2:80 -m -w 3`,
    /// `- -D -f 7 -6`. Options follow `ipvsadm -S -n`, plus `-x`/`-y` for non-zero thresholds,
    /// so that the line can be pasted into `ipvsadm`.
    public var ipvsadmNotation: String {
        switch self {
        case .addService(let service):
            return "+ -A " + IPVSAdmNotation.serviceRule(service)
        case .updateService(let service):
            return "~ -E " + IPVSAdmNotation.serviceRule(service)
        case .deleteService(let key):
            return "- -D " + IPVSAdmNotation.serviceSwitch(key)
        case .addDestination(let key, let destination):
            return "+ -a " + IPVSAdmNotation.destinationRule(destination, of: key)
        case .updateDestination(let key, let destination):
            return "~ -e " + IPVSAdmNotation.destinationRule(destination, of: key)
        case .deleteDestination(let key, let destination):
            return "- -d \(IPVSAdmNotation.serviceSwitch(key)) -r \(destination)"
        }
    }
}

extension IPVSPlanner {
    /// A plan for people: one `ipvsadm`-notation line per change, then the summary, e.g.
    /// ```
    /// + -A -t 10.0.0.1:80 -s wlc
    /// + -a -t 10.0.0.1:80 -r 192.168.1.2:80 -m -w 1
    /// 1 service added, 1 real server added
    /// ```
    /// An empty plan renders as the single line `no changes`.
    public static func render(_ changes: [IPVSChange]) -> String {
        (changes.map(\.ipvsadmNotation) + [IPVSPlanSummary(changes).description])
            .map { $0 + "\n" }.joined()
    }
}
