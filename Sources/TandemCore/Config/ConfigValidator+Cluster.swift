/// The cross-checks of cluster mode (`cluster:`): the directors and BGP peers are distinct, every
/// director can reach every peer's family, and the services keep a flow on one real server
/// whichever director the upstream router's ECMP hands it to (ecosystem.md §4.4).
extension Validator {
    func validateDirectors(_ config: Config, _ cluster: ClusterSettings) {
        let nodes = config.nodes
        let range = ClusterSettings.directorCount
        guard range.contains(nodes.count) else {
            fail("nodes", nodes.count < range.lowerBound
                 ? "a cluster has \(range.lowerBound) to \(range.upperBound) directors; found \(nodes.count): list every director of the cluster, this one included"
                 : "a cluster has \(range.lowerBound) to \(range.upperBound) directors; found \(nodes.count): the upstream router merges at most 16 equal paths (BIRD's merge paths limit), so the others would receive no flows")
            return
        }
        var nameIndex: [String: Int] = [:]
        var ownerOf: [IPAddress: String] = [:]
        for (i, node) in nodes.enumerated() {
            if let first = nameIndex[node.name] {
                fail("nodes[\(i)].name", "\"\(node.name)\" is already the name of nodes[\(first)]: give each director its own name")
            } else {
                nameIndex[node.name] = i
            }
            for (j, a) in node.heartbeatAddresses.enumerated() {
                if let owner = ownerOf[a], owner != node.name {
                    fail("nodes[\(i)].addresses[\(j)]", "\(a) is also an address of \(owner): each director needs its own")
                }
                ownerOf[a] = node.name
            }
        }
        validateNodeAddresses(nodes)
        validateVIPFamilies(config, cluster)
        let vips = Set(config.virtualIPs.map(\.address))
        var peerIndex: [IPAddress: Int] = [:]
        var peerNames: [String: Int] = [:]
        for (k, peer) in cluster.bgp.peers.enumerated() {
            let path = "cluster.bgp.peers[\(k)]"
            if let first = peerIndex[peer.address] {
                fail("\(path).address", "\(peer.address) is already cluster.bgp.peers[\(first)]")
            } else {
                peerIndex[peer.address] = k
            }
            if let first = peerNames[peer.name] {
                fail("\(path).name", "\"\(peer.name)\" is already the name of cluster.bgp.peers[\(first)]: BIRD needs one protocol name per session")
            } else {
                peerNames[peer.name] = k
            }
            if let owner = ownerOf[peer.address] {
                fail("\(path).address", "\(peer.address) is director \(owner)'s own address: the peers are the upstream routers the directors announce to")
            }
            if vips.contains(peer.address) {
                fail("\(path).address", "\(peer.address) is one of the virtual IPs: the peers are the upstream routers in front of them")
            }
            for (i, node) in nodes.enumerated() where !node.heartbeatAddresses.contains(where: { $0.family == peer.address.family }) {
                fail("nodes[\(i)].addresses", "director \(node.name) has no \(peer.address.family) address to start its BGP session with \(peer.name) (\(peer.address)) from: add one")
            }
        }
    }

    /// Every VIP needs a BGP peer of its family to be announced to (an IPv4 session carries IPv4
    /// routes in the generated config).
    func validateVIPFamilies(_ config: Config, _ cluster: ClusterSettings) {
        let peerFamilies = Set(cluster.bgp.peers.map(\.address.family))
        for (i, vip) in config.virtualIPs.enumerated() where !peerFamilies.contains(vip.family) {
            fail("virtual_ips[\(i)].address", "no \(vip.family) BGP peer to announce \(vip.address) to: add one under cluster.bgp.peers, or remove the VIP")
        }
    }

    /// Warnings about services whose flows would change real server when ECMP moves them.
    func validateClusterServices(_ config: Config) {
        for (i, vs) in config.virtualServers.enumerated() {
            let path = "virtual_servers[\(i)]"
            if vs.scheduler.name != "mh" {
                warn("\(path).scheduler", "the \(vs.scheduler.name) scheduler decides from this director's own state, so when the upstream router moves flows to another director (a director joins, leaves or is drained) they reach a different real server and break; use scheduler: mh (Maglev hashing), which picks the same real server on every director from the same list")
            } else {
                if !vs.scheduler.flags.contains(.mhFallback) {
                    warn("\(path).scheduler", "mh without mh-fallback: a real server at weight 0 (quiesced by its health check, drained with tandemctl drain, or weight: 0) keeps its slots, so new connections that hash to it find no real server and fail (ip_vs_mh.c); add scheduler_flags: [mh-fallback]")
                }
                if vs.healthCheck?.failureAction == .remove {
                    warn("\(path).health_check.failure_action", "remove under mh: the kernel puts a re-added real server at the head of its list (ip_vs_ctl.c __ip_vs_update_dest), and the mh table follows list order, so a director that saw a server flap hashes differently from the others; use quiesce with mh-fallback")
                }
            }
            if case .fwmark(let mark, _) = vs.match {
                warn("\(path).fwmark", "the health of a fwmark service gates no VIP's announcement: which addresses mark \(mark) covers is up to the firewall rule, which the config does not see; a VIP stays announced while this service has no live real server")
            }
            if case .nat = vs.forwarding {
                warn("\(path).forwarding", "NAT under ECMP: each real server sends its replies to one gateway, which cannot be every director; use dr or tunnel, whose replies go straight to the client")
            }
        }
        if config.sync == nil {
            warn("cluster", "no sync: section: when the upstream router moves established connections to another director (a director joins, leaves or is drained), that director has no entry for them and, with TCP, schedules only on SYN, so they break; add sync: (every director runs the sync daemon as master and backup at once)")
        }
    }
}
