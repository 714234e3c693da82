import Dispatch
import Logging
import Synchronization
import TandemCore
import TandemKernel

/// Runs one notify command: no shell, the given environment added, stopped at the timeout.
public protocol NotifyRunner: Sendable {
    /// Runs `command` to completion (or until stopped at `timeout`) and says how it ended.
    func run(_ command: [String], environment: [String: String], timeout: TimeSpan) -> NotifyOutcome
}

/// How a notify command ended (and its first bytes of output).
public typealias NotifyOutcome = ChildOutcome

/// The live runner: `SpawnChildRunner` (the same runner as `exec` health checks). At the timeout
/// the command's process group gets SIGTERM, and SIGKILL `terminationGrace` later; up to 4 KiB
/// of its standard output and error are kept for the log line: the first 2 KiB and the last
/// 2 KiB (a failing script's error is at its end; trial 35).
public struct ProcessNotifyRunner: NotifyRunner {
    let runner: any ChildRunning
    let terminationGrace: TimeSpan

    /// From SIGTERM at the timeout to SIGKILL: 1 s.
    public static let defaultTerminationGrace = TimeSpan.seconds(1)

    public init(runner: any ChildRunning = SpawnChildRunner(), terminationGrace: TimeSpan = defaultTerminationGrace) {
        self.runner = runner
        self.terminationGrace = terminationGrace
    }

    public func run(_ command: [String], environment: [String: String], timeout: TimeSpan) -> NotifyOutcome {
        runner.run(ChildRequest(arguments: command, environment: environment, timeout: timeout,
                                terminationGrace: terminationGrace, outputLimit: 2048, outputTailLimit: 2048))
    }
}

/// Runs the configured notify command of each role change, one at a time and in order, on its
/// own queue so a slow command never delays a heartbeat or an IPVS change. Keeps the
/// `NotifyLedger` that status shows.
public final class Notifier: Sendable {
    private let queue = DispatchQueue(label: "tandem.notify")
    private let runner: any NotifyRunner
    private let nodeName: String
    private let logger: Logger
    private let clock: any TandemClock
    private let ledger = Mutex(NotifyLedger())
    /// Hears each command's end: its role and whether it succeeded (the metrics).
    private let onFinished: @Sendable (Role, Bool) -> Void
    /// Hears each command skipped because a newer role change came before it started.
    private let onSkipped: @Sendable (Role) -> Void

    public init(runner: any NotifyRunner, nodeName: String, logger: Logger, clock: any TandemClock = MonotonicClock(),
                onFinished: @escaping @Sendable (Role, Bool) -> Void = { _, _ in },
                onSkipped: @escaping @Sendable (Role) -> Void = { _ in }) {
        self.runner = runner
        self.nodeName = nodeName
        self.logger = logger
        self.clock = clock
        self.onFinished = onFinished
        self.onSkipped = onSkipped
    }

    /// The notify section of the status (any thread).
    public func status() -> StatusReport.Notify? {
        let now = clock.now()
        return ledger.withLock { $0.status(at: now, iso8601: { ControlTime.iso8601(nanosecondsSinceEpoch: $0) }) }
    }

    /// The command `settings` names for `role`, if any (`stopping` runs `stop`).
    public static func command(for role: Role, in settings: NotifySettings) -> [String]? {
        switch role {
        case .active: return settings.active
        case .standby: return settings.standby
        case .fault: return settings.fault
        // A node in maintenance serves nothing, as a standby: without a command of its own it
        // runs the standby's (TANDEM_ROLE still says maintenance), so a service started for the
        // active stops there too (pulse's "fos" services; keepalived has no maintenance).
        case .maintenance: return settings.maintenance ?? settings.standby
        case .stopping: return settings.stop
        case .starting: return nil
        }
    }

    /// Queues the notification of `role` (TANDEM_ROLE, TANDEM_REASON, TANDEM_NODE in the
    /// environment). Commands run one at a time, in order; a role change's command that has not
    /// started when a newer role change comes is skipped (logged), so a slow or hung command
    /// never leaves a backlog of stale roles to run after the node has moved on.
    public func notify(_ role: Role, reason: String, settings: NotifySettings) {
        let environment = ["TANDEM_ROLE": role.description, "TANDEM_REASON": reason, "TANDEM_NODE": nodeName]
        let pending = Notifier.command(for: role, in: settings).map {
            NotifyLedger.Pending(role: role, command: $0, environment: environment, timeout: settings.timeout)
        }
        if let superseded = ledger.withLock({ $0.queue(pending) }) {
            let becoming = role == .stopping ? "the node is stopping" : "the node became \(role)"
            logger.notice("notify \(superseded.role.notifyKey): \(superseded.command.joined(separator: " ")) skipped: \(becoming) before it started")
            onSkipped(superseded.role)
        }
        if pending != nil { queue.async { [self] in runNext() } }
    }

    /// On the notify queue: runs the waiting command, if it was not taken by an earlier call.
    private func runNext() {
        guard let next = ledger.withLock({ $0.startNext(at: clock.now(), wall: clock.wallNanoseconds()) }) else { return }
        let outcome = runner.run(next.command, environment: next.environment, timeout: next.timeout)
        let output = outcome.outputLine().map { "; output: \($0)" } ?? ""
        let line = "notify \(next.role.notifyKey): \(next.command.joined(separator: " ")) \(outcome)\(output)"
        if outcome.succeeded { logger.info("\(line)") } else { logger.warning("\(line)") }
        ledger.withLock {
            $0.finish(succeeded: outcome.succeeded, outcome: "\(outcome)\(output)", at: clock.now(), wall: clock.wallNanoseconds())
        }
        onFinished(next.role, outcome.succeeded)
    }

    /// The commands not ended now and the longest they may still take (`NotifyLedger.outstanding`),
    /// `grace` being the runner's wait from SIGTERM to SIGKILL; nil when none (any thread).
    public func outstanding(grace: TimeSpan = ProcessNotifyRunner.defaultTerminationGrace) -> NotifyLedger.Outstanding? {
        let now = clock.now()
        return ledger.withLock { $0.outstanding(at: now, grace: grace) }
    }

    /// Waits until every queued notification has finished (tests, shutdown).
    public func drain() { queue.sync {} }
}
