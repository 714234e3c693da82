/// The election: which of the two nodes holds the VIPs. A pure state machine — each event
/// method takes the current instant, updates the state and returns the `Action`s a driver
/// carries out (claim, release, announce, send, notify, schedule the one timer). It reads no
/// clock and performs no I/O, so every transition is tested with a manual clock.
///
/// Rules:
/// - **Winner.** Highest effective priority wins (configured priority less the penalties of
///   tracked interfaces that are down, never below 1). On equal priority the node whose name
///   sorts first (byte-wise UTF-8) wins; both nodes compute the same answer.
/// - **Dead peer.** The peer is dead when no valid packet has arrived on any path for the dead
///   time, or when it sent a release notice. A live standby then takes over at once. A peer that
///   advertises a longer interval than ours is given the dead time scaled by the ratio
///   (`deadTime(of:)`, RFC 5798's Master_Adver_Interval): a standby following a live active
///   sends only every `Settings.standbyInterval`, and a peer whose config is being reloaded
///   to another interval is not declared dead by the old one.
/// - **Start-up.** A starting node listens for up to the dead time. A peer heard active makes it
///   standby; a peer heard standby or starting is settled by priority; a peer in fault,
///   maintenance or stopping leaves it active; silence for the whole dead time makes it active.
///   A node that finds the VIPs already on itself at start-up (`holdingVIPs`) keeps them unless
///   the peer is active, so restarting the active router's daemon drops nothing.
/// - **Non-preemptive by default.** A standby never takes over from a live active because of
///   priority alone. With `preempt`, a standby whose priority is strictly higher takes over
///   after hearing the active continuously for `preemptDelay`: it claims first, and the old
///   active, now hearing a higher-priority active, releases (make-before-break).
/// - **Dual active.** An active that hears an active peer (one not asking it to take over)
///   resolves at once: the loser releases and becomes standby, the winner re-announces.
/// - **Handover** (graceful stop, manual failover, maintenance on the active): the active keeps
///   the VIPs and sends `takeoverRequest` every interval; the standby claims and answers
///   `claimed`; only then — after `releaseGrace`, for packets already in flight — does the old
///   active release. If the peer does not claim within
///   `handoverTimeout`, a stop or maintenance releases anyway and a failover is abandoned.
/// - **Tracked interfaces.** `effect: fault` forces the fault role (VIPs released at once);
///   `lowerPriority` lowers the effective priority, which counts at start-up, in dual-active
///   resolution and for preemption — with preempt off the active keeps the VIPs.
/// - **Local faults** (`LocalHealth`: no usable heartbeat path, a VIP interface missing or
///   without carrier, an address conflict) force the fault role like a faulting tracked
///   interface. Hearing nobody is not a dead peer when this node cannot hear or be heard, so
///   when the last local fault clears the node listens for a dead time (as at start-up) before
///   taking over from a silent peer: it goes to standby first and hears whether the peer is active.
/// - **Maintenance** pins the node to standby: it never takes over; an active hands over first.
/// - **The neighbours follow the holder.** An active holding the VIPs announces them again when
///   the peer is heard after a silence or in a new boot epoch, when the peer's packets say
///   `yielded` (it gave up VIPs it held other than by a completed handover; sent every interval
///   for the handover timeout) and when its release notice carries the role `active` (it left
///   holding them): the peer may have announced them after we did.
/// - **Never announce what is given up.** When one event both re-announces and releases (a
///   partition heals and this node loses the dual-active contest), the announcement is dropped:
///   a node giving up the VIPs never points the neighbours at itself.
///
/// The driver must deliver every heartbeat already received before a `timerFired` for the same
/// moment, so a stalled process does not mistake queued heartbeats for silence.
public struct Election: Sendable {
    public private(set) var settings: Settings
    public private(set) var role: Role = .starting
    /// Whether this node holds (or was found holding) the VIPs.
    public private(set) var holdingVIPs = false
    public private(set) var peer: PeerStatus?
    /// Tracked interfaces currently down.
    public private(set) var interfacesDown: Set<String> = []
    /// This node's own faults (`LocalHealth.Report.faults`), most basic first.
    public private(set) var localFaults: [String] = []
    /// When the last local fault cleared: the peer's silence before this instant says nothing.
    private var listeningSince: MonotonicInstant?
    public private(set) var maintenance = false
    /// True once stopping is complete.
    public private(set) var isFinished = false

    private var startedAt: MonotonicInstant?
    private var nextHeartbeatAt: MonotonicInstant = .zero
    /// When the last packet went out (`finish`).
    private var lastSentAt: MonotonicInstant = .zero
    private var preemptCandidateSince: MonotonicInstant?
    /// Set when this node handed the VIPs over in an operator's failover: it does not preempt the
    /// peer it handed them to (the failover would be undone after `preempt_delay`), until the peer
    /// stops serving (not heard, or no longer active) or this node becomes active again (a
    /// failover back). Not kept across a restart: a restarted node preempts as configured.
    public var preemptSuspended: Bool { preemptSuspendedAt != nil }
    /// The peer's priority when the suspension began: a lower one later (its tracked link went
    /// down) ends the suspension, since preemption exists to move the VIPs off a weaker node.
    public private(set) var preemptSuspendedAt: UInt8?
    private var handover: Handover?
    /// Set once the winner of a dual-active episode has re-announced; cleared when the episode ends.
    private var dualActiveAnnounced = false
    /// Since when the peer has been heard active while this node, active too, wins the contest;
    /// nil outside such an episode. The peer yields as soon as it hears this node, so an episode
    /// that outlasts the handover timeout means the peer does not hear it: heartbeats are lost in
    /// one direction only (a firewall rule, a one-way link fault), and both hold the VIPs.
    public private(set) var dualActiveSince: MonotonicInstant?
    /// Whether the lasting episode has been reported (`Action.alert`).
    private var dualActiveAlerted = false

    /// How long a lasting dual-active episode (one reported by `Action.alert`: the peer has not
    /// yielded within the handover timeout) has gone on at `now`, in ms; nil when there is none.
    public func lastingDualActiveMilliseconds(at now: MonotonicInstant) -> UInt64? {
        guard dualActiveAlerted, let since = dualActiveSince else { return nil }
        return now.milliseconds(since: since)
    }
    /// A standby asking the active to hand over (`failover` run on the standby), until this instant.
    private var handoverRequestedUntil: MonotonicInstant?
    /// After a forced failover with nobody to take over: do not claim again before this instant.
    private var holdOffUntil: MonotonicInstant?
    /// After giving up the VIPs other than by a completed handover (a lost dual-active contest, a
    /// fault, maintenance, a forced failover, stale VIPs at start-up): periodic rounds go out as
    /// `yielded`, every interval, until this instant (the handover timeout: four dead times, at
    /// least 1 s), so that loss or reordering for longer than the peer's own failure detector
    /// tolerates does not hide it.
    private var yieldingUntil: MonotonicInstant?
    /// A request read as a heartbeat (`heartbeatReceived(_:at:waitedNanoseconds:withdrawn:)`)
    /// was said for the current run of requests; reset when a new run starts.
    private var expiredRequestNoted = false
    /// The peer's current run of takeover or handover requests (`expiredRequest`).
    private var requestRun: RequestRun?

