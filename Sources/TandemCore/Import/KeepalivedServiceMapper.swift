/// keepalived's `virtual_server` and `virtual_server_group` blocks as Tandem virtual servers,
/// following keepalived 2.2.7's reading of them (keepalived/check/check_parser.c for each
/// keyword, check_data.c validate_check_config() for the fixes it applies afterwards), so the
/// output installs the IPVS table keepalived installed. Each such fix is a `quirk` finding.
struct ServiceMapper {
    let view: RouterView
    var findings: [ImportFinding] = []
    private var usedNames = Set<String>()

    init(view: RouterView) { self.view = view }

    /// check_parser.c lvs_schedulers[]: the names keepalived accepts, compared case-sensitively.
    static let schedulers: Set<String> = ["rr", "wrr", "lc", "wlc", "lblc", "sh", "mh", "dh", "fo", "ovf", "lblcr", "sed", "nq", "twos"]

    /// One service address or mark, as a group entry or the virtual_server line gives it.
    enum Match {
        case address(IPAddress, port: Int)
        case fwmark(UInt32, family: String?)
    }

    /// A real server as keepalived holds it after parsing.
    struct Real {
        var address: IPAddress
        var port: Int?
        var weight: Int?
        var forwarding: TandemDraft.Forwarding?
        var upper: Int?
        var lower: Int?
        var inhibit: Bool?
        var checkers: [KeepalivedStatement] = []
        var location: SourceLocation
    }

    mutating func map() -> [TandemDraft.VirtualServer] {
        var out: [TandemDraft.VirtualServer] = []
        for vs in view.virtualServers { out += mapVirtualServer(vs) }
        return out
    }

    mutating func note(_ kind: ImportFinding.Kind, _ location: SourceLocation?, _ message: String, _ advice: String = "") {
        findings.append(ImportFinding(kind, at: location, message, advice: advice))
    }

    // MARK: The virtual_server line

    mutating func matches(of vs: KeepalivedStatement) -> [Match]? {
        let words = Array(vs.arguments)
        guard let first = words.first else {
            note(.notCarriedOver, vs.location, "virtual_server without an address, fwmark or group is skipped (keepalived skips it too)")
            return nil
        }
        if first == "fwmark" {
            guard let mark = words.count > 1 ? UInt32(words[1]) : nil, mark > 0 else {
                note(.notCarriedOver, vs.location, "virtual_server fwmark \(words.dropFirst().first ?? "") is not a mark from 1 to 4294967295; skipped as keepalived does")
                return nil
            }
            return [.fwmark(mark, family: nil)]
        }
        if first == "group" {
            guard words.count > 1, let group = view.groups[words[1]] else {
                note(.notCarriedOver, vs.location, "virtual_server group \(words.dropFirst().first ?? "") names no virtual_server_group; skipped",
                     "define the group, or write the service's address")
                return nil
            }
            return groupMatches(group)
        }
        guard let ip = IPAddress(first) else {
            note(.notCarriedOver, vs.location, "virtual_server \(first): not an IP address (keepalived needs numeric addresses); skipped")
            return nil
        }
        let port = words.count > 1 ? Int(words[1]) : 0
        guard let port, (0...65535).contains(port) else {
            note(.notCarriedOver, vs.location, "virtual_server \(first) \(words[1]): not a port; skipped")
            return nil
        }
        return [.address(ip, port: port)]
    }

    /// `IP[-LAST] PORT` and `fwmark N [inet|inet6]` entries; a range replaces the last byte
    /// (IPv4) or the last 16-bit group (IPv6) up to LAST (check_data.c alloc_vsg_entry).
    mutating func groupMatches(_ group: KeepalivedStatement) -> [Match] {
        var out: [Match] = []
        for entry in group.block ?? [] {
            if entry.keyword == "fwmark" {
                if let mark = entry.arg(0).flatMap({ UInt32($0) }), mark > 0 {
                    let family = entry.arg(1).map { $0 == "inet6" ? "ipv6" : "ipv4" }
                    out.append(.fwmark(mark, family: family))
                } else {
                    note(.notCarriedOver, entry.location, "fwmark \(entry.arg(0) ?? "") is not a valid mark; keepalived ignores the entry too")
                }
                continue
            }
            let spec = entry.keyword
            let port = entry.arg(0).flatMap { Int($0) } ?? 0
            var base = spec, last: String?
            if let dash = spec.lastIndex(of: "-") {
                base = String(spec[..<dash])
                last = String(spec[spec.index(after: dash)...])
            }
            guard let ip = IPAddress(base), (0...65535).contains(port) else {
                note(.notCarriedOver, entry.location, "\(spec) \(entry.arg(0) ?? ""): not an address (or range) and port; keepalived ignores the entry too")
                continue
            }
            guard let last else { out.append(.address(ip, port: port)); continue }
            let ipv4 = ip.family == .ipv4
            guard let end = Int(last, radix: ipv4 ? 10 : 16) else {
                note(.notCarriedOver, entry.location, "\(spec): the range end \(last) is not a number")
                continue
            }
            var bytes = ip.bytes
            let start = ipv4 ? Int(bytes[3]) : Int(bytes[14]) << 8 | Int(bytes[15])
            guard end >= start, end <= (ipv4 ? 255 : 65535), end - start < 256 else {
                note(.notCarriedOver, entry.location, "\(spec): the range runs backwards, past the end or over more than 256 addresses; left out")
                continue
            }
            for n in start...end {
                if ipv4 { bytes[3] = UInt8(n) } else { bytes[14] = UInt8(n >> 8); bytes[15] = UInt8(n & 0xff) }
                if let a = IPAddress(bytes: bytes, family: ip.family) { out.append(.address(a, port: port)) }
            }
        }
        if out.isEmpty {
            note(.notCarriedOver, group.location, "virtual_server_group \(group.arg(0) ?? "") has no entries: keepalived removes it, and its services are left out")
        }
        return out
    }

