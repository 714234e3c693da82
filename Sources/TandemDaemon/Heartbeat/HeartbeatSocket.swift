import CEpoll
import Glibc
import TandemCore
import TandemKernel

// The heartbeat transport's sockets, wake-up pipe and wait set. Their system calls go through
// `Posix` (TandemKernel's `System/Posix.swift`), which retries EINTR and names the operation,
// the object and the errno of a failure.


/// One UDP socket bound to this node's heartbeat address of one path (non-blocking).
final class HeartbeatSocket {
    let descriptor: Int32
    let local: IPAddress
    let port: UInt16

    /// Binds to `local`:`port`. `IP_FREEBIND` lets the daemon start before the address is up;
    /// DSCP CS6 (network control) marks the packets for priority queueing on the links.
    init(local: IPAddress, port: UInt16) throws(PosixError) {
        let endpoint = "\(local.bracketed):\(port)"
        let family = local.family == .ipv4 ? AF_INET : AF_INET6
        let fd: Int32
        do {
            fd = try Posix.socket(family: family, type: Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue),
                                  object: endpoint)
        } catch {
            throw error.with(operation: "open UDP socket for", hint: HeartbeatSocket.hint(error.errno))
        }
        descriptor = fd
        self.local = local
        self.port = port
        // Best effort, as before: a kernel without one of these options still carries heartbeats.
        let one: Int32 = 1
        let tos: Int32 = 0xC0
        if local.family == .ipv4 {
            try? Posix.setOption(fd, level: Int32(IPPROTO_IP), name: IP_FREEBIND, to: one, object: endpoint)
            try? Posix.setOption(fd, level: Int32(IPPROTO_IP), name: IP_TOS, to: tos, object: endpoint)
        } else {
            try? Posix.setOption(fd, level: Int32(IPPROTO_IPV6), name: HeartbeatSocket.ipv6FreeBind, to: one, object: endpoint)
            try? Posix.setOption(fd, level: Int32(IPPROTO_IPV6), name: IPV6_TCLASS, to: tos, object: endpoint)
            try? Posix.setOption(fd, level: Int32(IPPROTO_IPV6), name: IPV6_V6ONLY, to: one, object: endpoint)
        }
        do {
            try Posix.bind(fd, to: local, port: port)
        } catch {
            Posix.close(fd)
            throw error.with(operation: "bind heartbeat socket to", hint: HeartbeatSocket.hint(error.errno))
        }
    }

    /// The heartbeat's own advice for a failed socket or bind.
    static func hint(_ errno: Int32) -> String? {
        switch errno {
        case EADDRNOTAVAIL: return "is the heartbeat address configured on this host?"
        case EADDRINUSE: return "is another tandemd running, or another program using the heartbeat port?"
        case EACCES, EPERM: return "run tandemd as root (ports below 1024 and VIP changes need it)"
        default: return nil
        }
    }

    /// `IPV6_FREEBIND` (linux/in6.h; glibc's headers lack it).
    static let ipv6FreeBind: Int32 = 78

    deinit { Posix.close(descriptor) }

    /// Sends one datagram; returns the errno on failure (the caller counts it, never throws: a
    /// down link must not stop the other paths). A full socket buffer counts as EAGAIN.
    func send(_ bytes: [UInt8], to peer: PreparedSocketAddress) -> Int32? {
        do {
            return try Posix.send(descriptor, bytes, to: peer) == nil ? EAGAIN : nil
        } catch {
            return error.errno
        }
    }

    /// Reads one datagram if one is queued: (byte count, source socket address), nil when none is
    /// (or the receive failed: the loop reads again at the next wake-up). The source stays a
    /// `sockaddr_storage` (`Posix.ipAddress(of:)` turns it into an address): only a dropped
    /// packet's log line needs it, so an accepted heartbeat builds no address.
    func receive(into buffer: inout [UInt8]) -> (count: Int, source: sockaddr_storage)? {
        var storage = sockaddr_storage()
        // `try?` flattens: nil for nothing queued and for a failed receive alike.
        guard let n = try? Posix.receive(descriptor, into: &buffer, source: &storage, object: "heartbeat socket") else { return nil }
        return (min(n, buffer.count), storage)
    }
}

