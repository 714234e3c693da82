import Foundation
import Testing
import TandemCore

@Suite struct RouteWatchEventJSONTests {
    @Test func linkEventEscapesAQuoteInTheInterfaceName() throws {
        let text = RouteWatchEvent.linkDown(interface: #"eth"0"#).json(timestampNanoseconds: 5).compactText
        #expect(text == #"{"event":"link_down","interface":"eth\"0","ts_ns":5}"#)
        let parsed = try #require(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(parsed["interface"] as? String == #"eth"0"#)
    }

    @Test func vipEventEscapesQuoteAndBackslash() throws {
        let vip = VirtualIP(prefix: try #require(IPPrefix("192.0.2.10/24")), interface: #"a"b\c"#, label: nil)
        let text = RouteWatchEvent.vipRemoved(vip, origin: .foreign).json(timestampNanoseconds: 1_700_000_000_000_000_000).compactText
        #expect(text == #"{"event":"vip_removed","interface":"a\"b\\c","origin":"foreign","ts_ns":1700000000000000000,"vip":"192.0.2.10/24"}"#)
        let parsed = try #require(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(parsed["interface"] as? String == #"a"b\c"#)
    }

    @Test func eventsWithoutNames() {
        #expect(RouteWatchEvent.overrun.json(timestampNanoseconds: 1).compactText == #"{"event":"overrun","ts_ns":1}"#)
        #expect(RouteWatchEvent.hostChanged.json(timestampNanoseconds: 2).compactText == #"{"event":"host_changed","ts_ns":2}"#)
    }
}
