import TandemCore

/// Carries out config replication's effects for `NodeState` (`NodeEffect.fetchPeerConfig`,
/// `writeConfig`, `reloadConfig`) and keeps replication's record for `tandemctl status`. Each
/// call returns at once: the work runs off the heartbeat thread, one job at a time, and its
/// outcome comes back as a `NodeEvent` (`HeartbeatLoopEvent.config`). `ReplicationService` is
/// the live one.
public protocol ConfigReplicating: AnyObject, Sendable {
    /// Fetch the peer's config (it runs `version`), read it, answer `.peerConfigFetched`.
    func fetch(_ version: ConfigVersion)
    /// Write the config fetched as `version` over the config file, answer `.configWritten`.
    func write(_ version: ConfigVersion)
    /// Reload the config file as SIGHUP does (it answers `.configLoaded` or `.reloadFailed`).
    func reload()
    /// A replication ended: `result` is "applied" or why not.
    func record(serial: UInt64, result: String, succeeded: Bool)
    /// Equal serials with different digests (`local` nil: resolved).
    func conflict(local: ConfigVersion?, peer: ConfigVersion?)
}
