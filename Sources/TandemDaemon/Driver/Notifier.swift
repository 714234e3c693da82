import Dispatch
import Foundation
import Logging
import TandemCore

/// Runs one notify command: no shell, the given environment added, killed at the timeout.
public protocol NotifyRunner: Sendable {
    /// Runs `command` to completion (or until killed at `timeout`) and says how it ended.
    func run(_ command: [String], environment: [String: String], timeout: TimeSpan) -> NotifyOutcome
}

/// How a notify command ended.
public enum NotifyOutcome: Sendable, Hashable, CustomStringConvertible {
    case exited(Int32)
    case killedAtTimeout
    case failedToStart(String)

    public var description: String {
        switch self {
        case .exited(let status): return "exited with status \(status)"
        case .killedAtTimeout: return "killed (SIGKILL) at the notify timeout"
        case .failedToStart(let why): return "could not start: \(why)"
        }
    }
}

/// The live runner: `Process` (posix_spawn underneath), SIGKILL at the timeout.
public struct ProcessNotifyRunner: NotifyRunner {
    public init() {}

    public func run(_ command: [String], environment: [String: String], timeout: TimeSpan) -> NotifyOutcome {
        guard let program = command.first else { return .failedToStart("empty command") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = Array(command.dropFirst())
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        process.standardInput = FileHandle.nullDevice
        let done = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in done.signal() }
        do {
            try process.run()
        } catch {
            return .failedToStart("\(program): \(error.localizedDescription)")
        }
        if done.wait(timeout: .now() + .milliseconds(Int(clamping: timeout.milliseconds))) == .timedOut {
            kill(process.processIdentifier, SIGKILL)
            done.wait()
            return .killedAtTimeout
        }
        return .exited(process.terminationStatus)
    }
}

/// Runs the configured notify command of each role change, one at a time and in order, on its
/// own queue so a slow command never delays a heartbeat or an IPVS change.
public final class Notifier: Sendable {
    private let queue = DispatchQueue(label: "tandem.notify")
    private let runner: any NotifyRunner
    private let nodeName: String
    private let logger: Logger

    public init(runner: any NotifyRunner, nodeName: String, logger: Logger) {
        self.runner = runner
        self.nodeName = nodeName
        self.logger = logger
    }

    /// The command `settings` names for `role`, if any (`stopping` runs `stop`).
    public static func command(for role: Role, in settings: NotifySettings) -> [String]? {
        switch role {
        case .active: return settings.active
        case .standby: return settings.standby
        case .fault: return settings.fault
        case .maintenance: return settings.maintenance
        case .stopping: return settings.stop
        case .starting: return nil
        }
    }

    /// Queues the notification of `role` (TANDEM_ROLE, TANDEM_REASON, TANDEM_NODE in the environment).
    public func notify(_ role: Role, reason: String, settings: NotifySettings) {
        guard let command = Notifier.command(for: role, in: settings) else { return }
        let environment = ["TANDEM_ROLE": role.description, "TANDEM_REASON": reason, "TANDEM_NODE": nodeName]
        queue.async { [runner, logger] in
            let outcome = runner.run(command, environment: environment, timeout: settings.timeout)
            let line = "notify \(role): \(command.joined(separator: " ")) \(outcome)"
            if case .exited(0) = outcome { logger.info("\(line)") } else { logger.warning("\(line)") }
        }
    }

    /// Waits until every queued notification has finished (tests, shutdown).
    public func drain() { queue.sync {} }
}
