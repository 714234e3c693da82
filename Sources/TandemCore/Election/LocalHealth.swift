/// This node's own ability to serve, judged from what the kernel reports: links, addresses and
/// whether heartbeats can be sent. Pure: the driver passes a fresh dump (and the transport's send
/// failures) and gets back a `Report`; nothing here reads the kernel or a clock.
///
/// Rules (each fault keeps the node in the `fault` role: it releases the VIPs and never takes
/// over, because hearing nobody then says nothing about the peer):
/// - **Heartbeat paths.** A path is usable when its local address is on an interface that is up
///   with carrier (IFF_UP and IFF_RUNNING), the address is not tentative or dadfailed, and sends
///   on it do not fail. A node with **no** usable path cannot tell a dead peer from its own
///   fault: that is a fault. One usable path of several is enough.
/// - **VIP interfaces are tracked implicitly**, as keepalived tracks the interfaces of its
///   virtual addresses: a VIP interface that does not exist, or is down, or has no carrier, is a
///   fault, because a VIP on it cannot be reached. An interface listed in the node's
///   `track_interfaces` follows that entry instead (`lower_priority` is the opt-out: the node
///   keeps the VIPs and only loses priority), and the election handles it.
/// - **Address conflicts.** A VIP present with IFA_F_DADFAILED failed duplicate address detection
///   (RFC 4862 §5.4.5; net/ipv6/addrconf.c `addrconf_dad_failure`): another host on the link
///   answers for it. It is never counted as held, and it is a fault until the address is removed.
public enum LocalHealth {
    /// One heartbeat path as this node sees its own end.
    public enum PathState: Sendable, Hashable, CustomStringConvertible {
        /// The local address is on `interface`, which is up, and sends succeed.
        case usable(interface: String)
        /// The local address is on no interface of this host.
        case addressMissing
        /// The address is on `interface`, but the interface is down or has no carrier.
        case linkDown(interface: String)
        /// The IPv6 address is still tentative (duplicate address detection running) or failed it.
        case addressNotReady(interface: String, dadFailed: Bool)
        /// Sending fails with this error (from the transport: not a transient one such as ENOBUFS).
        case sendFailing(String)

        public var isUsable: Bool { if case .usable = self { return true } else { return false } }

        public var description: String {
            switch self {
            case .usable(let interface): return "usable on \(interface)"
            case .addressMissing: return "address not configured on any interface"
            case .linkDown(let interface): return "interface \(interface) is down or has no carrier"
            case .addressNotReady(let interface, let dadFailed):
                return dadFailed ? "address on \(interface) failed duplicate address detection"
                    : "address on \(interface) is tentative (duplicate address detection running)"
            case .sendFailing(let why): return "sending fails: \(why)"
            }
        }
    }

    /// One VIP as this node sees it.
    public enum VIPState: Sendable, Hashable {
        /// On its interface, usable, the interface up with carrier.
        case held
        /// Not on its interface; the interface is up.
        case absent
        /// Its interface does not exist (deleted, renamed, not created yet).
        case interfaceMissing
        /// Its interface is down or has no carrier; `present` says whether the address is still on it.
        case noCarrier(present: Bool)
        /// On its interface but tentative: duplicate address detection is still running, the
        /// kernel does not use it yet.
        case tentative
        /// On its interface with IFA_F_DADFAILED: another host uses the address.
        case conflict

        /// Whether the address is on its interface at all (usable or not).
        public var isPresent: Bool {
            switch self {
            case .held, .tentative, .conflict: return true
            case .noCarrier(let present): return present
            case .absent, .interfaceMissing: return false
            }
        }

        /// What is wrong, for status; nil when held or simply absent.
        public func problem(_ vip: VirtualIP) -> String? {
            switch self {
            case .held, .absent: return nil
            case .interfaceMissing: return "interface \(vip.interface) does not exist"
            case .noCarrier(let present):
                return "interface \(vip.interface) is down or has no carrier" + (present ? " (address still configured, unreachable)" : "")
            case .tentative: return "tentative: duplicate address detection is running; the kernel does not use it yet"
            case .conflict: return LocalHealth.conflictText(vip)
            }
        }
    }

