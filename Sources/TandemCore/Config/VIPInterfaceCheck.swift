/// VIPs whose interface does not exist on this host.
///
/// `LocalHealth` judges a node with such a VIP faulty (it cannot hold the VIP, so its peer
/// should), which is right when an interface disappears but turns a mistyped interface name into
/// a total outage: the config mirrors to the peer, the peer faults too, and every VIP is
/// released on both routers. So a reload (or a mirrored config) that brings in a VIP on an
/// interface this node does not have is refused, `tandemd --check` and `tandemctl check-config`
/// on a node warn, and the running config stays. keepalived, for comparison, logs an unknown
/// interface at config load and leaves that address out.
public enum VIPInterfaceCheck {
    /// The VIPs of `config` on interfaces `exists` does not find, in config order, less those
    /// `running` already has on the same interface (a reload that keeps a VIP whose interface is
    /// missing is not the reload's doing: the node is already judged faulty for it).
    public static func absent(in config: Config, running: Config? = nil, exists: (String) -> Bool) -> [VirtualIP] {
        var known: [String: Bool] = [:]
        return brought(in: config, running: running).filter { vip in
            if let found = known[vip.interface] { return !found }
            let found = exists(vip.interface)
            known[vip.interface] = found
            return !found
        }
    }

    /// The VIPs of `config` that `running` does not already have on the same interface, in
    /// config order (all of them without `running`).
    static func brought(in config: Config, running: Config?) -> [VirtualIP] {
        let kept = Set((running?.virtualIPs ?? []).map { VIPKey(prefix: $0.prefix, interface: $0.interface) })
        return config.virtualIPs.filter { !kept.contains(VIPKey(prefix: $0.prefix, interface: $0.interface)) }
    }

    /// The VIPs of `config` (less those `running` already has) on interfaces that exist but are
    /// down or have no carrier (`isUp`: IFF_UP and IFF_RUNNING, nil for an interface that does
    /// not exist, which `absent` names), in config order. `LocalHealth` judges a node faulty for
    /// such a VIP unless `node` tracks the interface with `lower_priority_by` (then only its
    /// priority drops): a reload that brings one in faults the node, and the peer too once the
    /// config is mirrored, and nobody serves any VIP (trial 35: an interface not cabled yet).
    public static func down(in config: Config, running: Config? = nil, node: String, isUp: (String) -> Bool?) -> [VirtualIP] {
        let lowered = Set((config.node(named: node)?.trackInterfaces ?? []).filter { $0.effect != .fault }.map(\.interface))
        return brought(in: config, running: running).filter { vip in
            !lowered.contains(vip.interface) && isUp(vip.interface) == false
        }
    }

    /// One line naming the VIPs on interfaces that are down and the fix, for `node`.
    public static func downProblem(_ vips: [VirtualIP], node: String) -> String {
        let interfaces = Array(Set(vips.map(\.interface))).sorted()
        let list = vips.map { "\($0.prefix) on \($0.interface)" }.joined(separator: ", ")
        let one = interfaces.count == 1
        return "virtual_ips: \(list): \(one ? "interface" : "interfaces") \(interfaces.joined(separator: ", ")) "
            + "\(one ? "is" : "are") down or without carrier on \(node); with \(one ? "it" : "them") this node would be judged "
            + "faulty and release every VIP (and so would the peer, once the config is mirrored there): bring "
            + "\(one ? "it" : "them") up with carrier first (ip link set \(interfaces[0]) up, and the cable or the other end), "
            + "or track \(one ? "it" : "them") with lower_priority_by in \(node)'s track_interfaces"
    }

