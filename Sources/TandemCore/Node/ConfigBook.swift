/// The config versions one node deals with (the one in force, one being put in force, the
/// peer's) and the rules of config replication between the two nodes. Owned by `NodeState`.
///
/// Rules (each a row in `ConfigBookTests`):
/// - The higher serial wins (`ReplicationDecision`); equal serials with different digests are a
///   conflict, reported once per pair of versions and never applied.
/// - A higher peer version is fetched (one fetch at a time; a failed fetch is retried after a
///   back-off, a refused config is fetched again when the peer's version changes or after a
///   minute, doubling to ten, so a refusal for a cause on this node heals once it is fixed:
///   `ReplicationMonitor`).
/// - A fetched config is refused whole, and the config in force stays, when it is larger than
///   `PeerFrame.maximumConfigBytes`, invalid, not what the peer said it sent (digest), does not
///   name this node, pairs this node with another peer (renaming needs a restart of both), or
///   its serial is not higher than the one in force; it is fetched again as above. One that is
///   already in force is done.
/// - Otherwise it is *prepared*: written over the config file, then reloaded the way SIGHUP
///   reloads. It is applied when the reload puts exactly its version in force; a failed write
///   is a failed fetch (retried), a reload that refuses it is a refusal, and a reload that puts
///   another version in force (an operator's edit in between) is a failed fetch too: retried,
///   never remembered as refused. Nothing else is fetched while one is prepared.
public struct ConfigBook: Sendable {
    /// The version in force.
    public private(set) var running: ConfigVersion
    /// The fetched version being written and reloaded, if any.
    public private(set) var prepared: ConfigVersion?
    /// The peer's version from its newest heartbeat (nil: never heard).
    public private(set) var peer: ConfigVersion?
    /// False with `auth: none`: an unauthenticated channel never rewrites a config.
    public let replicates: Bool
    private var monitor = ReplicationMonitor()
    private var fetchStarted: MonotonicInstant?

    public init(running: ConfigVersion, replicates: Bool) {
        self.running = running
        self.replicates = replicates
    }

    /// The conflict being reported, if any.
    public var conflict: (local: ConfigVersion, peer: ConfigVersion)? { monitor.conflict }
    /// The peer's version this node fetched and refused, until it is fetched again.
    public var refusedPeerVersion: ConfigVersion? { monitor.refusedVersion }

    /// Why an operator's reload of a changed config must be refused for its serial; nil when it
    /// may go ahead (also when nothing changed: `fresh` is the version in force).
    ///
    /// The higher serial wins between the nodes (the rule above), so a changed config whose
    /// serial is not above the one in force, or not above the live peer's, would not stay: the
    /// peer's copy would be fetched back over it (lower), or the two nodes would run different
    /// configs under one serial, a conflict nothing resolves (equal). The fix is the serial to write.
    /// - Parameters:
    ///   - peer: the live peer's version (nil when it is not heard).
    ///   - mirrors: whether configs are mirrored (`auth` with a key); with `auth: none` the
    ///     serials are still compared and reported, and the rule is the same.
    public static func serialProblem(running: ConfigVersion, fresh: ConfigVersion, peer: ConfigVersion?, peerName: String,
                                     mirrors: Bool) -> String? {
        guard fresh.digest != running.digest else { return nil }
        let wanted = max(running.serial, peer?.serial ?? 0) + 1
        let fix = "raise serial to \(wanted) (every change needs a higher serial: the higher one wins between the nodes)"
        if fresh.serial < running.serial {
            let back = mirrors ? ", and \(peerName)'s copy of serial \(running.serial) would be fetched back over it" : ""
            return "the file's serial \(fresh.serial) is below the serial in force (\(running.serial)): \(peerName) would keep "
                + "serial \(running.serial)\(back); \(fix)"
        }
        if fresh.serial == running.serial {
            return "the config changed but its serial (\(fresh.serial)) did not: the two nodes would run different configs "
                + "under one serial (a CONFIG CONFLICT nobody resolves); \(fix)"
        }
        if let peer, peer.digest != fresh.digest, peer.serial >= fresh.serial {
            return peer.serial == fresh.serial
                ? "\(peerName) already runs serial \(peer.serial) with other contents: the two nodes would run different configs "
                    + "under one serial (a CONFIG CONFLICT nobody resolves); \(fix)"
                : "\(peerName) runs serial \(peer.serial), above the file's \(fresh.serial): its config would "
                    + (mirrors ? "be fetched back over this one" : "win over this one") + "; \(fix)"
        }
        return nil
    }

    /// What a step of the book asks for.
    public enum Step: Sendable, Hashable {
        /// Fetch the peer's config (it runs `version`).
        case fetch(ConfigVersion)
        case conflictDetected(local: ConfigVersion, peer: ConfigVersion)
        case conflictResolved
        /// Write the fetched config (`version`) over the config file, then answer `written`.
        case write(ConfigVersion)
        /// Reload the config file (SIGHUP's path), then answer `loaded` or `reloadFailed`.
        case reload(ConfigVersion)
        /// The fetched config is in force (`milliseconds` from the start of the fetch).
        case applied(ConfigVersion, milliseconds: UInt64)
        /// The fetched config was refused; the config in force stays.
        case refused(serial: UInt64, reason: String)
        /// Put the config file back as it was before the fetched `version` was written over it
        /// (the reload refused it: a refused config never stays in the file, where the next
        /// start would load it), keeping the refused one beside it.
        case restoreFile(ConfigVersion)
        /// The fetch failed (or the write): retried after a back-off.
        case failed(serial: UInt64, reason: String)
    }

