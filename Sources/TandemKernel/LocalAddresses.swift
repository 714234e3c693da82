import Glibc
import TandemCore

/// The IPv4 and IPv6 addresses configured on this host's interfaces (getifaddrs), used to tell
/// which node of the pair this is.
public func localAddresses() throws(KernelError) -> Set<IPAddress> {
    var list: UnsafeMutablePointer<ifaddrs>?
    guard getifaddrs(&list) == 0 else {
        throw KernelError(operation: "list local addresses", object: "", errno: Glibc.errno)
    }
    defer { freeifaddrs(list) }
    var result = Set<IPAddress>()
    var cursor = list
    while let entry = cursor {
        defer { cursor = entry.pointee.ifa_next }
        guard let sa = entry.pointee.ifa_addr else { continue }
        switch Int32(sa.pointee.sa_family) {
        case AF_INET:
            sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                let bytes = withUnsafeBytes(of: sin.pointee.sin_addr) { Array($0) }
                if let a = IPAddress(bytes: bytes, family: .ipv4) { result.insert(a) }
            }
        case AF_INET6:
            sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin6 in
                let bytes = withUnsafeBytes(of: sin6.pointee.sin6_addr) { Array($0) }
                if let a = IPAddress(bytes: bytes, family: .ipv6) { result.insert(a) }
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
