#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads and validates Tandem's YAML configuration.
///
/// Parsing is strict: unknown keys, repeated keys, loose durations ("5"), addresses with stray
/// text and out-of-range numbers are errors. Every problem is reported with its path and line,
/// not only the first; a config with any error is refused whole.
public enum ConfigParser {
    /// Files larger than this are refused before parsing.
    public static let maximumFileSize = 64 * 1024 * 1024

    /// Deepest nesting of YAML collections accepted (a config nests about 8 levels). Text nested
    /// thousands of levels deep (a few KB of "[") is refused before it is parsed: it once crashed
    /// the loader (a recursive composer ran out of stack), and no config needs it.
    public static let maximumNesting = 64

    /// A parsed, valid config together with any warnings.
    public struct Result: Sendable {
        public var config: Config
        public var warnings: [ConfigIssue]
    }

    /// Reads `path` and parses it. Missing, unreadable, empty, binary and oversized files are
    /// reported as a `ConfigError` naming the file.
    public static func load(path: String) throws(ConfigError) -> Config {
        try loadWithWarnings(path: path).config
    }

    /// Like `load(path:)`, also returning warnings.
    public static func loadWithWarnings(path: String) throws(ConfigError) -> Result {
        func fail(_ message: String) -> ConfigError {
            ConfigError(file: path, issues: [ConfigIssue(path: "", line: nil, message: message)])
        }
        let bytes: [UInt8]
        switch ConfigFile.read(path, limit: maximumFileSize) {
        case .success(let read): bytes = read
        case .failure(.missing): throw fail("no such file: check the path")
        case .failure(.directory): throw fail("is a directory, not a config file")
        case .failure(.tooLarge(let size)): throw fail(tooLarge(size))
        case .failure(.unreadable): throw fail("cannot be read: check its permissions")
        }
        do {
            return try parseWithWarnings(data: bytes)
        } catch {
            throw ConfigError(file: path, issues: error.issues)
        }
    }

    private static func tooLarge(_ size: Int) -> String {
        "is \(size) bytes; configs larger than \(maximumFileSize / 1024 / 1024) MiB are refused"
    }

    /// Parses config bytes (such as `Data` or `[UInt8]`): must be UTF-8 text without NUL bytes;
    /// one leading byte order mark is dropped.
    public static func parseWithWarnings(data: some Collection<UInt8>) throws(ConfigError) -> Result {
        func fail(_ message: String) -> ConfigError {
            ConfigError(issues: [ConfigIssue(path: "", line: nil, message: message)])
        }
        if data.count > maximumFileSize { throw fail(tooLarge(data.count)) }
        func decode(_ bytes: some Collection<UInt8>) -> String?? { bytes.contains(0) ? nil : .some(utf8Text(bytes)) }
        // nil: NUL bytes; .some(nil): not UTF-8.
        let text = data.withContiguousStorageIfAvailable { decode($0) } ?? decode(data)
        switch text {
        case nil: throw fail("is not a text file (it contains NUL bytes): is this the right file?")
        case .some(nil): throw fail("is not UTF-8 text: is this the right file?")
        case .some(.some(let text)): return try parseWithWarnings(yaml: text)
        }
    }

    /// The text of UTF-8 bytes, nil when they are not UTF-8. A leading byte order mark is
    /// dropped, as Foundation's `String(data:encoding: .utf8)` does; this validates in one pass.
    static func utf8Text(_ data: some Collection<UInt8>) -> String? {
        let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
        return String(validating: data.starts(with: bom) ? data.dropFirst(3) : data[...], as: UTF8.self)
    }

    /// Parses YAML text into a validated config.
    public static func parse(yaml: String) throws(ConfigError) -> Config {
        try parseWithWarnings(yaml: yaml).config
    }

    /// Parses YAML text into a validated config, also returning warnings.
    public static func parseWithWarnings(yaml: String) throws(ConfigError) -> Result {
        var text = yaml
        text.makeContiguousUTF8()
        let parsed: Swift.Result<YAMLDocument, ConfigError> = text.utf8.withContiguousStorageIfAvailable { bytes in
            Swift.Result { () throws(ConfigError) in try document(bytes, of: text) }
        } ?? .failure(ConfigError(issues: [ConfigIssue(path: "", line: nil, message: "is not valid YAML: not stored as UTF-8")]))
        let diags = Diagnostics(document: try parsed.get())
        let reader = Reader(diags: diags)
        let config = reader.read(Field(node: diags.document.root, path: "", diags: diags))
        if let config { Validator(diags: diags).validate(config) }
        let errors = diags.errors
        guard errors.isEmpty, let config else {
            throw ConfigError(issues: errors.sorted { ($0.line ?? 0) < ($1.line ?? 0) })
        }
        return Result(config: config, warnings: diags.warnings)
    }

    /// What a migrant needs to hear when libyaml refuses a line that holds a tab ("found
    /// character that cannot start any token"): YAML indents with spaces only (YAML 1.2 §6.1).
    static func tabHint(_ text: String, line: Int?) -> String {
        guard let line, line >= 1 else { return "" }
        var number = 0
        for content in text.split(separator: "\n", omittingEmptySubsequences: false) {
            number += 1
            guard number == line else { continue }
            return content.contains("\t") ? "; that line holds a tab, and YAML indents with spaces only: replace the tab with spaces" : ""
        }
        return ""
    }

    /// The YAML document of a config's text (`bytes`, the UTF-8 of `text`): refuses empty text,
    /// text nested too deep, invalid YAML and streams without a document.
    private static func document(_ bytes: UnsafeBufferPointer<UInt8>, of text: String) throws(ConfigError) -> YAMLDocument {
        func fail(_ message: String, line: Int? = nil) -> ConfigError {
            ConfigError(issues: [ConfigIssue(path: "", line: line, message: message)])
        }
        if text.isBlank {
            throw fail("is empty: a config needs at least serial, nodes and virtual_ips (see examples/reference.yaml)")
        }
        if let line = YAMLNesting.lineNestedDeeper(than: maximumNesting, in: bytes) {
            throw fail("nests collections more than \(maximumNesting) levels deep: a config needs fewer than 10", line: line)
        }
        let root: YAMLDocument?
        do {
            root = try YAMLDocument.parse(bytes)
        } catch {
            let hint = error.message.contains("tab") ? "" : tabHint(text, line: error.line)
            throw fail("is not valid YAML: \(error.message)" + hint, line: error.line)
        }
        guard let root else {
            throw fail("holds no YAML document: a config needs at least serial, nodes and virtual_ips")
        }
        return root
    }
}

/// An estimate of how deeply YAML text nests its collections, made without parsing it.
enum YAMLNesting {
    /// The first line (1-based) at which the estimated depth exceeds `limit`, or nil.
    ///
    /// The estimate of a line is: the enclosing block levels (the indentation columns of the
    /// earlier lines that are less indented, as YAML's own scanner stacks them), plus the
    /// compact collections the line opens (each leading "- " or "? "), plus the flow collections
    /// open at the deepest point of the line ("[" and "{" not yet closed, counted from the start of
    /// the text). Quotes and comments are not told apart from the rest, so brackets inside them
    /// count too, which only raises the estimate; a mapping opened after a "- " on the same line
    /// is not counted, so the estimate is at least half the real depth.
    static func lineNestedDeeper(than limit: Int, in text: String) -> Int? {
        var text = text
        return text.withUTF8 { lineNestedDeeper(than: limit, in: $0) }
    }

