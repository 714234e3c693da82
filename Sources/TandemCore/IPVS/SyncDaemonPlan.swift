/// What the kernel makes of a sync daemon's parameters, and the writes that bring the kernel's
/// sync daemons to the ones a config and a role ask for. Pure: the caller reads the kernel
/// (`IPVS_CMD_GET_DAEMON`) and the interface's MTU and carries out the returned actions.
///
/// Source of the rules: `start_sync_thread` in net/netfilter/ipvs/ip_vs_sync.c (Linux 4.3 and
/// later): an unset group becomes 224.0.0.81 (IPv4), an unset port 8848, an unset TTL 1. The
/// message length `sync_maxlen` is clamped to [1, 65535 − hlen] for a master and to
/// [1024, 65535 − hlen] for a backup, where hlen is the IP and UDP header length of the group's
/// family (28 bytes IPv4, 48 IPv6); unset, it is 1500 − hlen for a master and
/// clamp(MTU, 1500, 65535) − hlen for a backup. GET_DAEMON reports these stored values, so a
/// desired daemon is compared with the kernel's only after the same rules are applied to it:
/// a backup asked for `max_length: 512` runs with 1024, and that is no difference.
public enum SyncDaemonRules {
    /// `IP_VS_SYNC_GROUP` (ip_vs_sync.c).
    public static let defaultGroup = IPAddress("224.0.0.81")!
    /// `IP_VS_SYNC_PORT` (ip_vs_sync.c).
    public static let defaultPort: UInt16 = 8848
    public static let defaultTTL: UInt8 = 1
    /// Smallest `sync_maxlen` a backup accepts; smaller values are raised to this (ip_vs_sync.c `min_mtu`).
    public static let backupMinimumLength = 1024

    /// IP + UDP header bytes of a sync message to `group` (nil: the IPv4 default group).
    public static func headerLength(group: IPAddress?) -> Int { group?.family == .ipv6 ? 48 : 28 }

    /// The daemon as the kernel stores and reports it after starting `requested`: defaults filled
    /// in and the message length clamped. `interfaceMTU` is the MTU of `requested.interface`
    /// in bytes; when it is unknown and a backup's length is unset, the length stays nil
    /// (unknown, compared with nothing).
    public static func effective(_ requested: IPVSSyncDaemon, interfaceMTU: Int?) -> IPVSSyncDaemon {
        var d = requested
        let hlen = headerLength(group: requested.group)
        if d.group == nil { d.group = defaultGroup }
        if d.port == nil || d.port == 0 { d.port = defaultPort }
        if d.ttl == nil || d.ttl == 0 { d.ttl = defaultTTL }
        let floor = requested.role == .backup ? backupMinimumLength : 1
        if let asked = requested.maxLength, asked != 0 {
            d.maxLength = UInt16(min(max(Int(asked), floor), 65535 - hlen))
        } else if requested.role == .master {
            d.maxLength = UInt16(1500 - hlen)
        } else if let mtu = interfaceMTU {
            d.maxLength = UInt16(min(max(mtu, 1500), 65535) - hlen)
        } else {
            d.maxLength = nil
        }
        return d
    }

    /// Whether the kernel's `observed` daemon is `desired` (already `effective`). A value the
    /// kernel does not report (older kernels have no maxlen, port, TTL or group) is not compared.
    public static func matches(_ desired: IPVSSyncDaemon, observed: IPVSSyncDaemon) -> Bool {
        func same<T: Equatable>(_ a: T?, _ b: T?) -> Bool {
            guard let a, let b else { return true }
            return a == b
        }
        return desired.role == observed.role && desired.interface == observed.interface
            && desired.syncID == observed.syncID && same(desired.maxLength, observed.maxLength)
            && same(desired.group, observed.group) && same(desired.port, observed.port)
            && same(desired.ttl, observed.ttl)
    }
}

extension SyncSettings {
    /// The daemon this config asks for in `role`, as `ipvsadm --start-daemon` would be given it.
    public func daemon(role: IPVSSyncDaemon.Role) -> IPVSSyncDaemon {
        IPVSSyncDaemon(role: role, interface: interface, syncID: UInt32(syncID), maxLength: maxLength,
                       group: group, port: port, ttl: ttl)
    }
}

/// The sync-daemon writes for one node: run the daemon its role asks for, with the config's
/// parameters, and nothing else.
public enum SyncDaemonPlan {
    /// One write to the kernel, in the order given.
    public enum Action: Sendable, Hashable, CustomStringConvertible {
        /// `IPVS_CMD_DEL_DAEMON` of the daemon running in this role.
        case stop(IPVSSyncDaemon)
        /// `IPVS_CMD_NEW_DAEMON`.
        case start(IPVSSyncDaemon)

        public var description: String {
            switch self {
            case .stop(let d): return "stop \(d)"
            case .start(let d): return "start \(d)"
            }
        }
    }

    /// The kernel role for a node's role: the active sends (master), every other role receives
    /// (backup), so a standby holds the connections it would need when it takes over.
    public static func kernelRole(for role: Role) -> IPVSSyncDaemon.Role {
        role == .active ? .master : .backup
    }

    /// The writes that take `running` (GET_DAEMON) to `desired`.
    ///
    /// - Parameters:
    ///   - desired: the daemon to run (`SyncSettings.daemon(role:)`), nil for none.
    ///   - managed: whether Tandem manages the sync daemons: the config has `sync:`, or had it
    ///     before a reload removed it (then its daemons are stopped). When false nothing is
    ///     touched, so daemons an operator started by hand survive a config without `sync:`.
    ///   - running: the kernel's daemons now.
    ///   - interfaceMTU: MTU of `desired.interface` in bytes, nil when unknown.
    ///   - startedAs: what the kernel reported right after Tandem last started `desired`, when
    ///     that differed from `SyncDaemonRules.effective` (a kernel with other rules). A daemon
    ///     reported exactly so is the one Tandem started: never restarted for that difference,
    ///     so a wrong prediction cannot become a restart loop.
    /// - Returns: stops first (a daemon in the other role, or one whose parameters differ from
    ///   `desired` after the kernel's clamping), then the start; empty when the kernel matches.
    public static func actions(desired: IPVSSyncDaemon?, managed: Bool, running: [IPVSSyncDaemon],
                               interfaceMTU: Int?, startedAs: IPVSSyncDaemon? = nil) -> [Action] {
        guard managed else { return [] }
        let wanted = desired.map { SyncDaemonRules.effective($0, interfaceMTU: interfaceMTU) }
        var actions: [Action] = []
        var satisfied = false
        for daemon in running.sorted(by: { $0.role.rawValue < $1.role.rawValue }) {
            if let wanted, !satisfied, SyncDaemonRules.matches(wanted, observed: daemon) || daemon == startedAs {
                satisfied = true
            } else {
                actions.append(.stop(daemon))
            }
        }
        if let desired, !satisfied { actions.append(.start(desired)) }
        return actions
    }
}
