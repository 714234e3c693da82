import Logging
import TandemCore

extension Daemon {
    /// The `/metrics` endpoint of `config.metrics` (a server that only waits for shutdown when
    /// `listen` is empty). Each scrape reads `center.statusSources()`, the call `tandemctl status`
    /// is answered from, so both show the same numbers, then appends the event-driven families
    /// of `events.registry` (reconciles, health checks). The endpoints it has not bound go to
    /// `state`, which status reads; the other nodes' addresses are theirs (`MetricsListenPolicy`).
    static func makeMetricsServer(config: Config, nodeName: String, state: MetricsListenState, center: ControlCenter,
                                  replication: ReplicationService, sent: HeartbeatSendCounters, events: MetricsEvents,
                                  logger: Logger) -> MetricsServer {
        MetricsServer(listen: config.metrics.listen, vips: Set(config.virtualIPs.map(\.prefix.address)),
                      otherNodes: config.nodes.filter { $0.name != nodeName }, state: state, logger: logger, render: {
            let sources = await center.statusSources()
            return MetricsExposition.render(MetricsSnapshot(
                status: sources.report, roleChangedAtNanoseconds: sources.loop.roleChangedAt, config: sources.config,
                listing: sources.listing, heartbeats: sources.loop.counters, heartbeatsSent: sent.perPath, replication: replication.status(),
                events: events.counts, process: ProcessStatistics.current()), events: events)
        })
    }
}
