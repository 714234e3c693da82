import Glibc
import TandemCore

/// The IPv4 and IPv6 addresses configured on this host's interfaces (getifaddrs), used to tell
/// which node of the pair this is.
public func localAddresses() throws(KernelError) -> Set<IPAddress> {
    Set(try localAddressInterfaces().keys)
}

/// Each IPv4 and IPv6 address of this host with the interface it is on (getifaddrs; an address
/// on two interfaces keeps the first listed).
public func localAddressInterfaces() throws(KernelError) -> [IPAddress: String] {
    var list: UnsafeMutablePointer<ifaddrs>?
    guard getifaddrs(&list) == 0 else {
        throw KernelError(operation: "list local addresses", object: "", errno: Glibc.errno)
    }
    defer { freeifaddrs(list) }
    var result: [IPAddress: String] = [:]
    var cursor = list
    while let entry = cursor {
        defer { cursor = entry.pointee.ifa_next }
        guard let sa = entry.pointee.ifa_addr else { continue }
        let name = String(cString: entry.pointee.ifa_name)
        switch Int32(sa.pointee.sa_family) {
        case AF_INET:
            sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                let bytes = withUnsafeBytes(of: sin.pointee.sin_addr) { Array($0) }
                if let a = IPAddress(bytes: bytes, family: .ipv4), result[a] == nil { result[a] = name }
            }
        case AF_INET6:
            sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin6 in
                let bytes = withUnsafeBytes(of: sin6.pointee.sin6_addr) { Array($0) }
                if let a = IPAddress(bytes: bytes, family: .ipv6), result[a] == nil { result[a] = name }
            }
        default:
            break
        }
    }
    return result
}

/// Whether this namespace's interface `name` is up with carrier (IFF_UP and IFF_RUNNING, as
/// `LinkState.isUp` reads them from rtnetlink), from getifaddrs' link entries; nil when there is
/// no such interface or the interfaces cannot be listed.
public func interfaceIsUp(_ name: String) -> Bool? {
    var list: UnsafeMutablePointer<ifaddrs>?
    guard getifaddrs(&list) == 0 else { return nil }
    defer { freeifaddrs(list) }
    var cursor = list
    while let entry = cursor {
        defer { cursor = entry.pointee.ifa_next }
        guard String(cString: entry.pointee.ifa_name) == name else { continue }
        let flags = UInt32(entry.pointee.ifa_flags)
        return flags & LinkState.upFlag != 0 && flags & LinkState.runningFlag != 0
    }
    return nil
}

/// Whether this network namespace has an interface called `name` (if_nametoindex).
public func interfaceExists(_ name: String) -> Bool {
    !name.isEmpty && !name.contains("/") && if_nametoindex(name) != 0
}

/// What `check-config`, `tandemd --check`, a reload (mirrored ones too) and tandemd's start-up
/// warn about `config` on this host, for `node`: its heartbeat addresses the host lacks, or a
/// host that is the peer's (`VIPInterfaceCheck.heartbeatAddressesAbsent`), its sync and tracked
/// interfaces the host lacks (`VIPInterfaceCheck.otherAbsent`) and VIPs that would route the
/// heartbeats away (`VIPInterfaceCheck.heartbeatRouteConflicts`), VIP interfaces down or without
/// carrier (`vipInterfacesDown`), a control group the host lacks,
/// the programs it cannot run or others can change (`programWarnings`) and, given `configPath`,
/// a config file others can change (`configFileWarnings`), one line each.
public func hostWarnings(_ config: Config, node: String, configPath: String?) -> [String] {
    let listed = try? localAddressInterfaces()
    let here = listed ?? [:]
    // Addresses unlisted (getifaddrs failed) are not said to be missing.
    return VIPInterfaceCheck.heartbeatAddressesAbsent(in: config, node: node, isLocal: { listed == nil || here[$0] != nil })
        + VIPInterfaceCheck.otherAbsent(in: config, node: node, exists: interfaceExists)
        + VIPInterfaceCheck.heartbeatRouteConflicts(in: config, node: node, interfaceOf: { here[$0] })
        + vipInterfacesDown(config, node: node)
        + controlGroupWarnings(config) + programWarnings(config) + (configPath.map(configFileWarnings) ?? [])
}

/// The line saying this host is `node`'s peer rather than `node` (`VIPInterfaceCheck.peersHost`,
/// judged by this host's addresses); nil when it is not, or when they cannot be listed.
/// `tandemd --check` fails with it (trial 35).
public func peersHostProblem(_ config: Config, node: String) -> String? {
    guard let here = try? localAddresses() else { return nil }
    return VIPInterfaceCheck.peersHost(in: config, node: node, isLocal: here.contains)
}

/// The VIP interfaces of `config` that are down or without carrier here, as one warning line
/// (`VIPInterfaceCheck.down`: this node is judged faulty while they are).
func vipInterfacesDown(_ config: Config, node: String) -> [String] {
    let down = VIPInterfaceCheck.down(in: config, node: node, isUp: interfaceIsUp)
    return down.isEmpty ? [] : [VIPInterfaceCheck.downProblem(down, node: node)]
}

