import Foundation
import Logging
import Synchronization
import Testing
import TandemCore
import TandemKernel
@testable import TandemDaemon
import TandemTesting

// MARK: - Fakes that write into one shared log, so the order across parts can be checked.

final class OrderLog: Sendable {
    private let lines = Mutex<[String]>([])
    func append(_ line: String) { lines.withLock { $0.append(line) } }
    var all: [String] { lines.withLock { $0 } }
    func clear() { lines.withLock { $0 = [] } }
}

final class LoggingAddressTable: AddressTable {
    let inner: InMemoryAddressTable
    let log: OrderLog
    var ownPorts: Set<UInt32> { inner.ownPorts }
    init(_ inner: InMemoryAddressTable, log: OrderLog) { self.inner = inner; self.log = log }
    func claim(_ vip: VirtualIP) throws -> AddressChange {
        let change = try inner.claim(vip)
        log.append("claim \(vip.prefix) \(change.rawValue)")
        return change
    }
    func release(_ vip: VirtualIP) throws -> AddressChange {
        let change = try inner.release(vip)
        log.append("release \(vip.prefix) \(change.rawValue)")
        return change
    }
    func addresses() throws -> [InterfaceAddress] { try inner.addresses() }
    func links() throws -> [LinkState] { try inner.links() }
}

final class LoggingAnnouncer: Announcer {
    let log: OrderLog
    init(log: OrderLog) { self.log = log }
    func begin(_ vips: [VirtualIP], settings: AnnounceSettings) throws {
        log.append("announce " + vips.map(\.prefix.description).joined(separator: ","))
    }
    func end(_ vips: [VirtualIP]) { log.append("end announce") }
    func endAll() { log.append("end all") }
}

/// Forwards to an `InMemoryIPVSKernel`; used only on the worker's queue.
final class LoggingIPVSKernel: IPVSKernel, @unchecked Sendable {
    let inner: InMemoryIPVSKernel
    let log: OrderLog
    init(_ inner: InMemoryIPVSKernel, log: OrderLog) { self.inner = inner; self.log = log }
    func info() throws -> IPVSInfo { try inner.info() }
    func dump() throws -> IPVSListing { try inner.dump() }
    func apply(_ changes: [IPVSChange]) throws -> [IPVSChangeResult] {
        log.append("ipvs apply \(changes.count)")
        return try inner.apply(changes)
    }
    func timeouts() throws -> IPVSTimeoutSettings { try inner.timeouts() }
    func setTimeouts(_ timeouts: IPVSTimeoutSettings) throws { try inner.setTimeouts(timeouts) }
    func syncDaemons() throws -> [IPVSSyncDaemon] { try inner.syncDaemons() }
    func startSyncDaemon(_ daemon: IPVSSyncDaemon) throws {
        log.append("sync start \(daemon.role)")
        try inner.startSyncDaemon(daemon)
    }
    func stopSyncDaemon(_ role: IPVSSyncDaemon.Role) throws {
        log.append("sync stop \(role)")
        try inner.stopSyncDaemon(role)
    }
}

struct RecordingNotifyRunner: NotifyRunner {
    let log: OrderLog
    func run(_ command: [String], environment: [String: String], timeout: TimeSpan) -> NotifyOutcome {
        log.append("notify \(environment["TANDEM_ROLE"] ?? "?") node=\(environment["TANDEM_NODE"] ?? "?")")
        return .exited(0)
    }
}

final class RecordingSender: HeartbeatSending {
    var sent: [Election.Outgoing] = []
    /// What the next sends report as failing (path index → error).
    var failing: [Int: String] = [:]
    func send(_ outgoing: Election.Outgoing) -> [Int: String] {
        sent.append(outgoing)
        return failing
    }
}

struct NoIPVSError: Error, CustomStringConvertible {
    var description: String { "IPVS is not available in this kernel (test)" }
}

/// A driver over fakes, with a manual clock.
final class Harness {
    let log = OrderLog()
    let logLines = OrderLog()
    let table: InMemoryAddressTable
    let ipvs: InMemoryIPVSKernel
    let sender = RecordingSender()
    let worker: KernelWorker
    let driver: ElectionDriver
    let kernelOpens = LockedBox(0)
    let config: Config
    /// The worker's reports of finished reconciles, for `settled()` to hand to the driver (as the
    /// heartbeat loop does in tandemd).
    let reconciled = LockedBox<[(IPVSReconcileReason, Bool)]>([])

