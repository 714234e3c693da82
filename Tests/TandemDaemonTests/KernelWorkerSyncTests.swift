import Logging
import Testing
import TandemCore
import TandemKernel
@testable import TandemDaemon
import TandemTesting

/// The sync daemon follows reloads in both roles, stops when `sync:` is removed, is repaired by
/// the periodic check, and the kernel's clamping of a backup's maxlen causes no restarts.
@Suite struct KernelWorkerSyncTests {
    static func yaml(sync: String?) -> String {
        """
        serial: 1
        nodes: [{name: a, addresses: [10.0.0.1], priority: 100}, {name: b, addresses: [10.0.0.2], priority: 90}]
        heartbeat: {interval: 10ms, dead_time: 30ms, auth: none}
        virtual_ips: [{address: 10.0.0.10/24, interface: eth0}]

        """ + (sync.map { "sync: \($0)\n" } ?? "")
    }

    final class Rig {
        let log = OrderLog()
        let logLines = OrderLog()
        let ipvs = InMemoryIPVSKernel()
        let worker: KernelWorker

        init(sync: String?, mtu: Int = 1500) throws {
            ipvs.interfaces = ["eth0", "eth1"]
            let config = try ConfigParser.parse(yaml: KernelWorkerSyncTests.yaml(sync: sync))
            let lines = logLines
            let logger = Logger(label: "test") { _ in TandemLogHandler(label: "a", write: { lines.append($0) }) }
            let kernel = LoggingIPVSKernel(ipvs, log: log)
            worker = KernelWorker(config: config, notifier: Notifier(runner: RecordingNotifyRunner(log: log), nodeName: "a", logger: logger),
                                  logger: logger, interfaceMTU: { _ in mtu }, makeKernel: { kernel })
        }

        func reload(sync: String?) throws {
            worker.configChanged(try ConfigParser.parse(yaml: KernelWorkerSyncTests.yaml(sync: sync)))
        }

        /// The sync writes since the last call, after the queued work.
        func writes() -> [String] {
            worker.drain()
            defer { log.clear() }
            return log.all.filter { $0.hasPrefix("sync ") }
        }

        var listing: String { IPVSSyncDaemon.listing(ipvs.daemons) }
    }

    @Test func aReloadRestartsTheMasterWithTheNewParametersAndRemovingSyncStopsIt() throws {
        let rig = try Rig(sync: "{interface: eth0, sync_id: 1}")
        rig.worker.roleSettled(.active, reason: "test")
        #expect(rig.writes() == ["sync start master"])
        #expect(rig.listing == "master sync daemon (mcast=eth0, syncid=1, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n")

        try rig.reload(sync: "{interface: eth0, sync_id: 2, port: 8850, max_length: 512}")
        #expect(rig.writes() == ["sync stop master", "sync start master"])
        #expect(rig.listing == "master sync daemon (mcast=eth0, syncid=2, maxlen=512, group=224.0.0.81, port=8850, ttl=1)\n")

        rig.worker.periodicCheck()
        #expect(rig.writes().isEmpty)

        try rig.reload(sync: nil)
        #expect(rig.writes() == ["sync stop master"])
        #expect(rig.ipvs.daemons.isEmpty)
        // Later checks leave an operator's own daemon alone: Tandem no longer manages sync.
        try rig.ipvs.startSyncDaemon(IPVSSyncDaemon(role: .master, interface: "eth1", syncID: 9))
        rig.worker.periodicCheck()
        try rig.reload(sync: nil)
        #expect(rig.writes().isEmpty)
        #expect(rig.ipvs.daemons.map(\.syncID) == [9])
    }

    @Test func aBackupsClampedMaxlenCausesNoRestartLoop() throws {
        let rig = try Rig(sync: "{interface: eth0, sync_id: 1}")
        rig.worker.roleSettled(.standby, reason: "test")
        #expect(rig.writes() == ["sync start backup"])
        try rig.reload(sync: "{interface: eth0, sync_id: 1, max_length: 512}")
        #expect(rig.writes() == ["sync stop backup", "sync start backup"])
        #expect(rig.ipvs.daemons.map(\.maxLength) == [1024])      // the kernel raised it
        for _ in 0..<5 { rig.worker.periodicCheck() }
        #expect(rig.writes().isEmpty)
        // Becoming active: the same settings as a master keep 512.
        rig.worker.roleSettled(.active, reason: "test")
        #expect(rig.writes() == ["sync stop backup", "sync start master"])
        #expect(rig.ipvs.daemons.map(\.maxLength) == [512])
        rig.worker.periodicCheck()
        #expect(rig.writes().isEmpty)
    }

