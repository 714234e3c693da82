import Testing
@testable import TandemCore

/// One node's `NodeState` over a fake kernel (a set of addresses that can be told to fail), with
/// time given by hand. Each test is a story of events and the effects that must come out.
struct NodeHarness {
    static let vip = VirtualIP(prefix: IPPrefix(address: IPAddress("192.0.2.10")!, length: 24), interface: "eth0")
    static let vip6 = VirtualIP(prefix: IPPrefix(address: IPAddress("2001:db8::10")!, length: 64), interface: "eth0")
    static let settings = Election.Settings(nodeName: "a", peerName: "b", priority: 100, interval: .milliseconds(100),
                                            deadTime: .milliseconds(300))

    /// The fake kernel and the record of effects.
    struct World: NodeExecutor {
        /// Addresses on this node's interfaces, and how each present one reads (held, tentative, conflict).
        var kernel: [VirtualIP: LocalHealth.VIPState] = [:]
        var failWrites = false
        /// Every effect carried out, oldest first.
        var effects: [NodeEffect] = []
        var replies: [NodeRequestID: [NodeReply]] = [:]

        mutating func execute(_ effect: NodeEffect, at now: MonotonicInstant) -> NodeAnswer? {
            effects.append(effect)
            switch effect {
            case .judgeHealth(let query):
                // A present address that carries a VIP's address but is no VIP is a copy (`LocalHealth.copies`).
                let copies = kernel.keys.filter { key in !query.vips.contains(key) && query.vips.contains { $0.prefix.address == key.prefix.address } }
                return .judged(LocalHealth.Report(vips: query.vips.map { LocalHealth.VIPEntry(vip: $0, state: kernel[$0] ?? .absent) },
                                                  copies: copies.sorted { "\($0.prefix) \($0.interface)" < "\($1.prefix) \($1.interface)" }))
            case .claim(let vips):
                var results: [VirtualIP: VIPClaimOutcome] = [:]
                for vip in vips {
                    if failWrites { results[vip] = .failed("EBUSY"); continue }
                    if let present = kernel[vip] {
                        results[vip] = .alreadyPresent(flags: present == .conflict ? InterfaceAddress.dadFailedFlag : 0)
                    } else {
                        kernel[vip] = .held
                        results[vip] = .added
                    }
                }
                return .claimed(results)
            case .release(let vips):
                var results: [VirtualIP: VIPReleaseOutcome] = [:]
                for vip in vips {
                    if failWrites { results[vip] = .failed("EBUSY"); continue }
                    results[vip] = kernel.removeValue(forKey: vip) != nil ? .removed : .alreadyAbsent
                }
                return .released(results)
            case .send:
                return .sent([:])
            case .reply(let id, let reply):
                replies[id, default: []].append(reply)
            default:
                break
            }
            return nil
        }
    }

    var state: NodeState
    var world = World()
    var now = MonotonicInstant.milliseconds(1000)

    var kernel: [VirtualIP: LocalHealth.VIPState] {
        get { world.kernel }
        set { world.kernel = newValue }
    }
    var failWrites: Bool {
        get { world.failWrites }
        set { world.failWrites = newValue }
    }
    var effects: [NodeEffect] {
        get { world.effects }
        set { world.effects = newValue }
    }
    var replies: [NodeRequestID: [NodeReply]] { world.replies }

    init(vips: [VirtualIP] = [NodeHarness.vip], present: [VirtualIP: LocalHealth.VIPState] = [:],
         settings: Election.Settings = NodeHarness.settings) {
        state = NodeState(settings: NodeState.Settings(election: settings, vips: vips))
        world.kernel = present
    }

    mutating func send(_ event: NodeEvent) {
        state.run(event, at: now, executor: &world)
    }

    /// Fires the timer whenever due, up to `ms` from now.
    mutating func advance(_ ms: UInt64) {
        let end = now.adding(milliseconds: ms)
        var fired = 0
        while fired < 10_000, let due = state.timerDeadline, due <= end {
            now = max(now, due)
            send(.timer)
            fired += 1
        }
        now = end
    }

    /// A heartbeat from the peer b.
    static func peer(_ sequence: UInt64 = 1, role: Role, priority: UInt8 = 100) -> NodeEvent {
        .heartbeat(HeartbeatMessage(kind: .heartbeat, sender: "b", bootEpoch: 7, sequence: sequence, role: role, priority: priority,
                                    configSerial: 0, configDigest: .zero, pathIndex: 0, intervalMilliseconds: 100))
    }

    /// Starts and hears an active peer at once: the node becomes standby.
    mutating func startStandby() {
        send(.start)
        send(Self.peer(role: .active))
        #expect(state.election.role == .standby)
    }

    /// Starts alone: with no peer heard for the dead time, the node becomes active.
    mutating func startActive() {
        send(.start)
        advance(1000)
        #expect(state.election.role == .active)
    }

    mutating func takeEffects() -> [NodeEffect] {
        defer { effects = [] }
        return effects
    }
}

@Suite struct NodeStateTests {
    typealias H = NodeHarness

    @Test func startAdoptsAUsableVIPAndNeverHoldsOneInConflict() {
        var usable = H(present: [H.vip: .held])
        usable.send(.start)
        #expect(usable.state.heldVIPs == [H.vip])
        #expect(usable.effects.contains(.reconcileIPVS(IPVSInputs(holdingVIPs: true), reason: .startUp)))
        #expect(usable.effects.contains(.track([H.vip], present: true)))

        var conflict = H(present: [H.vip: .conflict])
        conflict.send(.start)
        #expect(conflict.state.heldVIPs.isEmpty)
        conflict.advance(1000)
        #expect(conflict.state.election.role == .active)
        #expect(!conflict.effects.contains(.announce([H.vip])))
    }

    @Test func becomingActiveClaimsThenAnnouncesOnlyHeldVIPs() {
        var h = H(vips: [H.vip, H.vip6])
        h.startActive()
        let effects = h.takeEffects()
        let claim = effects.firstIndex(of: .claim([H.vip, H.vip6]))
        let announce = effects.firstIndex(of: .announce([H.vip, H.vip6]))
        #expect(claim != nil && announce != nil && claim! < announce!)
        #expect(effects.contains(.reconcileIPVS(IPVSInputs(holdingVIPs: true), reason: .claimed)))
        #expect(h.kernel.keys.count == 2)
    }

