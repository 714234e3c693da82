import Glibc
import TandemCore

/// Turning the kernel's errno for an IPVS request into a `KernelError` that names the service or
/// real server and the likely fix. The situations come from `ip_vs_ctl.c` and `ip_vs_sync.c`
/// (kernel-interfaces.md §1.5): EEXIST, ESRCH and ENOENT mean different things per command.
extension KernelError {
    /// The error for `change` failing with `errno`.
    public static func ipvs(_ change: IPVSChange, errno: Int32) -> KernelError {
        let (operation, object) = ipvsNames(change)
        return KernelError(operation: operation, object: object, errno: errno, hint: ipvsHint(change, errno: errno))
    }

    /// The error for starting or stopping a sync daemon failing with `errno`.
    public static func ipvsDaemon(start: Bool, role: IPVSSyncDaemon.Role, interface: String?, errno: Int32) -> KernelError {
        let object = interface.map { "\(role) sync daemon on \($0)" } ?? "\(role) sync daemon"
        let hint: String?
        switch (start, errno) {
        case (true, EEXIST): hint = "a \(role) sync daemon is already running; stop it first (ipvsadm --stop-daemon \(role))"
        case (false, ESRCH): hint = "no \(role) sync daemon is running"
        case (_, ENODEV): hint = "interface \(interface ?? "?") does not exist; check the sync interface name (ip link)"
        case (_, EINVAL): hint = "the kernel rejected the daemon settings: sync is refused while mixed-family real servers exist; check maxlen, group and ttl"
        case (_, EPERM): hint = "changing IPVS needs CAP_NET_ADMIN: run as root"
        default: hint = nil
        }
        return KernelError(operation: start ? "start" : "stop", object: object, errno: errno, hint: hint)
    }

    static func ipvsNames(_ change: IPVSChange) -> (String, String) {
        switch change {
        case .addService(let s): return ("create service", s.key.description)
        case .updateService(let s): return ("update service", s.key.description)
        case .deleteService(let k): return ("delete service", k.description)
        case .addDestination(let k, let d): return ("add real server", "\(d.key) to \(k)")
        case .updateDestination(let k, let d): return ("update real server", "\(d.key) of \(k)")
        case .deleteDestination(let k, let d): return ("delete real server", "\(d) from \(k)")
        }
    }

    static func ipvsHint(_ change: IPVSChange, errno: Int32) -> String? {
        switch (change, errno) {
        case (_, EPERM):
            return "changing IPVS needs CAP_NET_ADMIN: run as root"
        case (_, EAFNOSUPPORT):
            return "this kernel's IPVS lacks the address family (IPv6 needs CONFIG_IP_VS_IPV6)"
        case (.addService(let s), EEXIST):
            return "service \(s.key) already exists (created outside this plan?); reconcile again to adopt it"
        case (.addService(let s), ENOENT), (.updateService(let s), ENOENT):
            if let engine = s.persistenceEngine {
                return "scheduler module ip_vs_\(s.scheduler) or persistence engine ip_vs_pe_\(engine) missing: modprobe ip_vs_\(s.scheduler) ip_vs_pe_\(engine)"
            }
            return "scheduler module ip_vs_\(s.scheduler) missing: modprobe ip_vs_\(s.scheduler)"
        case (.addService, EINVAL), (.updateService, EINVAL):
            return "the kernel rejected the service attributes: an IPv6 persistence netmask must be a prefix length 1-128 and the scheduler name at most 15 characters"
        case (.updateService(let s), ESRCH):
            return "service \(s.key) does not exist (deleted behind Tandem's back?); reconcile again to re-create it"
        case (.deleteService(let k), ESRCH):
            return "service \(k) does not exist any more; nothing to delete"
        case (.addDestination(let k, _), ESRCH), (.updateDestination(let k, _), ESRCH), (.deleteDestination(let k, _), ESRCH):
            return "service \(k) does not exist; create the service before its real servers"
        case (.addDestination(let k, let d), EEXIST):
            return "real server \(d.key) is already in \(k); reconcile again to adopt it"
        case (.updateDestination(let k, let d), ENOENT):
            return "real server \(d.key) is not in \(k) (removed behind Tandem's back?); reconcile again to re-add it"
        case (.deleteDestination(let k, let d), ENOENT):
            return "real server \(d) is not in \(k) any more; nothing to delete"
        case (.addDestination, ERANGE), (.updateDestination, ERANGE):
            return "weight must be 0 or more and the lower threshold at most the upper threshold"
        case (.addDestination(_, let d), EINVAL), (.updateDestination(_, let d), EINVAL):
            if d.forwarding == .tunnel && d.tunnelType == .gue && d.tunnelPort == 0 {
                return "a GUE tunnel needs a non-zero tunnel port"
            }
            return "the kernel rejected the real server: its address must be unicast, its family must match the service's (except for tunnels), and no mixed-family servers are allowed while a sync daemon runs"
        default:
            return nil
        }
    }
}
