/// What the IPVS table must hold on this node now, and which entries Tandem may change: the
/// decision the kernel worker carries out at every reconcile (start-up, takeover, release, reload,
/// health, drain, periodic repair).
///
/// Rules:
/// - **Warm standby** (`standby_table: warm`, the default): the table is installed whatever the
///   role, so a takeover is a VIP claim. **Cold** (pulse's behaviour): installed only while this
///   node holds the VIPs, removed on release.
/// - **Drained** real servers get weight 0 whatever their health or agent weight (quiesced:
///   established connections finish, new ones go elsewhere).
/// - **Owned** entries are those the config names, plus those named by configs a reload replaced
///   (`formerlyOwned`) until a reconcile has removed them; entries nobody named are never touched.
public struct IPVSIntent: Sendable, Hashable {
    public var desired: IPVSTable
    public var owned: IPVSOwnership

    public init(config: Config, holdingVIPs: Bool, down: Set<RealServerID>, weights: [RealServerID: Int],
                drained: Set<RealServerID>, formerlyOwned: IPVSOwnership) {
        let install = config.standbyTable == .warm || holdingVIPs
        var effective = weights
        for id in drained { effective[id] = 0 }
        desired = install ? config.desiredIPVSTable(down: down, weights: effective) : IPVSTable()
        owned = IPVSOwnership(config.namedIPVSEntries).union(formerlyOwned)
    }

    /// Whether a node running `config` (or one that ran a config with entries still owned) has
    /// IPVS work to do at all: a VIP-only pair never opens the IPVS family.
    public static func needsIPVS(_ config: Config, formerlyOwned: IPVSOwnership = .nothing) -> Bool {
        !config.virtualServers.isEmpty || config.sync != nil || config.ipvsTimeouts != nil || !formerlyOwned.services.isEmpty
    }
}
