/// One rtnetlink notification, reduced to what the VIP monitor needs.
public enum RouteNotification: Sendable, Hashable {
    /// RTM_NEWLINK: a link appeared or changed.
    case linkChanged(LinkState)
    /// RTM_DELLINK: a link was removed.
    case linkRemoved(LinkState)
    /// RTM_NEWADDR; `senderPort` is the notification's `nlmsg_pid`. For IPv4 it is the netlink
    /// port of the socket that asked for the change (0 when the kernel acted on its own,
    /// net/ipv4/devinet.c `rtmsg_ifa`); IPv6 notifications always carry 0
    /// (net/ipv6/addrconf.c `inet6_ifa_notify`).
    case addressAdded(InterfaceAddress, senderPort: UInt32)
    /// RTM_DELADDR, with `senderPort` as above.
    case addressRemoved(InterfaceAddress, senderPort: UInt32)
}

/// Who caused an address change.
public enum ChangeOrigin: String, Sendable, Hashable {
    /// Tandem itself: an IPv4 change requested through one of its command sockets, or an IPv6
    /// change Tandem announced beforehand with `RouteWatch.expect(_:present:)`.
    case tandem
    /// Not Tandem: another process (an operator's `ip addr del`, NetworkManager, …). For IPv6,
    /// whose notifications never name the requester, every unexpected change is foreign,
    /// including the kernel's own flush when a link goes down.
    case foreign
    /// The kernel itself (an IPv4 notification with port 0).
    case kernel
    /// Unknown: the change was found by re-reading the state after lost notifications.
    case unknown

    /// Who made the change, for a log line: "VIP … was removed by another program".
    public var actor: String {
        switch self {
        case .tandem: return "Tandem"
        case .foreign: return "another program"
        case .kernel: return "the kernel"
        case .unknown: return "an unknown program (found on re-reading the addresses)"
        }
    }
}

/// Why a tracked interface is not there.
public enum LinkGone: Sendable, Hashable {
    /// Deleted (RTM_DELLINK), or absent from a later dump.
    case deleted
    /// Absent from the first dump: it never existed while Tandem watched.
    case missing
    /// Renamed to another name (same index).
    case renamed(to: String)
}

/// Something the VIP monitor reports.
public enum RouteWatchEvent: Sendable, Hashable {
    case linkDown(interface: String)
    case linkUp(interface: String)
    /// A tracked interface is not there (any more): deleted, missing when first looked for, or
    /// renamed away (Tandem names interfaces by name).
    case linkRemoved(interface: String, why: LinkGone = .deleted)
    /// A tracked link's hardware address changed (`ip link set … address`, a bond's
    /// `fail_over_mac` failover): neighbours still send to the old one, and the kernel tells them
    /// nothing unless `arp_notify` is set. A link re-created under the name (a new index) is not
    /// this event: its VIPs are claimed again and announced from it.
    case linkAddressChanged(interface: String, from: String, to: String)
    case vipRemoved(VirtualIP, origin: ChangeOrigin)
    case vipAdded(VirtualIP, origin: ChangeOrigin)
    /// An address added with a tracked VIP's address but another prefix length or interface
    /// (`copy`, as the kernel lists it: a leftover /32 from a keepalived migration, say): it
    /// answers ARP or neighbour solicitations for the VIP all the same. Not reported on a
    /// loopback or NOARP link (lo, a dummy), where a router that is also a direct-routing real
    /// server keeps its VIPs on purpose.
    case vipCopyAdded(VirtualIP, copy: VirtualIP, origin: ChangeOrigin)
    /// Notifications were lost (ENOBUFS); the events that follow come from a fresh dump.
    case overrun
    /// Something this node's own health depends on changed without another event saying so: a
    /// link appeared, vanished, was renamed or changed carrier; a heartbeat address came or
    /// went; a present VIP's flags changed (duplicate address detection finished or failed).
    /// The receiver re-reads links and addresses and judges them (`LocalHealth`).
    case hostChanged
}

