#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `tandemctl import keepalived`: one keepalived.conf per router (or one file with `@` lines for
/// both) into one Tandem pair config.
///
/// The entry point is a pure function of the files' contents (`ImportFileSource`), so tests and
/// fuzzers run it without I/O:
///
///     KeepalivedImport.run(files: ["/etc/keepalived/keepalived.conf"], options: .init(), source: files)
///
/// keepalived's behaviour is followed where it surprises, on purpose, with a `quirk` finding
/// citing the keepalived source (2.2.7, Debian 12's): the output installs the IPVS table that
/// keepalived installed, not the one the text seems to ask for.
public enum KeepalivedImport {
    public struct Options: Sendable {
        /// The routers' names, also their keepalived config ids for `@` lines.
        public var nodeNames: [String]?
        /// Heartbeat addresses of the two routers, when the files have no unicast_src_ip/unicast_peer.
        public var addresses: [String]?
        public var keyFile: String

        public init(nodeNames: [String]? = nil, addresses: [String]? = nil, keyFile: String = "/etc/tandem/heartbeat.key") {
            self.nodeNames = nodeNames
            self.addresses = addresses
            self.keyFile = keyFile
        }
    }

    /// Imports one or two keepalived.conf files. Throws only for input that cannot be read at
    /// all; everything else becomes findings.
    public static func run(files paths: [String], options: Options, source: any ImportFileSource) throws(ImportError) -> ImportResult {
        guard (1...2).contains(paths.count) else {
            throw ImportError(at: nil, "give one keepalived.conf (with @ lines for each router, or one router's) or two (the MASTER's and the BACKUP's); got \(paths.count)")
        }
        if let names = options.nodeNames {
            guard names.count == 2, names[0] != names[1] else {
                throw ImportError(at: nil, "--node-names takes two different names, like lvs-a,lvs-b")
            }
            for name in names where name.isEmpty || name.count > 64
                || !name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }) {
                throw ImportError(at: nil, "--node-names: \"\(name)\" is not a valid node name: use letters, digits, '-', '_' and '.'")
            }
        }
        // Read each router's view: two files, or one file twice (once per config id).
        var views: [RouterView] = []
        var lexFindings: [ImportFinding] = []
        if paths.count == 2 {
            for (i, path) in paths.enumerated() {
                var lexer = KeepalivedLexer(files: source, configID: options.nodeNames?[i])
                let tree = try lexer.read(path: path)
                lexFindings += lexer.findings
                views.append(RouterView.read(tree, file: path))
            }
        } else {
            var probe = KeepalivedLexer(files: source, configID: options.nodeNames?[0])
            let first = try probe.read(path: paths[0])
            lexFindings += probe.findings
            views.append(RouterView.read(first, file: paths[0]))
            if probe.usesConditionals, let second = options.nodeNames?[1] {
                var lexer = KeepalivedLexer(files: source, configID: second)
                let tree = try lexer.read(path: paths[0])
                lexFindings += lexer.findings
                views.append(RouterView.read(tree, file: paths[0]))
            }
        }
        var builder = Builder(views: views, options: options, files: paths)
        builder.findings = lexFindings
        try builder.build()
        return try builder.finish()
    }
}

/// keepalived's timers: decimal seconds with up to microseconds (read_timer in lib/parser.c).
func keepalivedSeconds(_ text: String?) -> UInt64? {
    guard let text, let value = Double(text), value >= 0, value < 1e9, value.isFinite else { return nil }
    return UInt64((value * 1000).rounded())
}

/// Milliseconds as a Tandem duration.
func durationText(ms: UInt64) -> String { TimeSpan(milliseconds: ms).description }

// MARK: - One router's view

/// What one keepalived.conf says, for one router, before any merging.
struct RouterView {
    struct Instance {
        var name: String
        var location: SourceLocation
        var state: String?
        var interface: String?
        var priority: Int?
        var priorityLocation: SourceLocation?
        var advertMS: UInt64?
        var nopreempt = false
        var preemptDelayMS: UInt64?
        /// `virtual_router_id`: keepalived's sync id when lvs_sync_daemon gives none.
        var vrid: Int?
        var vips: [(words: [String], location: SourceLocation)] = []
        var trackInterfaces: [(String, Int?, SourceLocation)] = []
        var unicastSource: (String, SourceLocation)?
        var unicastPeers: [(String, SourceLocation)] = []
        var notify: [(String, String, SourceLocation)] = []
        var garp: [(String, String?, SourceLocation)] = []
    }

    /// A notify script's text as keepalived 2.2.7 holds it (the word after the keyword, read
    /// with quotes and escapes), or nil when keepalived ignores the line. Words after it are the
    /// user and group keepalived runs the script as (notify.c `notify_script_init`), a common
    /// slip for arguments outside the quotes: keepalived then ran nothing (no such user) or ran
    /// the script as that user, so the output leaves it out and says what to write.
    static func notifyScript(_ s: KeepalivedStatement, notes: inout [ImportFinding]) -> String? {
        guard let script = KeepalivedLexer.script(s) else { return nil }
        guard script.words?.isEmpty == false else {
            notes.append(ImportFinding(.quirk, at: s.location,
                "keepalived cannot parse \(s.keyword) \"\(script.text)\" (an unclosed quote or a backslash at the end) and ignores it; so does the output",
                advice: "fix the quoting in keepalived.conf and import again"))
            return nil
        }
        if !script.extra.isEmpty {
            let extra = script.extra.joined(separator: " ")
            let role = notifyRoles[s.keyword] ?? "…"
            notes.append(ImportFinding(.quirk, at: s.location,
                "keepalived runs \(s.keyword) \"\(script.text)\" as the user (and group) \(extra), the words after the script, and ignores "
                    + "the script when no such user exists (arguments belong inside the script's double quotes): left out of the output",
                advice: "write notify.\(role): [\(([script.text] + script.extra).joined(separator: ", "))] if \(extra) was meant as arguments, "
                    + "or [\(script.text)] if it was the user (Tandem runs notify commands as tandemd's user)"))
            return nil
        }
        return script.text
    }

    /// keepalived's notify keywords and the Tandem role each becomes.
    static let notifyRoles = ["notify_master": "active", "notify_backup": "standby", "notify_fault": "fault", "notify_stop": "stop"]

