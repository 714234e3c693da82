import CEpoll
import Glibc
import NIOCore
import Synchronization
import TandemCore
import TandemKernel

/// Plain TCP connect checks (no send, no expect) without a NIO channel: the commonest check,
/// run thousands of times a second.
///
/// Why: a NIO `ClientBootstrap` connect builds a channel, a pipeline, handler contexts and a
/// chain of futures, and makes extra system calls (getsockname, getpeername, epoll modify);
/// at 5,000 checks a second that cost about 80 µs of CPU per check on the development host,
/// against about 1 µs here (see integration/bench/README.md, health checks). Every other check
/// (send/expect, agent, HTTP, TLS, UDP) still goes through swift-nio.
///
/// How (system calls through `Posix`'s inlinable wrappers): a non-blocking socket, `connect`, and the socket added (EPOLLOUT, one-shot) to an epoll
/// set owned by this poller. The set is read without blocking at each tick of the loop's
/// coarse timers (5 ms) while connects are in flight, so a verdict comes at most one tick
/// after the kernel's. A connected socket is closed with a reset (SO_LINGER 0) like the NIO
/// checks. At the check's timeout the prober fails the promise and this closes the socket.
///
/// Every method runs on `loop` (hence `@unchecked Sendable`). Each registration carries a
/// tag, so an event for a socket already closed (whose descriptor number was reused) is ignored.
final class ConnectPoller: @unchecked Sendable {
    private struct Pending {
        var tag: UInt32
        var promise: EventLoopPromise<ProbeResult>
    }

    private static let batch = 256

    private let loop: any EventLoop
    private let timers: CoarseTimers
    private let epollDescriptor: Int32
    private let events: UnsafeMutablePointer<epoll_event>
    private var pending: [Int32: Pending] = [:]
    private var nextTag: UInt32 = 0
    private var pollScheduled = false

    /// nil when the kernel refuses an epoll set (descriptor limit): the caller uses NIO instead.
    init?(loop: any EventLoop, timers: CoarseTimers) {
        guard let descriptor = try? Posix.epollCreate(object: "TCP health checks") else { return nil }
        self.loop = loop
        self.timers = timers
        epollDescriptor = descriptor
        events = .allocate(capacity: Self.batch)
    }

    deinit {
        Posix.close(epollDescriptor)
        events.deallocate()
    }

    /// Connects to `address`:`port`; completes `promise` when connected or refused. The promise's
    /// timeout (set by the caller) ends a connect that never completes. Callable from any thread.
    func connect(to address: IPAddress, port: UInt16, promise: EventLoopPromise<ProbeResult>) {
        guard loop.inEventLoop else {
            loop.execute { [self] in connect(to: address, port: port, promise: promise) }
            return
        }
        let family = address.family == .ipv4 ? AF_INET : AF_INET6
        let fd: Int32
        do {
            fd = try Posix.socket(family: family, type: Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue),
                                  object: "a TCP health check")
        } catch {
            promise.succeed(.failure("connect failed: cannot open a socket: \(errnoText(error.errno))"))
            return
        }
        do {
            if try Posix.connect(fd, to: address, port: port) == .connected {
                Self.closeWithReset(fd)
                promise.succeed(.success("connected"))
                return
            }
        } catch {
            Posix.close(fd)
            promise.succeed(.failure("connect failed: \(errnoText(error.errno))"))
            return
        }
        nextTag &+= 1
        let tag = nextTag
        do {
            try Posix.epollAdd(epollDescriptor, fd, events: EPOLLOUT.rawValue | EPOLLONESHOT.rawValue,
                               data: UInt64(tag) << 32 | UInt64(UInt32(bitPattern: fd)), object: "a TCP health check")
        } catch {
            Posix.close(fd)
            promise.succeed(.failure("connect failed: cannot watch the socket: \(errnoText(error.errno))"))
            return
        }
        pending[fd] = Pending(tag: tag, promise: promise)
        // A verdict from `poll` removes the entry first; this closes a connect still in flight
        // when the promise is completed by the timeout.
        promise.futureResult.whenComplete { [self] _ in abandon(fd, tag: tag) }
        schedulePoll()
    }

    /// Connects in flight (for tests).
    var inFlight: Int { pending.count }

    private func abandon(_ fd: Int32, tag: UInt32) {
        guard pending[fd]?.tag == tag else { return }
        pending[fd] = nil
        Posix.close(fd)  // also leaves the epoll set
    }

    private func schedulePoll() {
        guard !pollScheduled else { return }
        pollScheduled = true
        timers.schedule(at: timers.now) { [self] in poll() }
    }

    private func poll() {
        pollScheduled = false
        while true {
            let ready: Int?
            do {
                ready = try Posix.epollWait(epollDescriptor, into: events, capacity: Int32(Self.batch), timeoutMilliseconds: 0,
                                            object: "TCP health checks")
            } catch {
                break
            }
            guard let n = ready else { continue }  // a signal: read again
            guard n > 0 else { break }
            for i in 0..<n { complete(events[i]) }
            if n < Self.batch { break }
        }
        if !pending.isEmpty { schedulePoll() }
    }

    private func complete(_ event: epoll_event) {
        let fd = Int32(bitPattern: UInt32(truncatingIfNeeded: event.data.u64))
        let tag = UInt32(truncatingIfNeeded: event.data.u64 >> 32)
        guard let entry = pending[fd], entry.tag == tag else { return }
        pending[fd] = nil
        let error: Int32
        do {
            error = try Posix.pendingSocketError(fd, object: "a TCP health check")
        } catch let failure {
            error = failure.errno
        }
        if error == 0 {
            Self.closeWithReset(fd)
            entry.promise.succeed(.success("connected"))
        } else {
            Posix.close(fd)
            entry.promise.succeed(.failure("connect failed: \(errnoText(error))"))
        }
    }

    /// Closes a connected socket with a reset, as the NIO checks do (no TIME_WAIT left behind).
    private static func closeWithReset(_ fd: Int32) {
        try? Posix.setOption(fd, level: SOL_SOCKET, name: SO_LINGER, to: linger(l_onoff: 1, l_linger: 0), object: "a TCP health check")
        Posix.close(fd)
    }
}

/// The `ConnectPoller` of each event loop a prober uses.
final class ConnectPollerRegistry: Sendable {
    private let pollers = Mutex<[ObjectIdentifier: ConnectPoller?]>([:])

    /// nil if this loop cannot have one (see `ConnectPoller.init`).
    func poller(for loop: any EventLoop, timers: CoarseTimerRegistry) -> ConnectPoller? {
        pollers.withLock { all in
            let id = ObjectIdentifier(loop)
            if let p = all[id] { return p }
            let p = ConnectPoller(loop: loop, timers: timers.timers(for: loop))
            all[id] = p
            return p
        }
    }
}

/// The C library's text for an errno value, lowercased ("connection refused").
func errnoText(_ code: Int32) -> String {
    String(cString: strerror(code)).lowercased()
}