/// The monitor's memory: which tracked links are up and which tracked VIPs are present. It turns
/// notifications (or a fresh dump after an overrun) into events, reporting only transitions.
///
/// Every transition of a tracked interface is reported: missing at start and removed
/// (`.linkRemoved`), renamed away (`.linkRemoved` of the old name), re-created or renamed back
/// (`.linkUp` once up), carrier lost or regained (`.linkDown` / `.linkUp`), hardware address
/// changed (`.linkAddressChanged`). Links are known by
/// index, so a rename is told from a new link. Changes that matter only to `LocalHealth` (any
/// link's existence, name or carrier; heartbeat addresses; a present VIP's flags) are reported
/// as `.hostChanged` when nothing else is.
///
/// Pure: the kernel side feeds it `RouteNotification`s and dumps; nothing here reads the kernel.
public struct RouteWatch: Sendable, Hashable {
    public private(set) var trackedInterfaces: Set<String>
    public private(set) var trackedVIPs: [VirtualIP]
    /// Netlink ports of Tandem's own command sockets: changes they ask for are `.tandem`.
    public var ownPorts: Set<UInt32>
    /// Last known link state of each tracked interface; absent when never seen.
    public private(set) var linkUp: [String: Bool] = [:]
    /// Tracked VIPs last seen present.
    public private(set) var presentVIPs: Set<VirtualIP> = []
    /// Index → name of links seen, to name address notifications (which carry only the index).
    public private(set) var interfaceNames: [Int32: String] = [:]
    /// Changes Tandem is about to make: VIP → whether it will be present afterwards.
    public private(set) var expected: [VirtualIP: Bool] = [:]
    /// Addresses whose coming and going is reported as `.hostChanged` (this node's heartbeat addresses).
    public private(set) var watchedAddresses: Set<IPAddress>
    /// Every link seen, by index.
    public private(set) var links: [Int32: LinkState] = [:]
    /// `IFA_F_*` flags of each present tracked VIP, as last reported.
    public private(set) var vipFlags: [VirtualIP: UInt32] = [:]

    public init(interfaces: Set<String>, vips: [VirtualIP], ownPorts: Set<UInt32> = [],
                watchedAddresses: Set<IPAddress> = []) {
        trackedVIPs = vips
        trackedInterfaces = interfaces.union(vips.map(\.interface))
        self.ownPorts = ownPorts
        self.watchedAddresses = watchedAddresses
    }

    /// Adds a VIP to watch (e.g. right after claiming it) without reporting anything.
    public mutating func track(_ vip: VirtualIP, present: Bool) {
        if !trackedVIPs.contains(vip) { trackedVIPs.append(vip) }
        trackedInterfaces.insert(vip.interface)
        if present { presentVIPs.insert(vip) } else { presentVIPs.remove(vip) }
    }

    /// Stops watching a VIP.
    public mutating func untrack(_ vip: VirtualIP) {
        trackedVIPs.removeAll { $0 == vip }
        presentVIPs.remove(vip)
        expected[vip] = nil
    }

    /// Announces that Tandem is about to add (`present: true`) or remove `vip`, so the matching
    /// notification is attributed to Tandem even when it carries no port (IPv6). Call
    /// `cancelExpectation` when the change turned out to be a no-op or failed.
    public mutating func expect(_ vip: VirtualIP, present: Bool) {
        expected[vip] = present
    }

    /// Forgets an expectation set with `expect(_:present:)`.
    public mutating func cancelExpectation(_ vip: VirtualIP) {
        expected[vip] = nil
    }

    /// Who caused a change of `vip` to `present`, reported with sender port `port`; consumes a
    /// matching expectation.
    public mutating func origin(of vip: VirtualIP, present: Bool, port: UInt32) -> ChangeOrigin {
        let wasExpected = expected[vip] == present
        if wasExpected { expected[vip] = nil }
        return wasExpected ? .tandem : origin(port: port, family: vip.prefix.family)
    }

