/// How one difference between two configs reaches a running tandemd.
public enum ReloadEffect: String, Sendable, Hashable, Codable {
    /// The reload applies it.
    case live
    /// The reload puts it in force for the next claim of the VIPs (the announcement schedule:
    /// a refresh already running keeps its schedule until the VIPs are claimed again).
    case nextClaim
    /// Only a restart of tandemd applies it; until then the daemon keeps the value it started with.
    case restart
    /// Not used on this node (a command-line option overrides it); nothing to apply.
    case unused
}

/// One line of a reload's difference, with how it takes effect.
public struct ConfigChange: Sendable, Hashable, CustomStringConvertible {
    /// `~ heartbeat interval 1s -> 500ms`, `+ VIP 10.0.0.11/24 on eth0`.
    public var text: String
    public var effect: ReloadEffect
    /// Whether applying it writes to the kernel's IPVS (the table, its timeouts, the sync
    /// daemon): it cannot reach a kernel without IPVS.
    public var writesIPVS: Bool

    public init(_ text: String, _ effect: ReloadEffect = .live, writesIPVS: Bool = false) {
        self.text = text
        self.effect = effect
        self.writesIPVS = writesIPVS
    }

    /// What `tandemctl reload` reports of `changes` on a node where the IPVS table cannot be
    /// opened now (`ipvsUnavailable`: why, as the kernel worker last found; nil when it can):
    /// every line but those a restart applies (`restartNeeded` lists them), each IPVS line
    /// marked as not in the kernel, and one warning saying why and when they get there.
    public static func reloadReport(_ changes: [ConfigChange], ipvsUnavailable: String?) -> (lines: [String], warnings: [String]) {
        let live = changes.filter { $0.effect != .restart }
        let blocked = ipvsUnavailable == nil ? 0 : live.filter(\.writesIPVS).count
        let lines = live.map { change in
            blocked > 0 && change.writesIPVS ? "\(change.description) (not in the kernel: IPVS unavailable)" : change.description
        }
        guard blocked > 0, let why = ipvsUnavailable else { return (lines, []) }
        let what = blocked == 1 ? "1 IPVS change is" : "\(blocked) IPVS changes are"
        return (lines, ["\(what) in the config in force but not in the kernel: \(why). tandemd writes the table once IPVS "
                        + "can be opened (it tries again every 30s); `tandemctl doctor` checks this kernel"])
    }

    /// The line as `tandemctl reload` prints it: the text, and the effect unless it is live.
    public var description: String {
        switch effect {
        case .live: return text
        case .nextClaim: return "\(text) (from the next claim of the VIPs)"
        case .restart: return "\(text): needs a restart"
        case .unused: return "\(text) (not used on this node)"
        }
    }
}

/// What a daemon takes from outside the config, which decides how some differences apply.
public struct ReloadContext: Sendable, Hashable {
    /// This node (its tracked interfaces matter here, the peer's do not).
    public var nodeName: String
    /// False when `tandemd --control-socket` overrides `control.socket` on this node.
    public var controlSocketFromConfig: Bool
    /// False when `tandemd --state-directory` overrides `state_directory` on this node.
    public var stateDirectoryFromConfig: Bool

    public init(nodeName: String, controlSocketFromConfig: Bool = true, stateDirectoryFromConfig: Bool = true) {
        self.nodeName = nodeName
        self.controlSocketFromConfig = controlSocketFromConfig
        self.stateDirectoryFromConfig = stateDirectoryFromConfig
    }
}

/// What a reload would change, one line each, for `tandemctl reload` and its dry run.
///
/// Every field of `Config` is compared; each difference is classified by how the running
/// daemon applies it. Applied by a reload: VIPs, the IPVS table (services, real servers, sorry
/// servers, health checks), the sync daemon (restarted with the new parameters, stopped when
/// `sync:` is removed), IPVS timeouts, `standby_table`, heartbeat interval and dead time,
/// `realtime_priority`, priorities, preemption, tracked interfaces the link monitor already
/// watches, notify commands, the control group. From the next claim: the announcement schedule.
/// Key files (`key_file`, `next_key_file`, and new keys in the same files) are read at every
/// reload and take effect at once. Only at a restart: heartbeat port, addresses (of either node),
/// switching between `auth: none` and a key (config mirroring exists only with a key), node names, tracked
/// interfaces the link monitor does not watch (neither tracked nor a VIP's interface at
/// start-up), the control socket path and the state directory (the last two unless a
/// command-line option overrides them on this node).
public enum ConfigDifference {
    /// The lines of `changes(from:to:started:context:)`, each with its effect when not live
    /// (no started config: `old` is taken as the one the daemon started with).
    public static func lines(from old: Config, to new: Config, context: ReloadContext? = nil) -> [String] {
        let context = context ?? ReloadContext(nodeName: new.nodes.first?.name ?? "")
        return changes(from: old, to: new, started: old, context: context).map(\.description)
    }

