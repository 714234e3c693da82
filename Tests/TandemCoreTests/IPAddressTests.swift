import Testing
@testable import TandemCore

@Suite struct IPAddressTests {
    @Test(arguments: [
        ("192.0.2.1", "192.0.2.1"), ("0.0.0.0", "0.0.0.0"), ("255.255.255.255", "255.255.255.255"),
        ("2001:db8::1", "2001:db8::1"), ("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
        ("::", "::"), ("::1", "::1"), ("fe80::", "fe80::"), ("2001:db8:0:1:0:0:0:1", "2001:db8:0:1::1"),
        ("2001:db8::1:0:0:1", "2001:db8::1:0:0:1"), ("1:0:0:2:0:0:0:3", "1:0:0:2::3"), ("1:0:2:3:4:5:6:7", "1:0:2:3:4:5:6:7"),
        ("::ffff:192.0.2.1", "::ffff:192.0.2.1"), ("::192.0.2.1", "::192.0.2.1"), ("FD00::A", "fd00::a"),
    ])
    func parsesAndPrintsLikeInetNtop(_ c: (String, String)) {
        #expect(IPAddress(c.0)?.description == c.1)
    }

    @Test(arguments: ["", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.-4", " 1.2.3.4", "1.2.3.4 ",
                      ":::", "1::2::3", "12345::", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "g::1", "::1.2.3", "1.2.3.4/24", "::ffff:1.2.3.4:5"])
    func rejects(_ text: String) {
        #expect(IPAddress(text) == nil)
    }

    @Test func bytesRoundTrip() {
        for text in ["10.1.2.3", "2001:db8::8:800:200c:417a"] {
            let a = IPAddress(text)!
            #expect(IPAddress(bytes: a.bytes, family: a.family) == a)
        }
        #expect(IPAddress("10.1.2.3")!.bytes == [10, 1, 2, 3])
    }

    @Test func prefixes() {
        #expect(IPPrefix("10.0.0.10/24")?.contains(IPAddress("10.0.0.200")!) == true)
        #expect(IPPrefix("10.0.0.10/24")?.contains(IPAddress("10.0.1.1")!) == false)
        #expect(IPPrefix("2001:db8::10/64")?.contains(IPAddress("2001:db8::ffff")!) == true)
        #expect(IPPrefix("10.0.0.10") == nil)
        #expect(IPPrefix("10.0.0.10/33") == nil)
        #expect(IPPrefix("::1/129") == nil)
        #expect(IPAddress("2001:db8::1")!.masked(prefixLength: 16).description == "2001::")
    }

    @Test func ordering() {
        let sorted = ["10.0.0.2", "2001:db8::1", "10.0.0.10", "9.9.9.9"].compactMap { IPAddress($0) }.sorted()
        #expect(sorted.map(\.description) == ["9.9.9.9", "10.0.0.2", "10.0.0.10", "2001:db8::1"])
    }

    @Test(arguments: [("20ms", 20), ("1s", 1000), ("5m", 300_000), ("1h", 3_600_000), ("0s", 0)])
    func durations(_ c: (String, UInt64)) {
        #expect(TimeSpan(parsing: c.0)?.milliseconds == c.1)
    }

    @Test(arguments: ["5", "1.5s", "-1s", "1 s", "1S", "ms", "1d", ""])
    func rejectsLooseDurations(_ text: String) {
        #expect(TimeSpan(parsing: text) == nil)
    }
}
