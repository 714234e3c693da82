import Synchronization

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
    /// Netlink ports of the sockets this table changes addresses through, so a monitor can tell
    /// Tandem's own changes from foreign ones.
    var ownPorts: Set<UInt32> { get }
}

extension AddressTable {
    /// The VIPs among `vips` that are on their interfaces now (for start-up adoption and status).
    public func present(_ vips: [VirtualIP]) throws -> [VirtualIP] {
        let all = try addresses()
        return vips.filter { vip in all.contains { $0.matches(vip) } }
    }
}

/// An in-memory `AddressTable` for tests: a list of addresses and a log of calls.
public final class InMemoryAddressTable: AddressTable {
    private let state: Mutex<(addresses: [InterfaceAddress], log: [String])>
    public let ownPorts: Set<UInt32> = [1]

    public init(addresses: [InterfaceAddress] = []) {
        state = Mutex((addresses, []))
    }

    /// The calls made so far, e.g. `["claim 192.0.2.10/24 on eth0"]`.
    public var log: [String] { state.withLock { $0.log } }

    public func claim(_ vip: VirtualIP) throws -> AddressChange {
        state.withLock { s in
            s.log.append("claim \(vip.prefix) on \(vip.interface)")
            if s.addresses.contains(where: { $0.matches(vip) }) { return .alreadyPresent }
            let flags: UInt32 = vip.prefix.family == .ipv6 ? InterfaceAddress.noDADFlag : 0
            s.addresses.append(InterfaceAddress(interfaceIndex: 0, interface: vip.interface, prefix: vip.prefix,
                                                flags: flags, label: vip.label))
            return .added
        }
    }

    public func release(_ vip: VirtualIP) throws -> AddressChange {
        state.withLock { s in
            s.log.append("release \(vip.prefix) on \(vip.interface)")
            guard let i = s.addresses.firstIndex(where: { $0.matches(vip) }) else { return .alreadyAbsent }
            s.addresses.remove(at: i)
            return .removed
        }
    }

    public func addresses() throws -> [InterfaceAddress] { state.withLock { $0.addresses } }
}
