/// The human layout of `tandemctl status`.
extension StatusReport {
    /// Renders the report for a terminal: role first, then peer and paths, config, VIPs,
    /// services with their real servers, and the recent role changes.
    public var text: String {
        if let cluster { return clusterText(cluster) }
        var out: [String] = []
        let since = roleAgeMs.map { " for \(ControlTime.age(milliseconds: $0))" } ?? ""
        // The reason is the last transition's, said as it was then ("rb is starting and we win"):
        // "became active:" keeps it from reading as today's state (trial 35).
        let reason = roleAgeMs == nil ? roleReason : "became \(role): \(roleReason)"
        out.append("node \(node): \(role.uppercased())\(since) — \(reason)")
        var line = "  priority \(priority)"
        if effectivePriority != priority { line += " (effective \(effectivePriority))" }
        if maintenance { line += "; maintenance ON (pinned to standby; `tandemctl maintenance off` to release)" }
        out.append(line)
        if let preemptSuspended { out.append("  \(preemptSuspended)") }
        for fault in localFaults ?? [] { out.append("  FAULT: \(fault)") }
        let heard = peer.lastHeardMs.map { "heard \(ControlTime.age(milliseconds: $0)) ago" } ?? "never heard"
        let peerPriority = peer.priority.map { ", priority \($0)" } ?? ""
        // A dead peer's role is only what it last said: "NOT HEARD (dead; last heard as active)",
        // which does not read as a second active.
        let known = peer.role == "unknown" ? "" : "; last heard as \(peer.role)"
        out.append("peer \(peer.name): \(peer.alive ? peer.role : "NOT HEARD (dead\(known))")\(peerPriority), \(heard)")
        if !peer.alive, role == "maintenance" || role == "fault" {
            out.append("  WARNING: nobody serves the VIPs: this node is in \(role) and \(peer.name) is not heard"
                       + (role == "maintenance" ? " (`tandemctl maintenance off` takes them)" : ""))
        }
        for path in peer.paths {
            let total = path.received + path.lost
            let loss = total == 0 ? "0%" : Self.percent(path.lost, of: total)
            let last = path.lastHeardMs.map { "\(ControlTime.age(milliseconds: $0)) ago" } ?? "never"
            out.append("  path \(path.path): received \(path.received), lost \(path.lost) (\(loss)), last heard \(last)"
                       + (path.localProblem.map { " — NOT USABLE here: \($0)" } ?? ""))
        }
        let h = heartbeats
        let stale = h.stale ?? 0
        let dropped = h.malformed + h.unauthenticated + h.replayed + h.unexpectedSender + h.unknownPath + stale
        out.append("  heartbeats accepted \(h.accepted), dropped \(dropped)"
                   + (dropped == 0 ? "" : " (malformed \(h.malformed), unauthenticated \(h.unauthenticated), replayed \(h.replayed), unexpected sender \(h.unexpectedSender), unknown path \(h.unknownPath)"
                      + (stale == 0 ? "" : ", stale \(stale): held back in the network, as a cut link's queue is sent when it returns")
                      + ")"))
        if let auth = authentication {
            if auth.mode == "none" {
                out.append("  authentication: NONE (auth: none)")
            } else {
                var line = "  authentication: HMAC-SHA256, key \(auth.keyFingerprint ?? "?")"
                if let next = auth.nextKeyFingerprint { line += ", next key \(next) also accepted" }
                // While its packets are refused, the key it last signed with is history.
                if let key = auth.peerKey, auth.state != "refusing" { line += "; \(peer.name) signs with the \(key) key" }
                out.append(line)
            }
            if let detail = auth.detail {
                out.append(auth.state == "ok" ? "  \(detail)" : "  \(auth.state.uppercased()): \(detail)")
            }
        }
        var configLine = "config: serial \(config.serial), digest \(config.digest.prefix(16))"
        if let peerConfig = peer.config, peer.alive {
            configLine += peerConfig.digest == config.digest ? " (same on \(peer.name))"
                : "; \(peer.name): serial \(peerConfig.serial), digest \(peerConfig.digest.prefix(16))"
        }
        out.append(configLine)
        if let configWarning { out.append("  WARNING: \(configWarning)") }
        if let dualActive { out.append("  WARNING: \(dualActive)") }
        if let configFileRefused {
            out.append("  WARNING: the config file on disk was refused at the last reload; this node runs the config before it, "
                       + "and a restart would read that file: \(configFileRefused)")
        }
        if let replication { out.append("  last replication: \(replication)") }
        if let notify { out += Self.notifyLines(notify) }
        if let ipvsUnavailable {
            out.append("  WARNING: IPVS is not available on this node, so \(role == "active" ? "its virtual services are not served" : "it could not serve the virtual services after a takeover"): \(ipvsUnavailable)")
        } else if role == "active", !services.isEmpty, services.allSatisfy({ $0.inKernel == nil }) {
            // An active whose virtual services cannot be read from the kernel may not serve them.
            out.append("  WARNING: the kernel's IPVS table is not readable on this active node, so its virtual services may not be served "
                       + "(is ip_vs loaded? see the log's ipvs lines and `tandemctl doctor`)")
        }
        for endpoint in metricsNotListening ?? [] {
            out.append("  WARNING: /metrics is not served on \(endpoint.listen): \(endpoint.reason) (check metrics.listen and this node's addresses)")
        }
        if let restartNeeded, !restartNeeded.isEmpty {
            out.append("  NEEDS A RESTART to apply: \(restartNeeded.joined(separator: "; ")) (running with the values it started with)")
            if let advice = ConfigDifference.restartTogetherAdvice(restartNeeded) { out.append("    \(advice)") }
        }
        if vips.isEmpty {
            out.append("VIPs: none configured")
        } else {
            let held = vips.filter(\.held), notHeld = vips.filter { !$0.held }
            if !held.isEmpty { out.append("VIPs held: " + held.map { "\($0.address) on \($0.interface)" }.joined(separator: ", ")) }
            if !notHeld.isEmpty {
                out.append("VIPs not held: " + notHeld.map { "\($0.address) on \($0.interface)" }.joined(separator: ", "))
            }
            for vip in vips { if let problem = vip.problem { out.append("  VIP \(vip.address) on \(vip.interface): \(problem)") } }
            // An active that keeps VIPs it cannot serve (their interface tracked with
            // lower_priority_by, which keeps them on carrier loss) while a live standby could:
            // nobody serves them, and nothing else says so (trial 35).
            if role == "active", !notHeld.isEmpty, peer.alive, peer.role == "standby" {
                out.append("  WARNING: this active node cannot serve \(notHeld.count == vips.count ? "its VIPs" : "\(notHeld.count) of its VIPs") "
                           + "while \(peer.name), a live standby, could: `tandemctl failover` moves them (a lowered priority moves "
                           + "them by itself only with election.preempt on)")
            }
        }
        if !services.isEmpty {
            out.append("services:")
            var rows: [[String]] = [["  real server", "health", "since", "weight cfg/kernel", "active", "inactive", "note"]]
            for service in services {
                let table = service.inKernel.map { $0 ? "" : " — NOT in the kernel table" } ?? " — kernel table not readable"
                rows.append(["  \(service.name) \(service.address) \(service.scheduler)\(table)"])
                for rs in service.realServers {
                    let kernelWeight = rs.kernelWeight.map(String.init) ?? "-"
                    var note = rs.healthReason ?? ""
                    if rs.drained { note = note.isEmpty ? "DRAINED" : "DRAINED; " + note }
                    rows.append(["    \(rs.server)", rs.health, rs.healthAgeMs.map { ControlTime.age(milliseconds: $0) } ?? "-",
                                 "\(rs.configWeight)/\(kernelWeight)", rs.activeConnections.map(String.init) ?? "-",
                                 rs.inactiveConnections.map(String.init) ?? "-", note])
                }
            }
            out.append(contentsOf: Self.columns(rows))
        }
        if !roleChanges.isEmpty {
            out.append("recent role changes:")
            for change in roleChanges.suffix(10) {
                out.append("  \(change.time) \(change.from) -> \(change.to): \(change.reason)")
            }
        }
        return out.joined(separator: "\n") + "\n"
    }