    /// Who changed an address, from its notification's port alone (see `ChangeOrigin`).
    func origin(port: UInt32, family: AddressFamily) -> ChangeOrigin {
        if ownPorts.contains(port) { return .tandem }
        if port == 0 { return family == .ipv4 ? .kernel : .foreign }
        return .foreign
    }

    /// Applies one notification and returns the events it causes (usually none or one).
    public mutating func apply(_ notification: RouteNotification) -> [RouteWatchEvent] {
        switch notification {
        case .linkChanged(let link):
            let old = links[link.index]
            links[link.index] = link
            interfaceNames[link.index] = link.name
            var events: [RouteWatchEvent] = []
            if let old, old.name != link.name, trackedInterfaces.contains(old.name) {
                // Renamed away: for Tandem the interface of that name is gone.
                linkUp[old.name] = false
                events.append(.linkRemoved(interface: old.name, why: .renamed(to: link.name)))
            }
            events += trackedLinkEvent(link)
            if let old, old.name == link.name, let change = addressChange(of: link, from: old.hardwareAddress) { events.append(change) }
            if events.isEmpty, old == nil || old?.name != link.name || old?.isUp != link.isUp { events.append(.hostChanged) }
            return events
        case .linkRemoved(let link):
            links[link.index] = nil
            interfaceNames[link.index] = nil
            // Its addresses went with it. The kernel's RTM_DELADDR for them may come after the
            // RTM_DELLINK, when the index no longer names the link: forget them here, or a VIP
            // added again on the re-created link would count as already present (no `.vipAdded`).
            for vip in presentVIPs where vip.interface == link.name {
                presentVIPs.remove(vip)
                vipFlags[vip] = nil
            }
            for vip in expected.keys where vip.interface == link.name { expected[vip] = nil }
            guard trackedInterfaces.contains(link.name) else { return [.hostChanged] }
            // Known down (not unknown): a link re-created under this name is then reported up.
            linkUp[link.name] = false
            return [.linkRemoved(interface: link.name)]
        case .addressAdded(let address, let port):
            guard let vip = trackedVIP(for: address) else {
                let name = address.interface.isEmpty ? interfaceNames[address.interfaceIndex] ?? "" : address.interface
                let quiet = links[address.interfaceIndex].map(\.isQuiet) ?? (name == "lo")
                if !name.isEmpty, !quiet, let vip = trackedVIPs.first(where: { $0.address == address.prefix.address }) {
                    let copy = VirtualIP(prefix: address.prefix, interface: name)
                    return [.vipCopyAdded(vip, copy: copy, origin: origin(port: port, family: address.prefix.family))]
                }
                return watchedAddresses.contains(address.prefix.address) ? [.hostChanged] : []
            }
            let flagsBefore = vipFlags[vip]
            vipFlags[vip] = address.flags
            guard !presentVIPs.contains(vip) else {
                // Tandem's own claim, already tracked as present (`track` ran before this
                // notification came): the expectation is fulfilled. Left standing, it would take
                // the next addition of the VIP, by anyone, for Tandem's.
                if expected[vip] == true { expected[vip] = nil }
                return flagsBefore == address.flags ? [] : [.hostChanged]
            }
            presentVIPs.insert(vip)
            return [.vipAdded(vip, origin: origin(of: vip, present: true, port: port))]
        case .addressRemoved(let address, let port):
            guard let vip = trackedVIP(for: address) else {
                return watchedAddresses.contains(address.prefix.address) ? [.hostChanged] : []
            }
            guard presentVIPs.contains(vip) else {
                if expected[vip] == false { expected[vip] = nil }   // as for an addition above
                return []
            }
            presentVIPs.remove(vip)
            vipFlags[vip] = nil
            return [.vipRemoved(vip, origin: origin(of: vip, present: false, port: port))]
        }
    }