    /// The table starts with links eth0 (index 2) and eth1 (index 3), both up, and this node's
    /// heartbeat addresses on eth0, plus `addresses`.
    init(yaml: String, node: String = "a", addresses: [InterfaceAddress] = [], table ipvsTable: IPVSTable = IPVSTable(),
         ipvsAvailable: Bool = true) throws {
        config = try ConfigParser.parse(yaml: yaml)
        let heartbeat = config.node(named: node)?.heartbeatAddresses ?? []
        let own = heartbeat.map { InterfaceAddress(interfaceIndex: 2, interface: "eth0", prefix: IPPrefix(address: $0, length: 24), flags: 0x80) }
        table = InMemoryAddressTable(addresses: own + addresses,
                                     links: [InMemoryAddressTable.link("eth0", index: 2), InMemoryAddressTable.link("eth1", index: 3)])
        ipvs = InMemoryIPVSKernel(ipvsTable)
        ipvs.interfaces = ["eth1", "lo"]
        let lines = logLines
        let logger = Logger(label: "test") { _ in TandemLogHandler(label: node, write: { lines.append($0) }) }
        let notifier = Notifier(runner: RecordingNotifyRunner(log: log), nodeName: node, logger: logger)
        let kernel = LoggingIPVSKernel(ipvs, log: log)
        let opens = kernelOpens
        worker = KernelWorker(config: config, notifier: notifier, logger: logger, makeKernel: {
            opens.withLock { $0 += 1 }
            if !ipvsAvailable { throw NoIPVSError() }
            return kernel
        })
        driver = ElectionDriver(config: config, settings: try Election.Settings(config: config, nodeName: node),
                                addressTable: LoggingAddressTable(table, log: log), announcer: LoggingAnnouncer(log: log),
                                sender: sender, worker: worker, logger: logger, heartbeatAddresses: heartbeat)
        let reports = reconciled
        worker.onReconciled = { reason, succeeded in reports.withLock { $0.append((reason, succeeded)) } }
    }

    func peer(_ role: Role, sequence: UInt64, priority: UInt8 = 100, kind: HeartbeatMessage.Kind = .heartbeat) -> HeartbeatMessage {
        HeartbeatMessage(kind: kind, sender: "b", bootEpoch: 1, sequence: sequence, role: role, priority: priority,
                         configSerial: 1, configDigest: .zero, pathIndex: 0, intervalMilliseconds: 10)
    }

    /// Order log after the worker has finished, with the start-up lines dropped.
    func settled() -> [String] {
        for _ in 0..<100 {
            worker.drain()
            let reports = reconciled.withLock { list in defer { list = [] }; return list }
            if reports.isEmpty { break }
            for (reason, succeeded) in reports { driver.handle(.ipvsReconciled(reason, succeeded: succeeded), at: .milliseconds(1)) }
        }
        return log.all
    }

    func vipPresent(_ text: String) -> Bool {
        (try? table.addresses())?.contains { $0.prefix.description == text } ?? false
    }
}

let vipOnlyYAML = """
serial: 1
nodes: [{name: a, addresses: [10.0.0.1], priority: 100}, {name: b, addresses: [10.0.0.2], priority: 90}]
heartbeat: {interval: 10ms, dead_time: 30ms, auth: none}
virtual_ips: [{address: 10.0.0.10/24, interface: eth0}]
"""

func ipvsYAML(standby: String = "warm") -> String {
    """
    serial: 1
    nodes: [{name: a, addresses: [10.0.0.1], priority: 100}, {name: b, addresses: [10.0.0.2], priority: 90}]
    heartbeat: {interval: 10ms, dead_time: 30ms, auth: none}
    virtual_ips: [{address: 10.0.0.10/24, interface: eth0}]
    virtual_servers:
      - name: web
        address: 10.0.0.10
        port: 80
        scheduler: rr
        forwarding: nat
        real_servers:
          - {address: 10.20.0.11, port: 8080}
          - {address: 10.20.0.12, port: 8080}
    sync: {interface: eth1, sync_id: 3}
    standby_table: \(standby)
    notify: {active: [/bin/true, active], standby: [/bin/true, standby]}
    """
}

/// VIP on eth1, heartbeat on eth0 (10.0.0.1); `track` is appended to node a's entry.
func eth1YAML(track: String = "", vips: String = "[{address: 10.0.0.10/24, interface: eth1}]") -> String {
    """
    serial: 1
    nodes: [{name: a, addresses: [10.0.0.1], priority: 100\(track)}, {name: b, addresses: [10.0.0.2], priority: 90}]
    heartbeat: {interval: 10ms, dead_time: 30ms, auth: none}
    virtual_ips: \(vips)
    """
}

