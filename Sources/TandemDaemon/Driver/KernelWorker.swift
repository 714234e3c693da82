import Dispatch
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import Synchronization
import TandemCore
import TandemKernel

/// Carries out the node's slow kernel work off the heartbeat thread, in order, on one serial
/// queue: IPVS reconciles (start-up adoption, takeover, release, reload, health, drains,
/// periodic drift repair) to the table `IPVSIntent` makes of the config in force and the inputs
/// `NodeState` owns and sends (`IPVSInputs`), the connection-sync daemon's role, and then the
/// notify command. It decides nothing of its own: the table is `IPVSIntent`'s, the writes
/// `IPVSPlanner`'s, the sync daemon's `SyncDaemonPlan`'s.
///
/// The sync daemon follows the settled role (master while active, backup otherwise) and the
/// config in force: a reload with other `sync:` parameters restarts it with them, a reload
/// without `sync:` stops the daemons the previous config ran, and the periodic repair restarts
/// one stopped or changed behind Tandem's back. The comparison follows the kernel's own
/// defaults and clamping (`SyncDaemonPlan`), so a backup's raised maxlen is not a difference.
///
/// IPVS is touched only when the config asks for it (virtual servers, sync or timeouts, now or
/// in a config replaced by a reload): a VIP-only pair never opens the IPVS family, so it runs on
/// kernels without IPVS. When the config asks for IPVS and the kernel has none, the error is
/// logged once and every later reconcile (the periodic one included) tries again quietly;
/// VIP failover is unaffected.
///
/// Thread-safety: every stored property below `queue` is touched only on `queue`, except
/// `reader`, touched only on `readQueue`.
public final class KernelWorker: @unchecked Sendable {
    private let queue = DispatchQueue(label: "tandem.kernel")
    /// Reads for the control socket (`currentListing`); `reader` is touched only here.
    private let readQueue = DispatchQueue(label: "tandem.kernel.read")
    private var reader: (any IPVSKernel)?
    private let makeKernel: @Sendable () throws -> any IPVSKernel
    /// Times the reconciles (metrics).
    private let clock: any TandemClock
    private let notifier: Notifier
    private let logger: Logger
    private let events: EventHub?
    /// Hears of every reconcile that reached the kernel, on the worker's queue (the metrics).
    private let onReconcile: (@Sendable (IPVSReconcileOutcome) -> Void)?

    private var config: Config
    private var kernel: (any IPVSKernel)?
    private var lastOpenError: String? { didSet { openProblem.withLock { $0 = lastOpenError } } }
    /// `lastOpenError` for other threads (a reload's report).
    private let openProblem = Mutex<String?>(nil)
    /// Entries named by configs replaced by a reload, until a reconcile has removed them.
    private var formerlyOwned = IPVSOwnership.nothing
    /// What `NodeState` last asked the table to follow (holding the VIPs, health, drains).
    private var inputs = IPVSInputs()
    /// Whether the last reconcile left the kernel table equal to the desired one.
    private var inSync = false
    /// The last settled role: which sync daemon runs (nil until the role first settles).
    private var syncRole: Role?
    /// A config replaced by a reload had `sync:`: its daemons are still to be stopped.
    private var syncFormerlyManaged = false
    /// The MTU of an interface in bytes (a backup's default maxlen follows it), nil when unknown.
    private let interfaceMTU: @Sendable (String) -> Int?
    /// Sync-daemon starts and stops made so far (tests, status).
    public private(set) var syncDaemonWrites: UInt64 = 0
    /// The last failed sync-daemon write, logged once until the outcome changes (the periodic
    /// repair retries it every period).
    private var lastSyncFailures: [String] = []
    /// A daemon Tandem started and the kernel reported otherwise than `SyncDaemonRules`
    /// predicts: (what was asked, what the kernel reported), taken as matching from then on.
    private var syncStartedAs: (desired: IPVSSyncDaemon, reported: IPVSSyncDaemon)?
    /// Cluster mode: the sync daemon runs as master and as backup at once, whatever the role.
    private var syncBothRoles = false
    /// After writes, dump the table again and count it as verified only when it matches (a
    /// cluster director announces only a verified table, `RouteAnnouncement` rule 3).
    private let verifiesWrites: Bool

