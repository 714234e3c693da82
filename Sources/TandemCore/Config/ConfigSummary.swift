/// The short human summary `tandemctl check-config` prints for a valid config.
public enum ConfigSummary {
    public static func render(_ config: Config, file: String, node: String? = nil) -> String {
        var lines: [String] = []
        let digest = config.digest
        lines.append("\(file): valid (serial \(config.serial), digest \(digest.prefix(16)))")
        let nodes = config.nodes.map { n in
            "\(n.name)\(n.name == node ? " (this node)" : "") priority \(n.priority) via \(n.heartbeatAddresses.map(\.description).joined(separator: ", "))"
        }
        if let cluster = config.cluster {
            let directors = config.nodes.map { n in
                "\(n.name)\(n.name == node ? " (this node)" : "") \(n.heartbeatAddresses.map(\.description).joined(separator: ", "))"
            }
            lines.append("cluster: \(config.nodes.count) active directors: \(directors.joined(separator: "; "))")
            lines.append("routes: host routes of the VIPs on \(cluster.vipInterface) in table \(cluster.routeTable), protocol \(cluster.routeProtocol)")
            let bgp = cluster.bgp
            let peers = bgp.peers.map { "\($0.name) \($0.address) AS \($0.remoteAS)" }.joined(separator: ", ")
            lines.append("bgp: AS \(bgp.localAS) to \(peers); " + (bgp.bfd ? "BFD \(bgp.bfdInterval) × \(bgp.bfdMultiplier), a dead director detected in \(bgp.bfdDetectionTime)" : "no BFD"))
        } else {
            lines.append("nodes: \(nodes.joined(separator: "; "))")
        }
        let auth: String
        switch config.heartbeat.authentication {
        case .none: auth = "UNAUTHENTICATED (auth: none)"
        case .hmacSHA256(let file):
            auth = "HMAC-SHA256 key \(file)" + (config.heartbeat.nextKeyFile.map { " (also accepting \($0) during a key change)" } ?? "")
        }
        lines.append("heartbeat: every \(config.heartbeat.interval), dead after \(config.heartbeat.deadTime), UDP port \(config.heartbeat.port), \(auth)")
        lines.append("virtual IPs: \(config.virtualIPs.count)" + (config.virtualIPs.isEmpty ? "" : " (" + config.virtualIPs.map { "\($0.prefix) on \($0.interface)" }.joined(separator: ", ") + ")"))
        let reals = config.virtualServers.reduce(0) { $0 + $1.realServers.count }
        lines.append("virtual servers: \(config.virtualServers.count), real servers: \(reals)"
                     + (config.virtualServers.isEmpty ? " (VIP-only failover)" : ""))
        lines.append("digest: \(digest)")
        return lines.joined(separator: "\n")
    }
}