/// The log line of an announcement says what goes out, so an operator can check it without tcpdump.
@Suite struct AnnouncementLogTests {
    @Test func theLineNamesTheVIPsTheMessagesAndTheSchedule() {
        let v4 = VirtualIP(prefix: IPPrefix("192.0.2.10/24")!, interface: "eth0")
        let v6 = VirtualIP(prefix: IPPrefix("2001:db8::10/64")!, interface: "eth0")
        #expect(ElectionDriver.announcement([v4], AnnounceSettings(repeatCount: 3, secondBurstDelay: .seconds(1)))
                == "192.0.2.10/24 on eth0: 3 gratuitous ARP requests each now, 3 more after 1s")
        #expect(ElectionDriver.announcement([v4, v6], AnnounceSettings(repeatCount: 2, secondBurstDelay: nil, refreshInterval: .seconds(60), arpMode: .reply))
                == "192.0.2.10/24 on eth0, 2001:db8::10/64 on eth0: 2 gratuitous ARP replies / unsolicited neighbour advertisements each now, then 1 every 1m while active")
    }
}

@Suite struct LocalFaultDriverTests {
    @Test func aStandbyThatLosesItsHeartbeatAddressNeverTakesOver() throws {
        let h = try Harness(yaml: vipOnlyYAML)
        h.driver.start(at: .zero)
        h.driver.heartbeatReceived(h.peer(.active, sequence: 1), at: .milliseconds(5))
        #expect(h.driver.election.role == .standby)
        _ = try h.table.release(VirtualIP(prefix: IPPrefix("10.0.0.1/24")!, interface: "eth0"))   // ip addr del
        h.driver.routeEvent(.hostChanged, at: .milliseconds(10))
        #expect(h.driver.election.role == .fault)
        #expect(h.driver.election.localFaults.first?.contains("path 0 10.0.0.1: address not configured on any interface") == true)
        h.driver.timerFired(at: .milliseconds(200))                  // the peer is silent far beyond the dead time
        #expect(h.driver.election.role == .fault)
        #expect(!h.vipPresent("10.0.0.10/24"))
        #expect(!h.settled().contains { $0.hasPrefix("claim") || $0.hasPrefix("announce") })
        _ = try h.table.claim(VirtualIP(prefix: IPPrefix("10.0.0.1/24")!, interface: "eth0"))
        // The address comes back: the fault clears; the node listens a dead time (it could not
        // hear during the fault), and with the peer still silent it takes over.
        h.driver.routeEvent(.hostChanged, at: .milliseconds(210))
        #expect(h.driver.election.role == .standby)
        h.driver.timerFired(at: .milliseconds(240))
        #expect(h.driver.election.role == .active)
        #expect(h.vipPresent("10.0.0.10/24"))
    }

    @Test func sendsFailingOnEveryPathAreAFaultUntilASendWorks() throws {
        let h = try Harness(yaml: vipOnlyYAML)
        h.sender.failing = [0: "Network is unreachable (errno 101)"]
        h.driver.start(at: .zero)
        #expect(h.driver.election.role == .fault)
        h.driver.timerFired(at: .milliseconds(100))
        #expect(h.driver.election.role == .fault)
        #expect(!h.vipPresent("10.0.0.10/24"))
        h.sender.failing = [:]
        let due = try #require(h.driver.timerDeadline)
        h.driver.timerFired(at: due)                                   // the next round goes out and works
        #expect(h.driver.election.localFaults.isEmpty)
        #expect(h.driver.election.role == .standby)                    // listening for the dead time first
        h.driver.timerFired(at: due + .milliseconds(30))
        #expect(h.driver.election.role == .active)
    }

