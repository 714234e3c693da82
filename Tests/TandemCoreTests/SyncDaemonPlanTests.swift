import Testing
@testable import TandemCore

/// The kernel's sync-daemon defaults and clamping (ip_vs_sync.c `start_sync_thread`) and the
/// writes that follow from a config, a role and what GET_DAEMON reports.
@Suite struct SyncDaemonPlanTests {
    static func daemon(_ role: IPVSSyncDaemon.Role, _ interface: String = "eth0", syncID: UInt32 = 1, maxLength: UInt16? = nil,
                       group: String? = nil, port: UInt16? = nil, ttl: UInt8? = nil) -> IPVSSyncDaemon {
        IPVSSyncDaemon(role: role, interface: interface, syncID: syncID, maxLength: maxLength,
                       group: group.map { IPAddress($0)! }, port: port, ttl: ttl)
    }

    /// (requested, interface MTU, expected maxlen as the kernel stores it)
    static let clampCases: [(IPVSSyncDaemon, Int?, UInt16?)] = [
        (daemon(.master), 1500, 1472),                          // 1500 - 28, whatever the MTU
        (daemon(.master), 9000, 1472),
        (daemon(.master, group: "ff02::81"), 1500, 1452),       // IPv6: 1500 - 48
        (daemon(.master, maxLength: 512), 1500, 512),           // a master takes any length from 1
        (daemon(.master, maxLength: 1), 1500, 1),
        (daemon(.master, maxLength: 65535), 1500, 65507),       // at most 65535 - hlen
        (daemon(.backup, maxLength: 512), 1500, 1024),          // a backup raises it to 1024
        (daemon(.backup, maxLength: 1023), 1500, 1024),
        (daemon(.backup, maxLength: 1024), 1500, 1024),
        (daemon(.backup, maxLength: 2000), 1500, 2000),
        (daemon(.backup, maxLength: 65535, group: "ff02::81"), 1500, 65487),
        (daemon(.backup), 1500, 1472),                          // clamp(MTU, 1500, 65535) - 28
        (daemon(.backup), 1280, 1472),
        (daemon(.backup), 9000, 8972),
        (daemon(.backup), nil, nil),                            // MTU unknown: not compared
    ]

    @Test(arguments: 0..<SyncDaemonPlanTests.clampCases.count) func maxLengthAsTheKernelStoresIt(_ i: Int) {
        let (requested, mtu, expected) = Self.clampCases[i]
        #expect(SyncDaemonRules.effective(requested, interfaceMTU: mtu).maxLength == expected, "case \(i): \(requested)")
    }

    @Test func defaultsAreFilledIn() {
        let d = SyncDaemonRules.effective(Self.daemon(.master), interfaceMTU: 1500)
        #expect(d.group == IPAddress("224.0.0.81") && d.port == 8848 && d.ttl == 1)
        let given = SyncDaemonRules.effective(Self.daemon(.backup, group: "239.1.1.1", port: 8850, ttl: 3), interfaceMTU: 1500)
        #expect(given.group == IPAddress("239.1.1.1") && given.port == 8850 && given.ttl == 3)
    }

    // The kernel's report of a running daemon, as GET_DAEMON gives it.
    static let masterV1 = daemon(.master, maxLength: 1472, group: "224.0.0.81", port: 8848, ttl: 1)

    static let planCases: [(name: String, desired: IPVSSyncDaemon?, managed: Bool, running: [IPVSSyncDaemon],
                            expected: [SyncDaemonPlan.Action])] = [
        ("nothing running: start", daemon(.master), true, [], [.start(daemon(.master))]),
        ("the same daemon running: nothing", daemon(.master), true, [masterV1], []),
        ("older kernel reports no maxlen/port/ttl/group: not compared", daemon(.master), true,
         [daemon(.master)], []),
        ("sync_id changed: restart", daemon(.master, syncID: 2), true, [masterV1],
         [.stop(masterV1), .start(daemon(.master, syncID: 2))]),
        ("port changed: restart", daemon(.master, port: 8850), true, [masterV1],
         [.stop(masterV1), .start(daemon(.master, port: 8850))]),
        ("max_length changed: restart", daemon(.master, maxLength: 512), true, [masterV1],
         [.stop(masterV1), .start(daemon(.master, maxLength: 512))]),
        ("max_length removed: back to the default", daemon(.master), true,
         [daemon(.master, maxLength: 512, group: "224.0.0.81", port: 8848, ttl: 1)],
         [.stop(daemon(.master, maxLength: 512, group: "224.0.0.81", port: 8848, ttl: 1)), .start(daemon(.master))]),
        ("interface changed: restart", daemon(.master, "eth1"), true, [masterV1],
         [.stop(masterV1), .start(daemon(.master, "eth1"))]),
        ("group changed: restart", daemon(.master, group: "239.0.0.9"), true, [masterV1],
         [.stop(masterV1), .start(daemon(.master, group: "239.0.0.9"))]),
        ("ttl changed: restart", daemon(.master, ttl: 2), true, [masterV1],
         [.stop(masterV1), .start(daemon(.master, ttl: 2))]),
        ("a backup's clamped maxlen is no difference", daemon(.backup, maxLength: 512), true,
         [daemon(.backup, maxLength: 1024, group: "224.0.0.81", port: 8848, ttl: 1)], []),
        ("role change: the other role stops first", daemon(.backup), true, [masterV1],
         [.stop(masterV1), .start(daemon(.backup))]),
        ("both roles running: the unwanted one stops", daemon(.master), true,
         [daemon(.backup, maxLength: 1472), masterV1], [.stop(daemon(.backup, maxLength: 1472))]),
        ("sync removed: every daemon stops", nil, true, [masterV1, daemon(.backup, maxLength: 1472)],
         [.stop(masterV1), .stop(daemon(.backup, maxLength: 1472))]),
        ("sync removed, nothing running: nothing", nil, true, [], []),
        ("not managed: an operator's daemon is left alone", nil, false, [masterV1], []),
    ]

