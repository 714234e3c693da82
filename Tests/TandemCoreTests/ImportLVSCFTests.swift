import Foundation
import Testing
@testable import TandemCore

let lvsGlobals = """
serial_no = 4
primary = 192.0.2.2
backup = 192.0.2.3
service = lvs
keepalive = 1
deadtime = 3
network = direct

"""

func importLVSCF(_ text: String) throws -> ImportResult {
    try LVSCFImport.run(file: "/etc/sysconfig/ha/lvs.cf", source: InMemoryImportFiles(["/etc/sysconfig/ha/lvs.cf": text]))
}

@Suite struct LVSCFImportTests {
    @Test func exampleImports() throws {
        let path = repositoryRoot.appendingPathComponent("examples/import/lvs.cf").path
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let result = try LVSCFImport.run(file: path, source: InMemoryImportFiles([path: text]))
        let config = try ConfigParser.parse(yaml: result.yaml)
        #expect(config.serial == 14)
        #expect(config.nodes.map { $0.heartbeatAddresses.map(\.description) } == [["192.0.2.2", "198.51.100.2"], ["192.0.2.3", "198.51.100.3"]])
        #expect(config.heartbeat.interval == .seconds(2) && config.heartbeat.deadTime == .seconds(6))
        #expect(config.virtualServers.map(\.name) == ["web", "dns"])
        #expect(config.virtualIPs.map(\.prefix.description) == ["10.20.0.1/24", "192.0.2.10/24"])
        #expect(config.virtualIPs[0].natGateway && config.virtualIPs[1].label == "eth0:1")
        #expect(config.sync == SyncSettings(interface: "eth2", syncID: 3))
        // Written by hand from lvs.cf(5): pulse's lvs ran ipvsadm -A -t VIP:80 -s wlc -p 300 -M mask, then
        // -a … -m -w WEIGHT for each active server (pulse's daemons are not packaged, so there is no oracle run).
        #expect(IPVSSaveFormat.render(config.desiredIPVSTable()) == """
        -A -t 192.0.2.10:80 -s wlc -p 300 -M 255.255.255.0
        -a -t 192.0.2.10:80 -r 10.20.0.11:8080 -m -w 3
        -a -t 192.0.2.10:80 -r 10.20.0.12:8080 -m -w 1
        -A -u 192.0.2.10:53 -s rr
        -a -u 192.0.2.10:53 -r 10.20.0.21:53 -m -w 1

        """)
        let web = try #require(config.virtualServers.first)
        #expect(web.healthCheck?.probe == .tcp(port: nil, send: "GET / HTTP/1.0\r\n\r\n", expect: "HTTP"))
        #expect(web.healthCheck?.failureAction == .quiesce)
        #expect(web.healthCheck?.fall == 3 && web.healthCheck?.rise == 8)
        #expect(web.sorryServer?.address == IPAddress("10.20.0.99"))
        #expect(config.virtualServers[1].healthCheck?.probe == .exec(command: ["/usr/local/bin/check-dns", "%h"]))
        // Inactive virtual and server: left out with a note on their lines.
        #expect(result.findings.contains { $0.kind == .note && $0.message.contains("server web3") && $0.location?.line == 51 })
        #expect(result.findings.contains { $0.kind == .note && $0.message.contains("virtual ftp") && $0.location?.line == 57 })
    }

    /// nanny's timeout 300 and reentry 180 at keepalive 1 would be 300 and 180 checks; Tandem
    /// counts at most 100, so the import checks every 3 s (fall 100 = 300 s, rise 60 = 180 s)
    /// and says so, instead of capping the counts and cutting the times short.
    @Test func longTimeoutsKeepNannysTimesByCheckingLessOften() throws {
        let result = try importLVSCF(lvsGlobals + """
            virtual web {
             address = 192.0.2.10 eth0:1
             vip_nmask = 255.255.255.0
             port = 80
             send = "GET / HTTP/1.0\\r\\n\\r\\n"
             expect = "HTTP"
             timeout = 300
             reentry = 180
             server a {
              address = 10.0.0.1
             }
            }

            """)
        let config = try ConfigParser.parse(yaml: result.yaml)
        let check = try #require(config.virtualServers.first?.healthCheck)
        #expect(check.interval == .seconds(3) && check.fall == 100 && check.rise == 60 && check.timeout == .seconds(1))
        #expect(result.findings.contains { $0.message.contains("checked every 3s, not at nanny's keepalive 1s") }, "\(result.findings.map(\.message))")
    }

    /// Two `virtual` blocks (one per port) share a VIP but name different aliases and masks:
    /// one VIP comes out, the first block's, and the finding names the block that differs and
    /// what of it is left out. Blocks that agree say nothing.
    @Test func blocksThatDisagreeOnAVIPsDeviceAreNamed() throws {
        func block(_ name: String, _ port: Int, _ device: String, _ mask: String) -> String {
            "virtual \(name) {\n address = 192.0.2.10 \(device)\n vip_nmask = \(mask)\n port = \(port)\n server a {\n address = 10.0.0.1\n }\n}\n"
        }
        let agreeing = try importLVSCF(lvsGlobals + block("web", 80, "eth0:1", "255.255.255.0") + block("tls", 443, "eth0:1", "255.255.255.0"))
        #expect(!agreeing.findings.contains { $0.message.contains("gives VIP") }, "\(agreeing.findings.map(\.message))")
        let result = try importLVSCF(lvsGlobals + block("web", 80, "eth0:1", "255.255.255.0") + block("tls", 443, "eth1:2", "255.255.0.0"))
        let config = try ConfigParser.parse(yaml: result.yaml)
        #expect(config.virtualIPs.map(\.prefix.description) == ["192.0.2.10/24"])
        #expect(config.virtualIPs.map(\.interface) == ["eth0"])
        let finding = try #require(result.findings.first { $0.message.contains("gives VIP 192.0.2.10") }, "\(result.findings.map(\.message))")
        #expect(finding.kind == .notCarriedOver)
        #expect(finding.message.contains("virtual tls") && finding.message.contains("interface eth1, not eth0")
                && finding.message.contains("alias eth1:2, not eth0:1") && finding.message.contains("prefix 192.0.2.10/16, not 192.0.2.10/24"),
                "\(finding.message)")
    }

    @Test(arguments: [
        // DR: the real server's port is the service's, as ipvsadm -g requires.
        ("virtual web {\n active = 1\n address = 192.0.2.10 eth0:1\n vip_nmask = 255.255.255.0\n port = 80\n server a {\n address = 10.0.0.1\n port = 8080\n weight = 2\n }\n}\n",
         "-a -t 192.0.2.10:80 -r 10.0.0.1:80 -g -w 2"),
        // A port by service name; a fwmark service.
        ("virtual web {\n address = 192.0.2.10 eth0:1\n vip_nmask = 255.255.255.0\n port = https\n fwmark = 12\n persistent = 60\n server a {\n address = 10.0.0.1\n }\n}\n",
         "-A -f 12 -s wlc -p 60\n-a -f 12 -r 10.0.0.1:0 -g -w 1\n"),
    ])
    func virtualServers(_ block: String, _ expected: String) throws {
        let result = try importLVSCF(lvsGlobals + block)
        let table = IPVSSaveFormat.render(try ConfigParser.parse(yaml: result.yaml).desiredIPVSTable())
        #expect(table.contains(expected), "\(table)")
    }

    /// Without vip_nmask pulse's ifconfig applied the classful mask.
    @Test(arguments: [("10.1.2.3", "/8"), ("172.16.0.9", "/16"), ("192.0.2.10", "/24")])
    func classfulMask(_ address: String, _ length: String) throws {
        let result = try importLVSCF(lvsGlobals + "virtual v {\n address = \(address) eth0:1\n port = 80\n server a {\n address = 10.9.0.1\n }\n}\n")
        #expect(try ConfigParser.parse(yaml: result.yaml).virtualIPs.map(\.prefix.description) == ["\(address)\(length)"])
        #expect(result.findings.contains { $0.kind == .quirk && $0.location?.line == 9 })
    }

    @Test(arguments: [
        ("primary = 192.0.2.2\nvirtual v {\n}\n", 1, "lvs.cf needs both primary = and backup = (the two routers' addresses): add the missing one"),
        (lvsGlobals + "virtual v {\n address = 192.0.2.10 eth0\n", 8, "the `virtual v` block is never closed: add the missing `}`"),
        (lvsGlobals + "}\n", 8, "`}` closes a block that was never opened: remove it"),
        (lvsGlobals + "what is this\n", 8, "\"what is this\" is not `key = value`: lvs.cf lines are settings or blocks"),
    ])
    func badInput(_ text: String, _ line: Int, _ message: String) throws {
        #expect(throws: ImportError(at: SourceLocation(file: "/etc/sysconfig/ha/lvs.cf", line: line), message)) {
            _ = try importLVSCF(text)
        }
    }

    /// Operator trial of session 32: `active_cmd`/`inactive_cmd` (the README's migration table
    /// maps them to notify) were dropped as "no equivalent"; a DR real server's own port and a
    /// weight beyond IPVS's range were changed without a word.
    @Test func roleCommandsBecomeNotifyAndChangedPortsAndWeightsAreSaid() throws {
        let text = lvsGlobals + """
        active_cmd = /usr/local/sbin/lvs-up.sh --now
        inactive_cmd = lvs-down.sh
        virtual dns {
             address = 192.0.2.10 eth0:1
             vip_nmask = 255.255.255.0
             port = 53
             protocol = udp
             server ns1 {
                 address = 10.20.0.21
                 port = 5353
                 weight = 70000
             }
        }
        """
        let result = try importLVSCF(text)
        let config = try ConfigParser.parse(yaml: result.yaml)
        #expect(config.notify.active == ["/usr/local/sbin/lvs-up.sh", "--now"])
        #expect(config.notify.standby == nil)
        #expect(result.findings.contains { $0.kind == .notCarriedOver && $0.message.hasPrefix("inactive_cmd = lvs-down.sh is not carried over: not an absolute path") })
        #expect(IPVSSaveFormat.render(config.desiredIPVSTable()) == """
        -A -u 192.0.2.10:53 -s wlc
        -a -u 192.0.2.10:53 -r 10.20.0.21:53 -g -w 65535

        """)
        #expect(result.findings.contains { $0.kind == .quirk && $0.message.hasPrefix("server ns1 of virtual dns: port = 5353 differs from the virtual's port 53") && $0.location?.line == 17 },
                "\(result.findings)")
        #expect(result.findings.contains { $0.kind == .note && $0.message.contains("weight = 70000 is outside IPVS's 0…65535 and is written as 65535") })
    }

    /// pulse's tcp_timeout, tcpfin_timeout and udp_timeout (`ipvsadm --set`) become ipvs_timeouts
    /// (a trial: the importer said how to write them instead of writing them); 0, which leaves the
    /// kernel's value as it is, is left out with a note; a value that is no number is said.
    @Test func ipvsTimeoutsAreCarriedOver() throws {
        let text = lvsGlobals + """
        tcp_timeout = 7200
        tcpfin_timeout = 0
        udp_timeout = 60
        virtual dns {
             address = 192.0.2.10 eth0:1
             vip_nmask = 255.255.255.0
             port = 53
             protocol = udp
             server ns1 {
                 address = 10.20.0.21
             }
        }
        """
        let result = try importLVSCF(text)
        let config = try ConfigParser.parse(yaml: result.yaml)
        #expect(config.ipvsTimeouts == IPVSTimeouts(tcp: .seconds(7200), tcpFin: .seconds(120), udp: .seconds(60)))
        #expect(result.yaml.contains("ipvs_timeouts:  # from /etc/sysconfig/ha/lvs.cf:8\n  tcp: 7200s\n  udp: 60s\n"), "\(result.yaml)")
        #expect(result.findings.contains { $0.kind == .note && $0.message.hasPrefix("tcpfin_timeout = 0 leaves the kernel's timeout as it is") })
        #expect(!result.findings.contains { $0.message.contains("not converted") })
        let bad = try importLVSCF(lvsGlobals + "udp_timeout = 5m\n" + text.dropFirst(lvsGlobals.count).replacingOccurrences(of: "udp_timeout = 60\n", with: ""))
        #expect(bad.findings.contains { $0.kind == .notCarriedOver && $0.message.hasPrefix("udp_timeout = 5m is not a number of seconds") }, "\(bad.findings)")
        #expect(try ConfigParser.parse(yaml: bad.yaml).ipvsTimeouts?.udp == .seconds(300))
    }

    @Test func failoverBlocksInFosMode() throws {
        let text = lvsGlobals.replacingOccurrences(of: "service = lvs", with: "service = fos") + """
        failover web {
             active = 1
             address = 192.0.2.10 eth0:1
             vip_nmask = 255.255.255.0
             port = 80
             start_cmd = "/etc/init.d/httpd start"
             stop_cmd = "/etc/init.d/httpd stop"
        }
        """
        let result = try importLVSCF(text)
        let config = try ConfigParser.parse(yaml: result.yaml)
        #expect(config.virtualServers.isEmpty)
        #expect(config.virtualIPs.map(\.prefix.description) == ["192.0.2.10/24"])
        #expect(config.notify.active == ["/etc/init.d/httpd", "start"])
        #expect(result.findings.contains { $0.kind == .notCarriedOver && $0.location?.line == 8 })
    }
}
