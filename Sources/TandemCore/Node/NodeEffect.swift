/// What `NodeState` asks its executor to do, in the order given.
///
/// Four are calls (`isCall`): the executor carries each out at once and gives what it found back
/// through `NodeState.answer(_:at:)` before anything else reaches the state (`NodeState.run`
/// does this). The rest are carried out and forgotten.
public enum NodeEffect: Sendable, Hashable {
    // MARK: Calls

    /// Read links and addresses and judge them (`LocalHealth.assess`) for these inputs; answer
    /// `.judged` or `.judgementFailed`.
    case judgeHealth(HealthQuery)
    /// Put these VIPs on their interfaces (by interface name, at this moment); answer `.claimed`.
    /// The executor tells its route monitor first, so the notification of this change is known as Tandem's.
    case claim([VirtualIP])
    /// Take these VIPs off their interfaces; answer `.released`.
    case release([VirtualIP])
    /// Send one heartbeat round on every path; answer `.sent`.
    case send(Election.Outgoing)

    // MARK: Carried out and forgotten

    /// The route monitor starts watching these VIPs (now present or not).
    case track([VirtualIP], present: Bool)
    /// The route monitor stops watching these VIPs (removed from the config).
    case untrack([VirtualIP])
    /// Gratuitous ARP / unsolicited NA for these held VIPs, on the configured schedule.
    case announce([VirtualIP])
    /// Stop announcing these VIPs (their schedule ends).
    case endAnnouncements([VirtualIP])
    /// Bring the IPVS table to the desired one for these inputs and the config in force
    /// (`IPVSIntent`); `reason` says what changed. Answered, in order, by `.ipvsReconciled`.
    case reconcileIPVS(IPVSInputs, reason: IPVSReconcileReason)
    /// Fetch the peer's config (its heartbeats say it runs this version) off the decision
    /// thread, parse it, and give `.peerConfigFetched`; keep its text for `writeConfig`.
    case fetchPeerConfig(ConfigVersion)
    /// Write the config fetched for this version over the config file (atomically, the old
    /// file kept beside it) and give `.configWritten`.
    case writeConfig(ConfigVersion)
    /// Reload the config file as SIGHUP does; give `.configLoaded` or `.reloadFailed`.
    case reloadConfig
    /// The reload refused the fetched config written as `version`: put the config file back as
    /// it was (its `.prev`), the refused one kept as `<file>.refused`. Logged, not answered.
    case restoreConfigFile(ConfigVersion)
    /// Config replication's outcome for `tandemctl status` (the last replication, counters).
    case replicationResult(serial: UInt64, result: String, succeeded: Bool)
    /// Equal serials with different digests (`local` nil: the conflict is resolved).
    case configConflict(local: ConfigVersion?, peer: ConfigVersion?)
    /// The drain list changed: keep it in the state directory, then give the IPVS table its
    /// drained set (in that order, off the decision thread, one change after another).
    case drainsChanged(DrainBook)
    /// Send this drain list to the peer over the peer channel; give `.drainsOffered` (with
    /// `request`, the operator's request that changed it, if any).
    case offerDrains(DrainList, request: NodeRequestID?)
    /// The answer to the peer's request `id` on the peer channel.
    case answerPeer(NodeRequestID, PeerResponse)
    /// The role settled: move the sync daemon, then run the notify command.
    case notify(role: Role, reason: String)
    /// The role changed (status history, systemd's STATUS=).
    case roleChanged(from: Role, to: Role, reason: String)
    /// One log line.
    case log(NodeLogLevel, String)
    /// One event for `tandemctl events` subscribers.
    case publish(ControlEvent.Kind, String)
    /// The one answer to request `id`.
    case reply(NodeRequestID, NodeReply)
    /// Give `.timer` at this instant (nil: no timer). Replaces the previous one.
    case scheduleTimer(MonotonicInstant?)
    /// Stopping is complete: the daemon may exit.
    case finished(reason: String)

    /// Whether the executor must answer this effect (`NodeState.answer`).
    public var isCall: Bool {
        switch self {
        case .judgeHealth(_), .claim, .release, .send: return true
        default: return false
        }
    }

}

/// What the IPVS table follows besides the config: whether this node holds the VIPs, the real
/// servers' health and the operator's drains. `NodeState` owns them; the IPVS worker builds the
/// desired table from them (`IPVSIntent`: warm or cold standby, failing servers out, drained
/// and agent weights) and reconciles the kernel's table to it.
public struct IPVSInputs: Sendable, Hashable {
    public var holdingVIPs: Bool
    public var down: Set<RealServerID>
    public var weights: [RealServerID: Int]
    public var drained: Set<RealServerID>

    public init(holdingVIPs: Bool = false, down: Set<RealServerID> = [], weights: [RealServerID: Int] = [:],
                drained: Set<RealServerID> = []) {
        self.holdingVIPs = holdingVIPs
        self.down = down
        self.weights = weights
        self.drained = drained
    }
}

/// What changed before a `reconcileIPVS` (the log line, and whether a warm standby's table
/// needs a look at all).
public enum IPVSReconcileReason: String, Sendable, Hashable {
    /// Start-up, holding the VIPs or not: adopt what is there.
    case startUp = "start-up"
    /// The VIPs were claimed: warm standby verifies the table, cold installs it.
    case claimed = "becoming active"
    /// The VIPs were released: cold standby removes its table (warm keeps it: nothing to do).
    case released = "released the VIPs"
    case health = "health changed"
    case drains = "drain changed"
}

/// What `LocalHealth.assess` needs besides the links and addresses the executor reads.
public struct HealthQuery: Sendable, Hashable {
    /// Paths on which sending fails now (path index → error).
    public var sendFailures: [Int: String]
    public var vips: [VirtualIP]
    public var trackedInterfaces: [TrackedInterface]
}

/// The severity of a `NodeEffect.log` line (syslog's names).
public enum NodeLogLevel: Sendable, Hashable {
    case info, notice, warning, error
}

/// Carries out `NodeEffect`s against the world (the daemon's kernel, sockets and threads, or a
/// simulator's model of them).
public protocol NodeExecutor {
    /// Carries out `effect`; for a call (`effect.isCall`) returns what it found, otherwise nil.
    mutating func execute(_ effect: NodeEffect, at now: MonotonicInstant) -> NodeAnswer?
}

extension NodeState {
    /// Handles `event` and carries out every effect it leads to through `executor`, answering
    /// each call as it goes; returns when the state waits for the next event.
    public mutating func run(_ event: NodeEvent, at now: MonotonicInstant, executor: inout some NodeExecutor) {
        var effects = handle(event, at: now)
        var bound = 10_000
        while bound > 0 {
            bound -= 1
            var answer: NodeAnswer?
            for effect in effects {
                if let found = executor.execute(effect, at: now), effect.isCall { answer = found }
            }
            guard let answer else { return }
            effects = self.answer(answer, at: now)
        }
        preconditionFailure("NodeState.run: more than 10,000 calls for one event")
    }
}
