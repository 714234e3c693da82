import Glibc
import Testing
import TandemCore
@testable import TandemKernel
import TandemTesting

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

    /// Waits (bounded) until `sender` has recorded at least `count` announcements.
    func waitFor(_ sender: RecordingAnnouncementSender, count: Int, within seconds: Double = 5) -> Bool {
        let deadline = monotonicSeconds() + seconds
        while monotonicSeconds() < deadline {
            if sender.announced.count >= count { return true }
            sleep(milliseconds: 2)
        }
        return false
    }

    func monotonicSeconds() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }

    // Timing is asserted only as order and "nothing after end": the schedule's exact times are
    // tested with a manual clock in AnnounceScheduleTests; this machine is shared and noisy.
    @Test func laterSendsFollowTheScheduleAndEndStopsThem() throws {
        let sender = RecordingAnnouncementSender()
        let announcer = LiveAnnouncer(sender: sender)
        let settings = AnnounceSettings(repeatCount: 2, spacing: .milliseconds(30), secondBurstDelay: .milliseconds(150))
        let start = monotonicSeconds()
        try announcer.begin([vip4], settings: settings)
        #expect(sender.announced.count == 1)
        #expect(waitFor(sender, count: 4))            // 0, 30, 150, 180 ms
        #expect(monotonicSeconds() - start >= 0.18)   // never early
        sleep(milliseconds: 50)
        #expect(sender.announced.count == 4)
        #expect(announcer.announcing.isEmpty)       // finite schedule ended

        let refresh = AnnounceSettings(repeatCount: 1, secondBurstDelay: nil, refreshInterval: .milliseconds(40))
        try announcer.begin([vip6], settings: refresh)
        #expect(waitFor(sender, count: 7))            // the claim and two refreshes
        announcer.end([vip6])
        let atEnd = sender.announced.count
        sleep(milliseconds: 150)
        #expect(sender.announced.count == atEnd)    // nothing after end
    }

    @Test func beginAgainRestartsTheSchedule() throws {
        let sender = RecordingAnnouncementSender()
        let announcer = LiveAnnouncer(sender: sender)
        let settings = AnnounceSettings(repeatCount: 1, secondBurstDelay: .milliseconds(600))
        try announcer.begin([vip4], settings: settings)
        sleep(milliseconds: 200)
        let restart = monotonicSeconds()
        try announcer.begin([vip4], settings: settings)   // second burst now due 600 ms after this
        #expect(sender.announced.count == 2)
        sleep(milliseconds: 500)                          // past the first campaign's (cancelled) 600 ms timer
        if monotonicSeconds() - restart < 0.6 {           // only meaningful if we woke before the new one
            #expect(sender.announced.count == 2)
        }
        #expect(waitFor(sender, count: 3))
        #expect(monotonicSeconds() - restart >= 0.6)
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

/// The live address table against the kernel of this test (no privilege needed: nothing changes).
@Suite struct LiveAddressTableReleaseTests {
    /// A VIP on an interface that does not exist is already absent, not an error to retry.
    @Test func releasingFromAnInterfaceThatDoesNotExistFindsTheVIPAbsent() throws {
        let table = try LiveAddressTable()
        let vip = VirtualIP(prefix: IPPrefix("192.0.2.10/24")!, interface: "tdm-nosuch0")
        #expect(try table.release(vip) == .alreadyAbsent)
        // Claiming it is still an error that names the interface.
        #expect(throws: KernelError.self) { try table.claim(vip) }
    }
}