    // MARK: One virtual_server block

    mutating func mapVirtualServer(_ vs: KeepalivedStatement) -> [TandemDraft.VirtualServer] {
        guard let matches = matches(of: vs) else { return [] }
        let isGroup = vs.arg(0) == "group"
        var scheduler: String?
        var flags: [String] = []
        var genericFlags: [(String, SourceLocation)] = []
        var forwarding: TandemDraft.Forwarding?
        var protocolName: String?
        var persistence: Int?
        var granularity: String?
        var engine: String?
        var engineLocation: SourceLocation?
        var ops: (Bool, SourceLocation)?
        var sorry: (address: IPAddress, port: Int?, location: SourceLocation)?
        var sorryForwarding: TandemDraft.Forwarding?
        var inhibit = false
        var defaultWeight = 1
        var delayLoopMS: UInt64?
        var connectTimeoutMS: UInt64?
        var retry: Int?
        var warmupMS: UInt64?
        var virtualhost: String?
        var family: String?
        var reals: [Real] = []

        for s in vs.block ?? [] {
            switch s.keyword {
            case "lb_algo", "lvs_sched":
                if let name = s.arg(0), Self.schedulers.contains(name) {
                    scheduler = name
                } else {
                    note(.quirk, s.location,
                         "\(s.keyword) \(s.arg(0) ?? "") is not a scheduler keepalived knows (names are lower case: \(Self.schedulers.sorted().joined(separator: " "))): keepalived ignores the line (check_parser.c lbalgo_handler), so the output keeps \(scheduler ?? "the default wlc")",
                         "write the scheduler in lower case in keepalived.conf if it was meant")
                }
            case "lb_kind", "lvs_method":
                if let f = forwardingMethod(s, what: "virtual server") { forwarding = f }
            case "protocol":
                let p = s.arg(0)?.lowercased()
                if let p, ["tcp", "udp", "sctp"].contains(p) {
                    protocolName = p
                } else {
                    note(.quirk, s.location, "protocol \(s.arg(0) ?? "") is unknown: keepalived ignores the line (check_parser.c proto_handler)")
                }
            case "persistence_timeout":
                // check_parser.c pto_handler: no value means IPVS_SVC_PERSISTENT_TIMEOUT (360 s);
                // a value must be 1…LVS_MAX_TIMEOUT, so 0 is refused and the service stays without persistence.
                if s.argumentCount == 0 {
                    persistence = 360
                    note(.quirk, s.location, "a bare persistence_timeout means 360 s in keepalived (IPVS_SVC_PERSISTENT_TIMEOUT); the output says 360s")
                } else if let t = s.arg(0).flatMap({ Int($0) }), t >= 1, t <= 2_678_400 {
                    persistence = t
                } else if s.arg(0) == "0" {
                    note(.quirk, s.location, "persistence_timeout 0 is refused by keepalived (\"persistence_timeout invalid\", check_parser.c pto_handler): the service has no persistence, and none in the output")
                } else {
                    note(.quirk, s.location, "persistence_timeout \(s.arg(0) ?? "") is not 1…2678400 seconds: keepalived ignores it (check_parser.c pto_handler)")
                }
            case "persistence_granularity":
                // check_parser.c pgr_handler: an IPv4 mask (keepalived, like ipvsadm, takes
                // non-contiguous ones; Tandem and the kernel's template hashing want contiguous)
                // or an IPv6 prefix length 1…128; anything else is refused and changes nothing.
                guard let g = s.arg(0), g.contains(".") ? LVSCFMapper.prefixLength(g) != nil : (Int(g).map { (1...128).contains($0) } ?? false) else {
                    note(.notCarriedOver, s.location, "persistence_granularity \(s.arg(0) ?? "") is not a contiguous IPv4 netmask or an IPv6 prefix length 1…128; left out",
                         "write a mask like 255.255.255.0")
                    continue
                }
                granularity = g
                if persistence == nil {
                    persistence = 360
                    note(.quirk, s.location, "persistence_granularity without persistence_timeout turns persistence on for 360 s in keepalived (check_parser.c pgr_handler); so does the output")
                }
            case "persistence_engine": engine = s.arg(0); engineLocation = s.location
            case "ops": ops = (true, s.location)
            case "sh-port", "sh-fallback", "mh-port", "mh-fallback":
                // check_parser.c lbflags_handler: only when the scheduler named *before* this line is
                // sh (mh), otherwise ignored with "only applies to sh scheduler".
                let needed = String(s.keyword.prefix(2))
                if scheduler == needed {
                    flags.append(s.keyword)
                } else {
                    note(.quirk, s.location,
                         "\(s.keyword) comes before the scheduler is \(needed) (or it is not \(needed)): keepalived ignores the flag (check_parser.c lbflags_handler compares with the scheduler read so far), so the output leaves it off",
                         "put lvs_sched \(needed) before \(s.keyword) in keepalived.conf if the flag was meant")
                }
            case "flag-1", "flag-2":
                // lbflags_handler sets IP_VS_SVC_F_SCHED1/2 whatever the scheduler; what they
                // mean depends on the scheduler the service ends with (ip_vs.h: for sh,
                // SCHED1 is sh-fallback and SCHED2 sh-port; for mh likewise).
                genericFlags.append((s.keyword, s.location))
            case "flag-3", "hashed":
                note(.notCarriedOver, s.location, "\(s.keyword) is not carried over", "Tandem sets scheduler flags by name (sh-fallback, sh-port, mh-fallback, mh-port)")
            case "sorry_server":
                if let a = s.arg(0).flatMap({ IPAddress($0) }) {
                    sorry = (a, s.arg(1).flatMap { Int($0) }, s.location)
                } else {
                    note(.notCarriedOver, s.location, "sorry_server \(s.arg(0) ?? ""): not an IP address; left out as keepalived does")
                }
            case "sorry_server_lvs_method":
                sorryForwarding = forwardingMethod(s, what: "sorry server")
            case "sorry_server_inhibit":
                note(.note, s.location, "sorry_server_inhibit: Tandem removes the sorry server when a real server is up again")
            case "inhibit_on_failure":
                inhibit = s.arg(0).map { $0 == "true" || $0 == "on" || $0 == "yes" } ?? true
            case "weight":
                defaultWeight = s.arg(0).flatMap { Int($0) } ?? 1
            case "delay_loop": delayLoopMS = keepalivedSeconds(s.arg(0))
            case "connect_timeout": connectTimeoutMS = keepalivedSeconds(s.arg(0))
            case "retry": retry = s.arg(0).flatMap { Int($0) }
            case "delay_before_retry":
                note(.note, s.location, "delay_before_retry: Tandem checks failed servers again at the check interval")
            case "warmup": warmupMS = keepalivedSeconds(s.arg(0))
            case "virtualhost": virtualhost = s.arg(0)
            case "ip_family": family = s.arg(0) == "inet6" ? "ipv6" : "ipv4"
            case "quorum":
                if let q = s.arg(0).flatMap({ Int($0) }), q > 1 {
                    note(.notCarriedOver, s.location, "quorum \(q): Tandem installs the sorry server only when the live weight is 0 (quorum 1)",
                         "lower the quorum or watch tandemctl events for the live weight")
                }
            case "quorum_up", "quorum_down", "hysteresis", "omega", "ha_suspend", "alpha", "smtp_alert", "snmp_name":
                let advice: [String: String] = [
                    "alpha": "Tandem counts a real server up from start until its checks fail (rise/fall apply only after that)",
                    "ha_suspend": "Tandem keeps checking on both routers (warm standby)",
                    "quorum_up": "use a notify command or tandemctl events", "quorum_down": "use a notify command or tandemctl events",
                    "hysteresis": "Tandem has no quorum hysteresis (quorum is 1)", "omega": "use a notify command or tandemctl events",
                    "smtp_alert": "send mail from a notify command", "snmp_name": "Tandem has no SNMP",
                ]
                note(.notCarriedOver, s.location, "\(s.keyword) is not carried over", advice[s.keyword] ?? "")
            case "real_server":
                if let r = realServer(s) { reals.append(r) }
            default:
                findings.append(Unmapped.finding(for: s, context: "virtual_server"))
            }
        }

        // check_data.c validate_check_config(): a virtual server without real servers is dropped.
        if reals.isEmpty {
            note(.notCarriedOver, vs.location, "virtual_server \(vs.arguments.joined(separator: " ")) has no real servers: keepalived ignores it (\"has no real servers - ignoring\"), and so does the output")
            return []
        }
        if scheduler == nil {
            note(.note, vs.location, "no lb_algo/lvs_sched: keepalived's default wlc (ipvswrapper.h IPVS_DEF_SCHED)")
        }
        for (flag, location) in genericFlags {
            let sched = scheduler ?? "wlc"
            if sched == "sh" || sched == "mh" {
                let name = sched + (flag == "flag-1" ? "-fallback" : "-port")
                if !flags.contains(name) { flags.append(name) }
                note(.note, location, "\(flag) with scheduler \(sched) is \(name)")
            } else {
                note(.notCarriedOver, location, "\(flag) with scheduler \(sched) has no meaning Tandem can express",
                     "Tandem sets scheduler flags by name (sh-fallback, sh-port, mh-fallback, mh-port)")
            }
        }
        let method = forwarding ?? TandemDraft.Forwarding(method: "nat")
        if forwarding == nil {
            note(.note, vs.location, "no lb_kind/lvs_method: keepalived's default NAT (check_data.c: \"no forwarding method set, setting default NAT\")")
        }

        var out: [TandemDraft.VirtualServer] = []
        let hasAddresses = matches.contains { if case .address = $0 { return true } else { return false } }
        if hasAddresses && protocolName == nil {
            note(.quirk, vs.location,
                 "no protocol line: keepalived 2.x installs the service as UDP (check_data.c: \"no protocol set - defaulting to UDP\"), and so does the output",
                 "add protocol TCP in keepalived.conf (and protocol: tcp here) if TCP was meant")
        }
        var persistenceValue = persistence
        for (index, match) in matches.enumerated() {
            var d = TandemDraft.VirtualServer(name: "", scheduler: scheduler ?? "wlc", forwarding: method, realServers: [], source: vs.location)
            var servicePort = 0
            var isFwmark = false
            switch match {
            case .address(let ip, let port):
                d.address = "\(ip)"
                d.port = port
                d.protocol = protocolName ?? "udp"
                servicePort = port
                if port == 0 && persistenceValue == nil {
                    persistenceValue = 360
                    note(.quirk, vs.location, "port 0 without persistence: keepalived turns persistence on for 360 s (check_data.c: \"zero port only valid for persistent services - setting\"), and so does the output")
                }
                d.name = uniqueName(isGroup ? "\(vs.arg(1) ?? "group")-\(index + 1)" : "\(d.protocol!)-\(ip)-\(port)")
            case .fwmark(let mark, let f):
                isFwmark = true
                d.fwmark = mark
                let fam = f ?? family ?? Self.family(of: reals)
                if fam == "ipv6" { d.family = "ipv6" }
                if protocolName != nil, index == 0 {
                    note(.quirk, vs.location, "protocol is ignored for a fwmark service (check_data.c: \"protocol specified for fwmark - protocol will be ignored\")")
                }
                d.name = uniqueName(isGroup ? "\(vs.arg(1) ?? "group")-\(index + 1)" : "fwmark-\(mark)")
            }
            d.persistenceTimeout = persistenceValue
            if let g = granularity, persistenceValue != nil {
                if g.contains(".") { d.persistenceNetmask = g } else if let n = Int(g) { d.persistenceNetmask = "/\(n)" }
            }
            if let engine, persistenceValue != nil { d.persistenceEngine = engine }
            if let engine, persistenceValue == nil, index == 0 {
                note(.notCarriedOver, engineLocation, "persistence_engine \(engine) without persistence_timeout is left out: an engine "
                     + "works only with persistence, which this service does not have (the kernel ignores it)",
                     "add persistence_timeout in keepalived.conf, or persistence here, if the engine was meant")
            }
            if let (on, location) = ops, on {
                if d.protocol == "udp" || isFwmark {
                    d.onePacket = true
                } else if index == 0 {
                    note(.quirk, location, "ops on a \(d.protocol ?? "") service: keepalived resets it (check_data.c: \"one packet scheduling requires UDP - resetting\"), and so does the output")
                }
            }
            d.schedulerFlags = flags
            // Real servers: keepalived's port fixes (check_data.c validate_check_config).
            var seen = Set<String>()
            for r in reals {
                let f = r.forwarding ?? method
                var port = r.port ?? 0
                if f.method == "nat" {
                    if !isFwmark && port == 0 { port = servicePort }
                } else if isFwmark {
                    if port != 0, index == 0 {
                        note(.quirk, r.location, "fwmark service, \(f.method == "dr" ? "DR" : "TUN") real server \(r.address) with port \(port): keepalived clears the port (\"has port specified - clearing\"); so does the output")
                    }
                    port = 0
                } else if port == 0 {
                    port = servicePort
                } else if port != servicePort {
                    if index == 0 || isGroup {
                        note(.quirk, r.location,
                             "\(f.method == "dr" ? "DR" : "TUN") real server \(r.address) port \(port) differs from the service port \(servicePort): keepalived forces it to \(servicePort) (\"ports don't match - resetting\"), and so does the output",
                             "DR and TUN cannot change the port; remove the port or use NAT")
                    }
                    port = servicePort
                }
                let key = "\(r.address)|\(port)"
                guard seen.insert(key).inserted else {
                    if index == 0 {
                        note(.quirk, r.location, "real server \(r.address):\(port) appears twice: keepalived removes the second (\"is duplicated - removing second rs\"), and so does the output")
                    }
                    continue
                }
                var weight = r.weight ?? defaultWeight
                if weight < 0 || weight > 65535 {
                    note(.notCarriedOver, r.location, "weight \(weight) is outside 0…65535; the output uses \(min(max(weight, 0), 65535))")
                    weight = min(max(weight, 0), 65535)
                }
                var lower = r.lower
                if lower != nil && (r.upper ?? 0) == 0 {
                    note(.notCarriedOver, r.location, "lthreshold without uthreshold is left out (Tandem needs an upper threshold first)")
                    lower = nil
                }
                let rsForwarding: TandemDraft.Forwarding? = r.forwarding.flatMap { $0 == method ? nil : $0 }
                d.realServers.append(TandemDraft.RealServer(address: "\(r.address)", port: (isFwmark && port == 0) ? nil : port, weight: weight,
                                                            upperThreshold: r.upper.flatMap { $0 > 0 ? $0 : nil }, lowerThreshold: lower,
                                                            forwarding: rsForwarding, source: r.location))
            }
            if let sorry {
                let f = sorryForwarding ?? method
                var port = sorry.port ?? 0
                if f.method != "nat" {
                    if isFwmark { port = 0 } else { port = servicePort }
                    if let given = sorry.port, given != port, given != 0, index == 0 {
                        note(.quirk, sorry.location, "sorry server port \(given) with \(f.method == "dr" ? "DR" : "TUN"): keepalived \(isFwmark ? "clears it" : "forces it to the service port \(servicePort)"); so does the output")
                    }
                } else if port == 0 && !isFwmark {
                    port = servicePort
                }
                d.sorryServer = ("\(sorry.address)", (isFwmark && port == 0) ? nil : port, sorryForwarding.flatMap { $0 == method ? nil : $0 })
            }
            // One check per entry (a group's fwmark entry has port-less real servers where its
            // address entries have ports); the findings are said once, for the first entry.
            let said = findings.count
            let portless = d.realServers.contains { ($0.port ?? 0) == 0 }
            // A group's fwmark entry shares its real servers with the address entries, whose
            // checker probes the port each real server is declared with (keepalived checks a real
            // server once, for every entry of the group): the same port here.
            let declared = Set(reals.compactMap { $0.port }.filter { $0 != 0 })
            let groupPort = isGroup && isFwmark && declared.count == 1 ? declared.first : nil
            d.healthCheck = healthCheck(reals, delayLoopMS: delayLoopMS, connectTimeoutMS: connectTimeoutMS, retry: retry,
                                        inhibit: inhibit, warmupMS: warmupMS, virtualhost: virtualhost, portless: portless,
                                        declaredPort: groupPort, vs: vs)
            if index > 0 { findings.removeSubrange(said...) }
            if isGroup { d.comments = ["from virtual_server group \(vs.arg(1) ?? ""), entry \(index + 1)"] }
            out.append(d)
        }
        return out
    }

