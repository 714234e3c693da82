/// Watches links and addresses and reports `RouteWatchEvent`s to the handler it was made with:
/// a tracked interface going down or up, a tracked VIP removed (by Tandem, by someone else or by
/// the kernel), and overruns after which the state was re-read.
public protocol RouteMonitor: Sendable {
    /// Watches `vip` from now on; `present` says whether it is on its interface now.
    func track(_ vip: VirtualIP, present: Bool)
    /// Stops watching `vip`.
    func untrack(_ vip: VirtualIP)
    /// Tandem is about to add (`present: true`) or remove `vip`: attribute the change to Tandem
    /// (needed for IPv6, whose notifications do not name the requesting socket).
    func expect(_ vip: VirtualIP, present: Bool)
    /// The expected change did not happen (no-op or failure).
    func cancelExpectation(_ vip: VirtualIP)
    /// Stops the monitor; no handler call starts after this returns.
    func stop()
}
