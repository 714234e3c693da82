import Testing
@testable import TandemCore

/// Every setting a reload reports, with how the running daemon applies it: live, from the next
/// claim, or only at a restart (never reported as applied).
@Suite struct ConfigDifferenceTests {
    static let base = """
    serial: 1
    nodes:
      - {name: a, addresses: [10.0.0.1], priority: 150, track_interfaces: [eth2]}
      - {name: b, addresses: [10.0.0.2], priority: 100}
    heartbeat: {interval: 100ms, dead_time: 400ms, key_file: /etc/tandem/key}
    virtual_ips:
      - {address: 10.0.0.10/24, interface: eth0}
    virtual_servers:
      - name: web
        address: 10.0.0.10
        port: 80
        forwarding: dr
        real_servers:
          - {address: 10.0.0.21, port: 80, weight: 5}
    sync: {interface: eth1, sync_id: 1}
    control: {socket: /run/tandem/tandemd.sock}
    state_directory: /var/lib/tandem

    """

    static func config(_ edits: [(String, String)] = [], appending extra: String = "") throws -> Config {
        var text = base
        for (old, new) in edits {
            precondition(text.contains(old), "the base config has no \(old)")
            text = text.replacingOccurrences(of: old, with: new)
        }
        return try ConfigParser.parse(yaml: text + extra)
    }

    static let context = ReloadContext(nodeName: "a")

