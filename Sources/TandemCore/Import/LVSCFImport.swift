/// `tandemctl import lvs.cf`: pulse/piranha's `lvs.cf` (lvs.cf(5)) into a Tandem pair config.
///
/// The format: `key = value` lines, `#` comments, and `virtual NAME { … }` blocks holding
/// `server NAME { … }` blocks, plus `failover NAME { … }` blocks for fos mode. Values may be
/// double-quoted, with `\r`, `\n`, `\t` and `\\` escapes (nanny's send strings).
///
/// Pure: `LVSCFImport.run(file:keyFile:source:)` reads through `ImportFileSource` only.
public enum LVSCFImport {
    struct Entry {
        var key: String
        var value: String
        var location: SourceLocation
    }

    final class Block {
        let kind: String
        let name: String
        let location: SourceLocation
        var entries: [Entry] = []
        var blocks: [Block] = []

        init(kind: String, name: String, location: SourceLocation) {
            self.kind = kind
            self.name = name
            self.location = location
        }

        func value(_ key: String) -> String? { entries.last { $0.key == key }?.value }
        func entry(_ key: String) -> Entry? { entries.last { $0.key == key } }
    }

    public static func run(file: String, keyFile: String = "/etc/tandem/heartbeat.key", source: any ImportFileSource) throws(ImportError) -> ImportResult {
        guard let text = source.contents(of: file) else {
            throw ImportError(at: nil, "\(file): cannot read the file: check the name")
        }
        let root = try parse(text, file: file)
        var mapper = LVSCFMapper(root: root, file: file, keyFile: keyFile)
        try mapper.map()
        let (yaml, mappings) = mapper.draft.renderWithMappings()
        do {
            _ = try ConfigParser.parseWithWarnings(yaml: yaml)
        } catch {
            throw ImportError.invalidOutput(error, yaml: yaml, findings: mapper.findings)
        }
        return ImportResult(yaml: yaml, findings: mapper.findings, mappings: mappings)
    }

    static func parse(_ text: String, file: String) throws(ImportError) -> Block {
        let root = Block(kind: "", name: "", location: SourceLocation(file: file, line: 1))
        var stack = [root]
        var pending: (String, String, SourceLocation)?
        var number = 0
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            number += 1
            let location = SourceLocation(file: file, line: number)
            var line = stripComment(String(raw)).trimmingWhitespace()
            if line.hasSuffix("\r") { line.removeLast() }
            if line.isEmpty { continue }
            if line == "{" {
                guard let (kind, name, at) = pending else {
                    throw ImportError(at: location, "`{` without a `virtual NAME`, `server NAME` or `failover NAME` before it: add the block's keyword and name")
                }
                let block = Block(kind: kind, name: name, location: at)
                stack.last!.blocks.append(block)
                stack.append(block)
                pending = nil
                continue
            }
            if let (kind, _, at) = pending {
                throw ImportError(at: at, "`\(kind)` is not followed by `{`: open its block")
            }
            if line == "}" {
                guard stack.count > 1 else {
                    throw ImportError(at: location, "`}` closes a block that was never opened: remove it")
                }
                stack.removeLast()
                continue
            }
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            if ["virtual", "server", "failover"].contains(words[0]), !line.contains("=") {
                guard words.count >= 2 else {
                    throw ImportError(at: location, "`\(words[0])` needs a name, like `\(words[0]) web {`")
                }
                if words.last == "{" {
                    let block = Block(kind: words[0], name: words[1 ..< words.count - 1].joined(separator: " "), location: location)
                    stack.last!.blocks.append(block)
                    stack.append(block)
                } else {
                    pending = (words[0], words[1...].joined(separator: " "), location)
                }
                continue
            }
            guard let eq = line.firstIndex(of: "=") else {
                throw ImportError(at: location, "\"\(line)\" is not `key = value`: lvs.cf lines are settings or blocks")
            }
            let key = line[..<eq].trimmingWhitespace()
            let value = unquote(line[line.index(after: eq)...].trimmingWhitespace())
            stack.last!.entries.append(Entry(key: key, value: value, location: location))
        }
        if stack.count > 1 {
            throw ImportError(at: stack.last!.location, "the `\(stack.last!.kind) \(stack.last!.name)` block is never closed: add the missing `}`")
        }
        return root
    }

    /// Cuts a `#` comment that is not inside double quotes.
    static func stripComment(_ line: String) -> String {
        var quoted = false
        var escaped = false
        var out = ""
        for c in line {
            if escaped { escaped = false; out.append(c); continue }
            if c == "\\" { escaped = true; out.append(c); continue }
            if c == "\"" { quoted.toggle() }
            if c == "#" && !quoted { break }
            out.append(c)
        }
        return out
    }

    /// A quoted value without its quotes and with nanny's escapes read; others as written.
    static func unquote(_ value: String) -> String {
        guard value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") else { return value }
        var out = ""
        var escaped = false
        for c in value.dropFirst().dropLast() {
            if escaped {
                switch c {
                case "n": out.append("\n")
                case "r": out.append("\r")
                case "t": out.append("\t")
                default: out.append(c)
                }
                escaped = false
            } else if c == "\\" {
                escaped = true
            } else {
                out.append(c)
            }
        }
        return out
    }
}

