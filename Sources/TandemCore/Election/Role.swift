/// The role a node plays in the pair, as the election decides it and as heartbeats carry it.
///
/// The raw values are the wire encoding (one byte); 0 is never valid, so an all-zero packet is
/// rejected rather than read as a role.
public enum Role: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Just started: listening for the peer for up to the dead time before deciding.
    case starting = 1
    /// Healthy and ready to take over; holds no VIPs.
    case standby = 2
    /// Holds the VIPs and serves traffic.
    case active = 3
    /// A tracked interface with `effect: fault` is down; holds no VIPs and never takes over.
    case fault = 4
    /// Pinned to standby by the operator; never takes over.
    case maintenance = 5
    /// Shutting down: handing the VIPs over (if active), then releasing them.
    case stopping = 6

    public var description: String {
        switch self {
        case .starting: return "starting"
        case .standby: return "standby"
        case .active: return "active"
        case .fault: return "fault"
        case .maintenance: return "maintenance"
        case .stopping: return "stopping"
        }
    }

    /// The key under `notify:` of the command this role runs, as log and status lines name it
    /// (`notify stop: …`): `stop` for `stopping`, the role's name otherwise (trial 35: the log
    /// said `notify stopping:`, which a grep for the config key missed). A node in maintenance
    /// without `notify.maintenance` runs the standby's command, still named `maintenance`.
    public var notifyKey: String { self == .stopping ? "stop" : description }
}
