import TandemCore

/// The outcome of one change sent to the kernel: nil error when it was applied.
public struct IPVSChangeResult: Sendable, Hashable, CustomStringConvertible {
    public var change: IPVSChange
    public var error: KernelError?

    public init(change: IPVSChange, error: KernelError? = nil) {
        self.change = change
        self.error = error
    }

    public var succeeded: Bool { error == nil }

    public var description: String {
        if let error { return "\(change): \(error)" }
        return "\(change): ok"
    }
}

/// The kernel's IPVS table and sync daemons, as daemon and command code use them. The live
/// implementation talks generic netlink (`LiveIPVSKernel`); `InMemoryIPVSKernel` (in
/// `TandemTesting`) behaves like the kernel for tests.
///
/// Methods throw for failures of the whole request (IPVS missing, no permission, a broken
/// socket); `apply` reports each change's own failure in its result so that one rejected change
/// never stops the others.
public protocol IPVSKernel: AnyObject {
    /// Version and connection-table size.
    func info() throws -> IPVSInfo
    /// Every service with its real servers, counters and connection numbers, plus the version
    /// and connection-table size; `.table` is the part the planner compares.
    func dump() throws -> IPVSListing
    /// Applies `changes` in order; one result per change, in the same order.
    func apply(_ changes: [IPVSChange]) throws -> [IPVSChangeResult]
    /// The TCP, TCP FIN and UDP connection timeouts.
    func timeouts() throws -> IPVSTimeoutSettings
    /// Sets the timeouts; a 0 leaves that one unchanged.
    func setTimeouts(_ timeouts: IPVSTimeoutSettings) throws
    /// The running sync daemons (at most one master and one backup).
    func syncDaemons() throws -> [IPVSSyncDaemon]
    func startSyncDaemon(_ daemon: IPVSSyncDaemon) throws
    func stopSyncDaemon(_ role: IPVSSyncDaemon.Role) throws
}