/// lvs.cf's settings as a Tandem config.
struct LVSCFMapper {
    let root: LVSCFImport.Block
    let file: String
    var draft = TandemDraft()
    var findings: [ImportFinding] = []
    private var names = Set<String>()

    init(root: LVSCFImport.Block, file: String, keyFile: String) {
        self.root = root
        self.file = file
        draft.keyFile = keyFile
    }

    /// Well-known service names lvs.cf's `port` may use (the piranha GUI wrote numbers, older
    /// hand-written files names from /etc/services).
    static let services: [String: Int] = [
        "ftp": 21, "ssh": 22, "telnet": 23, "smtp": 25, "domain": 53, "dns": 53, "http": 80, "www": 80,
        "pop3": 110, "imap": 143, "ldap": 389, "https": 443, "smtps": 465, "submission": 587, "ldaps": 636,
        "imaps": 993, "pop3s": 995, "mysql": 3306, "postgresql": 5432,
    ]

    mutating func note(_ kind: ImportFinding.Kind, _ location: SourceLocation?, _ message: String, _ advice: String = "") {
        findings.append(ImportFinding(kind, at: location, message, advice: advice))
    }

    mutating func map() throws(ImportError) {
        draft.header = [
            "Imported from pulse/piranha by tandemctl import lvs.cf: \(file)",
            "Every setting that could not be carried over is listed by the command with its file and line.",
            "Check it with: tandemctl check-config FILE",
        ]
        var known: Set<String> = []
        func value(_ key: String) -> LVSCFImport.Entry? { known.insert(key); return root.entry(key) }

        if let e = value("serial_no") {
            if let n = UInt64(e.value) { draft.serial = max(1, n) } else { note(.notCarriedOver, e.location, "serial_no \(e.value) is not a number; the output starts at 1") }
        }
        guard let primary = value("primary"), let backup = value("backup") else {
            throw ImportError(at: root.entry("primary")?.location ?? SourceLocation(file: file, line: 1),
                              "lvs.cf needs both primary = and backup = (the two routers' addresses): add the missing one")
        }
        var primaryAddresses = [primary.value], backupAddresses = [backup.value]
        let primaryPrivate = value("primary_private"), backupPrivate = value("backup_private")
        if let p = primaryPrivate, let b = backupPrivate, !p.value.isEmpty, !b.value.isEmpty {
            primaryAddresses.append(p.value)
            backupAddresses.append(b.value)
        } else if let one = primaryPrivate ?? backupPrivate, !one.value.isEmpty {
            note(.notCarriedOver, one.location, "\(one.key) without its partner: Tandem pairs the paths, so the private path needs both routers' addresses", "add primary_private and backup_private")
        }
        for a in primaryAddresses + backupAddresses where IPAddress(a) == nil {
            throw ImportError(at: primary.location, "\"\(a)\" is not an IP address: Tandem's heartbeat addresses are numeric; write the router's address")
        }
        draft.nodes = [
            TandemDraft.Node(name: "primary", addresses: primaryAddresses, priority: 150, source: primary.location),
            TandemDraft.Node(name: "backup", addresses: backupAddresses, priority: 100, source: backup.location),
        ]
        note(.note, primary.location, "the routers are called primary (priority 150) and backup (priority 100); pulse did not preempt, nor does Tandem by default")
        if let e = value("backup_active"), e.value == "0" {
            note(.note, e.location, "backup_active = 0: pulse ran without failover; Tandem always runs the pair", "start tandemd on the backup router too")
        }
        if let e = value("heartbeat_port") {
            if let p = Int(e.value), (1...65535).contains(p) { draft.heartbeatPort = p } else { note(.notCarriedOver, e.location, "heartbeat_port \(e.value) is not a port") }
            draft.heartbeatSource = e.location
        }
        let keepaliveMS = value("keepalive").flatMap { keepalivedSeconds($0.value) } ?? 6000
        var deadMS = value("deadtime").flatMap { keepalivedSeconds($0.value) } ?? 18000
        if deadMS <= keepaliveMS {
            note(.note, root.entry("deadtime")?.location, "deadtime is not longer than keepalive; the output uses 3 × keepalive")
            deadMS = 3 * keepaliveMS
        }
        draft.interval = durationText(ms: max(10, keepaliveMS))
        draft.deadTime = durationText(ms: deadMS)
        draft.heartbeatSource = draft.heartbeatSource ?? root.entry("keepalive")?.location

        let mode = value("service")?.value ?? "lvs"
        let forwarding: TandemDraft.Forwarding
        switch value("network")?.value ?? "nat" {
        case "direct": forwarding = TandemDraft.Forwarding(method: "dr")
        case "tunnel": forwarding = TandemDraft.Forwarding(method: "tunnel", tunnel: TandemDraft.Tunnel(type: "ipip"))
        case "nat": forwarding = TandemDraft.Forwarding(method: "nat")
        case let other:
            note(.notCarriedOver, root.entry("network")?.location, "network = \(other) is not nat, direct or tunnel; the output uses nat")
            forwarding = TandemDraft.Forwarding(method: "nat")
        }
        if let e = value("nat_router"), forwarding.method == "nat" || mode == "lvs" {
            if let vip = vip(from: e.value, mask: value("nat_nmask")?.value, at: e.location) {
                var gateway = vip
                gateway.natGateway = true
                draft.virtualIPs.append(gateway)
            }
        }
        _ = value("nat_nmask")
        if let e = value("syncdaemon"), e.value == "1" {
            let iface = value("syncd_iface")?.value ?? "eth0"
            let id = value("syncd_id").flatMap { Int($0.value) }
            draft.sync = TandemDraft.Sync(interface: iface, syncID: id, source: e.location)
        }
        _ = value("syncd_iface"); _ = value("syncd_id")
        // The pair's own role commands: pulse runs active_cmd when this router becomes the active
        // LVS router and inactive_cmd when it stops being it.
        for (key, role) in [("active_cmd", "active"), ("inactive_cmd", "standby")] {
            if let e = value(key) { mapCommand(e, role: role, what: key) }
        }
        if let e = value("monitor_links"), e.value == "1" {
            note(.note, e.location, "monitor_links = 1: Tandem tracks the VIPs' interfaces implicitly (a link down gives the VIPs to the peer)")
        }
        // pulse hands these to `ipvsadm --set tcp tcpfin udp`, where 0 leaves a timeout as it is.
        var timeouts = TandemDraft.Timeouts()
        for (key, path) in [("tcp_timeout", \TandemDraft.Timeouts.tcp), ("tcpfin_timeout", \.tcpFin), ("udp_timeout", \.udp)] {
            guard let e = value(key) else { continue }
            timeouts.source = timeouts.source ?? e.location
            guard let seconds = Int(e.value), seconds >= 0, seconds <= TandemDraft.Timeouts.maximumSeconds else {
                note(.notCarriedOver, e.location, "\(key) = \(e.value) is not a number of seconds from 0 to \(TandemDraft.Timeouts.maximumSeconds)",
                     "write ipvs_timeouts: {tcp: …s, tcp_fin: …s, udp: …s} in the Tandem config")
                continue
            }
            if seconds == 0 {
                note(.note, e.location, "\(key) = 0 leaves the kernel's timeout as it is (ipvsadm --set): not written")
            } else {
                timeouts[keyPath: path] = seconds
            }
        }
        if timeouts.source != nil { draft.ipvsTimeouts = timeouts }
        for key in ["heartbeat", "debug_level", "rsh_command", "hard_shutdown", "reservation_conflict_action", "lvs_mode", "nat_router_dev"] {
            if let e = value(key) { note(.note, e.location, "\(key) has no meaning for Tandem and is left out") }
        }
        for e in root.entries where !known.contains(e.key) && !["heartbeat", "debug_level", "rsh_command", "hard_shutdown", "reservation_conflict_action", "lvs_mode", "nat_router_dev"].contains(e.key) {
            note(.notCarriedOver, e.location, "\(e.key) = \(e.value) is not carried over", "Tandem has no equivalent; see examples/reference.yaml")
        }

        for block in root.blocks {
            switch block.kind {
            case "virtual":
                if mode == "fos" {
                    note(.note, block.location, "virtual \(block.name) is left out: service = fos uses the failover blocks")
                } else {
                    mapVirtual(block, forwarding: forwarding)
                }
            case "failover":
                if mode == "lvs" {
                    note(.note, block.location, "failover \(block.name) is left out: service = lvs uses the virtual blocks")
                } else {
                    mapFailover(block)
                }
            default:
                note(.notCarriedOver, block.location, "a `\(block.kind)` block at the top level is not part of lvs.cf")
            }
        }
        findings += draft.settle()
        if draft.virtualIPs.isEmpty {
            throw ImportError(at: root.location, "no active virtual or failover block with an address: a Tandem pair needs at least one VIP")
        }
    }

