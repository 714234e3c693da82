import Glibc
import Synchronization
import TandemKernel

/// Signals that arrive before the daemon's own handlers are installed.
///
/// Until `ServiceGroup` traps SIGTERM/SIGINT and `SignalService` traps SIGHUP/SIGUSR1, each of
/// these has its default action, which is to terminate the process: a SIGTERM from an init system
/// during start-up killed tandemd by signal, and so did a SIGHUP (reload) or SIGUSR1 (status)
/// sent a few milliseconds too early. `install()`, called first thing in `main`, records them
/// instead; the services that take over each signal collect the record once their own handler
/// is in place (`take`), so none is lost or fatal in between:
/// - SIGTERM/SIGINT: `HeartbeatService` stops before the election starts (exit 0, no role taken);
/// - SIGHUP: `SignalService` reloads once; SIGUSR1: it logs a status line.
public enum StartupSignals {
    static let recorded = Atomic<UInt32>(0)
    static let watched: [Int32] = [SIGTERM, SIGINT, SIGHUP, SIGUSR1]

    /// Installs the recording handler for SIGTERM, SIGINT, SIGHUP and SIGUSR1 (not for a signal
    /// that is ignored already, as under `nohup`).
    public static func install() {
        _ = recorded.load(ordering: .relaxed)  // initialise the global before any handler can run
        for signal in watched where !Posix.isIgnored(signal) {
            // sigaction fails only for an invalid signal number: these are all valid.
            try? Posix.setHandler(for: signal, flags: SA_RESTART) { signo in
                StartupSignals.recorded.bitwiseOr(UInt32(1) << UInt32(signo), ordering: .relaxed)
            }
        }
    }

    /// Whether `signal` arrived since `install()` (or the last `take` of it); clears the record.
    public static func take(_ signal: Int32) -> Bool {
        let bit = UInt32(1) << UInt32(signal)
        return recorded.bitwiseAnd(~bit, ordering: .relaxed).oldValue & bit != 0
    }
}
