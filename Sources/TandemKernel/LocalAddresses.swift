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

/// Whether this network namespace has an interface called `name` (if_nametoindex).
public func interfaceExists(_ name: String) -> Bool {
    !name.isEmpty && !name.contains("/") && if_nametoindex(name) != 0
}

/// What `check-config`, `tandemd --check` and a reload warn about `config` on this host, for
/// `node`: its heartbeat addresses the host lacks (`VIPInterfaceCheck.heartbeatAddressesAbsent`),
/// its sync and tracked interfaces the host lacks (`VIPInterfaceCheck.otherAbsent`) and
/// VIPs that would route the heartbeats away (`VIPInterfaceCheck.heartbeatRouteConflicts`),
/// and a control group the host lacks, one line each.
public func hostWarnings(_ config: Config, node: String) -> [String] {
    let listed = try? localAddressInterfaces()
    let here = listed ?? [:]
    // Addresses unlisted (getifaddrs failed) are not said to be missing.
    return VIPInterfaceCheck.heartbeatAddressesAbsent(in: config, node: node, isLocal: { listed == nil || here[$0] != nil })
        + VIPInterfaceCheck.otherAbsent(in: config, node: node, exists: interfaceExists)
        + VIPInterfaceCheck.heartbeatRouteConflicts(in: config, node: node, interfaceOf: { here[$0] })
        + controlGroupWarnings(config)
}

/// `control.group` when this host has no such group (getgrnam): tandemd then lets only root
/// change state through tandemctl, and says so only in its log (trial 33).
func controlGroupWarnings(_ config: Config) -> [String] {
    guard let group = config.control.group, getgrnam(group) == nil else { return [] }
    return ["control.group: group \(group) does not exist on this host: only root may change state through tandemctl "
        + "(status still works for everyone who can open the socket); create it (groupadd \(group)) or correct control.group"]
}
