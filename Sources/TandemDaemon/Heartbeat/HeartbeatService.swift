import Glibc
import Logging
import ServiceLifecycle
import Synchronization
import TandemKernel
import UnixSignals

/// The heartbeat/election loop as a `Service`: starts its thread, and on graceful shutdown
/// (SIGTERM) asks the election to stop — an active hands over, make-before-break — and waits
/// for it. A second SIGTERM or SIGINT during the stop, or the stop timeout, releases at once.
public final class HeartbeatService: Service {
    public let loop: HeartbeatLoop

    /// Called once when the graceful stop begins, before the handover (systemd's STOPPING=1).
    private let onStop: @Sendable () -> Void

    init(loop: HeartbeatLoop, onStop: @escaping @Sendable () -> Void = {}) {
        self.loop = loop
        self.onStop = onStop
    }

    public func run() async throws {
        // The group traps SIGTERM/SIGINT before any service runs: one that came earlier (during
        // start-up, recorded by StartupSignals) stops the daemon before the election takes a role.
        if StartupSignals.take(SIGTERM) || StartupSignals.take(SIGINT) {
            loop.logStartupStop()
            return
        }
        try loop.start()
        let loop = self.loop
        let secondSignal = LockedBox<Task<Void, Never>?>(nil)
        await withGracefulShutdownHandler {
            await loop.waitUntilFinished()
        } onGracefulShutdown: { [onStop] in
            onStop()
            loop.post(.stop)
            let task = Task {
                for await signal in await UnixSignalsSequence(trapping: .sigterm, .sigint) {
                    loop.post(.forceStop("second stop signal (\(signal))"))
                    break
                }
            }
            secondSignal.withLock { $0 = task }
        }
        secondSignal.withLock { $0?.cancel() }
    }
}

/// SIGHUP reloads the config; SIGUSR1 logs a status line.
public struct SignalService: Service {
    let onReload: @Sendable () async -> Void
    let onStatus: @Sendable () -> Void

    public func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup, .sigusr1)
        // Now trapped: act on any that arrived during start-up (StartupSignals).
        if StartupSignals.take(SIGHUP) { await onReload() }
        if StartupSignals.take(SIGUSR1) { onStatus() }
        for await signal in signals.cancelOnGracefulShutdown() {
            if signal == .sighup { await onReload() } else { onStatus() }
        }
    }
}

/// Every 30 s: IPVS drift repair (and the retry when IPVS was unavailable).
public struct PeriodicReconcileService: Service {
    let worker: KernelWorker
    let period: Duration

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: period)
                worker.periodicCheck()
            }
        }
    }
}

/// Gives back the code pages start-up touched (`ResidentCode.release`): once the daemon has
/// settled (`settle` after start), then every `period`, so code a reload or a failover ran is
/// not counted in VmRSS for good either (issue 16: idle memory).
public struct ResidentCodeService: Service {
    let settle: Duration
    let period: Duration

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            try await Task.sleep(for: settle)
            while !Task.isCancelled {
                ResidentCode.release()
                try await Task.sleep(for: period)
            }
        }
    }
}