    @Test func vipInterfaceDeletedAndReCreatedWithNoPeer() throws {
        let h = try Harness(yaml: eth1YAML())
        h.driver.start(at: .zero)
        h.driver.timerFired(at: .milliseconds(30))
        #expect(h.driver.election.role == .active)
        let vip = h.config.virtualIPs[0]
        _ = h.settled()
        h.log.clear()
        h.table.removeLink("eth1")                                     // ip link del eth1: its addresses go with it
        h.driver.routeEvent(.vipRemoved(vip, origin: .kernel), at: .milliseconds(40))
        h.driver.routeEvent(.linkRemoved(interface: "eth1"), at: .milliseconds(40))
        #expect(h.driver.election.role == .fault)
        #expect(h.driver.election.faultReason == "VIP interface eth1 does not exist")
        #expect(!h.settled().contains { $0.hasPrefix("announce") || $0.hasPrefix("claim") })
        h.log.clear()
        h.table.setLink(InMemoryAddressTable.link("eth1", index: 9))  // a new eth1 appears and comes up
        h.driver.routeEvent(.linkUp(interface: "eth1"), at: .milliseconds(60))
        #expect(h.driver.election.role == .standby)                    // fault cleared: listening for the dead time
        h.driver.timerFired(at: .milliseconds(90))
        #expect(h.driver.election.role == .active)
        #expect(h.settled().prefix(2) == ["claim 10.0.0.10/24 added", "announce 10.0.0.10/24"])
        #expect(try h.table.addresses().contains { $0.matches(vip) && $0.interfaceIndex == 9 })
    }

    @Test func withLowerPriorityTrackingTheActiveKeepsServingAndReClaimsOnTheNewInterface() throws {
        let h = try Harness(yaml: eth1YAML(track: ", track_interfaces: [{interface: eth1, lower_priority_by: 10}]"))
        h.driver.start(at: .zero)
        h.driver.timerFired(at: .milliseconds(30))
        _ = h.settled()
        h.log.clear()
        let vip = h.config.virtualIPs[0]
        h.table.removeLink("eth1")
        h.driver.routeEvent(.vipRemoved(vip, origin: .kernel), at: .milliseconds(40))
        h.driver.routeEvent(.linkRemoved(interface: "eth1"), at: .milliseconds(40))
        #expect(h.driver.election.role == .active)
        #expect(h.driver.election.effectivePriority == 90)
        #expect(h.settled() == ["end announce"])                      // nothing claimed or announced on a missing interface
        #expect(!h.driver.heldVIPs.contains(vip))
        h.log.clear()
        h.table.setLink(InMemoryAddressTable.link("eth1", index: 9))
        h.driver.routeEvent(.linkUp(interface: "eth1"), at: .milliseconds(60))
        #expect(h.driver.election.role == .active)
        #expect(h.settled() == ["claim 10.0.0.10/24 added", "announce 10.0.0.10/24"])
        #expect(try h.table.addresses().contains { $0.matches(vip) && $0.interfaceIndex == 9 })
    }

    @Test func aVIPInAddressConflictAtStartIsNotAdoptedAndIsAFault() throws {
        let yaml = eth1YAML(vips: "[{address: 10.0.0.10/24, interface: eth1}, {address: \"2001:db8::10/64\", interface: eth1}]")
        let dadFailed = InterfaceAddress(interfaceIndex: 3, interface: "eth1", prefix: IPPrefix("2001:db8::10/64")!, flags: 0x48)
        let h = try Harness(yaml: yaml, addresses: [dadFailed])
        h.driver.start(at: .zero)
        #expect(h.driver.election.role == .fault)
        #expect(h.driver.election.faultReason?.hasPrefix("address conflict: VIP 2001:db8::10/64 on eth1 failed duplicate address detection") == true)
        h.driver.timerFired(at: .milliseconds(100))
        #expect(h.driver.election.role == .fault)
        #expect(h.driver.heldVIPs.isEmpty)
        #expect(h.vipPresent("2001:db8::10/64"))                    // left in place: the conflict stays visible
        #expect(!h.settled().contains { $0.hasPrefix("announce") || $0.hasPrefix("claim") || $0.hasPrefix("release") })
    }

    @Test func aVIPThatFailsDADAfterAClaimFindsItPresentIsNotAnnounced() throws {
        let yaml = eth1YAML(vips: "[{address: \"2001:db8::10/64\", interface: eth1}]")
        let h = try Harness(yaml: yaml)
        h.driver.start(at: .zero)
        // Someone adds the address (with DAD) just before the takeover, and DAD fails.
        _ = try h.table.claim(h.config.virtualIPs[0])
        h.table.setFlags(0x48, of: IPPrefix("2001:db8::10/64")!)
        h.driver.timerFired(at: .milliseconds(30))
        #expect(h.driver.election.role == .fault)
        #expect(!h.settled().contains { $0.hasPrefix("announce") })
    }

