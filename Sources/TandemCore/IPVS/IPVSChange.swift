/// One change to the kernel's IPVS table, as the reconcile planner emits it.
public enum IPVSChange: Sendable, Hashable, CustomStringConvertible {
    case addService(IPVSService)
    case updateService(IPVSService)
    case deleteService(IPVSServiceKey)
    case addDestination(IPVSServiceKey, IPVSDestination)
    case updateDestination(IPVSServiceKey, IPVSDestination)
    case deleteDestination(IPVSServiceKey, IPVSDestinationKey)

    public var description: String {
        switch self {
        case .addService(let s): return "add service \(s.key)"
        case .updateService(let s): return "update service \(s.key)"
        case .deleteService(let k): return "delete service \(k)"
        case .addDestination(let k, let d): return "add real server \(d.key) to \(k)"
        case .updateDestination(let k, let d): return "update real server \(d.key) of \(k)"
        case .deleteDestination(let k, let d): return "delete real server \(d) from \(k)"
        }
    }
}