    var file: String
    var routerID: (String, SourceLocation)?
    var instances: [Instance] = []
    var globalGarp: [(String, String?, SourceLocation)] = []
    var syncDaemon: KeepalivedStatement?
    /// `lvs_timeouts [tcp N] [tcpfin N] [udp N]` (global_defs).
    var lvsTimeouts: KeepalivedStatement?
    /// `lvs_sync_daemon_interface IFACE` inside a vrrp_instance: the form before keepalived 1.4's
    /// global `lvs_sync_daemon`, still read by 2.x (vrrp_parser.c `vrrp_lvs_syncd_handler`: "is
    /// deprecated, please use global lvs_sync_daemon"), which makes that instance drive it.
    var instanceSyncInterface: (interface: String, instance: String, location: SourceLocation)?
    /// The sync id keepalived gives the daemons of `instance` when none is written: its
    /// virtual_router_id (vrrp.c, a `syncid` left PARAMETER_UNSET takes the instance's vrid).
    func defaultSyncID(instance: String?) -> Int? { instances.first { $0.name == instance }?.vrid }
    /// Each vrrp_sync_group: its name, the instances of its `group` block, and its
    /// notify_master/_backup/_fault/_stop (role, command, where), which keepalived runs on the
    /// group's transitions: the pair's in Tandem, for the group of the imported instance.
    var syncGroups: [(name: String, members: [String], notify: [(String, String, SourceLocation)], location: SourceLocation)] = []
    var virtualServers: [KeepalivedStatement] = []
    var groups: [String: KeepalivedStatement] = [:]
    /// Statements with no Tandem equivalent, with what to do instead.
    var unmapped: [ImportFinding] = []
    var notes: [ImportFinding] = []

    /// Keywords the importer reads that take one argument, and those that take none: keepalived
    /// reads the words it expects and ignores the rest of the line, a second keyword written on
    /// the same line too (`path / digest 9b3a…` is the path `/` and no digest).
    static let oneArgument: Set<String> = [
        "path", "digest", "virtualhost", "connect_port", "connect_ip", "connect_timeout", "bindto", "bind_port", "retry",
        "nb_get_retry", "delay_before_retry", "warmup", "misc_timeout", "delay_loop", "lb_algo", "lvs_sched",
        "persistence_timeout", "persistence_granularity", "protocol", "weight", "uthreshold", "lthreshold",
        "state", "interface", "virtual_router_id", "priority", "advert_int", "preempt_delay", "router_id",
        // A real server's takes an optional true or false (rs_inhibit_handler).
        "inhibit_on_failure",
    ]
    static let noArgument: Set<String> = ["nopreempt", "ha_suspend", "ops", "sorry_server_inhibit", "misc_dynamic"]
    /// Blocks whose lines are lists or free-form (addresses, routes, rules, tracked objects), not keywords.
    static let listBlocks: Set<String> = [
        "virtual_ipaddress", "virtual_ipaddress_excluded", "virtual_routes", "virtual_rules", "static_ipaddress",
        "static_routes", "static_rules", "track_interface", "track_script", "track_process", "track_file", "track_bfd",
        "unicast_peer",
    ]

    /// Every statement of the blocks the importer maps (global_defs, vrrp_instance,
    /// virtual_server, at any depth) with words after those its keyword takes.
    static func extraWords(inTopLevel tree: [KeepalivedStatement]) -> [ImportFinding] {
        extraWords(in: tree.filter { ["global_defs", "vrrp_instance", "virtual_server"].contains($0.keyword) }.flatMap { $0.block ?? [] })
    }

    private static func extraWords(in tree: [KeepalivedStatement]) -> [ImportFinding] {
        var out: [ImportFinding] = []
        for s in tree {
            let takes = oneArgument.contains(s.keyword) ? 1 : noArgument.contains(s.keyword) ? 0 : nil
            if let takes, s.argumentCount > takes {
                let read = s.words.prefix(takes + 1).joined(separator: " ")
                let rest = s.words.dropFirst(takes + 1).joined(separator: " ")
                out.append(ImportFinding(.quirk, at: s.location,
                    "keepalived reads \"\(read)\" and ignores the rest of the line (\(rest)): one keyword per line",
                    advice: "the output does as keepalived did; if \"\(rest)\" was meant, put it on a line of its own in keepalived.conf and import again"))
            }
            if !listBlocks.contains(s.keyword) { out += extraWords(in: s.block ?? []) }
        }
        return out
    }

    static func read(_ tree: [KeepalivedStatement], file: String) -> RouterView {
        var view = RouterView(file: file)
        view.notes += extraWords(inTopLevel: tree)
        for s in tree {
            switch s.keyword {
            case "global_defs": view.readGlobal(s)
            case "vrrp_instance": view.readInstance(s)
            case "virtual_server": view.virtualServers.append(s)
            case "virtual_server_group":
                if let name = s.arg(0) { view.groups[name] = s }
            case "vrrp_sync_group":
                view.notes.append(ImportFinding(.note, at: s.location,
                    "vrrp_sync_group \(s.arg(0) ?? ""): Tandem moves all of the pair's VIPs together, as a sync group does"))
                var group: (name: String, members: [String], notify: [(String, String, SourceLocation)], location: SourceLocation)
                    = (s.arg(0) ?? "", [], [], s.location)
                for inner in s.block ?? [] {
                    if inner.keyword == "group" {
                        group.members += (inner.block ?? []).map(\.keyword)
                    } else if let role = notifyRoles[inner.keyword] {
                        if let text = Self.notifyScript(inner, notes: &view.notes) { group.notify.append((role, text, inner.location)) }
                    } else if inner.keyword.hasPrefix("notify") {
                        view.unmapped.append(Unmapped.finding(for: inner, context: "vrrp_sync_group"))
                    }
                }
                view.syncGroups.append(group)
            default:
                view.unmapped.append(Unmapped.finding(for: s, context: nil))
            }
        }
        return view
    }

    mutating func readGlobal(_ block: KeepalivedStatement) {
        for s in block.block ?? [] {
            switch s.keyword {
            case "router_id": if let id = s.arg(0) { routerID = (id, s.location) }
            case "lvs_sync_daemon": syncDaemon = s
            case "vrrp_garp_master_delay", "vrrp_garp_master_repeat", "vrrp_garp_master_refresh",
                 "vrrp_garp_master_refresh_repeat", "vrrp_garp_interval", "vrrp_gna_interval":
                globalGarp.append((String(s.keyword.dropFirst("vrrp_".count)), s.arg(0), s.location))
            case "script_user", "enable_script_security", "max_auto_priority", "vrrp_skip_check_adv_addr",
                 "vrrp_strict", "vrrp_version", "dynamic_interfaces", "vrrp_no_swap", "checker_no_swap",
                 "vrrp_priority", "checker_priority", "bfd_priority", "vrrp_rt_priority", "checker_rt_priority",
                 "lvs_flush", "lvs_flush_onstop", "vrrp_garp_lower_prio_delay", "vrrp_garp_lower_prio_repeat",
                 "vrrp_higher_prio_send_advert", "vrrp_lower_prio_no_advert", "vrrp_iptables", "vrrp_ipsets",
                 "vrrp_check_unicast_src", "lvs_timeouts":
                if s.keyword == "lvs_timeouts" {
                    lvsTimeouts = s
                } else if s.keyword == "lvs_flush" || s.keyword == "lvs_flush_onstop" {
                    notes.append(ImportFinding(.note, at: s.location,
                        "\(s.keyword): Tandem never flushes the IPVS table; it owns only the entries its config names and leaves others alone"))
                } else {
                    notes.append(ImportFinding(.note, at: s.location, "\(s.keyword) has no meaning for Tandem and is left out"))
                }
            default:
                unmapped.append(Unmapped.finding(for: s, context: "global_defs"))
            }
        }
    }

