#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What config replication last did and what it knows, for `tandemctl status`. A value: take
/// it with `ReplicationService.status()` from any thread.
public struct ReplicationStatus: Sendable, Hashable {
    /// One replication, either way.
    public struct Event: Sendable, Hashable {
        public enum Direction: String, Sendable, Hashable {
            /// This node fetched the peer's config.
            case fetched
            /// This node served its config to the peer.
            case served
        }
        /// Wall-clock time it ended.
        public var when: Date
        public var direction: Direction
        /// The peer's node name.
        public var peer: String
        /// Serial of the config that travelled (0 when none did).
        public var serial: UInt64
        /// "applied", "served", or why it failed.
        public var result: String
        /// Whether it succeeded.
        public var succeeded: Bool
    }

    /// False when heartbeats are not authenticated (`auth: none`): nothing is mirrored then.
    public var enabled: Bool
    /// Why replication is off, when it is.
    public var disabledReason: String?
    public var lastReplication: Event?
    /// Equal serials with different digests.
    public var conflict: Bool = false
    /// This node's digest (hex) while in conflict.
    public var localDigest: String?
    /// The peer's digest (hex) while in conflict.
    public var peerDigest: String?
    /// Connections whose handshake failed the key check (either way).
    public var authenticationFailures: UInt64 = 0
    /// Configs fetched and applied.
    public var fetches: UInt64 = 0
    /// Fetches that failed (peer unreachable, config refused).
    public var fetchFailures: UInt64 = 0
    /// Configs served to the peer.
    public var serves: UInt64 = 0
    /// Path addresses this node cannot listen on yet (address → why); retried until it can.
    public var notListening: [String: String] = [:]

    public init(enabled: Bool, disabledReason: String? = nil) {
        self.enabled = enabled
        self.disabledReason = disabledReason
    }
}
