import Glibc
import Testing
import TandemCore
@testable import TandemKernel
import TandemTesting

/// A host with fixed answers.
struct FakeDoctorHost: DoctorHost {
    var capabilities: UInt64? = 1 << 12
    var ipvs: Result<IPVSInfo, any Error> = .success(IPVSInfo(version: 0x010201, connectionTableSize: 4096))
    var loaded: Set<String> = []
    var available: Set<String> = []
    var sysctls: [String: String] = [:]
    var interfaces: Set<String> = []
    var addresses: Set<IPAddress> = []

    func effectiveCapabilities() -> UInt64? { capabilities }
    func ipvsInfo() -> Result<IPVSInfo, any Error> { ipvs }
    func moduleLoaded(_ name: String) -> Bool { loaded.contains(name) }
    func moduleAvailable(_ name: String) -> Bool { available.contains(name) }
    func sysctl(_ path: String) -> String? { sysctls[path] }
    func interfaceExists(_ name: String) -> Bool { interfaces.contains(name) }
    func localAddresses() -> Set<IPAddress> { addresses }
}

func natConfig() -> Config {
    let vs = VirtualServer(name: "http", match: .address(IPAddress("203.0.113.10")!, port: 80, protocol: .tcp),
                           scheduler: Scheduler(name: "wlc"), persistence: nil, onePacket: false, forwarding: .nat,
                           sorryServer: nil, healthCheck: nil,
                           realServers: [RealServer(address: IPAddress("10.0.0.11")!, port: 8080)])
    let dr = VirtualServer(name: "web", match: .address(IPAddress("203.0.113.10")!, port: 443, protocol: .tcp),
                           scheduler: Scheduler(name: "sh"), persistence: nil, onePacket: false, forwarding: .directRouting,
                           sorryServer: nil, healthCheck: nil,
                           realServers: [RealServer(address: IPAddress("203.0.113.21")!, port: 443)])
    return Config(serial: 1,
                  nodes: [Node(name: "lvs1", heartbeatAddresses: [IPAddress("192.0.2.1")!], priority: 100,
                               trackInterfaces: [TrackedInterface(interface: "eth2", effect: .fault)]),
                          Node(name: "lvs2", heartbeatAddresses: [IPAddress("192.0.2.2")!], priority: 50,
                               trackInterfaces: [TrackedInterface(interface: "eth3", effect: .fault)])],
                  heartbeat: HeartbeatSettings(interval: .milliseconds(200), deadTime: .milliseconds(600), authentication: .none),
                  election: ElectionSettings(), announce: AnnounceSettings(),
                  virtualIPs: [VirtualIP(prefix: IPPrefix("203.0.113.10/24")!, interface: "eth0")],
                  virtualServers: [vs, dr], sync: SyncSettings(interface: "eth1", syncID: 3), standbyTable: .warm,
                  ipvsTimeouts: nil, notify: NotifySettings(), control: ControlSettings(), stateDirectory: "/var/lib/tandem")
}

struct DoctorTests {
    @Test func hostWithoutIPVSFailsWithTheModprobeHint() {
        var host = FakeDoctorHost()
        host.ipvs = .failure(IPVSUnavailableError(libnlCode: 12))
        let checks = Doctor.run(config: nil, host: host)
        #expect(checks.map(\.description) == [
            "ok    CAP_NET_ADMIN: effective",
            "FAIL  IPVS: IPVS is not available in this kernel (the genl family \"IPVS\" was not found): load it with modprobe ip_vs; no ip_vs module was found for this kernel either: it needs CONFIG_IP_VS",
        ])
        #expect(Doctor.exitStatus(checks) == 1)
    }

    @Test func capableHostWithIPVSIsOk() {
        let checks = Doctor.run(config: nil, host: FakeDoctorHost())
        #expect(checks.map(\.description) == [
            "ok    CAP_NET_ADMIN: effective",
            "ok    IPVS: available, version 1.2.1, connection table size 4096",
        ])
        #expect(Doctor.exitStatus(checks) == 0)
    }

    @Test func missingCapabilityFails() {
        var host = FakeDoctorHost()
        host.capabilities = 0x3000_0000_0000 & ~(1 << 12)
        let checks = Doctor.run(config: nil, host: host)
        #expect(checks[0].level == .fail && checks[0].subject == "CAP_NET_ADMIN")
        #expect(Doctor.exitStatus(checks) == 1)
    }

    @Test func configChecksSchedulersForwardingDRAndInterfaces() {
        var host = FakeDoctorHost()
        host.loaded = ["ip_vs_wlc"]
        host.available = []
        host.sysctls = ["net/ipv4/ip_forward": "0"]
        host.interfaces = ["eth0", "eth2"]
        host.addresses = [IPAddress("192.0.2.1")!]
        let lines = Doctor.run(config: natConfig(), host: host).map(\.description)
        #expect(lines.contains("FAIL  scheduler sh: module ip_vs_sh missing from this kernel: install it or choose another scheduler"))
        #expect(lines.contains("ok    scheduler wlc: module ip_vs_wlc loaded"))
        #expect(lines.contains("FAIL  net.ipv4.ip_forward: 0, but NAT service tcp 203.0.113.10:80 needs 1: sysctl -w net.ipv4.ip_forward=1 (and persist it in /etc/sysctl.d)"))
        #expect(lines.contains { $0.hasPrefix("warn  arp_ignore/arp_announce: direct-routing service tcp 203.0.113.10:443: these are real-server settings") })
        #expect(lines.contains("ok    interface eth0: present (VIP 203.0.113.10/24)"))
        #expect(lines.contains("ok    interface eth2: present (tracked by lvs1)"))
        #expect(!lines.contains { $0.contains("eth3") })  // the other node's interface
        #expect(lines.contains("FAIL  interface eth1: missing (sync daemon): create it or fix the name in the config"))
    }

    @Test func forwardingOnAndModulesAvailablePass() {
        var host = FakeDoctorHost()
        host.available = ["ip_vs_wlc", "ip_vs_sh"]
        host.sysctls = ["net/ipv4/ip_forward": "1"]
        host.interfaces = ["eth0", "eth1", "eth2", "eth3"]
        let checks = Doctor.run(config: natConfig(), node: "lvs2", host: host)
        #expect(!checks.contains { $0.level == .fail })
        #expect(checks.contains { $0.description == "ok    interface eth3: present (tracked by lvs2)" })
        #expect(Doctor.exitStatus(checks) == 0)
    }
}

