/// What a claim or release did.
public enum AddressChange: String, Sendable, Hashable {
    /// The address was added.
    case added
    /// It was already on the interface; nothing changed.
    case alreadyPresent
    /// The address was removed.
    case removed
    /// It was not on the interface; nothing changed.
    case alreadyAbsent
}

/// The interface addresses Tandem claims and releases: the VIPs.
///
/// Both operations are idempotent: claiming a present VIP and releasing an absent one succeed
/// without touching the kernel's state. Releasing never removes any other address (a VIP that is
/// the primary of its IPv4 subnet does not take its secondaries with it).
public protocol AddressTable: Sendable {
    /// Adds `vip` to its interface (IPv6 without duplicate address detection, so it is usable at once).
    func claim(_ vip: VirtualIP) throws -> AddressChange
    /// Removes `vip` from its interface.
    func release(_ vip: VirtualIP) throws -> AddressChange
    /// Every address on every interface, as the kernel lists them.
    func addresses() throws -> [InterfaceAddress]
    /// Every link (RTM_GETLINK), for judging whether VIP and heartbeat interfaces can carry traffic.
    func links() throws -> [LinkState]
    /// Netlink ports of the sockets this table changes addresses through, so a monitor can tell
    /// Tandem's own changes from foreign ones.
    var ownPorts: Set<UInt32> { get }
}

extension AddressTable {
    /// The VIPs among `vips` that are on their interfaces now, usable or not.
    public func present(_ vips: [VirtualIP]) throws -> [VirtualIP] {
        let all = try addresses()
        return vips.filter { vip in all.contains { $0.matches(vip) } }
    }

    /// This node's health from one fresh dump of links and addresses (`LocalHealth.assess`).
    public func assessHealth(heartbeatAddresses: [IPAddress], sendFailures: [Int: String], vips: [VirtualIP],
                             trackedInterfaces: [TrackedInterface]) throws -> LocalHealth.Report {
        let links = try links()
        let addresses = try addresses()
        return LocalHealth.assess(heartbeatAddresses: heartbeatAddresses, sendFailures: sendFailures, vips: vips,
                                  trackedInterfaces: trackedInterfaces, links: links, addresses: addresses)
    }
}