    mutating func readInstance(_ block: KeepalivedStatement) {
        var i = Instance(name: block.arg(0) ?? "", location: block.location)
        for s in block.block ?? [] {
            switch s.keyword {
            case "state": i.state = s.arg(0)
            case "interface": i.interface = s.arg(0)
            case "priority":
                // vrrp_parser.c: 1…255, otherwise "Priority not valid! … Using default 100".
                if let p = s.arg(0).flatMap({ Int($0) }), (1...255).contains(p) {
                    i.priority = p
                } else {
                    i.priority = 100
                    notes.append(ImportFinding(.quirk, at: s.location,
                        "priority \(s.arg(0) ?? "") is not 1…255: keepalived uses its default 100, and so does the output",
                        advice: "write a priority from 1 to 255"))
                }
                i.priorityLocation = s.location
            case "advert_int":
                i.advertMS = keepalivedSeconds(s.arg(0))
            case "nopreempt": i.nopreempt = true
            case "preempt": i.nopreempt = false
            case "preempt_delay": i.preemptDelayMS = keepalivedSeconds(s.arg(0))
            case "virtual_ipaddress", "virtual_ipaddress_excluded":
                for line in s.block ?? [] { i.vips.append((line.words, line.location)) }
                if let extra = s.arg(0) { i.vips.append(([extra] + s.words.dropFirst(2), s.location)) }
            case "track_interface":
                for line in s.block ?? [] {
                    var weight: Int?
                    if line.arg(0) == "weight", let w = line.arg(1).flatMap({ Int($0) }) { weight = w }
                    i.trackInterfaces.append((line.keyword, weight, line.location))
                }
            case "lvs_sync_daemon_interface":
                if let interface = s.arg(0), instanceSyncInterface == nil { instanceSyncInterface = (interface, i.name, s.location) }
            case "unicast_src_ip": if let a = s.arg(0) { i.unicastSource = (a, s.location) }
            case "unicast_peer":
                for line in s.block ?? [] { i.unicastPeers.append((line.keyword, line.location)) }
            case "notify_master", "notify_backup", "notify_fault", "notify_stop":
                if let text = Self.notifyScript(s, notes: &notes) { i.notify.append((Self.notifyRoles[s.keyword]!, text, s.location)) }
            case "garp_master_delay", "garp_master_repeat", "garp_master_refresh", "garp_master_refresh_repeat",
                 "garp_interval", "gna_interval":
                i.garp.append((s.keyword, s.arg(0), s.location))
            case "virtual_router_id":
                i.vrid = s.arg(0).flatMap { Int($0) }
                notes.append(ImportFinding(.note, at: s.location,
                    "virtual_router_id \(s.arg(0) ?? ""): Tandem's peers find each other by their configured heartbeat addresses, not by a router id"))
            case "authentication":
                unmapped.append(ImportFinding(.notCarriedOver, at: s.location,
                    "VRRP authentication (auth_type/auth_pass) is not carried over",
                    advice: "Tandem authenticates every heartbeat with HMAC-SHA256 under heartbeat.key_file: create a random key of 32 bytes, the same on both routers"))
            case "dont_track_primary":
                notes.append(ImportFinding(.note, at: s.location,
                    "dont_track_primary: Tandem tracks the VIPs' interfaces implicitly; list an interface in track_interfaces with lower_priority_by to keep the VIPs on its carrier loss"))
            default:
                unmapped.append(Unmapped.finding(for: s, context: "vrrp_instance"))
            }
        }
        // vrrp.c (vrrp_complete_instance): "nopreempt will not work with initial state MASTER -
        // clearing". The MASTER router preempts after all.
        if i.nopreempt, i.state?.uppercased() == "MASTER" {
            i.nopreempt = false
            notes.append(ImportFinding(.quirk, at: i.location,
                "vrrp_instance \(i.name) has nopreempt with state MASTER: keepalived clears nopreempt (\"nopreempt will not work with "
                    + "initial state MASTER - clearing\"), so this router preempts, and the output says preempt: true",
                advice: "for no preemption, write state BACKUP on both routers in keepalived, and preempt: false here"))
        }
        instances.append(i)
    }
}

