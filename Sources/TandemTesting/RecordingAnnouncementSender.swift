import Synchronization
import TandemCore

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
