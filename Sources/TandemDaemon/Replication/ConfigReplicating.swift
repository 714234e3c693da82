import TandemCore

/// Carries out the peer channel's effects for `NodeState`: config replication
/// (`NodeEffect.fetchPeerConfig`, `writeConfig`, `reloadConfig`, with replication's record for
/// `tandemctl status`) and drain offers (`offerDrains`). Each call returns at once: the work runs
/// off the heartbeat thread (config jobs one at a time, offers beside them), and its outcome
/// comes back as a `NodeEvent` (`HeartbeatLoopEvent.node`). `ReplicationService` is the live one.
public protocol ConfigReplicating: AnyObject, Sendable {
    /// Fetch the peer's config (it runs `version`), read it, answer `.peerConfigFetched`.
    func fetch(_ version: ConfigVersion)
    /// Write the config fetched as `version` over the config file, answer `.configWritten`.
    func write(_ version: ConfigVersion)
    /// Reload the config file as SIGHUP does (it answers `.configLoaded` or `.reloadFailed`).
    func reload()
    /// The reload refused the config written as `version`: put the config file back as it was
    /// before that write, keeping the refused one beside it; logs the outcome.
    func restore(_ version: ConfigVersion)
    /// A replication ended: `result` is "applied" or why not.
    func record(serial: UInt64, result: String, succeeded: Bool)
    /// Equal serials with different digests (`local` nil: resolved).
    func conflict(local: ConfigVersion?, peer: ConfigVersion?)
    /// Send the drain list to the peer (not behind a config fetch); answer `.drainsOffered`.
    func offerDrains(_ list: DrainList, request: NodeRequestID?)
}

/// Keeps the drain list `NodeState` decided on in the state directory (so it survives a
/// restart), one change after another in the order given, off the heartbeat thread.
public protocol DrainKeeping: AnyObject, Sendable {
    func changed(_ book: DrainBook)
}