    /// A run of the peer's requests of one kind in one epoch: the send times (the peer's clock,
    /// ns) of its first and newest request.
    struct RequestRun: Sendable {
        var epoch: UInt64
        var kind: HeartbeatMessage.Kind
        var firstSentAt: UInt64
        var lastSentAt: UInt64
    }

    /// Why the active is handing over, which decides what happens after.
    enum HandoverPurpose: Sendable, Hashable {
        case stop, failover, maintenance

        var name: String {
            switch self {
            case .stop: return "stop"
            case .failover: return "failover"
            case .maintenance: return "maintenance"
            }
        }
    }

    struct Handover: Sendable, Hashable {
        var purpose: HandoverPurpose
        var deadline: MonotonicInstant
        /// The operator forced it (`maintenance on --force`): if the peer does not claim, the
        /// VIPs are released anyway; otherwise this node stays active.
        var forced = false
        /// When the peer was first heard active after our takeover request: the VIPs are
        /// released `releaseGrace` later.
        var peerClaimedAt: MonotonicInstant?
        /// Why the neighbours may point at the peer (it gave up VIPs it held while this handover
        /// was pending): announced if the handover fails and this node keeps the VIPs, never
        /// while it is pending (the peer's claim, a moment later, announces; ours would follow it).
        var announceIfKept: String?
    }

    /// How long a handing-over node keeps the VIPs after the peer has claimed them: packets
    /// already on their way to this node's MAC address (sent before the neighbours processed the
    /// peer's announcement) are still answered. Two intervals, at least 20 ms, at most the
    /// handover timeout.
    public var releaseGrace: TimeSpan {
        let twice = TimeSpan(milliseconds: settings.interval.milliseconds.multipliedReportingOverflow(by: 2).partialValue)
        return min(max(twice, .milliseconds(20)), settings.handoverTimeout)
    }

    /// Whether the peer has claimed during the handover and the grace is over; records the
    /// claim on first sight.
    private mutating func handoverGraceOver(at now: MonotonicInstant) -> Bool {
        guard var pending = handover else { return false }
        let claimedAt = pending.peerClaimedAt ?? now
        if pending.peerClaimedAt == nil {
            pending.peerClaimedAt = now
            handover = pending
        }
        return now >= claimedAt + releaseGrace
    }

    public init(settings: Settings) {
        self.settings = settings
    }

    // MARK: - Derived facts

    /// Configured priority less the penalties of tracked interfaces that are down, clamped to 1…255.
    public var effectivePriority: UInt8 {
        var priority = settings.priority
        for tracked in settings.trackedInterfaces where interfacesDown.contains(tracked.interface) {
            if case .lowerPriority(let by) = tracked.effect { priority -= by }
        }
        return UInt8(clamping: min(max(priority, 1), 255))
    }

    /// Names of tracked interfaces with `effect: fault` that are down, in config order.
    var faultingInterfaces: [String] {
        settings.trackedInterfaces.compactMap { tracked in
            if case .fault = tracked.effect, interfacesDown.contains(tracked.interface) { return tracked.interface }
            return nil
        }
    }

    /// Why this node is faulty (a faulting tracked interface first, then local faults); nil when it is not.
    public var faultReason: String? {
        if let interface = faultingInterfaces.first { return "tracked interface \(interface) is down" }
        return localFaults.first
    }

    /// Whether this node is handing the VIPs over (stop, failover, maintenance): it keeps them
    /// until the peer has claimed, but must not point the neighbours back at itself.
    public var isHandingOver: Bool { handover != nil }

    /// Whether a failover asked now (not forced) would be carried out: on the active with a live
    /// standby peer, or on the standby with a live active peer (`failoverRequested`'s own rule).
    public func failoverRunnable(at now: MonotonicInstant) -> Bool {
        guard peerIsAlive(at: now), let peer else { return false }
        return (role == .active && peer.role == .standby) || (role == .standby && peer.role == .active)
    }

    /// Whether the peer is alive at `now`: heard within its dead time (`deadTime(of:)`) and not departed.
    public func peerIsAlive(at now: MonotonicInstant) -> Bool {
        guard let peer, !peer.departed else { return false }
        return now < peer.lastHeard + deadTime(of: peer)
    }

    /// How long `peer` may stay silent before it is dead: the configured dead time, scaled by
    /// the peer's advertised interval over ours when that is longer (a standby sending every
    /// `standbyInterval` gets the same number of missed heartbeats as an active), so 30 ms at a
    /// 10 ms interval becomes 300 ms for a standby advertising 100 ms.
    public func deadTime(of peer: PeerStatus) -> TimeSpan {
        let own = max(settings.interval.milliseconds, 1), theirs = UInt64(peer.intervalMilliseconds)
        guard theirs > own else { return settings.deadTime }
        let (product, overflow) = settings.deadTime.milliseconds.multipliedReportingOverflow(by: theirs)
        return TimeSpan(milliseconds: overflow ? UInt64.max / 2 : product / own)
    }

    /// Whether this node beats the peer: higher effective priority, or equal priority and a name
    /// that sorts first (byte-wise UTF-8).
    func winsAgainst(peerPriority: UInt8) -> Bool {
        let mine = effectivePriority
        if mine != peerPriority { return mine > peerPriority }
        return settings.nodeName.utf8.lexicographicallyPrecedes(settings.peerName.utf8)
    }

    /// "priority 150 > 100", or the tie-break, worded from the winner's side.
    func comparison(peerPriority: UInt8) -> String {
        let mine = effectivePriority
        if mine > peerPriority { return "priority \(mine) > \(peerPriority)" }
        if mine < peerPriority { return "priority \(peerPriority) > \(mine)" }
        let (first, second) = winsAgainst(peerPriority: peerPriority)
            ? (settings.nodeName, settings.peerName) : (settings.peerName, settings.nodeName)
        return "equal priority \(mine), tie broken by node name (\(first) sorts before \(second))"
    }

    private func outgoing(_ kind: HeartbeatMessage.Kind) -> Outgoing {
        Outgoing(kind: kind, role: role, priority: effectivePriority,
                 advertisedInterval: follows && settings.standbyInterval > settings.interval ? settings.standbyInterval : nil)
    }

    /// A standby following a live active, asking nothing of it: it sends every
    /// `Settings.standbyInterval`, with the answer to one of the active's heartbeats.
    private var follows: Bool {
        role == .standby && handover == nil && handoverRequestedUntil == nil && yieldingUntil == nil
            && peer.map { $0.role == .active && !$0.departed } == true
    }

    // MARK: - Events

    /// The daemon has started. `holdingVIPs`: the VIPs are already configured on this node
    /// (the daemon restarted on the active router); they are kept unless the peer is active.
    public mutating func started(at now: MonotonicInstant, holdingVIPs: Bool = false) -> [Action] {
        guard startedAt == nil else { return [] }
        startedAt = now
        self.holdingVIPs = holdingVIPs
        var actions: [Action] = [.send(outgoing(.heartbeat))]
        nextHeartbeatAt = now + settings.interval
        decide(at: now, into: &actions)
        return finish(at: now, actions)
    }