    /// One VIP and its state.
    public struct VIPEntry: Sendable, Hashable {
        public var vip: VirtualIP
        public var state: VIPState

        public init(vip: VirtualIP, state: VIPState) {
            self.vip = vip
            self.state = state
        }
    }

    /// What `assess` found.
    public struct Report: Sendable, Hashable {
        /// One entry per heartbeat address, in path order.
        public var paths: [PathState]
        /// One entry per VIP, in config order.
        public var vips: [VIPEntry]
        /// Reasons this node cannot serve, most basic first; empty when healthy.
        public var faults: [String]
        /// Copies of a VIP's address with another prefix length or on another interface (a
        /// leftover /32 from keepalived, an address added by hand), in the kernel's address
        /// order; not those on a quiet link (`LinkState.isQuiet`). Each answers ARP and neighbour
        /// solicitations for the VIP as an exact copy would, so a node that does not serve the
        /// VIPs removes them (`NodeState`).
        public var copies: [VirtualIP]

        public init(paths: [PathState] = [], vips: [VIPEntry] = [], faults: [String] = [], copies: [VirtualIP] = []) {
            self.paths = paths
            self.vips = vips
            self.faults = faults
            self.copies = copies
        }

        /// The state of `vip`, nil when it is not one of the assessed VIPs.
        public func state(of vip: VirtualIP) -> VIPState? { vips.first { $0.vip == vip }?.state }

        /// Records that `vip` (a VIP or a copy) was just removed from its interface, as the
        /// next judgement would find it: the VIP absent (or its interface still without
        /// carrier), the copy gone.
        public mutating func noteRemoved(_ vip: VirtualIP) {
            copies.removeAll { $0.prefix == vip.prefix && $0.interface == vip.interface }
            for index in vips.indices where vips[index].vip.prefix == vip.prefix && vips[index].vip.interface == vip.interface {
                switch vips[index].state {
                case .held, .tentative, .conflict: vips[index].state = .absent
                case .noCarrier: vips[index].state = .noCarrier(present: false)
                case .absent, .interfaceMissing: break
                }
            }
        }

        /// What a node that counted `held` as its own must do about its VIPs after this report:
        /// - `lost`: held VIPs that are gone or in address conflict: no longer held, no longer announced;
        /// - `usable`: (only while `serving`) VIPs present and usable but not yet held (duplicate
        ///   address detection of a copy finished): held from now on and announced;
        /// - `missing`: (only while `serving`) VIPs absent from an interface that is up: to claim again.
        public func vipActions(held: Set<VirtualIP>, serving: Bool)
            -> (lost: Set<VirtualIP>, usable: [VirtualIP], missing: [VirtualIP]) {
            let lost = held.filter { vip in state(of: vip).map { !$0.isPresent || $0 == .conflict } ?? true }
            guard serving else { return (lost, [], []) }
            let usable = vips.filter { $0.state == .held && !held.contains($0.vip) }.map(\.vip)
            let missing = vips.filter { $0.state == .absent }.map(\.vip)
            return (lost, usable, missing)
        }
    }

