import Testing
@testable import TandemCore

private func offsets(_ sends: [AnnounceSchedule.Send]) -> [UInt64] { sends.map(\.offset.milliseconds) }

@Suite struct AnnounceScheduleTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var settings: AnnounceSettings
        var from: UInt64
        var until: UInt64
        var expected: [UInt64]
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "defaults: 5 at once, 5 more after 5 s",
             settings: AnnounceSettings(), from: 0, until: 60_000,
             expected: [0, 0, 0, 0, 0, 5000, 5000, 5000, 5000, 5000]),
        Case(name: "spaced burst, no second burst",
             settings: AnnounceSettings(repeatCount: 3, spacing: .milliseconds(100), secondBurstDelay: nil),
             from: 0, until: 10_000, expected: [0, 100, 200]),
        Case(name: "second burst delay 0 means none (keepalived)",
             settings: AnnounceSettings(repeatCount: 2, spacing: .milliseconds(10), secondBurstDelay: .milliseconds(0)),
             from: 0, until: 10_000, expected: [0, 10]),
        Case(name: "refresh after second burst: delay + k·interval",
             settings: AnnounceSettings(repeatCount: 1, secondBurstDelay: .seconds(2), refreshInterval: .seconds(10),
                                        refreshRepeat: 2),
             from: 0, until: 32_001, expected: [0, 2000, 12_000, 12_000, 22_000, 22_000, 32_000, 32_000]),
        Case(name: "refresh without second burst starts at one interval",
             settings: AnnounceSettings(repeatCount: 2, spacing: .milliseconds(50), secondBurstDelay: nil,
                                        refreshInterval: .milliseconds(300), refreshRepeat: 1),
             from: 0, until: 1000, expected: [0, 50, 300, 600, 900]),
        Case(name: "window in the middle is half-open [from, until)",
             settings: AnnounceSettings(repeatCount: 2, spacing: .milliseconds(50), secondBurstDelay: nil,
                                        refreshInterval: .milliseconds(300), refreshRepeat: 1),
             from: 300, until: 900, expected: [300, 600]),
        Case(name: "window deep into refresh with spaced refresh bursts",
             settings: AnnounceSettings(repeatCount: 1, spacing: .milliseconds(20), secondBurstDelay: nil,
                                        refreshInterval: .milliseconds(1000), refreshRepeat: 3),
             from: 100_030, until: 101_050, expected: [100_040, 101_000, 101_020, 101_040]),
        Case(name: "bursts overlapping merge in time order",
             settings: AnnounceSettings(repeatCount: 3, spacing: .milliseconds(40), secondBurstDelay: .milliseconds(50)),
             from: 0, until: 1000, expected: [0, 40, 50, 80, 90, 130]),
        Case(name: "nothing at all",
             settings: AnnounceSettings(repeatCount: 0, secondBurstDelay: nil, refreshInterval: .seconds(1), refreshRepeat: 0),
             from: 0, until: 100_000, expected: []),
        Case(name: "empty window",
             settings: AnnounceSettings(), from: 10, until: 10, expected: []),
    ]

    @Test(arguments: cases)
    func sendTimes(_ c: Case) {
        let schedule = AnnounceSchedule(c.settings)
        #expect(offsets(schedule.sends(from: .milliseconds(c.from), until: .milliseconds(c.until))) == c.expected)
    }

    @Test func burstsAreLabelled() {
        let s = AnnounceSchedule(AnnounceSettings(repeatCount: 2, spacing: .milliseconds(5), secondBurstDelay: .milliseconds(100),
                                                  refreshInterval: .milliseconds(1000), refreshRepeat: 1))
        let sends = s.sends(from: .milliseconds(0), until: .milliseconds(2101))
        #expect(sends.map(\.burst) == [.initial, .initial, .second, .second, .refresh(1), .refresh(2)])
        #expect(sends.map(\.index) == [0, 1, 0, 1, 0, 0])
        #expect(offsets(sends) == [0, 5, 100, 105, 1100, 2100])
    }

    /// Walks the schedule the way the live scheduler does, with a manual clock: at each step it
    /// asks for the next send at or after "now", "sends" it, and moves the clock to just past it.
    @Test func manualClockWalkMatchesWindow() {
        let settings = AnnounceSettings(repeatCount: 3, spacing: .milliseconds(7), secondBurstDelay: .milliseconds(500),
                                        refreshInterval: .milliseconds(2000), refreshRepeat: 2)
        let schedule = AnnounceSchedule(settings)
        var now: UInt64 = 0
        var walked: [AnnounceSchedule.Send] = []
        while walked.count < 40, let next = schedule.next(atOrAfter: .milliseconds(now)) {
            #expect(next.offset.milliseconds >= now)
            walked.append(next)
            now = next.offset.milliseconds
            // Several sends can share one offset: consume all of them before moving on.
            let same = schedule.sends(from: next.offset, until: .milliseconds(now + 1))
            walked.removeLast()
            walked += same
            now += 1
        }
        let window = schedule.sends(from: .milliseconds(0), until: .milliseconds(now))
        #expect(walked == window)
        #expect(Array(offsets(walked).prefix(10)) == [0, 7, 14, 500, 507, 514, 2500, 2507, 4500, 4507])
    }

    @Test func finiteScheduleEnds() {
        let s = AnnounceSchedule(AnnounceSettings(repeatCount: 2, spacing: .milliseconds(10), secondBurstDelay: .seconds(1)))
        #expect(!s.isInfinite)
        #expect(s.lastOffset == .milliseconds(1010))
        #expect(s.next(atOrAfter: .milliseconds(1011)) == nil)
        #expect(s.next(atOrAfter: .milliseconds(1001))?.offset == .milliseconds(1010))
        let r = AnnounceSchedule(AnnounceSettings(refreshInterval: .seconds(30)))
        #expect(r.isInfinite)
        #expect(r.lastOffset == nil)
        #expect(r.next(atOrAfter: .seconds(3600))?.offset == .milliseconds(3_605_000))
    }
}