/// What to do instead, for keepalived keywords Tandem has no equivalent of.
enum Unmapped {
    static let advice: [String: String] = [
        "DNS_CHECK": "use a health_check of type udp (send a query, expect the answer) or exec (dig)",
        "SMTP_CHECK": "use a health_check of type tcp with expect: \"^220\"",
        "PING_CHECK": "use a health_check of type exec running /bin/ping -c 1 -W 1 %h",
        "ICMP_CHECK": "use a health_check of type exec running /bin/ping -c 1 -W 1 %h",
        "FILE_CHECK": "use a health_check of type exec with a script that tests the file",
        "BFD_CHECK": "Tandem has no BFD: use a tcp or exec health check",
        "bfd_instance": "Tandem has no BFD: use a tcp or exec health check",
        "virtual_routes": "add the routes in the system's network configuration, or from a notify command",
        "virtual_rules": "add the rules in the system's network configuration, or from a notify command",
        "static_routes": "add the routes in the system's network configuration",
        "static_rules": "add the rules in the system's network configuration",
        "static_ipaddress": "add the addresses in the system's network configuration",
        "use_vmac": "Tandem moves the VIP itself and announces it with GARP/NA; there is no virtual MAC",
        "vmac_xmit_base": "Tandem moves the VIP itself and announces it with GARP/NA; there is no virtual MAC",
        "track_script": "Tandem has no scripts that move priority: use track_interfaces, or a health check",
        "vrrp_script": "Tandem has no scripts that move priority: use track_interfaces, or a health check",
        "track_process": "Tandem has no process tracking: use a health check",
        "vrrp_track_process": "Tandem has no process tracking: use a health check",
        "track_file": "Tandem has no file tracking: use maintenance mode (tandemctl maintenance on) instead",
        "vrrp_track_file": "Tandem has no file tracking: use maintenance mode (tandemctl maintenance on) instead",
        "track_bfd": "Tandem has no BFD",
        "notify": "Tandem runs one command per role (notify.active, .standby, .fault, .stop) with the role in the environment: point them at the script",
        "notify_fifo": "use tandemctl events --json for a stream of role and health events",
        "vrrp_notify_fifo": "use tandemctl events --json for a stream of role and health events",
        "lvs_notify_fifo": "use tandemctl events --json for a stream of role and health events",
        "notify_up": "use tandemctl events --json to act on health changes",
        "notify_down": "use tandemctl events --json to act on health changes",
        "notification_email": "send mail from a notify command",
        "notification_email_from": "send mail from a notify command",
        "smtp_server": "send mail from a notify command",
        "smtp_connect_timeout": "send mail from a notify command",
        "smtp_alert": "send mail from a notify command",
        "enable_traps": "Tandem has no SNMP: read tandemctl status --json",
        "enable_snmp_vrrp": "Tandem has no SNMP: read tandemctl status --json",
        "enable_snmp_checker": "Tandem has no SNMP: read tandemctl status --json",
        "enable_snmp_rfc": "Tandem has no SNMP: read tandemctl status --json",
        "snmp_socket": "Tandem has no SNMP: read tandemctl status --json",
        "net_namespace": "run tandemd inside the namespace (ip netns exec NAME tandemd …)",
        "linkbeat_use_polling": "Tandem follows link state through rtnetlink events",
        "SSL": "Tandem's https checks present no client certificate",
        "mcast_src_ip": "Tandem sends heartbeats unicast between the nodes' addresses; pass the addresses with --addresses if the output lacks them",
    ]

    static func finding(for s: KeepalivedStatement, context: String?) -> ImportFinding {
        let inContext = context.map { " (in \($0))" } ?? ""
        let advice = advice[s.keyword] ?? "Tandem has no equivalent; see examples/reference.yaml for what it offers"
        return ImportFinding(.notCarriedOver, at: s.location, "\(s.keyword)\(inContext) is not carried over", advice: advice)
    }
}

// MARK: - Building the Tandem config

private struct Builder {
    let views: [RouterView]
    let options: KeepalivedImport.Options
    let files: [String]
    var findings: [ImportFinding] = []
    var firstViewFindings: [ImportFinding] = []
    var draft = TandemDraft()

    init(views: [RouterView], options: KeepalivedImport.Options, files: [String]) {
        self.views = views
        self.options = options
        self.files = files
    }

    mutating func build() throws(ImportError) {
        draft.keyFile = options.keyFile
        draft.header = [
            "Imported from keepalived by tandemctl import keepalived: \(files.joined(separator: " and "))",
            "Every setting that could not be carried over is listed by the command with its file and line.",
            "Check it with: tandemctl check-config FILE; compare tables with: tandemctl show-config FILE --format ipvsadm",
        ]
        for view in views {
            add(view.notes + view.unmapped, fromView: view)
        }
        try buildNodes()
        buildHeartbeatAndElection()
        buildVIPs()
        var services: [[TandemDraft.VirtualServer]] = []
        for view in views {
            var mapper = ServiceMapper(view: view)
            services.append(mapper.map())
            add(mapper.findings, fromView: view)
        }
        draft.virtualServers = services[0]
        if services.count == 2 { compareServices(services[0], services[1]) }
        addServiceVIPs()
        if draft.virtualIPs.isEmpty {
            throw ImportError(at: views[0].instances.first?.location ?? SourceLocation(file: files[0], line: 1),
                "no VIP: no vrrp_instance lists a virtual_ipaddress and no virtual server has an address; a Tandem pair moves at least one VIP: add a vrrp_instance with its virtual_ipaddress to keepalived.conf and import again")
        }
        markNATGateways()
        buildSync()
        buildTimeouts()
        findings += draft.settle()
    }

    /// Findings of the second router's file that say what the first's already said (the same
    /// keyword left out in both) are dropped: one finding, at the first file's line.
    mutating func add(_ new: [ImportFinding], fromView view: RouterView) {
        if views.count == 2, view.file == views[1].file, view.file != views[0].file {
            findings += Self.merge(firstViewFindings, new)
        } else {
            firstViewFindings += new
            findings += new
        }
    }

    static func merge(_ first: [ImportFinding], _ second: [ImportFinding]) -> [ImportFinding] {
        let said = Set(first.map { "\($0.kind)|\($0.message)" })
        return second.filter { !said.contains("\($0.kind)|\($0.message)") }
    }

    func finish() throws(ImportError) -> ImportResult {
        let (yaml, mappings) = draft.renderWithMappings()
        // Exact repeats (one file read once per router for @ lines) are one finding.
        var seen = Set<String>()
        let all = findings.filter { seen.insert("\($0.kind)|\($0.message)|\($0.location?.description ?? "")").inserted }
        do {
            _ = try ConfigParser.parseWithWarnings(yaml: yaml)
        } catch {
            throw ImportError.invalidOutput(error, yaml: yaml, findings: all)
        }
        return ImportResult(yaml: yaml, findings: all, mappings: mappings)
    }

    // MARK: Nodes