    /// Like `lineNestedDeeper(than:in:)` for the UTF-8 bytes of the text.
    static func lineNestedDeeper(than limit: Int, in text: UnsafeBufferPointer<UInt8>) -> Int? {
        let newline = UInt8(ascii: "\n"), space = UInt8(ascii: " ")
        var indents: [Int] = []
        var flow = 0
        var line = 0
        var lineStart = 0
        let end = text.count
        while lineStart <= end {
            line += 1
            var lineEnd = lineStart
            while lineEnd < end && text[lineEnd] != newline { lineEnd += 1 }
            defer { lineStart = lineEnd + 1 }
            var i = lineStart
            while i < lineEnd && text[i] == space { i += 1 }
            let indent = i - lineStart
            guard i < lineEnd, text[i] != UInt8(ascii: "#"), text[i] != UInt8(ascii: "\r") else { continue }
            while let last = indents.last, last >= indent { indents.removeLast() }
            indents.append(indent)
            var compact = 0
            while i < lineEnd, text[i] == UInt8(ascii: "-") || text[i] == UInt8(ascii: "?"),
                  i + 1 == lineEnd || text[i + 1] == space {
                compact += 1
                i = min(i + 2, lineEnd)
                while i < lineEnd && text[i] == space { i += 1 }
            }
            var deepest = flow
            while i < lineEnd {
                switch text[i] {
                case UInt8(ascii: "["), UInt8(ascii: "{"):
                    flow += 1
                    deepest = max(deepest, flow)
                case UInt8(ascii: "]"), UInt8(ascii: "}"):
                    flow = max(0, flow - 1)
                default:
                    break
                }
                i += 1
            }
            if indents.count + compact + deepest > limit { return line }
        }
        return nil
    }
}

/// Turns the YAML tree into a `Config`, applying defaults. Returns nil when a required part is
/// missing or broken; every problem goes to `diags`.
private struct Reader {
    let diags: Diagnostics

    func read(_ root: Field) -> Config? {
        guard let top = root.mapping(allowed: [
            "serial", "nodes", "heartbeat", "election", "announce", "virtual_ips", "virtual_servers",
            "sync", "standby_table", "ipvs_timeouts", "notify", "control", "state_directory",
            "metrics", "cluster",
        ]) else { return nil }

        // Read first: a cluster's nodes and VIPs follow other rules than a pair's.
        let clusterField = top["cluster"]
        let (cluster, vipInterface) = clusterField.map(clusterSettings) ?? (nil, nil)
        let clusterMode = clusterField != nil
        let serial = top.required("serial", hint: "a whole number that you raise with every change")?
            .integer(0...Int64.max).map { UInt64($0) }
        let nodes = top.required("nodes", hint: clusterMode ? "list the directors of the cluster (2 to 16)" : "list the two routers of the pair")?
            .list()?.compactMapReserving { node($0, cluster: clusterMode) } ?? []
        let heartbeat = top.required("heartbeat", hint: "at least the key_file (or auth: none)").flatMap(heartbeatSettings)
        let election = top["election"].map(electionSettings) ?? ElectionSettings()
        let announce = top["announce"].map(announceSettings) ?? AnnounceSettings()
        let vips = top.required("virtual_ips", hint: clusterMode ? "the addresses every director holds and announces" : "the addresses the active router holds")?
            .list()?.compactMapReserving { virtualIP($0, clusterInterface: vipInterface) } ?? []
        let services = top["virtual_servers"]?.list()?.compactMapReserving(virtualServer) ?? []
        let sync = top["sync"].flatMap(syncSettings)
        let standbyTable = top["standby_table"]?.choice(StandbyTable.allCases.map { ($0.rawValue, $0) }) ?? .warm
        if clusterMode {
            let pairOnly: [(key: StaticString, why: String)] = [
                ("election", "has no effect in cluster mode: every director is active, there is no election; remove it"),
                ("announce", "has no effect in cluster mode: the VIPs sit on a non-ARPing interface and are reached through the routes BIRD announces, so no gratuitous ARP or NA is sent; remove it"),
            ]
            for (key, why) in pairOnly where top.has(key) { top[key]?.warn(why) }
            if standbyTable == .cold {
                top["standby_table"]?.fail("every director of a cluster is active and holds the IPVS table; remove standby_table: cold")
            }
        }
        let timeouts = top["ipvs_timeouts"].flatMap(ipvsTimeouts)
        let notify = top["notify"].map(notifySettings) ?? NotifySettings()
        let control = top["control"].map(controlSettings) ?? ControlSettings()
        let stateDirectory = top["state_directory"].flatMap { absolutePath($0) } ?? "/var/lib/tandem"

        let metrics = top["metrics"].map(metricsSettings) ?? MetricsSettings()

        guard let serial, let heartbeat, cluster != nil || !clusterMode else { return nil }
        var config = Config(serial: serial, nodes: nodes, heartbeat: heartbeat, election: election, announce: announce,
                            virtualIPs: vips, virtualServers: services, sync: sync, standbyTable: standbyTable,
                            ipvsTimeouts: timeouts, notify: notify, control: control, stateDirectory: stateDirectory)
        config.metrics = metrics
        config.cluster = cluster
        return config
    }

    // MARK: Nodes and heartbeat

    func node(_ f: Field, cluster: Bool) -> Node? {
        guard let m = f.mapping(allowed: ["name", "addresses", "priority", "track_interfaces"]) else { return nil }
        let name = m.required("name").flatMap(nodeName)
        let addresses = m.required("addresses", hint: cluster
                                   ? "this director's own addresses: its BGP sessions start from the first one of the peer's family"
                                   : "this node's heartbeat address, one per path")?.list()?
            .compactMap { $0.address() }
        if cluster {
            m["priority"]?.fail("every director of a cluster is active, so there is no election and no priority; remove it")
            m["track_interfaces"]?.fail("a cluster has no election for a tracked link to lower: BFD on the BGP sessions finds a dead uplink, and health checks a dead inside link; remove it")
        }
        let priority = m["priority"]?.int(1...255, what: "a valid priority") ?? 100
        let tracks = m["track_interfaces"]?.list()?.compactMap(trackedInterface) ?? []
        guard let name, let addresses else { return nil }
        return Node(name: name, heartbeatAddresses: addresses, priority: priority, trackInterfaces: tracks)
    }

    func nodeName(_ f: Field) -> String? {
        guard let s = f.string(maxLength: 64) else { return nil }
        // Byte by byte: the same verdict as character by character (a character is one of these
        // only if it is a single ASCII byte), without Unicode property lookups.
        guard s.utf8.allSatisfy({ Reader.isNameByte($0) }) else {
            f.fail("\"\(s)\" is not a valid node name: use letters, digits, '-', '_' and '.'")
            return nil
        }
        return s
    }

