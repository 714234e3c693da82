import TandemCore

/// What `MetricsServer` does with each `metrics.listen` endpoint it cannot bind, decided without
/// sockets.
///
/// One shared config lists every router's metrics address, so each node skips the addresses the
/// config gives to another node (`nodes[].addresses`). Every other endpoint (this node's own
/// address, a wildcard, loopback, a VIP, an address the config does not place) is retried until
/// it can be bound: after a reboot the address may appear after tandemd started (a late VLAN or
/// bond, a slow link, DHCP), and an operator trial found /metrics never served then, although
/// the config-replication listener on the same address recovered (`ReplicationService.listen`).
public enum MetricsListenPolicy {
    /// Whose an endpoint's address is, by the config.
    public enum Owner: Sendable, Hashable {
        /// One of the VIPs: bound with `IP_FREEBIND` on every node, held or not.
        case vip
        /// One of another node's addresses (`nodes[].addresses`): that node serves it.
        case otherNode(String)
        /// This node's (its own addresses, wildcards, loopback), or an address the config does not
        /// place: this node listens there once it can.
        case thisNode
    }

    /// What follows a failed bind.
    public enum AfterFailure: Sendable, Hashable {
        /// Not this node's endpoint: not listened on, not reported as missing.
        case skip
        /// Bind again after this long, and report the endpoint as not served until then.
        case retry(after: Duration)
    }

    /// The longest wait between two binds of one endpoint: 10 s, so an address that appears late
    /// is served within 10 s (a Prometheus scrape interval is typically 15 s or more).
    public static let maximumRetryDelay: Duration = .seconds(10)

    /// `address`'s owner: a VIP first (a VIP is nobody's own address), then another node's.
    public static func owner(of address: IPAddress, vips: Set<IPAddress>, otherNodes: [Node]) -> Owner {
        if vips.contains(address) { return .vip }
        if let node = otherNodes.first(where: { $0.heartbeatAddresses.contains(address) }) { return .otherNode(node.name) }
        return .thisNode
    }

    /// After the `failures`-th failed bind in a row (1 for the first): another node's endpoint is
    /// skipped; any other is bound again 1 s after the first failure, the wait doubling up to
    /// `maximumRetryDelay` (the replication listener's schedule, with a shorter ceiling).
    public static func afterFailure(owner: Owner, failures: Int) -> AfterFailure {
        if case .otherNode = owner { return .skip }
        let doublings = min(max(failures - 1, 0), 10)
        return .retry(after: min(.seconds(1 << doublings), maximumRetryDelay))
    }

    /// Why an endpoint is not served, as status shows it: `error` is the bind's failure
    /// ("Cannot assign requested address (errno 99)"); `addressNotAvailable` is EADDRNOTAVAIL,
    /// the address not (yet) on this node.
    public static func reason(error: String, addressNotAvailable: Bool) -> String {
        addressNotAvailable
            ? "not an address of this node yet (\(error)); tandemd binds it within \(maximumRetryDelay.components.seconds) s of it appearing"
            : "\(error); tandemd tries again every \(maximumRetryDelay.components.seconds) s at most"
    }
}
