/// What the reconcile planner compares: only the fields an operator configures.
///
/// Counters never reach these types, and the kernel-internal service flags (`hashed`, 0x2) are
/// masked off here once more, so a value built by hand with `flags.insert(.hashed)` still compares
/// equal to its configured twin.

extension IPVSService {
    /// True when `other` has the same key and the same configuration: scheduler, configurable
    /// flags, persistence timeout, netmask and persistence engine (an empty engine name is none).
    ///
    /// All of these can be changed on a live service (`IPVS_CMD_SET_SERVICE`, `ipvsadm -E`);
    /// only the key cannot.
    public func hasSameConfiguration(as other: IPVSService) -> Bool {
        key == other.key
            && scheduler == other.scheduler
            && flags.intersection(.configurable) == other.flags.intersection(.configurable)
            && timeout == other.timeout
            && netmask == other.netmask
            && normalizedPersistenceEngine == other.normalizedPersistenceEngine
    }

    /// The persistence engine with "" read as none, as the kernel reports a service without one.
    var normalizedPersistenceEngine: String? {
        guard let engine = persistenceEngine, !engine.isEmpty else { return nil }
        return engine
    }
}

extension IPVSDestination {
    /// True when `other` is the same real server (address, port) with the same configuration:
    /// forwarding method, weight, thresholds and, for tunnels only, the encapsulation.
    ///
    /// The tunnel port takes part only for GUE and the checksum option only for GUE and GRE,
    /// the only cases in which `ipvsadm` lets an operator set them; for other forwarding methods
    /// whatever the kernel reports in those attributes is ignored.
    /// All of these can be changed on a live real server (`IPVS_CMD_SET_DEST`, `ipvsadm -e`).
    public func hasSameConfiguration(as other: IPVSDestination) -> Bool {
        guard key == other.key, forwarding == other.forwarding, weight == other.weight,
              upperThreshold == other.upperThreshold, lowerThreshold == other.lowerThreshold else { return false }
        guard forwarding == .tunnel else { return true }
        guard tunnelType == other.tunnelType else { return false }
        switch tunnelType {
        case .ipip: return true
        case .gre: return tunnelChecksum == other.tunnelChecksum
        case .gue: return tunnelPort == other.tunnelPort && tunnelChecksum == other.tunnelChecksum
        }
    }
}

extension IPVSServiceEntry {
    /// The real server with `key`, if this service has one.
    public func destination(_ key: IPVSDestinationKey) -> IPVSDestination? {
        destinations.first { $0.key == key }
    }
}

extension IPVSTable {
    /// Every service key, in `ipvsadm` order.
    public var serviceKeys: [IPVSServiceKey] { entries.map(\.service.key) }

    /// Entries indexed by service key, for lookups in large tables.
    func entriesByKey() -> [IPVSServiceKey: IPVSServiceEntry] {
        Dictionary(entries.map { ($0.service.key, $0) }, uniquingKeysWith: { first, _ in first })
    }
}