/// The programs `config` runs that this host cannot run (`SpawnChildRunner.whyNotRunnable`: no
/// such file, not executable, a directory, a bare name not in PATH), one warning line each: the
/// notify commands (found only when the role changes: a failover whose `active` command does not
/// run) and the exec health checks (every check fails: each real server of the service goes down
/// on both routers). keepalived checks its scripts when it loads its config (trial 34).
/// A program that runs here is checked like the config file (`RootFilePermissions`): one its
/// group or other users can write, in a directory they can write, or owned by another user
/// lets them run what they like as root (trial 35).
public func programWarnings(_ config: Config) -> [String] {
    var out: [String] = []
    let notify = config.notify
    for (event, command) in [("active", notify.active), ("standby", notify.standby), ("fault", notify.fault),
                             ("maintenance", notify.maintenance), ("stop", notify.stop)] {
        guard let program = command?.first else { continue }
        guard let why = SpawnChildRunner.whyNotRunnable(program) else {
            out += filePermissionWarnings(subject: "notify.\(event)", path: SpawnChildRunner.resolve(program) ?? program,
                                          consequence: RootFilePermissions.notifyConsequence)
            continue
        }
        out.append("notify.\(event): \(why) (here; tandemd on a node without it logs each notify it cannot run, and runs nothing in its place)")
    }
    var seen: Set<String> = []
    for (i, vs) in config.virtualServers.enumerated() {
        guard case .exec(let command)? = vs.healthCheck?.probe, let program = command.first, seen.insert(program).inserted else { continue }
        let subject = "virtual_servers[\(i)].health_check.command (\(vs.name))"
        guard let why = SpawnChildRunner.whyNotRunnable(program) else {
            out += filePermissionWarnings(subject: subject, path: SpawnChildRunner.resolve(program) ?? program,
                                          consequence: RootFilePermissions.execConsequence)
            continue
        }
        out.append("\(subject): \(why) (here; on a node without it every check of "
            + "every service that runs it fails, so their real servers go down)")
    }
    return out
}

/// The config file at `path` when its group or other users can write it, or a directory
/// holding it, or another user owns either (`RootFilePermissions`; ownership judged only when
/// this process runs as root): it names what tandemd runs as root on both routers. One warning
/// line each, with the fix; none when it cannot be found.
public func configFileWarnings(_ path: String) -> [String] {
    filePermissionWarnings(subject: "config file", path: path, consequence: RootFilePermissions.configConsequence)
}

/// `RootFilePermissions.problems` for the file at `path` as this host has it (`fileChain`),
/// judged for this process's effective uid; empty when the file cannot be found.
func filePermissionWarnings(subject: String, path: String, consequence: String) -> [String] {
    guard let chain = fileChain(path) else { return [] }
    return RootFilePermissions.problems(subject: subject, consequence: consequence, chain: chain, runningAs: UInt32(geteuid()))
}

/// The file `path` names, symbolic links resolved (realpath), then each directory holding it up
/// to "/", nearest first, with their modes and owners (stat, getpwuid_r); nil when the path
/// cannot be resolved or one of them cannot be read.
public func fileChain(_ path: String) -> [RootFilePermissions.Entry]? {
    guard let resolved = realpath(path, nil) else { return nil }
    var current = String(cString: resolved)
    free(resolved)
    var chain: [RootFilePermissions.Entry] = []
    while true {
        var info = stat()
        guard stat(current, &info) == 0 else { return nil }
        chain.append(RootFilePermissions.Entry(path: current, mode: UInt32(info.st_mode), owner: UInt32(info.st_uid),
                                               ownerName: userName(info.st_uid)))
        guard current != "/", let slash = current.lastIndex(of: "/") else { break }
        current = slash == current.startIndex ? "/" : String(current[..<slash])
    }
    return chain
}

/// The name of user `uid` (getpwuid_r: reloads run on several threads), nil when it has none.
private func userName(_ uid: uid_t) -> String? {
    var buffer = [CChar](repeating: 0, count: 4096)
    return buffer.withUnsafeMutableBufferPointer { bytes -> String? in
        var entry = passwd()
        var found: UnsafeMutablePointer<passwd>?
        // pw_name points into `bytes`: read while it is still valid.
        guard let base = bytes.baseAddress, getpwuid_r(uid, &entry, base, bytes.count, &found) == 0, found != nil,
              let name = entry.pw_name else { return nil }
        return String(cString: name)
    }
}

/// `control.group` when this host has no such group (getgrnam): tandemd then lets only root
/// change state through tandemctl, and says so only in its log (trial 33).
func controlGroupWarnings(_ config: Config) -> [String] {
    guard let group = config.control.group, getgrnam(group) == nil else { return [] }
    return ["control.group: group \(group) does not exist on this host: only root may change state through tandemctl "
        + "(status still works for everyone who can open the socket); create it (groupadd \(group)) or correct control.group"]
}