    /// The peer's heartbeat carried `version`.
    /// Whether `peerHeard(version)` would change nothing and ask for nothing: the peer runs the
    /// version it was last heard with, which is this node's, with no conflict or refusal on
    /// record (`NodeState.steadyFollowing`).
    public func hearsRoutinely(_ version: ConfigVersion) -> Bool {
        peer == version && running == version && monitor.conflict == nil && monitor.refusedVersion != version
    }

    public mutating func peerHeard(_ version: ConfigVersion, at now: MonotonicInstant) -> [Step] {
        peer = version
        guard replicates, prepared == nil else { return [] }
        return monitor.observed(local: running, peer: version, at: now).map { action in
            switch action {
            case .fetch(let target):
                fetchStarted = now
                return .fetch(target)
            case .conflictDetected(let local, let peer): return .conflictDetected(local: local, peer: peer)
            case .conflictResolved: return .conflictResolved
            }
        }
    }

    /// What the executor read in the config it fetched (it parses it off the decision thread).
    public enum Fetched: Sendable, Hashable {
        /// A valid config: its version, its node names, and the peer it gives this node.
        case config(ConfigVersion, bytes: Int, nodes: [String], peerOfThisNode: String?)
        /// The text does not parse or validate.
        case invalid(bytes: Int, reason: String)
        /// Nothing arrived (peer unreachable, connection broken, the peer refused to serve).
        case unreachable(String)
    }

    /// The fetch asked for by `.fetch(sentAs)` ended with `fetched`.
    public mutating func fetched(_ fetched: Fetched, sentAs: ConfigVersion, nodeName: String, peerName: String,
                                 at now: MonotonicInstant) -> [Step] {
        func refuse(_ reason: String) -> [Step] {
            monitor.fetchFinished(.refused, at: now)
            return [.refused(serial: sentAs.serial, reason: reason)]
        }
        switch fetched {
        case .unreachable(let why):
            monitor.fetchFinished(.failed, at: now)
            return [.failed(serial: sentAs.serial, reason: "fetch failed: \(why)")]
        case .invalid(let bytes, let reason):
            if bytes > PeerFrame.maximumConfigBytes { return refuse("it is \(bytes) bytes, more than \(PeerFrame.maximumConfigBytes)") }
            return refuse("it is invalid: \(reason)")
        case .config(let version, let bytes, let nodes, let peerOfThisNode):
            if bytes > PeerFrame.maximumConfigBytes { return refuse("it is \(bytes) bytes, more than \(PeerFrame.maximumConfigBytes)") }
            guard version.digest == sentAs.digest else {
                // The peer's config changed between its heartbeat and the fetch (two reloads in
                // quick succession): not a fault, the next heartbeat names the newer version.
                monitor.fetchFinished(.failed, at: now)
                return [.failed(serial: sentAs.serial, reason: "it changed on \(peerName) while being fetched (digest "
                                + "\(version.digest.description.prefix(16)), announced as \(sentAs.digest.description.prefix(16)))")]
            }
            guard nodes.contains(nodeName) else { return refuse("it does not name this node (\(nodeName)) among its nodes") }
            guard peerOfThisNode == peerName else {
                return refuse("its peer of \(nodeName) is not \(peerName): renaming nodes needs a restart of both")
            }
            if version.digest == running.digest {
                monitor.fetchFinished(.applied, at: now)
                return []
            }
            guard version.serial > running.serial else { return refuse("its serial is not higher than this node's (\(running.serial))") }
            prepared = version
            return [.write(version)]
        }
    }

    /// The write asked for by `.write(version)` ended (`failure` nil: the file holds it now).
    public mutating func written(_ version: ConfigVersion, failure: String?, at now: MonotonicInstant) -> [Step] {
        guard prepared == version else { return [] }
        if let failure {
            prepared = nil
            monitor.fetchFinished(.failed, at: now)
            return [.failed(serial: version.serial, reason: "write failed: \(failure)")]
        }
        return [.reload(version)]
    }

    /// A reload (of any origin) put `version` in force.
    public mutating func loaded(_ version: ConfigVersion, at now: MonotonicInstant) -> [Step] {
        running = version
        guard let target = prepared else { return [] }
        prepared = nil
        if version == target {
            monitor.fetchFinished(.applied, at: now)
            return [.applied(version, milliseconds: fetchStarted.map { now.milliseconds(since: $0) } ?? 0)]
        }
        // Not the peer's fault: fetched again after the back-off (the higher serial still wins).
        monitor.fetchFinished(.failed, at: now)
        return [.failed(serial: target.serial, reason: "the reload put \(version) in force instead (the file changed under it)")]
    }

    /// A reload (of any origin) refused the file; the config in force stays.
    public mutating func reloadFailed(_ reason: String, at now: MonotonicInstant) -> [Step] {
        guard let target = prepared else { return [] }
        prepared = nil
        monitor.fetchFinished(.refused, at: now)
        return [.refused(serial: target.serial, reason: "the reload did not apply it: \(reason)"), .restoreFile(target)]
    }
}
