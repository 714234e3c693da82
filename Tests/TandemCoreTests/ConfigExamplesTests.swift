import Foundation
import Testing
@testable import TandemCore

@Suite struct ConfigExamplesTests {
    @Test func thereAreExamples() {
        #expect(exampleConfigs().count >= 7)
    }

    @Test(arguments: exampleConfigs())
    func exampleParsesAndValidates(_ file: URL) throws {
        let result = try ConfigParser.loadWithWarnings(path: file.path)
        #expect(result.config.cluster == nil ? result.config.nodes.count == 2 : ClusterSettings.directorCount.contains(result.config.nodes.count))
        #expect(result.warnings.isEmpty, "\(result.warnings)")
    }

    /// `show-config --format ipvsadm` for every example, against reviewed `ipvsadm -S -n` text
    /// (the VM tests compare the same text with what the real ipvsadm prints).
    @Test(arguments: exampleConfigs())
    func ipvsadmSaveOutput(_ file: URL) throws {
        let config = try ConfigParser.load(path: file.path)
        let name = file.deletingPathExtension().lastPathComponent
        let golden = try String(contentsOf: repositoryRoot.appendingPathComponent("Tests/TandemCoreTests/Fixtures/ipvsadm/\(name).save"), encoding: .utf8)
        #expect(IPVSSaveFormat.render(config.desiredIPVSTable()) == golden)
    }

    @Test func referenceCoversTheLanguage() throws {
        let config = try ConfigParser.load(path: repositoryRoot.appendingPathComponent("examples/reference.yaml").path)
        #expect(config.virtualServers.map(\.name) == ["web", "web-tls", "dns", "mail", "shop", "api"])
        #expect(config.nodes[0].trackInterfaces == [
            TrackedInterface(interface: "eth0", effect: .fault),
            TrackedInterface(interface: "eth2", effect: .lowerPriority(by: 60)),
        ])
        #expect(config.virtualIPs.filter(\.natGateway).map(\.prefix.description) == ["10.10.0.1/24"])
        let web = config.virtualServers[0]
        #expect(web.persistence == Persistence(timeout: .seconds(360), prefixLength: 24))
        #expect(web.sorryServer == SorryServer(address: IPAddress("10.10.0.99")!, port: 8080))
        #expect(web.healthCheck?.probe == .http(HTTPProbe(tls: false, path: "/healthz", host: "www.example.com",
                                                          status: [200...299, 301...301], body: "ok")))
        #expect(web.realServers[0] == RealServer(address: IPAddress("10.10.0.11")!, port: 8080, weight: 10,
                                                 upperThreshold: 1000, lowerThreshold: 800))
        let mail = config.virtualServers[3]
        #expect(mail.realServers[1].forwarding == .tunnel(TunnelSettings(type: .gue, port: 6080, checksum: .checksum)))
        #expect(mail.healthCheck?.failureAction == .remove)
        #expect(config.virtualServers[4].match == .fwmark(7, family: .ipv4))
        #expect(config.sync == SyncSettings(interface: "eth2", syncID: 1))
        #expect(config.notify.fault == ["/usr/local/bin/tandem-notify", "fault"])
        #expect(config.notify.active == ["/usr/local/bin/tandem-notify", "active"])
        #expect(config.control == ControlSettings(socketPath: "/run/tandem/tandemd.sock", group: "tandem"))
        #expect(config.heartbeat.authentication == .hmacSHA256(keyFile: "/etc/tandem/heartbeat.key"))
        #expect(config.ipvsTimeouts == IPVSTimeouts(tcp: .seconds(900), tcpFin: .seconds(120), udp: .seconds(300)))
    }

    @Test func minimalConfigDefaults() throws {
        let config = try ConfigParser.parse(yaml: minimalConfig)
        #expect(config.serial == 7)
        #expect(config.heartbeat.port == 539)
        #expect(config.heartbeat.deadTime == .milliseconds(300))
        #expect(config.election == ElectionSettings(preempt: false, preemptDelay: .milliseconds(0)))
        #expect(config.announce == AnnounceSettings())
        #expect(config.standbyTable == .warm)
        #expect(config.nodes.map(\.priority) == [100, 100])
        #expect(config.virtualServers[0].scheduler == Scheduler(name: "wlc"))
        #expect(config.stateDirectory == "/var/lib/tandem")
    }

    @Test func sorryServerOnlyWhileAllRealServersAreDown() throws {
        let config = try ConfigParser.parse(yaml: minimal(appending: """
                health_check: {type: tcp, failure_action: remove}
                sorry_server: {address: 10.0.0.99, port: 80}
            """))
        let rs = RealServerID(service: "web", address: IPAddress("10.0.0.21")!, port: 80)
        #expect(IPVSSaveFormat.render(config.desiredIPVSTable()) == """
            -A -t 10.0.0.10:80 -s wlc
            -a -t 10.0.0.10:80 -r 10.0.0.21:80 -g -w 5

            """)
        #expect(IPVSSaveFormat.render(config.desiredIPVSTable(down: [rs])) == """
            -A -t 10.0.0.10:80 -s wlc
            -a -t 10.0.0.10:80 -r 10.0.0.99:80 -g -w 1

            """)
        #expect(config.namedIPVSEntries.entries[0].destinations.count == 2)
    }

    @Test func quiescedServerKeepsWeightZero() throws {
        let config = try ConfigParser.parse(yaml: minimal(appending: "    health_check: {type: tcp}"))
        let rs = RealServerID(service: "web", address: IPAddress("10.0.0.21")!, port: 80)
        #expect(config.desiredIPVSTable(down: [rs]).entries[0].destinations.map(\.weight) == [0])
        #expect(config.desiredIPVSTable(weights: [rs: 2]).entries[0].destinations.map(\.weight) == [2])
    }
}
