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
        let kept = Set((running?.virtualIPs ?? []).map { VIPKey(prefix: $0.prefix, interface: $0.interface) })
        var known: [String: Bool] = [:]
        return config.virtualIPs.filter { vip in
            if kept.contains(VIPKey(prefix: vip.prefix, interface: vip.interface)) { return false }
            if let found = known[vip.interface] { return !found }
            let found = exists(vip.interface)
            known[vip.interface] = found
            return !found
        }
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
