import Testing
@testable import TandemCore

private let vip = IPAddress("10.0.5.10")!
private let web = RealServerID(service: "web", address: IPAddress("10.0.0.21")!, port: 80)
private let t0 = MonotonicInstant.milliseconds(1_000)

private func at(_ ms: UInt64) -> MonotonicInstant { t0.adding(milliseconds: ms) }

private func config(_ yaml: String = minimalClusterConfig) throws -> Config { try ConfigParser.parse(yaml: yaml) }

/// The route sets asked for, in order.
private func routeRequests(_ effects: [ClusterDirectorState.Effect]) -> [Set<IPAddress>] {
    effects.compactMap { if case .reconcileRoutes(let set) = $0 { return set } else { return nil } }
}

private func replies(_ effects: [ClusterDirectorState.Effect]) -> [NodeReply] {
    effects.compactMap { if case .reply(_, let reply) = $0 { return reply } else { return nil } }
}

private func released(_ effects: [ClusterDirectorState.Effect]) -> Bool {
    effects.contains { if case .release = $0 { return true } else { return false } }
}

/// A director that started, found its VIP on lo and its IPVS table verified: it announces.
private func announcing(_ c: Config) -> ClusterDirectorState {
    var s = ClusterDirectorState(settings: .init(config: c))
    _ = s.handle(.start, at: t0)
    _ = s.handle(.routesReconciled(problems: []), at: t0)
    _ = s.handle(.addressesObserved([vip]), at: t0)
    _ = s.handle(.ipvsReconciled(problem: nil), at: t0)
    _ = s.handle(.routesReconciled(problems: []), at: t0)
    return s
}

