import Testing
@testable import TandemCore

@Suite struct RouteWatchTests {
    let vip4 = VirtualIP(prefix: IPPrefix("192.0.2.10/24")!, interface: "eth0")
    let vip6 = VirtualIP(prefix: IPPrefix("2001:db8::10/64")!, interface: "eth0")
    let eth0Up = LinkState(index: 2, name: "eth0", flags: 0x1 | 0x40 | 0x10000, operState: 6)
    let eth0Down = LinkState(index: 2, name: "eth0", flags: 0x1, operState: 2)
    let eth1Down = LinkState(index: 3, name: "eth1", flags: 0x1, operState: 2)

    func address(_ text: String, index: Int32 = 2, name: String = "") -> InterfaceAddress {
        InterfaceAddress(interfaceIndex: index, interface: name, prefix: IPPrefix(text)!, flags: 0x80)
    }

    func started() -> RouteWatch {
        var w = RouteWatch(interfaces: ["eth0"], vips: [vip4, vip6], ownPorts: [4242])
        let events = w.resynchronise(links: [eth0Up, eth1Down], addresses: [address("192.0.2.10/24"), address("10.0.0.1/8")],
                                     afterOverrun: false)
        #expect(events == [])
        return w
    }

    @Test func startUpLearnsPresentVIPsAndLinkNames() {
        let w = started()
        #expect(w.presentVIPs == [vip4])
        #expect(w.linkUp == ["eth0": true])
        #expect(w.interfaceNames[2] == "eth0")
    }

    @Test("notifications become events", arguments: [
        ("foreign delete", RouteNotification.addressRemoved(InterfaceAddress(interfaceIndex: 2, interface: "", prefix: IPPrefix("192.0.2.10/24")!, flags: 0x80), senderPort: 999),
         [RouteWatchEvent.vipRemoved(VirtualIP(prefix: IPPrefix("192.0.2.10/24")!, interface: "eth0"), origin: .foreign)]),
        ("own delete", .addressRemoved(InterfaceAddress(interfaceIndex: 2, interface: "", prefix: IPPrefix("192.0.2.10/24")!, flags: 0x80), senderPort: 4242),
         [.vipRemoved(VirtualIP(prefix: IPPrefix("192.0.2.10/24")!, interface: "eth0"), origin: .tandem)]),
        ("kernel delete", .addressRemoved(InterfaceAddress(interfaceIndex: 2, interface: "", prefix: IPPrefix("192.0.2.10/24")!, flags: 0x80), senderPort: 0),
         [.vipRemoved(VirtualIP(prefix: IPPrefix("192.0.2.10/24")!, interface: "eth0"), origin: .kernel)]),
        ("other address deleted", .addressRemoved(InterfaceAddress(interfaceIndex: 2, interface: "", prefix: IPPrefix("10.0.0.1/8")!, flags: 0x80), senderPort: 999), []),
        ("same address other prefix", .addressRemoved(InterfaceAddress(interfaceIndex: 2, interface: "", prefix: IPPrefix("192.0.2.10/32")!, flags: 0x80), senderPort: 999), []),
        ("same address other interface", .addressRemoved(InterfaceAddress(interfaceIndex: 3, interface: "", prefix: IPPrefix("192.0.2.10/24")!, flags: 0x80), senderPort: 999), []),
        ("vip6 added by us", .addressAdded(InterfaceAddress(interfaceIndex: 2, interface: "", prefix: IPPrefix("2001:db8::10/64")!, flags: 0x82), senderPort: 4242),
         [.vipAdded(VirtualIP(prefix: IPPrefix("2001:db8::10/64")!, interface: "eth0"), origin: .tandem)]),
        ("vip4 re-added: already present, no event", .addressAdded(InterfaceAddress(interfaceIndex: 2, interface: "", prefix: IPPrefix("192.0.2.10/24")!, flags: 0x80), senderPort: 4242), []),
        ("link down", .linkChanged(LinkState(index: 2, name: "eth0", flags: 0x1, operState: 2)), [.linkDown(interface: "eth0")]),
        ("link still up (other flag changed)", .linkChanged(LinkState(index: 2, name: "eth0", flags: 0x1 | 0x40 | 0x10000 | 0x100, operState: 6)), []),
        ("untracked link down", .linkChanged(LinkState(index: 3, name: "eth1", flags: 0, operState: 2)), []),
        ("tracked link removed", .linkRemoved(LinkState(index: 2, name: "eth0", flags: 0, operState: 2)), [.linkRemoved(interface: "eth0")]),
    ] as [(String, RouteNotification, [RouteWatchEvent])])
    func notification(name: String, notification: RouteNotification, expected: [RouteWatchEvent]) {
        var w = started()
        #expect(w.apply(notification) == expected, "\(name)")
    }