    /// A packet from the peer that `HeartbeatVerifier` accepted. Which boot epochs are the peer's
    /// current life is the verifier's decision (an older one is accepted after the peer answered
    /// a challenge, issue 13), so any other epoch than the known one starts a new peer status.
    ///
    /// - Parameters:
    ///   - waitedNanoseconds: how much later than the peer's quickest packet this one was read
    ///     (the verifier's estimate; nil when unknown).
    ///   - withdrawn: the same read from the sockets held a later round of the peer's epoch that
    ///     is not a request (`HeartbeatMessage.withdrawnRequests`).
    ///
    /// A takeover or handover request that would start something here (a standby's claim, an
    /// active's handover) is honoured only while its sender still asks: not when it was
    /// withdrawn later in the same read, nor when, by the peer's send times, it came later than
    /// the handover timeout less one of the peer's intervals after the first request of its run
    /// (`expiredRequest`: the requester stops waiting for a claim then). Such a request is read
    /// as the periodic heartbeat it also is, said once per run. A standby paused while the
    /// active's failover was refused must not take the VIPs when it resumes and reads its queue.
    /// A node that already answered (it claimed, and the peer keeps asking through its release
    /// grace) reads the requests as they are: read as heartbeats they would start a dual-active
    /// contest that undoes the failover. Without send times (a peer from before them) only a
    /// withdrawal in the same read is seen.
    public mutating func heartbeatReceived(_ message: HeartbeatMessage, at now: MonotonicInstant,
                                           waitedNanoseconds: UInt64? = nil, withdrawn: Bool = false) -> [Action] {
        guard message.sender == settings.peerName, !isFinished else { return [] }
        var message = message
        var expiredNote: Action?
        let elapsed = expiredRequest(message, waitedNanoseconds: waitedNanoseconds)
        let wouldAct = message.kind == .takeoverRequest ? role != .active
            : message.kind == .handoverRequest ? role == .active && handover == nil : false
        if wouldAct, withdrawn || elapsed != nil {
            if !expiredRequestNoted, startedAt != nil {
                let why = withdrawn
                    ? "was read together with later heartbeats in which \(settings.peerName) no longer asks"
                    : "came \(elapsed!)ms into its handover, which \(settings.peerName) gives up after the handover timeout (\(settings.handoverTimeout))"
                expiredNote = .alert(.notice, "\(settings.peerName)'s \(message.kind) (sequence \(message.sequence)) \(why): "
                    + "read as a heartbeat, nothing taken over or handed over")
                expiredRequestNoted = true
            }
            message.kind = .heartbeat
        }
        let previous = peer
        let wasAlive = peerIsAlive(at: now)
        if var known = peer, known.bootEpoch == message.bootEpoch, message.sequence <= known.sequence {
            // The same round on another path, or an older round overtaken by a newer one on a
            // faster path: it proves the peer alive but must not roll its status back.
            if !known.departed { known.lastHeard = max(known.lastHeard, now) }
            peer = known
        } else {
            peer = PeerStatus(role: message.role, priority: message.priority, lastKind: message.kind, lastHeard: now,
                              bootEpoch: message.bootEpoch, sequence: message.sequence,
                              configSerial: message.configSerial, configDigest: message.configDigest,
                              departed: message.kind == .release, intervalMilliseconds: message.intervalMilliseconds)
        }
        guard startedAt != nil else { return [] }
        var actions: [Action] = expiredNote.map { [$0] } ?? []
        if message.kind == .handoverRequest, role == .active, handover == nil, message.role == .standby {
            // The peer's operator asked for a failover there: hand over, make-before-break.
            beginHandover(.failover, at: now, into: &actions)
        }
        if message.kind == .takeoverRequest, role == .active, handover == nil {
            // The peer is yielding to us and we already hold the VIPs: confirm so it can release.
            actions.append(.send(outgoing(.claimed)))
            nextHeartbeatAt = now + settings.interval
        }
        // A peer heard after a silence, or in a new life (it restarted, perhaps after taking
        // over during a partition we did not notice because its standby heartbeats are slow), or
        // back after its release notice: in between it may have run unheard (another key, whose
        // packets this node refused) and announced the VIPs as its own. A copy of the release
        // notice on another path, or an older round overtaken by it, is not the peer back.
        let back = previous.map { !$0.departed || (message.kind != .release
            && ($0.bootEpoch != message.bootEpoch || message.sequence > $0.sequence)) } ?? false
        let heardAgain = role == .active && handover == nil && back
            && (!wasAlive || previous.map { $0.bootEpoch != message.bootEpoch } == true)
        // The peer says it gave up VIPs it held (`yielded`): it may have announced them after we
        // last did (a cold standby announces after its IPVS install; a dual-active loser
        // re-claims what someone removed), and we may never have heard it active (its packets
        // lost, or overtaken by later ones), so the neighbours may point at it.
        // Also while a failover or maintenance handover is pending: the peer that yields does not
        // hold the VIPs, and if the handover then fails this node keeps them (the announcement
        // waits for that: `Handover.announceIfKept`; the simulator's seed 1246 of session 31 had
        // a peer yield and claim in one burst, and our announcement followed its claim's).
        // Only a packet newer than what we knew counts: an older one overtaken by later rounds
        // (the peer may have claimed since) must not point the neighbours back at us.
        let newer = previous.map { $0.bootEpoch != message.bootEpoch || message.sequence > $0.sequence } ?? true
        let gaveUp = role == .active && newer
            && ((message.kind == .yielded && Self.newlyYielded(message, after: previous))
                || (message.kind == .release && message.role == .active && previous.map { !$0.departed } != false))
        decide(at: now, into: &actions)
        if heardAgain || gaveUp, role == .active, holdingVIPs, !actions.contains(where: \.isAnnouncement) {
            // The peer is back after a silence (a partition heals, or it restarted), or it gave
            // up VIPs it held: it may have taken over meanwhile and announced itself, so point
            // the neighbours back at us — decided after the role, so a node that loses the
            // contest never announces.
            let why = heardAgain ? (wasAlive ? "restarted" : previous?.departed == true ? "is back after it left" : "is heard again after a silence")
                : message.kind == .release ? "left holding the VIPs" : "gave up the VIPs it held"
            if handover != nil {
                handover?.announceIfKept = "\(settings.peerName) \(why) during the handover"
            } else {
                actions.append(.announce(reason: "\(settings.peerName) \(why): re-announcing", again: true))
                dualActiveAnnounced = message.role == .active
            }
        }
        return finish(at: now, actions, peerHeard: true)
    }

    /// How far into its handover the peer was when this node read `message` (ms), when that is
    /// past the point where the peer stops waiting for a claim (the handover timeout less one of
    /// the peer's intervals: the margin for sending and transit); nil for a request still waited
    /// for, one whose age is unknown, or any other kind. Keeps `requestRun`: a newer packet of
    /// another kind ends the run, and so does a gap of more than three of the peer's intervals
    /// between two requests' send times (the requester sends one every interval while it asks;
    /// a longer gap is a new request whose separating heartbeat was lost).
    private mutating func expiredRequest(_ message: HeartbeatMessage, waitedNanoseconds: UInt64?) -> UInt64? {
        guard message.kind.isRequest else {
            if let run = requestRun, run.epoch != message.bootEpoch || message.sequence > (peer?.sequence ?? 0) { requestRun = nil }
            return nil
        }
        guard let sentAt = message.sentAtNanoseconds, let waited = waitedNanoseconds else { return nil }
        let interval = UInt64(max(message.intervalMilliseconds, 1)) * 1_000_000
        let first: UInt64
        if var run = requestRun, run.epoch == message.bootEpoch, run.kind == message.kind, run.firstSentAt <= sentAt,
           sentAt <= run.lastSentAt &+ 3 * interval {
            first = run.firstSentAt
            run.lastSentAt = max(run.lastSentAt, sentAt)
            requestRun = run
        } else {
            requestRun = RequestRun(epoch: message.bootEpoch, kind: message.kind, firstSentAt: sentAt, lastSentAt: sentAt)
            expiredRequestNoted = false
            first = sentAt
        }
        let elapsed = (sentAt - first + waited) / 1_000_000
        let timeout = settings.handoverTimeout.milliseconds
        let givesUpAt = timeout - min(UInt64(message.intervalMilliseconds), timeout / 2)
        return elapsed >= givesUpAt ? elapsed : nil
    }