/// A pipe other threads write a byte to, to wake the heartbeat thread's poll.
final class WakeUpEvent: @unchecked Sendable {
    let descriptor: Int32
    private let writeEnd: Int32

    init() throws(PosixError) {
        let ends = try Posix.pipe(nonBlockingRead: true, nonBlockingWrite: true, object: "heartbeat wake-up pipe")
        descriptor = ends.read
        writeEnd = ends.write
    }

    deinit {
        Posix.close(descriptor)
        Posix.close(writeEnd)
    }

    /// Wakes the poll (a full pipe already means "awake": the write may fail harmlessly).
    func signal() {
        _ = try? Posix.write(writeEnd, byte: 1, object: "heartbeat wake-up pipe")
    }

    func drain() {
        while true {
            guard let n = try? Posix.read(descriptor, into: &drainBuffer, object: "heartbeat wake-up pipe"), n > 0 else { return }
        }
    }

    /// `drain`'s buffer (the heartbeat thread's only).
    private var drainBuffer = [UInt8](repeating: 0, count: 64)
}

/// The heartbeat thread's wait: one epoll set over the path sockets and the wake-up pipe, made
/// once, so a wake-up costs one system call and says which descriptors are ready (a socket that
/// is not ready is not read: no receive that would only say EAGAIN). Waits with nanosecond
/// timeouts (`epoll_pwait2`, Linux 5.11; on an older kernel `epoll_wait`, whose timeout is
/// rounded up to whole milliseconds). Heartbeat thread only.
final class HeartbeatWaitSet {
    private let set: Int32
    private let events: UnsafeMutablePointer<epoll_event>
    private let count: Int
    private var nanosecondWait = true
    /// Whether each descriptor (in the order given to `init`) was ready at the last `wait`:
    /// readable, or an error to collect by reading.
    private(set) var ready: [Bool]

    init(descriptors: [Int32]) throws(PosixError) {
        set = try Posix.epollCreate(object: "heartbeat sockets")
        count = descriptors.count
        events = .allocate(capacity: max(count, 1))
        ready = Array(repeating: false, count: count)
        do {
            for (index, fd) in descriptors.enumerated() {
                try Posix.epollAdd(set, fd, events: UInt32(EPOLLIN.rawValue), data: UInt64(index), object: "heartbeat sockets")
            }
        } catch {
            Posix.close(set)
            events.deallocate()
            throw error
        }
    }

    deinit {
        Posix.close(set)
        events.deallocate()
    }

    /// Waits until a descriptor is ready or `timeoutNanoseconds` pass (0: just looks), then sets
    /// `ready`. A signal or an error returns early with nothing ready (the caller re-checks).
    func wait(timeoutNanoseconds: UInt64) {
        for index in 0..<count { ready[index] = false }
        var n: Int?
        if nanosecondWait {
            var timeout = timespec(tv_sec: Int(timeoutNanoseconds / 1_000_000_000), tv_nsec: Int(timeoutNanoseconds % 1_000_000_000))
            let rc = epoll_pwait2(set, events, Int32(count), &timeout, nil)
            if rc >= 0 { n = Int(rc) } else if Glibc.errno == ENOSYS || Glibc.errno == EPERM { nanosecondWait = false }
        }
        if !nanosecondWait {
            let milliseconds = Int32(clamping: (timeoutNanoseconds + 999_999) / 1_000_000)
            n = (try? Posix.epollWait(set, into: events, capacity: Int32(count), timeoutMilliseconds: milliseconds,
                                      object: "heartbeat sockets")) ?? nil
        }
        for event in UnsafeBufferPointer(start: events, count: n ?? 0) {
            let index = Int(event.data.u64)
            if index < count { ready[index] = true }
        }
    }
}

/// Puts the calling thread under SCHED_FIFO at `priority`; returns the errno on failure.
func makeCurrentThreadRealtime(priority: Int) -> Int32? {
    var parameters = sched_param()
    parameters.sched_priority = Int32(priority)
    let rc = pthread_setschedparam(pthread_self(), SCHED_FIFO, &parameters)
    return rc == 0 ? nil : rc
}
