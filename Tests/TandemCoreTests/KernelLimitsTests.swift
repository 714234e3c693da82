import Testing
@testable import TandemCore

/// Issue 13's config kinds: values the kernel or ipvsadm refuse or change (kind 1), configs
/// valid but senseless (kind 3), what IPVS accepts and Tandem must too (kind 4), timing that
/// cannot work (kind 5). Each limit's source is in `KernelLimits`.
@Suite struct KernelLimitsTests {
    /// `minimalConfig` with its service's forwarding line (17) replaced by `lines`.
    static func service(_ lines: String) -> String { minimal(replacingLine: 17, with: lines) }

    static func warnings(of yaml: String) -> [String] {
        (try? ConfigParser.parseWithWarnings(yaml: yaml))?.warnings.map(\.description) ?? ["(config invalid: \(errors(of: yaml)))"]
    }

    struct Case: CustomTestStringConvertible, Sendable {
        let yaml: String
        let expected: String
        var testDescription: String { expected }
    }

    // MARK: Kind 1: the kernel's and ipvsadm's limits

    static let refused: [Case] = [
        Case(yaml: service("    forwarding: dr\n    persistence: {timeout: 20000h}"),
             expected: "virtual_servers[0].persistence.timeout: 20000h is too long for a persistence timeout: at most 744h (2678400s, 31 days), the limit of ipvsadm -p; the kernel keeps timeout × HZ in 32 bits, so longer values come back changed (line 18)"),
        Case(yaml: service("    forwarding: dr\n    persistence: {timeout: 4294967295s}"),
             expected: "virtual_servers[0].persistence.timeout: 4294967295s is too long for a persistence timeout: at most 744h (2678400s, 31 days), the limit of ipvsadm -p; the kernel keeps timeout × HZ in 32 bits, so longer values come back changed (line 18)"),
        Case(yaml: service("    forwarding: dr\n    persistence: {timeout: 2678401s}"),
             expected: "virtual_servers[0].persistence.timeout: 2678401s is too long for a persistence timeout: at most 744h (2678400s, 31 days), the limit of ipvsadm -p; the kernel keeps timeout × HZ in 32 bits, so longer values come back changed (line 18)"),
        Case(yaml: minimal(appending: "ipvs_timeouts: {tcp: 2400h}"),
             expected: "ipvs_timeouts.tcp: 2400h is too long: the kernel refuses more than INT_MAX/HZ seconds (EINVAL, ip_vs_ctl.c ip_vs_set_timeout), which is 2147483s (about 24 days) at HZ=1000; use at most 2147483s (line 22)"),
        Case(yaml: minimal(appending: "ipvs_timeouts: {udp: 2147484s}"),
             expected: "ipvs_timeouts.udp: 2147484s is too long: the kernel refuses more than INT_MAX/HZ seconds (EINVAL, ip_vs_ctl.c ip_vs_set_timeout), which is 2147483s (about 24 days) at HZ=1000; use at most 2147483s (line 22)"),
        Case(yaml: service("    forwarding: dr\n    persistence: {timeout: 300s, engine: sipp}"),
             expected: "virtual_servers[0].persistence.engine: \"sipp\" is not a kernel persistence engine: the kernel has sip (module ip_vs_pe_sip; names are case-sensitive) (line 18)"),
        Case(yaml: service("    forwarding: dr\n    persistence: {timeout: 300s, engine: SIP}"),
             expected: "virtual_servers[0].persistence.engine: \"SIP\" is not a kernel persistence engine: the kernel has sip (module ip_vs_pe_sip; names are case-sensitive) (line 18)"),
        Case(yaml: minimal(replacingLine: 21, with: "        upper_threshold: 2147483648"),
             expected: "virtual_servers[0].real_servers[0].upper_threshold: 2147483648 is not a valid connection threshold (ipvsadm -x/-y) (0…2147483647) (line 21)"),
        Case(yaml: minimal(appending: "  - {name: m, fwmark: 0, forwarding: dr}"),
             expected: "virtual_servers[1].fwmark: 0 is not a valid firewall mark (1…4294967295) (line 22)"),
        Case(yaml: minimal(appending: "sync: {interface: eth1, max_length: 65508}"),
             expected: "sync.max_length: 65508 is not a sync message length (the kernel's limit is 65535 minus the IP and UDP headers; below 64 no connection entry fits) (64…65507) (line 22)"),
        Case(yaml: minimal(appending: "sync: {interface: eth1, group: \"ff02::1:2\", max_length: 65500}"),
             expected: "sync.max_length: 65500 is not a sync message length (the kernel's limit is 65535 minus the IP and UDP headers; below 64 no connection entry fits) (64…65487) (line 22)"),
        Case(yaml: service("    forwarding: dr\n    scheduler: WLC"),
             expected: "virtual_servers[0].scheduler: \"WLC\" is not a kernel scheduler: use one of rr wrr lc wlc lblc lblcr dh sh sed nq fo ovf mh twos none (module ip_vs_<name>; names are case-sensitive) (line 18)"),
        // Kind 4's refusals on purpose say why and what to write.
        Case(yaml: service("    forwarding: dr\n    persistence: {netmask: 255.0.255.0}"),
             expected: "virtual_servers[0].persistence.netmask: \"255.0.255.0\" is not an IPv4 netmask: write a contiguous mask like 255.255.255.0 or /24 (0.0.0.0 or /0 for one persistence template for all clients) (line 18)"),
        Case(yaml: minimal(appending: "  - {name: m, fwmark: 3, family: ipv6, forwarding: dr, persistence: {netmask: 0}}"),
             expected: "virtual_servers[1].persistence.netmask: \"0\" is not an IPv6 persistence prefix length: write 1…128, like 64 (the kernel refuses 0 for IPv6; ip_vs_ctl.c) (line 22)"),
        Case(yaml: minimal(replacingLine: 16, with: "    port: 0"),
             expected: "virtual_servers[0].port: port 0 (every port) needs persistence, as ipvsadm requires (\"Zero port specified for non-persistent service\"): add persistence, or use a fwmark service to match several ports (line 16)"),
    ]