    /// Whether a `yielded` packet may start a yield we have not answered: the peer's last packet
    /// was not one, or rounds are missing in between (lost or overtaken), which may have held a
    /// new claim and a new contest lost. A restarted peer (another boot epoch) counts as new.
    static func newlyYielded(_ message: HeartbeatMessage, after previous: PeerStatus?) -> Bool {
        guard let previous, previous.bootEpoch == message.bootEpoch else { return true }
        return previous.lastKind != .yielded || message.sequence > previous.sequence + 1
    }

    /// The timer set by the last `scheduleTimer` has fired (late is fine; early is ignored).
    public mutating func timerFired(at now: MonotonicInstant) -> [Action] {
        guard startedAt != nil, !isFinished else { return [] }
        var actions: [Action] = []
        decide(at: now, into: &actions)
        return finish(at: now, actions)
    }

    /// A tracked interface's link went up or down. Untracked interfaces are ignored.
    public mutating func trackedInterfaceChanged(_ name: String, isUp: Bool, at now: MonotonicInstant) -> [Action] {
        guard settings.trackedInterfaces.contains(where: { $0.interface == name }) else { return [] }
        let before = effectivePriority
        if isUp { interfacesDown.remove(name) } else { interfacesDown.insert(name) }
        guard startedAt != nil, !isFinished else { return [] }
        var actions: [Action] = []
        let roleBefore = role
        decide(at: now, into: &actions)
        if role == roleBefore, effectivePriority != before { actions.append(.send(outgoing(currentKind))) }
        return finish(at: now, actions)
    }

    /// This node's own faults changed (`LocalHealth.Report.faults`; empty when healthy). Any
    /// fault forces the fault role: the VIPs are released and the node never takes over.
    public mutating func localFaultsChanged(_ faults: [String], at now: MonotonicInstant) -> [Action] {
        guard faults != localFaults else { return [] }
        let cleared = !localFaults.isEmpty && faults.isEmpty
        localFaults = faults
        listeningSince = cleared ? now : (faults.isEmpty ? listeningSince : nil)
        guard startedAt != nil, !isFinished else { return [] }
        var actions: [Action] = []
        decide(at: now, into: &actions)
        return finish(at: now, actions)
    }

    /// The operator turned maintenance on or off.
    ///
    /// On the active, `on` hands over to a live standby first (make-before-break). With nobody
    /// to hand over to (the peer not heard, or in fault, maintenance or starting) it is refused,
    /// as `failover` is, unless `force`: maintenance would leave the VIPs served by no one.
    public mutating func maintenanceRequested(_ on: Bool, force: Bool = false, at now: MonotonicInstant) -> [Action] {
        guard startedAt != nil, !isFinished else { return [] }
        var actions: [Action] = []
        if role == .stopping {
            return finish(at: now, [.rejected(command: "maintenance", reason: "\(settings.nodeName) is stopping")])
        }
        if on, role == .active, handover == nil, !(peerIsAlive(at: now) && peer?.role == .standby), !force {
            if peerIsAlive(at: now), peer?.role == .active {
                // Both active (a handover or a contest in course): the peer serves, so "nobody
                // would serve" would be wrong (operator trial 33); the roles settle in moments.
                return finish(at: now, [.rejected(command: "maintenance",
                                                  reason: "peer \(settings.peerName) is active too (the roles are changing): "
                                                      + "\(settings.nodeName) stays active; try again once they settle (tandemctl status)")])
            }
            let why = !peerIsAlive(at: now)
                ? "peer \(settings.peerName) is not heard"
                : "peer \(settings.peerName) is \(peer?.role.description ?? "unknown"), not standby"
            return finish(at: now, [.rejected(command: "maintenance",
                                              reason: "\(why): nobody would serve the VIPs; \(settings.nodeName) stays active "
                                                  + "(use --force to release them anyway)")])
        }
        maintenance = on
        if on, role == .active, handover == nil {
            if peerIsAlive(at: now), let peer, peer.role == .standby {
                beginHandover(.maintenance, at: now, into: &actions)
                handover?.forced = force
            } else {
                become(.maintenance, reason: "forced maintenance with no live standby to hand over to: releasing the VIPs",
                       at: now, into: &actions)
            }
        } else if !on, let pending = handover, pending.purpose == .maintenance {
            handover = nil
            actions.append(.send(outgoing(.heartbeat)))
            nextHeartbeatAt = now + settings.interval
            if let reason = pending.announceIfKept, holdingVIPs {
                actions.append(.announce(reason: "\(reason) and maintenance was turned off: re-announcing", again: true))
            }
        }
        decide(at: now, into: &actions)
        return finish(at: now, actions)
    }

    /// The operator asked for a failover (`tandemctl failover`), on either node.
    ///
    /// On the active: hand over to a live standby, make-before-break. On the standby: ask the
    /// active to hand over (a `handoverRequest` every interval until it does, or until the
    /// handover timeout). Refused, with the reason, when the peer cannot take over — unless
    /// `force`: then an active with no live standby releases the VIPs anyway and does not take
    /// them back for the handover timeout (so a peer coming up can claim them).
    public mutating func failoverRequested(at now: MonotonicInstant, force: Bool = false) -> [Action] {
        guard startedAt != nil, !isFinished else { return [] }
        var actions: [Action] = []
        let peerName = settings.peerName
        switch role {
        case .active:
            if handover != nil {
                actions.append(.rejected(command: "failover", reason: "a handover is already in progress"))
            } else if failoverRunnable(at: now) {
                beginHandover(.failover, at: now, into: &actions)
            } else {
                let why = !peerIsAlive(at: now)
                    ? "peer \(peerName) is not heard: nobody to hand over to"
                    : "peer \(peerName) is \(peer?.role.description ?? "unknown"), not standby: it cannot take over"
                if force {
                    holdOffUntil = now + settings.handoverTimeout
                    become(.standby, reason: "forced failover (\(why)): VIPs released; not taking them back for \(settings.handoverTimeout)",
                           at: now, into: &actions)
                } else {
                    actions.append(.rejected(command: "failover", reason: why + " (use --force to release the VIPs anyway)"))
                }
            }
        case .standby:
            if handoverRequestedUntil != nil {
                actions.append(.rejected(command: "failover", reason: "a failover request is already in progress"))
            } else if failoverRunnable(at: now) {
                handoverRequestedUntil = now + settings.handoverTimeout
                actions.append(.send(outgoing(.handoverRequest)))
                nextHeartbeatAt = now + settings.interval
            } else {
                let state = peerIsAlive(at: now) ? (peer?.role.description ?? "unknown") : "not heard"
                actions.append(.rejected(command: "failover",
                                         reason: "peer \(peerName) is \(state), not active: there is nothing to take over from"))
            }
        default:
            actions.append(.rejected(command: "failover",
                                     reason: "\(settings.nodeName) is \(role): failover runs on the active or the standby"))
        }
        decide(at: now, into: &actions)
        return finish(at: now, actions)
    }

