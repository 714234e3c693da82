/// One operator request to a running node, as `tandemctl` asks it.
public enum NodeCommand: Sendable, Hashable {
    /// `tandemctl failover [--force]`: hand the VIPs to the peer (active), or take them (standby).
    case failover(force: Bool)
    /// `tandemctl maintenance on|off [--force]`: pin this node to standby, or let it take part
    /// again. On an active with nobody to hand over to, `on` is refused unless `force`.
    case maintenance(Bool, force: Bool = false)
    /// `tandemctl drain|undrain`: these real servers (already matched against the config) get
    /// weight 0 whatever their health, or back; `wallClock` (ns since the epoch) stamps the list.
    case drain([RealServerID], on: Bool, wallClock: UInt64)

    /// The command's name, as `tandemctl` spells it.
    public var name: String {
        switch self {
        case .failover: return "failover"
        case .maintenance: return "maintenance"
        case .drain(_, let on, _): return on ? "drain" : "undrain"
        }
    }
}

/// Tells one request from another; the caller picks it (any value it has not used before).
public typealias NodeRequestID = UInt64

/// The one answer `NodeState` gives each request (`NodeEffect.reply`).
public enum NodeReply: Sendable, Hashable {
    /// Turned down at once; nothing changed.
    case refused(String)
    /// Accepted, then it did not complete (abandoned by the election, timed out, or the node stopped).
    case failed(String)
    /// The handover completed: the VIPs moved from `from` to `to` in `milliseconds`.
    case failoverDone(from: String, to: String, milliseconds: Int, message: String)
    /// Maintenance settled as asked.
    case maintenanceDone(message: String)
    /// The drain list changed here (and is kept in the state directory); `peer` says whether the
    /// peer took it.
    case drainDone(DrainList, peer: DrainOffer)
}

/// What offering the drain list to the peer came to.
public enum DrainOffer: Sendable, Hashable {
    /// The peer answered (what it did, in its words).
    case accepted(String)
    /// The peer could not be told, or refused: why.
    case failed(String)
}

/// Something that happened to a node, given to `NodeState.handle(_:at:)`.
public enum NodeEvent: Sendable, Hashable {
    /// The daemon is up: judge this node's health, adopt VIPs already present, start the election.
    case start
    /// An accepted heartbeat (already verified); `waitedNanoseconds` as the verifier's verdict
    /// gives it (`HeartbeatVerifier.Verdict.accepted`); `withdrawn`: a request the same read
    /// from the sockets shows withdrawn (`HeartbeatMessage.withdrawnRequests`).
    case heartbeat(HeartbeatMessage, waitedNanoseconds: UInt64? = nil, withdrawn: Bool = false)
    /// The instant given by the last `scheduleTimer` has come.
    case timer
    /// A heartbeat the loop sent on its own (`NodeState.steadyHeartbeats`, recorded with
    /// `steadyHeartbeatsSent`) failed persistently on these paths (`HeartbeatSending.send`'s
    /// answer), as the `.sent` answer to a `.send` says.
    case steadySendFailed([Int: String])
    /// A batch of link and VIP changes from the route monitor; health is judged once after it.
    case routes([RouteWatchEvent])
    /// An operator request; answered by exactly one `reply(id, …)`, also when the node stops.
    case command(NodeRequestID, NodeCommand)
    /// A reload brought a valid new config: its VIPs, election settings and IPVS flavour.
    case reload(NodeState.Settings)
    /// A reload (SIGHUP, `tandemctl reload`, or one asked for by `reloadConfig`) put this config
    /// version in force. Heartbeats carry it; a failover without `--force` compares it with the peer's.
    case configLoaded(ConfigVersion)
    /// A reload refused the config file (the config in force stays): why.
    case reloadFailed(String)
    /// The fetch asked for by `fetchPeerConfig(sentAs)` ended.
    case peerConfigFetched(ConfigBook.Fetched, sentAs: ConfigVersion)
    /// The write asked for by `writeConfig(version)` ended (`failure` nil: the file holds it).
    case configWritten(ConfigVersion, failure: String?)
    /// The IPVS worker finished one `reconcileIPVS` (in the order asked; `succeeded` false when
    /// the kernel refused a change or IPVS could not be reached).
    case ipvsReconciled(IPVSReconcileReason, succeeded: Bool)
    /// The real servers' health changed (the health checkers, paced): those failing, and the
    /// weights of those whose checks set one (agent checks).
    case realServerHealth(down: Set<RealServerID>, weights: [RealServerID: Int])
    /// The peer offered its drain list over the peer channel; answered by `answerPeer(id, …)`.
    case peerDrains(DrainList, answer: NodeRequestID)
    /// The offer asked for by `offerDrains(list, request)` ended.
    case drainsOffered(DrainList, request: NodeRequestID?, DrainOffer)
    /// Graceful stop (SIGTERM): hand over when active, then finish; forced after `stopTimeout`.
    case stop
    /// A second stop signal: release everything now and finish.
    case forceStop(reason: String)
}

/// What the executor found when it carried out a call (`NodeEffect.isCall`); given back to
/// `NodeState.answer(_:at:)` before any other event.
public enum NodeAnswer: Sendable, Hashable {
    /// Links and addresses, judged (`LocalHealth.assess`).
    case judged(LocalHealth.Report)
    /// Links and addresses could not be read.
    case judgementFailed(String)
    /// What each claim did.
    case claimed([VirtualIP: VIPClaimOutcome])
    /// What each release did.
    case released([VirtualIP: VIPReleaseOutcome])
    /// The paths on which sending fails now (path index → error).
    case sent([Int: String])
}

/// What claiming one VIP did.
public enum VIPClaimOutcome: Sendable, Hashable {
    case added
    /// It was there already; `flags` are its IFA_F_* flags (nil: the addresses could not be read).
    case alreadyPresent(flags: UInt32?)
    case failed(String)
}

/// What releasing one VIP did.
public enum VIPReleaseOutcome: Sendable, Hashable {
    case removed
    case alreadyAbsent
    case failed(String)
}
