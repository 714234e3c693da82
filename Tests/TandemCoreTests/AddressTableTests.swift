import Synchronization
import Testing
@testable import TandemCore
import TandemTesting

@Suite struct AddressTableTests {
    @Test func inMemoryTableIsIdempotentAndKeepsOtherAddresses() throws {
        let admin = InterfaceAddress(interfaceIndex: 2, interface: "eth0", prefix: IPPrefix("192.0.2.2/24")!, flags: 0x80)
        let table = InMemoryAddressTable(addresses: [admin])
        let vip = VirtualIP(prefix: IPPrefix("192.0.2.10/24")!, interface: "eth0", label: "eth0:vip")
        let vip6 = VirtualIP(prefix: IPPrefix("2001:db8::10/64")!, interface: "eth0")
        #expect(try table.claim(vip) == .added)
        #expect(try table.claim(vip) == .alreadyPresent)
        #expect(try table.claim(vip6) == .added)
        #expect(try table.present([vip, vip6, VirtualIP(prefix: IPPrefix("192.0.2.10/32")!, interface: "eth0")]) == [vip, vip6])
        #expect(try table.addresses().first { $0.matches(vip6) }?.flags == InterfaceAddress.noDADFlag)
        #expect(try table.release(vip) == .removed)
        #expect(try table.release(vip) == .alreadyAbsent)
        #expect(try table.addresses().contains(admin))
        #expect(table.log.count == 5)
    }

    @Test func fakeRouteMonitorAppliesTheSameRules() {
        let vip = VirtualIP(prefix: IPPrefix("192.0.2.10/24")!, interface: "eth0")
        let seen = EventBox()
        let monitor = FakeRouteMonitor(interfaces: [], vips: [], ownPorts: [9]) { seen.append($0) }
        monitor.track(vip, present: true)
        monitor.inject(.addressRemoved(InterfaceAddress(interfaceIndex: 2, interface: "eth0", prefix: vip.prefix, flags: 0), senderPort: 9))
        monitor.stop()
        monitor.inject(.addressAdded(InterfaceAddress(interfaceIndex: 2, interface: "eth0", prefix: vip.prefix, flags: 0), senderPort: 5))
        #expect(seen.events == [.vipRemoved(vip, origin: .tandem)])
    }
}

final class EventBox: Sendable {
    private let store = Mutex<[RouteWatchEvent]>([])
    func append(_ e: RouteWatchEvent) { store.withLock { $0.append(e) } }
    var events: [RouteWatchEvent] { store.withLock { $0 } }
}
