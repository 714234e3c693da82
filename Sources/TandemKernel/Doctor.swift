import Glibc
import TandemCore

/// One finding of `tandemctl doctor`.
public struct DoctorCheck: Sendable, Hashable, CustomStringConvertible {
    public enum Level: String, Sendable, Hashable {
        case ok, warn, fail = "FAIL"
    }

    public var level: Level
    /// What was checked: "CAP_NET_ADMIN", "IPVS", "scheduler wlc", "interface eth0".
    public var subject: String
    /// What was found and, when it is not ok, what to do.
    public var detail: String

    public init(_ level: Level, _ subject: String, _ detail: String) {
        self.level = level
        self.subject = subject
        self.detail = detail
    }

    /// `ok    IPVS: available, version 1.2.1, connection table size 4096`.
    public var description: String {
        level.rawValue + String(repeating: " ", count: max(2, 6 - level.rawValue.count)) + "\(subject): \(detail)"
    }
}

/// The facts about this host that the doctor reads; `LiveDoctorHost` reads /proc, /sys and
/// the IPVS family, tests give fixed answers.
public protocol DoctorHost {
    /// The effective capability set (CapEff of /proc/self/status), nil when unreadable.
    func effectiveCapabilities() -> UInt64?
    /// The IPVS version and table size, or the error from asking for them.
    func ipvsInfo() -> Result<IPVSInfo, any Error>
    /// Whether kernel module `name` is loaded or built in.
    func moduleLoaded(_ name: String) -> Bool
    /// Whether `modprobe name` can find the module (modules.dep or modules.builtin).
    func moduleAvailable(_ name: String) -> Bool
    /// A sysctl value under /proc/sys, e.g. "net/ipv4/ip_forward", trimmed; nil when missing.
    func sysctl(_ path: String) -> String?
    /// Whether the network interface exists.
    func interfaceExists(_ name: String) -> Bool
    /// The host's own addresses, to find which node of the config this is.
    func localAddresses() -> Set<IPAddress>
}

/// Kernel preflight: decides every check from host facts; prints nothing, changes nothing.
public enum Doctor {
    /// CAP_NET_ADMIN's bit in the capability sets (linux/capability.h).
    static let capNetAdmin: UInt64 = 1 << 12

    /// All checks for `config` (nil: only the host-wide ones). `node` names this router when the
    /// host's addresses cannot tell.
    public static func run(config: Config?, node: String? = nil, host: some DoctorHost) -> [DoctorCheck] {
        var checks: [DoctorCheck] = []

        switch host.effectiveCapabilities() {
        case .some(let caps) where caps & capNetAdmin != 0:
            checks.append(DoctorCheck(.ok, "CAP_NET_ADMIN", "effective"))
        case .some:
            checks.append(DoctorCheck(.fail, "CAP_NET_ADMIN", "missing: IPVS and address changes need it; run as root or grant it (systemd AmbientCapabilities=CAP_NET_ADMIN)"))
        case .none:
            checks.append(DoctorCheck(.warn, "CAP_NET_ADMIN", "could not read /proc/self/status to tell"))
        }

        switch host.ipvsInfo() {
        case .success(let info):
            checks.append(DoctorCheck(.ok, "IPVS", "available, version \(info.versionString), connection table size \(info.connectionTableSize)"))
        case .failure(let error as IPVSUnavailableError):
            let module = host.moduleAvailable("ip_vs")
                ? "the ip_vs module is installed but did not load"
                : "no ip_vs module was found for this kernel either: it needs CONFIG_IP_VS"
            checks.append(DoctorCheck(.fail, "IPVS", "\(error); \(module)"))
        case .failure(let error):
            checks.append(DoctorCheck(.fail, "IPVS", "could not query the IPVS family: \(error)"))
        }

        guard let config else { return checks }
        let table = config.desiredIPVSTable()

        // Schedulers and persistence engines, each a module ip_vs_<name> / ip_vs_pe_<name>.
        var modules: [(String, String)] = []
        for name in Set(table.entries.map(\.service.scheduler)).sorted() where name != "none" {
            modules.append(("scheduler \(name)", "ip_vs_\(name)"))
        }
        for name in Set(table.entries.compactMap(\.service.persistenceEngine)).sorted() {
            modules.append(("persistence engine \(name)", "ip_vs_pe_\(name)"))
        }
        for (subject, module) in modules {
            if host.moduleLoaded(module) {
                checks.append(DoctorCheck(.ok, subject, "module \(module) loaded"))
            } else if host.moduleAvailable(module) {
                checks.append(DoctorCheck(.ok, subject, "module \(module) available (the kernel loads it on first use; modprobe \(module) to check)"))
            } else {
                checks.append(DoctorCheck(.fail, subject, "module \(module) missing from this kernel: install it or choose another scheduler"))
            }
        }

        // NAT services need forwarding on this router.
        let destinations = table.entries.flatMap { entry in entry.destinations.map { (entry.service.key, $0) } }
        for family in [AddressFamily.ipv4, .ipv6] {
            let nat = destinations.filter { $0.0.family == family && $0.1.forwarding == .masquerade }
            guard let first = nat.first else { continue }
            let path = family == .ipv4 ? "net/ipv4/ip_forward" : "net/ipv6/conf/all/forwarding"
            let name = path.split(separator: "/").joined(separator: ".")
            let value = host.sysctl(path)
            if value == "1" {
                checks.append(DoctorCheck(.ok, name, "1 (needed by NAT service \(first.0))"))
            } else {
                checks.append(DoctorCheck(.fail, name, "\(value ?? "unreadable"), but NAT service \(first.0) needs 1: sysctl -w \(name)=1 (and persist it in /etc/sysctl.d)"))
            }
        }

        // Direct routing: the real servers must not answer ARP for the VIP.
        let dr = Set(destinations.filter { $0.1.forwarding == .directRoute }.map(\.0)).sorted()
        if !dr.isEmpty {
            let names = dr.map(\.description).joined(separator: ", ")
            checks.append(DoctorCheck(.warn, "arp_ignore/arp_announce",
                                      "direct-routing service\(dr.count == 1 ? "" : "s") \(names): these are real-server settings, not checked here; each real server must hold the VIP on lo and set net.ipv4.conf.all.arp_ignore=1 and net.ipv4.conf.all.arp_announce=2"))
        }

        // Interfaces the config names.
        var interfaces: [(String, String, DoctorCheck.Level)] = []  // (name, role, level if missing)
        for vip in config.virtualIPs { interfaces.append((vip.interface, "VIP \(vip.prefix)", .fail)) }
        let identity = config.identifyNode(requested: node, localAddresses: host.localAddresses())
        switch identity {
        case .success(let me):
            for t in me.trackInterfaces { interfaces.append((t.interface, "tracked by \(me.name)", .fail)) }
        case .failure(let why):
            checks.append(DoctorCheck(.warn, "node", "\(why); tracked interfaces are checked for both nodes"))
            for n in config.nodes {
                for t in n.trackInterfaces { interfaces.append((t.interface, "tracked by \(n.name)", .warn)) }
            }
        }
        if let sync = config.sync { interfaces.append((sync.interface, "sync daemon", .fail)) }
        var order: [String] = []
        var roles: [String: [String]] = [:]
        var severity: [String: DoctorCheck.Level] = [:]
        for (name, role, missing) in interfaces {
            if roles[name] == nil { order.append(name) }
            if !(roles[name] ?? []).contains(role) { roles[name, default: []].append(role) }
            if severity[name] != .fail { severity[name] = missing }
        }
        for name in order {
            let what = roles[name, default: []].joined(separator: ", ")
            if host.interfaceExists(name) {
                checks.append(DoctorCheck(.ok, "interface \(name)", "present (\(what))"))
            } else {
                checks.append(DoctorCheck(severity[name] ?? .fail, "interface \(name)", "missing (\(what)): create it or fix the name in the config"))
            }
        }
        return checks
    }