    /// The daemon was asked to stop (SIGTERM). An active hands over first (make-before-break);
    /// any other role leaves at once with a release notice.
    public mutating func stopRequested(at now: MonotonicInstant) -> [Action] {
        guard startedAt != nil, !isFinished, role != .stopping else { return [] }
        var actions: [Action] = []
        if role == .active, var pending = handover {
            // A failover or maintenance handover is under way (the peer may have claimed
            // already, and is active now): the stop carries it on, make-before-break, to its
            // deadline, instead of releasing as if nobody could take the VIPs.
            let purpose = pending.purpose
            pending.purpose = .stop
            handover = pending
            become(.stopping, reason: "stop requested during the \(purpose.name) handover: handing over to \(settings.peerName)",
                   at: now, into: &actions, keepVIPs: true)
        } else if role == .active, peerIsAlive(at: now), let peer, peer.role == .standby || peer.role == .starting {
            handover = Handover(purpose: .stop, deadline: now + settings.handoverTimeout)
            become(.stopping, reason: "stop requested: handing over to \(settings.peerName)", at: now,
                   into: &actions, keepVIPs: true)
        } else {
            let why = role == .active ? "stop requested and no live standby to hand over to" : "stop requested"
            let from = role
            role = .stopping
            actions.append(.transition(from: from, to: .stopping, reason: why))
            leave(reason: why, into: &actions, notify: true)
        }
        return finish(at: now, actions)
    }

    /// The configuration was reloaded. Node and peer names should not change.
    public mutating func settingsChanged(_ newSettings: Settings, at now: MonotonicInstant) -> [Action] {
        settings = newSettings
        interfacesDown = interfacesDown.filter { name in newSettings.trackedInterfaces.contains { $0.interface == name } }
        guard startedAt != nil, !isFinished else { return [] }
        var actions: [Action] = []
        let roleBefore = role
        decide(at: now, into: &actions)
        if role == roleBefore { actions.append(.send(outgoing(currentKind))) }
        return finish(at: now, actions)
    }

    // MARK: - Decisions

    /// The kind of the periodic packet: a takeover request while handing over.
    private var currentKind: HeartbeatMessage.Kind {
        if handover != nil { return .takeoverRequest }
        if handoverRequestedUntil != nil { return .handoverRequest }
        if yieldingUntil != nil, role != .active { return .yielded }
        return .heartbeat
    }

    /// Level-triggered: looks at the facts and moves the role where they say.
    private mutating func decide(at now: MonotonicInstant, into actions: inout [Action]) {
        switch role {
        case .stopping:
            decideStopping(at: now, into: &actions)
        case .active:
            decideActive(at: now, into: &actions)
        case .starting, .standby, .fault, .maintenance:
            decideInactive(at: now, into: &actions)
        }
    }

    private mutating func decideStopping(at now: MonotonicInstant, into actions: inout [Action]) {
        guard let handover else { return }
        if let peer, peerIsAlive(at: now), peer.role == .active, peer.lastKind != .takeoverRequest {
            if handoverGraceOver(at: now) {
                leave(reason: "handover complete: \(settings.peerName) has claimed the VIPs", into: &actions, notify: true, handedOver: true)
            }
        } else if let fault = faultReason {
            leave(reason: "\(fault) during the handover", into: &actions, notify: true)
        } else if now >= handover.deadline {
            leave(reason: "\(settings.peerName) did not claim within \(settings.handoverTimeout): releasing anyway",
                  into: &actions, notify: true)
        } else if !peerIsAlive(at: now) {
            leave(reason: "\(settings.peerName) went silent during the handover: releasing anyway", into: &actions, notify: true)
        }
    }

    private mutating func decideActive(at now: MonotonicInstant, into actions: inout [Action]) {
        if let fault = faultReason {
            handover = nil
            become(.fault, reason: fault, at: now, into: &actions)
            return
        }
        let peerAlive = peerIsAlive(at: now)
        if let pending = handover {
            if let peer, peerAlive, peer.role == .active, peer.lastKind != .takeoverRequest {
                guard handoverGraceOver(at: now) else { return }
                handover = nil
                let target: Role = pending.purpose == .maintenance ? .maintenance : .standby
                become(target, reason: "\(pending.purpose.name) handover complete: \(settings.peerName) has claimed the VIPs",
                       at: now, into: &actions, handedOver: true)
                if pending.purpose == .failover, settings.preempt, effectivePriority > peer.priority {
                    preemptSuspendedAt = peer.priority
                    actions.append(.alert(.notice, "preempt suspended: \(settings.peerName) serves after an operator's failover; "
                        + "\(settings.nodeName) (priority \(effectivePriority) > \(peer.priority)) takes the VIPs back only if "
                        + "\(settings.peerName) stops serving, or with `tandemctl failover`"))
                }
            } else if now >= pending.deadline || !peerAlive {
                handover = nil
                let why = peerAlive ? "did not claim within \(settings.handoverTimeout)" : "went silent"
                if pending.purpose == .maintenance, pending.forced {
                    become(.maintenance, reason: "forced maintenance handover failed (\(settings.peerName) \(why)): releasing anyway",
                           at: now, into: &actions)
                } else {
                    // As a failover: nobody took the VIPs, so this node keeps serving them.
                    if pending.purpose == .maintenance { maintenance = false }
                    let off = pending.purpose == .maintenance
                        ? "; maintenance is off (`maintenance on --force` releases the VIPs even so)" : ""
                    actions.append(.rejected(command: pending.purpose.name,
                                             reason: "\(settings.peerName) \(why): staying active" + off))
                    actions.append(.send(outgoing(.heartbeat)))
                    nextHeartbeatAt = now + settings.interval
                    if let reason = pending.announceIfKept, holdingVIPs {
                        actions.append(.announce(reason: "\(reason) and this node keeps the VIPs: re-announcing", again: true))
                    }
                }
            }
            return
        }
        guard let peer, peerAlive, peer.role == .active, peer.lastKind != .takeoverRequest else {
            dualActiveAnnounced = false
            guard dualActiveSince != nil else { return }
            endDualActive(at: now, into: &actions, because: peerAlive ? "\(settings.peerName) is \(peer?.role.description ?? "unknown") now"
                          : "\(settings.peerName) is no longer heard")
            return
        }
        let comparison = comparison(peerPriority: peer.priority)
        if winsAgainst(peerPriority: peer.priority) {
            if !dualActiveAnnounced {
                dualActiveAnnounced = true
                actions.append(.announce(reason: "\(settings.peerName) is also active; we win (\(comparison)): re-announcing", again: true))
                actions.append(.send(outgoing(.heartbeat)))
                nextHeartbeatAt = now + settings.interval
            }
            let since = dualActiveSince ?? now
            dualActiveSince = since
            if !dualActiveAlerted, now >= since + settings.handoverTimeout {
                dualActiveAlerted = true
                actions.append(.alert(.error, "DUAL ACTIVE: \(settings.peerName) has stayed active for \(now.milliseconds(since: since))ms "
                    + "although this node wins (\(comparison)): it does not hear \(settings.nodeName)'s heartbeats (lost one way: "
                    + "a firewall rule or a link fault between them), or refuses them (it lacks the key \(settings.nodeName) signs "
                    + "with: its status says REFUSING; compare the key fingerprints in `tandemctl status` on both); both hold the VIPs. "
                    + "Check the path and the keys from \(settings.nodeName) to \(settings.peerName), or stop one of them"))
                actions.append(.announce(reason: "\(settings.peerName) is still active after \(settings.handoverTimeout): re-announcing", again: true))
            }
        } else {
            become(.standby, reason: "\(settings.peerName) is also active and wins (\(comparison))", at: now, into: &actions)
        }
    }