    mutating func buildNodes() throws(ImportError) {
        let first = views[0]
        let instance = first.instances.first
        for view in views {
            for extra in view.instances.dropFirst() {
                findings.append(ImportFinding(.note, at: extra.location,
                    "vrrp_instance \(extra.name): its VIPs join the pair's one set (Tandem has one active router for all VIPs); its priority, timing and peers are those of vrrp_instance \(view.instances[0].name)"))
            }
        }
        var names: [String]
        if let given = options.nodeNames {
            names = given
        } else if views.count == 2, let a = views[0].routerID?.0, let b = views[1].routerID?.0, a != b {
            names = [a, b].map(Self.nodeName)
        } else {
            names = [first.routerID.map { Self.nodeName($0.0) } ?? "lvs-a", "lvs-b"]
            if names[0] == names[1] { names[1] = names[0] + "-peer" }
            findings.append(ImportFinding(.note, at: first.routerID?.1,
                "the nodes are called \(names[0]) and \(names[1])", advice: "give their names with --node-names NAME1,NAME2; each tandemd finds itself by --node NAME or by its addresses"))
        }
        // Heartbeat addresses: unicast_src_ip of each, or the peer's unicast_peer.
        var addresses: [[String]] = [[], []]
        var sources: [SourceLocation?] = [instance?.location, views.count == 2 ? views[1].instances.first?.location : nil]
        if let given = options.addresses {
            guard given.count == 2 else {
                throw ImportError(at: nil, "--addresses takes the two routers' heartbeat addresses, like 192.0.2.2,192.0.2.3")
            }
            addresses = [[given[0]], [given[1]]]
        } else {
            if let src = instance?.unicastSource { addresses[0] = [src.0] }
            if views.count == 2, let src = views[1].instances.first?.unicastSource { addresses[1] = [src.0] }
            if addresses[1].isEmpty, let peer = instance?.unicastPeers.first {
                addresses[1] = [peer.0]
                sources[1] = sources[1] ?? peer.1
            }
            if addresses[0].isEmpty, views.count == 2, let peer = views[1].instances.first?.unicastPeers.first {
                addresses[0] = [peer.0]
            }
            if (instance?.unicastPeers.count ?? 0) > 1 {
                findings.append(ImportFinding(.note, at: instance?.unicastPeers[1].1,
                    "unicast_peer lists more than one peer: a Tandem pair has two routers; the first peer is the other node"))
            }
        }
        for i in 0..<2 {
            for a in addresses[i] where IPAddress(a) == nil {
                throw ImportError(at: sources[i] ?? instance?.location,
                    "\"\(a)\" is not an IP address, so it cannot be \(names[i])'s heartbeat address: write the router's address in unicast_src_ip/unicast_peer (or --addresses)")
            }
        }
        if addresses[0] == addresses[1], !addresses[0].isEmpty {
            throw ImportError(at: instance?.location, "both routers would have the heartbeat address \(addresses[0][0]): give each its own with unicast_src_ip and unicast_peer, or --addresses IP1,IP2")
        }
        for i in 0..<2 where addresses[i].isEmpty {
            throw ImportError(at: instance?.location ?? SourceLocation(file: files[0], line: 1),
                "the heartbeat address of \(names[i]) is unknown (keepalived uses multicast here): add unicast_src_ip and unicast_peer to the vrrp_instance, or give both routers' addresses with --addresses IP1,IP2")
        }
        var priorities: [Int] = [instance?.priority ?? Self.defaultPriority(instance), 100]
        if views.count == 2 {
            priorities[1] = views[1].instances.first?.priority ?? Self.defaultPriority(views[1].instances.first)
        } else {
            // One router's file: the peer takes the other role, 50 below a MASTER or above a BACKUP.
            let backup = instance?.state?.uppercased() == "BACKUP"
            priorities[1] = backup ? min(255, priorities[0] + 50) : max(1, priorities[0] - 50)
            if priorities[1] == priorities[0] { priorities[1] = backup ? max(1, priorities[0] - 1) : min(255, priorities[0] + 1) }
            if first.instances.isEmpty == false {
                findings.append(ImportFinding(.note, at: instance?.location,
                    "only \(names[0])'s file was given: \(names[1]) gets priority \(priorities[1]) and the address of unicast_peer",
                    advice: "import both routers' files (or one with @ lines and --node-names) to carry over the peer's own settings"))
            }
        }
        if priorities[0] == priorities[1] {
            findings.append(ImportFinding(.note, at: instance?.priorityLocation ?? instance?.location,
                "both routers have priority \(priorities[0]): Tandem breaks the tie by node order, keepalived by the higher address"))
        }
        var tracks: [[(String, Int?)]] = [[], []]
        for (i, view) in views.enumerated() {
            for (name, weight, location) in view.instances.first?.trackInterfaces ?? [] {
                if let weight, weight < 0 {
                    tracks[i].append((name, min(254, -weight)))
                } else if let weight, weight > 0 {
                    findings.append(ImportFinding(.notCarriedOver, at: location,
                        "track_interface \(name) weight \(weight) raises the priority while the link is up; Tandem only lowers it while the link is down",
                        advice: "raise this node's priority by \(weight) and track \(name) with lower_priority_by: \(weight)"))
                    tracks[i].append((name, min(254, weight)))
                } else {
                    tracks[i].append((name, nil))
                }
            }
        }
        if views.count == 1 { tracks[1] = tracks[0] }
        for i in 0..<2 {
            draft.nodes.append(TandemDraft.Node(name: names[i], addresses: addresses[i], priority: priorities[i],
                                                trackInterfaces: tracks[i], source: sources[i]))
        }
    }

    /// The notify commands of the sync group that lists `instance` (the imported one); another
    /// group's are reported as left out.
    static func syncGroupNotify(_ view: RouterView, instance: String, findings: inout [ImportFinding]) -> [(String, String, SourceLocation)] {
        var out: [(String, String, SourceLocation)] = []
        for group in view.syncGroups where !group.notify.isEmpty {
            if group.members.contains(instance) {
                out += group.notify
            } else {
                findings.append(ImportFinding(.notCarriedOver, at: group.location,
                    "vrrp_sync_group \(group.name) does not list vrrp_instance \(instance), the one imported: its notify scripts are left out",
                    advice: "Tandem moves all of the pair's VIPs as one; point notify.* at the script that should run"))
            }
        }
        return out
    }

    /// The notify commands of one router: its sync group's and its instance's. keepalived runs
    /// both on a transition; Tandem runs one command per role, so where both name one for the
    /// same role the sync group's is kept (it is the group that moves as the pair does) and
    /// the instance's is reported as left out.
    static func notifyCommands(instance: [(String, String, SourceLocation)], syncGroup: [(String, String, SourceLocation)],
                               findings: inout [ImportFinding]) -> [(String, String, SourceLocation)] {
        var out = syncGroup
        for entry in instance {
            if let group = syncGroup.first(where: { $0.0 == entry.0 }) {
                if group.1 != entry.1 {
                    findings.append(ImportFinding(.notCarriedOver, at: entry.2,
                        "the vrrp_instance's notify command for \(entry.0) (\"\(entry.1)\") and the vrrp_sync_group's (\"\(group.1)\") both run in keepalived; Tandem runs one per role and the output keeps the sync group's",
                        advice: "call both from one script and point notify.\(entry.0) at it"))
                }
            } else {
                out.append(entry)
            }
        }
        return out
    }

    /// keepalived's default priority, VRRP_PRIO_DFL (100), whatever the `state` (2.2.7's
    /// vrrp_parser.c sets base_priority only from `priority`).
    static func defaultPriority(_ i: RouterView.Instance?) -> Int { 100 }

