import Synchronization
import TandemCore

/// An in-memory `AddressTable` for tests: a list of links and addresses and a log of calls.
/// Like the kernel, a claim on a missing interface fails with ENODEV and deleting a link deletes
/// its addresses.
public final class InMemoryAddressTable: AddressTable {
    private let state: Mutex<(addresses: [InterfaceAddress], links: [LinkState], log: [String])>
    public let ownPorts: Set<UInt32> = [1]

    /// - Parameter links: the links that exist; by default one up link per interface named in
    ///   `addresses`.
    public init(addresses: [InterfaceAddress] = [], links: [LinkState]? = nil) {
        let names = Array(Set(addresses.map(\.interface))).sorted()
        let defaultLinks = names.enumerated().map { index, name in
            LinkState(index: Int32(index + 2), name: name, flags: LinkState.upFlag | LinkState.runningFlag | LinkState.lowerUpFlag,
                      operState: 6)
        }
        state = Mutex((addresses, links ?? defaultLinks, []))
    }

    /// A link's state for tests: up with carrier, or present but without carrier.
    public static func link(_ name: String, index: Int32, up: Bool = true) -> LinkState {
        LinkState(index: index, name: name,
                  flags: up ? LinkState.upFlag | LinkState.runningFlag | LinkState.lowerUpFlag : LinkState.upFlag,
                  operState: up ? 6 : 2)
    }

    /// Adds or replaces (by name) a link.
    public func setLink(_ link: LinkState) {
        state.withLock { s in
            s.links.removeAll { $0.name == link.name }
            s.links.append(link)
        }
    }

    /// Deletes a link and, as the kernel does, every address on it.
    public func removeLink(_ name: String) {
        state.withLock { s in
            s.links.removeAll { $0.name == name }
            s.addresses.removeAll { $0.interface == name }
        }
    }

    /// Sets the `IFA_F_*` flags of a present address (e.g. DADFAILED), as the kernel would.
    public func setFlags(_ flags: UInt32, of prefix: IPPrefix) {
        state.withLock { s in
            for i in s.addresses.indices where s.addresses[i].prefix == prefix { s.addresses[i].flags = flags }
        }
    }

    /// A kernel-like claim failure: the interface does not exist.
    public struct NoSuchInterface: Error, CustomStringConvertible {
        public var interface: String
        public var description: String { "add address on \(interface): No such device (errno 19)" }
    }

    /// The calls made so far, e.g. `["claim 192.0.2.10/24 on eth0"]`.
    public var log: [String] { state.withLock { $0.log } }

    public func claim(_ vip: VirtualIP) throws -> AddressChange {
        try state.withLock { s throws(NoSuchInterface) in
            s.log.append("claim \(vip.prefix) on \(vip.interface)")
            guard let link = s.links.first(where: { $0.name == vip.interface }) else { throw NoSuchInterface(interface: vip.interface) }
            if s.addresses.contains(where: { $0.matches(vip) }) { return .alreadyPresent }
            let flags: UInt32 = vip.prefix.family == .ipv6 ? InterfaceAddress.noDADFlag : 0
            s.addresses.append(InterfaceAddress(interfaceIndex: link.index, interface: vip.interface, prefix: vip.prefix,
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

    public func links() throws -> [LinkState] { state.withLock { $0.links } }
}