    static func percent(_ part: UInt64, of total: UInt64) -> String {
        let tenths = (part * 1000 + total / 2) / total
        return "\(tenths / 10).\(tenths % 10)%"
    }

    /// Aligns rows with more than one cell into columns; one-cell rows (headings) pass through.
    static func columns(_ rows: [[String]]) -> [String] {
        var widths: [Int] = []
        for row in rows where row.count > 1 {
            for (index, cell) in row.enumerated() {
                if index >= widths.count { widths.append(0) }
                widths[index] = max(widths[index], cell.count)
            }
        }
        return rows.map { row in
            guard row.count > 1 else { return row[0] }
            var line = ""
            for (index, cell) in row.enumerated() {
                let isLast = index == row.count - 1
                line += isLast ? cell : cell + String(repeating: " ", count: widths[index] - cell.count + 2)
            }
            while line.hasSuffix(" ") { line.removeLast() }
            return line
        }
    }

    /// A cluster director's layout: the director, what it announces and why, then the services.
    private func clusterText(_ cluster: ClusterDirectorStatus) -> String {
        let since = roleAgeMs.map { " for \(ControlTime.age(milliseconds: $0))" } ?? ""
        var out = ["node \(node): CLUSTER DIRECTOR\(since) — \(roleReason)"]
        if maintenance { out.append("  maintenance ON (every route withdrawn; `tandemctl maintenance off` to announce again)") }
        out.append("config: serial \(config.serial), digest \(config.digest.prefix(16))")
        out += cluster.lines
        let rows = services.map { s in
            "  \(s.name) \(s.address) \(s.scheduler): " + s.realServers.map { "\($0.server) \($0.health), active \($0.activeConnections.map(String.init) ?? "-")" }.joined(separator: "; ")
        }
        if !rows.isEmpty { out += ["services:"] + rows }
        return out.map { $0 + "\n" }.joined()
    }

    /// The notify lines: a command running for over a second (a hung or slow script holds back
    /// the next role's command), and a WARNING while the newest command that ended failed.
    static func notifyLines(_ notify: Notify) -> [String] {
        // Named by their config key, as in the log (`stop`; the JSON keeps the role).
        func key(_ role: String) -> String { Role.allCases.first { $0.description == role }?.notifyKey ?? role }
        var out: [String] = []
        if let running = notify.running, running.forMs >= 1000 {
            out.append("  notify \(key(running.role)): \(running.command) running for \(ControlTime.age(milliseconds: running.forMs))"
                       + (notify.waiting.map { "; the \(key($0)) command waits behind it" } ?? ""))
        }
        if let last = notify.last, last.result == "failed" {
            out.append("  WARNING: notify \(key(last.role)) failed at \(last.at): \(last.command) \(last.outcome)")
        }
        return out
    }
}
