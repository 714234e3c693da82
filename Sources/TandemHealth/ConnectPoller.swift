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
/// checks. Writable without EPOLLERR or EPOLLHUP means connected (no SO_ERROR read); otherwise
/// SO_ERROR says why not.
///
/// Results go straight to the caller's completion, no promise or future. The timeouts are the
/// poller's own: one FIFO of deadlines per distinct timeout (a deadline is the start plus the
/// timeout, so each FIFO is in deadline order), read at the same ticks: a check that finished
/// costs its FIFO entry nothing but being skipped, and a connect that completes at once arms
/// nothing. A timeout that fires late gives `NIOHealthProber.timedOut(after:late:)`.
///
/// Every method runs on `loop` (hence `@unchecked Sendable`). Each registration carries a
/// tag, so an event or deadline for a socket already closed (whose descriptor number was reused)
/// is ignored.
final class ConnectPoller: @unchecked Sendable {
    typealias Completion = @Sendable (ProbeResult) -> Void

    private struct Pending {
        var tag: UInt32
        var timeout: TimeSpan
        var completion: Completion
    }

    /// One in-flight connect's deadline, in its timeout's FIFO.
    private struct Expiry {
        var deadline: UInt64
        var fd: Int32
        var tag: UInt32
    }

    /// The deadlines of the connects with one timeout, oldest first.
    private struct TimeoutQueue {
        let timeout: TimeSpan
        var entries: [Expiry] = []
        var head = 0

        init(timeout: TimeSpan) { self.timeout = timeout }

        mutating func append(_ expiry: Expiry) {
            // Drop the consumed prefix once it is half the storage (amortized O(1)).
            if head > 64 && head * 2 > entries.count {
                entries.removeFirst(head)
                head = 0
            }
            entries.append(expiry)
        }

        /// Removes and returns the oldest entry if its deadline has passed at `now`.
        mutating func popExpired(now: UInt64) -> Expiry? {
            guard head < entries.count, entries[head].deadline <= now else { return nil }
            let expiry = entries[head]
            head += 1
            if head == entries.count {
                entries.removeAll(keepingCapacity: true)
                head = 0
            }
            return expiry
        }
    }

    private static let batch = 256

    private let loop: any EventLoop
    private let timers: CoarseTimers
    private let epollDescriptor: Int32
    private let events: UnsafeMutablePointer<epoll_event>
    /// By descriptor number (small and dense: an array, not a hash table).
    private var pending: [Pending?] = []
    private var pendingCount = 0
    private var timeouts: [TimeoutQueue] = []
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

    /// Connects to `address`:`port`; calls `completion` once, on the loop: connected, refused,
    /// or timed out `timeout` after this call (then the socket is closed). Callable from any
    /// thread; on the loop a connect that ends at once completes before this returns.
    func connect(to address: IPAddress, port: UInt16, timeout: TimeSpan, completion: @escaping Completion) {
        guard loop.inEventLoop else {
            loop.execute { [self] in connect(to: address, port: port, timeout: timeout, completion: completion) }
            return
        }
        let deadline = timers.now.uptimeNanoseconds + timeout.milliseconds * 1_000_000
        let family = address.family == .ipv4 ? AF_INET : AF_INET6
        let fd: Int32
        do {
            fd = try Posix.socket(family: family, type: Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue),
                                  object: "a TCP health check")
        } catch {
            completion(.failure("connect failed: cannot open a socket: \(errnoText(error.errno))"))
            return
        }
        do {
            if try Posix.connect(fd, to: address, port: port) == .connected {
                Self.closeWithReset(fd)
                completion(.success("connected"))
                return
            }
        } catch {
            Posix.close(fd)
            completion(.failure("connect failed: \(errnoText(error.errno))"))
            return
        }
        nextTag &+= 1
        let tag = nextTag
        do {
            try Posix.epollAdd(epollDescriptor, fd, events: EPOLLOUT.rawValue | EPOLLONESHOT.rawValue,
                               data: UInt64(tag) << 32 | UInt64(UInt32(bitPattern: fd)), object: "a TCP health check")
        } catch {
            Posix.close(fd)
            completion(.failure("connect failed: cannot watch the socket: \(errnoText(error.errno))"))
            return
        }
        let index = Int(fd)
        if index >= pending.count { pending += repeatElement(nil, count: max(index + 1 - pending.count, pending.count)) }
        pending[index] = Pending(tag: tag, timeout: timeout, completion: completion)
        pendingCount += 1
        let expiry = Expiry(deadline: deadline, fd: fd, tag: tag)
        if let q = timeouts.firstIndex(where: { $0.timeout == timeout }) {
            timeouts[q].append(expiry)
        } else {
            var queue = TimeoutQueue(timeout: timeout)
            queue.append(expiry)
            timeouts.append(queue)
        }
        schedulePoll()
    }

    /// Connects in flight (for tests).
    var inFlight: Int { pendingCount }

    /// Takes the pending entry of `fd` if it is still the registration `tag`.
    private func take(_ fd: Int32, tag: UInt32) -> Pending? {
        let index = Int(fd)
        guard index < pending.count, let entry = pending[index], entry.tag == tag else { return nil }
        pending[index] = nil
        pendingCount -= 1
        return entry
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
        expire()
        if pendingCount > 0 { schedulePoll() }
    }

    /// Ends the connects whose timeout has passed (after the ready ones: a verdict the kernel
    /// already gave wins over a timeout due in the same tick).
    private func expire() {
        let now = timers.now
        for q in timeouts.indices {
            while let expiry = timeouts[q].popExpired(now: now.uptimeNanoseconds) {
                guard let entry = take(expiry.fd, tag: expiry.tag) else { continue }
                Posix.close(expiry.fd)  // also leaves the epoll set
                entry.completion(NIOHealthProber.timedOut(after: entry.timeout, late: now - .uptimeNanoseconds(expiry.deadline)))
            }
        }
    }

    private func complete(_ event: epoll_event) {
        let fd = Int32(bitPattern: UInt32(truncatingIfNeeded: event.data.u64))
        let tag = UInt32(truncatingIfNeeded: event.data.u64 >> 32)
        guard let entry = take(fd, tag: tag) else { return }
        let error: Int32
        if event.events & (EPOLLERR.rawValue | EPOLLHUP.rawValue) == 0 {
            error = 0  // writable, no error: connected
        } else {
            do {
                error = try Posix.pendingSocketError(fd, object: "a TCP health check")
            } catch let failure {
                error = failure.errno
            }
        }
        if error == 0 {
            Self.closeWithReset(fd)
            entry.completion(.success("connected"))
        } else {
            Posix.close(fd)
            entry.completion(.failure("connect failed: \(errnoText(error))"))
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