    /// The settings that differ between the config the daemon started with and `current` and
    /// that only a restart applies: what `tandemctl status` and `reload` list as "needs a restart"
    /// ("heartbeat port 539 -> 540", without the `~ ` of a reload line).
    public static func restartNeeded(started: Config, current: Config, context: ReloadContext) -> [String] {
        changes(from: started, to: current, started: started, context: context).filter { $0.effect == .restart }
            .map { $0.text.hasPrefix("~ ") ? String($0.text.dropFirst(2)) : $0.text }
    }

    /// What to do about restart-only changes that the two routers must make together (the
    /// heartbeat port, heartbeat addresses): a router restarted alone heartbeats where its peer
    /// does not listen, both go active. Nil when `restartNeeded` holds none of them.
    public static func restartTogetherAdvice(_ restartNeeded: [String]) -> String? {
        guard restartNeeded.contains(where: { $0.hasPrefix("heartbeat port ") || $0.hasPrefix("heartbeat addresses ") }) else { return nil }
        return "restart both routers together for the heartbeat port or addresses (stop the standby, restart the active, "
            + "start the standby): a router restarted alone heartbeats where its peer does not listen, and both go active"
    }

    /// Why a reload on `node` cannot take `new`: it renames this node or its peer. A node's
    /// name is fixed when tandemd starts, the election knows the peer by name and the peer's
    /// heartbeats carry the name it runs with: a reload that renamed the peer made this node stop
    /// recognising it (a standby took the VIPs while the active served them, an active reported
    /// its standby dead; operator trial: listed as "needs a restart" and applied at once). nil
    /// when both names stay.
    public static func renamed(from old: Config, to new: Config, node: String) -> String? {
        let how = "A rename needs both nodes restarted with the new file: stop tandemd on the standby, restart the "
            + "active, then start the standby"
        guard new.node(named: node) != nil else {
            return "this node, \(node), is not in the new config (nodes: \(new.nodes.map(\.name).joined(separator: ", "))): "
                + "a node keeps the name it started with. \(how)"
        }
        guard let was = old.peer(of: node)?.name, let now = new.peer(of: node)?.name, was != now else { return nil }
        return "the peer \(was) is called \(now) in the new config: \(was)'s heartbeats carry the name it runs with, so "
            + "this node would stop recognising it and one of the two would take the VIPs while the other serves them. \(how)"
    }

    /// What a reload from `old` to `new` does to the operator's drains (`drained`), one warning
    /// each: a drained real server the reload removes stays on the drain list (both routers keep
    /// it), so if it comes back it comes back drained; one the reload brings back is drained
    /// (weight 0) until undrained. ipvsadm and keepalived give a re-added real server its
    /// configured weight, so neither is silent (operator trial 33).
    public static func drainNotes(drained: Set<RealServerID>, from old: Config, to new: Config) -> [String] {
        func servers(_ config: Config) -> Set<RealServerID> {
            Set(config.virtualServers.flatMap { vs in vs.realServers.map { RealServerID(service: vs.name, address: $0.address, port: $0.port) } })
        }
        guard !drained.isEmpty else { return [] }
        let before = servers(old), after = servers(new)
        var out: [String] = []
        for id in drained.sorted() where before.contains(id) && !after.contains(id) {
            out.append("real server \(id) leaves the config but stays drained: if it comes back it comes back at weight 0; "
                + "`tandemctl undrain \(id.address.bracketed):\(id.port) --service \(id.service)` takes it off the drain list")
        }
        for id in drained.sorted() where after.contains(id) && !before.contains(id) {
            out.append("real server \(id) comes back drained (weight 0) from an earlier `tandemctl drain`: "
                + "`tandemctl undrain \(id.address.bracketed):\(id.port) --service \(id.service)` gives it its weight")
        }
        return out
    }