    public init(config: Config, notifier: Notifier, logger: Logger, events: EventHub? = nil,
                interfaceMTU: @escaping @Sendable (String) -> Int? = KernelWorker.sysfsMTU,
                onReconcile: (@Sendable (IPVSReconcileOutcome) -> Void)? = nil, clock: any TandemClock = MonotonicClock(),
                verifiesWrites: Bool = false, makeKernel: @escaping @Sendable () throws -> any IPVSKernel) {
        self.clock = clock
        self.verifiesWrites = verifiesWrites
        self.config = config
        self.onReconcile = onReconcile
        self.interfaceMTU = interfaceMTU
        self.notifier = notifier
        self.logger = logger
        self.events = events
        self.makeKernel = makeKernel
    }

    /// The MTU of `interface` from /sys/class/net/INTERFACE/mtu, nil when it cannot be read.
    public static let sysfsMTU: @Sendable (String) -> Int? = { interface in
        guard !interface.isEmpty, !interface.contains("/"),
              let text = try? String(contentsOfFile: "/sys/class/net/\(interface)/mtu", encoding: .utf8) else { return nil }
        return Int(text.trimmingWhitespaceAndNewlines())
    }


    /// Whether a claim should wait for the IPVS install before announcing (cold standby).
    public func installsOnClaim(_ config: Config) -> Bool {
        config.standbyTable == .cold && !config.virtualServers.isEmpty
    }

    // MARK: - Requests (return at once; the work is queued)

    /// `NodeState` asks for the table that these inputs and the config in force make
    /// (`IPVSIntent`). A warm standby's release changes nothing in it, so it is not even read.
    /// Each one is reported, in order, through `onReconciled`.
    public func reconcile(_ inputs: IPVSInputs, reason: IPVSReconcileReason) {
        queue.async {
            self.inputs = inputs
            var succeeded = true
            if reason != .released || self.config.standbyTable == .cold {
                succeeded = self.reconcile(reason: reason == .released ? "released the VIPs (cold standby)" : reason.rawValue)
            }
            self.reported.withLock { $0 }?(reason, succeeded)
        }
    }

    /// Where each `reconcile(_:reason:)` is reported when done (the daemon posts it to
    /// `NodeState`); set before the heartbeat thread starts.
    public var onReconciled: (@Sendable (IPVSReconcileReason, Bool) -> Void)? {
        get { reported.withLock { $0 } }
        set { reported.withLock { $0 = newValue } }
    }
    private let reported = Mutex<(@Sendable (IPVSReconcileReason, Bool) -> Void)?>(nil)

    /// Hears the table's state after every reconcile, the periodic one included, on the worker's
    /// queue: nil when the kernel's table is the desired one (and, with `verifiesWrites`, a dump
    /// after the writes matched it), else why not: the kernel's error, the changes refused.
    public var onTableState: (@Sendable (String?) -> Void)? {
        get { tableState.withLock { $0 } }
        set { tableState.withLock { $0 = newValue } }
    }
    private let tableState = Mutex<(@Sendable (String?) -> Void)?>(nil)

    /// Cluster mode: run the sync daemon as master and as backup from now on (the config's
    /// `sync:` parameters in both), so every director sends its connections and receives the
    /// others' (issue 19). Repaired by the periodic check like a pair's.
    public func runSyncDaemonsInBothRoles() {
        queue.async {
            self.syncBothRoles = true
            self.reconcileSync(reason: "cluster director")
        }
    }

    /// The role has settled: move the sync daemon, then run the notify command.
    public func roleSettled(_ role: Role, reason: String) {
        queue.async {
            self.syncRole = role
            self.reconcileSync(reason: "role \(role)")
            self.notifier.notify(role, reason: reason, settings: self.config.notify)
        }
    }

    /// Why the IPVS table cannot be opened (this kernel has no IPVS, say), as the last attempt
    /// found; nil when it opened or was not needed yet. Any thread.
    public var ipvsUnavailable: String? { openProblem.withLock { $0 } }

    /// A reload replaced the config.
    public func configChanged(_ new: Config) {
        queue.async {
            self.formerlyOwned = self.formerlyOwned.union(IPVSOwnership(self.config.namedIPVSEntries))
            if self.config.sync != nil { self.syncFormerlyManaged = true }
            self.config = new
            self.reconcile(reason: "config reloaded")
            self.reconcileSync(reason: "config reloaded")
        }
    }

    /// The kernel's table with counters, read after all work queued so far; nil when this
    /// config needs no IPVS or the table cannot be read.
    public func listing() async -> IPVSListing? {
        await withCheckedContinuation { (continuation: CheckedContinuation<IPVSListing?, Never>) in
            queue.async {
                guard IPVSIntent.needsIPVS(self.config), let kernel = self.openKernel() else {
                    continuation.resume(returning: nil)
                    return
                }
                continuation.resume(returning: try? kernel.dump())
            }
        }
    }

