/// One rtnetlink notification, reduced to what the VIP monitor needs.
public enum RouteNotification: Sendable, Hashable {
    /// RTM_NEWLINK: a link appeared or changed.
    case linkChanged(LinkState)
    /// RTM_DELLINK: a link was removed.
    case linkRemoved(LinkState)
    /// RTM_NEWADDR; `senderPort` is the notification's `nlmsg_pid`, the netlink port of the
    /// socket that asked for the change (0 when the kernel acted on its own).
    case addressAdded(InterfaceAddress, senderPort: UInt32)
    /// RTM_DELADDR, with `senderPort` as above.
    case addressRemoved(InterfaceAddress, senderPort: UInt32)
}

/// Who caused an address change.
public enum ChangeOrigin: String, Sendable, Hashable {
    /// One of Tandem's own command sockets.
    case tandem
    /// Another process (an operator's `ip addr del`, NetworkManager, …).
    case foreign
    /// The kernel itself (port 0), e.g. IPv6 addresses flushed when a link goes down.
    case kernel
    /// Unknown: the change was found by re-reading the state after lost notifications.
    case unknown
}

/// Something the VIP monitor reports.
public enum RouteWatchEvent: Sendable, Hashable {
    case linkDown(interface: String)
    case linkUp(interface: String)
    case linkRemoved(interface: String)
    case vipRemoved(VirtualIP, origin: ChangeOrigin)
    case vipAdded(VirtualIP, origin: ChangeOrigin)
    /// Notifications were lost (ENOBUFS); the events that follow come from a fresh dump.
    case overrun
}

/// The monitor's memory: which tracked links are up and which tracked VIPs are present. It turns
/// notifications (or a fresh dump after an overrun) into events, reporting only transitions.
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

    public init(interfaces: Set<String>, vips: [VirtualIP], ownPorts: Set<UInt32> = []) {
        trackedVIPs = vips
        trackedInterfaces = interfaces.union(vips.map(\.interface))
        self.ownPorts = ownPorts
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
    }

    /// Classifies a notification's sender port.
    public func origin(ofPort port: UInt32) -> ChangeOrigin {
        if port == 0 { return .kernel }
        return ownPorts.contains(port) ? .tandem : .foreign
    }

    /// Applies one notification and returns the events it causes (usually none or one).
    public mutating func apply(_ notification: RouteNotification) -> [RouteWatchEvent] {
        switch notification {
        case .linkChanged(let link):
            interfaceNames[link.index] = link.name
            guard trackedInterfaces.contains(link.name) else { return [] }
            let was = linkUp[link.name]
            linkUp[link.name] = link.isUp
            if was == link.isUp { return [] }
            if was == nil && link.isUp { return [] }   // first sighting of an up link: the normal state
            return [link.isUp ? .linkUp(interface: link.name) : .linkDown(interface: link.name)]
        case .linkRemoved(let link):
            interfaceNames[link.index] = nil
            guard trackedInterfaces.contains(link.name) else { return [] }
            linkUp[link.name] = nil
            return [.linkRemoved(interface: link.name)]
        case .addressAdded(let address, let port):
            guard let vip = trackedVIP(for: address), !presentVIPs.contains(vip) else { return [] }
            presentVIPs.insert(vip)
            return [.vipAdded(vip, origin: origin(ofPort: port))]
        case .addressRemoved(let address, let port):
            guard let vip = trackedVIP(for: address), presentVIPs.contains(vip) else { return [] }
            presentVIPs.remove(vip)
            return [.vipRemoved(vip, origin: origin(ofPort: port))]
        }
    }

    /// Replaces what is known with a fresh dump (at start-up, or after an overrun when
    /// `afterOverrun` is true) and returns the transitions it reveals. After an overrun the
    /// first event is `.overrun` and the origin of any VIP change is `.unknown`.
    public mutating func resynchronise(links: [LinkState], addresses: [InterfaceAddress], afterOverrun: Bool) -> [RouteWatchEvent] {
        var events: [RouteWatchEvent] = afterOverrun ? [.overrun] : []
        interfaceNames = [:]
        for link in links { interfaceNames[link.index] = link.name }
        for name in trackedInterfaces.sorted() {
            if let link = links.first(where: { $0.name == name }) {
                events += apply(.linkChanged(link))
            } else if linkUp[name] != nil {
                linkUp[name] = nil
                events.append(.linkRemoved(interface: name))
            }
        }
        let named = addresses.map { a -> InterfaceAddress in
            var a = a
            if a.interface.isEmpty { a.interface = interfaceNames[a.interfaceIndex] ?? "" }
            return a
        }
        for vip in trackedVIPs {
            let isPresent = named.contains { $0.matches(vip) }
            let was = presentVIPs.contains(vip)
            if isPresent == was { continue }
            if isPresent { presentVIPs.insert(vip) } else { presentVIPs.remove(vip) }
            if afterOverrun {
                events.append(isPresent ? .vipAdded(vip, origin: .unknown) : .vipRemoved(vip, origin: .unknown))
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