    @Test func aTentativeVIPIsAnnouncedOnlyOnceDADHasFinished() throws {
        let yaml = eth1YAML(vips: "[{address: \"2001:db8::10/64\", interface: eth1}]")
        let h = try Harness(yaml: yaml)
        h.driver.start(at: .zero)
        let vip = h.config.virtualIPs[0]
        _ = try h.table.claim(vip)                                    // added by someone else, DAD running
        h.table.setFlags(0x40, of: vip.prefix)
        h.driver.timerFired(at: .milliseconds(30))
        #expect(h.driver.election.role == .active)
        #expect(!h.settled().contains { $0.hasPrefix("announce") })
        #expect(!h.driver.heldVIPs.contains(vip))
        h.log.clear()
        h.table.setFlags(0x80, of: vip.prefix)                        // DAD done
        h.driver.routeEvent(.hostChanged, at: .milliseconds(40))
        #expect(h.driver.heldVIPs.contains(vip))
        #expect(h.settled() == ["announce 2001:db8::10/64"])
    }

    @Test func aVIPWhoseClaimFailsIsNeverAnnounced() throws {
        let yaml = eth1YAML(track: ", track_interfaces: [{interface: eth2, lower_priority_by: 10}]",
                            vips: "[{address: 10.0.0.10/24, interface: eth1}, {address: 10.0.0.11/24, interface: eth2}]")
        let h = try Harness(yaml: yaml)
        h.driver.start(at: .zero)
        h.driver.timerFired(at: .milliseconds(30))
        #expect(h.driver.election.role == .active)
        // The failed claim also ends any schedule the VIP had; only the held VIP is announced.
        #expect(h.settled() == ["claim 10.0.0.10/24 added", "end announce", "announce 10.0.0.10/24"])
        #expect(h.logLines.all.contains { $0.contains("not announcing 10.0.0.11/24 on eth2: not held by this node") })
    }
}

@Suite struct ElectionDriverTests {
    @Test func becomingActiveClaimsThenAnnouncesThenSyncsMasterThenNotifies() throws {
        let h = try Harness(yaml: ipvsYAML())
        h.driver.start(at: .zero)
        #expect(h.settled() == ["ipvs apply 3"])   // warm standby: the table is installed at start
        h.log.clear()
        h.driver.timerFired(at: .milliseconds(30))
        #expect(h.driver.election.role == .active)
        #expect(h.settled() == ["claim 10.0.0.10/24 added", "announce 10.0.0.10/24", "sync start master", "notify active node=a"])
        #expect(h.ipvs.writes == 3)                  // the takeover verified the table: no further writes
        #expect(h.logLines.all.contains { $0.contains(" notice a: role starting -> active: no heartbeat from b within the dead time (30ms) since start") })
        #expect(h.logLines.all.contains { $0.contains("VIPs claimed: 10.0.0.10/24 on eth0 (added)") })
    }