@Suite struct ClusterDirectorStateTests {
    @Test func startClaimsInstallsRunsSyncAndClearsTheTable() throws {
        let c = try config()
        var s = ClusterDirectorState(settings: .init(config: c))
        let effects = s.handle(.start, at: t0)
        #expect(effects.contains(.claim(c.virtualIPs)))
        #expect(effects.contains(.observeAddresses))
        #expect(effects.contains(.reconcileIPVS(IPVSInputs(holdingVIPs: true))))
        #expect(effects.contains(.runSyncDaemons))
        // The first reconcile runs with nothing to announce: stale routes of a crashed run go.
        #expect(routeRequests(effects) == [[]])
        #expect(effects.last == .scheduleTimer(at(ClusterDirectorState.defaultRepairInterval)))
        #expect(s.decisions.map(\.description) == [
            "withdrawn: IPVS table not verified (no reconcile has finished yet); the address is not on lo"])
        // A second start changes nothing.
        #expect(s.handle(.start, at: t0).isEmpty)
    }

    @Test func factsBeforeTheStartAreKeptNotDecided() throws {
        var s = ClusterDirectorState(settings: .init(config: try config()))
        #expect(s.handle(.health(down: [web], weights: [:]), at: t0).isEmpty)
        #expect(s.decisions.isEmpty)
        _ = s.handle(.start, at: t0)
        #expect(s.ipvsInputs == IPVSInputs(holdingVIPs: true, down: [web]))
    }

    @Test func aReloadWithdrawsRemovedVIPsBeforeReleasingThemAndClaimsNewOnes() throws {
        let c = try config()
        var s = announcing(c)
        let other = IPAddress("10.0.5.11")!
        let fresh = try config(minimalClusterConfig.replacingOccurrences(of: "10.0.5.10", with: "10.0.5.11"))
        let effects = s.handle(.reload(fresh), at: at(10))
        // The route table first (the old VIP's route goes), then the release, then the claim.
        let routes = effects.firstIndex { if case .reconcileRoutes([]) = $0 { return true } else { return false } }
        let release = effects.firstIndex(of: .release(c.virtualIPs))
        let claim = effects.firstIndex(of: .claim(fresh.virtualIPs))
        #expect(routes != nil && release != nil && claim != nil)
        if let routes, let release, let claim { #expect(routes < release && release < claim) }
        #expect(effects.contains(.reconcileIPVS(IPVSInputs(holdingVIPs: true))))
        #expect(s.decisions.map(\.description) == ["withdrawn: the address is not on lo"])
        // The new address is found: announced (web moved with it and has its live real server).
        #expect(routeRequests(s.handle(.addressesObserved([other]), at: at(11))) == [[other]])
        // A reload while stopping is not applied.
        _ = s.handle(.stop, at: at(20))
        #expect(s.handle(.reload(c), at: at(21)) == [.log(.warning, "director: reload while withdrawing: the new config is not applied")])
        #expect(s.settings.config.virtualIPs == fresh.virtualIPs)
    }

    @Test func drainingTheOnlyRealServerWithdrawsAndIsKept() throws {
        var s = announcing(try config())
        let effects = s.handle(.drain([web], on: true, request: 5), at: at(10))
        #expect(effects.contains(.drainsChanged([web])))
        #expect(effects.contains(.reconcileIPVS(IPVSInputs(holdingVIPs: true, drained: [web]))))
        #expect(routeRequests(effects) == [[]])
        #expect(s.decisions.map(\.description) == ["withdrawn: no live real server for tcp 10.0.5.10:80 (web)"])
        #expect(replies(effects) == [.drainDone(DrainBook(drained: [web]).list,
                                                peer: .failed("cluster directors do not share drains: run the same command on every director"))])
        // The same drain again changes nothing but is answered.
        let again = s.handle(.drain([web], on: true, request: 6), at: at(11))
        #expect(again.count == 1 && replies(again).count == 1)
        let undrained = s.handle(.drain([web], on: false, request: 7), at: at(12))
        #expect(undrained.contains(.drainsChanged([])))
        #expect(routeRequests(undrained) == [[vip]])
        // Kept across a restart: a director started with the list withholds the VIP.
        var restarted = ClusterDirectorState(settings: .init(config: try config()), drained: [web])
        _ = restarted.handle(.start, at: t0)
        _ = restarted.handle(.addressesObserved([vip]), at: t0)
        #expect(routeRequests(restarted.handle(.ipvsReconciled(problem: nil), at: t0)).isEmpty)
    }

    @Test func noSyncDaemonWithoutSync() throws {
        let c = try config(minimalClusterConfig.replacingOccurrences(of: "sync:\n  interface: eth0", with: ""))
        var s = ClusterDirectorState(settings: .init(config: c))
        #expect(!s.handle(.start, at: t0).contains(.runSyncDaemons))
    }

    /// Each fact, changed from a director that announces: the route set asked for and the reason.
    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let event: ClusterDirectorState.Event
        let routes: [Set<IPAddress>]
        let decision: String
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "IPVS reconcile failed", event: .ipvsReconciled(problem: "no IPVS in this kernel"), routes: [[]],
             decision: "withdrawn: IPVS table not verified (no IPVS in this kernel)"),
        Case(name: "IPVS verified again", event: .ipvsReconciled(problem: nil), routes: [], decision: "announced"),
        Case(name: "VIP gone from lo", event: .addressesObserved([]), routes: [[]],
             decision: "withdrawn: the address is not on lo"),
        Case(name: "addresses unreadable", event: .addressesObserved(nil), routes: [[]],
             decision: "withdrawn: the address is not on lo"),
        Case(name: "only real server down", event: .health(down: [web], weights: [:]), routes: [[]],
             decision: "withdrawn: no live real server for tcp 10.0.5.10:80 (web)"),
        Case(name: "only real server weight 0", event: .health(down: [], weights: [web: 0]), routes: [[]],
             decision: "withdrawn: no live real server for tcp 10.0.5.10:80 (web)"),
        Case(name: "weight change that keeps it live", event: .health(down: [], weights: [web: 5]), routes: [],
             decision: "announced"),
        Case(name: "a foreign address on lo", event: .addressesObserved([vip, IPAddress("10.9.9.9")!]), routes: [],
             decision: "announced"),
    ]

    @Test(arguments: cases)
    func factChanged(_ c: Case) throws {
        var s = announcing(try config())
        #expect(s.announced == [vip])
        let effects = s.handle(c.event, at: at(10))
        #expect(routeRequests(effects) == c.routes)
        #expect(s.decisions.map(\.description) == [c.decision])
        #expect(!released(effects))
    }

    @Test func healthChangesTheIPVSInputsAndComesBack() throws {
        var s = announcing(try config())
        let down = s.handle(.health(down: [web], weights: [:]), at: at(10))
        #expect(down.contains(.reconcileIPVS(IPVSInputs(holdingVIPs: true, down: [web]))))
        #expect(down.contains(.log(.warning, "VIP 10.0.5.10: withdrawn: no live real server for tcp 10.0.5.10:80 (web)")))
        let up = s.handle(.health(down: [], weights: [:]), at: at(20))
        #expect(routeRequests(up) == [[vip]])
        #expect(up.contains(.log(.notice, "VIP 10.0.5.10: announced")))
        // The same verdict again is no event.
        #expect(s.handle(.health(down: [], weights: [:]), at: at(30)).isEmpty)
    }

    @Test func aRealServerWithoutItsFirstVerdictIsNotLive() throws {
        var s = ClusterDirectorState(settings: .init(config: try config()), unchecked: [web])
        let start = s.handle(.start, at: t0)
        #expect(start.contains(.log(.notice, "director: waiting for the first health verdicts of 1 real server(s) before counting them live")))
        _ = s.handle(.addressesObserved([vip]), at: t0)
        #expect(routeRequests(s.handle(.ipvsReconciled(problem: nil), at: t0)).isEmpty)
        #expect(s.decisions.map(\.description) == ["withdrawn: no live real server for tcp 10.0.5.10:80 (web)"])
        // It still counts in the IPVS table, as for a pair.
        #expect(s.ipvsInputs == IPVSInputs(holdingVIPs: true))
        #expect(routeRequests(s.handle(.unchecked([]), at: at(900))) == [[vip]])
        #expect(s.handle(.unchecked([]), at: at(901)).isEmpty)
    }

    @Test func aFirstVerdictOfDownKeepsItWithdrawn() throws {
        var s = ClusterDirectorState(settings: .init(config: try config()), unchecked: [web])
        _ = s.handle(.start, at: t0)
        _ = s.handle(.addressesObserved([vip]), at: t0)
        _ = s.handle(.ipvsReconciled(problem: nil), at: t0)
        _ = s.handle(.health(down: [web], weights: [:]), at: at(900))
        #expect(routeRequests(s.handle(.unchecked([]), at: at(901))).isEmpty)
        #expect(s.announced.isEmpty)
    }

    @Test func maintenanceWithdrawsAndAnswersAfterTheTable() throws {
        var s = announcing(try config())
        let on = s.handle(.maintenance(on: true, request: 7), at: at(10))
        #expect(routeRequests(on) == [[]])
        #expect(replies(on).isEmpty)  // not before the table was reconciled
        let done = s.handle(.routesReconciled(problems: []), at: at(11))
        #expect(done.contains(.reply(7, .maintenanceDone(message:
            "maintenance on: every route withdrawn (1 VIP(s)); new flows go to the other directors, and so do the packets of established ones (they continue there through the entries the sync daemon gave them; without sync they break)"))))
        #expect(s.decisions.map(\.description) == ["withdrawn: maintenance"])
        #expect(!released(on + done))  // the VIPs stay for the connections in flight
        #expect(s.handle(.maintenance(on: true, request: 8), at: at(12)) == [.reply(8, .maintenanceDone(message: "maintenance is already on: nothing changed"))])
        // A health change in maintenance does not announce.
        #expect(routeRequests(s.handle(.health(down: [], weights: [web: 3]), at: at(13))).isEmpty)
        let off = s.handle(.maintenance(on: false, request: 9), at: at(20))
        #expect(routeRequests(off) == [[vip]])
        let back = s.handle(.routesReconciled(problems: ["+ blackhole 10.0.5.10/32 proto 250: EPERM"]), at: at(21))
        #expect(replies(back) == [.maintenanceDone(message: "maintenance off: announcing 10.0.5.10; the route table did not follow: + blackhole 10.0.5.10/32 proto 250: EPERM")])
    }

    @Test func maintenanceOffStillWithheldSaysWhy() throws {
        var s = ClusterDirectorState(settings: .init(config: try config()), maintenance: true)
        _ = s.handle(.start, at: t0)
        _ = s.handle(.routesReconciled(problems: []), at: t0)
        _ = s.handle(.maintenance(on: false, request: 1), at: at(1))
        let answer = s.handle(.routesReconciled(problems: []), at: at(2))
        #expect(replies(answer) == [.maintenanceDone(message:
            "maintenance off: announcing no VIP; still 10.0.5.10 withdrawn: IPVS table not verified (no reconcile has finished yet); the address is not on lo")])
    }

    @Test func stopWithdrawsFirstWaitsThenReleases() throws {
        let c = try config()
        var s = announcing(c)
        let stop = s.handle(.stop, at: at(100))
        #expect(routeRequests(stop) == [[]])
        #expect(!released(stop))
        #expect(s.decisions.map(\.description) == ["withdrawn: tandemd is stopping"])
        // The grace period starts when the withdrawal is in the table.
        let withdrawn = s.handle(.routesReconciled(problems: []), at: at(105))
        #expect(withdrawn.last == .scheduleTimer(at(105 + ClusterDirectorState.defaultWithdrawalGrace)))
        #expect(!released(withdrawn))
        // Nothing announces again while stopping, and no request is taken.
        #expect(routeRequests(s.handle(.ipvsReconciled(problem: nil), at: at(200))).isEmpty)
        #expect(replies(s.handle(.maintenance(on: true, request: 3), at: at(201)))
            == [.refused("tandemd is stopping: the routes are already withdrawn")])
        #expect(s.handle(.timer, at: at(104 + ClusterDirectorState.defaultWithdrawalGrace)).isEmpty)
        let end = s.handle(.timer, at: at(105 + ClusterDirectorState.defaultWithdrawalGrace))
        #expect(end.first == .release(c.virtualIPs))
        #expect(end.contains(.finished(reason: "stopped")))
        #expect(s.isFinished)
        #expect(s.handle(.timer, at: at(5000)).isEmpty)
        // Requests after the end are still answered.
        #expect(s.handle(.maintenance(on: true, request: 8), at: at(5001)) == [.reply(8, .refused("tandemd has stopped"))])
        #expect(s.handle(.drain([web], on: true, request: 9), at: at(5002)) == [.reply(9, .refused("tandemd has stopped"))])
    }

    @Test func secondStopSkipsTheWait() throws {
        let c = try config()
        var s = announcing(c)
        _ = s.handle(.stop, at: at(100))
        let again = s.handle(.stop, at: at(101))
        #expect(again.contains(.release(c.virtualIPs)))
        #expect(again.contains(.finished(reason: "stopped (second stop request)")))
    }

    @Test func stopAnswersAPendingMaintenance() throws {
        var s = announcing(try config())
        _ = s.handle(.maintenance(on: true, request: 4), at: at(10))
        _ = s.handle(.stop, at: at(11))
        let answered = s.handle(.routesReconciled(problems: []), at: at(12))
        #expect(replies(answered).count == 1)
    }

    @Test func repairTimerReclaimsRereadsAndReconcilesAnyway() throws {
        let c = try config()
        var s = announcing(c)
        #expect(s.handle(.timer, at: at(10)).isEmpty)  // not due
        let repair = s.handle(.timer, at: at(ClusterDirectorState.defaultRepairInterval))
        #expect(repair.contains(.claim(c.virtualIPs)))
        #expect(repair.contains(.observeAddresses))
        #expect(routeRequests(repair) == [[vip]])  // unchanged decisions, the table is checked anyway
        #expect(repair.last == .scheduleTimer(at(2 * ClusterDirectorState.defaultRepairInterval)))
    }

    @Test func routeProblemsAreLoggedOnceAndRepairedLater() throws {
        var s = announcing(try config())
        let failed = s.handle(.routesReconciled(problems: ["cannot read table 100: EPERM"]), at: at(1))
        #expect(failed.contains(.log(.error, "director: route table: cannot read table 100: EPERM")))
        #expect(s.handle(.routesReconciled(problems: ["cannot read table 100: EPERM"]), at: at(2)).isEmpty)
        #expect(s.handle(.routesReconciled(problems: []), at: at(3)).contains(.log(.notice, "director: route table repaired")))
    }
}