    static func family(of reals: [Real]) -> String {
        reals.first.map { $0.address.family == .ipv6 ? "ipv6" : "ipv4" } ?? "ipv4"
    }

    mutating func uniqueName(_ base: String) -> String {
        let clean = String(base.map { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) ? $0 : "-" }.prefix(60))
        var name = clean
        var n = 2
        while usedNames.contains(name) { name = "\(clean)-\(n)"; n += 1 }
        usedNames.insert(name)
        return name
    }

    /// `lb_kind`/`lvs_method NAT|DR|TUN [type ipip|gue|gre] [port N] [nocsum|csum|remcsum]`,
    /// compared case-sensitively (check_parser.c svr_forwarding_handler): `dr` is refused and the
    /// previous method (by default NAT) stays.
    mutating func forwardingMethod(_ s: KeepalivedStatement, what: String) -> TandemDraft.Forwarding? {
        switch s.arg(0) {
        case "NAT": return TandemDraft.Forwarding(method: "nat")
        case "DR": return TandemDraft.Forwarding(method: "dr")
        case "TUN":
            var tunnel = TandemDraft.Tunnel(type: "ipip")
            var i = 1
            while let word = s.arg(i) {
                switch word {
                case "type": tunnel.type = s.arg(i + 1) ?? "ipip"; i += 2
                case "port": tunnel.port = s.arg(i + 1).flatMap { Int($0) }; i += 2
                case "nocsum": tunnel.checksum = nil; i += 1
                case "csum": tunnel.checksum = "csum"; i += 1
                case "remcsum": tunnel.checksum = "remcsum"; i += 1
                default:
                    note(.quirk, s.location, "tunnel option \(word) is unknown: keepalived refuses the whole line (\"Invalid tunnel option\"), so the method stays as before")
                    return nil
                }
            }
            guard ["ipip", "gue", "gre"].contains(tunnel.type), (tunnel.type == "gue") == (tunnel.port != nil),
                  !(tunnel.type == "ipip" && tunnel.checksum != nil), !(tunnel.type == "gre" && tunnel.checksum == "remcsum") else {
                note(.quirk, s.location, "the tunnel options are refused by keepalived (gue needs a port and only gue takes one; ipip has no checksum; gre no remcsum): the method stays as before")
                return nil
            }
            return TandemDraft.Forwarding(method: "tunnel", tunnel: tunnel)
        default:
            note(.quirk, s.location,
                 "\(s.keyword) \(s.arg(0) ?? "") for a \(what) is refused by keepalived (NAT, DR and TUN are compared case-sensitively: \"unknown [\(s.arg(0) ?? "")] routing method\", check_parser.c svr_forwarding_handler), so the method stays as before, by default NAT; the output does the same",
                 "write \(s.arg(0)?.uppercased() ?? "NAT") in keepalived.conf if that was meant, and change forwarding here")
            return nil
        }
    }

    // MARK: Real servers

    mutating func realServer(_ s: KeepalivedStatement) -> Real? {
        guard let ip = s.arg(0).flatMap({ IPAddress($0) }) else {
            note(.notCarriedOver, s.location, "real_server \(s.arg(0) ?? ""): not an IP address; keepalived skips it too")
            return nil
        }
        var r = Real(address: ip, port: s.arg(1).flatMap { Int($0) }, location: s.location)
        for line in s.block ?? [] {
            switch line.keyword {
            case "weight": r.weight = line.arg(0).flatMap { Int($0) }
            case "lb_kind", "lvs_method": if let f = forwardingMethod(line, what: "real server") { r.forwarding = f }
            case "uthreshold": r.upper = line.arg(0).flatMap { Int($0) }
            case "lthreshold": r.lower = line.arg(0).flatMap { Int($0) }
            case "inhibit_on_failure": r.inhibit = line.arg(0).map { $0 == "true" || $0 == "on" || $0 == "yes" } ?? true
            case "TCP_CHECK", "HTTP_GET", "SSL_GET", "MISC_CHECK", "UDP_CHECK":
                r.checkers.append(line)
            case "delay_loop", "connect_timeout", "retry", "delay_before_retry", "warmup", "alpha", "smtp_alert", "virtualhost":
                note(.notCarriedOver, line.location, "\(line.keyword) for one real server is not carried over",
                     "Tandem's checks are per virtual server: set health_check timing there")
            default:
                findings.append(Unmapped.finding(for: line, context: "real_server"))
            }
        }
        return r
    }

    // MARK: Checkers → one health check per virtual server

    mutating func healthCheck(_ reals: [Real], delayLoopMS: UInt64?, connectTimeoutMS: UInt64?, retry: Int?, inhibit: Bool,
                              warmupMS: UInt64?, virtualhost: String?, portless: Bool, declaredPort: Int? = nil,
                              vs: KeepalivedStatement) -> TandemDraft.HealthCheck? {
        let withCheckers = reals.filter { !$0.checkers.isEmpty }
        guard let model = withCheckers.first?.checkers.first else {
            return nil
        }
        if withCheckers.count < reals.count {
            note(.note, vs.location, "some real servers have no checker (keepalived counts them always up); Tandem checks every real server of a service with its one health_check")
        }
        for r in withCheckers {
            if r.checkers.count > 1 {
                note(.notCarriedOver, r.checkers[1].location, "\(r.checkers[1].keyword) (a second checker on real server \(r.address)) is not carried over",
                     "Tandem has one health check per virtual server; keep the one that matters")
            }
            if r.checkers.first?.keyword != model.keyword {
                note(.notCarriedOver, r.checkers.first?.location, "real server \(r.address) uses \(r.checkers.first?.keyword ?? "") while \(withCheckers[0].address) uses \(model.keyword): Tandem has one health check per virtual server, the output uses \(model.keyword) at \(model.location)")
            }
        }
        var fields: [(String, DraftValue)] = []
        var checkerTimeoutMS = connectTimeoutMS
        var checkerRetry = retry
        var checkerDelayMS = delayLoopMS
        var port: Int?
        for s in model.block ?? [] {
            switch s.keyword {
            case "connect_port": port = s.arg(0).flatMap { Int($0) }
            case "connect_timeout": checkerTimeoutMS = keepalivedSeconds(s.arg(0))
            case "retry", "nb_get_retry": checkerRetry = s.arg(0).flatMap { Int($0) }
            case "delay_loop": checkerDelayMS = keepalivedSeconds(s.arg(0))
            default: break
            }
        }
        // Real servers of port 0 (a fwmark service's, an all-ports service's DR ones): without
        // connect_port there is nothing to connect to (keepalived would probe port 0 and fail),
        // unless they are a group's, declared with a port (`declaredPort`).
        if portless, port == nil, let declaredPort { port = declaredPort }
        if portless, port == nil, ["TCP_CHECK", "HTTP_GET", "SSL_GET", "UDP_CHECK"].contains(model.keyword) {
            note(.notCarriedOver, model.location, "\(model.keyword) without connect_port, on real servers without a port, has no port to check",
                 "add connect_port to the checker (and health_check.port here)")
            return nil
        }
        switch model.keyword {
        case "TCP_CHECK":
            fields.append(("type", .raw("tcp")))
            if let port { fields.append(("port", .number(port))) }
            for s in model.block ?? [] where !["connect_port", "connect_timeout", "retry", "nb_get_retry", "delay_loop", "delay_before_retry"].contains(s.keyword) {
                findings.append(Unmapped.finding(for: s, context: "TCP_CHECK"))
            }
        case "HTTP_GET", "SSL_GET":
            let tls = model.keyword == "SSL_GET"
            fields.append(("type", .raw(tls ? "https" : "http")))
            if let port { fields.append(("port", .number(port))) }
            var path: String?
            var status: [DraftValue] = []
            var host = virtualhost
            var sni = false
            for s in model.block ?? [] {
                switch s.keyword {
                case "url":
                    if path != nil {
                        note(.notCarriedOver, s.location, "url (a second url block) is not carried over", "Tandem's http check fetches one path")
                        continue
                    }
                    for u in s.block ?? [] {
                        switch u.keyword {
                        case "path": path = u.arg(0)
                        case "status_code":
                            // check_http.c: each word a code 100…599 or a range of them; keepalived
                            // refuses the others ("Invalid HTTP_GET status_code").
                            for code in u.arguments {
                                let parts = code.split(separator: "-", omittingEmptySubsequences: false)
                                let numbers = parts.compactMap { p in Int(p).flatMap { p.count == 3 && (100...599).contains($0) ? $0 : nil } }
                                if (1...2).contains(parts.count), numbers.count == parts.count, numbers[0] <= numbers[numbers.count - 1] {
                                    status.append(.raw(code))
                                } else {
                                    note(.notCarriedOver, u.location, "status_code \(code) is not an HTTP status or range (keepalived refuses it too); left out")
                                }
                            }
                        case "digest":
                            note(.notCarriedOver, u.location, "digest (an MD5 of the page) is not carried over", "check the body with a regular expression instead: health_check.body")
                        case "virtualhost": host = u.arg(0)
                        default: findings.append(Unmapped.finding(for: u, context: "url"))
                        }
                    }
                case "virtualhost": host = s.arg(0)
                case "enable_sni": sni = true
                case "connect_port", "connect_timeout", "retry", "nb_get_retry", "delay_loop", "delay_before_retry": break
                default: findings.append(Unmapped.finding(for: s, context: model.keyword))
                }
            }
            if let path, path.hasPrefix("/"), !path.contains(where: { $0.isWhitespace }) { fields.append(("path", .text(path))) }
            if let host { fields.append(("host", .text(host))) }
            if tls, sni, let host { fields.append(("sni", .text(host))) }
            if status.isEmpty {
                note(.note, model.location, "no status_code: keepalived accepts 200-299, the output says so (Tandem's own default is 200-399)")
                status = [.raw("200-299")]
            }
            fields.append(("status", .list(status)))
            if tls { fields.append(("verify_certificate", .bool(false))) }
        case "MISC_CHECK":
            var command: [DraftValue] = []
            var miscTimeout: UInt64?
            for s in model.block ?? [] {
                switch s.keyword {
                case "misc_path":
                    guard let script = KeepalivedLexer.script(s), !script.text.trimmingWhitespace().isEmpty else { continue }
                    let text = script.text.trimmingWhitespace()
                    guard let words = script.words else {
                        note(.quirk, s.location, "keepalived cannot parse misc_path \"\(text)\" (an unclosed quote or a backslash at the end) and ignores it; so does the output",
                             "fix the quoting in keepalived.conf and import again")
                        continue
                    }
                    if !script.extra.isEmpty {
                        note(.quirk, s.location, "keepalived runs misc_path \"\(text)\" only: the words after it (\(script.extra.joined(separator: " "))) are ignored "
                            + "unless the whole command is inside double quotes; the output does as keepalived did",
                             "if they were meant as arguments, add them to the exec check's command")
                    }
                    if words.first?.hasPrefix("/") == true, !text.contains(where: { "|&;<>$`*?()".contains($0) }) {
                        command = words.map { .text($0) }
                    } else {
                        command = [.text("/bin/sh"), .text("-c"), .text(text)]
                        note(.note, s.location, "misc_path \"\(text)\" runs through /bin/sh -c: Tandem runs commands without a shell or PATH")
                    }
                case "misc_timeout": miscTimeout = keepalivedSeconds(s.arg(0))
                case "misc_dynamic":
                    note(.notCarriedOver, s.location, "misc_dynamic (exit status 2…255 sets the weight) is not carried over: the exec check only says up or down",
                         "serve the weight over TCP and use health_check type agent (\"75%\" sets 75% of the configured weight)")
                case "user":
                    note(.notCarriedOver, s.location, "user \(s.arg(0) ?? ""): Tandem runs exec checks as tandemd's user",
                         "drop privileges in the script itself (setpriv, runuser)")
                case "warmup", "delay_loop", "retry", "delay_before_retry", "connect_timeout": break
                default: findings.append(Unmapped.finding(for: s, context: "MISC_CHECK"))
                }
            }
            guard !command.isEmpty else {
                note(.notCarriedOver, model.location, "MISC_CHECK without misc_path is not carried over")
                return nil
            }
            fields.append(("type", .raw("exec")))
            fields.append(("command", .list(command)))
            if command.count > 1 || withCheckers.count > 1 {
                note(.note, model.location, "the exec check runs the command of \(withCheckers[0].address) for every real server; put %h and %p in it where the address and port belong")
            }
            checkerTimeoutMS = miscTimeout ?? checkerTimeoutMS
        case "UDP_CHECK":
            var payload: String?
            var reply: String?
            for s in model.block ?? [] {
                switch s.keyword {
                // Every word, blanks skipped: check_udp.c joins them (make_strvec_str) and
                // read_hex_str skips blanks, so `payload 12 34 01` is three bytes.
                case "payload": payload = s.arguments.joined()
                case "require_reply": reply = s.arguments.joined()
                case "connect_port", "connect_timeout", "retry", "nb_get_retry", "delay_loop", "delay_before_retry": break
                default: findings.append(Unmapped.finding(for: s, context: "UDP_CHECK"))
                }
            }
            guard let sendText = payload.flatMap(Self.hexText), !sendText.isEmpty else {
                note(.notCarriedOver, model.location, "UDP_CHECK without a printable payload is not carried over (keepalived sends an empty datagram and counts an ICMP port unreachable as down)",
                     "use health_check type udp with send and expect strings")
                return nil
            }
            fields.append(("type", .raw("udp")))
            if let port { fields.append(("port", .number(port))) }
            fields.append(("send", .text(sendText)))
            if let reply, let text = Self.hexText(reply), !text.isEmpty {
                fields.append(("expect", .text(RegexEscape.escape(text))))
            }
        default:
            return nil
        }
        // Timing: delay_loop → interval (keepalived's default 60 s), connect_timeout → timeout
        // (default 5 s), retry → fall = retry + 1 (keepalived retries `retry` times before it
        // takes the server out; default 1); keepalived puts a server back on its first success.
        let interval = max(1000, min(checkerDelayMS ?? 60_000, 3_600_000))
        var timeout = max(1, checkerTimeoutMS ?? 5000)
        if timeout > interval {
            note(.note, model.location, "connect_timeout \(durationText(ms: timeout)) is longer than delay_loop \(durationText(ms: interval)); Tandem's timeout may not exceed the interval, the output uses \(durationText(ms: interval))")
            timeout = interval
        }
        fields.append(("interval", .raw(durationText(ms: interval))))
        fields.append(("timeout", .raw(durationText(ms: timeout))))
        fields.append(("rise", .number(1)))
        fields.append(("fall", .number(min(100, max(1, (checkerRetry ?? 1) + 1)))))
        let inhibited = inhibit || withCheckers.contains { $0.inhibit == true }
        fields.append(("failure_action", .raw(inhibited ? "quiesce" : "remove")))
        // Per real server in keepalived, per service in Tandem: a mix cannot be carried over.
        let removedOnFailure = withCheckers.filter { !inhibit && $0.inhibit != true }
        if inhibited, !removedOnFailure.isEmpty {
            let names = removedOnFailure.map { "\($0.address)" }.joined(separator: ", ")
            note(.notCarriedOver, vs.location, "inhibit_on_failure is set on some real servers only: keepalived removes \(names) on failure "
                + "and sets the others to weight 0; Tandem has one failure_action per service and the output says quiesce for all",
                 "split the service, or accept weight 0 for every failed real server")
        }
        if !inhibited {
            note(.note, vs.location, "no inhibit_on_failure: keepalived removes a failed real server, so the output says failure_action: remove (Tandem's default is quiesce)")
        }
        if let warmupMS, warmupMS > 0 {
            note(.note, vs.location, "warmup in keepalived delays the first check; Tandem's warmup ramps the weight up after recovery, so it is left out")
        }
        return TandemDraft.HealthCheck(fields: fields, source: model.location)
    }

    /// keepalived's UDP_CHECK payloads are hex; the text when every byte is printable.
    static func hexText(_ hex: String) -> String? {
        let digits = Array(hex.filter { !$0.isWhitespace })
        guard !digits.isEmpty, digits.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        var i = 0
        while i < digits.count {
            guard let b = UInt8(String(digits[i...i + 1]), radix: 16) else { return nil }
            bytes.append(b)
            i += 2
        }
        guard bytes.allSatisfy({ (0x20...0x7e).contains($0) }) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// A regular expression that matches a text literally.
enum RegexEscape {
    static func escape(_ text: String) -> String {
        var out = ""
        for c in text {
            if "\\^$.|?*+()[]{}".contains(c) { out.append("\\") }
            out.append(c)
        }
        return out
    }
}