    /// (edit of the base config, the expected lines with their effect)
    static let cases: [(String, [(String, String)], String, [ConfigChange])] = [
        ("sync parameters", [("sync: {interface: eth1, sync_id: 1}", "sync: {interface: eth1, sync_id: 2, port: 8850, max_length: 512}")], "",
         [.init("~ connection sync daemon: syncid 1 -> 2, port 8848 -> 8850, maxlen default -> 512", writesIPVS: true)]),
        ("sync removed", [("sync: {interface: eth1, sync_id: 1}\n", "")], "", [.init("- connection sync daemon on eth1 (stopped)", writesIPVS: true)]),
        ("heartbeat timing", [("interval: 100ms, dead_time: 400ms", "interval: 50ms, dead_time: 300ms")], "",
         [.init("~ heartbeat interval 100ms -> 50ms"), .init("~ heartbeat dead time 400ms -> 300ms")]),
        ("heartbeat port", [("dead_time: 400ms,", "dead_time: 400ms, port: 540,")], "",
         [.init("~ heartbeat port 539 -> 540", .restart)]),
        ("key file", [("key_file: /etc/tandem/key", "key_file: /etc/tandem/key2")], "",
         [.init("~ heartbeat key_file /etc/tandem/key -> /etc/tandem/key2")]),
        ("auth none", [("key_file: /etc/tandem/key", "auth: none")], "",
         [.init("~ heartbeat authentication hmac-sha256 (key file /etc/tandem/key) -> none (config mirroring)", .restart)]),
        ("realtime priority off", [("dead_time: 400ms,", "dead_time: 400ms, realtime_priority: off,")], "",
         [.init("~ heartbeat realtime priority SCHED_FIFO 50 (the default) -> off")]),
        ("realtime priority", [("dead_time: 400ms,", "dead_time: 400ms, realtime_priority: 70,")], "",
         [.init("~ heartbeat realtime priority SCHED_FIFO 50 (the default) -> SCHED_FIFO 70")]),
        // The default written out changes nothing the thread does.
        ("realtime priority written as its default", [("dead_time: 400ms,", "dead_time: 400ms, realtime_priority: 50,")], "", []),
        ("heartbeat addresses", [("addresses: [10.0.0.2]", "addresses: [10.0.0.3]")], "",
         [.init("~ heartbeat addresses of b 10.0.0.2 -> 10.0.0.3", .restart)]),
        ("peer renamed", [("name: b", "name: c")], "", [.init("~ node names a, b -> a, c", .restart)]),
        // A label or nat_gateway change reads as one line, not as "- VIP x" and "+ VIP x" (trial 33).
        ("VIP label", [("interface: eth0}", "interface: eth0, label: \"eth0:web\"}")], "",
         [.init("~ VIP 10.0.0.10/24 on eth0: label (none) -> eth0:web (a held VIP is removed and added again: gone for a moment, then announced)")]),
        ("VIP moved and labelled", [("interface: eth0}", "interface: eth3, label: \"eth3:web\", nat_gateway: true}")], "",
         [.init("+ VIP 10.0.0.10/24 on eth3 label eth3:web (nat_gateway)"), .init("- VIP 10.0.0.10/24 on eth0")]),
        ("priorities", [("priority: 150", "priority: 120"), ("priority: 100", "priority: 90")], "",
         [.init("~ priority of a 150 -> 120"), .init("~ priority of b 100 -> 90")]),
        ("tracked interface removed", [("track_interfaces: [eth2]", "track_interfaces: []")], "",
         [.init("~ tracked interfaces of a")]),
        ("tracked interface effect", [("track_interfaces: [eth2]", "track_interfaces: [{interface: eth2, lower_priority_by: 50}]")], "",
         [.init("~ tracked interfaces of a")]),
        ("a VIP interface becomes tracked: already watched", [("track_interfaces: [eth2]", "track_interfaces: [eth2, eth0]")], "",
         [.init("~ tracked interfaces of a")]),
        ("a new interface tracked here", [("track_interfaces: [eth2]", "track_interfaces: [eth2, eth3]")], "",
         [.init("~ tracked interfaces of a: eth3 not watched yet", .restart)]),
        ("a new interface tracked by the peer", [("priority: 100}", "priority: 100, track_interfaces: [eth3]}")], "",
         [.init("~ tracked interfaces of b")]),
        ("preempt", [], "election: {preempt: true, preempt_delay: 5s}\n",
         [.init("~ preempt false -> true"), .init("~ preempt delay 0s -> 5s")]),
        ("announce", [], "announce: {repeat: 3}\n", [.init("~ announcement schedule", .nextClaim)]),
        ("standby table", [], "standby_table: cold\n", [.init("~ standby table warm -> cold", writesIPVS: true)]),
        ("ipvs timeouts added", [], "ipvs_timeouts: {tcp: 1h, tcp_fin: 2m, udp: 5m}\n",
         [.init("+ ipvs timeouts tcp 1h, tcpfin 2m, udp 5m", writesIPVS: true)]),
        ("notify", [], "notify: {active: [/bin/true]}\n", [.init("~ notify commands")]),
        ("control socket", [("socket: /run/tandem/tandemd.sock", "socket: /run/tandem/other.sock")], "",
         [.init("~ control socket /run/tandem/tandemd.sock -> /run/tandem/other.sock", .restart)]),
        ("control group", [("socket: /run/tandem/tandemd.sock}", "socket: /run/tandem/tandemd.sock, group: adm}")], "",
         [.init("~ control group none (root only) -> adm")]),
        ("state directory", [("state_directory: /var/lib/tandem", "state_directory: /var/lib/tandem2")], "",
         [.init("~ state directory /var/lib/tandem -> /var/lib/tandem2", .restart)]),
        ("health check", [("forwarding: dr\n", "forwarding: dr\n    health_check: {type: tcp}\n")], "",
         [.init("~ service web: health check")]),
        ("sorry server", [("forwarding: dr\n", "forwarding: dr\n    sorry_server: {address: 10.0.0.99, port: 80}\n")], "",
         [.init("~ service web: sorry server", writesIPVS: true)]),
        ("weight", [("weight: 5", "weight: 2")], "", [.init("~ ipvs: update real server 10.0.0.21:80 of tcp 10.0.0.10:80", writesIPVS: true)]),
        ("serial", [("serial: 1", "serial: 2")], "", [.init("~ serial 1 -> 2")]),
    ]

    @Test(arguments: 0..<ConfigDifferenceTests.cases.count) func eachSettingIsClassified(_ i: Int) throws {
        let (name, edits, extra, expected) = Self.cases[i]
        let old = try Self.config()
        let new = try Self.config(edits, appending: extra)
        #expect(ConfigDifference.changes(from: old, to: new, started: old, context: Self.context) == expected, "\(name)")
    }