    @Test func coldStandbyAnnouncesOnlyAfterTheIPVSInstall() {
        var h = H()
        h.state = NodeState(settings: NodeState.Settings(election: H.settings, vips: [H.vip], announceAfterIPVSInstall: true))
        h.startActive()
        #expect(!h.takeEffects().contains(.announce([H.vip])))
        h.send(.ipvsReconciled(.startUp, succeeded: true))
        #expect(!h.takeEffects().contains(.announce([H.vip])), "the start-up reconcile is not the install")
        h.send(.ipvsReconciled(.claimed, succeeded: true))
        #expect(h.takeEffects().contains(.announce([H.vip])))
    }

    @Test func aReleaseBeforeTheColdInstallFinishesDropsItsAnnouncement() {
        var h = H()
        h.state = NodeState(settings: NodeState.Settings(election: H.settings, vips: [H.vip], announceAfterIPVSInstall: true))
        h.startActive()
        h.send(.ipvsReconciled(.startUp, succeeded: true))
        h.send(.command(1, .maintenance(true, force: true)))                    // releases before the install is reported
        #expect(h.state.heldVIPs.isEmpty)
        h.send(.ipvsReconciled(.claimed, succeeded: true))
        h.send(.ipvsReconciled(.released, succeeded: true))
        #expect(!h.effects.contains(.announce([H.vip])))
    }

    /// A cold active that starts handing over before its install finishes does not announce
    /// after it: the peer claims and announces first, and the neighbours must stay with it
    /// (the simulator's invariant 8).
    @Test func aHandoverBeforeTheColdInstallFinishesDropsItsAnnouncement() {
        var h = H()
        h.state = NodeState(settings: NodeState.Settings(election: H.settings, vips: [H.vip], announceAfterIPVSInstall: true))
        h.startActive()
        h.send(.ipvsReconciled(.startUp, succeeded: true))
        h.send(.heartbeat(HeartbeatMessage(kind: .heartbeat, sender: "b", bootEpoch: 7, sequence: 1, role: .standby, priority: 100,
                                           configSerial: 0, configDigest: .zero, pathIndex: 0, intervalMilliseconds: 100)))
        h.send(.command(1, .failover(force: false)))                 // hands over: the VIPs stay until b claims
        #expect(h.state.heldVIPs == [H.vip])
        h.send(.ipvsReconciled(.claimed, succeeded: true))
        #expect(!h.effects.contains(.announce([H.vip])))
    }

    @Test func aFailedClaimIsRetriedUntilTheVIPIsHeld() {
        var h = H()
        h.failWrites = true
        h.startActive()
        #expect(h.kernel.isEmpty)
        #expect(h.state.heldVIPs.isEmpty)
        #expect(h.state.timerDeadline != nil)
        h.failWrites = false
        h.advance(UInt64(h.state.retryDelay.milliseconds) + 1)
        #expect(h.kernel[H.vip] == .held)
        #expect(h.state.heldVIPs == [H.vip])
        #expect(h.effects.contains(.announce([H.vip])))
    }

    /// While handing over, a VIP a stranger removed is claimed again (packets in flight are still
    /// answered) but not announced: the peer may have claimed and announced it already.
    @Test func aVIPClaimedAgainWhileHandingOverIsNotAnnounced() {
        var h = H()
        h.startActive()
        h.send(.heartbeat(HeartbeatMessage(kind: .heartbeat, sender: "b", bootEpoch: 7, sequence: 1, role: .standby, priority: 100,
                                           configSerial: 0, configDigest: .zero, pathIndex: 0, intervalMilliseconds: 100)))
        h.send(.command(1, .failover(force: false)))
        #expect(h.state.election.isHandingOver)
        _ = h.takeEffects()
        h.kernel[H.vip] = nil
        h.send(.routes([.vipRemoved(H.vip, origin: .foreign)]))
        #expect(h.kernel[H.vip] == .held)
        #expect(!h.effects.contains(.announce([H.vip])))
    }

    @Test func aFailedReleaseIsRetriedWhileStandby() {
        var h = H()
        h.startActive()
        h.failWrites = true
        h.send(.command(1, .maintenance(true, force: true)))
        #expect(h.state.election.role == .maintenance)
        #expect(h.kernel[H.vip] != nil)
        h.failWrites = false
        h.advance(UInt64(h.state.retryDelay.milliseconds) + 1)
        #expect(h.kernel.isEmpty)
    }

    @Test func aVIPRemovedByAStrangerWhileActiveIsClaimedAgainAndAnnounced() {
        var h = H()
        h.startActive()
        _ = h.takeEffects()
        h.kernel[H.vip] = nil
        h.send(.routes([.vipRemoved(H.vip, origin: .foreign)]))
        #expect(h.kernel[H.vip] == .held)
        #expect(h.effects.contains(.announce([H.vip])))
        // Tandem's own change is not judged again.
        _ = h.takeEffects()
        h.send(.routes([.vipRemoved(H.vip, origin: .tandem)]))
        #expect(!h.effects.contains { if case .judgeHealth = $0 { return true } else { return false } })
    }