    /// A VIP's address added with another prefix length or on another interface is a copy that
    /// answers for the VIP; reported with who added it, except on lo or a NOARP link (kept there
    /// on purpose by a router that is also a direct-routing real server). Its removal is nobody's business.
    @Test func aCopyOfAVIPsAddressIsReported() {
        var w = started()
        let lo = LinkState(index: 1, name: "lo", flags: 0x1 | 0x8, operState: 0)
        _ = w.apply(.linkChanged(lo))
        #expect(w.apply(.addressAdded(address("192.0.2.10/32"), senderPort: 999))
                == [.vipCopyAdded(vip4, copy: VirtualIP(prefix: IPPrefix("192.0.2.10/32")!, interface: "eth0"), origin: .foreign)])
        #expect(w.apply(.addressAdded(address("2001:db8::10/128", index: 3, name: "eth1"), senderPort: 0))
                == [.vipCopyAdded(vip6, copy: VirtualIP(prefix: IPPrefix("2001:db8::10/128")!, interface: "eth1"), origin: .foreign)])
        #expect(w.apply(.addressAdded(address("192.0.2.10/32", index: 1), senderPort: 999)) == [])
        _ = w.apply(.linkChanged(LinkState(index: 4, name: "dummy0", flags: 0x1 | 0x80, operState: 0)))
        #expect(w.apply(.addressAdded(address("192.0.2.10/32", index: 4), senderPort: 999)) == [])
        #expect(w.apply(.addressAdded(address("192.0.2.10/32"), senderPort: 4242))
                == [.vipCopyAdded(vip4, copy: VirtualIP(prefix: IPPrefix("192.0.2.10/32")!, interface: "eth0"), origin: .tandem)])
        #expect(w.apply(.addressRemoved(address("192.0.2.10/32"), senderPort: 999)) == [])
        #expect(w.presentVIPs == [vip4])
    }

    /// A deleted link takes its addresses with it, and the kernel may report their removal after
    /// the link's, under an index that no longer names it. The VIP added on the link re-created
    /// under the same name (new index) is then reported as added, not taken for present.
    @Test func aVIPAddedOnARecreatedLinkIsReportedAdded() {
        var w = started()
        #expect(w.presentVIPs == [vip4])
        #expect(w.apply(.linkRemoved(LinkState(index: 2, name: "eth0", flags: 0, operState: 2))) == [.linkRemoved(interface: "eth0")])
        #expect(w.apply(.addressRemoved(address("192.0.2.10/24"), senderPort: 0)) == [])
        #expect(w.presentVIPs.isEmpty)
        _ = w.apply(.linkChanged(LinkState(index: 9, name: "eth0", flags: 0x1 | 0x40 | 0x10000, operState: 6)))
        #expect(w.apply(.addressAdded(address("192.0.2.10/24", index: 9), senderPort: 999)) == [.vipAdded(vip4, origin: .foreign)])
    }

    /// Tandem's claim marks the VIP present (`track`) before the kernel's notification of it is
    /// read: that notification still fulfils the expectation, so a later addition by another
    /// program is not taken for Tandem's (a standby would keep it).
    @Test func anExpectationFulfilledAfterTrackingDoesNotLinger() {
        var w = RouteWatch(interfaces: ["eth0"], vips: [vip4], ownPorts: [4242])
        _ = w.resynchronise(links: [eth0Up], addresses: [], afterOverrun: false)
        w.expect(vip4, present: true)
        w.track(vip4, present: true)
        #expect(w.apply(.addressAdded(address("192.0.2.10/24"), senderPort: 0)) == [.hostChanged])   // its flags, first seen
        #expect(w.expected.isEmpty)
        w.expect(vip4, present: false)
        w.track(vip4, present: false)
        #expect(w.apply(.addressRemoved(address("192.0.2.10/24"), senderPort: 0)) == [])
        #expect(w.expected.isEmpty)
        #expect(w.apply(.addressAdded(address("192.0.2.10/24"), senderPort: 999)) == [.vipAdded(vip4, origin: .foreign)])
    }

    @Test func linkDownThenUpAndRepeatsSuppressed() {
        var w = started()
        #expect(w.apply(.linkChanged(eth0Down)) == [.linkDown(interface: "eth0")])
        #expect(w.apply(.linkChanged(eth0Down)) == [])
        #expect(w.apply(.linkChanged(eth0Up)) == [.linkUp(interface: "eth0")])
    }

    @Test func deleteReportedOnceThenReAddReported() {
        var w = started()
        let del = RouteNotification.addressRemoved(address("192.0.2.10/24"), senderPort: 7)
        #expect(w.apply(del) == [.vipRemoved(vip4, origin: .foreign)])
        #expect(w.apply(del) == [])
        #expect(w.apply(.addressAdded(address("192.0.2.10/24"), senderPort: 7)) == [.vipAdded(vip4, origin: .foreign)])
    }

    @Test func overrunResynchronisesFromDump() {
        var w = started()
        // While notifications were lost: vip4 vanished, vip6 appeared, eth0 went down.
        let events = w.resynchronise(links: [eth0Down], addresses: [address("2001:db8::10/64")], afterOverrun: true)
        #expect(events == [.overrun, .linkDown(interface: "eth0"),
                           .vipRemoved(vip4, origin: .unknown), .vipAdded(vip6, origin: .unknown)])
        #expect(w.presentVIPs == [vip6])
        // A dump that agrees with what is known reports only the overrun.
        #expect(w.resynchronise(links: [eth0Down], addresses: [address("2001:db8::10/64")], afterOverrun: true) == [.overrun])
        // A tracked link that vanished from the dump is reported removed.
        #expect(w.resynchronise(links: [], addresses: [], afterOverrun: true)
                == [.overrun, .linkRemoved(interface: "eth0"), .vipRemoved(vip6, origin: .unknown)])
    }

    /// A rename seen only in a dump (notifications lost) is still told from a deletion: the
    /// link's index lives on under another name.
    @Test func aRenameFoundByAResyncIsReportedAsARename() {
        var w = started()
        var renamed = eth0Up
        renamed.name = "lan0"
        #expect(w.resynchronise(links: [renamed, eth1Down], addresses: [], afterOverrun: true)
                == [.overrun, .linkRemoved(interface: "eth0", why: .renamed(to: "lan0")), .vipRemoved(vip4, origin: .unknown)])
    }

    @Test func ipv6ChangesCarryNoPortSoExpectationsDecide() {
        var w = started()
        let v6 = address("2001:db8::10/64")
        // Unannounced IPv6 change with port 0: not ours, and the kernel does not say who.
        #expect(w.apply(.addressAdded(v6, senderPort: 0)) == [.vipAdded(vip6, origin: .foreign)])
        // Announced: ours, and the expectation is used up.
        w.expect(vip6, present: false)
        #expect(w.apply(.addressRemoved(v6, senderPort: 0)) == [.vipRemoved(vip6, origin: .tandem)])
        #expect(w.expected.isEmpty)
        #expect(w.apply(.addressAdded(v6, senderPort: 0)) == [.vipAdded(vip6, origin: .foreign)])
        // An expectation for the other direction does not match; a cancelled one is gone.
        w.expect(vip6, present: true)
        #expect(w.apply(.addressRemoved(v6, senderPort: 0)) == [.vipRemoved(vip6, origin: .foreign)])
        w.cancelExpectation(vip6)
        #expect(w.expected.isEmpty)
    }

    @Test func expectationFoundByResyncIsOurs() {
        var w = started()
        w.expect(vip4, present: false)
        #expect(w.resynchronise(links: [eth0Up], addresses: [], afterOverrun: true) == [.overrun, .vipRemoved(vip4, origin: .tandem)])
    }

    @Test func trackAndUntrack() {
        var w = RouteWatch(interfaces: [], vips: [], ownPorts: [1])
        let vip = VirtualIP(prefix: IPPrefix("198.51.100.1/32")!, interface: "br0")
        w.track(vip, present: true)
        #expect(w.trackedInterfaces == ["br0"])
        #expect(w.apply(.addressRemoved(InterfaceAddress(interfaceIndex: 5, interface: "br0", prefix: vip.prefix, flags: 0), senderPort: 1))
                == [.vipRemoved(vip, origin: .tandem)])
        w.untrack(vip)
        #expect(w.apply(.addressAdded(InterfaceAddress(interfaceIndex: 5, interface: "br0", prefix: vip.prefix, flags: 0), senderPort: 1)) == [])
    }

    // MARK: - Every transition of an interface

    @Test func aTrackedInterfaceMissingAtStartIsReportedGoneThenUpWhenItAppears() {
        var w = RouteWatch(interfaces: ["eth1"], vips: [], ownPorts: [])
        #expect(w.resynchronise(links: [eth0Up], addresses: [], afterOverrun: false) == [.linkRemoved(interface: "eth1", why: .missing)])
        let eth1Up = LinkState(index: 7, name: "eth1", flags: 0x1 | 0x40 | 0x10000, operState: 6)
        #expect(w.apply(.linkChanged(eth1Up)) == [.linkUp(interface: "eth1")])
    }

    @Test func removedThenReCreatedWithANewIndexIsReportedUp() {
        var w = started()
        #expect(w.apply(.linkRemoved(eth0Up)) == [.linkRemoved(interface: "eth0")])
        let again = LinkState(index: 9, name: "eth0", flags: 0x1, operState: 2)
        #expect(w.apply(.linkChanged(again)) == [.hostChanged])            // created, still down: only LocalHealth cares
        var upAgain = again
        upAgain.flags = 0x1 | 0x40 | 0x10000
        #expect(w.apply(.linkChanged(upAgain)) == [.linkUp(interface: "eth0")])
        // Its addresses are named by the new index.
        // The VIP went with the old link: added again (by Tandem's claim here), it is reported added.
        #expect(w.apply(.addressAdded(address("192.0.2.10/24", index: 9), senderPort: 4242)) == [.vipAdded(vip4, origin: .tandem)])
        #expect(w.apply(.addressRemoved(address("192.0.2.10/24", index: 9), senderPort: 4242))
                == [.vipRemoved(vip4, origin: .tandem)])
    }

    @Test func renamedAwayIsGoneAndRenamedBackIsUp() {
        var w = started()
        var renamed = eth0Up
        renamed.name = "lan0"
        #expect(w.apply(.linkChanged(renamed)) == [.linkRemoved(interface: "eth0", why: .renamed(to: renamed.name))])
        #expect(w.apply(.linkChanged(eth0Up)) == [.linkUp(interface: "eth0")])
    }

    @Test func carrierLossAndReturnOfATrackedLink() {
        var w = started()
        let noCarrier = LinkState(index: 2, name: "eth0", flags: 0x1 | 0x1000, operState: 2)   // IFF_UP, no RUNNING
        #expect(w.apply(.linkChanged(noCarrier)) == [.linkDown(interface: "eth0")])
        #expect(w.apply(.linkChanged(eth0Up)) == [.linkUp(interface: "eth0")])
    }

    /// `ip link set eth0 address …` (a bond's fail_over_mac, a NIC swapped under the same name):
    /// the neighbours must hear the new MAC. Reported for a tracked link only, and from a dump
    /// after an overrun too.
    @Test func aTrackedLinksNewHardwareAddressIsReported() {
        var w = RouteWatch(interfaces: ["eth0"], vips: [vip4], ownPorts: [4242])
        let old = LinkState(index: 2, name: "eth0", flags: 0x1 | 0x40 | 0x10000, operState: 6, hardwareAddress: [2, 0, 0, 0, 0xaa, 1])
        let new = LinkState(index: 2, name: "eth0", flags: 0x1 | 0x40 | 0x10000, operState: 6, hardwareAddress: [2, 0, 0, 0, 0xaa, 0x0b])
        let other = LinkState(index: 3, name: "eth1", flags: 0x1 | 0x40 | 0x10000, operState: 6, hardwareAddress: [2, 0, 0, 0, 0xbb, 1])
        #expect(w.resynchronise(links: [old, other], addresses: [], afterOverrun: false) == [])
        #expect(w.apply(.linkChanged(old)) == [])
        #expect(w.apply(.linkChanged(new)) == [.linkAddressChanged(interface: "eth0", from: "02:00:00:00:aa:01", to: "02:00:00:00:aa:0b")])
        var otherNew = other
        otherNew.hardwareAddress = [2, 0, 0, 0, 0xbb, 2]
        #expect(w.apply(.linkChanged(otherNew)) == [])
        #expect(w.resynchronise(links: [old, otherNew], addresses: [], afterOverrun: true)
                == [.overrun, .linkAddressChanged(interface: "eth0", from: "02:00:00:00:aa:0b", to: "02:00:00:00:aa:01")])
    }

    @Test func changesThatOnlyLocalHealthNeedsAreHostChanged() {
        var w = RouteWatch(interfaces: ["eth0"], vips: [vip4, vip6], ownPorts: [4242],
                           watchedAddresses: [IPAddress("10.0.0.2")!])
        _ = w.resynchronise(links: [eth0Up, eth1Down], addresses: [address("10.0.0.2/24"), address("2001:db8::10/64", index: 2)],
                            afterOverrun: false)
        // The heartbeat address goes and comes back.
        #expect(w.apply(.addressRemoved(address("10.0.0.2/24"), senderPort: 0)) == [.hostChanged])
        #expect(w.apply(.addressAdded(address("10.0.0.2/24"), senderPort: 0)) == [.hostChanged])
        // Other addresses are no news.
        #expect(w.apply(.addressRemoved(address("10.0.0.3/24"), senderPort: 0)) == [])
        // An untracked link gains carrier (it might carry a heartbeat address), appears or goes.
        let eth1Up = LinkState(index: 3, name: "eth1", flags: 0x1 | 0x40 | 0x10000, operState: 6)
        #expect(w.apply(.linkChanged(eth1Up)) == [.hostChanged])
        #expect(w.apply(.linkChanged(eth1Up)) == [])
        #expect(w.apply(.linkRemoved(eth1Up)) == [.hostChanged])
        // A present VIP fails duplicate address detection: the flags change.
        #expect(w.apply(.addressAdded(InterfaceAddress(interfaceIndex: 2, interface: "", prefix: vip6.prefix, flags: 0x48),
                                      senderPort: 0)) == [.hostChanged])
        #expect(w.vipFlags[vip6] == 0x48)
    }
}
