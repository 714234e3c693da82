import Synchronization

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

/// An `AnnouncementSender` for tests: records every send.
public final class RecordingAnnouncementSender: AnnouncementSender {
    private let sent = Mutex<[(VirtualIP, AnnounceSettings.ARPMode)]>([])

    public init() {}

    public func announce(_ vip: VirtualIP, arpMode: AnnounceSettings.ARPMode) throws {
        sent.withLock { $0.append((vip, arpMode)) }
    }

    /// VIPs announced so far, in order.
    public var announced: [VirtualIP] { sent.withLock { $0.map(\.0) } }
    /// ARP modes used so far, in order.
    public var modes: [AnnounceSettings.ARPMode] { sent.withLock { $0.map(\.1) } }
}

/// An `Announcer` for tests of whoever drives it: records begin/end calls, sends nothing.
public final class FakeAnnouncer: Announcer {
    private let calls = Mutex<[String]>([])
    private let active = Mutex<Set<VirtualIP>>([])

    public init() {}

    public func begin(_ vips: [VirtualIP], settings: AnnounceSettings) throws {
        calls.withLock { $0.append("begin " + vips.map(\.prefix.description).joined(separator: ",")) }
        active.withLock { $0.formUnion(vips) }
    }

    public func end(_ vips: [VirtualIP]) {
        calls.withLock { $0.append("end " + vips.map(\.prefix.description).joined(separator: ",")) }
        active.withLock { $0.subtract(vips) }
    }

    public func endAll() {
        calls.withLock { $0.append("endAll") }
        active.withLock { $0.removeAll() }
    }

    /// Calls so far, e.g. `["begin 192.0.2.10/24", "end 192.0.2.10/24"]`.
    public var log: [String] { calls.withLock { $0 } }
    /// VIPs currently being announced.
    public var announcing: Set<VirtualIP> { active.withLock { $0 } }
}