    /// A kernel without IPVS (no `ip_vs`, a container without it) cannot take a reload's IPVS
    /// lines: they are in the config in force, not in the kernel, and the report says so line
    /// by line with one warning (an operator read "applied: ~ ipvs: update real server" on
    /// such a node). Where IPVS opens, the report is the lines as they are.
    @Test func ipvsLinesAreMarkedNotInTheKernelWhereIPVSCannotBeOpened() throws {
        let changed = try Self.config([("weight: 5", "weight: 2"), ("interval: 100ms", "interval: 50ms")],
                                      appending: "ipvs_timeouts: {tcp: 1h, tcp_fin: 2m, udp: 5m}\n")
        let changes = ConfigDifference.changes(from: try Self.config(), to: changed, started: try Self.config(), context: Self.context)
        let why = "IPVS is not available in this kernel (the genl family \"IPVS\" was not found): load it with modprobe ip_vs"
        let report = ConfigChange.reloadReport(changes, ipvsUnavailable: why)
        #expect(report.lines == ["~ ipvs: update real server 10.0.0.21:80 of tcp 10.0.0.10:80 (not in the kernel: IPVS unavailable)",
                                 "~ heartbeat interval 100ms -> 50ms",
                                 "+ ipvs timeouts tcp 1h, tcpfin 2m, udp 5m (not in the kernel: IPVS unavailable)"])
        #expect(report.warnings == ["2 IPVS changes are in the config in force but not in the kernel: \(why). tandemd writes the "
                                    + "table once IPVS can be opened (it tries again every 30s); `tandemctl doctor` checks this kernel"])
        let fine = ConfigChange.reloadReport(changes, ipvsUnavailable: nil)
        #expect(fine.lines == changes.map(\.description) && fine.warnings.isEmpty)
        // Nothing for the kernel's IPVS in the reload: no warning whatever the kernel.
        let timing = ConfigDifference.changes(from: try Self.config(), to: try Self.config([("interval: 100ms", "interval: 50ms")]),
                                              started: try Self.config(), context: Self.context)
        #expect(ConfigChange.reloadReport(timing, ipvsUnavailable: why) == (["~ heartbeat interval 100ms -> 50ms"], []))
    }

    /// A reload that renames the peer or this node is refused (the node would stop recognising
    /// its peer), with the way to rename; one that keeps the names is not.
    @Test func aRenamedPeerIsNamedWithTheWayToRenameIt() throws {
        let renamed = try Self.config([("name: b", "name: b2")])
        let why = try #require(ConfigDifference.renamed(from: try Self.config(), to: renamed, node: "a"))
        #expect(why.hasPrefix("the peer b is called b2 in the new config") && why.contains("stop tandemd on the standby"))
        #expect(ConfigDifference.renamed(from: try Self.config(), to: try Self.config([("priority: 100", "priority: 90")]), node: "a") == nil)
        let itself = try #require(ConfigDifference.renamed(from: try Self.config(), to: renamed, node: "b"))
        #expect(itself.hasPrefix("this node, b, is not in the new config (nodes: a, b2): a node keeps the name it started with"))
    }

    /// A drained real server a reload removes, or brings back, is said (operator trial 33: it came
    /// back at weight 0 without a word); one that stays, or was never drained, is not.
    @Test func drainedRealServersLeavingOrComingBackAreSaid() throws {
        let with = try Self.config()
        let without = try Self.config([("{address: 10.0.0.21, port: 80, weight: 5}", "{address: 10.0.0.22, port: 80, weight: 5}")])
        let id = RealServerID(service: "web", address: IPAddress("10.0.0.21")!, port: 80)
        let leaving = ConfigDifference.drainNotes(drained: [id], from: with, to: without)
        #expect(leaving == ["real server 10.0.0.21:80 of web leaves the config but stays drained: if it comes back it comes back "
                            + "at weight 0; `tandemctl undrain 10.0.0.21:80 --service web` takes it off the drain list"])
        let back = ConfigDifference.drainNotes(drained: [id], from: without, to: with)
        #expect(back.count == 1 && back[0].hasPrefix("real server 10.0.0.21:80 of web comes back drained (weight 0)"))
        #expect(ConfigDifference.drainNotes(drained: [id], from: with, to: with).isEmpty)
        #expect(ConfigDifference.drainNotes(drained: [], from: with, to: without).isEmpty)
    }

    @Test func ipvsTimeoutsChangedAndRemoved() throws {
        let with = try Self.config(appending: "ipvs_timeouts: {tcp: 1h, tcp_fin: 2m, udp: 5m}\n")
        let other = try Self.config(appending: "ipvs_timeouts: {tcp: 2h, tcp_fin: 2m, udp: 5m}\n")
        let without = try Self.config()
        #expect(ConfigDifference.changes(from: with, to: other, started: with, context: Self.context)
                == [.init("~ ipvs timeouts tcp 1h, tcpfin 2m, udp 5m -> tcp 2h, tcpfin 2m, udp 5m", writesIPVS: true)])
        #expect(ConfigDifference.changes(from: with, to: without, started: with, context: Self.context)
                == [.init("- ipvs timeouts (no longer set: the kernel keeps the values it has)")])
    }

    @Test func pathsGivenOnTheCommandLineAreNotUsedHere() throws {
        let old = try Self.config()
        let new = try Self.config([("socket: /run/tandem/tandemd.sock", "socket: /tmp/x.sock"),
                                   ("state_directory: /var/lib/tandem", "state_directory: /tmp/state")])
        let local = ReloadContext(nodeName: "a", controlSocketFromConfig: false, stateDirectoryFromConfig: false)
        #expect(ConfigDifference.changes(from: old, to: new, started: old, context: local).map(\.effect) == [.unused, .unused])
        #expect(ConfigDifference.restartNeeded(started: old, current: new, context: local).isEmpty)
    }

    @Test func restartNeededComparesWithTheConfigTheDaemonStartedWith() throws {
        let started = try Self.config()
        let portChanged = try Self.config([("dead_time: 400ms,", "dead_time: 400ms, port: 540,"), ("serial: 1", "serial: 2")])
        let thenWeight = try Self.config([("dead_time: 400ms,", "dead_time: 400ms, port: 540,"), ("serial: 1", "serial: 3"),
                                          ("weight: 5", "weight: 2")])
        let reverted = try Self.config([("serial: 1", "serial: 4"), ("weight: 5", "weight: 2")])
        #expect(ConfigDifference.restartNeeded(started: started, current: portChanged, context: Self.context) == ["heartbeat port 539 -> 540"])
        #expect(ConfigDifference.restartTogetherAdvice(["heartbeat port 539 -> 540"])?.hasPrefix("restart both routers together") == true)
        #expect(ConfigDifference.restartTogetherAdvice(["control socket /a -> /b"]) == nil)
        // A later reload of something else: the port still needs the restart.
        #expect(ConfigDifference.restartNeeded(started: started, current: thenWeight, context: Self.context) == ["heartbeat port 539 -> 540"])
        #expect(ConfigDifference.changes(from: portChanged, to: thenWeight, started: started, context: Self.context)
                    .filter { $0.effect == .restart }.isEmpty)
        // Back to the started value: nothing is pending.
        #expect(ConfigDifference.restartNeeded(started: started, current: reverted, context: Self.context).isEmpty)
    }

    @Test func linesMarkEachEffect() throws {
        let old = try Self.config()
        let new = try Self.config([("dead_time: 400ms,", "dead_time: 400ms, port: 540,")], appending: "announce: {repeat: 3}\n")
        #expect(ConfigDifference.lines(from: old, to: new, context: Self.context) == [
            "~ heartbeat port 539 -> 540: needs a restart",
            "~ announcement schedule (from the next claim of the VIPs)",
        ])
    }
}
