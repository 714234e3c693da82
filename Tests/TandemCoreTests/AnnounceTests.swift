import Testing
@testable import TandemCore

/// Bytes → hex, to compare against golden strings written from the RFCs.
private func hex(_ bytes: [UInt8]) -> String {
    bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
}

@Suite struct AnnounceTests {
    let mac = MACAddress("02:00:00:00:0b:01")!

    @Test func macAddressParsesAndPrints() {
        #expect(mac.description == "02:00:00:00:0b:01")
        #expect(MACAddress("02:00:00:00:0B:01") == mac)
        #expect(MACAddress("02:00:00:00:0b") == nil)
        #expect(MACAddress("02:00:00:00:0b:1") == nil)
        #expect(MACAddress("02:00:00:00:0b:0g") == nil)
        #expect(MACAddress(octets: [1, 2, 3]) == nil)
        #expect(MACAddress.ipv6Multicast(IPAddress("ff02::1")!).description == "33:33:00:00:00:01")
        #expect(MACAddress.ipv6Multicast(IPAddress("ff02::1:ff00:10")!).description == "33:33:ff:00:00:10")
    }

    @Test("gratuitous ARP payload", arguments: [
        // request: op 1, THA zero (RFC 5227 §2.3)
        (AnnounceSettings.ARPMode.request, "192.0.2.10",
         "0001" + "0800" + "06" + "04" + "0001" + "02000000" + "0b01" + "c000020a" + "000000000000" + "c000020a"),
        // reply: op 2, THA = SHA (RFC 5944 §4.6; Linux arp_is_garp wants THA == SHA)
        (.reply, "192.0.2.10",
         "0001" + "0800" + "06" + "04" + "0002" + "020000000b01" + "c000020a" + "020000000b01" + "c000020a"),
        (.request, "10.255.0.1",
         "000108000604000102000000" + "0b01" + "0aff0001" + "000000000000" + "0aff0001"),
    ])
    func arpPayload(mode: AnnounceSettings.ARPMode, address: String, golden: String) throws {
        let arp = try #require(GratuitousARP(address: IPAddress(address)!, mac: mac, mode: mode))
        #expect(arp.payload.count == GratuitousARP.payloadLength)
        #expect(hex(arp.payload) == golden)
    }

    @Test func arpRefusesIPv6() {
        #expect(GratuitousARP(address: IPAddress("2001:db8::10")!, mac: mac, mode: .request) == nil)
    }

    @Test func neighborAdvertisementMessage() throws {
        let na = try #require(NeighborAdvertisement(target: IPAddress("2001:db8::10")!, mac: mac))
        // type 136, code 0, checksum, flags O only, target, option 2 len 1 + MAC.
        #expect(hex(na.icmpMessage) ==
                "88" + "00" + "ee0c" + "20000000" + "20010db8000000000000000000000010" + "0201" + "020000000b01")
        let router = try #require(NeighborAdvertisement(target: IPAddress("2001:db8::10")!, mac: mac, router: true))
        #expect(hex(router.icmpMessage) ==
                "88" + "00" + "6e0c" + "a0000000" + "20010db8000000000000000000000010" + "0201" + "020000000b01")
    }

    @Test func neighborAdvertisementPacket() throws {
        let na = try #require(NeighborAdvertisement(target: IPAddress("2001:db8::10")!, mac: mac))
        let p = na.packet
        #expect(p.count == 40 + 32)
        // version 6, payload length 32, next header 58, hop limit 255, source VIP, destination ff02::1
        #expect(hex(Array(p[0..<40])) ==
                "60000000" + "0020" + "3a" + "ff" + "20010db8000000000000000000000010" + "ff020000000000000000000000000001")
        #expect(Array(p[40...]) == na.icmpMessage)
    }

    @Test func checksumOfMessageIsZeroWhenRecomputed() throws {
        // A correct checksum makes the sum over pseudo-header + message come out as 0xffff (so ~ = 0).
        let na = try #require(NeighborAdvertisement(target: IPAddress("fe80::1234:5678")!, mac: mac))
        let again = NeighborAdvertisement.checksum(source: na.target, destination: NeighborAdvertisement.allNodes,
                                                   nextHeader: 58, payload: na.icmpMessage)
        #expect(again == 0)
    }

    @Test func neighborAdvertisementRefusesIPv4() {
        #expect(NeighborAdvertisement(target: IPAddress("192.0.2.1")!, mac: mac) == nil)
    }
}