    /// `.linkAddressChanged` when tracked `link`'s Ethernet address differs from `old` (both
    /// known; the only addresses an announcement can carry).
    private func addressChange(of link: LinkState, from old: [UInt8]?) -> RouteWatchEvent? {
        guard trackedInterfaces.contains(link.name), let old, let was = MACAddress(octets: old),
              let now = MACAddress(octets: link.hardwareAddress), was != now else { return nil }
        return .linkAddressChanged(interface: link.name, from: was.description, to: now.description)
    }

    /// The up/down transition of a tracked link, if any (none for the first sighting of an up link).
    private mutating func trackedLinkEvent(_ link: LinkState) -> [RouteWatchEvent] {
        guard trackedInterfaces.contains(link.name) else { return [] }
        let was = linkUp[link.name]
        linkUp[link.name] = link.isUp
        if was == link.isUp { return [] }
        if was == nil && link.isUp { return [] }   // first sighting of an up link: the normal state
        return [link.isUp ? .linkUp(interface: link.name) : .linkDown(interface: link.name)]
    }

    /// Replaces what is known with a fresh dump (at start-up, or after an overrun when
    /// `afterOverrun` is true) and returns the transitions it reveals. After an overrun the
    /// first event is `.overrun` and the origin of any VIP change is `.unknown`.
    public mutating func resynchronise(links: [LinkState], addresses: [InterfaceAddress], afterOverrun: Bool) -> [RouteWatchEvent] {
        var events: [RouteWatchEvent] = afterOverrun ? [.overrun] : []
        let before = Set(self.links.values.map(\.name))
        let addressBefore = Dictionary(self.links.values.map { ($0.name, $0.hardwareAddress) }) { first, _ in first }
        let indexBefore = Dictionary(self.links.values.map { ($0.name, $0.index) }) { first, _ in first }
        interfaceNames = [:]
        self.links = [:]
        for link in links {
            interfaceNames[link.index] = link.name
            self.links[link.index] = link
        }
        for name in trackedInterfaces.sorted() {
            if let link = links.first(where: { $0.name == name }) {
                events += trackedLinkEvent(link)
                if let change = addressChange(of: link, from: addressBefore[name]) { events.append(change) }
            } else if linkUp[name] == nil || before.contains(name) {
                // Missing at start, or gone since the last dump (renamed when its index lives on).
                let why: LinkGone = linkUp[name] == nil ? .missing
                    : indexBefore[name].flatMap { index in links.first { $0.index == index } }.map { .renamed(to: $0.name) } ?? .deleted
                linkUp[name] = false
                events.append(.linkRemoved(interface: name, why: why))
            }
        }
        let named = addresses.map { a -> InterfaceAddress in
            var a = a
            if a.interface.isEmpty { a.interface = interfaceNames[a.interfaceIndex] ?? "" }
            return a
        }
        for vip in trackedVIPs {
            let copy = named.first { $0.matches(vip) }
            vipFlags[vip] = copy?.flags
            let isPresent = copy != nil
            let was = presentVIPs.contains(vip)
            if isPresent == was { continue }
            if isPresent { presentVIPs.insert(vip) } else { presentVIPs.remove(vip) }
            let origin: ChangeOrigin = expected[vip] == isPresent ? .tandem : .unknown
            if expected[vip] == isPresent { expected[vip] = nil }
            if afterOverrun {
                events.append(isPresent ? .vipAdded(vip, origin: origin) : .vipRemoved(vip, origin: origin))
            }
        }
        return events
    }

    private func trackedVIP(for address: InterfaceAddress) -> VirtualIP? {
        var a = address
        if a.interface.isEmpty { a.interface = interfaceNames[a.interfaceIndex] ?? "" }
        return trackedVIPs.first { a.matches($0) }
    }
}
