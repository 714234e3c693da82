import Synchronization
import TandemCore

/// A `RouteMonitor` for tests: notifications are injected by hand and go through the same
/// `RouteWatch` logic as the live monitor's.
public final class FakeRouteMonitor: RouteMonitor {
    private let watch: Mutex<RouteWatch>
    private let stopped = Mutex(false)
    private let handler: @Sendable (RouteWatchEvent) -> Void

    public init(interfaces: Set<String>, vips: [VirtualIP], ownPorts: Set<UInt32>, watchedAddresses: Set<IPAddress> = [],
                handler: @escaping @Sendable (RouteWatchEvent) -> Void) {
        watch = Mutex(RouteWatch(interfaces: interfaces, vips: vips, ownPorts: ownPorts, watchedAddresses: watchedAddresses))
        self.handler = handler
    }

    /// Feeds one notification, as if the kernel had sent it.
    public func inject(_ notification: RouteNotification) {
        guard !stopped.withLock({ $0 }) else { return }
        let events = watch.withLock { $0.apply(notification) }
        events.forEach(handler)
    }

    public func track(_ vip: VirtualIP, present: Bool) { watch.withLock { $0.track(vip, present: present) } }
    public func untrack(_ vip: VirtualIP) { watch.withLock { $0.untrack(vip) } }
    public func expect(_ vip: VirtualIP, present: Bool) { watch.withLock { $0.expect(vip, present: present) } }
    public func cancelExpectation(_ vip: VirtualIP) { watch.withLock { $0.cancelExpectation(vip) } }
    public func stop() { stopped.withLock { $0 = true } }
}
