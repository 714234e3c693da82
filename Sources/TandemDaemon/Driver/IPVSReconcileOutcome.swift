import TandemCore

/// What one IPVS reconcile did, as `KernelWorker` reports it to its observer (the metrics).
public struct IPVSReconcileOutcome: Sendable, Hashable {
    /// The periodic drift check (`tandemd --repair-interval`), not a reconcile an event asked for.
    public var periodic: Bool
    /// From dumping the table to the last write's answer (monotonic).
    public var duration: Duration = .zero
    /// Changes the kernel accepted, in order.
    public var applied: [IPVSChange] = []
    /// The errno name ("EEXIST") of each change the kernel refused, and of a dump or timeout
    /// call that failed; "other" for a failure without an errno.
    public var errors: [String] = []
    /// The reconcile stopped at an error (the table could not be read or written at all).
    public var failed = false

    public init(periodic: Bool) { self.periodic = periodic }

    /// "unchanged" (table already matched), "applied" (every change written), "partial" (some
    /// refused) or "failed".
    public var result: String {
        if failed { return "failed" }
        if !errors.isEmpty { return "partial" }
        return applied.isEmpty ? "unchanged" : "applied"
    }
}

extension IPVSChange {
    /// A bounded label value for the kind of change: `add_service`, `update_real_server`, ….
    public var kindLabel: String {
        switch self {
        case .addService: return "add_service"
        case .updateService: return "update_service"
        case .deleteService: return "delete_service"
        case .addDestination: return "add_real_server"
        case .updateDestination: return "update_real_server"
        case .deleteDestination: return "delete_real_server"
        }
    }
}