    @Test func becomingStandbyReleasesBeforeTheBackupSyncAndTheNotify() throws {
        let h = try Harness(yaml: ipvsYAML())
        h.driver.start(at: .zero)
        h.driver.timerFired(at: .milliseconds(30))
        _ = h.settled()
        h.log.clear()
        // b is active too and has the higher priority: a must yield.
        h.driver.heartbeatReceived(h.peer(.active, sequence: 1, priority: 200), at: .milliseconds(31))
        #expect(h.driver.election.role == .standby)
        #expect(h.settled() == ["end announce", "release 10.0.0.10/24 removed", "sync stop master", "sync start backup",
                                "notify standby node=a"])
        #expect(!h.vipPresent("10.0.0.10/24"))
        #expect(h.ipvs.inner_listingCount == 1)     // warm standby keeps the table
    }

    @Test func coldStandbyInstallsBeforeAnnouncingAndRemovesOnRelease() throws {
        let h = try Harness(yaml: ipvsYAML(standby: "cold"))
        h.driver.start(at: .zero)
        #expect(h.settled() == [])                   // cold: nothing installed on a non-active node
        h.driver.timerFired(at: .milliseconds(30))
        // The announcement waits for the install's report (it reaches NodeState through the
        // heartbeat loop while the worker goes on with the sync daemon and the notify command).
        let lines = h.settled()
        #expect(Set(lines) == ["claim 10.0.0.10/24 added", "ipvs apply 3", "announce 10.0.0.10/24", "sync start master",
                               "notify active node=a"])
        #expect(lines.firstIndex(of: "ipvs apply 3")! < lines.firstIndex(of: "announce 10.0.0.10/24")!)
        h.log.clear()
        h.driver.heartbeatReceived(h.peer(.active, sequence: 1, priority: 200), at: .milliseconds(31))
        #expect(h.settled() == ["end announce", "release 10.0.0.10/24 removed", "ipvs apply 1", "sync stop master",
                                "sync start backup", "notify standby node=a"])
        #expect(h.ipvs.inner_listingCount == 0)
    }

    @Test func restartOnTheActiveAdoptsVIPsAndTableWithoutWrites() throws {
        let config = try ConfigParser.parse(yaml: ipvsYAML())
        let vip = InterfaceAddress(interfaceIndex: 2, interface: "eth0", prefix: IPPrefix("10.0.0.10/24")!, flags: 0)
        let h = try Harness(yaml: ipvsYAML(), addresses: [vip], table: config.desiredIPVSTable())
        h.driver.start(at: .zero)
        // The standby peer is heard: keep the VIPs (no release, ever) and become active at once.
        h.driver.heartbeatReceived(h.peer(.standby, sequence: 1), at: .milliseconds(5))
        #expect(h.driver.election.role == .active)
        let lines = h.settled()
        #expect(!lines.contains { $0.hasPrefix("release") })
        #expect(lines.contains("claim 10.0.0.10/24 alreadyPresent"))
        #expect(h.ipvs.writes == 0)
        #expect(h.vipPresent("10.0.0.10/24"))
        #expect(h.logLines.all.contains { $0.contains("found VIPs already present at start-up: 10.0.0.10/24 on eth0") })
    }

    @Test func staleVIPsAreReleasedAtOnceWhenThePeerIsActive() throws {
        let vip = InterfaceAddress(interfaceIndex: 2, interface: "eth0", prefix: IPPrefix("10.0.0.10/24")!, flags: 0)
        let h = try Harness(yaml: vipOnlyYAML, addresses: [vip])
        h.driver.start(at: .zero)
        #expect(h.vipPresent("10.0.0.10/24"))
        h.driver.heartbeatReceived(h.peer(.active, sequence: 1), at: .milliseconds(2))
        #expect(h.driver.election.role == .standby)
        #expect(!h.vipPresent("10.0.0.10/24"))
        #expect(h.settled().contains("release 10.0.0.10/24 removed"))
    }

    @Test func vipOnlyConfigNeverOpensIPVS() throws {
        let h = try Harness(yaml: vipOnlyYAML, ipvsAvailable: false)
        h.driver.start(at: .zero)
        h.driver.timerFired(at: .milliseconds(30))
        h.worker.periodicCheck()
        _ = h.settled()
        #expect(h.kernelOpens.withLock { $0 } == 0)
        #expect(h.driver.election.role == .active)
        #expect(h.vipPresent("10.0.0.10/24"))
    }

    @Test func missingIPVSIsReportedOnceAndVIPFailoverContinues() throws {
        let h = try Harness(yaml: ipvsYAML(), ipvsAvailable: false)
        h.driver.start(at: .zero)
        h.driver.timerFired(at: .milliseconds(30))
        h.worker.periodicCheck()
        h.worker.periodicCheck()
        _ = h.settled()
        #expect(h.driver.election.role == .active)
        #expect(h.vipPresent("10.0.0.10/24"))
        #expect(h.kernelOpens.withLock { $0 } >= 3)   // retried
        let errors = h.logLines.all.filter { $0.contains("IPVS is not available in this kernel (test)") }
        #expect(errors.count == 1)
        #expect(errors.first?.contains(" error a: ") == true)
    }

    @Test func aVIPRemovedBySomeoneElseWhileActiveIsReAdded() throws {
        let h = try Harness(yaml: vipOnlyYAML)
        h.driver.start(at: .zero)
        h.driver.timerFired(at: .milliseconds(30))
        let vip = h.config.virtualIPs[0]
        _ = try h.table.release(vip)
        h.log.clear()
        h.driver.routeEvent(.vipRemoved(vip, origin: .foreign), at: .milliseconds(40))
        #expect(h.vipPresent("10.0.0.10/24"))
        // The VIP is gone, so its announcements stop; it is claimed again and announced afresh.
        #expect(h.settled() == ["end announce", "claim 10.0.0.10/24 added", "announce 10.0.0.10/24"])
        #expect(h.logLines.all.contains { $0.contains("was removed by another program while active: re-adding it") })
        // Tandem's own removal is not answered.
        h.log.clear()
        h.driver.routeEvent(.vipRemoved(vip, origin: .tandem), at: .milliseconds(41))
        #expect(h.settled() == [])
    }

    @Test func reloadWhileActiveClaimsAddedAndReleasesRemovedVIPs() throws {
        let h = try Harness(yaml: vipOnlyYAML)
        h.driver.start(at: .zero)
        h.driver.timerFired(at: .milliseconds(30))
        _ = h.settled()
        h.log.clear()
        let new = try ConfigParser.parse(yaml: vipOnlyYAML.replacingOccurrences(of: "10.0.0.10/24", with: "10.0.0.11/24")
            .replacingOccurrences(of: "serial: 1", with: "serial: 2"))
        h.driver.configChanged(new, settings: try Election.Settings(config: new, nodeName: "a"), at: .milliseconds(35))
        #expect(h.settled() == ["end announce", "release 10.0.0.10/24 removed", "claim 10.0.0.11/24 added", "announce 10.0.0.11/24"])
        #expect(h.driver.election.role == .active)
    }

    @Test func stopOnTheActiveHandsOverBeforeReleasing() throws {
        let h = try Harness(yaml: vipOnlyYAML)
        h.driver.start(at: .zero)
        h.driver.heartbeatReceived(h.peer(.standby, sequence: 1), at: .milliseconds(1))
        #expect(h.driver.election.role == .active)
        h.driver.stopRequested(at: .milliseconds(5))
        #expect(h.vipPresent("10.0.0.10/24"))       // make-before-break: still held
        #expect(h.sender.sent.last?.kind == .takeoverRequest)
        h.driver.heartbeatReceived(h.peer(.active, sequence: 2, kind: .claimed), at: .milliseconds(7))
        #expect(h.vipPresent("10.0.0.10/24"))       // the release grace: packets in flight still answered
        h.driver.timerFired(at: .milliseconds(7) + h.driver.election.releaseGrace)
        #expect(!h.vipPresent("10.0.0.10/24"))
        #expect(h.driver.isFinished)
        #expect(h.sender.sent.last?.kind == .release)
    }

    @Test func forcedStopReleasesAtOnce() throws {
        let h = try Harness(yaml: vipOnlyYAML)
        h.driver.start(at: .zero)
        h.driver.heartbeatReceived(h.peer(.standby, sequence: 1), at: .milliseconds(1))
        h.driver.stopRequested(at: .milliseconds(5))
        h.driver.forceStop(reason: "second stop signal", at: .milliseconds(6))
        #expect(!h.vipPresent("10.0.0.10/24"))
        #expect(h.driver.isFinished)
    }
}