    /// Judges this node's health.
    ///
    /// - Parameters:
    ///   - heartbeatAddresses: this node's heartbeat address of each path, in path order (empty:
    ///     paths are not judged).
    ///   - sendFailures: path index → why sending on it fails now (the transport's classification).
    ///   - vips: the configured VIPs.
    ///   - trackedInterfaces: the node's `track_interfaces` (these are left to the election).
    ///   - links: every link, as RTM_GETLINK lists them.
    ///   - addresses: every address, with interface names filled in.
    public static func assess(heartbeatAddresses: [IPAddress], sendFailures: [Int: String], vips: [VirtualIP],
                              trackedInterfaces: [TrackedInterface], links: [LinkState],
                              addresses: [InterfaceAddress]) -> Report {
        let linkByName = Dictionary(links.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var faults: [String] = []

        let paths = heartbeatAddresses.enumerated().map { index, local in
            pathState(local, sendFailure: sendFailures[index], links: linkByName, addresses: addresses)
        }
        if !paths.isEmpty, !paths.contains(where: \.isUsable) {
            let detail = zip(heartbeatAddresses, paths).enumerated()
                .map { index, pair in "path \(index) \(pair.0): \(pair.1)" }.joined(separator: "; ")
            faults.append("no usable heartbeat path (\(detail)): silence from the peer would say nothing about it")
        }

        let states = vips.map { vip in VIPEntry(vip: vip, state: vipState(vip, links: linkByName, addresses: addresses)) }
        let explicitlyTracked = Set(trackedInterfaces.map(\.interface))
        var seen = Set<String>()
        for vip in vips where !explicitlyTracked.contains(vip.interface) && seen.insert(vip.interface).inserted {
            guard let link = linkByName[vip.interface] else {
                faults.append("VIP interface \(vip.interface) does not exist")
                continue
            }
            if !link.isUp { faults.append("VIP interface \(vip.interface) is down or has no carrier") }
        }
        for entry in states where entry.state == .conflict { faults.append(conflictText(entry.vip)) }
        return Report(paths: paths, vips: states, faults: faults, copies: copies(of: vips, links: linkByName, addresses: addresses))
    }

    /// The addresses that carry a VIP's address but are not a configured VIP (another prefix
    /// length, another interface), except on quiet links; each once.
    static func copies(of vips: [VirtualIP], links: [String: LinkState], addresses: [InterfaceAddress]) -> [VirtualIP] {
        let vipAddresses = Set(vips.map(\.prefix.address))
        var found: [VirtualIP] = []
        for address in addresses where vipAddresses.contains(address.prefix.address) && !address.interface.isEmpty {
            let copy = VirtualIP(prefix: address.prefix, interface: address.interface)
            let quiet = links[address.interface]?.isQuiet ?? (address.interface == "lo")
            // Same address, prefix and interface is the VIP itself, whatever its label or
            // nat_gateway (which `VirtualIP`'s equality also compares).
            guard !quiet, !vips.contains(where: { address.matches($0) }), !found.contains(copy) else { continue }
            found.append(copy)
        }
        return found
    }

    static func pathState(_ local: IPAddress, sendFailure: String?, links: [String: LinkState],
                          addresses: [InterfaceAddress]) -> PathState {
        let candidates = addresses.filter { $0.prefix.address == local }
        guard !candidates.isEmpty else { return .addressMissing }
        // Prefer a copy on a link that is up (the same address may sit on two interfaces).
        let onUpLink = candidates.first { links[$0.interface]?.isUp == true }
        guard let address = onUpLink else { return .linkDown(interface: candidates[0].interface) }
        if address.flags & InterfaceAddress.dadFailedFlag != 0 {
            return .addressNotReady(interface: address.interface, dadFailed: true)
        }
        if address.flags & InterfaceAddress.tentativeFlag != 0 {
            return .addressNotReady(interface: address.interface, dadFailed: false)
        }
        if let sendFailure { return .sendFailing(sendFailure) }
        return .usable(interface: address.interface)
    }

    static func vipState(_ vip: VirtualIP, links: [String: LinkState], addresses: [InterfaceAddress]) -> VIPState {
        guard let link = links[vip.interface] else { return .interfaceMissing }
        let copy = addresses.first { $0.matches(vip) }
        if let copy, copy.flags & InterfaceAddress.dadFailedFlag != 0 { return .conflict }
        guard link.isUp else { return .noCarrier(present: copy != nil) }
        guard let copy else { return .absent }
        if copy.flags & InterfaceAddress.tentativeFlag != 0 { return .tentative }
        return .held
    }

    static func conflictText(_ vip: VirtualIP) -> String {
        "address conflict: VIP \(vip.prefix) on \(vip.interface) failed duplicate address detection (another host on the link uses it);"
            + " it is left in place so the conflict stays visible: remove it with `ip addr del \(vip.prefix) dev \(vip.interface)` once the other host is gone"
    }
}