    /// A VIP another program adds on a standby doubles the active's copy (ARP answered by both):
    /// it is removed, with a warning naming who added it.
    @Test func aVIPAddedByAStrangerOnAStandbyIsRemoved() {
        var h = H()
        h.startStandby()
        _ = h.takeEffects()
        h.kernel[H.vip] = .held
        h.send(.routes([.vipAdded(H.vip, origin: .foreign)]))
        #expect(h.kernel[H.vip] == nil)
        #expect(h.effects.contains(.release([H.vip])))
        #expect(h.effects.contains(.log(.warning, "VIP 192.0.2.10/24 on eth0 was added by another program while standby: "
            + "removing it (b serves it when active; a second copy here would answer for it too)")))
        #expect(h.effects.contains(.log(.notice, "VIP addresses Tandem did not add removed from this standby node: 192.0.2.10/24 on eth0 (removed)")))
        #expect(h.state.election.role == .standby)
    }

    /// Losing the peer and hearing it again are logged, not only published: with what losing it
    /// means for this node (an active has no standby left; a node in maintenance leaves the VIPs
    /// served by nobody).
    @Test func losingThePeerIsLoggedWithWhatItMeans() {
        func heartbeat(_ sequence: UInt64, role: Role) -> NodeEvent { H.peer(sequence, role: role, priority: 90) }
        var h = H()
        h.startActive()
        h.send(heartbeat(1, role: .standby))
        _ = h.takeEffects()
        h.advance(1000)
        var effects = h.takeEffects()
        #expect(effects.contains(.log(.warning, "peer b lost: silent for the dead time 300ms; this node keeps the VIPs with no standby to fail over to")),
                "\(effects)")
        h.send(heartbeat(2, role: .standby))
        effects = h.takeEffects()
        #expect(effects.contains(.log(.notice, "peer b heard again: standby, priority 90")), "\(effects)")
        // In maintenance, with the peer active; then the peer goes silent.
        h.send(heartbeat(3, role: .active))
        h.send(.command(1, .maintenance(true, force: true)))
        h.advance(50)
        h.send(heartbeat(4, role: .active))
        #expect(h.state.election.role == .maintenance)
        _ = h.takeEffects()
        h.advance(1000)
        effects = h.takeEffects()
        #expect(effects.contains(.log(.warning, "peer b lost: silent for the dead time 300ms; this node is in maintenance, so NOBODY serves the VIPs: `tandemctl maintenance off` takes them")),
                "\(effects)")
    }

    /// A copy of a VIP's address with another prefix length (a leftover /32) on a standby answers
    /// ARP for it as much as an exact copy: removed. On the active it is left, with the fix logged.
    @Test func aCopyOfAVIPsAddressWithAnotherPrefixIsRemovedOnAStandby() {
        let copy = VirtualIP(prefix: IPPrefix("192.0.2.10/32")!, interface: "eth0")
        var h = H()
        h.startStandby()
        _ = h.takeEffects()
        h.kernel[copy] = .held
        h.send(.routes([.vipCopyAdded(H.vip, copy: copy, origin: .foreign)]))
        #expect(h.kernel[copy] == nil)
        #expect(h.effects.contains(.release([copy])))
        #expect(h.effects.contains(.log(.warning, "192.0.2.10/32 on eth0, a copy of VIP 192.0.2.10/24 on eth0 with another prefix length, "
            + "was added by another program while standby: removing it (b serves the VIP when active; a copy here would answer ARP "
            + "and neighbour solicitations for it too)")), "\(h.effects)")
        var active = H()
        active.startActive()
        _ = active.takeEffects()
        active.kernel[copy] = .held
        active.send(.routes([.vipCopyAdded(H.vip, copy: copy, origin: .foreign)]))
        #expect(active.kernel[copy] == .held)
        #expect(!active.effects.contains(.release([copy])))
        #expect(active.effects.contains(.log(.warning, "192.0.2.10/32 on eth0, a copy of VIP 192.0.2.10/24 on eth0 with another prefix length, "
            + "was added by another program while active: leaving it while this node serves the VIPs (Tandem did not add it); it is "
            + "removed when this node stops serving them, as a copy would answer for the VIP there too")), "\(active.effects)")
        // The active hands over (a peer of higher priority): once it stops serving, the copy goes too.
        _ = active.takeEffects()
        for sequence in 1...10 {
            active.send(H.peer(UInt64(sequence), role: .active, priority: 150))
            active.advance(100)
        }
        #expect(active.state.election.role == .standby)
        #expect(active.kernel[copy] == nil, "\(active.effects)")
        #expect(active.kernel[H.vip] == nil)
        #expect(active.effects.contains(.log(.notice, "VIP addresses Tandem did not add removed from this standby node: 192.0.2.10/32 on eth0 (removed)")),
                "\(active.effects)")
    }

    /// A new MAC on a VIP's link: the active announces the VIPs it serves there (the neighbours
    /// would keep sending to the old MAC until their entries expire); a standby only logs it.
    @Test func aVIPLinksNewMACIsAnnouncedByTheActive() {
        var h = H(vips: [H.vip, H.vip6])
        h.startActive()
        _ = h.takeEffects()
        h.send(.routes([.linkAddressChanged(interface: "eth0", from: "02:00:00:00:aa:01", to: "02:00:00:00:aa:0b")]))
        #expect(h.effects.contains(.log(.notice, "link eth0 changed its hardware address from 02:00:00:00:aa:01 to 02:00:00:00:aa:0b: "
            + "announcing \(NodeState.list([H.vip, H.vip6])) with the new one")), "\(h.effects)")
        #expect(h.takeEffects().contains(.announce([H.vip, H.vip6])))
        h.send(.routes([.linkAddressChanged(interface: "eth1", from: "02:00:00:00:bb:01", to: "02:00:00:00:bb:02")]))
        #expect(!h.takeEffects().contains { if case .announce = $0 { true } else { false } })

        var standby = H()
        standby.startStandby()
        _ = standby.takeEffects()
        standby.send(.routes([.linkAddressChanged(interface: "eth0", from: "02:00:00:00:aa:01", to: "02:00:00:00:aa:0b")]))
        #expect(standby.effects.contains(.log(.notice, "link eth0 changed its hardware address from 02:00:00:00:aa:01 to 02:00:00:00:aa:0b")))
        #expect(!standby.effects.contains { if case .announce = $0 { true } else { false } })
    }

    /// A held VIP whose link lost its carrier and came back, its address kept on it all along
    /// (a tracked interface with lower_priority_by, so the node stayed active), is announced
    /// again when usable: the neighbours may have learnt another MAC meanwhile (trial 35:
    /// nothing went out when the cable came back). Not while it stays held, nor on a standby.
    @Test func aHeldVIPWhoseLinkComesBackIsAnnouncedAgain() {
        func announces(_ effects: [NodeEffect]) -> [[VirtualIP]] {
            effects.compactMap { if case .announce(let list) = $0 { list } else { nil } }
        }
        var h = H(vips: [H.vip, H.vip6])
        h.startActive()
        _ = h.takeEffects()
        h.kernel[H.vip] = .noCarrier(present: true)
        h.send(.routes([.hostChanged]))
        #expect(announces(h.takeEffects()).isEmpty)
        #expect(h.state.heldVIPs.contains(H.vip), "the address stayed: still held")
        h.kernel[H.vip] = .held
        h.send(.routes([.hostChanged]))
        let effects = h.takeEffects()
        #expect(announces(effects) == [[H.vip]], "\(effects)")
        #expect(effects.contains(.log(.notice, "VIPs usable again, their link back: \(NodeState.list([H.vip])); announcing them")))
        h.send(.routes([.hostChanged]))
        #expect(announces(h.takeEffects()).isEmpty, "held all along since: nothing to announce")

        var standby = H()
        standby.startStandby()
        standby.kernel[H.vip] = .noCarrier(present: false)
        standby.send(.routes([.hostChanged]))
        standby.kernel[H.vip] = .absent
        standby.send(.routes([.hostChanged]))
        #expect(announces(standby.takeEffects()).isEmpty)
    }

    /// A VIP on a standby that no event announced (its interface deleted and re-created, the
    /// address put back by ifupdown) is found by the next judgement and removed, with the reason;
    /// one in address conflict is left so the conflict stays visible.
    @Test func aVIPFoundOnAStandbyByAJudgementIsRemoved() {
        var h = H(vips: [H.vip, H.vip6])
        h.startStandby()
        _ = h.takeEffects()
        h.kernel[H.vip] = .held
        h.kernel[H.vip6] = .conflict
        h.send(.routes([.hostChanged]))
        #expect(h.kernel[H.vip] == nil, "\(h.effects)")
        #expect(h.kernel[H.vip6] == .conflict)
        #expect(h.effects.contains(.log(.warning, "VIP 192.0.2.10/24 on eth0 is on this standby node although Tandem did not add it: "
            + "removing it (b serves it when active; a second copy here would answer for it too)")), "\(h.effects)")
        #expect(h.effects.filter { if case .release = $0 { true } else { false } }.count == 1)
        // Removed: the next events ask nothing more.
        _ = h.takeEffects()
        h.send(.routes([.hostChanged]))
        #expect(!h.effects.contains { if case .release = $0 { true } else { false } }, "\(h.effects)")
    }

    /// A copy present when tandemd starts (left by keepalived, or by hand) is found by the first
    /// judgement: removed once the node settles as standby, asked once (not again at every event).
    @Test func aCopyOfAVIPsAddressPresentAtStartIsRemovedWhenTheNodeBecomesStandby() {
        let copy = VirtualIP(prefix: IPPrefix("192.0.2.10/32")!, interface: "eth1")
        var h = H(present: [copy: .held])
        h.send(.start)
        #expect(h.effects.contains(.log(.warning, "192.0.2.10/32 on eth1, a copy of VIP 192.0.2.10/24 on eth0 with another interface, "
            + "was found at start-up: it stays only if this node becomes active, and goes when it stops serving the VIPs (a copy "
            + "answers ARP and neighbour solicitations for the VIP too)")), "\(h.effects)")
        #expect(h.kernel[copy] == .held)
        h.send(H.peer(role: .active))
        #expect(h.state.election.role == .standby)
        #expect(h.kernel[copy] == nil)
        #expect(h.effects.filter { $0 == .release([copy]) }.count == 1, "\(h.effects)")
        // Removed for good: later events ask nothing more.
        _ = h.takeEffects()
        for sequence in 2...6 {
            h.send(H.peer(UInt64(sequence), role: .active))
            h.advance(100)
        }
        #expect(h.state.election.role == .standby)
        #expect(!h.effects.contains { if case .release = $0 { true } else { false } }, "\(h.effects)")
        // Added again later: removed again.
        h.kernel[copy] = .held
        h.send(.routes([.vipCopyAdded(H.vip, copy: copy, origin: .foreign)]))
        #expect(h.kernel[copy] == nil, "\(h.effects)")
    }

    /// A copy whose removal fails is retried with the other failed releases, not asked again at
    /// every judgement.
    @Test func aCopyWhoseRemovalFailsIsRetriedAtTheRetryDelay() {
        let copy = VirtualIP(prefix: IPPrefix("192.0.2.10/32")!, interface: "eth0")
        var h = H()
        h.startStandby()
        _ = h.takeEffects()
        // Added, and the kernel refuses its removal: one attempt, then the retry.
        h.failWrites = true
        h.kernel[copy] = .held
        h.send(.routes([.vipCopyAdded(H.vip, copy: copy, origin: .foreign)]))
        #expect(h.effects.filter { $0 == .release([copy]) }.count == 1, "\(h.effects)")
        h.send(H.peer(2, role: .active))
        h.send(.routes([.hostChanged]))
        #expect(h.effects.filter { $0 == .release([copy]) }.count == 1, "\(h.effects)")
        h.failWrites = false
        h.advance(2000)
        #expect(h.kernel[copy] == nil, "\(h.effects)")
    }

    /// A tracked link with `lower_priority_by` going down and up changes the effective priority,
    /// which can move the VIPs at the next comparison: logged both ways.
    @Test func aChangeOfEffectivePriorityIsLogged() {
        let settings = Election.Settings(nodeName: "a", peerName: "b", priority: 100,
                                     trackedInterfaces: [TrackedInterface(interface: "eth1", effect: .lowerPriority(by: 30))],
                                     interval: .milliseconds(100), deadTime: .milliseconds(300))
        var h = H(settings: settings)
        h.startActive()
        _ = h.takeEffects()
        h.send(.routes([.linkDown(interface: "eth1")]))
        #expect(h.takeEffects().contains(.log(.notice, "effective priority 100 -> 70: tracked link eth1 is down (priority 100, lowered by its tracked links that are down)")))
        h.send(.routes([.linkUp(interface: "eth1")]))
        #expect(h.takeEffects().contains(.log(.notice, "effective priority 70 -> 100: tracked link eth1 is up (priority 100, lowered by its tracked links that are down)")))
    }

    @Test func aReloadReleasesRemovedVIPsAndClaimsAddedOnes() {
        var h = H(vips: [H.vip])
        h.startActive()
        _ = h.takeEffects()
        h.send(.reload(NodeState.Settings(election: H.settings, vips: [H.vip6])))
        let effects = h.takeEffects()
        #expect(effects.contains(.untrack([H.vip])))
        #expect(effects.contains(.release([H.vip])))
        #expect(effects.contains(.claim([H.vip6])))
        #expect(effects.contains(.announce([H.vip6])))
        #expect(h.kernel.keys.sorted { $0.interface + "\($0.prefix)" < $1.interface + "\($1.prefix)" } == [H.vip6])
        #expect(h.state.heldVIPs == [H.vip6])
    }

    @Test func everyRequestGetsExactlyOneReplyAlsoDuringAndAfterTheStop() {
        var h = H()
        h.startActive()
        // Forced maintenance with no peer: settles at once.
        h.send(.command(1, .maintenance(true, force: true)))
        #expect(h.replies[1]?.count == 1)
        if case .maintenanceDone = h.replies[1]?.first {} else { Issue.record("maintenance on: \(String(describing: h.replies[1]))") }
        h.send(.command(2, .maintenance(false)))
        h.advance(1000)
        // A stop while a request waits answers it; one during the stop and one after are refused.
        h.send(.command(3, .failover(force: false)))
        h.send(.stop)
        h.send(.command(4, .maintenance(true)))
        h.advance(10_000)
        #expect(h.state.isFinished)
        h.send(.command(5, .failover(force: true)))
        for id: NodeRequestID in 1...5 { #expect(h.replies[id]?.count == 1, "request \(id): \(String(describing: h.replies[id]))") }
        if case .refused = h.replies[4]?.first {} else { Issue.record("request during stop: \(String(describing: h.replies[4]))") }
        if case .refused = h.replies[5]?.first {} else { Issue.record("request after stop: \(String(describing: h.replies[5]))") }
    }

    /// Maintenance on an active nobody can take over from is refused (nothing changes: the VIPs
    /// stay, the role stays), as a failover is; with --force it releases them.
    @Test func maintenanceWithNobodyToHandOverToIsRefusedUnlessForced() {
        var h = H()
        h.startActive()
        h.send(.command(1, .maintenance(true)))
        guard case .refused(let why) = h.replies[1]?.first else {
            Issue.record("maintenance on with no peer: \(String(describing: h.replies[1]))")
            return
        }
        #expect(why.contains("not heard") && why.contains("--force"), "\(why)")
        #expect(h.state.election.role == .active && !h.state.election.maintenance)
        #expect(h.kernel[H.vip] != nil)
        h.send(.command(2, .maintenance(true, force: true)))
        #expect(h.state.election.role == .maintenance)
        #expect(h.kernel.isEmpty)
        if case .maintenanceDone = h.replies[2]?.first {} else { Issue.record("forced: \(String(describing: h.replies[2]))") }
    }

    /// A maintenance handover the standby never takes leaves the node active with maintenance
    /// off, and is answered as a refusal (nothing changed: the daemon takes its flag file back).
    @Test func aMaintenanceHandoverNobodyTakesIsRefusedAndTheNodeStaysActive() {
        var h = H()
        h.startActive()
        h.send(.heartbeat(HeartbeatMessage(kind: .heartbeat, sender: "b", bootEpoch: 7, sequence: 1, role: .standby, priority: 100,
                                           configSerial: 0, configDigest: .zero, pathIndex: 0, intervalMilliseconds: 100)))
        h.send(.command(1, .maintenance(true)))
        #expect(h.replies[1] == nil)
        h.advance(2_000)
        guard case .refused(let why) = h.replies[1]?.first else {
            Issue.record("expected a refusal, got \(String(describing: h.replies[1]))")
            return
        }
        #expect(why.hasPrefix("b went silent: staying active; maintenance is off"), "\(why)")
        #expect(h.state.election.role == .active && !h.state.election.maintenance && h.kernel[H.vip] != nil)
    }

    @Test func aSecondRequestWhileOneWaitsIsRefused() {
        var h = H()
        h.startActive()
        // The peer is heard as standby, so a failover has to wait for it to claim.
        let peer = HeartbeatMessage(kind: .heartbeat, sender: "b", bootEpoch: 7, sequence: 1, role: .standby, priority: 100,
                                    configSerial: 0, configDigest: .zero, pathIndex: 0, intervalMilliseconds: 100)
        h.send(.heartbeat(peer))
        h.send(.command(1, .failover(force: false)))
        #expect(h.replies[1] == nil)
        h.send(.command(2, .maintenance(true)))
        #expect(h.replies[2] == [.refused("another failover or maintenance change is in progress")])
        // The peer never claims: the first fails once its wait limit has passed.
        var sequence: UInt64 = 1
        for _ in 0..<80 {
            sequence += 1
            var beat = peer
            beat.sequence = sequence
            h.send(.heartbeat(beat))
            h.advance(100)
        }
        #expect(h.replies[1]?.count == 1)
        if case .failed = h.replies[1]?.first {} else { Issue.record("waited failover: \(String(describing: h.replies[1]))") }
    }

    @Test func aFailoverIsRefusedWhileTheLivePeerRunsAnotherConfig() {
        var h = H()
        h.startActive()
        let digest = HeartbeatMessage.ConfigDigest([UInt8](repeating: 7, count: 32))!
        let peer = HeartbeatMessage(kind: .heartbeat, sender: "b", bootEpoch: 7, sequence: 1, role: .standby, priority: 100,
                                    configSerial: 9, configDigest: digest, pathIndex: 0, intervalMilliseconds: 100)
        h.send(.heartbeat(peer))
        h.send(.command(1, .failover(force: false)))
        guard case .refused(let why) = h.replies[1]?.first else {
            Issue.record("failover with differing configs: \(String(describing: h.replies[1]))")
            return
        }
        #expect(why.contains("configs differ (serial 0 here, 9 on b)"))
        #expect(why.contains("configs are not mirrored without heartbeat authentication (auth: none)"), "\(why)")
        #expect(h.state.election.role == .active)
        #expect(NodeState.configsDiffer(here: 25, peer: 25, peerName: "rb", mirrors: true).contains("equal serials with different contents are a conflict"))
        #expect(NodeState.configsDiffer(here: 25, peer: 25, peerName: "rb", mirrors: false).contains("equal serials with different contents are a conflict"))
    }

    /// Stopped (SIGTERM) during its own failover once the peer claimed: the failover is
    /// answered as done, with the stop said, not "tandemd stopped before the failover
    /// completed" (operator trial of session 32: exit 1 for a move that happened).
    @Test func aStopAfterThePeerClaimedAnswersTheFailoverAsDone() {
        var h = H()
        h.startActive()
        h.send(H.peer(1, role: .standby))
        h.send(.command(1, .failover(force: false)))
        #expect(h.replies[1] == nil)
        h.send(.heartbeat(HeartbeatMessage(kind: .claimed, sender: "b", bootEpoch: 7, sequence: 2, role: .active, priority: 100,
                                           configSerial: 0, configDigest: .zero, pathIndex: 0, intervalMilliseconds: 100)))
        h.send(.stop)
        for sequence in UInt64(3)...12 {   // the release grace is two intervals (200 ms here)
            h.send(H.peer(sequence, role: .active))
            h.advance(50)
        }
        #expect(h.state.isFinished)
        guard case .failoverDone(let from, let to, _, let message)? = h.replies[1]?.first else {
            Issue.record("\(String(describing: h.replies[1]))")
            return
        }
        #expect(from == "a" && to == "b")
        #expect(message.hasPrefix("failover complete: a -> b in ") && message.contains("a then stopped"), "\(message)")
    }

    /// A failover asked right after a reload (the peer still runs the older serial) waits for the
    /// mirror and then fails over; one the mirror does not settle in time is refused, saying so.
    @Test func aFailoverRightAfterAReloadWaitsForTheMirror() {
        let old = HeartbeatMessage.ConfigDigest([UInt8](repeating: 7, count: 32))!
        func beat(_ sequence: UInt64, _ digest: HeartbeatMessage.ConfigDigest, serial: UInt64, role: Role = .standby) -> NodeEvent {
            .heartbeat(HeartbeatMessage(kind: .heartbeat, sender: "b", bootEpoch: 7, sequence: sequence, role: role, priority: 100,
                                        configSerial: serial, configDigest: digest, pathIndex: 0, intervalMilliseconds: 100))
        }
        for mirrored in [true, false] {
            var h = Self.replicating()
            h.startActive()
            let ours = h.state.configVersion
            h.send(beat(1, old, serial: ours.serial + 5))
            _ = h.takeEffects()
            h.send(.command(1, .failover(force: false)))
            #expect(h.replies[1] == nil, "answered at once: \(String(describing: h.replies[1]))")
            #expect(h.effects.contains { if case .log(.notice, let text) = $0 { text.hasPrefix("failover waits for the config mirror") } else { false } })
            // A second request meanwhile is told one is in progress.
            h.send(.command(2, .failover(force: false)))
            #expect(h.replies[2] == [.refused("another failover or maintenance change is in progress")])
            var sequence: UInt64 = 2
            for _ in 0..<3 {
                h.send(beat(sequence, old, serial: ours.serial + 5))
                sequence += 1
                h.advance(100)
            }
            #expect(h.replies[1] == nil)
            if mirrored {
                // The mirror lands: the peer's heartbeats carry this node's config; the failover runs.
                h.send(beat(sequence, ours.digest, serial: ours.serial))
                sequence += 1
                #expect(h.effects.contains { if case .log(.notice, let text) = $0 { text.hasPrefix("failover starts: b runs this node's config") } else { false } })
                for _ in 0..<10 {   // b claims (make-before-break), then a releases
                    h.send(beat(sequence, ours.digest, serial: ours.serial, role: .active))
                    sequence += 1
                    h.advance(100)
                }
                #expect(h.state.election.role == .standby, "\(h.effects)")
                guard case .failoverDone = h.replies[1]?.first else {
                    Issue.record("failover after the mirror: \(String(describing: h.replies[1]))")
                    continue
                }
            } else {
                for _ in 0..<80 {
                    h.send(beat(sequence, old, serial: ours.serial + 5))
                    sequence += 1
                    h.advance(100)
                }
                guard case .refused(let why) = h.replies[1]?.first else {
                    Issue.record("failover the mirror never settled: \(String(describing: h.replies[1]))")
                    continue
                }
                #expect(why.contains("for the mirror: this node has not taken b's serial \(ours.serial + 5)"), "\(why)")
                #expect(h.state.election.role == .active)
            }
        }
        // The peer goes silent while the failover waits: answered, nothing done (no takeover
        // request, no release).
        var h = Self.replicating()
        h.startActive()
        let ours = h.state.configVersion
        h.send(beat(1, old, serial: ours.serial + 5))
        h.send(.command(1, .failover(force: false)))
        #expect(h.replies[1] == nil)
        h.advance(1000)
        #expect(h.replies[1] == [.refused("b is no longer heard while the failover waited for the config mirror: nothing done")])
        #expect(h.state.election.role == .active && h.kernel[H.vip] != nil)
    }

    @Test func aForcedStopReleasesSendsANoticeAndFinishes() {
        var h = H()
        h.startActive()
        _ = h.takeEffects()
        h.send(.forceStop(reason: "second stop signal"))
        let effects = h.takeEffects()
        #expect(effects.contains(.release([H.vip])))
        #expect(effects.contains(.send(Election.Outgoing(kind: .release, role: .stopping, priority: 100))))
        #expect(effects.last == .finished(reason: "second stop signal"))
        #expect(h.kernel.isEmpty)
    }

    /// `notify.stop` runs once, after the VIPs are released (reference.yaml: "after the
    /// release"): not when the handover to the standby begins (operator trial 33: a stop script
    /// that stops local services ran 65-70 ms before the release), and also when the stop is
    /// forced in the middle of the handover.
    @Test(arguments: [false, true])
    func theStopCommandRunsOnceAfterTheRelease(forced: Bool) {
        func isStopNotify(_ effect: NodeEffect) -> Bool { if case .notify(role: .stopping, _) = effect { return true }; return false }
        var h = H()
        h.startActive()
        h.send(H.peer(1, role: .standby, priority: 90))
        _ = h.takeEffects()
        h.send(.stop)
        #expect(!h.effects.contains(where: isStopNotify), "not when the handover begins")
        if forced {
            h.send(.forceStop(reason: "second stop signal"))
        } else {
            h.send(.heartbeat(HeartbeatMessage(kind: .claimed, sender: "b", bootEpoch: 7, sequence: 2, role: .active, priority: 90,
                                               configSerial: 0, configDigest: .zero, pathIndex: 0, intervalMilliseconds: 100)))
            for sequence in UInt64(3)...40 {
                h.advance(50)
                h.send(H.peer(sequence, role: .active, priority: 90))
            }
        }
        let effects = h.takeEffects()
        let release = effects.firstIndex(of: .release([H.vip]))
        let notifies = effects.indices.filter { isStopNotify(effects[$0]) }
        #expect(release != nil && notifies.count == 1, "\(effects)")
        #expect(notifies.first.map { $0 > release! } == true, "\(effects)")
        #expect(h.state.isFinished)
    }

    /// Maintenance on an active whose peer is active too (a handover or contest in course) is
    /// refused as "the roles are changing", not "nobody would serve the VIPs" (operator trial 33).
    @Test func maintenanceWhileBothAreActiveSaysTheRolesAreChanging() {
        var h = H()
        h.startActive()
        h.send(H.peer(1, role: .active, priority: 90))
        h.send(.command(1, .maintenance(true)))
        guard case .refused(let why)? = h.replies[1]?.first else {
            Issue.record("not refused: \(String(describing: h.replies[1]))")
            return
        }
        #expect(why.hasPrefix("peer b is active too (the roles are changing): a stays active"), "\(why)")
    }

    // MARK: - Drains

    static let web1 = RealServerID(service: "web", address: IPAddress("10.20.0.11")!, port: 80)
    static let web2 = RealServerID(service: "web", address: IPAddress("10.20.0.12")!, port: 80)

    static func replicating() -> H {
        var h = H()
        h.state = NodeState(settings: NodeState.Settings(election: H.settings, vips: [H.vip]), replicates: true)
        return h
    }

    static func heartbeat(from sender: String = "b", sequence: UInt64, serial: UInt64 = 0) -> HeartbeatMessage {
        HeartbeatMessage(kind: .heartbeat, sender: sender, bootEpoch: 7, sequence: sequence, role: .standby, priority: 90,
                         configSerial: serial, configDigest: .zero, pathIndex: 0, intervalMilliseconds: 100)
    }

    @Test func aDrainIsKeptAppliedAndOfferedAndAnsweredWhenThePeerAnswers() {
        var h = Self.replicating()
        h.startActive()
        _ = h.takeEffects()
        h.send(.command(1, .drain([Self.web1], on: true, wallClock: 5_000)))
        let book = DrainBook(drained: [Self.web1], generation: 5_000)
        #expect(h.effects.contains(.drainsChanged(book)))
        #expect(h.effects.contains(.offerDrains(book.list, request: 1)))
        #expect(h.replies[1] == nil, "waits for the peer")
        h.send(.drainsOffered(book.list, request: 1, .accepted("1 real server(s) drained there too, the same list")))
        #expect(h.replies[1] == [.drainDone(book.list, peer: .accepted("1 real server(s) drained there too, the same list"))])
    }

    @Test func withoutAPeerChannelADrainIsAnsweredAtOnce() {
        var h = H()
        h.startActive()
        h.send(.command(1, .drain([Self.web1], on: true, wallClock: 5_000)))
        guard case .drainDone(_, .failed(let why))? = h.replies[1]?.first else { Issue.record("\(String(describing: h.replies[1]))"); return }
        #expect(why.contains("auth: none"))
        #expect(h.state.drains.drained == [Self.web1])
    }

    struct PeerDrainRow: Sendable, CustomTestStringConvertible {
        var name: String
        /// Ours before the offer.
        var ours: DrainBook
        var offered: DrainList
        var answer: PeerResponse
        var after: Set<RealServerID>
        var sendsBack: Bool
        var testDescription: String { name }
    }

    static let peerDrainRows: [PeerDrainRow] = [
        PeerDrainRow(name: "a newer list is adopted", ours: DrainBook(drained: [web1], generation: 10),
                     offered: DrainList(generation: 20, entries: ["web 10.20.0.12 80"]),
                     answer: .accepted("1 real server(s) drained there too, the same list"), after: [web2], sendsBack: false),
        PeerDrainRow(name: "an equal generation is the same list", ours: DrainBook(drained: [web1], generation: 10),
                     offered: DrainList(generation: 10, entries: ["web 10.20.0.11 80"]),
                     answer: .accepted("has the same drain list"), after: [web1], sendsBack: false),
        PeerDrainRow(name: "an older list is answered with ours", ours: DrainBook(drained: [web1], generation: 10),
                     offered: DrainList(generation: 3, entries: []),
                     answer: .accepted("kept its newer drain list and sends it back"), after: [web1], sendsBack: true),
        PeerDrainRow(name: "a malformed list is refused whole", ours: DrainBook(drained: [web1], generation: 10),
                     offered: DrainList(generation: 20, entries: ["web 10.20.0.12"]),
                     answer: .failure("drain entry \"web 10.20.0.12\" is not SERVICE ADDRESS PORT"), after: [web1], sendsBack: false),
    ]

    @Test(arguments: peerDrainRows) func thePeersDrainList(_ row: PeerDrainRow) {
        var h = H()
        h.state = NodeState(settings: NodeState.Settings(election: H.settings, vips: [H.vip]), replicates: true, drains: row.ours)
        h.startActive()
        _ = h.takeEffects()
        h.send(.peerDrains(row.offered, answer: 9))
        #expect(h.effects.contains(.answerPeer(9, row.answer)))
        #expect(h.state.drains.drained == row.after)
        #expect(h.effects.contains(.offerDrains(row.ours.list, request: nil)) == row.sendsBack)
        #expect(h.effects.contains { if case .drainsChanged = $0 { return true } else { return false } } == (row.after != row.ours.drained))
    }

    @Test func theListIsOfferedToAReturningPeerAndAgainAfterAFailedOperatorOffer() {
        var h = Self.replicating()
        h.startActive()
        _ = h.takeEffects()
        h.send(.heartbeat(Self.heartbeat(sequence: 1)))
        #expect(h.effects.contains(.offerDrains(DrainBook().list, request: nil)), "offered when the peer is first heard")
        h.send(.drainsOffered(DrainBook().list, request: nil, .accepted("has the same drain list")))
        _ = h.takeEffects()
        // The operator drains; the peer channel fails though heartbeats flow.
        h.send(.command(1, .drain([Self.web1], on: true, wallClock: 5_000)))
        let list = h.state.drains.list
        h.send(.drainsOffered(list, request: 1, .failed("connection refused")))
        _ = h.takeEffects()
        var sequence: UInt64 = 2
        for _ in 0..<15 {
            h.advance(100)
            h.send(.heartbeat(Self.heartbeat(sequence: sequence)))
            sequence += 1
        }
        #expect(h.effects.filter { $0 == .offerDrains(list, request: nil) }.count == 1, "offered again once, after the 1 s back-off")
    }

    @Test func aPendingDrainIsAnsweredWhenTheNodeStops() {
        var h = Self.replicating()
        h.startActive()
        h.send(.command(1, .drain([Self.web1], on: true, wallClock: 5_000)))
        h.send(.forceStop(reason: "second stop signal"))
        guard case .drainDone(_, .failed(let why))? = h.replies[1]?.first else { Issue.record("\(String(describing: h.replies[1]))"); return }
        #expect(why.contains("stopped"))
        h.send(.peerDrains(DrainList(generation: 1, entries: []), answer: 2))
        #expect(h.effects.contains(.answerPeer(2, .failure("tandemd has stopped"))))
    }

    // MARK: - Config replication through the node

    @Test func aHigherPeerConfigIsFetchedWrittenReloadedAndAppliedThroughTheNode() {
        var h = Self.replicating()
        h.startActive()
        _ = h.takeEffects()
        let peerDigest = HeartbeatMessage.ConfigDigest([UInt8](repeating: 4, count: 32))!
        let higher = ConfigVersion(serial: 4, digest: peerDigest)
        var beat = Self.heartbeat(sequence: 1, serial: 4)
        beat.configDigest = peerDigest
        h.send(.heartbeat(beat))
        #expect(h.effects.contains(.fetchPeerConfig(higher)))
        h.send(.peerConfigFetched(.config(higher, bytes: 100, nodes: ["a", "b"], peerOfThisNode: "b"), sentAs: higher))
        #expect(h.effects.contains(.writeConfig(higher)))
        h.send(.configWritten(higher, failure: nil))
        #expect(h.effects.contains(.reloadConfig))
        h.send(.configLoaded(higher))
        #expect(h.effects.contains(.replicationResult(serial: 4, result: "applied", succeeded: true)))
        #expect(h.state.configVersion == higher)
    }

    // MARK: - The IPVS table's inputs

    /// The reconcile effects in `effects`, in order.
    static func reconciles(_ effects: [NodeEffect]) -> [(IPVSInputs, IPVSReconcileReason)] {
        effects.compactMap { if case .reconcileIPVS(let inputs, let reason) = $0 { return (inputs, reason) } else { return nil } }
    }

    @Test func theIPVSTableFollowsHoldingHealthAndDrainsAndOnlyTheirChanges() {
        var h = Self.replicating()
        h.state = NodeState(settings: NodeState.Settings(election: H.settings, vips: [H.vip]), replicates: false,
                            drains: DrainBook(drained: [Self.web2], generation: 3))
        h.send(.start)
        #expect(Self.reconciles(h.takeEffects()).map(\.1) == [.startUp])
        #expect(h.state.ipvs == IPVSInputs(holdingVIPs: false, drained: [Self.web2]), "restored drains are in from the start")
        h.advance(1000)
        #expect(Self.reconciles(h.takeEffects()).map(\.1) == [.claimed])
        // Health: a change reconciles with the new inputs; the same again does nothing.
        h.send(.realServerHealth(down: [Self.web1], weights: [:]))
        let health = Self.reconciles(h.takeEffects())
        #expect(health.count == 1 && health.first?.0 == IPVSInputs(holdingVIPs: true, down: [Self.web1], drained: [Self.web2]))
        h.send(.realServerHealth(down: [Self.web1], weights: [:]))
        #expect(Self.reconciles(h.takeEffects()).isEmpty)
        // Drains: undraining web2 reconciles; draining web2 twice changes nothing the second time.
        h.send(.command(1, .drain([Self.web2], on: false, wallClock: 10)))
        #expect(Self.reconciles(h.takeEffects()).map(\.0.drained) == [[]])
        h.send(.command(2, .drain([Self.web2], on: true, wallClock: 20)))
        h.send(.command(3, .drain([Self.web2], on: true, wallClock: 30)))
        #expect(Self.reconciles(h.takeEffects()).map(\.0.drained) == [[Self.web2]])
        // A release (to the peer) reconciles with holding false.
        h.send(.forceStop(reason: "second stop signal"))
        let released = Self.reconciles(h.takeEffects())
        #expect(released.map(\.1) == [.released] && released.first?.0.holdingVIPs == false)
    }

    // MARK: - Found by the simulator (tandem-sim --hours 2000: seeds 220, 549, 5397, 6946, 7768)

    /// A reload removed a VIP while active and its release failed: the retry used to take only
    /// VIPs still in the config, so the address stayed on the interface for good.
    @Test func aFailedReleaseOfAVIPTheReloadRemovedIsRetried() {
        var h = H(vips: [H.vip, H.vip6])
        h.startActive()
        h.failWrites = true
        h.send(.reload(NodeState.Settings(election: H.settings, vips: [H.vip])))
        #expect(h.kernel[H.vip6] != nil)
        h.failWrites = false
        h.advance(1000)
        #expect(h.kernel[H.vip6] == nil, "released at the retry although the config no longer names it")
        #expect(h.kernel[H.vip] != nil, "the configured VIP stays with the active node")
    }

    /// A standby whose kernel still holds a VIP (left by a failed release and a crash) must not
    /// keep it when a reload adds that VIP to the config: the active peer holds it.
    @Test func aVIPAddedByAReloadIsReleasedOnANodeThatDoesNotServe() {
        var h = H(vips: [H.vip])
        h.send(.start)
        h.send(.heartbeat(HeartbeatMessage(kind: .heartbeat, sender: "b", bootEpoch: 7, sequence: 1, role: .active, priority: 100,
                                           configSerial: 0, configDigest: .zero, pathIndex: 0, intervalMilliseconds: 100)))
        #expect(h.state.election.role == .standby)
        h.kernel[H.vip6] = .held                                           // the leftover copy
        h.send(.reload(NodeState.Settings(election: H.settings, vips: [H.vip, H.vip6])))
        #expect(h.kernel[H.vip6] == nil)
        #expect(h.effects.contains(.log(.notice, "VIPs added by a reload were already present on this standby node: stale copies released: 2001:db8::10/64 on eth0 (removed)")))
    }
}
