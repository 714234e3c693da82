import Testing
import TandemCore
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