    /// The exit status for a set of checks: 1 when anything failed (IPVS missing included), else 0.
    public static func exitStatus(_ checks: [DoctorCheck]) -> Int32 {
        checks.contains { $0.level == .fail } ? 1 : 0
    }
}

/// The real host: /proc/self/status, /proc/modules, /sys/module, /lib/modules, /proc/sys,
/// /sys/class/net, getifaddrs and the IPVS genl family.
public struct LiveDoctorHost: DoctorHost {
    public init() {}

    public func effectiveCapabilities() -> UInt64? {
        guard let status = readFile("/proc/self/status") else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("CapEff:") {
            return UInt64(trimmed(line.dropFirst("CapEff:".count)), radix: 16)
        }
        return nil
    }

    public func ipvsInfo() -> Result<IPVSInfo, any Error> {
        Result { try LiveIPVSKernel().info() }
    }

    public func moduleLoaded(_ name: String) -> Bool {
        if Posix.isAccessible("/sys/module/\(name)", F_OK) { return true }
        return readFile("/proc/modules")?.split(separator: "\n").contains { $0.hasPrefix(name + " ") } ?? false
    }

    public func moduleAvailable(_ name: String) -> Bool {
        var uts = utsname()
        guard uname(&uts) == 0 else { return false }
        let release = withUnsafeBytes(of: &uts.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let base = "/lib/modules/\(release)"
        let file = "/\(name).ko"
        for index in ["modules.dep", "modules.builtin"] {
            guard let text = readFile("\(base)/\(index)") else { continue }
            for line in text.split(separator: "\n") {
                let path = line.split(separator: ":", maxSplits: 1).first ?? line
                if path.hasSuffix(file) || path.contains(file + ".") { return true }
            }
        }
        return false
    }

    public func sysctl(_ path: String) -> String? {
        readFile("/proc/sys/\(path)").map { trimmed($0[...]) }
    }

    public func interfaceExists(_ name: String) -> Bool { TandemKernel.interfaceExists(name) }

    /// This host's addresses (`TandemKernel.localAddresses`); none when they cannot be listed.
    public func localAddresses() -> Set<IPAddress> {
        (try? TandemKernel.localAddresses()) ?? []
    }

    private func trimmed(_ s: Substring) -> String {
        String(s.drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }

    private func readFile(_ path: String) -> String? {
        guard let bytes = try? Posix.readFile(path, limit: 64 << 20) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }
}