/// The in-memory kernel answers like the real one, and the planner's plan applied to it converges.
struct InMemoryIPVSKernelTests {
    let key = IPVSServiceKey.address(protocol: .tcp, address: IPAddress("10.0.0.1")!, port: 80)

    @Test func errorsMatchTheKernelsAndNameTheObject() throws {
        let kernel = InMemoryIPVSKernel()
        let service = IPVSService(key: key, scheduler: "wlc")
        let server = IPVSDestination(address: IPAddress("192.168.1.2")!, port: 80, forwarding: .masquerade)
        let results = try kernel.apply([
            .addService(service),
            .addService(service),
            .addService(IPVSService(key: .fwmark(family: .ipv4, mark: 1), scheduler: "nosuch")),
            .addDestination(key, server),
            .addDestination(key, server),
            .updateDestination(key, IPVSDestination(address: IPAddress("192.168.1.3")!, port: 80, forwarding: .masquerade)),
            .addDestination(.fwmark(family: .ipv4, mark: 9), server),
            .addDestination(key, IPVSDestination(address: IPAddress("192.168.1.4")!, port: 80, forwarding: .masquerade,
                                                 upperThreshold: 1, lowerThreshold: 2)),
        ])
        #expect(results.map { $0.error?.errno } == [nil, EEXIST, ENOENT, nil, EEXIST, ENOENT, ESRCH, ERANGE])
        #expect(results[2].error?.description
            == "create service fwmark 1 failed: No such file or directory (ENOENT); scheduler module ip_vs_nosuch missing: modprobe ip_vs_nosuch")
        #expect(results[6].error?.description.hasPrefix("add real server 192.168.1.2:80 to fwmark 9 failed: No such process (ESRCH)") == true)
        #expect(kernel.writes == 2)
    }

    @Test func planAppliedConvergesAndForeignEntriesSurvive() throws {
        let foreign = IPVSServiceEntry(service: IPVSService(key: .fwmark(family: .ipv4, mark: 5), scheduler: "rr"), destinations: [])
        let kernel = InMemoryIPVSKernel(IPVSTable([foreign]))
        let desired = IPVSTable([IPVSServiceEntry(
            service: IPVSService(key: key, scheduler: "wlc"),
            destinations: [IPVSDestination(address: IPAddress("192.168.1.2")!, port: 80, forwarding: .masquerade, weight: 2)])])
        let plan = IPVSPlanner.plan(desired: desired, observed: try kernel.dump().table, owned: IPVSOwnership(desired))
        #expect(try kernel.apply(plan).allSatisfy(\.succeeded))
        let again = IPVSPlanner.plan(desired: desired, observed: try kernel.dump().table, owned: IPVSOwnership(desired))
        #expect(again.isEmpty)
        #expect(try kernel.dump().table[foreign.service.key] == foreign)
        #expect(kernel.writes == 2)
    }

    @Test func syncDaemonErrors() throws {
        let kernel = InMemoryIPVSKernel()
        try kernel.startSyncDaemon(IPVSSyncDaemon(role: .master, interface: "lo", syncID: 1))
        #expect(throws: KernelError.self) { try kernel.startSyncDaemon(IPVSSyncDaemon(role: .master, interface: "lo", syncID: 1)) }
        do {
            try kernel.startSyncDaemon(IPVSSyncDaemon(role: .backup, interface: "eth9", syncID: 1))
            Issue.record("expected ENODEV")
        } catch let error as KernelError {
            #expect(error.errno == ENODEV)
            #expect(error.description.contains("interface eth9 does not exist"))
        }
        try kernel.stopSyncDaemon(.master)
        #expect(throws: KernelError.self) { try kernel.stopSyncDaemon(.master) }
        #expect(IPVSSyncDaemon.listing([IPVSSyncDaemon(role: .backup, interface: "eth1", syncID: 9, maxLength: 1472,
                                                       group: IPAddress("224.0.0.81")!, port: 8848, ttl: 1)])
            == "backup sync daemon (mcast=eth1, syncid=9, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n")
    }
}