    /// Ends a dual-active episode (the peer yielded, left, or this node is no longer active);
    /// a reported one is reported ended.
    /// Callers test `dualActiveSince` first and build `why` only then: a settled active passes
    /// here at every timer tick, where building the text each time was a string allocation per
    /// heartbeat (issue 16 profile).
    private mutating func endDualActive(at now: MonotonicInstant, into actions: inout [Action], because why: String) {
        guard let since = dualActiveSince else { return }
        if dualActiveAlerted {
            actions.append(.alert(.notice, "dual active ended after \(now.milliseconds(since: since))ms: \(why)"))
        }
        dualActiveSince = nil
        dualActiveAlerted = false
    }

    private mutating func decideInactive(at now: MonotonicInstant, into actions: inout [Action]) {
        if let until = handoverRequestedUntil {
            let activePeer = peerIsAlive(at: now) && peer?.role == .active
            if role != .standby || !activePeer {
                handoverRequestedUntil = nil
            } else if now >= until {
                handoverRequestedUntil = nil
                actions.append(.rejected(command: "failover",
                                         reason: "\(settings.peerName) did not hand over within \(settings.handoverTimeout); "
                                             + "it answers only what it hears: if its status says \(settings.nodeName) is NOT HEARD "
                                             + "(heartbeats dropped one way, by a firewall say, or signed with a key it lacks), "
                                             + "fix that first"))
                actions.append(.send(outgoing(.heartbeat)))
                nextHeartbeatAt = now + settings.interval
            }
        }
        if let until = holdOffUntil, now >= until { holdOffUntil = nil }
        guard let (target, reason) = inactiveTarget(at: now) else { return }
        if target == .active, holdOffUntil != nil, !(peer?.lastKind == .takeoverRequest && peerIsAlive(at: now)) { return }
        if target == .active { handoverRequestedUntil = nil }
        if target != role { become(target, reason: reason, at: now, into: &actions) }
    }

    /// Where a node that does not hold the VIPs (starting, standby, fault, maintenance) should
    /// be, and why; nil to stay as it is.
    private mutating func inactiveTarget(at now: MonotonicInstant) -> (Role, String)? {
        if maintenance { preemptCandidateSince = nil; return (.maintenance, "maintenance requested") }
        if let fault = faultReason {
            preemptCandidateSince = nil
            return (.fault, fault)
        }
        let peerName = settings.peerName
        guard let peer, peerIsAlive(at: now) else {
            preemptCandidateSince = nil
            preemptSuspendedAt = nil
            guard let startedAt else { return nil }
            if let since = listeningSince, now < since + settings.deadTime {
                return role == .fault ? (.standby, "local faults cleared: listening for \(peerName) for the dead time (\(settings.deadTime)) before deciding") : nil
            }
            if let peer, peer.departed { return (.active, "\(peerName) released the VIPs and left") }
            if let peer {
                let deadTime = deadTime(of: peer)
                guard now >= peer.lastHeard + deadTime else { return nil }
                return (.active, "\(peerName) silent for \(now.milliseconds(since: peer.lastHeard))ms on all paths (dead time \(deadTime))")
            }
            guard now >= startedAt + settings.deadTime else { return nil }
            return (.active, "no heartbeat from \(peerName) within the dead time (\(settings.deadTime)) since start")
        }
        // The comparison's text is built only where a reason uses it: this runs for every packet
        // a standby hears, and the common answer ("is active") needs none (issue 16: idle cost).
        let wins = winsAgainst(peerPriority: peer.priority)
        if peer.lastKind == .takeoverRequest, peer.role == .active || peer.role == .stopping {
            preemptCandidateSince = nil
            // A handover this node asked for (`tandemctl failover` on this standby) is the
            // operator's, not the peer's idea: the reason (logged, given to notify) says so.
            if handoverRequestedUntil != nil {
                return (.active, "failover requested on \(settings.nodeName): \(peerName) handed the VIPs over")
            }
            return (.active, "\(peerName) asked us to take over")
        }
        if peer.role != .active || peer.priority < (preemptSuspendedAt ?? 0) { preemptSuspendedAt = nil }
        switch peer.role {
        case .active:
            guard settings.preempt, !preemptSuspended, effectivePriority > peer.priority else {
                preemptCandidateSince = nil
                return (.standby, "\(peerName) is active")
            }
            let since = preemptCandidateSince ?? now
            preemptCandidateSince = since
            if now >= since + settings.preemptDelay {
                preemptCandidateSince = nil
                return (.active, "\(peerName) is active with lower priority (\(comparison(peerPriority: peer.priority))) and preempt is on"
                                 + " (heard it for \(now.milliseconds(since: since))ms, preempt delay \(settings.preemptDelay))")
            }
            return (.standby, "\(peerName) is active; preempting after \(settings.preemptDelay) (\(comparison(peerPriority: peer.priority)))")
        case .standby, .starting:
            preemptCandidateSince = nil
            if role == .starting, holdingVIPs {
                return (.active, "VIPs already held at start and \(peerName) is \(peer.role): keeping them")
            }
            if peer.role == .starting, role != .starting {
                return (.standby, "\(peerName) is starting and will decide")
            }
            if wins { return (.active, "\(peerName) is \(peer.role) and we win (\(comparison(peerPriority: peer.priority)))") }
            return (.standby, "\(peerName) is \(peer.role) and wins (\(comparison(peerPriority: peer.priority)))")
        case .fault, .maintenance, .stopping:
            preemptCandidateSince = nil
            return (.active, "\(peerName) is in \(peer.role)")
        }
    }

    // MARK: - Effects

    /// Changes the role and emits, in order: transition, claim + announce (to active) or
    /// release (from holding the VIPs, unless `keepVIPs`), one packet, notify.
    ///
    /// A release that is not a completed handover marks the next rounds `yielded` for the
    /// handover timeout (every interval): the peer, if it holds the VIPs, announces them again,
    /// since this node may have announced them after it did.
    private mutating func become(_ target: Role, reason: String, at now: MonotonicInstant, into actions: inout [Action],
                                 keepVIPs: Bool = false, handedOver: Bool = false) {
        let from = role
        role = target
        actions.append(.transition(from: from, to: target, reason: reason))
        if target != .active, dualActiveSince != nil { endDualActive(at: now, into: &actions, because: "\(settings.nodeName) is \(target) now") }
        var kind = currentKind
        if target == .active {
            yieldingUntil = nil
            preemptSuspendedAt = nil
            actions.append(.claim(reason: reason))
            actions.append(.announce(reason: reason))
            holdingVIPs = true
            dualActiveAnnounced = false
            if peer?.lastKind == .takeoverRequest { kind = .claimed }
        } else if holdingVIPs, !keepVIPs {
            actions.append(.release(reason: reason))
            holdingVIPs = false
            if !handedOver {
                yieldingUntil = now + settings.handoverTimeout
                kind = currentKind
            }
        }
        actions.append(.send(outgoing(kind)))
        nextHeartbeatAt = follows ? nextFollowingHeartbeat(after: now) : now + settings.interval
        // The stop command runs when the node leaves, after the release (`leave`), not when its
        // handover begins: a script that stops local services must not cut them while this node
        // still holds the VIPs (operator trial 33: it ran 65-70 ms before the release).
        if target != .stopping { actions.append(.notify(role: target, reason: reason)) }
    }

