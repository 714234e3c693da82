import Glibc
import Testing
import TandemCore
@testable import TandemKernel

/// The live scheduler driven with a recording sender and real (short) time.
@Suite struct LiveAnnouncerTests {
    let vip4 = VirtualIP(prefix: IPPrefix("192.0.2.10/24")!, interface: "eth0")
    let vip6 = VirtualIP(prefix: IPPrefix("2001:db8::10/64")!, interface: "eth0")

    func sleep(milliseconds: Int) {
        var t = timespec(tv_sec: milliseconds / 1000, tv_nsec: (milliseconds % 1000) * 1_000_000)
        nanosleep(&t, nil)
    }

    @Test func immediateBurstIsSentBeforeBeginReturnsRoundRobin() throws {
        let sender = RecordingAnnouncementSender()
        let announcer = LiveAnnouncer(sender: sender)
        try announcer.begin([vip4, vip6], settings: AnnounceSettings(repeatCount: 2, secondBurstDelay: nil, arpMode: .reply))
        #expect(sender.announced == [vip4, vip6, vip4, vip6])
        #expect(sender.modes == [.reply, .reply, .reply, .reply])
    }

    @Test func laterSendsFollowTheScheduleAndEndStopsThem() throws {
        let sender = RecordingAnnouncementSender()
        let announcer = LiveAnnouncer(sender: sender)
        let settings = AnnounceSettings(repeatCount: 2, spacing: .milliseconds(30), secondBurstDelay: .milliseconds(150))
        try announcer.begin([vip4], settings: settings)
        #expect(sender.announced.count == 1)
        sleep(milliseconds: 90)
        #expect(sender.announced.count == 2)        // 0 and 30 ms
        sleep(milliseconds: 200)
        #expect(sender.announced.count == 4)        // + 150 and 180 ms
        #expect(announcer.announcing.isEmpty)       // finite schedule ended

        let refresh = AnnounceSettings(repeatCount: 1, secondBurstDelay: nil, refreshInterval: .milliseconds(40))
        try announcer.begin([vip6], settings: refresh)
        sleep(milliseconds: 100)
        announcer.end([vip6])
        let atEnd = sender.announced.count
        #expect(atEnd >= 6 && atEnd <= 7)           // 0, 40, 80 ms (+ maybe none late)
        sleep(milliseconds: 120)
        #expect(sender.announced.count == atEnd)    // nothing after end
    }

    @Test func beginAgainRestartsTheSchedule() throws {
        let sender = RecordingAnnouncementSender()
        let announcer = LiveAnnouncer(sender: sender)
        let settings = AnnounceSettings(repeatCount: 1, secondBurstDelay: .milliseconds(60))
        try announcer.begin([vip4], settings: settings)
        sleep(milliseconds: 30)
        try announcer.begin([vip4], settings: settings)   // second burst now due at 90 ms, not 60
        #expect(sender.announced.count == 2)
        sleep(milliseconds: 45)                           // t = 75 ms: the first campaign's 60 ms timer was cancelled
        #expect(sender.announced.count == 2)
        sleep(milliseconds: 60)
        #expect(sender.announced.count == 3)
    }
}

@Suite struct SecondaryPromotionTests {
    func addr(_ text: String, index: Int32 = 2, secondary: Bool = false) -> InterfaceAddress {
        InterfaceAddress(interfaceIndex: index, interface: "eth0", prefix: IPPrefix(text)!, flags: secondary ? 0x81 : 0x80)
    }

    @Test(arguments: [
        ("primary VIP with a secondary in its subnet", ["192.0.2.10/24", "192.0.2.2/24+s"], true),
        ("VIP is itself secondary", ["192.0.2.2/24", "192.0.2.10/24+s"], false),
        ("alone in its subnet", ["192.0.2.10/24", "198.51.100.1/24"], false),
        ("other address has another prefix length (own primary)", ["192.0.2.10/24", "192.0.2.2/25"], false),
        ("secondary on another interface", ["192.0.2.10/24", "192.0.2.2/24+s@3"], false),
        ("VIP not present", ["192.0.2.2/24", "192.0.2.3/24+s"], false),
    ])
    func wouldTakeSecondaries(name: String, table: [String], expected: Bool) {
        let addresses = table.map { entry -> InterfaceAddress in
            var text = entry
            var index: Int32 = 2
            if let at = text.firstIndex(of: "@") { index = Int32(text[text.index(after: at)...])!; text = String(text[..<at]) }
            let secondary = text.hasSuffix("+s")
            return addr(secondary ? String(text.dropLast(2)) : text, index: index, secondary: secondary)
        }
        let vip = VirtualIP(prefix: IPPrefix("192.0.2.10/24")!, interface: "eth0")
        #expect(LiveAddressTable.wouldTakeSecondaries(vip, interfaceIndex: 2, addresses: addresses) == expected, "\(name)")
    }
}
