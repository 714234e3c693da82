import Glibc
import TandemCore
import TandemKernel

// Every system call of the heartbeat transport lives in this file: the UDP socket, the wake-up
// pipe, poll and the scheduler (the clocks and the socket addresses are TandemKernel's,
// `System/`). Each is wrapped once, EINTR is retried here, and failures become
// `HeartbeatSocketError` naming the operation, the object and the errno.

/// A failed system call of the heartbeat transport.
public struct HeartbeatSocketError: Error, Sendable, Hashable, CustomStringConvertible {
    public var operation: String
    public var object: String
    public var errno: Int32

    public var description: String {
        let text = String(cString: strerror(errno))
        var hint = ""
        switch errno {
        case EADDRNOTAVAIL: hint = ": is the heartbeat address configured on this host?"
        case EADDRINUSE: hint = ": is another tandemd running, or another program using the heartbeat port?"
        case EACCES, EPERM: hint = ": run tandemd as root (ports below 1024 and VIP changes need it)"
        default: break
        }
        return "\(operation) \(object): \(text) (errno \(errno))\(hint)"
    }
}

/// One UDP socket bound to this node's heartbeat address of one path (non-blocking).
final class HeartbeatSocket {
    let descriptor: Int32
    let local: IPAddress
    let port: UInt16

    /// Binds to `local`:`port`. `IP_FREEBIND` lets the daemon start before the address is up;
    /// DSCP CS6 (network control) marks the packets for priority queueing on the links.
    init(local: IPAddress, port: UInt16) throws(HeartbeatSocketError) {
        let family = local.family == .ipv4 ? AF_INET : AF_INET6
        let fd = socket(family, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw HeartbeatSocketError(operation: "open UDP socket for", object: "\(local.bracketed):\(port)", errno: Glibc.errno) }
        descriptor = fd
        self.local = local
        self.port = port
        var one: Int32 = 1
        var tos: Int32 = 0xC0
        if local.family == .ipv4 {
            _ = setsockopt(fd, Int32(IPPROTO_IP), IP_FREEBIND, &one, socklen_t(MemoryLayout<Int32>.size))
            _ = setsockopt(fd, Int32(IPPROTO_IP), IP_TOS, &tos, socklen_t(MemoryLayout<Int32>.size))
        } else {
            _ = setsockopt(fd, Int32(IPPROTO_IPV6), HeartbeatSocket.ipv6FreeBind, &one, socklen_t(MemoryLayout<Int32>.size))
            _ = setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_TCLASS, &tos, socklen_t(MemoryLayout<Int32>.size))
            _ = setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, socklen_t(MemoryLayout<Int32>.size))
        }
        let rc = IPSocketAddress.with(local, port: port) { bind(fd, $0, $1) }
        if rc < 0 {
            let code = Glibc.errno
            close(fd)
            throw HeartbeatSocketError(operation: "bind heartbeat socket to", object: "\(local.bracketed):\(port)", errno: code)
        }
    }

    /// `IPV6_FREEBIND` (linux/in6.h; glibc's headers lack it).
    static let ipv6FreeBind: Int32 = 78

    deinit { close(descriptor) }

    /// Sends one datagram; returns the errno on failure (the caller counts it, never throws: a
    /// down link must not stop the other paths).
    func send(_ bytes: [UInt8], to peer: IPAddress) -> Int32? {
        while true {
            let rc = bytes.withUnsafeBytes { buffer in
                IPSocketAddress.with(peer, port: port) { address, length in
                    sendto(descriptor, buffer.baseAddress, buffer.count, 0, address, length)
                }
            }
            if rc >= 0 { return nil }
            if Glibc.errno == EINTR { continue }
            return Glibc.errno
        }
    }

    /// Reads one datagram if one is queued: (bytes, source address), nil when none is.
    func receive(into buffer: inout [UInt8]) -> (count: Int, source: IPAddress?)? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        while true {
            let n = buffer.withUnsafeMutableBytes { raw in
                withUnsafeMutablePointer(to: &storage) { s in
                    s.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(descriptor, raw.baseAddress, raw.count, 0, $0, &length) }
                }
            }
            if n >= 0 { return (min(n, buffer.count), HeartbeatSocket.address(of: storage)) }
            if Glibc.errno == EINTR { continue }
            return nil
        }
    }

    static func address(of storage: sockaddr_storage) -> IPAddress? {
        let family = Int32(storage.ss_family)
        return withUnsafeBytes(of: storage) { raw -> IPAddress? in
            switch family {
            case AF_INET:
                let sin = raw.load(as: sockaddr_in.self)
                return withUnsafeBytes(of: sin.sin_addr) { IPAddress(bytes: Array($0), family: .ipv4) }
            case AF_INET6:
                let sin6 = raw.load(as: sockaddr_in6.self)
                return withUnsafeBytes(of: sin6.sin6_addr) { IPAddress(bytes: Array($0), family: .ipv6) }
            default:
                return nil
            }
        }
    }
}

/// A pipe other threads write a byte to, to wake the heartbeat thread's poll.
final class WakeUpEvent: @unchecked Sendable {
    let descriptor: Int32
    private let writeEnd: Int32

    init() throws(HeartbeatSocketError) {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { throw HeartbeatSocketError(operation: "create", object: "heartbeat wake-up pipe", errno: Glibc.errno) }
        for end in ends {
            _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK)
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
        }
        descriptor = ends[0]
        writeEnd = ends[1]
    }

    deinit {
        close(descriptor)
        close(writeEnd)
    }

    /// Wakes the poll (a full pipe already means "awake": the write may fail harmlessly).
    func signal() {
        var byte: UInt8 = 1
        _ = write(writeEnd, &byte, 1)
    }

    func drain() {
        var bytes = [UInt8](repeating: 0, count: 64)
        while read(descriptor, &bytes, bytes.count) > 0 {}
    }
}

/// Waits until one of `descriptors` is readable or `timeoutNanoseconds` pass (rounded up to
/// whole milliseconds: at most 1 ms late); a signal or an error just returns early (the caller
/// re-checks everything).
func waitReadable(_ descriptors: [Int32], timeoutNanoseconds: UInt64) {
    var fds = descriptors.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
    let milliseconds = Int32(clamping: (timeoutNanoseconds + 999_999) / 1_000_000)
    _ = poll(&fds, nfds_t(fds.count), milliseconds)
}

/// Puts the calling thread under SCHED_FIFO at `priority`; returns the errno on failure.
func makeCurrentThreadRealtime(priority: Int) -> Int32? {
    var parameters = sched_param()
    parameters.sched_priority = Int32(priority)
    let rc = pthread_setschedparam(pthread_self(), SCHED_FIFO, &parameters)
    return rc == 0 ? nil : rc
}
