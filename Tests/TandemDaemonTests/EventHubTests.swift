import Testing
import TandemCore
import TandemTesting
@testable import TandemDaemon

@Suite("Event hub")
struct EventHubTests {
    @Test func subscribersGetEventsInOrderAndLeaveWhenDone() async {
        let hub = EventHub()
        hub.publish(.role, "before anyone listens")
        let stream = hub.subscribe()
        #expect(hub.subscriberCount == 1)
        hub.publish(.role, "a: standby -> active: b silent")
        hub.publish(.peer, "b lost")
        var seen: [String] = []
        for await event in stream {
            seen.append("\(event.kind.rawValue) \(event.message)")
            if seen.count == 2 { break }
        }
        #expect(seen == ["role a: standby -> active: b silent", "peer b lost"])
        let replayed = hub.subscribe(replay: true)
        var first: ControlEvent?
        for await event in replayed { first = event; break }
        #expect(first?.message == "before anyone listens")
    }

    @Test func eventTimesComeFromTheDaemonsClock() async {
        let clock = ManualClock(wallNanoseconds: 1_764_460_800_123_000_000)
        let hub = EventHub(clock: clock)
        let stream = hub.subscribe()
        hub.publish(.control, "first")
        clock.stepWallClock(to: 1_764_460_860_000_000_000)
        hub.publish(.control, "after a step of the wall clock")
        var times: [String] = []
        for await event in stream {
            times.append(event.time)
            if times.count == 2 { break }
        }
        #expect(times == [ControlTime.iso8601(nanosecondsSinceEpoch: 1_764_460_800_123_000_000),
                          ControlTime.iso8601(nanosecondsSinceEpoch: 1_764_460_860_000_000_000)])
    }

    @Test func aReaderThatNeverReadsKeepsOnlyTheNewest() async {
        let hub = EventHub()
        let stream = hub.subscribe()
        for n in 0..<5000 { hub.publish(.health, "\(n)") }
        hub.finish()
        var messages: [String] = []
        for await event in stream { messages.append(event.message) }
        #expect(messages.count == 1000)
        #expect(messages.first == "4000" && messages.last == "4999")
        #expect(hub.subscriberCount == 0)
    }
}