    /// An ASCII letter or digit, '-', '_' or '.'.
    static func isNameByte(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."):
            return true
        default:
            return false
        }
    }

    func trackedInterface(_ f: Field) -> TrackedInterface? {
        if f.kind == .scalar {
            return interfaceName(f).map { TrackedInterface(interface: $0, effect: .fault) }
        }
        guard let m = f.mapping(allowed: ["interface", "lower_priority_by"]) else { return nil }
        guard let name = m.required("interface").flatMap(interfaceName) else { return nil }
        if let by = m["lower_priority_by"] {
            return by.int(1...254).map { TrackedInterface(interface: name, effect: .lowerPriority(by: $0)) }
        }
        return TrackedInterface(interface: name, effect: .fault)
    }

    func interfaceName(_ f: Field) -> String? {
        guard let s = f.string() else { return nil }
        guard s.utf8.count <= 15, s != ".", s != "..",
              s.allSatisfy({ $0.isASCII && !$0.isWhitespace && $0 != "/" && $0 != ":" }) else {
            f.fail("\"\(s)\" is not a valid interface name (at most 15 characters, no '/', ':' or spaces)")
            return nil
        }
        return s
    }

    func heartbeatSettings(_ f: Field) -> HeartbeatSettings? {
        guard let m = f.mapping(allowed: ["port", "interval", "dead_time", "key_file", "next_key_file", "auth", "realtime_priority"]) else {
            return nil
        }
        let port = m["port"]?.port() ?? 539
        let givenInterval = m["interval"].map { $0.timeSpan(min: .milliseconds(1), max: .seconds(60)) }
        let interval = (givenInterval ?? nil) ?? .seconds(1)
        let givenDeadTime = m["dead_time"].map { $0.timeSpan(min: .milliseconds(2), max: .seconds(600)) }
        let deadTime = (givenDeadTime ?? nil) ?? TimeSpan(milliseconds: interval.milliseconds * 3)
        // An interval or dead time already refused is not compared with the other (the error
        // would be about a default the operator never wrote).
        let timingRefused = givenInterval == .some(nil) || givenDeadTime == .some(nil)
        // nil: absent (SCHED_FIFO 50); 0: off; else 1…99.
        let realtime = m["realtime_priority"].flatMap { f -> Int? in
            guard let text = f.scalarText else { return nil }
            if text == "off" { return 0 }
            if !text.isEmpty, text.allSatisfy({ $0.isASCII && $0.isNumber }) { return f.int(1...99, what: "a SCHED_FIFO priority") }
            f.fail("\"\(text)\" is not a realtime priority: write a SCHED_FIFO priority 1…99, or off for the default scheduler (the default is \(HeartbeatSettings.defaultRealtimePriority))")
            return nil
        }
        let auth: HeartbeatSettings.Authentication?
        let mode = m["auth"]?.choice([("hmac-sha256", "hmac-sha256"), ("none", "none")]) ?? "hmac-sha256"
        switch (mode, m["key_file"]) {
        case ("none", nil):
            auth = HeartbeatSettings.Authentication.none
        case ("none", .some(let k)):
            k.fail("auth is none, so a key file makes no sense: remove key_file or remove auth: none")
            auth = nil
        case (_, .some(let k)):
            auth = absolutePath(k).map { .hmacSHA256(keyFile: $0) }
        default:
            m.field.fail("missing key_file: heartbeats are authenticated with HMAC-SHA256 by default; give key_file, or write auth: none to opt out")
            auth = nil
        }
        guard let auth else { return nil }
        var nextKeyFile: String?
        if let n = m["next_key_file"] {
            switch auth {
            case .none:
                n.fail("auth is none, so a next key file makes no sense: remove next_key_file or remove auth: none")
            case .hmacSHA256(let keyFile):
                nextKeyFile = absolutePath(n)
                if nextKeyFile == keyFile {
                    n.fail("next_key_file is the same file as key_file (\(keyFile)): give the file of the other key of the rotation, or remove next_key_file")
                }
            }
        }
        if !timingRefused, deadTime <= interval {
            m["dead_time"]?.fail("dead time \(deadTime) must be longer than the interval \(interval) (at least 2×, usually 3×)")
                ?? m.field.fail("dead time must be longer than the interval")
        } else if !timingRefused {
            let at = m["dead_time"] ?? m.field
            if deadTime.milliseconds < interval.milliseconds * 2 {
                at.warn("dead time \(deadTime) is less than twice the interval \(interval): a single late or lost heartbeat is a takeover; use at least \(TimeSpan(milliseconds: interval.milliseconds * 2)) (3× is usual)")
            }
            if deadTime < HeartbeatSettings.schedulerSafeDeadTime, realtime == 0 {
                at.warn("dead time \(deadTime) with realtime_priority: off: on a busy router the default scheduler can hold the heartbeat thread back for tens of milliseconds (30-43 ms measured with four CPU hogs on two cores, integration/bench/README.md), a false takeover; remove realtime_priority: off (SCHED_FIFO \(HeartbeatSettings.defaultRealtimePriority) is the default), or use a dead time of at least \(HeartbeatSettings.schedulerSafeDeadTime)")
            }
        }
        return HeartbeatSettings(port: port, interval: interval, deadTime: deadTime, authentication: auth,
                                 realtimePriority: realtime, nextKeyFile: nextKeyFile)
    }

    func electionSettings(_ f: Field) -> ElectionSettings {
        guard let m = f.mapping(allowed: ["preempt", "preempt_delay"]) else { return ElectionSettings() }
        let preempt = m["preempt"]?.bool() ?? false
        let delay = m["preempt_delay"]?.timeSpan(max: .seconds(3600)) ?? .milliseconds(0)
        if m.has("preempt_delay") && !preempt {
            m["preempt_delay"]?.fail("has no effect without preempt: true; remove it or turn preempt on")
        }
        return ElectionSettings(preempt: preempt, preemptDelay: delay)
    }

    func announceSettings(_ f: Field) -> AnnounceSettings {
        let defaults = AnnounceSettings()
        guard let m = f.mapping(allowed: ["repeat", "spacing", "second_burst_delay", "refresh_interval",
                                          "refresh_repeat", "arp_mode"]) else { return defaults }
        let repeatCount = m["repeat"]?.int(1...100) ?? defaults.repeatCount
        let spacing = m["spacing"]?.timeSpan(max: .seconds(10)) ?? defaults.spacing
        var second = defaults.secondBurstDelay
        if let s = m["second_burst_delay"]?.timeSpan(max: .seconds(3600)) { second = s.milliseconds == 0 ? nil : s }
        var refresh = defaults.refreshInterval
        if let r = m["refresh_interval"]?.timeSpan(max: .seconds(86400)) {
            if r.milliseconds == 0 { refresh = nil }
            else if r < .milliseconds(100) { m["refresh_interval"]?.fail("\(r) would flood the segment: use at least 100ms, or 0s for no refresh") }
            else { refresh = r }
        }
        let refreshRepeat = m["refresh_repeat"]?.int(1...100) ?? defaults.refreshRepeat
        // A burst is `repeat` messages `spacing` apart; a later burst that starts before the
        // first one ends only overlaps it.
        let burst = TimeSpan(milliseconds: spacing.milliseconds * UInt64(max(0, repeatCount - 1)))
        if let second, second <= burst {
            m["second_burst_delay"]?.warn("\(second) is within the first burst (\(repeatCount) messages \(spacing) apart last \(burst)): the second burst overlaps it; make it longer than \(burst)")
        }
        if let refresh, refresh <= burst {
            m["refresh_interval"]?.warn("\(refresh) is shorter than one burst (\(burst)): refreshes would run back to back; make it longer than \(burst)")
        }
        let mode = m["arp_mode"]?.choice(AnnounceSettings.ARPMode.allCases.map { ($0.rawValue, $0) }) ?? defaults.arpMode
        return AnnounceSettings(repeatCount: repeatCount, spacing: spacing, secondBurstDelay: second,
                                refreshInterval: refresh, refreshRepeat: refreshRepeat, arpMode: mode)
    }

    // MARK: Virtual IPs

    /// A VIP; in a cluster (`clusterInterface` is its `vip_interface`) its interface defaults
    /// to, and must be, that one, and it must be a host address (see `clusterVIP`).
    func virtualIP(_ f: Field, clusterInterface: String?) -> VirtualIP? {
        guard let m = f.mapping(allowed: ["address", "interface", "label", "nat_gateway"]) else { return nil }
        let prefix = m.required("address", hint: clusterInterface == nil ? "the VIP with its prefix length, like 192.0.2.10/24"
                                : "the VIP as a host address, like 192.0.2.10/32 or 2001:db8::10/128")?.prefix()
        let interface = clusterInterface.map { c in m["interface"].map { interfaceName($0) ?? c } ?? c }
            ?? m.required("interface").flatMap(interfaceName)
        let label = m["label"]?.string(maxLength: 15)
        let nat = m["nat_gateway"]?.bool() ?? false
        guard let prefix, let interface else { return nil }
        if let clusterInterface { clusterVIP(m, prefix: prefix, interface: interface, natGateway: nat, vipInterface: clusterInterface) }
        if let p = m["address"] {
            let a = prefix.address
            if a.isUnspecified || a.isMulticast || a.isLoopback || a.isLimitedBroadcast {
                p.fail("\(a) cannot be a virtual IP: use a unicast address")
            } else if prefix.length == 0 {
                p.fail("prefix length 0 would claim every address: use the subnet's length, like /24 or /64")
            }
        }
        if let label, let lf = m["label"] {
            if prefix.family == .ipv6 {
                lf.fail("labels exist only for IPv4 addresses; remove it")
            } else if !(label == interface || label.hasPrefix(interface + ":")) {
                lf.fail("\"\(label)\" must start with the interface name, like \(interface):vip")
            }
        }
        return VirtualIP(prefix: prefix, interface: interface, label: label, natGateway: nat)
    }

    /// A cluster's VIP sits on `vip_interface` as a host address. A shorter prefix on `lo` would
    /// make the whole subnet local (net/ipv4/fib_frontend.c `fib_add_ifaddr` adds the prefix as
    /// an RTN_LOCAL route on a loopback device), and the route BIRD announces is the /32 or /128.
    func clusterVIP(_ m: MapView, prefix: IPPrefix, interface: String, natGateway: Bool, vipInterface: String) {
        if interface != vipInterface {
            m["interface"]?.fail("every VIP of a cluster sits on cluster.vip_interface (\(vipInterface)), which answers no ARP for it; remove interface, or change vip_interface")
        }
        if prefix.length != prefix.family.bitWidth {
            m["address"]?.fail("\(prefix) is not a host address: in a cluster each VIP is one address on \(vipInterface) and one announced route; write \(prefix.address)/\(prefix.family.bitWidth)")
        }
        if natGateway {
            m["nat_gateway"]?.fail("a cluster has no gateway address that moves with an active router: every director is active; remove nat_gateway")
        }
    }

    // MARK: Virtual servers

    func virtualServer(_ f: Field) -> VirtualServer? {
        guard let m = f.mapping(allowed: [
            "name", "address", "port", "protocol", "fwmark", "family", "scheduler", "scheduler_flags",
            "persistence", "one_packet", "forwarding", "tunnel", "sorry_server", "health_check", "real_servers",
        ]) else { return nil }
        let name = m.required("name").flatMap(nodeName)
        var match: VirtualServerMatch?
        if let mark = m["fwmark"] {
            for key: StaticString in ["address", "port", "protocol"] where m.has(key) {
                m[key]?.fail("a fwmark service is matched by its mark alone; remove \(key)")
            }
            let family = m["family"]?.choice([("ipv4", AddressFamily.ipv4), ("ipv6", .ipv6)]) ?? .ipv4
            if let n = mark.integer(KernelLimits.fwmarks, what: "a valid firewall mark") {
                match = .fwmark(UInt32(n), family: family)
            }
        } else {
            if m.has("family") { m["family"]?.fail("only fwmark services take a family; the address gives it here") }
            let address = m.required("address", hint: "a virtual IP (or use fwmark)")?.address()
            // Port 0 is the "all ports" service, which only makes sense persistent: ipvsadm.c
            // refuses "Zero port specified for non-persistent service".
            var port: UInt16?
            if let pf = m.required("port") {
                if pf.isScalar("0") { port = 0 } else { port = pf.port() }
            }
            if port == 0, !m.has("persistence") {
                m["port"]?.fail("port 0 (every port) needs persistence, as ipvsadm requires (\"Zero port specified for non-persistent service\"): add persistence, or use a fwmark service to match several ports")
            }
            let proto = m["protocol"]?.choice(IPVSProtocol.allCases.map { ($0.description, $0) }) ?? .tcp
            if let address, let port { match = .address(address, port: port, protocol: proto) }
        }
        let scheduler = schedulerValue(m)
        let persistence = m["persistence"].flatMap { persistenceValue($0, family: familyOf(match)) }
        let onePacket = m["one_packet"]?.bool() ?? false
        let forwarding = m.required("forwarding", hint: "nat, dr or tunnel").flatMap {
            forwardingValue($0, tunnel: m["tunnel"], default: nil)
        }
        let health = m["health_check"].flatMap(healthCheck)
        let servicePort = self.servicePort(match)
        let sorry = m["sorry_server"].flatMap { sorryServer($0, servicePort: servicePort) }
        let reals = m["real_servers"]?.list()?.compactMapReserving { realServer($0, servicePort: servicePort) } ?? []
        guard let name, let match, let scheduler, let forwarding else { return nil }
        if onePacket, case .address(_, _, let proto) = match, proto != .udp {
            m["one_packet"]?.fail("one-packet scheduling is for UDP services only; remove it or use protocol: udp")
        }
        return VirtualServer(name: name, match: match, scheduler: scheduler, persistence: persistence,
                             onePacket: onePacket, forwarding: forwarding, sorryServer: sorry, healthCheck: health,
                             realServers: reals)
    }

    func familyOf(_ match: VirtualServerMatch?) -> AddressFamily? {
        switch match {
        case .address(let a, _, _): return a.family
        case .fwmark(_, let f): return f
        case nil: return nil
        }
    }

    /// The port a real or sorry server takes when its own is not written: the service's, as
    /// ipvsadm does (`-r ADDR` without a port copies the service port, ipvsadm.c
    /// `parse_options`); 0 for fwmark services (keep the client's destination port). Nil when
    /// the service's own port did not parse.
    func servicePort(_ match: VirtualServerMatch?) -> UInt16? {
        switch match {
        case .address(_, let port, _): return port
        case .fwmark: return 0
        case nil: return nil
        }
    }

    func schedulerValue(_ m: MapView) -> Scheduler? {
        var name = "wlc"
        if let f = m["scheduler"] {
            guard let s = f.string() else { return nil }
            guard Scheduler.known.contains(s) else {
                f.fail("\"\(s)\" is not a kernel scheduler: use one of \(Scheduler.known.joined(separator: " ")) (module ip_vs_<name>; names are case-sensitive)")
                return nil
            }
            if s == "none" {
                f.warn("scheduler none binds no scheduler: the kernel schedules no new connections for this service, only persistent and synced ones are served")
            } else if let release = KernelLimits.schedulerFirstRelease[s] {
                f.warn("the \(s) scheduler needs Linux \(release) or later (module ip_vs_\(s)); `tandemctl doctor` checks this kernel")
            }
            name = s
        }
        var flags = Set<Scheduler.Flag>()
        for item in m["scheduler_flags"]?.list() ?? [] {
            guard let flag = item.choice(Scheduler.Flag.allCases.map { ($0.rawValue, $0) }) else { continue }
            if flag.scheduler != name {
                item.fail("\(flag.rawValue) belongs to the \(flag.scheduler) scheduler, not \(name)")
                continue
            }
            flags.insert(flag)
        }
        return Scheduler(name: name, flags: flags)
    }

    func persistenceValue(_ f: Field, family: AddressFamily?) -> Persistence? {
        guard let m = f.mapping(allowed: ["timeout", "netmask", "engine"]) else { return nil }
        var timeout = TimeSpan.seconds(360)
        if let tf = m["timeout"], let t = tf.timeSpan(min: .seconds(1)) {
            if t.milliseconds % 1000 != 0 {
                tf.fail("the kernel counts persistence in whole seconds: write \(t.milliseconds / 1000 + 1)s")
            } else if t > KernelLimits.maximumPersistenceTimeout {
                tf.fail("\(t) is too long for a persistence timeout: at most \(KernelLimits.maximumPersistenceTimeout) (\(KernelLimits.maximumPersistenceTimeout.milliseconds / 1000)s, 31 days), the limit of ipvsadm -p; the kernel keeps timeout × HZ in 32 bits, so longer values come back changed")
            } else {
                timeout = t
            }
        }
        var prefixLength = family?.bitWidth ?? 32
        if let nf = m["netmask"], let text = nf.scalarText {
            if family == .ipv6 {
                // ip_vs_ctl.c ip_vs_genl_parse_service / ipvsadm -M: an IPv6 mask is a prefix length 1…128.
                let digits = text.hasPrefix("/") ? String(text.dropFirst()) : text
                if let n = Int(digits), digits.allSatisfy({ $0.isASCII && $0.isNumber }), (1...128).contains(n) {
                    prefixLength = n
                } else {
                    nf.fail("\"\(text)\" is not an IPv6 persistence prefix length: write 1…128, like 64 (the kernel refuses 0 for IPv6; ip_vs_ctl.c)")
                }
            } else if let len = Reader.ipv4MaskLength(text) {
                prefixLength = len
            } else {
                nf.fail("\"\(text)\" is not an IPv4 netmask: write a contiguous mask like 255.255.255.0 or /24 (0.0.0.0 or /0 for one persistence template for all clients)")
            }
        }
        var engine: String?
        if let ef = m["engine"], let name = ef.string(maxLength: 15) {
            // The kernel loads persistence engines as modules ip_vs_pe_<name> (ip_vs_pe.c
            // __ip_vs_pe_getbyname, request_module); module names are case-sensitive.
            if KernelLimits.persistenceEngines.contains(name) {
                engine = name
            } else {
                ef.fail("\"\(name)\" is not a kernel persistence engine: the kernel has \(KernelLimits.persistenceEngines.joined(separator: ", ")) (module ip_vs_pe_sip; names are case-sensitive)")
            }
        }
        return Persistence(timeout: timeout, prefixLength: prefixLength, engine: engine)
    }

    /// Length of a contiguous IPv4 netmask written as `255.255.255.0` or `/24`.
    /// `0.0.0.0` and `/0` give 0: one persistence template for every client, which ipvsadm
    /// (`-M 0.0.0.0`) and the kernel accept. Non-contiguous masks are refused on purpose: the
    /// kernel would take them, but they group clients in ways nobody means.
    static func ipv4MaskLength(_ text: String) -> Int? {
        if text.hasPrefix("/") {
            let digits = text.dropFirst()
            guard !digits.isEmpty, digits.count <= 2, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
                  let n = Int(digits), (0...32).contains(n) else { return nil }
            return n
        }
        guard let v = IPAddress.parseV4(Substring(text)) else { return nil }
        let ones = v.nonzeroBitCount
        guard ones == 0 || v == ~UInt32(0) << (32 - ones) else { return nil }
        return ones
    }

    func forwardingValue(_ f: Field?, tunnel: Field?, default fallback: ForwardingMethod?) -> ForwardingMethod? {
        guard let f else {
            if let tunnel { tunnel.fail("tunnel settings need forwarding: tunnel") }
            return fallback
        }
        guard let kind = f.choice([("nat", 0), ("dr", 1), ("tunnel", 2)]) else { return nil }
        switch kind {
        case 0, 1:
            if let tunnel { tunnel.fail("tunnel settings need forwarding: tunnel") }
            return kind == 0 ? .nat : .directRouting
        default:
            guard let tunnel else { return .tunnel(TunnelSettings()) }
            return tunnelSettings(tunnel).map { .tunnel($0) }
        }
    }

    func tunnelSettings(_ f: Field) -> TunnelSettings? {
        guard let m = f.mapping(allowed: ["type", "port", "checksum"]) else { return nil }
        let type = m["type"]?.choice(IPVSTunnelType.allCases.map { ($0.description, $0) }) ?? .ipip
        let port = m["port"]?.port()
        let checksum = m["checksum"]?.choice([("none", IPVSTunnelChecksum.none), ("csum", .checksum),
                                              ("remcsum", .remoteChecksum)]) ?? IPVSTunnelChecksum.none
        switch type {
        case .gue:
            if port == nil && !m.has("port") { m.field.fail("a GUE tunnel needs the port the real server decapsulates on") }
        case .ipip:
            if m.has("port") { m["port"]?.fail("only GUE tunnels take a port") }
            if m.has("checksum") { m["checksum"]?.fail("IPIP tunnels have no checksum option") }
        case .gre:
            if m.has("port") { m["port"]?.fail("only GUE tunnels take a port") }
        }
        return TunnelSettings(type: type, port: port, checksum: checksum)
    }

    /// A real or sorry server's port: written, or the service's (`servicePort`). 0 is allowed
    /// only where the service's is 0 (fwmark and all-port services keep the client's port).
    func destinationPort(_ m: MapView, servicePort: UInt16?) -> UInt16? {
        guard let f = m["port"] else { return servicePort }
        return f.port(allowZero: servicePort == 0)
    }

    func realServer(_ f: Field, servicePort: UInt16?) -> RealServer? {
        guard let m = f.mapping(allowed: ["address", "port", "weight", "upper_threshold", "lower_threshold",
                                          "forwarding", "tunnel"]) else { return nil }
        let address = m.required("address")?.address()
        let port = destinationPort(m, servicePort: servicePort)
        let weight = m["weight"]?.int(0...KernelLimits.maximumWeight, what: "a valid weight") ?? 1
        let thresholds = 0...Int64(KernelLimits.maximumThreshold)
        let upper = m["upper_threshold"]?.integer(thresholds, what: "a valid connection threshold (ipvsadm -x/-y)").map { UInt32($0) } ?? 0
        let lower = m["lower_threshold"]?.integer(thresholds, what: "a valid connection threshold (ipvsadm -x/-y)").map { UInt32($0) } ?? 0
        let forwarding = m.has("forwarding") || m.has("tunnel")
            ? forwardingValue(m["forwarding"], tunnel: m["tunnel"], default: nil) : nil
        guard let address, let port else { return nil }
        if lower > upper {
            m["lower_threshold"]?.fail(upper == 0
                ? "a lower threshold needs an upper threshold above it (the kernel refuses lower > upper)"
                : "lower threshold \(lower) is above the upper threshold \(upper)")
        }
        return RealServer(address: address, port: port, weight: weight, upperThreshold: upper,
                          lowerThreshold: lower, forwarding: forwarding)
    }

    func sorryServer(_ f: Field, servicePort: UInt16?) -> SorryServer? {
        guard let m = f.mapping(allowed: ["address", "port", "weight", "forwarding", "tunnel"]) else { return nil }
        let address = m.required("address")?.address()
        let port = destinationPort(m, servicePort: servicePort)
        let weight = m["weight"]?.int(1...KernelLimits.maximumWeight, what: "a valid sorry-server weight") ?? 1
        let forwarding = m.has("forwarding") || m.has("tunnel")
            ? forwardingValue(m["forwarding"], tunnel: m["tunnel"], default: nil) : nil
        guard let address, let port else { return nil }
        return SorryServer(address: address, port: port, weight: weight, forwarding: forwarding)
    }

    // MARK: Health checks

    func healthCheck(_ f: Field) -> HealthCheck? {
        let common: [StaticString] = ["type", "interval", "timeout", "rise", "fall", "failure_action", "warmup"]
        guard f.kind == .mapping else {
            f.fail("expected a mapping with at least type")
            return nil
        }
        // Read the type first to know which keys are allowed.
        let own: [StaticString]
        switch f.scalarText(ofLast: "type") {
        case "tcp": own = ["port", "send", "expect"]
        case "http", "https": own = ["port", "path", "host", "sni", "status", "body", "verify_certificate"]
        case "udp": own = ["port", "send", "expect"]
        case "exec": own = ["command"]
        case "agent": own = ["port", "send"]
        default: own = []
        }
        guard let m = f.mapping(allowed: common + own) else { return nil }
        guard let type = m.required("type")?.choice([("tcp", "tcp"), ("http", "http"), ("https", "https"),
                                                    ("udp", "udp"), ("exec", "exec"), ("agent", "agent")]) else {
            return nil
        }
        let interval = m["interval"]?.timeSpan(min: .milliseconds(10), max: .seconds(3600)) ?? .seconds(2)
        let timeout = m["timeout"]?.timeSpan(min: .milliseconds(1), max: .seconds(3600)) ?? .seconds(1)
        let rise = m["rise"]?.int(1...100) ?? 2
        let fall = m["fall"]?.int(1...100) ?? 3
        let action = m["failure_action"]?.choice(HealthCheck.FailureAction.allCases.map { ($0.rawValue, $0) }) ?? .quiesce
        let warmup = m["warmup"]?.timeSpan(max: .seconds(3600))
        if timeout > interval {
            m["timeout"]?.fail("timeout \(timeout) is longer than the interval \(interval): checks would overlap; shorten the timeout or lengthen the interval")
        }
        let probe: HealthCheck.Probe?
        switch type {
        case "tcp":
            let send = m["send"]?.string()
            let expect = m["expect"].flatMap(regex)
            probe = .tcp(port: m["port"]?.port(), send: send, expect: expect)
        case "http", "https":
            probe = httpProbe(m, tls: type == "https").map { .http($0) }
        case "udp":
            let send = m.required("send", hint: "the datagram to send")?.string()
            probe = send.map { .udp(port: m["port"]?.port(), send: $0, expect: m["expect"].flatMap(regex)) }
        case "exec":
            probe = m.required("command", hint: "the program to run, with %h and %p for address and port")
                .flatMap(command).map { .exec(command: $0) }
        default:
            let port = m.required("port", hint: "the port the agent listens on")?.port()
            probe = port.map { .agent(port: $0, send: m["send"]?.string()) }
        }
        guard let probe else { return nil }
        return HealthCheck(probe: probe, interval: interval, timeout: timeout, rise: rise, fall: fall,
                           failureAction: action, warmup: warmup.flatMap { $0.milliseconds == 0 ? nil : $0 })
    }

    func httpProbe(_ m: MapView, tls: Bool) -> HTTPProbe? {
        let path = m["path"]?.string() ?? "/"
        if !path.hasPrefix("/") { m["path"]?.fail("\"\(path)\" must start with /") }
        if path.contains(where: { $0.isWhitespace }) { m["path"]?.fail("must not contain spaces: percent-encode them") }
        let host = m["host"]?.string(maxLength: 255)
        let sni = m["sni"]?.string(maxLength: 255)
        if !tls, m.has("sni") { m["sni"]?.fail("only https checks use SNI") }
        if !tls, m.has("verify_certificate") { m["verify_certificate"]?.fail("only https checks verify certificates") }
        var status: [ClosedRange<Int>] = [200...399]
        if let sf = m["status"] {
            let items: [Field] = sf.kind == .sequence ? sf.list() ?? [] : [sf]
            status = items.compactMap(statusRange)
        }
        return HTTPProbe(tls: tls, port: m["port"]?.port(), path: path, host: host, serverName: sni, status: status,
                         body: m["body"].flatMap(regex), verifyCertificate: m["verify_certificate"]?.bool() ?? false)
    }

    func statusRange(_ f: Field) -> ClosedRange<Int>? {
        guard let s = f.scalarText else { return nil }
        let parts = s.split(separator: "-", omittingEmptySubsequences: false)
        let numbers = parts.map { p in Int(p).flatMap { (100...599).contains($0) && p.count == 3 ? $0 : nil } }
        guard (1...2).contains(parts.count), numbers.allSatisfy({ $0 != nil }) else {
            f.fail("\"\(s)\" is not an HTTP status code or range like 200 or 200-299")
            return nil
        }
        let lo = numbers[0]!, hi = numbers.last!!
        guard lo <= hi else { f.fail("range \(s) runs backwards"); return nil }
        return lo...hi
    }

    func regex(_ f: Field) -> String? {
        guard let s = f.string() else { return nil }
        // The matcher the health checks use compiles it, so both accept the same expressions.
        do {
            _ = try ReplyMatcher(pattern: s)
        } catch {
            f.fail("\"\(s)\" is not a valid regular expression")
            return nil
        }
        return s
    }

    /// A command as a list of arguments, or a string split at spaces (no quoting: use the list
    /// form when an argument contains spaces).
    func command(_ f: Field) -> [String]? {
        var args: [String]
        if f.kind == .sequence {
            args = f.list()?.compactMap { $0.string() } ?? []
        } else {
            guard let s = f.string() else { return nil }
            if s.contains("\"") || s.contains("'") || s.contains("\\") {
                f.fail("quotes are not interpreted here: write the command as a list of arguments instead")
                return nil
            }
            args = s.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            // Shell syntax reaches the program as arguments: `/x.sh; echo y` runs /x.sh with "y".
            if let shell = [";", "|", "&&", ">", "<", "`", "$("].first(where: { s.contains($0) }) {
                f.warn("contains `\(shell)`, but commands run without a shell: it reaches the program as an argument; "
                       + "for a shell line write [/bin/sh, -c, \"...\"]")
            }
        }
        guard let first = args.first else { f.fail("must name a program"); return nil }
        if !first.hasPrefix("/") {
            f.fail("\"\(first)\" must be an absolute path: commands run without a shell or PATH")
            return nil
        }
        return args
    }

    // MARK: Cluster

    /// The cluster section, nil when any part of it is wrong, and its VIP interface (the default
    /// when unreadable), which the VIPs need either way.
    func clusterSettings(_ f: Field) -> (ClusterSettings?, String?) {
        guard let m = f.mapping(allowed: ["vip_interface", "route_table", "route_protocol", "bgp"]) else {
            return (nil, ClusterSettings.defaultVIPInterface)
        }
        let vipInterface = m["vip_interface"].flatMap(interfaceName) ?? ClusterSettings.defaultVIPInterface
        var table = ClusterSettings.defaultRouteTable
        if let tf = m["route_table"], let n = tf.integer(1...Int64(UInt32.max), what: "a routing table number") {
            if ClusterSettings.reservedRouteTables.contains(UInt32(n)) {
                tf.fail("table \(n) is reserved by the kernel (252 compat, 253 default, 254 main, 255 local; include/uapi/linux/rtnetlink.h): pick a table of its own that no ip rule selects, like \(ClusterSettings.defaultRouteTable)")
            } else {
                table = UInt32(n)
            }
        }
        var proto = ClusterSettings.defaultRouteProtocol
        if let pf = m["route_protocol"], let n = pf.int(0...255, what: "an rtnetlink route protocol number") {
            if ClusterSettings.forbiddenRouteProtocols.contains(UInt8(n)) {
                pf.fail("protocol \(n) is not Tandem's to take: 0-4 are the kernel's and ip route's own (unspec, redirect, kernel, boot, static), and BIRD ignores 0 and 2 and owns 12; use a private number such as \(ClusterSettings.defaultRouteProtocol)")
            } else {
                proto = UInt8(n)
                if let daemon = ClusterSettings.otherDaemonsRouteProtocols[proto] {
                    pf.warn("protocol \(n) is assigned to \(daemon) (include/uapi/linux/rtnetlink.h): if that daemon ever writes into table \(table), Tandem takes its routes for its own and removes them; use a number no daemon uses, such as \(ClusterSettings.defaultRouteProtocol)")
                }
            }
        }
        guard let bgp = m.required("bgp", hint: "local_as and the upstream peers, which tandemctl bird-config writes into BIRD's config").flatMap(bgpSettings) else {
            return (nil, vipInterface)
        }
        return (ClusterSettings(vipInterface: vipInterface, routeTable: table, routeProtocol: proto, bgp: bgp), vipInterface)
    }

    func bgpSettings(_ f: Field) -> BGPSettings? {
        guard let m = f.mapping(allowed: ["local_as", "peers", "bfd", "bfd_interval", "bfd_multiplier", "hold_time"]) else {
            return nil
        }
        let localAS = m.required("local_as", hint: "the AS number every director announces from, like 65010").flatMap(asNumber)
        let peers = m.required("peers", hint: "the upstream routers, each with address and as")?.list()?
            .enumerated().compactMap { bgpPeer($1, index: $0) }
        if let list = m["peers"], peers?.isEmpty == true, list.kind == .sequence {
            list.fail("give at least one upstream router to announce the VIPs to")
        }
        let bfd = m["bfd"]?.bool() ?? true
        let interval = m["bfd_interval"]?.timeSpan(min: .milliseconds(10), max: .seconds(10)) ?? BGPSettings.defaultBFDInterval
        let multiplier = m["bfd_multiplier"]?.int(1...255, what: "a BFD detect multiplier") ?? BGPSettings.defaultBFDMultiplier
        if !bfd {
            for key: StaticString in ["bfd_interval", "bfd_multiplier"] where m.has(key) {
                m[key]?.fail("has no effect with bfd: false; remove it or turn BFD on")
            }
        }
        var hold: TimeSpan?
        if let hf = m["hold_time"], let t = hf.timeSpan(max: .seconds(65535)) {
            // RFC 4271 §4.2: the hold time is whole seconds, 0 (no keepalives) or at least 3.
            if t.milliseconds % 1000 != 0 {
                hf.fail("BGP counts the hold time in whole seconds: write \(t.milliseconds / 1000 + 1)s")
            } else if t.milliseconds != 0 && t < .seconds(3) {
                hf.fail("\(t) is not a BGP hold time: 0s (no keepalives) or 3s and more (RFC 4271 §4.2)")
            } else {
                hold = t
            }
        }
        guard let localAS, let peers else { return nil }
        return BGPSettings(localAS: localAS, peers: peers, bfd: bfd, bfdInterval: interval, bfdMultiplier: multiplier,
                           holdTime: hold)
    }

    func bgpPeer(_ f: Field, index: Int) -> BGPPeer? {
        guard let m = f.mapping(allowed: ["address", "as", "name"]) else { return nil }
        let address = m.required("address", hint: "the upstream router's address on the director's link")?.address()
        let remoteAS = m.required("as", hint: "the upstream router's AS number (the local_as for iBGP)").flatMap(asNumber)
        var name = "upstream\(index + 1)"
        if let nf = m["name"], let s = nf.string(maxLength: 64) {
            if Reader.isBIRDSymbol(s) {
                name = s
            } else {
                nf.fail("\"\(s)\" is not a BIRD protocol name: start with a letter or '_', then letters, digits and '_'")
            }
        }
        guard let address, let remoteAS else { return nil }
        if address.isUnspecified || address.isMulticast || address.isLoopback || address.isLimitedBroadcast {
            m["address"]?.fail("\(address) cannot be a BGP neighbour: use the upstream router's unicast address")
        }
        return BGPPeer(address: address, remoteAS: remoteAS, name: name)
    }

    /// A BIRD symbol: a letter or '_', then letters, digits and '_' (BIRD doc "Lexical structure",
    /// conf/cf-lex.l); written without quotes in the generated config.
    static func isBIRDSymbol(_ s: String) -> Bool {
        func letter(_ b: UInt8) -> Bool {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(b) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(b) || b == UInt8(ascii: "_")
        }
        guard let first = s.utf8.first, letter(first) else { return false }
        return s.utf8.allSatisfy { letter($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
    }

    /// A 4-byte AS number (RFC 6793): 1…4294967295 but AS_TRANS 23456.
    func asNumber(_ f: Field) -> UInt32? {
        guard let n = f.integer(1...Int64(UInt32.max), what: "an AS number") else { return nil }
        if UInt32(n) == BGPSettings.transitionAS {
            f.fail("23456 is AS_TRANS, a placeholder for 4-byte AS numbers (RFC 6793), never a real AS: use your own, like 65010")
            return nil
        }
        return UInt32(n)
    }

    // MARK: The rest

    func syncSettings(_ f: Field) -> SyncSettings? {
        guard let m = f.mapping(allowed: ["interface", "sync_id", "group", "port", "ttl", "max_length"]) else { return nil }
        let interface = m.required("interface", hint: "the interface the sync daemon multicasts on").flatMap(interfaceName)
        let id = m["sync_id"]?.int(0...255).map { UInt8($0) } ?? 0
        let group = m["group"]?.address()
        if let g = group, !g.isMulticast { m["group"]?.fail("\(g) is not a multicast address (224.0.0.0/4 or ff00::/8)") }
        let port = m["port"]?.port()
        let ttl = m["ttl"]?.int(1...255).map { UInt8($0) }
        let maxLengthLimit = KernelLimits.maximumSyncMessageLength(ipv6: group?.family == .ipv6)
        let maxLength = m["max_length"]?.int(KernelLimits.minimumSyncMessageLength...maxLengthLimit,
                                             what: "a sync message length (the kernel's limit is 65535 minus the IP and UDP headers; below \(KernelLimits.minimumSyncMessageLength) no connection entry fits)")
            .map { UInt16($0) }
        if let maxLength, Int(maxLength) < KernelLimits.minimumBackupSyncMessageLength {
            m["max_length"]?.warn("\(maxLength) is below 1024: the standby's backup sync daemon raises it to 1024 (ip_vs_sync.c start_sync_thread), so the two routers use different lengths; use 1024 or more")
        }
        guard let interface else { return nil }
        return SyncSettings(interface: interface, syncID: id, group: group, port: port, ttl: ttl, maxLength: maxLength)
    }

    func ipvsTimeouts(_ f: Field) -> IPVSTimeouts? {
        guard let m = f.mapping(allowed: ["tcp", "tcp_fin", "udp"]) else { return nil }
        func seconds(_ key: StaticString, _ fallback: TimeSpan) -> TimeSpan {
            guard let field = m[key], let d = field.timeSpan(min: .seconds(1)) else { return fallback }
            if d.milliseconds % 1000 != 0 {
                field.fail("the kernel counts these timeouts in whole seconds: write \(d.milliseconds / 1000 + 1)s")
            } else if d > KernelLimits.maximumProtocolTimeout {
                field.fail("\(d) is too long: the kernel refuses more than INT_MAX/HZ seconds (EINVAL, ip_vs_ctl.c ip_vs_set_timeout), which is \(KernelLimits.maximumProtocolTimeout.milliseconds / 1000)s (about 24 days) at HZ=1000; use at most \(KernelLimits.maximumProtocolTimeout.milliseconds / 1000)s")
            }
            return d
        }
        return IPVSTimeouts(tcp: seconds("tcp", .seconds(900)), tcpFin: seconds("tcp_fin", .seconds(120)),
                            udp: seconds("udp", .seconds(300)))
    }

    func notifySettings(_ f: Field) -> NotifySettings {
        guard let m = f.mapping(allowed: ["active", "standby", "fault", "maintenance", "stop", "timeout"]) else {
            return NotifySettings()
        }
        return NotifySettings(active: m["active"].flatMap(command), standby: m["standby"].flatMap(command),
                              fault: m["fault"].flatMap(command), maintenance: m["maintenance"].flatMap(command),
                              stop: m["stop"].flatMap(command),
                              timeout: m["timeout"]?.timeSpan(min: .milliseconds(100), max: .seconds(3600)) ?? .seconds(30))
    }

    func controlSettings(_ f: Field) -> ControlSettings {
        guard let m = f.mapping(allowed: ["socket", "group"]) else { return ControlSettings() }
        let socket = m["socket"].flatMap { absolutePath($0) } ?? ControlSettings().socketPath
        if socket.utf8.count > 107 { m["socket"]?.fail("is longer than a Unix socket path may be (107 bytes)") }
        var group: String?
        if let g = m["group"], let s = g.string(maxLength: 32) {
            if s.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }) { group = s }
            else { g.fail("\"\(s)\" is not a valid group name") }
        }
        return ControlSettings(socketPath: socket, group: group)
    }

    /// `metrics: {listen: ADDR:PORT}` or `listen: [ADDR:PORT, ...]` (IPv6 as `[ADDR]:PORT`).
    func metricsSettings(_ f: Field) -> MetricsSettings {
        guard let m = f.mapping(allowed: ["listen"]) else { return MetricsSettings() }
        guard let listen = m["listen"] else { return MetricsSettings() }
        let items: [Field]
        if listen.kind == .sequence { items = listen.list() ?? [] } else { items = [listen] }
        var endpoints: [ServerEndpoint] = []
        for item in items {
            guard let text = item.string() else { continue }
            do {
                let endpoint = try ServerEndpoint.parse(text)
                if endpoints.contains(endpoint) { item.fail("\(endpoint) is listed twice"); continue }
                endpoints.append(endpoint)
            } catch {
                item.fail("\"\(text)\" is not ADDRESS:PORT (IPv6 as [ADDRESS]:PORT), e.g. 127.0.0.1:9539")
            }
        }
        return MetricsSettings(listen: endpoints)
    }

    func absolutePath(_ f: Field) -> String? {
        guard let s = f.string() else { return nil }
        guard s.hasPrefix("/") else { f.fail("\"\(s)\" must be an absolute path"); return nil }
        return s
    }
}

extension Array {
    /// `compactMap` into an array reserved for every element at once: lists of services and of
    /// real servers then do not grow (and copy) as they are read.
    func compactMapReserving<T>(_ transform: (Element) -> T?) -> [T] {
        var result: [T] = []
        result.reserveCapacity(count)
        for element in self {
            if let value = transform(element) { result.append(value) }
        }
        return result
    }
}
