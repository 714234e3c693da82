import Logging
import TandemCore

extension Daemon {
    /// The `/metrics` endpoint of `config.metrics` (a server that only waits for shutdown when
    /// `listen` is empty). Each scrape reads `center.statusSources()`, the call `tandemctl status`
    /// is answered from, so both show the same numbers, then appends the event-driven families
    /// of `events.registry` (reconciles, health checks).
    static func makeMetricsServer(config: Config, center: ControlCenter, replication: ReplicationService,
                                  sent: HeartbeatSendCounters, events: MetricsEvents, logger: Logger) -> MetricsServer {
        MetricsServer(listen: config.metrics.listen, vips: Set(config.virtualIPs.map(\.prefix.address)), logger: logger, render: {
            let sources = await center.statusSources()
            return MetricsExposition.render(MetricsSnapshot(
                status: sources.report, roleChangedAtNanoseconds: sources.loop.roleChangedAt, config: sources.config,
                listing: sources.listing, heartbeats: sources.loop.counters, heartbeatsSent: sent.perPath, replication: replication.status(),
                events: events.counts, process: ProcessStatistics.current()), events: events)
        })
    }
}
