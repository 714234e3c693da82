import CNetlink
import Glibc
import Synchronization
import TandemCore

/// The live `RouteMonitor`: a thread that sleeps in poll() on an rtnetlink socket subscribed to
/// RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR and RTNLGRP_IPV6_IFADDR, and on a pipe used to stop it.
///
/// Event-driven: the kernel's state is read only at start and after a receive overrun (ENOBUFS),
/// when notifications were lost and guessing would be wrong; then links and addresses are dumped
/// on a second socket and `RouteWatch.resynchronise` reports what changed. The subscription is
/// made before the first dump, so nothing falls between them. A change is Tandem's own when the
/// notification's `nlmsg_pid` is one of `ownPorts` (the command socket of `LiveAddressTable`).
public final class LiveRouteMonitor: RouteMonitor {
    /// State shared between the monitor thread and callers.
    final class Shared: Sendable {
        let watch: Mutex<RouteWatch>
        let handler: @Sendable (RouteWatchEvent) -> Void
        let onError: @Sendable (KernelError) -> Void
        init(watch: RouteWatch, handler: @escaping @Sendable (RouteWatchEvent) -> Void,
             onError: @escaping @Sendable (KernelError) -> Void) {
            self.watch = Mutex(watch)
            self.handler = handler
            self.onError = onError
        }
    }

    /// Owned by the monitor thread alone.
    final class Loop {
        let events: RouteSocket
        let dumps: RouteSocket
        let shared: Shared
        /// Read end of the stop pipe.
        let stopDescriptor: Int32

        init(events: RouteSocket, dumps: RouteSocket, shared: Shared, stopDescriptor: Int32) {
            self.events = events
            self.dumps = dumps
            self.shared = shared
            self.stopDescriptor = stopDescriptor
        }

        func resynchronise(afterOverrun: Bool) -> [RouteWatchEvent] {
            do {
                let links = try dumps.dumpLinks()
                let addresses = try dumps.dumpAddresses()
                return shared.watch.withLock { $0.resynchronise(links: links, addresses: addresses, afterOverrun: afterOverrun) }
            } catch {
                shared.onError(error)
                return afterOverrun ? [.overrun] : []
            }
        }

        deinit { Posix.close(stopDescriptor) }

        /// Events found by the initial dump, delivered first by the thread.
        var initialEvents: [RouteWatchEvent] = []

        func run() {
            initialEvents.forEach(shared.handler)
            var consecutiveErrors = 0
            while consecutiveErrors < 100 {
                var fds = [pollfd(fd: events.fileDescriptor, events: Int16(POLLIN), revents: 0),
                           pollfd(fd: stopDescriptor, events: Int16(POLLIN), revents: 0)]
                do {
                    // nil: a signal interrupted the wait; look again.
                    guard try Posix.poll(&fds, timeoutMilliseconds: -1, object: "link monitor") != nil else { continue }
                } catch {
                    shared.onError(KernelError(error, operation: "poll"))
                    consecutiveErrors += 1
                    continue
                }
                if fds[1].revents != 0 { return }
                if fds[0].revents == 0 { continue }
                var out: [RouteWatchEvent] = []
                do {
                    switch try events.receiveAvailable() {
                    case .notifications(let ns):
                        out = shared.watch.withLock { w in ns.flatMap { w.apply($0) } }
                    case .overrun(let ns):
                        out = shared.watch.withLock { w in ns.flatMap { w.apply($0) } }
                        out += resynchronise(afterOverrun: true)
                    }
                    consecutiveErrors = 0
                } catch {
                    shared.onError(error)
                    consecutiveErrors += 1
                    out = resynchronise(afterOverrun: true)
                }
                out.forEach(shared.handler)
            }
        }
    }

    private let shared: Shared
    /// Write end of the stop pipe; the thread polls the read end (and closes it when it ends).
    private let stopDescriptor: Int32
    private let thread: Mutex<pthread_t?>

    /// Subscribes, reads the initial state and starts the monitor thread. Events are delivered
    /// on that thread: keep `handler` short.
    ///
    /// - Parameters:
    ///   - interfaces: links whose up/down transitions to report (VIP interfaces are added).
    ///   - vips: VIPs whose removal (and re-appearance) to report.
    ///   - ownPorts: netlink ports of Tandem's command sockets (`AddressTable.ownPorts`).
    ///   - watchedAddresses: addresses whose coming and going is reported as `.hostChanged`
    ///     (this node's heartbeat addresses).
    ///   - receiveBufferBytes: receive buffer of the event socket; nil keeps libnl's default.
    public init(interfaces: Set<String>, vips: [VirtualIP], ownPorts: Set<UInt32>, watchedAddresses: Set<IPAddress> = [],
                receiveBufferBytes: Int32? = nil,
                onError: @escaping @Sendable (KernelError) -> Void = { _ in },
                handler: @escaping @Sendable (RouteWatchEvent) -> Void) throws(KernelError) {
        let events = try RouteSocket(purpose: "link and address monitor")
        try events.subscribe(groups: [RTNLGRP_LINK.rawValue, RTNLGRP_IPV4_IFADDR.rawValue, RTNLGRP_IPV6_IFADDR.rawValue],
                             receiveBufferBytes: receiveBufferBytes)
        let dumps = try RouteSocket(purpose: "link and address monitor dumps")
        let ends: (read: Int32, write: Int32)
        do {
            ends = try Posix.pipe(object: "link monitor")
        } catch {
            throw KernelError(error, operation: "create stop pipe")
        }
        let fd = ends.read
        stopDescriptor = ends.write
        shared = Shared(watch: RouteWatch(interfaces: interfaces, vips: vips, ownPorts: ownPorts,
                                          watchedAddresses: watchedAddresses),
                        handler: handler, onError: onError)
        let loop = Loop(events: events, dumps: dumps, shared: shared, stopDescriptor: fd)
        // The first dump happens here, before init returns, so a claim made right after cannot
        // land in the dump and have its notification dismissed as old news.
        loop.initialEvents = loop.resynchronise(afterOverrun: false)
        let context = Unmanaged.passRetained(loop).toOpaque()
        var tid = pthread_t()
        let rc = pthread_create(&tid, nil, { arg in
            let loop = Unmanaged<Loop>.fromOpaque(arg!).takeRetainedValue()
            loop.run()
            return nil
        }, context)
        if rc != 0 {
            Unmanaged<Loop>.fromOpaque(context).release()
            Posix.close(ends.read)
            Posix.close(ends.write)
            throw KernelError(operation: "start monitor thread", object: "link monitor", errno: rc)
        }
        thread = Mutex(tid)
    }

    deinit {
        stop()
        Posix.close(stopDescriptor)
    }

    public func track(_ vip: VirtualIP, present: Bool) {
        shared.watch.withLock { $0.track(vip, present: present) }
    }

    public func untrack(_ vip: VirtualIP) {
        shared.watch.withLock { $0.untrack(vip) }
    }

    public func expect(_ vip: VirtualIP, present: Bool) {
        shared.watch.withLock { $0.expect(vip, present: present) }
    }

    public func cancelExpectation(_ vip: VirtualIP) {
        shared.watch.withLock { $0.cancelExpectation(vip) }
    }

    /// Wakes the thread through the stop pipe and joins it.
    public func stop() {
        guard let tid = thread.withLock({ t -> pthread_t? in defer { t = nil }; return t }) else { return }
        _ = try? Posix.write(stopDescriptor, byte: 1, object: "link monitor stop pipe")
        pthread_join(tid, nil)
    }

    /// A snapshot of the monitor's knowledge (for status).
    public var state: RouteWatch { shared.watch.withLock { $0 } }
}