    static func nodeName(_ raw: String) -> String {
        let cleaned = String(raw.map { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) ? $0 : "-" }.prefix(64))
        return cleaned.isEmpty ? "lvs" : cleaned
    }

    // MARK: Heartbeat, election, announce, notify

    mutating func buildHeartbeatAndElection() {
        guard let instance = views[0].instances.first else {
            findings.append(ImportFinding(.note, at: nil,
                "no vrrp_instance: the nodes, VIPs and timing come from the defaults and the command line"))
            return
        }
        draft.heartbeatSource = instance.location
        if views.count == 2, let other = views[1].instances.first {
            // Pair-wide settings: Tandem has one value for both routers.
            let mine: [(String, String)] = [("advert_int", "\(instance.advertMS ?? 1000)ms"), ("nopreempt", "\(instance.nopreempt)"),
                                            ("preempt_delay", "\(instance.preemptDelayMS.map(String.init) ?? "none")"),
                                            ("interface", instance.interface ?? "none")]
            let theirs: [String] = ["\(other.advertMS ?? 1000)ms", "\(other.nopreempt)",
                                    "\(other.preemptDelayMS.map(String.init) ?? "none")", other.interface ?? "none"]
            for ((name, a), b) in zip(mine, theirs) where a != b {
                findings.append(ImportFinding(.difference, at: other.location,
                    "\(name) differs between the routers (\(a) in \(views[0].file), \(b) in \(views[1].file)); Tandem has one value for the pair and the output uses \(views[0].file)'s"))
            }
            let syncA = views[0].syncDaemon?.words.joined(separator: " ") ?? "none"
            let syncB = views[1].syncDaemon?.words.joined(separator: " ") ?? "none"
            if syncA != syncB {
                findings.append(ImportFinding(.difference, at: views[1].syncDaemon?.location ?? other.location,
                    "lvs_sync_daemon differs between the routers (\(syncA) / \(syncB)); the output uses \(views[0].file)'s"))
            }
        }
        let advert = instance.advertMS ?? 1000
        draft.interval = durationText(ms: max(10, advert))
        // keepalived's master down interval: 3 × advert_int + skew, skew = (256 − priority) ×
        // advert_int / 256 (RFC 3768 §6.1, vrrp.c vrrp_init_instance_sands).
        let priority = draft.nodes.map(\.priority).min() ?? 100
        let dead = 3 * advert + UInt64(256 - priority) * advert / 256
        draft.deadTime = durationText(ms: max(dead, advert * 2 + 1))
        findings.append(ImportFinding(.note, at: instance.location,
            "advert_int \(Double(advert) / 1000)s → heartbeat.interval \(durationText(ms: advert)), dead_time \(durationText(ms: dead)) (keepalived's master down interval for the lower priority, \(priority): 3 × advert_int + skew)",
            advice: "Tandem's heartbeats are UDP on port 539, not VRRP (IP protocol 112): open that port between the routers"))
        draft.preempt = !instance.nopreempt
        draft.electionSource = instance.location
        if !instance.nopreempt {
            findings.append(ImportFinding(.note, at: instance.location,
                "keepalived preempts unless nopreempt is set, so the output says preempt: true (Tandem's own default is false, as pulse's was)"))
        }
        if let delay = instance.preemptDelayMS {
            draft.preemptDelay = durationText(ms: delay)
            if instance.nopreempt {
                findings.append(ImportFinding(.note, at: instance.location, "preempt_delay has no effect with nopreempt, in keepalived and in Tandem"))
            }
        }
        let notify = Self.notifyCommands(instance: instance.notify, syncGroup: Self.syncGroupNotify(views[0], instance: instance.name, findings: &findings),
                                         findings: &findings)
        for (role, command, location) in notify {
            let words = KeepalivedLexer.quotedEscapedWords(command) ?? []
            if words.first?.hasPrefix("/") == true {
                draft.notify.append((role, words, location))
            } else {
                findings.append(ImportFinding(.notCarriedOver, at: location,
                    "the notify command \"\(command)\" does not start with an absolute path",
                    advice: "Tandem runs notify commands without a shell or PATH: write notify.\(role) with the program's full path"))
            }
        }
        if views.count == 2 {
            var ignored: [ImportFinding] = []
            let otherInstance = views[1].instances.first
            let other = Self.notifyCommands(instance: otherInstance?.notify ?? [],
                                            syncGroup: Self.syncGroupNotify(views[1], instance: otherInstance?.name ?? "", findings: &ignored),
                                            findings: &ignored)
            let mine = notify.map { "\($0.0) \($0.1)" }, theirs = other.map { "\($0.0) \($0.1)" }
            if mine != theirs {
                findings.append(ImportFinding(.difference, at: other.first?.2 ?? views[1].instances.first?.location,
                    "the routers' notify commands differ; Tandem has one notify setting for the pair and the output uses \(views[0].file)'s",
                    advice: "make the command behave per node (it gets the node name in its environment)"))
            }
        }
        // garp: per instance, else global (vrrp_garp_*).
        var garp: [String: (String?, SourceLocation)] = [:]
        for (key, value, location) in views[0].globalGarp { garp[key] = (value, location) }
        for (key, value, location) in instance.garp { garp[key] = (value, location) }
        if let (v, l) = garp["garp_master_repeat"], let n = v.flatMap({ Int($0) }), (1...100).contains(n) {
            draft.announce.append(("repeat", .number(n), l))
        }
        if let (v, l) = garp["garp_interval"], let ms = keepalivedSeconds(v) {
            draft.announce.append(("spacing", .raw(durationText(ms: ms)), l))
        }
        if let (v, l) = garp["garp_master_delay"], let ms = keepalivedSeconds(v) {
            draft.announce.append(("second_burst_delay", .raw(durationText(ms: ms)), l))
        }
        if let (v, l) = garp["garp_master_refresh"], let ms = keepalivedSeconds(v) {
            draft.announce.append(("refresh_interval", .raw(durationText(ms: ms)), l))
        }
        if let (v, l) = garp["garp_master_refresh_repeat"], let n = v.flatMap({ Int($0) }), (1...100).contains(n) {
            draft.announce.append(("refresh_repeat", .number(n), l))
        }
        if let (_, l) = garp["gna_interval"] {
            findings.append(ImportFinding(.note, at: l, "gna_interval: Tandem uses announce.spacing for neighbour advertisements too"))
        }
    }

    // MARK: VIPs

    mutating func buildVIPs() {
        var seen: [String: Int] = [:]
        for view in views.prefix(1) {
            for instance in view.instances {
                for (words, location) in instance.vips {
                    guard let vip = vipFromWords(words, defaultInterface: instance.interface, at: location) else { continue }
                    if seen[vip.prefix] != nil { continue }
                    seen[vip.prefix] = draft.virtualIPs.count
                    draft.virtualIPs.append(vip)
                }
            }
        }
        if views.count == 2 {
            var other: [String] = []
            for instance in views[1].instances {
                for (words, location) in instance.vips {
                    guard let vip = vipFromWords(words, defaultInterface: instance.interface, at: location, quiet: true) else { continue }
                    other.append("\(vip.prefix) \(vip.interface) \(vip.label ?? "")")
                    if seen[vip.prefix] == nil {
                        findings.append(ImportFinding(.difference, at: location,
                            "VIP \(vip.prefix) is only in \(views[1].file); the output leaves it out",
                            advice: "add it to virtual_ips if both routers should hold it"))
                    }
                }
            }
            let mine = draft.virtualIPs.map { "\($0.prefix) \($0.interface) \($0.label ?? "")" }
            for (i, vip) in draft.virtualIPs.enumerated() where !other.contains(mine[i]) {
                if other.contains(where: { $0.hasPrefix(vip.prefix + " ") }) {
                    findings.append(ImportFinding(.difference, at: vip.source,
                        "VIP \(vip.prefix) has another interface or label in \(views[1].file); the output uses \(views[0].file)'s (both routers must use the same interface name in Tandem)"))
                } else {
                    findings.append(ImportFinding(.difference, at: vip.source, "VIP \(vip.prefix) is not in \(views[1].file); the output keeps it"))
                }
            }
        }
    }

    /// `ADDR[/LEN] [dev IFACE] [label LABEL] [brd …] [scope …] …` (vrrp_ipaddress.c alloc_ipaddress).
    mutating func vipFromWords(_ words: [String], defaultInterface: String?, at location: SourceLocation, quiet: Bool = false) -> TandemDraft.VIP? {
        guard let first = words.first else { return nil }
        var address = first
        var length: Int?
        if let slash = first.firstIndex(of: "/") {
            address = String(first[..<slash])
            length = Int(first[first.index(after: slash)...])
        }
        guard let ip = IPAddress(address) else {
            if !quiet {
                findings.append(ImportFinding(.notCarriedOver, at: location, "\"\(first)\" is not an IP address (keepalived skips it too)"))
            }
            return nil
        }
        if length == nil {
            length = ip.family == .ipv4 ? 32 : 128
            if !quiet {
                findings.append(ImportFinding(.quirk, at: location,
                    "VIP \(address) has no prefix length: keepalived adds it as /\(length!) (no subnet route), and so does the output",
                    advice: "write the subnet's prefix length, like /24, if the VIP should bring its subnet route"))
            }
        }
        var interface = defaultInterface
        var label: String?
        var i = 1
        while i < words.count {
            let key = words[i], value = i + 1 < words.count ? words[i + 1] : nil
            switch key {
            case "dev": interface = value; i += 2
            case "label": label = value; i += 2
            case "brd", "broadcast", "scope", "metric", "preferred_lft", "peer":
                if !quiet {
                    findings.append(ImportFinding(.notCarriedOver, at: location, "VIP option \(key) \(value ?? "") is not carried over",
                        advice: "Tandem adds VIPs with the kernel's defaults for the prefix"))
                }
                i += 2
            case "no_track", "home", "-nodad", "nodad", "noprefixroute":
                if !quiet { findings.append(ImportFinding(.notCarriedOver, at: location, "VIP option \(key) is not carried over")) }
                i += 1
            default:
                if !quiet { findings.append(ImportFinding(.notCarriedOver, at: location, "VIP option \(key) is not understood and not carried over")) }
                i += 1
            }
        }
        guard let interface else {
            if !quiet {
                findings.append(ImportFinding(.notCarriedOver, at: location, "VIP \(first) has no interface (no dev and no interface in its vrrp_instance)",
                    advice: "add it to virtual_ips with its interface"))
            }
            return nil
        }
        if let l = label, ip.family == .ipv6 || !(l == interface || l.hasPrefix(interface + ":")) || l.count > 15 {
            if !quiet {
                findings.append(ImportFinding(.notCarriedOver, at: location, "label \(l) is left out: a label is for IPv4 only, is the interface name or starts with it and a colon, and has at most 15 characters"))
            }
            label = nil
        }
        return TandemDraft.VIP(prefix: "\(ip)/\(length!)", interface: interface, label: label, source: location)
    }

    /// Tandem requires each service address to be a VIP; keepalived does not (an LVS-only setup
    /// with the address held elsewhere). Missing ones are added on the first VRRP interface.
    mutating func addServiceVIPs() {
        let held = Set(draft.virtualIPs.map { $0.prefix.split(separator: "/").first.map(String.init) ?? "" })
        var added = Set<String>()
        let interface = views[0].instances.first?.interface ?? draft.virtualIPs.first?.interface ?? "eth0"
        for vs in draft.virtualServers {
            guard let address = vs.address, let ip = IPAddress(address), !held.contains("\(ip)"), !added.contains("\(ip)") else { continue }
            added.insert("\(ip)")
            let prefix = "\(ip)/\(ip.family == .ipv4 ? 32 : 128)"
            draft.virtualIPs.append(TandemDraft.VIP(prefix: prefix, interface: interface, source: vs.source))
            findings.append(ImportFinding(.note, at: vs.source,
                "\(address) is a service address but no vrrp_instance holds it; Tandem requires every service address among the VIPs, so the output adds \(prefix) on \(interface)",
                advice: "correct its interface and prefix length, or use a fwmark service if another system holds the address"))
        }
    }

    /// keepalived has no word for the NAT real servers' gateway: it is one of the VIPs. A VIP
    /// whose subnet holds a NAT real server is taken for it (Tandem's `nat_gateway`).
    mutating func markNATGateways() {
        for i in draft.virtualIPs.indices {
            guard let prefix = IPPrefix(draft.virtualIPs[i].prefix), prefix.length < (prefix.family == .ipv4 ? 32 : 128) else { continue }
            let natServer = draft.virtualServers.lazy.flatMap { vs in
                vs.realServers.filter { ($0.forwarding ?? vs.forwarding).method == "nat" }.map(\.address)
            }.first { IPAddress($0).map(prefix.contains) ?? false }
            guard let natServer else { continue }
            draft.virtualIPs[i].natGateway = true
            findings.append(ImportFinding(.note, at: draft.virtualIPs[i].source,
                "VIP \(prefix) is in the subnet of the NAT real server \(natServer), so the output marks it nat_gateway: true (the real servers route their replies through it)"))
        }
    }

    // MARK: IPVS timeouts

    /// `lvs_timeouts [tcp N] [tcpfin N] [udp N]` (global_parser.c lvs_timeouts; seconds, each
    /// optional, those left out are not changed) → ipvs_timeouts with the same keys.
    mutating func buildTimeouts() {
        guard let s = views[0].lvsTimeouts else { return }
        if views.count == 2 {
            let a = s.words.joined(separator: " "), b = views[1].lvsTimeouts?.words.joined(separator: " ") ?? "none"
            if a != b {
                findings.append(ImportFinding(.difference, at: views[1].lvsTimeouts?.location ?? s.location,
                    "lvs_timeouts differs between the routers (\(a) / \(b)); the output uses \(views[0].file)'s"))
            }
        }
        var timeouts = TandemDraft.Timeouts(source: s.location)
        var i = 0
        while i < s.argumentCount {
            let key = s.arg(i)!, value = s.arg(i + 1)
            let path: WritableKeyPath<TandemDraft.Timeouts, Int?>?
            switch key {
            case "tcp": path = \.tcp
            case "tcpfin": path = \.tcpFin
            case "udp": path = \.udp
            default: path = nil
            }
            guard let path else {
                findings.append(ImportFinding(.notCarriedOver, at: s.location, "lvs_timeouts: \(key) is not tcp, tcpfin or udp: left out"))
                i += value.flatMap { Int($0) } == nil ? 1 : 2  // with its value
                continue
            }
            if let value, let seconds = Int(value), seconds >= 1, seconds <= TandemDraft.Timeouts.maximumSeconds {
                timeouts[keyPath: path] = seconds
            } else {
                findings.append(ImportFinding(.notCarriedOver, at: s.location,
                    "lvs_timeouts: \(key) \(value ?? "(no value)") is not a number of seconds from 1 to \(TandemDraft.Timeouts.maximumSeconds): left out",
                    advice: "write ipvs_timeouts: {tcp: …s, tcp_fin: …s, udp: …s} in the Tandem config"))
            }
            i += 2
        }
        draft.ipvsTimeouts = timeouts
    }

    // MARK: Sync daemon

    /// `lvs_sync_daemon INTERFACE [VRRP_INSTANCE] [id N] [maxlen N] [port N] [ttl N] [group IP]`
    /// (global_parser.c lvs_syncd_handler).
    mutating func buildSync() {
        guard let s = views[0].syncDaemon, let interface = s.arg(0) else {
            if let old = views[0].instanceSyncInterface {
                let id = views[0].defaultSyncID(instance: old.instance)
                draft.sync = TandemDraft.Sync(interface: old.interface, syncID: id, source: old.location)
                findings.append(ImportFinding(.note, at: old.location,
                    "lvs_sync_daemon_interface \(old.interface) (in vrrp_instance \(old.instance), the older form of the global "
                        + "lvs_sync_daemon) → sync: the IPVS connection sync daemons run on \(old.interface)"
                        + (id.map { " with sync id \($0), the instance's virtual_router_id as in keepalived" } ?? "")
                        + ", master on the active router and backup on the standby"))
            }
            return
        }
        if let old = views[0].instanceSyncInterface {
            findings.append(ImportFinding(.note, at: old.location,
                "lvs_sync_daemon_interface \(old.interface) in vrrp_instance \(old.instance) is left out: the global lvs_sync_daemon "
                    + "(\(s.location)) says how the sync daemons run"))
        }
        var sync = TandemDraft.Sync(interface: interface, source: s.location)
        var i = 1
        while i < s.argumentCount {
            let key = s.arg(i)!, value = s.arg(i + 1)
            switch key {
            case "id": sync.syncID = value.flatMap { Int($0) }; i += 2
            case "maxlen": sync.maxLength = value.flatMap { Int($0) }; i += 2
            case "port": sync.port = value.flatMap { Int($0) }; i += 2
            case "ttl": sync.ttl = value.flatMap { Int($0) }; i += 2
            case "group": sync.group = value; i += 2
            default:
                // The VRRP instance whose state drives the daemon: Tandem's role does; its
                // virtual_router_id is keepalived's sync id when `id` is not given.
                if sync.syncID == nil, let id = views[0].defaultSyncID(instance: key) { sync.syncID = id }
                i += 1
            }
        }
        if let m = sync.maxLength, m < 64 {
            findings.append(ImportFinding(.notCarriedOver, at: s.location, "maxlen \(m) is below Tandem's minimum of 64 and is left out"))
            sync.maxLength = nil
        }
        draft.sync = sync
    }

    // MARK: Two files' services

    mutating func compareServices(_ a: [TandemDraft.VirtualServer], _ b: [TandemDraft.VirtualServer]) {
        func signature(_ vs: TandemDraft.VirtualServer) -> String {
            var d = TandemDraft()
            var copy = vs
            copy.source = nil
            copy.realServers = copy.realServers.map { var r = $0; r.source = nil; return r }
            copy.healthCheck?.source = nil
            copy.comments = []
            d.virtualServers = [copy]
            return d.render().components(separatedBy: "virtual_servers:").last ?? ""
        }
        let bByName = Dictionary(b.map { ($0.name, $0) }, uniquingKeysWith: { x, _ in x })
        let aNames = Set(a.map(\.name))
        for vs in a {
            guard let other = bByName[vs.name] else {
                findings.append(ImportFinding(.difference, at: vs.source, "virtual server \(vs.name) is not in \(views[1].file); the output keeps it"))
                continue
            }
            if signature(vs) != signature(other) {
                let aRS = Set(vs.realServers.map { "\($0.address):\($0.port ?? 0) weight \($0.weight)" })
                let bRS = Set(other.realServers.map { "\($0.address):\($0.port ?? 0) weight \($0.weight)" })
                var what: [String] = []
                if !aRS.subtracting(bRS).isEmpty { what.append("only in \(views[0].file): \(aRS.subtracting(bRS).sorted().joined(separator: ", "))") }
                if !bRS.subtracting(aRS).isEmpty { what.append("only in \(views[1].file): \(bRS.subtracting(aRS).sorted().joined(separator: ", "))") }
                if what.isEmpty { what.append("their settings (scheduler, persistence, forwarding or checks) differ") }
                findings.append(ImportFinding(.difference, at: other.source,
                    "virtual server \(vs.name) differs between the files (\(what.joined(separator: "; "))); the output follows \(views[0].file)",
                    advice: "check which router's version is right: Tandem installs the same table on both"))
            }
        }
        for vs in b where !aNames.contains(vs.name) {
            findings.append(ImportFinding(.difference, at: vs.source, "virtual server \(vs.name) is only in \(views[1].file); the output leaves it out",
                advice: "add it by hand if both routers should serve it"))
        }
    }
}
