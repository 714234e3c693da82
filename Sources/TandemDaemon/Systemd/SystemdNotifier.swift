#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc
import TandemCore
import TandemKernel

/// One message of systemd's readiness protocol (sd_notify(3)): newline-separated `VAR=value`
/// lines sent as one datagram.
public enum ServiceManagerMessage: Sendable, Hashable {
    /// Start-up or a reload finished (`READY=1`), with the status line to show.
    case ready(status: String)
    /// A status line for `systemctl status` (`STATUS=`), one line of UTF-8.
    case status(String)
    /// A reload began (`RELOADING=1` with `MONOTONIC_USEC=`, which managers with
    /// `Type=notify-reload` need and older ones ignore); `ready` must follow.
    case reloading(monotonicMicroseconds: UInt64)
    /// Shutdown began (`STOPPING=1`), with the status line to show.
    case stopping(status: String)
    /// Keep-alive for `WatchdogSec=` (`WATCHDOG=1`).
    case watchdog
    /// More time for the current start, run or stop (`EXTEND_TIMEOUT_USEC=`, systemd 236+,
    /// sd_notify(3)): the unit is not timed out within `microseconds` of this message, even past
    /// `TimeoutStopSec=`; it must be sent again before then. With the status line to show.
    case extendTimeout(microseconds: UInt64, status: String)

    /// The datagram's text. Status lines lose any newline (one line each, sd_notify(3)).
    public var datagram: String {
        func line(_ s: String) -> String { s.replacingScalar("\n", with: " ") }
        switch self {
        case .ready(let status): return "READY=1\nSTATUS=\(line(status))"
        case .status(let status): return "STATUS=\(line(status))"
        case .reloading(let usec): return "RELOADING=1\nMONOTONIC_USEC=\(usec)"
        case .stopping(let status): return "STOPPING=1\nSTATUS=\(line(status))"
        case .watchdog: return "WATCHDOG=1"
        case .extendTimeout(let usec, let status): return "EXTEND_TIMEOUT_USEC=\(usec)\nSTATUS=\(line(status))"
        }
    }
}

/// Where `ServiceManagerMessage`s go: systemd's notify socket, or a recording fake in tests.
public protocol ServiceManagerNotifying: Sendable {
    /// Sends one message; failures are not the caller's concern (systemd may be gone at stop).
    func send(_ message: ServiceManagerMessage)
    /// How often the watchdog wants `WATCHDOG=1`, nil when it is off.
    var watchdogInterval: TimeSpan? { get }
}

/// Nothing to notify: tandemd started outside systemd (no `$NOTIFY_SOCKET`).
public struct NoServiceManager: ServiceManagerNotifying {
    public init() {}
    public func send(_ message: ServiceManagerMessage) {}
    public var watchdogInterval: TimeSpan? { nil }
}

/// sd_notify without libsystemd: an `AF_UNIX` datagram socket connected once to
/// `$NOTIFY_SOCKET` (a path, or `@name` for an abstract name, whose address length then counts
/// every byte: systemd man/notify-selfcontained-example.c). `send` is one `send(2)` on that
/// socket and allocates nothing for `watchdog`, so the heartbeat thread can ping from its loop.
///
/// Creating it unsets `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` in this process, so
/// notify commands and health checks it starts do not talk to systemd as if they were tandemd
/// (what keepalived does too; sd_notify(3) `unset_environment`).
public final class SystemdNotifier: ServiceManagerNotifying {
    private let descriptor: Int32
    public let watchdogInterval: TimeSpan?
    private let watchdogDatagram: [UInt8] = Array(ServiceManagerMessage.watchdog.datagram.utf8)

    /// Nil when `environment` has no usable `NOTIFY_SOCKET` (not started by systemd, or a
    /// `vsock:` address this build does not speak); throws the errno when the socket cannot be
    /// opened or connected.
    public init?(environment: [String: String] = ProcessInfo.processInfo.environment,
                 pid: Int32 = getpid(), unsetEnvironment: Bool = true) throws(PosixError) {
        guard let address = environment["NOTIFY_SOCKET"], address.hasPrefix("/") || address.hasPrefix("@") else {
            return nil
        }
        watchdogInterval = SystemdNotifier.watchdogInterval(environment: environment, pid: pid)
        do {
            descriptor = try Posix.connectUnixSocket(path: address, type: Int32(SOCK_DGRAM.rawValue))
        } catch {
            throw error.with(operation: "connect to systemd's notify socket",
                             hint: "readiness, status and the watchdog are not reported")
        }
        if unsetEnvironment {
            for name in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"] { unsetenv(name) }
        }
    }

    deinit { Posix.close(descriptor) }

    public func send(_ message: ServiceManagerMessage) {
        if message == .watchdog {
            _ = try? Posix.send(descriptor, watchdogDatagram, object: "systemd's notify socket")
            return
        }
        let bytes = Array(message.datagram.utf8)
        _ = try? Posix.send(descriptor, bytes, object: "systemd's notify socket")
    }

    /// Half of `$WATCHDOG_USEC` (sd_watchdog_enabled(3): ping at half the timeout), when the
    /// watchdog is on for this process: `$WATCHDOG_PID` unset or equal to `pid`. At least 1 ms.
    public static func watchdogInterval(environment: [String: String], pid: Int32) -> TimeSpan? {
        guard let text = environment["WATCHDOG_USEC"], let usec = UInt64(text), usec > 0 else { return nil }
        if let owner = environment["WATCHDOG_PID"], Int32(owner) != pid { return nil }
        return .milliseconds(max(1, usec / 2 / 1000))
    }
}