    /// The VIP lines: `+` and `-` for addresses added and removed, and one `~` line for a VIP
    /// kept on the same interface whose label or nat_gateway changes (a trial read "- VIP x / +
    /// VIP x" as a no-op). `NodeState` releases and claims such a VIP again (the kernel changes an
    /// address's label only so: RTM_NEWADDR with NLM_F_REPLACE keeps it, net/ipv4/devinet.c), so
    /// the line says that a held VIP is gone for a moment.
    static func virtualIPs(_ old: [VirtualIP], _ new: [VirtualIP]) -> [ConfigChange] {
        func described(_ vip: VirtualIP) -> String {
            "\(vip.prefix) on \(vip.interface)" + (vip.label.map { " label \($0)" } ?? "") + (vip.natGateway ? " (nat_gateway)" : "")
        }
        func same(_ a: VirtualIP, _ b: VirtualIP) -> Bool { a.prefix == b.prefix && a.interface == b.interface }
        var out: [ConfigChange] = []
        for vip in new where !old.contains(vip) {
            guard let before = old.first(where: { same($0, vip) && !new.contains($0) }) else {
                out.append(.init("+ VIP \(described(vip))"))
                continue
            }
            var parts: [String] = []
            if before.label != vip.label { parts.append("label \(before.label ?? "(none)") -> \(vip.label ?? "(none)")") }
            if before.natGateway != vip.natGateway { parts.append("nat_gateway \(before.natGateway) -> \(vip.natGateway)") }
            out.append(.init("~ VIP \(vip.prefix) on \(vip.interface): \(parts.joined(separator: ", ")) (a held VIP is removed and "
                + "added again: gone for a moment, then announced)"))
        }
        for vip in old where !new.contains(vip) && !new.contains(where: { same($0, vip) && !old.contains($0) }) {
            out.append(.init("- VIP \(described(vip))"))
        }
        return out
    }

    /// Every difference from `old` (the config in force) to `new`, classified.
    ///
    /// - Parameters:
    ///   - started: the config the daemon started with: the link monitor watches the tracked
    ///     and VIP interfaces of that one.
    ///   - context: this node and which paths come from the command line.
    /// - Returns: `+`/`-` VIPs, then the IPVS changes that take the table of `old` to that of
    ///   `new` (as the planner would make them against a kernel that matches `old`), then the
    ///   other settings in the order of `Config`'s fields.
    public static func changes(from old: Config, to new: Config, started: Config, context: ReloadContext) -> [ConfigChange] {
        var out: [ConfigChange] = []
        out += virtualIPs(old.virtualIPs, new.virtualIPs)
        let owned = IPVSOwnership(old.namedIPVSEntries).union(IPVSOwnership(new.namedIPVSEntries))
        for change in IPVSPlanner.plan(desired: new.desiredIPVSTable(), observed: old.desiredIPVSTable(), owned: owned) {
            out.append(.init("~ ipvs: \(change)", writesIPVS: true))
        }
        out += services(old, new)
        out += nodes(old, new, started: started, context: context)
        out += heartbeat(old.heartbeat, new.heartbeat)
        if old.election.preempt != new.election.preempt {
            out.append(.init("~ preempt \(old.election.preempt) -> \(new.election.preempt)"))
        }
        if old.election.preemptDelay != new.election.preemptDelay {
            out.append(.init("~ preempt delay \(old.election.preemptDelay) -> \(new.election.preemptDelay)"))
        }
        if old.announce != new.announce { out.append(.init("~ announcement schedule", .nextClaim)) }
        if let line = sync(old.sync, new.sync) { out.append(.init(line, writesIPVS: true)) }
        if old.standbyTable != new.standbyTable {
            out.append(.init("~ standby table \(old.standbyTable.rawValue) -> \(new.standbyTable.rawValue)", writesIPVS: true))
        }
        switch (old.ipvsTimeouts, new.ipvsTimeouts) {
        case (nil, let t?): out.append(.init("+ ipvs timeouts \(describe(t))", writesIPVS: true))
        case (_?, nil): out.append(.init("- ipvs timeouts (no longer set: the kernel keeps the values it has)"))
        case (let a?, let b?) where a != b: out.append(.init("~ ipvs timeouts \(describe(a)) -> \(describe(b))", writesIPVS: true))
        default: break
        }
        if old.notify != new.notify { out.append(.init("~ notify commands")) }
        if old.control.socketPath != new.control.socketPath {
            out.append(.init("~ control socket \(old.control.socketPath) -> \(new.control.socketPath)",
                             context.controlSocketFromConfig ? .restart : .unused))
        }
        if old.control.group != new.control.group {
            out.append(.init("~ control group \(old.control.group ?? "none (root only)") -> \(new.control.group ?? "none (root only)")"))
        }
        if old.stateDirectory != new.stateDirectory {
            out.append(.init("~ state directory \(old.stateDirectory) -> \(new.stateDirectory)",
                             context.stateDirectoryFromConfig ? .restart : .unused))
        }
        if old.metrics != new.metrics {
            func describe(_ m: MetricsSettings) -> String { m.listen.isEmpty ? "off" : m.listen.map(\.description).joined(separator: ", ") }
            out.append(.init("~ metrics listen \(describe(old.metrics)) -> \(describe(new.metrics))", .restart))
        }
        out += cluster(old.cluster, new.cluster)
        if old.serial != new.serial { out.append(.init("~ serial \(old.serial) -> \(new.serial)")) }
        return out
    }

