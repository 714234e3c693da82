import Glibc
import TandemCore

/// Socket addresses for IP endpoints: the one place that builds a `sockaddr_in`/`sockaddr_in6`.
public enum IPSocketAddress {
    /// Calls `body` with `address` and `port` as a `sockaddr_in` (IPv4) or `sockaddr_in6` (IPv6)
    /// and that structure's length, as `bind`, `connect` and `sendto` take them.
    public static func with<R>(_ address: IPAddress, port: UInt16, _ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        let bytes = address.bytes
        if address.family == .ipv4 {
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_port = port.bigEndian
            withUnsafeMutableBytes(of: &sin.sin_addr) { $0.copyBytes(from: bytes) }
            return withUnsafePointer(to: &sin) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        }
        var sin6 = sockaddr_in6()
        sin6.sin6_family = sa_family_t(AF_INET6)
        sin6.sin6_port = port.bigEndian
        withUnsafeMutableBytes(of: &sin6.sin6_addr) { $0.copyBytes(from: bytes) }
        return withUnsafePointer(to: &sin6) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
        }
    }
}

/// A socket address built once by `IPSocketAddress.with`, for a destination every send goes to
/// (the heartbeat's peer on a path): no `sockaddr` is built per packet.
public struct PreparedSocketAddress: @unchecked Sendable {
    private let storage: sockaddr_storage
    /// The length of the `sockaddr_in` or `sockaddr_in6` inside.
    public let length: socklen_t
    /// The address it was built from, for error messages.
    public let address: IPAddress
    public let port: UInt16

    public init(_ address: IPAddress, port: UInt16) {
        var storage = sockaddr_storage()
        length = IPSocketAddress.with(address, port: port) { pointer, length in
            withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: UnsafeRawBufferPointer(start: pointer, count: Int(length))) }
            return length
        }
        self.storage = storage
        self.address = address
        self.port = port
    }

    /// Calls `body` with the address as `sendto` takes it.
    public func with<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        withUnsafePointer(to: storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, length) } }
    }
}