    /// The VIPs of `config` (less those `running` already has) whose address is already an
    /// address of this host (`interfaceOf`: the interface it is on, nil when not here), with
    /// that interface, in config order. Such an address was not put there by this tandemd (it
    /// adds a VIP only once the VIP is configured): it is the host's own, and a standby removes
    /// every VIP address it finds, so the host would lose it and the active take it over
    /// (trial 35: another router's management address typed as a VIP).
    /// An address the running config has as a VIP (on any interface, with any prefix: a VIP
    /// moved to another interface) is this tandemd's and left out.
    public static func alreadyHere(in config: Config, running: Config? = nil,
                                   interfaceOf: (IPAddress) -> String?) -> [(vip: VirtualIP, interface: String)] {
        let ours = Set((running?.virtualIPs ?? []).map(\.prefix.address))
        return brought(in: config, running: running).compactMap { vip in
            ours.contains(vip.prefix.address) ? nil : interfaceOf(vip.prefix.address).map { (vip, $0) }
        }
    }

    /// One line naming the VIPs that are addresses of this host and the fix, for `node`.
    public static func alreadyHereProblem(_ found: [(vip: VirtualIP, interface: String)], node: String) -> String {
        let list = found.map { "\($0.vip.prefix) on \($0.vip.interface) (\($0.vip.prefix.address) is on \($0.interface))" }
            .joined(separator: ", ")
        let first = found[0]
        return "virtual_ips: \(list): already \(found.count == 1 ? "an address" : "addresses") of \(node) that no running VIP put "
            + "there; a standby removes every VIP address it finds, so \(node) would lose it and the active router take it over: "
            + "write an address no host uses, or, if it is a leftover of an earlier VIP, remove it first "
            + "(ip addr del \(first.vip.prefix.address) dev \(first.interface))"
    }

    /// One line naming the VIPs, their interfaces and the fix, for `node`.
    public static func problem(_ vips: [VirtualIP], node: String) -> String {
        let interfaces = Array(Set(vips.map(\.interface))).sorted()
        let list = vips.map { "\($0.prefix) on \($0.interface)" }.joined(separator: ", ")
        return "virtual_ips: \(list): \(interfaces.count == 1 ? "interface" : "interfaces") "
            + "\(interfaces.joined(separator: ", ")) \(interfaces.count == 1 ? "does" : "do") not exist on \(node); "
            + "with it this node would be judged faulty and release every VIP (and so would the peer, "
            + "once the config is mirrored there): correct the name, or create the interface first"
    }

    /// The other interfaces `config` names for `node` that `exists` does not find, one warning
    /// line each: the sync daemons' interface (the kernel refuses to start them on a missing
    /// one, so connections are not synchronised and a failover drops them) and the node's
    /// tracked interfaces (a missing one counts as down: a fault, or a lower priority).
    public static func otherAbsent(in config: Config, node: String, exists: (String) -> Bool) -> [String] {
        var out: [String] = []
        if let sync = config.sync, !exists(sync.interface) {
            out.append("sync.interface: \(sync.interface) does not exist on \(node): the kernel cannot start the IPVS sync "
                + "daemons on it, so connections are not synchronised and a failover drops them; correct the name, or create the interface first")
        }
        for tracked in config.node(named: node)?.trackInterfaces ?? [] where !exists(tracked.interface) {
            out.append("track_interfaces: \(tracked.interface) does not exist on \(node): it counts as down "
                + "(\(tracked.effect == .fault ? "this node is judged faulty" : "its priority is lowered")) until it exists; correct the name, or create the interface first")
        }
        return out
    }