    @Test(arguments: 0..<SyncDaemonPlanTests.planCases.count) func plan(_ i: Int) {
        let c = Self.planCases[i]
        #expect(SyncDaemonPlan.actions(desired: c.desired, managed: c.managed, running: c.running, interfaceMTU: 1500) == c.expected,
                "\(c.name)")
    }

    @Test func aBackupWithUnknownMTUAndDefaultLengthIsNotRestarted() {
        let running = Self.daemon(.backup, maxLength: 8972, group: "224.0.0.81", port: 8848, ttl: 1)
        #expect(SyncDaemonPlan.actions(desired: Self.daemon(.backup), managed: true, running: [running], interfaceMTU: nil).isEmpty)
        // With the MTU known, a length left from an earlier explicit max_length is a difference.
        #expect(SyncDaemonPlan.actions(desired: Self.daemon(.backup), managed: true, running: [running], interfaceMTU: 1500)
                == [.stop(running), .start(Self.daemon(.backup))])
    }

    /// Applying the plan to what the kernel then reports gives an empty plan: no restart loop.
    @Test(arguments: [IPVSSyncDaemon.Role.master, .backup]) func aStartedDaemonIsStable(_ role: IPVSSyncDaemon.Role) {
        for maxLength: UInt16? in [nil, 1, 512, 1023, 1024, 1472, 9000, 65535] {
            for group in [nil, "239.0.0.9", "ff02::81"] {
                let desired = Self.daemon(role, syncID: 2, maxLength: maxLength, group: group, port: 8850)
                let reported = SyncDaemonRules.effective(desired, interfaceMTU: 1500)
                #expect(SyncDaemonPlan.actions(desired: desired, managed: true, running: [reported], interfaceMTU: 1500).isEmpty,
                        "\(role) maxlen \(maxLength.map(String.init) ?? "default") group \(group ?? "default")")
            }
        }
    }

    @Test func aDaemonReportedAsRightAfterItsStartIsKept() {
        let desired = Self.daemon(.backup)
        let reported = Self.daemon(.backup, maxLength: 1472, group: "224.0.0.81", port: 8848, ttl: 1)
        // Predicted 8972 from an MTU of 9000: a difference without `startedAs`.
        #expect(SyncDaemonPlan.actions(desired: desired, managed: true, running: [reported], interfaceMTU: 9000)
                == [.stop(reported), .start(desired)])
        #expect(SyncDaemonPlan.actions(desired: desired, managed: true, running: [reported], interfaceMTU: 9000,
                                       startedAs: reported).isEmpty)
        // Another syncid is still a difference.
        let other = Self.daemon(.backup, syncID: 5, maxLength: 1472, group: "224.0.0.81", port: 8848, ttl: 1)
        #expect(SyncDaemonPlan.actions(desired: desired, managed: true, running: [other], interfaceMTU: 9000,
                                       startedAs: reported) == [.stop(other), .start(desired)])
    }

    @Test func kernelRoleFollowsTheNodeRole() {
        #expect(SyncDaemonPlan.kernelRole(for: .active) == .master)
        for role in [Role.standby, .fault, .maintenance, .starting, .stopping] {
            #expect(SyncDaemonPlan.kernelRole(for: role) == .backup)
        }
    }

    @Test func configSyncSettingsBecomeTheDaemon() throws {
        let config = try ConfigParser.parse(yaml: minimal(appending: "sync: {interface: eth0, sync_id: 2, port: 8850, max_length: 512}"))
        let sync = try #require(config.sync)
        #expect(sync.daemon(role: .master) == Self.daemon(.master, syncID: 2, maxLength: 512, port: 8850))
    }
}
