import TandemCore

/// An `AnnouncementSender` that counts what it hands on (each gratuitous ARP or unsolicited
/// neighbour advertisement, sent or failed, per VIP) into `MetricsEvents`, then delegates.
public struct CountingAnnouncementSender: AnnouncementSender {
    private let sender: any AnnouncementSender
    private let events: MetricsEvents

    public init(_ sender: any AnnouncementSender, events: MetricsEvents) {
        self.sender = sender
        self.events = events
    }

    public func announce(_ vip: VirtualIP, arpMode: AnnounceSettings.ARPMode) throws {
        do {
            try sender.announce(vip, arpMode: arpMode)
            events.announced(vip, succeeded: true)
        } catch {
            events.announced(vip, succeeded: false)
            throw error
        }
    }
}