    /// `IP dev:alias` (or `IP dev`) with `vip_nmask`. Without a mask, pulse's `ifconfig` gave
    /// the address its classful mask (class A /8, B /16, C /24).
    mutating func vip(from text: String, mask: String?, at location: SourceLocation) -> TandemDraft.VIP? {
        let words = text.split(separator: " ").map(String.init)
        guard let first = words.first, let ip = IPAddress(first) else {
            note(.notCarriedOver, location, "address \"\(text)\" is not `IP device[:alias]`")
            return nil
        }
        guard words.count >= 2 else {
            note(.notCarriedOver, location, "address \(first) names no device", "write it as `address = \(first) eth0:1`")
            return nil
        }
        let device = words[1]
        let interface = String(device.split(separator: ":").first ?? Substring(device))
        let label = device.contains(":") && device.count <= 15 && ip.family == .ipv4 ? device : nil
        var length = ip.family == .ipv4 ? 32 : 128
        if let mask, let n = Self.prefixLength(mask) {
            length = n
        } else if ip.family == .ipv4 {
            let a = ip.bytes[0]
            length = a < 128 ? 8 : (a < 192 ? 16 : 24)
            note(.quirk, location, "no vip_nmask: pulse's ifconfig gave \(ip) its classful mask /\(length), and so does the output", "set vip_nmask (here: the prefix length) to the subnet's")
        }
        return TandemDraft.VIP(prefix: "\(ip)/\(length)", interface: interface, label: label, source: location)
    }

