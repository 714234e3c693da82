import Dispatch
import Logging
import Synchronization
import Testing
import TandemCore
import TandemKernel
@testable import TandemDaemon
import TandemTesting

/// `tandemctl status` and `show ipvs` read the IPVS table on a connection and queue of their
/// own: a long reconcile holding the worker queue does not hold them up.
@Suite struct KernelWorkerReadTests {
    @Test func theControlReadDoesNotWaitBehindQueuedWork() async throws {
        let config = try ConfigParser.parse(yaml: ipvsYAML())
        let logger = Logger(label: "test")
        let worker = KernelWorker(config: config, notifier: Notifier(runner: RecordingNotifyRunner(log: OrderLog()), nodeName: "a", logger: logger),
                                  logger: logger, makeKernel: { InMemoryIPVSKernel(config.desiredIPVSTable(down: [], weights: [:])) })
        // Work on the worker queue that lasts until released (at most 60 s, so a regression fails
        // instead of hanging). Not shorter: on a loaded two-core host with the other suites running
        // in parallel, the read's continuation has waited more than 5 s for a thread to resume on.
        let blocked = Mutex(true)
        let release = DispatchSemaphore(value: 0)
        worker.afterPendingWork {
            _ = release.wait(timeout: .now() + 60)
            blocked.withLock { $0 = false }
        }
        let listing = await worker.currentListing(for: config)
        #expect(blocked.withLock { $0 }, "the read waited for the worker queue")
        #expect(listing?.services.map(\.destinations.count) == [2])
        release.signal()
        worker.drain()
        // A config without IPVS reads nothing (and opens nothing).
        let vipOnly = try ConfigParser.parse(yaml: ipvsYAML().components(separatedBy: "virtual_servers:")[0] + "standby_table: warm\n")
        #expect(await worker.currentListing(for: vipOnly) == nil)
    }
}