    /// Health checks and sorry servers: not in the table at full health, so not in the IPVS lines.
    private static func services(_ old: Config, _ new: Config) -> [ConfigChange] {
        var out: [ConfigChange] = []
        let before = Dictionary(old.virtualServers.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for vs in new.virtualServers {
            guard let was = before[vs.name] else { continue }
            if was.healthCheck != vs.healthCheck { out.append(.init("~ service \(vs.name): health check")) }
            if was.sorryServer != vs.sorryServer { out.append(.init("~ service \(vs.name): sorry server", writesIPVS: true)) }
        }
        return out
    }

    private static func nodes(_ old: Config, _ new: Config, started: Config, context: ReloadContext) -> [ConfigChange] {
        var out: [ConfigChange] = []
        if old.nodes.map(\.name) != new.nodes.map(\.name) {
            out.append(.init("~ node names \(old.nodes.map(\.name).joined(separator: ", ")) -> \(new.nodes.map(\.name).joined(separator: ", "))", .restart))
        }
        // The link monitor watches the tracked and VIP interfaces of the config the daemon started with.
        let watched = Set((started.node(named: context.nodeName)?.trackInterfaces ?? []).map(\.interface))
            .union(started.virtualIPs.map(\.interface))
        for node in new.nodes {
            guard let was = old.node(named: node.name) else { continue }
            if was.heartbeatAddresses != node.heartbeatAddresses {
                out.append(.init("~ heartbeat addresses of \(node.name) \(list(was.heartbeatAddresses)) -> \(list(node.heartbeatAddresses))", .restart))
            }
            if was.priority != node.priority {
                out.append(.init("~ priority of \(node.name) \(was.priority) -> \(node.priority)"))
            }
            guard was.trackInterfaces != node.trackInterfaces else { continue }
            let unwatched = node.trackInterfaces.map(\.interface).filter {
                node.name == context.nodeName && !watched.contains($0) && !was.trackInterfaces.map(\.interface).contains($0)
            }
            if unwatched.isEmpty {
                out.append(.init("~ tracked interfaces of \(node.name)"))
            } else {
                out.append(.init("~ tracked interfaces of \(node.name): \(unwatched.joined(separator: ", ")) not watched yet", .restart))
            }
        }
        return out
    }

    private static func heartbeat(_ old: HeartbeatSettings, _ new: HeartbeatSettings) -> [ConfigChange] {
        var out: [ConfigChange] = []
        if old.interval != new.interval { out.append(.init("~ heartbeat interval \(old.interval) -> \(new.interval)")) }
        if old.deadTime != new.deadTime { out.append(.init("~ heartbeat dead time \(old.deadTime) -> \(new.deadTime)")) }
        if old.port != new.port { out.append(.init("~ heartbeat port \(old.port) -> \(new.port)", .restart)) }
        switch (old.authentication, new.authentication) {
        case (.hmacSHA256(let a), .hmacSHA256(let b)) where a != b:
            // Key files are read at every reload and replace the keys at once (heartbeats and
            // the config-mirroring channel alike).
            out.append(.init("~ heartbeat key_file \(a) -> \(b)"))
        case (.hmacSHA256, .none), (.none, .hmacSHA256):
            // Heartbeats switch at once; config mirroring exists only with a key, from start-up.
            out.append(.init("~ heartbeat authentication \(describe(old.authentication)) -> \(describe(new.authentication)) (config mirroring)", .restart))
        default:
            break
        }
        if old.nextKeyFile != new.nextKeyFile {
            out.append(.init("~ heartbeat next_key_file \(old.nextKeyFile ?? "none") -> \(new.nextKeyFile ?? "none")"))
        }
        if old.effectiveRealtimePriority != new.effectiveRealtimePriority {
            out.append(.init("~ heartbeat realtime priority \(old.realtimeDescription) -> \(new.realtimeDescription)"))
        }
        return out
    }

    /// Switching between pair and cluster, the route table and protocol: restart. BGP settings
    /// are not tandemd's: they reach BIRD through `tandemctl bird-config`.
    private static func cluster(_ old: ClusterSettings?, _ new: ClusterSettings?) -> [ConfigChange] {
        switch (old, new) {
        case (nil, nil): return []
        case (nil, _?): return [.init("~ mode pair -> cluster", .restart)]
        case (_?, nil): return [.init("~ mode cluster -> pair", .restart)]
        case (let a?, let b?):
            var out: [ConfigChange] = []
            if a.vipInterface != b.vipInterface { out.append(.init("~ cluster vip_interface \(a.vipInterface) -> \(b.vipInterface)", .restart)) }
            if a.routeTable != b.routeTable { out.append(.init("~ cluster route_table \(a.routeTable) -> \(b.routeTable)", .restart)) }
            if a.routeProtocol != b.routeProtocol {
                out.append(.init("~ cluster route_protocol \(a.routeProtocol) -> \(b.routeProtocol)", .restart))
            }
            if a.bgp != b.bgp { out.append(.init("~ cluster bgp (BIRD's: regenerate its config with tandemctl bird-config)", .unused)) }
            return out
        }
    }

    /// `~ connection sync daemon: syncid 1 -> 2, port 8848 -> 8850, maxlen default -> 512`.
    static func sync(_ old: SyncSettings?, _ new: SyncSettings?) -> String? {
        switch (old, new) {
        case (nil, nil): return nil
        case (nil, let s?): return "+ connection sync daemon on \(s.interface) (\(fields(s).map { "\($0.0) \($0.1)" }.joined(separator: ", ")))"
        case (let s?, nil): return "- connection sync daemon on \(s.interface) (stopped)"
        case (let a?, let b?):
            guard a != b else { return nil }
            let changed = zip(fields(a), fields(b)).filter { pair in pair.0.1 != pair.1.1 }
                .map { pair in "\(pair.0.0) \(pair.0.1) -> \(pair.1.1)" }
            return "~ connection sync daemon: \(changed.joined(separator: ", "))"
        }
    }

    private static func fields(_ s: SyncSettings) -> [(String, String)] {
        [("interface", s.interface), ("syncid", "\(s.syncID)"),
         ("group", (s.group ?? SyncDaemonRules.defaultGroup).description),
         ("port", "\(s.port ?? SyncDaemonRules.defaultPort)"), ("ttl", "\(s.ttl ?? SyncDaemonRules.defaultTTL)"),
         ("maxlen", s.maxLength.map(String.init) ?? "default")]
    }

    private static func describe(_ t: IPVSTimeouts) -> String { "tcp \(t.tcp), tcpfin \(t.tcpFin), udp \(t.udp)" }

    private static func describe(_ a: HeartbeatSettings.Authentication) -> String {
        switch a {
        case .none: return "none"
        case .hmacSHA256(let keyFile): return "hmac-sha256 (key file \(keyFile))"
        }
    }

    private static func list(_ addresses: [IPAddress]) -> String { addresses.map(\.description).joined(separator: ", ") }
}
