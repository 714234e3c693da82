/// Sends one announcement of a VIP on its interface, now: a gratuitous ARP for IPv4, an
/// unsolicited neighbour advertisement for IPv6.
public protocol AnnouncementSender: Sendable {
    func announce(_ vip: VirtualIP, arpMode: AnnounceSettings.ARPMode) throws
}

/// Runs the announcement schedule of claimed VIPs.
///
/// `begin` makes the sends due at the claim (offset 0) before it returns, so the first
/// announcement leaves without waiting for a timer; the rest follow the `AnnounceSchedule`.
/// Calling `begin` again for a VIP restarts its schedule (a re-announce after a split brain).
public protocol Announcer: Sendable {
    /// Starts announcing `vips`; throws only when an immediate send failed (the schedule still runs).
    func begin(_ vips: [VirtualIP], settings: AnnounceSettings) throws
    /// Stops announcing `vips` (on release).
    func end(_ vips: [VirtualIP])
    /// Stops everything.
    func endAll()
}