extension InMemoryIPVSKernel {
    var inner_listingCount: Int { listing.services.count }
}

@Suite struct HeartbeatRoundTests {
    @Test func roundsCarryOneSequencePerRoundAndVerifyOnEveryPath() throws {
        let key = try HeartbeatKey(fileContents: Data("0123456789abcdef0123".utf8), path: "test.key")
        let auth = HMACHeartbeatAuthenticator(key: key)
        var builder = HeartbeatRoundBuilder(identity: HeartbeatIdentity(nodeName: "b", bootEpoch: 7, configSerial: 3,
                                                                        configDigest: .zero, intervalMilliseconds: 10),
                                            authenticator: auth)
        var verifier = HeartbeatVerifier(peerName: "b", pathCount: 2, authenticator: auth)
        let out = Election.Outgoing(kind: .heartbeat, role: .active, priority: 150)
        let first = builder.nextRound(out, pathCount: 2)
        let second = builder.nextRound(out, pathCount: 2)
        #expect(first.count == 2)
        for packet in first + second {
            guard case .accepted = verifier.verify(packet, at: .zero) else {
                Issue.record("a packet of a round was dropped")
                return
            }
        }
        // Replaying any of them is dropped and counted.
        guard case .dropped = verifier.verify(first[1], at: .zero) else {
            Issue.record("a replayed packet was accepted")
            return
        }
        #expect(verifier.counters.replayed == 1)
        #expect(verifier.counters.accepted == 4)
        #expect(verifier.paths.map(\.received) == [2, 2])
    }