    /// Adds the VIP of a `virtual` or `failover` block, once per address: several blocks (one per
    /// port, say) share a VIP. When a later block gives the same address another device, alias
    /// label or mask, the first block's is kept and the finding says which block differs (pulse
    /// ran `ifconfig` for each block, so the last one it ran won on the alias: the file is
    /// ambiguous, and the output must not pick silently).
    mutating func addVIP(_ vip: TandemDraft.VIP, block: String) {
        let address = vip.prefix.split(separator: "/").first
        guard let first = draft.virtualIPs.first(where: { $0.prefix.split(separator: "/").first == address }) else {
            draft.virtualIPs.append(vip)
            return
        }
        var differences: [String] = []
        if first.interface != vip.interface { differences.append("interface \(vip.interface), not \(first.interface)") }
        if first.label != vip.label {
            differences.append("alias \(vip.label ?? "none"), not \(first.label ?? "none")")
        }
        if first.prefix != vip.prefix { differences.append("prefix \(vip.prefix), not \(first.prefix)") }
        guard !differences.isEmpty else { return }
        let at = first.source.map { " (line \($0.line))" } ?? ""
        note(.notCarriedOver, vip.source,
             "\(block) gives VIP \(address ?? "") \(differences.joined(separator: ", ")) as its first block\(at) did; one address is one VIP, and the output keeps the first block's \(first.interface)\(first.label.map { " (\($0))" } ?? "") \(first.prefix)",
             "give every block of \(address ?? "this address") the same `address = IP device:alias` and vip_nmask, or edit virtual_ips in the output")
    }

