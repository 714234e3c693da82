/// What a reload would change, one line each, for `tandemctl reload` and its dry run.
public enum ConfigDifference {
    /// `+`/`-` VIPs, then the IPVS changes that take the table of `old` to that of `new`
    /// (as the planner would make them against a kernel that matches `old`), then other settings.
    public static func lines(from old: Config, to new: Config) -> [String] {
        var lines: [String] = []
        for vip in new.virtualIPs where !old.virtualIPs.contains(vip) { lines.append("+ VIP \(vip.prefix) on \(vip.interface)") }
        for vip in old.virtualIPs where !new.virtualIPs.contains(vip) { lines.append("- VIP \(vip.prefix) on \(vip.interface)") }
        let owned = IPVSOwnership(old.namedIPVSEntries).union(IPVSOwnership(new.namedIPVSEntries))
        for change in IPVSPlanner.plan(desired: new.desiredIPVSTable(), observed: old.desiredIPVSTable(), owned: owned) {
            lines.append("~ ipvs: \(change)")
        }
        if old.heartbeat != new.heartbeat { lines.append("~ heartbeat settings (port, addresses and key take effect at the next restart)") }
        if old.election != new.election { lines.append("~ election settings") }
        if old.nodes != new.nodes { lines.append("~ nodes (priorities, tracked interfaces)") }
        if old.notify != new.notify { lines.append("~ notify commands") }
        if old.sync != new.sync { lines.append("~ connection sync daemon") }
        if old.serial != new.serial { lines.append("~ serial \(old.serial) -> \(new.serial)") }
        return lines
    }
}