    /// Every round is what `HeartbeatCodec.encode` makes of the round's message, also after the
    /// identity (a new config), the keys or the send time's presence (a peer that does not take
    /// it) change, and an earlier round's packets stay as sent.
    @Test func roundsEqualEncodingTheirMessagesAcrossIdentityAndKeyChanges() throws {
        let auth = HMACHeartbeatAuthenticator(key: try HeartbeatKey(fileContents: Data("0123456789abcdef0123".utf8), path: "a.key"))
        let other = HMACHeartbeatAuthenticator(key: try HeartbeatKey(fileContents: Data("fedcba9876543210fedc".utf8), path: "b.key"))
        var builder = HeartbeatRoundBuilder(identity: HeartbeatIdentity(nodeName: "b", bootEpoch: 7, configSerial: 3,
                                                                        configDigest: .zero, intervalMilliseconds: 10),
                                            authenticator: auth)
        func expected(_ out: Election.Outgoing, path: Int, _ authenticator: HMACHeartbeatAuthenticator?,
                      sentAt: UInt64? = nil) throws -> [UInt8] {
            let id = builder.identity
            return try HeartbeatCodec.encode(
                HeartbeatMessage(kind: out.kind, sender: id.nodeName, bootEpoch: id.bootEpoch, sequence: builder.sequence,
                                 role: out.role, priority: out.priority, configSerial: id.configSerial,
                                 configDigest: id.configDigest, pathIndex: UInt8(path), intervalMilliseconds: id.intervalMilliseconds,
                                 sentAtNanoseconds: sentAt),
                authenticator: authenticator)
        }
        let outs = [Election.Outgoing(kind: .heartbeat, role: .starting, priority: 100),
                    Election.Outgoing(kind: .heartbeat, role: .active, priority: 150),
                    Election.Outgoing(kind: .takeoverRequest, role: .active, priority: 40)]
        var first: [[UInt8]] = []
        for (step, out) in (outs + outs + outs).enumerated() {
            if step == 3 { builder.identity.configSerial = 4; builder.identity.intervalMilliseconds = 20 }
            if step == 6 { builder.authenticator = other }
            let round = builder.nextRound(out, pathCount: 2)
            if step == 0 { first = round }
            let key = step >= 6 ? other : auth
            #expect(round == [try expected(out, path: 0, key), try expected(out, path: 1, key)], "round \(step)")
        }
        #expect(first[0][24] == Role.starting.rawValue, "a round already returned is not rewritten")
        builder.authenticator = nil
        #expect(builder.nextRound(outs[1], pathCount: 2) == [try expected(outs[1], path: 0, nil), try expected(outs[1], path: 1, nil)])
        builder.authenticator = auth
        for (step, sentAt) in [UInt64(5), 6, nil, 7, 8].enumerated() {
            let round = builder.nextRound(outs[step % 3], pathCount: 2, sentAtNanoseconds: sentAt)
            #expect(round == [try expected(outs[step % 3], path: 0, auth, sentAt: sentAt),
                              try expected(outs[step % 3], path: 1, auth, sentAt: sentAt)], "timed round \(step)")
        }
    }

    @Test func identityCarriesTheConfigDigestBytes() throws {
        let config = try ConfigParser.parse(yaml: vipOnlyYAML)
        let identity = HeartbeatIdentity(config: config, nodeName: "a", bootEpoch: 1)
        #expect(identity.configDigest.description == config.digest)
        #expect(identity.intervalMilliseconds == 10)
    }

    @Test func bootEpochGrowsEvenWhenTheClockGoesBack() throws {
        let dir = NSTemporaryDirectory() + "tandem-epoch-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = BootEpoch.next(stateDirectory: dir, now: 1000)
        let second = BootEpoch.next(stateDirectory: dir, now: 500)
        let third = BootEpoch.next(stateDirectory: dir, now: 5000)
        #expect(first.epoch == 1000 && first.warning == nil)
        #expect(second.epoch == 1001)
        #expect(third.epoch == 5000)
    }
}

@Suite struct NotifierTests {
    @Test func commandsRunWithoutAShellWithTheRoleInTheEnvironment() {
        let runner = ProcessNotifyRunner()
        let ok = runner.run(["/bin/sh", "-c", "test \"$TANDEM_ROLE/$TANDEM_NODE/$TANDEM_REASON\" = 'active/a/why not'"],
                            environment: ["TANDEM_ROLE": "active", "TANDEM_NODE": "a", "TANDEM_REASON": "why not"],
                            timeout: .seconds(5))
        #expect(ok.ending == .exited(0))
        // No shell: a metacharacter is an argument, not syntax.
        let literal = runner.run(["/bin/echo", "a;false"], environment: [:], timeout: .seconds(5))
        #expect(literal.ending == .exited(0))
        #expect(!runner.run(["/nonexistent/notify"], environment: [:], timeout: .seconds(1)).succeeded)
    }

    @Test func aSlowCommandIsKilledAtTheTimeout() {
        let start = Date()
        let outcome = ProcessNotifyRunner().run(["/bin/sleep", "10"], environment: [:], timeout: .milliseconds(200))
        #expect(outcome.ending == .timedOut(after: .milliseconds(200), grace: .seconds(1), stillRunningAfterGrace: false))
        #expect(Date().timeIntervalSince(start) < 5)
    }
}