    private mutating func beginHandover(_ purpose: HandoverPurpose, at now: MonotonicInstant,
                                        into actions: inout [Action]) {
        handover = Handover(purpose: purpose, deadline: now + settings.handoverTimeout)
        actions.append(.send(outgoing(.takeoverRequest)))
        nextHeartbeatAt = now + settings.interval
    }

    /// Ends a stop: release (if held), release notice, notify (if asked), finished.
    /// The release notice of a node that leaves holding the VIPs, unless it handed them over,
    /// carries the role `active`: the peer, if it holds them too (a partition it did not
    /// notice), announces them again.
    private mutating func leave(reason: String, into actions: inout [Action], notify: Bool = false, handedOver: Bool = false) {
        handover = nil
        var notice = outgoing(.release)
        if holdingVIPs {
            actions.append(.release(reason: reason))
            holdingVIPs = false
            if !handedOver { notice.role = .active }
        }
        actions.append(.send(notice))
        if notify { actions.append(.notify(role: .stopping, reason: reason)) }
        actions.append(.finished(reason: reason))
        isFinished = true
    }

    /// Sends the periodic packet if due and appends the one timer for the next deadline.
    ///
    /// `peerHeard`: this batch handles a packet from the peer. A standby following its active
    /// (`follows`) sends its own heartbeat every `standbyInterval`, with the answer to one of the
    /// active's, in the same wake-up, once its last one is at least the standby interval less
    /// half an interval old, and otherwise at the latest ⅛ interval after the standby interval.
    /// So the standby of a settled pair wakes once per interval (on the active's packet) and the
    /// active once per interval (its timer) with a packet to read only every standby interval
    /// (issue 16: idle cost), while the active keeps its own strict timer (the standby's dead
    /// time runs on it). A standby that stops following (the peer starts, stops, yields or
    /// leaves) is back on the configured interval at once: its next heartbeat is due at most one
    /// interval after its last.
    private mutating func finish(at now: MonotonicInstant, _ decided: [Action], peerHeard: Bool = false) -> [Action] {
        var actions = decided
        // Never announce what this batch gives up: no announcement before the last release, and
        // none at all when the VIPs are not held at the end.
        if let lastRelease = actions.lastIndex(where: \.isRelease) {
            actions = actions.enumerated().filter { index, action in !(action.isAnnouncement && index < lastRelease) }.map(\.element)
        }
        if !holdingVIPs { actions.removeAll(where: \.isAnnouncement) }
        guard !isFinished else { return actions }
        if let until = yieldingUntil, now >= until { yieldingUntil = nil }
        let interval = settings.interval.milliseconds * 1_000_000
        let period = (follows ? settings.standbyInterval : settings.interval).milliseconds * 1_000_000
        if !actions.contains(where: \.isSend), !follows, lastSentAt + settings.interval < nextHeartbeatAt {
            nextHeartbeatAt = lastSentAt + settings.interval
        }
        if actions.contains(where: \.isSend) {
            lastSentAt = now
        } else if now >= nextHeartbeatAt
                    || (peerHeard && follows && now.nanoseconds(since: lastSentAt) >= period - interval / 2) {
            actions.append(.send(outgoing(currentKind)))
            if follows {
                nextHeartbeatAt = nextFollowingHeartbeat(after: now)
            } else {
                nextHeartbeatAt = Self.periodicNext(due: nextHeartbeatAt, sentAt: now, interval: settings.interval)
            }
            lastSentAt = now
        }
        // Whatever this batch sent, the next periodic heartbeat is never further from the last
        // one than the period in force now: a reload that shortens the interval (2 s → 100 ms)
        // sends one heartbeat advertising 100 ms, and the peer's dead time shrinks with it at
        // once (`deadTime(of:)`), so the old 2 s tick must not stand (it cost a false takeover).
        let latest = follows ? nextFollowingHeartbeat(after: lastSentAt) : lastSentAt + settings.interval
        if lastSentAt != .zero, nextHeartbeatAt > latest { nextHeartbeatAt = latest }
        actions.append(.scheduleTimer(at: nextDeadline(after: now)))
        return actions
    }

    /// When a following standby that sent at `now` sends next at the latest: a standby interval
    /// and ⅛ interval later (it sends earlier, with one of the active's, once the standby
    /// interval less half an interval has passed).
    private func nextFollowingHeartbeat(after now: MonotonicInstant) -> MonotonicInstant {
        MonotonicInstant(nanoseconds: now.nanoseconds + settings.standbyInterval.milliseconds * 1_000_000
                                      + settings.interval.milliseconds * 1_000_000 / 8)
    }

    /// The earliest instant at which the election might act without a new event.
    private func nextDeadline(after now: MonotonicInstant) -> MonotonicInstant {
        guard let other = otherDeadline(after: now), other < nextHeartbeatAt else { return nextHeartbeatAt }
        return other
    }

    /// After a periodic heartbeat due at `due` went out at `now`: when the next is due (one
    /// interval after the one due, so a late tick does not shift the schedule, or one interval
    /// after `now` when that has passed already).
    static func periodicNext(due: MonotonicInstant, sentAt now: MonotonicInstant, interval: TimeSpan) -> MonotonicInstant {
        let next = due + interval
        return next <= now ? now + interval : next
    }

    /// A settled active's periodic heartbeats, which the heartbeat loop sends on its own until
    /// `until` or until anything else happens (a packet, an event from another thread), then
    /// reports with `steadyHeartbeatsSent` (issue 16: a settled active's timer-only wake-ups, a
    /// hundred a second at 10 ms, went through `NodeState` and the executor each time to decide
    /// again "send the next round": a quarter of its heartbeat thread's CPU).
    public struct SteadyHeartbeats: Sendable, Hashable {
        /// The round each of them repeats (a fresh sequence number and send time each).
        public var outgoing: Outgoing
        /// When the next one is due.
        public var next: MonotonicInstant
        public var interval: TimeSpan
        /// The first instant at which the election may do something else (the peer's dead time
        /// running out, say); nil when nothing is scheduled.
        public var until: MonotonicInstant?

        /// When the loop wakes next for them: the next one's time, or `until` when that comes first.
        public var wakeUp: MonotonicInstant { until.map { $0 < next ? $0 : next } ?? next }

        /// Whether a tick at `now` with nothing read is one of these heartbeats: due, and before `until`.
        public func isDue(at now: MonotonicInstant) -> Bool {
            now >= next && until.map { now < $0 } ?? true
        }

        /// Records one sent at `now` (`Election.periodicNext`: the election's own rule).
        public mutating func sent(at now: MonotonicInstant) {
            next = Election.periodicNext(due: next, sentAt: now, interval: interval)
        }
    }