    static func prefixLength(_ mask: String) -> Int? {
        guard let ip = IPAddress(mask), ip.family == .ipv4 else { return nil }
        let value = ip.bytes.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let ones = value.leadingZeroBitCount == 0 ? (~value).leadingZeroBitCount : 0
        guard value == (ones == 0 ? 0 : UInt32.max << (32 - ones)) else { return nil }
        return ones
    }

    mutating func uniqueName(_ base: String) -> String {
        let clean = String(base.map { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) ? $0 : "-" }.prefix(60))
        var name = clean.isEmpty ? "service" : clean
        var n = 2
        while names.contains(name) { name = "\(clean)-\(n)"; n += 1 }
        names.insert(name)
        return name
    }

    mutating func port(_ e: LVSCFImport.Entry?) -> Int? {
        guard let e else { return nil }
        if let n = Int(e.value), (0...65535).contains(n) { return n }
        if let n = Self.services[e.value.lowercased()] { return n }
        note(.notCarriedOver, e.location, "port \(e.value) is neither a number nor a service name this importer knows", "write the port number")
        return nil
    }

    mutating func mapVirtual(_ block: LVSCFImport.Block, forwarding: TandemDraft.Forwarding) {
        if block.value("active") == "0" {
            note(.note, block.location, "virtual \(block.name) is inactive (active = 0) and left out")
            return
        }
        guard let addressEntry = block.entry("address"),
              let vip = vip(from: addressEntry.value, mask: block.value("vip_nmask"), at: addressEntry.location) else {
            note(.notCarriedOver, block.location, "virtual \(block.name) has no usable address and is left out")
            return
        }
        addVIP(vip, block: "virtual \(block.name)")
        let address = String(vip.prefix.split(separator: "/")[0])
        var vs = TandemDraft.VirtualServer(name: uniqueName(block.name), scheduler: "wlc", forwarding: forwarding, realServers: [], source: block.location)
        let servicePort = port(block.entry("port")) ?? 0
        if let mark = block.value("fwmark").flatMap({ UInt32($0) }), mark > 0 {
            vs.fwmark = mark
            if IPAddress(address)?.family == .ipv6 { vs.family = "ipv6" }
        } else {
            vs.address = address
            vs.port = servicePort
            vs.protocol = block.value("protocol")?.lowercased() == "udp" ? "udp" : "tcp"
        }
        if let s = block.entry("scheduler") {
            if ServiceMapper.schedulers.contains(s.value) { vs.scheduler = s.value } else {
                note(.notCarriedOver, s.location, "scheduler \(s.value) is unknown; the output uses wlc")
            }
        }
        if let p = block.entry("persistent"), let t = Int(p.value), t > 0 {
            vs.persistenceTimeout = t
            if let m = block.entry("pmask") {
                if Self.prefixLength(m.value) != nil { vs.persistenceNetmask = m.value } else {
                    note(.notCarriedOver, m.location, "pmask \(m.value) is not a contiguous netmask; left out", "write a mask like 255.255.255.0")
                }
            }
        } else if vs.port == 0, vs.fwmark == nil {
            vs.persistenceTimeout = 360
            note(.note, block.location, "port 0 needs persistence; the output sets 360 s (ipvsadm's default)")
        }
        if let s = block.entry("sorry_server"), let ip = IPAddress(s.value.split(separator: " ").first.map(String.init) ?? "") {
            vs.sorryServer = ("\(ip)", nil, nil)
        }
        // nanny: connect (send/expect) every keepalive seconds; `timeout` seconds of failure take a
        // server out, `reentry` seconds of success put it back.
        let intervalMS = keepalivedSeconds(root.value("keepalive") ?? "6") ?? 6000
        let timeoutMS = keepalivedSeconds(block.value("timeout") ?? "10") ?? 10_000
        let reentryMS = keepalivedSeconds(block.value("reentry") ?? "180") ?? 180_000
        let interval = max(1000, min(intervalMS, 3_600_000))
        var fields: [(String, DraftValue)] = []
        let send = block.value("send").flatMap { $0.isEmpty ? nil : $0 }
        var expect = block.value("expect").flatMap { $0.isEmpty ? nil : $0 }
        if let program = block.entry("send_program") {
            let words = program.value.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            if words.first?.hasPrefix("/") == true {
                fields.append(("type", .raw("exec")))
                fields.append(("command", .list(words.map { .text($0) })))
                if expect != nil {
                    note(.notCarriedOver, program.location, "nanny compared send_program's output with expect; Tandem's exec check looks at the exit status only",
                         "make the program exit 0 when the server is up")
                }
                expect = nil
            } else {
                note(.notCarriedOver, program.location, "send_program \(program.value) does not start with an absolute path", "write its full path")
            }
        }
        if fields.isEmpty {
            let udp = vs.protocol == "udp"
            if udp {
                if let send {
                    fields.append(("type", .raw("udp")))
                    if vs.fwmark != nil, servicePort > 0 { fields.append(("port", .number(servicePort))) }
                    fields.append(("send", .text(send)))
                } else {
                    note(.notCarriedOver, block.location, "a UDP virtual without send has no check Tandem can run", "add a udp health_check with send and expect")
                }
            } else {
                fields.append(("type", .raw("tcp")))
                // nanny connects to the virtual's port; a fwmark service's real servers have none.
                if vs.fwmark != nil, servicePort > 0 { fields.append(("port", .number(servicePort))) }
                if let send { fields.append(("send", .text(send))) }
            }
            if !fields.isEmpty, let expect {
                let regex = block.value("use_regex") == "1" ? expect : RegexEscape.escape(expect)
                fields.append(("expect", .text(regex)))
            }
        }
        if let lm = block.entry("load_monitor"), lm.value != "none" {
            note(.notCarriedOver, lm.location, "load_monitor = \(lm.value) (weights from the real servers' load via \(lm.value)) is not carried over",
                 "serve a weight over TCP from each real server and use health_check type agent")
        }
        if let type = fields.first?.1.description, type == "tcp" || type == "udp", !fields.contains(where: { $0.0 == "port" }),
           block.blocks.contains(where: { $0.kind == "server" && $0.value("active") != "0" }), servicePort == 0 {
            note(.notCarriedOver, block.location, "virtual \(block.name) has port 0, so its real servers have no port for nanny's check",
                 "add a tcp health_check with the port to check")
            fields = []
        }
        if !fields.isEmpty {
            let quiesce = block.value("quiesce_server") == "1"
            // Tandem counts at most 100 checks for rise and fall (health_check rise/fall 1…100):
            // when nanny's timeout or reentry needs more at its keepalive, check less often, in
            // whole seconds, so that the times stay nanny's (timeout 300 at keepalive 1: every
            // 3 s, fall 100), rather than cutting them short.
            let every = max(interval, (max(timeoutMS, reentryMS) + 99_999) / 100_000 * 1000)
            let rise = max(1, (reentryMS + every - 1) / every), fall = max(1, (timeoutMS + every - 1) / every)
            fields.append(("interval", .raw(durationText(ms: every))))
            fields.append(("timeout", .raw(durationText(ms: interval))))
            fields.append(("rise", .number(Int(rise))))
            fields.append(("fall", .number(Int(fall))))
            fields.append(("failure_action", .raw(quiesce ? "quiesce" : "remove")))
            vs.healthCheck = TandemDraft.HealthCheck(fields: fields, source: block.entry("send")?.location ?? block.entry("send_program")?.location ?? block.location)
            if every == interval {
                note(.note, block.location, "virtual \(block.name): nanny's timeout \(durationText(ms: timeoutMS)) and reentry \(durationText(ms: reentryMS)) at keepalive \(durationText(ms: interval)) become fall \(fall) and rise \(rise)")
            } else {
                note(.note, block.location, "virtual \(block.name): checked every \(durationText(ms: every)), not at nanny's keepalive \(durationText(ms: interval)): "
                     + "Tandem counts at most 100 checks for rise and fall, and nanny's timeout \(durationText(ms: timeoutMS)) and reentry \(durationText(ms: reentryMS)) "
                     + "need more at \(durationText(ms: interval)); the times are kept: fall \(fall) × \(durationText(ms: every)), rise \(rise) × \(durationText(ms: every))")
            }
        }
        for e in block.entries where !["active", "address", "vip_nmask", "port", "fwmark", "protocol", "scheduler", "persistent", "pmask",
                                        "sorry_server", "send", "expect", "use_regex", "send_program", "load_monitor", "timeout", "reentry", "quiesce_server"].contains(e.key) {
            note(.notCarriedOver, e.location, "\(e.key) = \(e.value) (in virtual \(block.name)) is not carried over")
        }
        for server in block.blocks {
            guard server.kind == "server" else {
                note(.notCarriedOver, server.location, "a `\(server.kind)` block inside virtual \(block.name) is not part of lvs.cf")
                continue
            }
            if server.value("active") == "0" {
                note(.note, server.location, "server \(server.name) of virtual \(block.name) is inactive (active = 0) and left out")
                continue
            }
            guard let a = server.value("address").flatMap({ IPAddress($0) }) else {
                note(.notCarriedOver, server.location, "server \(server.name) has no numeric address and is left out")
                continue
            }
            var rsPort = port(server.entry("port"))
            if forwarding.method != "nat" {
                let written = vs.fwmark == nil ? servicePort : nil
                if let given = server.entry("port"), let p = rsPort, p != 0, written != nil, p != written {
                    note(.quirk, given.location, "server \(server.name) of virtual \(block.name): port = \(p) differs from the virtual's port \(written!); "
                         + "with \(forwarding.method == "dr" ? "direct routing" : "tunnelling") IPVS forwards packets unchanged, so pulse's "
                         + "real server got port \(written!) all the same, and the output says so",
                         "to reach port \(p) on the real server, use network = nat, or have the real server listen on \(written!)")
                }
                rsPort = written
            } else if vs.fwmark != nil, rsPort == 0 {
                rsPort = nil
            }
            var weight = server.value("weight").flatMap { Int($0) } ?? 1
            if !(0...65535).contains(weight), let given = server.entry("weight") {
                let clamped = min(max(weight, 0), 65535)
                note(.note, given.location, "server \(server.name) of virtual \(block.name): weight = \(weight) is outside IPVS's 0…65535 and is written as \(clamped)")
                weight = clamped
            }
            vs.realServers.append(TandemDraft.RealServer(address: "\(a)", port: rsPort, weight: weight, source: server.location))
            for e in server.entries where !["address", "active", "weight", "port", "name"].contains(e.key) {
                note(.notCarriedOver, e.location, "\(e.key) = \(e.value) (in server \(server.name)) is not carried over")
            }
        }
        draft.virtualServers.append(vs)
    }

    /// A command pulse runs on a role change → `notify.<role>`, when it is an absolute path and
    /// the role has no command yet (Tandem runs one per role for the whole pair; notify commands
    /// run without a shell, so the words are split on blanks).
    mutating func mapCommand(_ entry: LVSCFImport.Entry, role: String, what: String) {
        let words = entry.value.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        if entry.value.hasPrefix("/"), !draft.notify.contains(where: { $0.0 == role }) {
            draft.notify.append((role, words, entry.location))
            let also = role == "standby"
                ? "; pulse ran it whenever this router stopped being active: set notify.fault and notify.stop to it too if it must run then" : ""
            note(.note, entry.location, "\(what) → notify.\(role) (Tandem runs one command per role for the whole pair, without a shell)\(also)")
        } else if entry.value.hasPrefix("/") {
            note(.notCarriedOver, entry.location, "\(what) is not carried over: notify.\(role) already runs another command",
                 "Tandem runs one notify command per role: combine the commands in one script with an absolute path")
        } else {
            note(.notCarriedOver, entry.location, "\(what) = \(entry.value) is not carried over: not an absolute path",
                 "notify commands run without a shell and need an absolute path: write one, in a script if it needs a shell")
        }
    }

    /// fos mode: each failover block's address is a VIP; its check and start/stop commands have
    /// no Tandem equivalent per service.
    mutating func mapFailover(_ block: LVSCFImport.Block) {
        if block.value("active") == "0" {
            note(.note, block.location, "failover \(block.name) is inactive (active = 0) and left out")
            return
        }
        guard let e = block.entry("address"), let vip = vip(from: e.value, mask: block.value("vip_nmask"), at: e.location) else {
            note(.notCarriedOver, block.location, "failover \(block.name) has no usable address and is left out")
            return
        }
        addVIP(vip, block: "failover \(block.name)")
        for key in ["start_cmd", "stop_cmd"] {
            if let c = block.entry(key) { mapCommand(c, role: key == "start_cmd" ? "active" : "standby", what: "\(key) of failover \(block.name)") }
        }
        if block.entry("send") != nil || block.entry("expect") != nil || block.entry("port") != nil {
            note(.notCarriedOver, block.location, "fos checks the local service (port, send, expect) of failover \(block.name); Tandem does not",
                 "run the check from a watchdog that calls tandemctl maintenance on when the service fails")
        }
    }
}
