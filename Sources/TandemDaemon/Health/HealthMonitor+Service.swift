import ServiceLifecycle
import TandemHealth

extension HealthMonitor: Service {
    /// Runs in tandemd's `ServiceGroup`: checks run on the monitor's own event loops from
    /// `apply(targets:)` on; this waits for graceful shutdown (or cancellation) and then stops every
    /// check and finishes `updates`.
    public func run() async throws {
        defer { stop() }
        try await gracefulShutdown()
    }
}