    /// The periodic heartbeats the loop may send on its own from `now`, when this node is a
    /// settled active: no handover, fault, dual-active contest or yield in course, a heartbeat
    /// already sent, and the next one due before anything else the election has scheduled. nil
    /// otherwise (the timer goes through `timerFired` as always).
    public func steadyHeartbeats(at now: MonotonicInstant) -> SteadyHeartbeats? {
        guard startedAt != nil, !isFinished, role == .active, faultReason == nil, handover == nil, !follows,
              yieldingUntil == nil, dualActiveSince == nil, !dualActiveAnnounced, lastSentAt != .zero,
              nextHeartbeatAt > now else { return nil }
        if let peer, peerIsAlive(at: now), peer.role == .active, peer.lastKind != .takeoverRequest { return nil }
        let other = otherDeadline(after: now)
        if let other, other <= nextHeartbeatAt { return nil }
        return SteadyHeartbeats(outgoing: outgoing(currentKind), next: nextHeartbeatAt, interval: settings.interval, until: other)
    }

    /// The heartbeat loop sent `steadyHeartbeats`' rounds, the last at `lastAt`, and the next is
    /// due at `next` (`SteadyHeartbeats.next`): recorded as if `timerFired` had sent them (those
    /// ticks did nothing else). Returns the timer they would have left set, which may be due
    /// already (the loop stopped at `until`, or left a due heartbeat to the timer); nil when
    /// the election has stopped.
    public mutating func steadyHeartbeatsSent(lastAt: MonotonicInstant, next: MonotonicInstant) -> MonotonicInstant? {
        guard startedAt != nil, !isFinished else { return nil }
        lastSentAt = lastAt
        nextHeartbeatAt = next
        return nextDeadline(after: lastAt)
    }

    /// A settled standby's routine heartbeats from its active, which the heartbeat loop may read
    /// and keep (the newest only) without handing each to the node, until one is not routine,
    /// anything else happens, or `wakeUp` comes; it then hands the node the newest kept one, at
    /// the instant it arrived, before anything else (issue 16: each of the hundred packets a
    /// second a standby hears at 10 ms went through `NodeState`, the executor and the status
    /// publication to decide again "still standby": a fifth of its heartbeat thread's CPU).
    ///
    /// Handing the node only the newest of them is what handing it each would have done: a
    /// routine heartbeat (the same life, a newer sequence, role active, the same priority,
    /// config version and interval, a plain heartbeat) only moves the peer's sequence and last
    /// heard instant and the timer (its dead time), as long as it comes before this standby
    /// would answer with its own heartbeat (`answerAt`) and nothing else is scheduled.
    public struct SteadyFollowing: Sendable, Hashable {
        /// The active's packets that are routine: its life, the newest sequence seen, its priority,
        /// config version and advertised interval.
        public var bootEpoch: UInt64
        public var sequence: UInt64
        public var priority: UInt8
        public var configSerial: UInt64
        public var configDigest: HeartbeatMessage.ConfigDigest
        public var intervalMilliseconds: UInt32
        /// When the newest routine packet arrived (the node's or the loop's).
        public var lastHeard: MonotonicInstant
        /// The active's dead time (`deadTime(of:)`): silent that long after `lastHeard`, it is lost.
        public var deadTime: TimeSpan
        /// From this instant on a packet from the active is answered (`finish`: the standby's
        /// own heartbeat rides with it), so it goes to the node.
        public var answerAt: MonotonicInstant
        /// When this standby's own heartbeat is due without a packet to answer (its timer).
        public var sendAt: MonotonicInstant

        /// When the loop must hand the node what it kept and let the election judge: the
        /// active's dead time running out, or this standby's own heartbeat due. Not `answerAt`:
        /// nothing happens then until a packet comes, which goes to the node.
        public var wakeUp: MonotonicInstant {
            let dead = lastHeard + deadTime
            return dead < sendAt ? dead : sendAt
        }

        /// Whether the active is alive at `now` as the kept packets tell (`Election.peerIsAlive`'s rule).
        public func peerIsAlive(at now: MonotonicInstant) -> Bool { now < lastHeard + deadTime }

        /// Whether `message`, read at `now`, is routine; if so it is kept as the newest.
        public mutating func keeps(_ message: HeartbeatMessage, at now: MonotonicInstant) -> Bool {
            guard message.kind == .heartbeat, message.role == .active, message.bootEpoch == bootEpoch,
                  message.sequence > sequence, message.priority == priority, message.configSerial == configSerial,
                  message.configDigest == configDigest, message.intervalMilliseconds == intervalMilliseconds,
                  now < answerAt, peerIsAlive(at: now), now >= lastHeard else { return false }
            sequence = message.sequence
            lastHeard = now
            return true
        }
    }

    /// The routine heartbeats the loop may keep from `now`, when this node is a settled standby
    /// following a live active: no fault, maintenance, request, yield, hold-off or preemption in
    /// course or due, the active's last packet a plain heartbeat, and nothing scheduled but the
    /// active's dead time and this node's own heartbeat. nil otherwise (every packet goes to
    /// the node as always).
    public func steadyFollowing(at now: MonotonicInstant) -> SteadyFollowing? {
        guard startedAt != nil, !isFinished, role == .standby, follows, faultReason == nil, !maintenance, !holdingVIPs,
              handoverRequestedUntil == nil, holdOffUntil == nil, yieldingUntil == nil, requestRun == nil,
              preemptCandidateSince == nil, listeningSince.map({ now >= $0 + settings.deadTime }) ?? true,
              let peer, peerIsAlive(at: now), peer.lastKind == .heartbeat, peer.lastHeard <= now,
              peer.priority >= (preemptSuspendedAt ?? 0),
              !(settings.preempt && !preemptSuspended && effectivePriority > peer.priority),
              lastSentAt != .zero, nextHeartbeatAt > now,
              nextHeartbeatAt <= nextFollowingHeartbeat(after: lastSentAt) else { return nil }
        let interval = settings.interval.milliseconds * 1_000_000
        let period = settings.standbyInterval.milliseconds * 1_000_000
        let answer = MonotonicInstant(nanoseconds: lastSentAt.nanoseconds + (period > interval / 2 ? period - interval / 2 : 0))
        let answerAt = answer < nextHeartbeatAt ? answer : nextHeartbeatAt
        guard answerAt > now else { return nil }
        return SteadyFollowing(bootEpoch: peer.bootEpoch, sequence: peer.sequence, priority: peer.priority,
                               configSerial: peer.configSerial, configDigest: peer.configDigest,
                               intervalMilliseconds: peer.intervalMilliseconds, lastHeard: peer.lastHeard,
                               deadTime: deadTime(of: peer), answerAt: answerAt, sendAt: nextHeartbeatAt)
    }

    /// The earliest instant after `now` at which the election might act other than by sending
    /// its periodic heartbeat; nil when none is scheduled.
    private func otherDeadline(after now: MonotonicInstant) -> MonotonicInstant? {
        var deadline: MonotonicInstant?
        func consider(_ instant: MonotonicInstant?) {
            if let instant, instant > now, deadline.map({ instant < $0 }) ?? true { deadline = instant }
        }
        if let handover {
            consider(handover.deadline)
            if let claimed = handover.peerClaimedAt { consider(claimed + releaseGrace) }
        }
        consider(handoverRequestedUntil)
        if let listeningSince { consider(listeningSince + settings.deadTime) }
        consider(holdOffUntil)
        if let since = preemptCandidateSince { consider(since + settings.preemptDelay) }
        if role == .starting, let startedAt { consider(startedAt + settings.deadTime) }
        if let peer, !peer.departed { consider(peer.lastHeard + deadTime(of: peer)) }
        return deadline
    }
}