    /// The kernel's table with counters now, read on an IPVS connection of its own (on a queue
    /// of its own), so `tandemctl status` and `show ipvs` never wait behind a long reconcile
    /// (10,000 services) on the worker queue; a table being changed reads as it stands. nil when
    /// `config` needs no IPVS or the table cannot be read (the connection is reopened next time).
    public func currentListing(for config: Config) async -> IPVSListing? {
        guard IPVSIntent.needsIPVS(config) else { return nil }
        return await withCheckedContinuation { (continuation: CheckedContinuation<IPVSListing?, Never>) in
            readQueue.async {
                if self.reader == nil { self.reader = try? self.makeKernel() }
                guard let reader = self.reader else {
                    continuation.resume(returning: nil)
                    return
                }
                do {
                    continuation.resume(returning: try reader.dump())
                } catch {
                    self.reader = nil
                    continuation.resume(returning: nil)
                }
            }
        }
    }

    /// Periodic drift repair (and retry when IPVS was unavailable).
    public func periodicCheck() {
        queue.async {
            self.reconcile(reason: "periodic check", quiet: true)
            self.reconcileSync(reason: "periodic check")
        }
    }

    /// Runs `body` after all work queued so far (tests).
    public func afterPendingWork(_ body: @escaping @Sendable () -> Void) { queue.async(execute: body) }

    /// Waits until the work queued so far here is done (not the notify commands it queued).
    public func finishQueuedWork() { queue.sync {} }

    /// Waits until all queued work is done (tests, shutdown).
    public func drain() {
        queue.sync {}
        notifier.drain()
    }

    // MARK: - Work (on `queue`)

    private func openKernel() -> (any IPVSKernel)? {
        if let kernel { return kernel }
        do {
            let opened = try makeKernel()
            if lastOpenError != nil { logger.notice("IPVS is reachable again") }
            lastOpenError = nil
            kernel = opened
            return opened
        } catch {
            let text = "\(error)"
            if text != lastOpenError {
                logger.error("\(text): virtual servers are not installed; VIP failover continues; retrying every 30s")
                lastOpenError = text
            }
            return nil
        }
    }

    /// Whether the kernel's table is the desired one afterwards (true when this config needs no
    /// IPVS); reports the table's state to `onTableState`.
    @discardableResult
    private func reconcile(reason: String, quiet: Bool = false) -> Bool {
        let (ok, problem) = reconcileTable(reason: reason, quiet: quiet)
        tableState.withLock { $0 }?(problem)
        return ok
    }

    /// Whether the kernel's table is the desired one afterwards, and if not, why.
    private func reconcileTable(reason: String, quiet: Bool) -> (Bool, String?) {
        guard IPVSIntent.needsIPVS(config, formerlyOwned: formerlyOwned) else { return (true, nil) }
        guard let kernel = openKernel() else {
            inSync = false
            return (false, "IPVS cannot be opened: \(lastOpenError ?? "unknown error")")
        }
        let intent = IPVSIntent(config: config, holdingVIPs: inputs.holdingVIPs, down: inputs.down, weights: inputs.weights,
                                drained: inputs.drained, formerlyOwned: formerlyOwned)
        let (desired, owned) = (intent.desired, intent.owned)
        var outcome = IPVSReconcileOutcome(periodic: quiet)
        let started = clock.now()
        defer {
            outcome.duration = .nanoseconds(Int64(clamping: clock.now().nanoseconds(since: started)))
            onReconcile?(outcome)
        }
        do {
            if let wanted = config.ipvsTimeouts {
                let current = try kernel.timeouts()
                let target = IPVSTimeoutSettings(tcp: UInt32(wanted.tcp.milliseconds / 1000),
                                                 tcpFin: UInt32(wanted.tcpFin.milliseconds / 1000),
                                                 udp: UInt32(wanted.udp.milliseconds / 1000))
                if current != target { try kernel.setTimeouts(target) }
            }
            let observed = try kernel.dump().table
            let changes = IPVSPlanner.plan(desired: desired, observed: observed, owned: owned)
            if changes.isEmpty {
                if !quiet { logger.info("ipvs \(reason): table matches (\(desired.entries.count) services), no writes") }
                inSync = true
                formerlyOwned = .nothing
                return (true, nil)
            }
            let results = try kernel.apply(changes)
            let failed = results.filter { !$0.succeeded }
            outcome.applied = results.filter(\.succeeded).map(\.change)
            outcome.errors = failed.map { $0.error?.errnoName ?? "other" }
            logger.notice("ipvs \(reason): \(IPVSPlanSummary(changes)) (\(changes.count - failed.count)/\(changes.count) applied)")
            for failure in failed {
                logger.error("ipvs change failed: \(failure)")
                events?.publish(.kernel, "ipvs \(reason): \(failure)")
            }
            inSync = failed.isEmpty
            if inSync { formerlyOwned = .nothing }
            guard inSync else {
                return (false, "\(failed.count) of \(changes.count) change(s) refused, first: \(failed[0])")
            }
            if verifiesWrites {
                let left = IPVSPlanner.plan(desired: desired, observed: try kernel.dump().table, owned: owned)
                if !left.isEmpty {
                    inSync = false
                    return (false, "the table still differs after the writes: \(IPVSPlanSummary(left))")
                }
            }
            return (true, nil)
        } catch {
            logger.error("ipvs \(reason): \(error)")
            events?.publish(.kernel, "ipvs \(reason): \(error)")
            outcome.errors.append((error as? KernelError)?.errnoName ?? "other")
            outcome.failed = true
            inSync = false
            self.kernel = nil
            return (false, "\(error)")
        }
    }