    /// This node's heartbeat addresses that `isLocal` does not find on this host, one warning line
    /// each: tandemd binds each path's socket to its address, so a path whose address is missing
    /// neither listens nor sends (status says "NOT LISTENING" and "NOT USABLE here") until the
    /// address is configured; with every address missing the pair has no heartbeats at all.
    /// When the host holds none of `node`'s addresses but some of its peer's, the one line of
    /// `peersHost` instead: adding `node`'s addresses there would duplicate them on the LAN.
    public static func heartbeatAddressesAbsent(in config: Config, node: String, isLocal: (IPAddress) -> Bool) -> [String] {
        guard let me = config.node(named: node) else { return [] }
        if let wrong = peersHost(in: config, node: node, isLocal: isLocal) { return [wrong] }
        let peer = config.peer(of: node)
        return me.heartbeatAddresses.enumerated().filter { !isLocal($0.element) }.map { index, address in
            let remote = peer.flatMap { index < $0.heartbeatAddresses.count ? " to \($0.name)'s \($0.heartbeatAddresses[index])" : nil } ?? ""
            return "nodes: \(node)'s heartbeat address \(address) is on no interface of this host: heartbeat path \(index)\(remote) "
                + "neither listens nor sends until it is (status shows it NOT USABLE here); add the address "
                + "(ip addr add \(address)/PREFIX dev IFACE), or correct \(node)'s addresses"
        }
    }

    /// The line saying that this host is `node`'s peer, not `node`: `isLocal` finds none of
    /// `node`'s heartbeat addresses and at least one of the peer's (a config or unit copied from
    /// the other router with its `--node`; trial 35). Nil otherwise, and when the host holds
    /// neither node's addresses (then each missing address is its own warning). Started so,
    /// tandemd has no heartbeat path and stays in fault; `tandemd --check` fails with it (78).
    public static func peersHost(in config: Config, node: String, isLocal: (IPAddress) -> Bool) -> String? {
        guard let me = config.node(named: node), let peer = config.peer(of: node),
              !me.heartbeatAddresses.contains(where: isLocal) else { return nil }
        let held = peer.heartbeatAddresses.filter(isLocal)
        guard !held.isEmpty else { return nil }
        let list = held.map(\.description).joined(separator: ", ")
        return "nodes: this host has \(peer.name)'s heartbeat \(held.count == 1 ? "address" : "addresses") \(list) and none of "
            + "\(node)'s: is this \(peer.name)? (--node \(peer.name)); as \(node) here tandemd has no heartbeat path and stays in "
            + "fault, and adding \(node)'s addresses here would duplicate them on the LAN"
    }

    /// VIPs whose claim would give this node a second route to the peer's heartbeat address,
    /// one warning line each: the VIP's prefix holds the peer's address of a heartbeat path, and
    /// the VIP goes on another interface than the one holding this node's end of that path
    /// (`interfaceOf`: the interface an address of this host is on, nil when not here). Once the
    /// VIP is claimed the kernel has two connected routes to that subnet; which one carries the
    /// heartbeats depends on their order, which an interface flap changes: they leave by the
    /// VIP's interface, the peer hears nothing and takes over while this node still serves.
    /// keepalived's documentation gives the same advice (a VIP outside the VRRP interface's
    /// subnet, or a host prefix).
    public static func heartbeatRouteConflicts(in config: Config, node: String,
                                               interfaceOf: (IPAddress) -> String?) -> [String] {
        guard let me = config.node(named: node), let peer = config.peer(of: node) else { return [] }
        var out: [String] = []
        for vip in config.virtualIPs where vip.prefix.length < vip.prefix.family.bitWidth {
            for (local, remote) in zip(me.heartbeatAddresses, peer.heartbeatAddresses) where vip.prefix.contains(remote) {
                guard let pathInterface = interfaceOf(local), pathInterface != vip.interface else { continue }
                let host = vip.prefix.family.bitWidth
                out.append("virtual_ips: \(vip.prefix) on \(vip.interface): its subnet holds \(peer.name)'s heartbeat address "
                    + "\(remote), which \(node) reaches from \(local) on \(pathInterface): once claimed, the kernel has a second route "
                    + "to \(remote) through \(vip.interface), and heartbeats may leave by it (after \(pathInterface) flaps, say) and be "
                    + "lost: a takeover while \(node) still serves. Put the VIP on \(pathInterface), or give it a /\(host) prefix")
                break
            }
        }
        return out
    }

    private struct VIPKey: Hashable {
        var prefix: IPPrefix
        var interface: String
    }
}