    @Test func thePeriodicCheckRepairsADaemonStoppedOrChangedBehindTandemsBack() throws {
        let rig = try Rig(sync: "{interface: eth0, sync_id: 4}")
        rig.worker.roleSettled(.standby, reason: "test")
        _ = rig.writes()
        try rig.ipvs.stopSyncDaemon(.backup)                       // ipvsadm --stop-daemon backup
        rig.worker.periodicCheck()
        #expect(rig.writes() == ["sync start backup"])
        try rig.ipvs.stopSyncDaemon(.backup)
        try rig.ipvs.startSyncDaemon(IPVSSyncDaemon(role: .backup, interface: "eth1", syncID: 4))
        rig.worker.periodicCheck()
        #expect(rig.writes() == ["sync stop backup", "sync start backup"])
        #expect(rig.ipvs.daemons.map(\.interface) == ["eth0"])
    }

    /// The MTU read here (9000) is not the one the kernel used (1500, the fake's): the backup's
    /// default maxlen differs from the prediction. Read back once, then never restarted for it.
    @Test func aMispredictedDaemonIsTakenAsStartedNotRestartedForever() throws {
        let rig = try Rig(sync: "{interface: eth0, sync_id: 1}", mtu: 9000)
        rig.worker.roleSettled(.standby, reason: "test")
        #expect(rig.writes() == ["sync start backup"])
        #expect(rig.ipvs.daemons.map(\.maxLength) == [1472])
        for _ in 0..<5 { rig.worker.periodicCheck() }
        #expect(rig.writes().isEmpty)
        #expect(rig.logLines.all.filter { $0.contains("taken as the configured daemon") }.count == 1)
        // A real change is still applied.
        try rig.reload(sync: "{interface: eth0, sync_id: 2}")
        #expect(rig.writes() == ["sync stop backup", "sync start backup"])
        rig.worker.periodicCheck()
        #expect(rig.writes().isEmpty)
    }

    @Test func aFailingStartIsRetriedEachPeriodAndLoggedOnce() throws {
        let rig = try Rig(sync: "{interface: eth7, sync_id: 1}")
        rig.worker.roleSettled(.active, reason: "test")
        for _ in 0..<3 { rig.worker.periodicCheck() }
        #expect(rig.writes() == Array(repeating: "sync start master", count: 4))
        let errors = rig.logLines.all.filter { $0.contains("start master sync daemon on eth7 (syncid 1) failed") }
        #expect(errors.count == 1, "\(rig.logLines.all)")
        rig.ipvs.interfaces.insert("eth7")                        // the interface appears
        rig.worker.periodicCheck()
        #expect(rig.writes() == ["sync start master"])
        #expect(rig.logLines.all.contains { $0.contains("sync daemon (periodic check): repaired") })
        #expect(rig.ipvs.daemons.map(\.interface) == ["eth7"])
    }

    @Test func nothingIsTouchedBeforeTheRoleSettlesOrWithoutSync() throws {
        let rig = try Rig(sync: "{interface: eth0, sync_id: 1}")
        rig.worker.periodicCheck()
        try rig.reload(sync: "{interface: eth0, sync_id: 2}")
        #expect(rig.writes().isEmpty)
        let none = try Rig(sync: nil)
        try none.ipvs.startSyncDaemon(IPVSSyncDaemon(role: .master, interface: "eth1", syncID: 9))
        none.worker.roleSettled(.standby, reason: "test")
        none.worker.periodicCheck()
        #expect(none.writes().isEmpty)
        #expect(none.worker.syncDaemonWrites == 0)
        // A reload that adds sync starts the daemon of the settled role.
        try none.reload(sync: "{interface: eth0, sync_id: 1}")
        #expect(none.writes() == ["sync stop master", "sync start backup"])
    }
}