    @Test(arguments: refused)
    func refusesWhatTheKernelOrIpvsadmRefuses(_ c: Case) {
        let found = errors(of: c.yaml)
        #expect(found.contains(c.expected), "got: \(found)")
    }

    @Test func acceptsTheLimitsThemselves() throws {
        let yaml = Self.service("    forwarding: dr\n    persistence: {timeout: 744h, engine: sip}")
            + "\nipvs_timeouts: {tcp: 2147483s, tcp_fin: 1s, udp: 2147483s}\nsync: {interface: eth1, max_length: 65507}"
        let config = try ConfigParser.parse(yaml: yaml)
        #expect(config.virtualServers[0].persistence == Persistence(timeout: .seconds(2_678_400), prefixLength: 32, engine: "sip"))
        #expect(config.virtualServers[0].ipvsService.timeout == 2_678_400)
        #expect(config.ipvsTimeouts?.tcp == .seconds(2_147_483))
        #expect(config.sync?.maxLength == 65507)
        let marks = try ConfigParser.parse(yaml: minimal(appending: "  - {name: m, fwmark: 4294967295, forwarding: dr}"))
        #expect(marks.virtualServers[1].match == .fwmark(4_294_967_295, family: .ipv4))
    }

    @Test func warnsAboutWhatOnlySomeKernelsHaveOrWhatChangesOnTheStandby() {
        #expect(Self.warnings(of: Self.service("    forwarding: dr\n    scheduler: twos")).contains(
            "virtual_servers[0].scheduler: the twos scheduler needs Linux 6.2 or later (module ip_vs_twos); `tandemctl doctor` checks this kernel (line 18)"))
        #expect(Self.warnings(of: Self.service("    forwarding: dr\n    scheduler: none")).contains(
            "virtual_servers[0].scheduler: scheduler none binds no scheduler: the kernel schedules no new connections for this service, only persistent and synced ones are served (line 18)"))
        #expect(Self.warnings(of: minimal(appending: "sync: {interface: eth1, max_length: 512}")).contains(
            "sync.max_length: 512 is below 1024: the standby's backup sync daemon raises it to 1024 (ip_vs_sync.c start_sync_thread), so the two routers use different lengths; use 1024 or more (line 22)"))
    }

    // MARK: Kind 4: what IPVS accepts

    @Test func oneTemplateForAllClients() throws {
        for mask in ["0.0.0.0", "/0"] {
            let config = try ConfigParser.parse(yaml: Self.service("    forwarding: dr\n    persistence: {timeout: 1800s, netmask: \(mask)}"))
            let service = config.virtualServers[0].ipvsService
            #expect(config.virtualServers[0].persistence?.prefixLength == 0)
            #expect(service.netmask == 0)
            #expect(IPVSSaveFormat.render(config.desiredIPVSTable()).hasPrefix("-A -t 10.0.0.10:80 -s wlc -p 1800 -M 0.0.0.0\n"))
        }
        let v6 = try ConfigParser.parse(yaml: minimal(appending: "  - {name: m, fwmark: 3, family: ipv6, forwarding: dr, persistence: {netmask: /64}}"))
        #expect(v6.virtualServers[1].persistence?.prefixLength == 64)
    }

    @Test func allPortsPersistentService() throws {
        let yaml = minimal(replacingLine: 16, with: "    port: 0\n    persistence: {timeout: 600s}")
            .replacingOccurrences(of: "        port: 80\n", with: "")
        let config = try ConfigParser.parse(yaml: yaml)
        #expect(config.virtualServers[0].match == .address(.v4(0x0A00_000A), port: 0, protocol: .tcp))
        #expect(config.virtualServers[0].realServers[0].port == 0)
        #expect(IPVSSaveFormat.render(config.desiredIPVSTable()) == "-A -t 10.0.0.10:0 -s wlc -p 600\n-a -t 10.0.0.10:0 -r 10.0.0.21:0 -g -w 5\n")
    }

    // MARK: Kind 3: valid but senseless

    @Test func omittedPortsTakeTheServicePort() throws {
        let nat = try ConfigParser.parse(yaml: Self.service("    forwarding: nat\n    sorry_server: {address: 10.0.0.99}")
            .replacingOccurrences(of: "        port: 80\n", with: ""))
        #expect(nat.virtualServers[0].sorryServer?.port == 80)
        #expect(nat.virtualServers[0].realServers[0].port == 80)
        #expect(IPVSSaveFormat.render(nat.desiredIPVSTable(down: [RealServerID(service: "web", address: .v4(0x0A00_0015), port: 80)]))
                    .contains("-a -t 10.0.0.10:80 -r 10.0.0.99:80 -m -w 1\n"))
        let dr = try ConfigParser.parse(yaml: Self.service("    forwarding: dr\n    sorry_server: {address: 10.0.0.99}"))
        #expect(dr.virtualServers[0].sorryServer?.port == 80)
        let fwmark = try ConfigParser.parse(yaml: minimal(appending: "  - {name: m, fwmark: 3, forwarding: dr, sorry_server: {address: 10.0.0.99}, real_servers: [{address: 10.0.0.22}]}"))
        #expect(fwmark.virtualServers[1].sorryServer?.port == 0)
        #expect(fwmark.virtualServers[1].realServers[0].port == 0)
    }

    @Test func sorryServerWhenNoLiveWeight() throws {
        let yaml = """
        serial: 1
        nodes:
          - {name: a, addresses: [10.0.0.1]}
          - {name: b, addresses: [10.0.0.2]}
        heartbeat: {auth: none}
        virtual_ips:
          - {address: 10.0.0.10/24, interface: eth0}
        virtual_servers:
          - name: web
            address: 10.0.0.10
            port: 80
            forwarding: dr
            sorry_server: {address: 10.0.0.99}
            real_servers:
              - {address: 10.0.0.21, weight: 0}
              - {address: 10.0.0.22, weight: 0}
        """
        let config = try ConfigParser.parse(yaml: yaml)
        let sorry = IPVSDestinationKey(address: .v4(0x0A00_0063), port: 80)
        func installed(down: Set<RealServerID> = [], weights: [RealServerID: Int] = [:]) -> Bool {
            config.desiredIPVSTable(down: down, weights: weights).entries[0].destinations.contains { $0.key == sorry }
        }
        let a = RealServerID(service: "web", address: .v4(0x0A00_0015), port: 80)
        let b = RealServerID(service: "web", address: .v4(0x0A00_0016), port: 80)
        #expect(installed(), "every real server at weight 0: no live weight")
        #expect(!installed(weights: [a: 3]), "an agent or reload gives one a weight")
        #expect(installed(down: [b], weights: [a: 0, b: 4]), "drained (0) and down")
        #expect(!installed(down: [a], weights: [b: 1]))
        #expect(installed(down: [a, b]))
        #expect(Self.warnings(of: yaml).contains("virtual_servers[0].real_servers: every real server has weight 0, so the sorry server takes every new connection (line 14)"))
    }

    static let loops: [Case] = [
        Case(yaml: minimal(replacingLine: 19, with: "      - address: 10.0.0.10"),
             expected: "virtual_servers[0].real_servers[0].address: a real server 10.0.0.10:80 is this service's own VIP and port: a forwarding loop; use the server's own address (line 19)"),
        Case(yaml: minimal(replacingLine: 11, with: "  - address: 10.0.0.10/24\n    interface: eth0\n  - address: 10.0.0.11/24")
                .replacingOccurrences(of: "      - address: 10.0.0.21", with: "      - address: 10.0.0.11"),
             expected: "virtual_servers[0].real_servers[0].address: 10.0.0.11 is one of the pair's virtual IPs: a real server would be local on the active router and the active itself seen from the standby; use the server's own address (or 127.0.0.1 to serve on the routers themselves) (line 21)"),
        Case(yaml: service("    forwarding: dr\n    sorry_server: {address: 10.0.0.10}"),
             expected: "virtual_servers[0].sorry_server.address: the sorry server 10.0.0.10:80 is this service's own VIP and port: a forwarding loop; use the server's own address (line 18)"),
        Case(yaml: minimal(appending: "    health_check: {type: tcp}\n  - {name: m, fwmark: 3, forwarding: nat, health_check: {type: tcp}, real_servers: [{address: 10.0.0.22}]}"),
             expected: "virtual_servers[1].health_check: real_servers[0] has port 0 (it keeps the client's destination port), so a tcp check has no port to probe: give health_check.port (line 23)"),
    ]

    @Test(arguments: loops)
    func refusesWhatIsAlwaysWrong(_ c: Case) {
        let found = errors(of: c.yaml)
        #expect(found.contains(c.expected), "got: \(found)")
    }

    @Test func warnsAboutWhatIsRisky() {
        #expect(Self.warnings(of: minimal(replacingLine: 19, with: "      - address: 10.0.0.2")).contains(
            "virtual_servers[0].real_servers[0].address: 10.0.0.2 is b's heartbeat address: a real server is b itself (local on b, forwarded to b by a); use a separate server, or 127.0.0.1 if each router serves (line 19)"))
        #expect(Self.warnings(of: minimal(appending: "  - {name: m, fwmark: 3, family: ipv6, forwarding: dr, sorry_server: {address: \"fd00::9\"}}")).contains(
            "virtual_servers[1].fwmark: no virtual IP is IPv6, so no IPv6 traffic marked 3 comes to this pair through a VIP: add an IPv6 VIP, or check the service's family (line 22)"))
        #expect(Self.warnings(of: minimal(appending: "  - {name: m, fwmark: 3, forwarding: dr}")).contains(
            "virtual_servers[1].real_servers: the service has no real servers and no sorry server: the kernel accepts its connections and has nowhere to send them (line 22)"))
    }

    // MARK: Kind 5: timing

    @Test func timingThatCannotWork() {
        let tight = Self.warnings(of: minimal(replacingLine: 8, with: "  interval: 100ms\n  dead_time: 101ms"))
        #expect(tight.contains("heartbeat.dead_time: dead time 101ms is less than twice the interval 100ms: a single late or lost heartbeat is a takeover; use at least 200ms (3× is usual) (line 9)"))
        // SCHED_FIFO is the default: a short dead time is fine unless the config turns it off.
        #expect(!tight.contains { $0.contains("realtime_priority") }, "\(tight)")
        let off = Self.warnings(of: minimal(replacingLine: 8, with: "  interval: 100ms\n  dead_time: 101ms\n  realtime_priority: off"))
        #expect(off.contains { $0.hasPrefix("heartbeat.dead_time: dead time 101ms with realtime_priority: off:") }, "\(off)")
        let realtime = Self.warnings(of: minimal(replacingLine: 8, with: "  interval: 100ms\n  dead_time: 400ms\n  realtime_priority: 50"))
        #expect(!realtime.contains { $0.hasPrefix("heartbeat") }, "\(realtime)")
        let slow = Self.warnings(of: minimal(replacingLine: 8, with: "  interval: 1s\n  dead_time: 3s"))
        #expect(!slow.contains { $0.hasPrefix("heartbeat") }, "\(slow)")
        let bursts = Self.warnings(of: minimal(appending: "announce: {repeat: 10, spacing: 1s, second_burst_delay: 5s, refresh_interval: 9s}"))
        #expect(bursts.contains("announce.second_burst_delay: 5s is within the first burst (10 messages 1s apart last 9s): the second burst overlaps it; make it longer than 9s (line 22)"))
        #expect(bursts.contains("announce.refresh_interval: 9s is shorter than one burst (9s): refreshes would run back to back; make it longer than 9s (line 22)"))
    }
}