    /// Reads back a daemon just started; when the kernel reports it otherwise than predicted,
    /// says so once and takes the report as the daemon asked for (no restart loop).
    private func noteStarted(_ daemon: IPVSSyncDaemon, on kernel: any IPVSKernel, mtu: Int?) {
        guard let reported = (try? kernel.syncDaemons())?.first(where: { $0.role == daemon.role }) else { return }
        let predicted = SyncDaemonRules.effective(daemon, interfaceMTU: mtu)
        if SyncDaemonRules.matches(predicted, observed: reported) {
            syncStartedAs = nil
        } else {
            logger.warning("sync daemon: the kernel runs \(IPVSSyncDaemon.listing([reported]).dropLast()) where \(IPVSSyncDaemon.listing([predicted]).dropLast()) was expected; taken as the configured daemon")
            syncStartedAs = (daemon, reported)
        }
    }

    /// Brings the kernel's sync daemons to what the config and the settled role ask for.
    private func reconcileSync(reason: String) {
        // Each kernel role to run, and whether the plan sees only that role's daemon (both roles
        // at once) or every daemon (one role: the other role's daemon is stopped).
        let roles: [IPVSSyncDaemon.Role]
        if syncBothRoles {
            roles = [.master, .backup]
        } else if let role = syncRole {
            roles = [SyncDaemonPlan.kernelRole(for: role)]
        } else {
            return
        }
        let managed = config.sync != nil || syncFormerlyManaged
        guard managed, let kernel = openKernel() else { return }
        var planned: [(action: SyncDaemonPlan.Action, mtu: Int?)] = []
        do {
            let running = try kernel.syncDaemons()
            for kernelRole in roles {
                let desired = config.sync?.daemon(role: kernelRole)
                let mtu = desired.flatMap { interfaceMTU($0.interface) }
                planned += SyncDaemonPlan.actions(desired: desired, managed: managed,
                                                  running: syncBothRoles ? running.filter { $0.role == kernelRole } : running,
                                                  interfaceMTU: mtu,
                                                  startedAs: syncStartedAs.flatMap { $0.desired == desired ? $0.reported : nil })
                    .map { ($0, mtu) }
            }
        } catch {
            logger.error("sync daemon (\(reason)): cannot read the kernel's sync daemons: \(error)")
            return
        }
        let actions = planned.map(\.action)
        var failures: [String] = []
        for (action, mtu) in planned {
            syncDaemonWrites += 1
            do {
                switch action {
                case .stop(let daemon): try kernel.stopSyncDaemon(daemon.role)
                case .start(let daemon):
                    try kernel.startSyncDaemon(daemon)
                    noteStarted(daemon, on: kernel, mtu: mtu)
                }
                logger.notice("sync daemon (\(reason)): \(action)")
            } catch {
                let text = "\(action) failed: \(error)"
                failures.append(text)
                if !lastSyncFailures.contains(text) {
                    logger.error("sync daemon (\(reason)): \(text)")
                    events?.publish(.kernel, "sync daemon (\(reason)): \(text)")
                }
            }
        }
        if failures.isEmpty && !lastSyncFailures.isEmpty && !actions.isEmpty { logger.notice("sync daemon (\(reason)): repaired") }
        lastSyncFailures = failures
        if config.sync == nil && failures.isEmpty { syncFormerlyManaged = false }
    }
}
