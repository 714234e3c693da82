import Foundation
import Synchronization
import TandemCore

/// Challenge nonces from a seeded generator, so a run with epoch challenges replays exactly.
final class NonceSource: Sendable {
    private let generator: Mutex<SplitMix64>
    public init(seed: UInt64) { generator = Mutex(SplitMix64(state: seed)) }
    @Sendable func nonce() -> [UInt8] {
        generator.withLock { rng in (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) } }
    }
}

/// A deterministic random generator (SplitMix64): the same seed gives the same run.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func chance(_ p: Double) -> Bool { p > 0 && Double.random(in: 0..<1, using: &self) < p }
    mutating func between(_ low: UInt64, _ high: UInt64) -> UInt64 { low >= high ? low : UInt64.random(in: low...high, using: &self) }
}

/// Two `NodeState`s, each with the real heartbeat codec, HMAC and `HeartbeatVerifier`, run on
/// simulated time over a simulated network (two paths), simulated kernels (the addresses each
/// node holds), simulated clocks (drift; a stalled process) and a chaos schedule: partitions,
/// loss, delay, duplication, crashes and restarts with and without the state directory, wall
/// clock steps, graceful and forced stops, kernel write errors, reloads and operator requests.
///
/// After every step it checks the invariants (`Violation`). One seed is one run: everything
/// random comes from its generator, so a failing seed replays exactly and prints its trace.
public final class PairSimulation {
    struct Profile: CustomStringConvertible {
        var intervalMs: UInt64
        var deadTimeMs: UInt64
        var minDelayMs: UInt64
        var maxDelayMs: UInt64
        /// Mean simulated time between two faults.
        var meanFaultGapMs: UInt64
        var preempt: Bool
        var priorities: (Int, Int)
        /// `standby_table: cold`: the announcement after a takeover waits for the IPVS install.
        var cold = false

        var description: String {
            "interval \(intervalMs)ms, dead time \(deadTimeMs)ms, delay \(minDelayMs)-\(maxDelayMs)ms, a fault every ~\(meanFaultGapMs)ms, preempt \(preempt), priorities \(priorities.0)/\(priorities.1), \(cold ? "cold" : "warm") standby"
        }

        static func random(_ rng: inout SplitMix64) -> Profile {
            let interval = [100, 200, 1000][Int.random(in: 0..<3, using: &rng)] as UInt64
            let dead = interval * rng.between(3, 5)
            let maxDelay = rng.between(1, interval / 4)
            var profile = Profile(intervalMs: interval, deadTimeMs: dead, minDelayMs: 0, maxDelayMs: maxDelay,
                                  meanFaultGapMs: dead * rng.between(3, 12), preempt: rng.chance(0.5),
                                  priorities: rng.chance(0.5) ? (150, 100) : (100, 100))
            profile.cold = rng.chance(0.5)
            return profile
        }
    }

    /// A broken invariant, with the trace that led to it.
    public struct Violation: Error, CustomStringConvertible, Sendable {
        public var seed: UInt64
        public var atMs: UInt64
        public var what: String
        public var trace: [String]
        public var description: String {
            "seed \(seed) at \(atMs)ms: \(what)\n--- last \(trace.count) steps (replay: TANDEM_SIM_SEED=\(seed)) ---\n" + trace.joined(separator: "\n")
        }
    }

    /// One node's process and the world around it (a class: the simulator changes its fields
    /// in place on every event, where a struct in an array would be copied).
    final class Node {
        var name: String
        var priority: Int
        var state: NodeState?
        var verifier: HeartbeatVerifier?
        var epoch: UInt64 = 0
        var sequence: UInt64 = 0
        /// What the simulated kernel has on this node's interfaces: survives a process crash.
        var kernelVIPs: Set<VirtualIP> = []
        /// The VIPs this node's config names (a reload may change them).
        var vips: [VirtualIP]
        var clockOffsetNs: UInt64
        var driftPpm: Int64
        /// The wall clock is global time plus this (steps move it).
        var wallOffsetNs: Int64
        /// The state directory: the boot epoch and the maintenance flag (nil: lost or never written).
        var storedEpoch: UInt64?
        var maintenanceFlag = false
        var stalledUntil: UInt64?
        var stalledSince: UInt64 = 0
        /// Whether the node is active now, and when it last stopped being active (global ns).
        var isActive = false
        var activeUntil: UInt64 = 0
        /// Whether the node's verifier could judge the staleness of the last heartbeat it read
        /// (it had heard the sender's epoch before): a first packet can be a held one.
        var lastPacketJudged = true
        /// Datagrams that arrived while stalled (the socket buffer).
        var socketBuffer: [(path: Int, bytes: [UInt8])] = []
        var timerGeneration: UInt64 = 0
        var timerDue = false
        /// Probability that a kernel address change fails (EBUSY-like), while set.
        var kernelFailure = 0.0
        /// Requests asked and not yet answered: id → (global deadline, command).
        var requests: [NodeRequestID: (deadline: UInt64, command: NodeCommand)] = [:]
        var nextRequest: NodeRequestID = 1
        var stopping = false
        /// The config file (survives crashes) and the version in force.
        var file: ConfigVersion
        var loaded: ConfigVersion
        /// The peer's config as last fetched, until written.
        var fetched: ConfigVersion?
        /// Counts process starts and crashes: answers scheduled for an older incarnation are dropped.
        var incarnation: UInt64 = 0
        /// The drain list in the state directory (lost with it).
        var storedDrains = DrainBook()
        /// Drain offers from the peer this node was given and has not answered: id → (offering node, list, its request).
        var peerOffers: [NodeRequestID: (from: Int, list: DrainList, request: NodeRequestID?)] = [:]
        /// The IPVS worker is busy until then (global ns): its jobs finish in order.
        var ipvsBusyUntil: UInt64 = 0

        var running: Bool { state != nil }

        init(name: String, priority: Int, vips: [VirtualIP], file: ConfigVersion) {
            self.name = name
            self.priority = priority
            self.vips = vips
            self.clockOffsetNs = 0
            self.driftPpm = 0
            self.wallOffsetNs = 0
            self.file = file
            self.loaded = file
        }
    }

    enum Event {
        case deliver(to: Int, path: Int, bytes: [UInt8])
        case timer(Int, generation: UInt64)
        case resume(Int)
        case restart(Int, keepState: Bool)
        case forceStop(Int)
        case chaos
        case heal(Heal)
        /// An executor's answer (config fetch, write, reload) reaching the decision thread.
        case answer(Int, incarnation: UInt64, NodeEvent)
        /// A reload of the config file finishes (SIGHUP's path, off the decision thread).
        case reloaded(Int, incarnation: UInt64)
        /// A drain list offered by the other node reaches node `to` over the peer channel.
        case drainOffer(to: Int, from: Int, fromIncarnation: UInt64, list: DrainList, request: NodeRequestID?)
    }

    enum Heal {
        case link(from: Int, path: Int)
        case loss
        case delay
        case kernel(Int)
    }

    public let seed: UInt64
    let profile: Profile
    var rng: SplitMix64
    var nodes: [Node]
    let settings: [Election.Settings]
    let baseVIP: VirtualIP
    let extraVIP: VirtualIP
    static let authenticator = HMACHeartbeatAuthenticator(
        key: try! HeartbeatKey(fileContents: Data("simulation-key-0123456789abcdef".utf8), path: "sim.key"))

    /// What each node's simulated kernel holds now (replay checks).
    public var kernelVIPs: [Set<VirtualIP>] { nodes.map(\.kernelVIPs) }

    /// Global simulated time, ns.
    var now: UInt64 = 0
    private var queue = EventHeap()
    /// [from][path]: the link from `from` to its peer on `path` is cut.
    var cut = [[false, false], [false, false]]
    /// [from][path]: packets a cut link holds instead of dropping, delivered in one burst, oldest
    /// first, when it heals; nil for a link that drops. As the sender's kernel holds them behind
    /// an unresolved neighbour entry (ARP), at most `heldLimit`, the oldest dropped first.
    var held: [[[[UInt8]]?]] = [[nil, nil], [nil, nil]]
    static let heldLimit = 100
    var lossRate = 0.0
    var extraDelayMs: UInt64 = 0
    var duplicateRate = 0.0
    /// Every config version ever written, with the VIPs it names.
    var configs: [ConfigVersion: [VirtualIP]] = [:]
    private var configCounter: UInt64 = 0
    /// An edit left the two nodes with equal serials and different configs (an operator error
    /// Tandem reports and never resolves by itself) until a higher serial is written.
    var conflictSerial: UInt64?

    // Invariant bookkeeping.
    private var dualSince: UInt64?
    private var divergedSince: UInt64?
    private var divergedVersions: [ConfigVersion] = []
    private var drainsDivergedSince: UInt64?
    private var noHolderSince: UInt64?
    /// The node the neighbours' ARP/ND entry for the base VIP points at: the last one that
    /// announced it (nil before any announcement).
    private var pointedAt: Int?
    private var misdirectedSince: UInt64?
    /// An outage the operator asked for (`failover --force` with no peer to take over) ends here.
    private var excusedOutageUntil: UInt64 = 0
    private var trace: [String] = []
    public private(set) var violation: Violation?
    public private(set) var statistics = Statistics()

    /// What a run did (summed over seeds by `SimulationRunner`).
    public struct Statistics: Sendable {
        public init() {}
        public var events = 0
        public var faults = 0
        public var requests = 0
        public var roleChanges = 0
        public var crashes = 0
        public var longestDualMs: UInt64 = 0
        public var longestOutageMs: UInt64 = 0
        public var configsApplied = 0
        public var longestDivergenceMs: UInt64 = 0
        public var longestDrainDivergenceMs: UInt64 = 0
        public var announcements = 0
        public var longestMisdirectedMs: UInt64 = 0
    }

    public init(seed: UInt64) {
        self.seed = seed
        var generator = SplitMix64(state: seed)
        let profile = Profile.random(&generator)
        self.profile = profile
        baseVIP = VirtualIP(prefix: IPPrefix(address: IPAddress("192.0.2.10")!, length: 24), interface: "eth0")
        extraVIP = VirtualIP(prefix: IPPrefix(address: IPAddress("2001:db8::10")!, length: 64), interface: "eth0")
        let names = ["a", "b"]
        let priorities = [profile.priorities.0, profile.priorities.1]
        settings = (0..<2).map { i in
            Election.Settings(nodeName: names[i], peerName: names[1 - i], priority: priorities[i], preempt: profile.preempt,
                              interval: .milliseconds(profile.intervalMs), deadTime: .milliseconds(profile.deadTimeMs))
        }
        let first = ConfigVersion(serial: 1, digest: HeartbeatMessage.ConfigDigest([UInt8](repeating: 1, count: 32))!)
        nodes = (0..<2).map { i in
            Node(name: names[i], priority: priorities[i], vips: [], file: first)
        }
        configs[first] = [baseVIP]
        configCounter = 1
        rng = generator
        for i in 0..<2 {
            nodes[i].vips = [baseVIP]
            nodes[i].clockOffsetNs = rng.between(1, 1_000_000_000_000)
            nodes[i].driftPpm = Int64(rng.between(0, 400)) - 200
            nodes[i].wallOffsetNs = Int64(rng.between(1_700_000_000, 1_800_000_000)) * 1_000_000_000
        }
    }

    // MARK: - Time

    func localNow(_ i: Int) -> MonotonicInstant { local(i, at: now) }

    func local(_ i: Int, at t: UInt64) -> MonotonicInstant {
        let drift = Int64(t / 1_000_000) * nodes[i].driftPpm
        return MonotonicInstant(nanoseconds: UInt64(Int64(nodes[i].clockOffsetNs + t) + drift))
    }

    /// The first global instant at which node `i`'s clock reads `instant` or later.
    func global(_ i: Int, at instant: MonotonicInstant) -> UInt64 {
        let target = instant.nanoseconds
        let base = target > nodes[i].clockOffsetNs ? target - nodes[i].clockOffsetNs : 0
        var t = UInt64(max(0, Double(base) / (1 + Double(nodes[i].driftPpm) / 1e6)))
        while local(i, at: t).nanoseconds < target { t += 1_000 }
        while t >= 1_000, local(i, at: t - 1_000).nanoseconds >= target { t -= 1_000 }
        return max(t, now)
    }

    fileprivate func schedule(_ at: UInt64, _ event: Event) { queue.push(at, event) }

    /// An executor's answer to node `i`, `ms` from now.
    fileprivate func later(_ i: Int, _ ms: UInt64, _ event: NodeEvent) {
        schedule(now + ms * 1_000_000, .answer(i, incarnation: nodes[i].incarnation, event))
    }

    private func note(_ text: String) {
        trace.append(String(format: "%10.3fs ", Double(now) / 1e9) + text)
        if trace.count > 400 { trace.removeFirst(100) }
    }

    // MARK: - Running

    /// Runs for `durationMs` of simulated time, or until an invariant breaks.
    public func run(durationMs: UInt64) {
        note("profile: \(profile); drift a \(nodes[0].driftPpm)ppm b \(nodes[1].driftPpm)ppm")
        for i in 0..<2 { start(i, keepState: false) }
        schedule(nextFaultGap(), .chaos)
        let end = durationMs * 1_000_000
        while violation == nil, let (at, event) = queue.pop(), at <= end {
            now = at
            statistics.events += 1
            handle(event)
            check()
        }
    }

    private func nextFaultGap() -> UInt64 {
        now + rng.between(profile.meanFaultGapMs / 4, profile.meanFaultGapMs * 2) * 1_000_000
    }

    private func handle(_ event: Event) {
        switch event {
        case .deliver(let to, let path, let bytes):
            guard nodes[to].running else { return }
            if nodes[to].stalledUntil != nil {
                if nodes[to].socketBuffer.count < 256 { nodes[to].socketBuffer.append((path, bytes)) }
                return
            }
            receive(to, bytes)
        case .timer(let i, let generation):
            guard nodes[i].running, generation == nodes[i].timerGeneration else { return }
            if nodes[i].stalledUntil != nil {
                nodes[i].timerDue = true
                return
            }
            fire(i)
        case .resume(let i):
            guard nodes[i].running, nodes[i].stalledUntil != nil else { return }
            nodes[i].stalledUntil = nil
            let stalled = now - nodes[i].stalledSince
            for id in nodes[i].requests.keys { nodes[i].requests[id]!.deadline += stalled }
            note("\(nodes[i].name) resumes after \(stalled / 1_000_000)ms; \(nodes[i].socketBuffer.count) datagrams queued")
            // As the daemon: every datagram already queued, then the timer.
            let buffered = nodes[i].socketBuffer
            nodes[i].socketBuffer = []
            // Read late by the stall (the daemon's `readLate`: it woke that long after its
            // deadline), all verified first and then given to the node together, as the
            // daemon's loop does (a request withdrawn later in the queue is a heartbeat).
            var batch: [(message: HeartbeatMessage, waited: UInt64?, judged: Bool)] = []
            for (_, bytes) in buffered where nodes[i].running {
                if let (message, waited) = receive(i, bytes, readLate: stalled, deliver: false) {
                    batch.append((message, waited, nodes[i].lastPacketJudged))
                }
            }
            let withdrawn = HeartbeatMessage.withdrawnRequests(batch.map(\.message))
            for (index, item) in batch.enumerated() where nodes[i].running {
                if withdrawn[index] {
                    note("  \(nodes[i].name) reads \(item.message.kind) \(item.message.sequence) withdrawn later in its queue")
                }
                // Invariant 9 judges the packet being handed over, not the last one read.
                nodes[i].lastPacketJudged = item.judged
                step(i, .heartbeat(item.message, waitedNanoseconds: item.waited, withdrawn: withdrawn[index]))
            }
            if nodes[i].running, nodes[i].timerDue { fire(i) }
        case .restart(let i, let keepState):
            guard !nodes[i].running else { return }
            start(i, keepState: keepState)
        case .forceStop(let i):
            guard nodes[i].running, nodes[i].stalledUntil == nil else { return }
            note("\(nodes[i].name): second SIGTERM")
            step(i, .forceStop(reason: "second stop signal"))
        case .chaos:
            chaos()
            schedule(nextFaultGap(), .chaos)
        case .answer(let i, let incarnation, let event):
            guard nodes[i].running, nodes[i].incarnation == incarnation else { return }
            if let until = nodes[i].stalledUntil {
                schedule(until + 1, .answer(i, incarnation: incarnation, event))
                return
            }
            step(i, event)
        case .drainOffer(let to, let from, let fromIncarnation, let list, let request):
            guard nodes[to].running else {
                schedule(now + 1_000_000, .answer(from, incarnation: fromIncarnation,
                                                 .drainsOffered(list, request: request, .failed("simulated: connection reset"))))
                return
            }
            if let until = nodes[to].stalledUntil {
                schedule(until + 1, event)
                return
            }
            let id = nodes[to].nextRequest
            nodes[to].nextRequest += 1
            nodes[to].peerOffers[id] = (from, list, request)
            step(to, .peerDrains(list, answer: id))
        case .reloaded(let i, let incarnation):
            guard nodes[i].running, nodes[i].incarnation == incarnation else { return }
            if let until = nodes[i].stalledUntil {
                schedule(until + 1, .reloaded(i, incarnation: incarnation))
                return
            }
            reload(i)
        case .heal(let heal):
            switch heal {
            case .link(let from, let path):
                cut[from][path] = false
                note("link \(nodes[from].name)->\(nodes[1 - from].name) path \(path) healed")
                if let burst = held[from][path] {
                    held[from][path] = nil
                    if !burst.isEmpty { note("  \(burst.count) held packets delivered in one burst") }
                    for (k, bytes) in burst.enumerated() {
                        schedule(now + profile.minDelayMs * 1_000_000 + UInt64(k) * 1000, .deliver(to: 1 - from, path: path, bytes: bytes))
                    }
                }
            case .loss:
                lossRate = 0
                duplicateRate = 0
                note("loss and duplication end")
            case .delay:
                extraDelayMs = 0
                note("delay spike ends")
            case .kernel(let i):
                nodes[i].kernelFailure = 0
                note("\(nodes[i].name): kernel writes succeed again")
            }
        }
    }

    private func fire(_ i: Int) {
        nodes[i].timerDue = false
        step(i, .timer)
    }

    /// Verifies a datagram node `i` reads and gives an accepted one to the node, or (`deliver`
    /// false) returns it for the caller to give.
    @discardableResult
    private func receive(_ i: Int, _ bytes: [UInt8], readLate: UInt64 = 0, deliver: Bool = true) -> (HeartbeatMessage, UInt64?)? {
        guard var verifier = nodes[i].verifier else { return nil }
        if let decoded = try? HeartbeatCodec.decode(bytes) {
            nodes[i].lastPacketJudged = verifier.judgesStaleness(ofEpoch: decoded.message.bootEpoch)
        }
        let verdict = verifier.verify(bytes, at: localNow(i), localSequence: nodes[i].sequence, readLateNanoseconds: readLate)
        let replies = verifier.takeOutbox()
        nodes[i].verifier = verifier
        for reply in replies { transmit(from: i, path: reply.pathIndex, reply.bytes) }
        if case .dropped(let reason) = verdict, case .stale = reason { note("  \(nodes[i].name) dropped a heartbeat: \(reason)") }
        guard case .accepted(let message, let waited) = verdict else { return nil }
        if deliver { step(i, .heartbeat(message, waitedNanoseconds: waited)) }
        return (message, waited)
    }

    /// Runs one event through node `i`'s state with the simulated world as executor.
    func step(_ i: Int, _ event: NodeEvent) {
        // Moved out, not copied: the executor sees the node as not running meanwhile.
        guard var state = nodes[i].state.take() else { return }
        var executor = Executor(simulation: self, node: i)
        state.run(event, at: localNow(i), executor: &executor)
        if executor.finished {
            note("\(nodes[i].name): process exits (\(state.finishReason ?? "?"))")
            if !nodes[i].requests.isEmpty {
                fail("\(nodes[i].name) exited with unanswered requests \(nodes[i].requests.keys.sorted())")
            }
            nodes[i].verifier = nil
            nodes[i].stopping = false
            nodes[i].timerGeneration += 1
            schedule(now + rng.between(1, 3 * profile.deadTimeMs) * 1_000_000, .restart(i, keepState: true))
            return
        }
        nodes[i].state = state
        armTimer(i, state.timerDeadline)
    }

    private func armTimer(_ i: Int, _ deadline: MonotonicInstant?) {
        nodes[i].timerGeneration += 1
        guard let deadline else { return }
        schedule(global(i, at: deadline), .timer(i, generation: nodes[i].timerGeneration))
    }

    private func start(_ i: Int, keepState: Bool) {
        if !keepState {
            nodes[i].storedEpoch = nil
            nodes[i].maintenanceFlag = false
            nodes[i].storedDrains = DrainBook()
        }
        let wall = UInt64(max(0, Int64(now) + nodes[i].wallOffsetNs))
        var epoch = wall
        if let last = nodes[i].storedEpoch, last >= epoch { epoch = last + 1 }
        nodes[i].storedEpoch = epoch
        nodes[i].epoch = epoch
        nodes[i].sequence = 0
        nodes[i].requests = [:]
        nodes[i].stalledUntil = nil
        nodes[i].socketBuffer = []
        nodes[i].timerDue = false
        nodes[i].incarnation += 1
        nodes[i].fetched = nil
        nodes[i].loaded = nodes[i].file
        nodes[i].vips = configs[nodes[i].file]!
        nodes[i].verifier = HeartbeatVerifier(peerName: nodes[1 - i].name, pathCount: 2, authenticator: Self.authenticator,
                                              localName: nodes[i].name, localEpoch: epoch,
                                              challengeRetryMilliseconds: max(profile.intervalMs, 100),
                                              staleAfterMilliseconds: staleBoundMs,
                                              nonceSource: NonceSource(seed: rng.next()).nonce)
        let nodeSettings = NodeState.Settings(election: settings[i], vips: nodes[i].vips, announceAfterIPVSInstall: profile.cold)
        nodes[i].peerOffers = [:]
        nodes[i].ipvsBusyUntil = 0
        nodes[i].state = NodeState(settings: nodeSettings, config: nodes[i].file, replicates: true, drains: nodes[i].storedDrains)
        note("\(nodes[i].name) starts (epoch \(epoch), state directory \(keepState ? "kept" : "lost"), VIPs in kernel \(nodes[i].kernelVIPs.count))")
        step(i, .start)
        if nodes[i].maintenanceFlag { ask(i, .maintenance(true, force: true), restoring: true) }
    }

    // MARK: - Network

    func transmit(from i: Int, path: Int, _ bytes: [UInt8]) {
        if cut[i][path], held[i][path] != nil {
            if held[i][path]!.count >= Self.heldLimit { held[i][path]!.removeFirst() }
            held[i][path]!.append(bytes)
            return
        }
        guard !cut[i][path], !rng.chance(lossRate) else { return }
        let copies = rng.chance(duplicateRate) ? 2 : 1
        for _ in 0..<copies {
            let delay = rng.between(profile.minDelayMs * 1000, (profile.maxDelayMs + extraDelayMs) * 1000) * 1000
            schedule(now + delay, .deliver(to: 1 - i, path: path, bytes: bytes))
        }
    }

    // MARK: - Operator requests

    func ask(_ i: Int, _ command: NodeCommand, restoring: Bool = false) {
        guard nodes[i].running, nodes[i].stalledUntil == nil else { return }
        let id = nodes[i].nextRequest
        nodes[i].nextRequest += 1
        let wait = nodes[i].state!.settings.requestWaitLimit.milliseconds
        nodes[i].requests[id] = (now + (wait + 1000) * 1_000_000, command)
        if case .maintenance(let on, _) = command { nodes[i].maintenanceFlag = on }
        if case .failover(force: true) = command {
            let holdOff = settings[i].handoverTimeout.milliseconds + profile.deadTimeMs
            excusedOutageUntil = max(excusedOutageUntil, now + holdOff * 1_000_000)
        }
        statistics.requests += 1
        note("\(nodes[i].name): tandemctl \(command) (request \(id))\(restoring ? " (restored from the state directory)" : "")")
        step(i, .command(id, command))
    }

    func replied(_ i: Int, _ id: NodeRequestID, _ reply: NodeReply) {
        guard let request = nodes[i].requests.removeValue(forKey: id) else {
            fail("\(nodes[i].name) answered request \(id) twice, or one never asked: \(reply)")
            return
        }
        if case .refused = reply, case .maintenance(let on, _) = request.command { nodes[i].maintenanceFlag = !on }
        note("\(nodes[i].name): request \(id) answered: \(reply)")
    }

    // MARK: - Chaos

    /// Invariant 9: an active yields in a dual-active contest only to a peer that is active, or
    /// was within the stale bound (`HeartbeatVerifier.staleAfterMilliseconds`), the longest
    /// delivery and an interval: never to a packet a cut link held back from long before. A
    /// node that had not heard the sender's epoch before cannot tell its first packet's age:
    /// such a yield is noted, not failed (docs/architecture.md, "Stale heartbeats after a heal").
    func checkYield(_ i: Int, from: Role, to: Role, reason: String) {
        guard from == .active, to == .standby, reason.contains("is also active and wins") else { return }
        let peer = nodes[1 - i]
        let bound = (staleBoundMs + profile.maxDelayMs + profile.intervalMs) * 1_000_000
        guard !peer.isActive, now - peer.activeUntil > bound else { return }
        let what = "\(nodes[i].name) yielded to \(peer.name), which has not been active for \((now - peer.activeUntil) / 1_000_000)ms "
            + "(bound \(bound / 1_000_000)ms)"
        if nodes[i].lastPacketJudged {
            fail(what + ": it acted on a stale packet (\(reason))")
        } else {
            note("  " + what + ", on the first packet of an epoch it had not heard: its age cannot be told")
        }
    }

    /// The nodes' stale bound, ms (as the daemon derives it from the dead time).
    private var staleBoundMs: UInt64 { HeartbeatVerifier.staleAfterMilliseconds(deadTime: .milliseconds(profile.deadTimeMs)) }

    /// Half the cuts hold the packets sent meanwhile (an empty queue) rather than drop them.
    private func holdsPackets() -> [[UInt8]]? { rng.chance(0.5) ? [] : nil }

    private func chaos() {
        statistics.faults += 1
        let span = { (low: UInt64, high: UInt64) -> UInt64 in self.rng.between(low, high) * 1_000_000 }
        let dead = profile.deadTimeMs
        let i = Int(rng.between(0, 1))
        switch rng.between(0, 15) {
        case 0:
            let hold = holdsPackets()
            for from in 0..<2 { for path in 0..<2 { cut[from][path] = true; held[from][path] = hold } }
            note("partition: both paths, both ways" + (hold != nil ? " (packets held for the heal)" : ""))
            let heal = now + span(dead / 2, dead * 4)
            for from in 0..<2 { for path in 0..<2 { schedule(heal, .heal(.link(from: from, path: path))) } }
        case 1:
            let hold = holdsPackets()
            for path in 0..<2 { cut[i][path] = true; held[i][path] = hold }
            note("one-way partition: \(nodes[i].name) -> \(nodes[1 - i].name) cut" + (hold != nil ? " (packets held for the heal)" : ""))
            let heal = now + span(dead / 2, dead * 4)
            for path in 0..<2 { schedule(heal, .heal(.link(from: i, path: path))) }
        case 2:
            let path = Int(rng.between(0, 1))
            let hold = holdsPackets()
            cut[0][path] = true
            cut[1][path] = true
            held[0][path] = hold
            held[1][path] = hold
            note("path \(path) cut both ways" + (hold != nil ? " (packets held for the heal)" : ""))
            let heal = now + span(dead, dead * 6)
            schedule(heal, .heal(.link(from: 0, path: path)))
            schedule(heal, .heal(.link(from: 1, path: path)))
        case 3:
            lossRate = Double(rng.between(10, 60)) / 100
            duplicateRate = Double(rng.between(0, 20)) / 100
            note("loss \(Int(lossRate * 100))%, duplication \(Int(duplicateRate * 100))%")
            schedule(now + span(dead, dead * 5), .heal(.loss))
        case 4:
            extraDelayMs = rng.between(1, profile.intervalMs)
            note("delay spike: up to \(profile.maxDelayMs + extraDelayMs)ms (reordering)")
            schedule(now + span(dead, dead * 4), .heal(.delay))
        case 5:
            guard nodes[i].running else { return }
            let keep = rng.chance(0.7)
            nodes[i].state = nil
            nodes[i].verifier = nil
            nodes[i].requests = [:]
            nodes[i].timerGeneration += 1
            nodes[i].incarnation += 1
            statistics.crashes += 1
            if nodes[i].isActive { nodes[i].activeUntil = now }
            nodes[i].isActive = false
            note("\(nodes[i].name) crashes (kill -9); VIPs left in its kernel: \(nodes[i].kernelVIPs.count)")
            schedule(now + span(1, dead * 3), .restart(i, keepState: keep))
        case 6:
            guard nodes[i].running, nodes[i].stalledUntil == nil, !nodes[i].stopping else { return }
            nodes[i].stopping = true
            note("\(nodes[i].name): SIGTERM")
            step(i, .stop)
            if rng.chance(0.3) { schedule(now + span(1, dead), .forceStop(i)) }
        case 7:
            guard nodes[i].running, nodes[i].stalledUntil == nil else { return }
            let length = span(profile.intervalMs, dead * 3)
            nodes[i].stalledUntil = now + length
            nodes[i].stalledSince = now
            note("\(nodes[i].name) stalled (SIGSTOP) for \(length / 1_000_000)ms")
            schedule(now + length, .resume(i))
        case 8:
            let step = (Int64(rng.between(0, 7200)) - 3600) * 1_000_000_000
            nodes[i].wallOffsetNs += step
            note("\(nodes[i].name): wall clock stepped \(step / 1_000_000_000)s")
        case 9:
            nodes[i].kernelFailure = Double(rng.between(20, 100)) / 100
            note("\(nodes[i].name): kernel address changes fail \(Int(nodes[i].kernelFailure * 100))% of the time")
            schedule(now + span(dead / 2, dead * 3), .heal(.kernel(i)))
        case 10, 11:
            ask(i, .failover(force: rng.chance(0.2)))
        case 12:
            if rng.chance(0.5) {
                ask(i, .maintenance(!(nodes[i].state?.election.maintenance ?? false), force: rng.chance(0.2)))
            } else {
                drainCommand(i)
            }
        case 13:
            edit(i)
        default:
            // A stranger changes the node's addresses: removes a VIP this node holds.
            guard nodes[i].running, nodes[i].stalledUntil == nil, let vip = nodes[i].kernelVIPs.first else { return }
            nodes[i].kernelVIPs.remove(vip)
            note("\(nodes[i].name): someone removes \(vip.prefix) (ip addr del)")
            step(i, .routes([.vipRemoved(vip, origin: .foreign)]))
        }
    }

    // MARK: - Configs

    /// A new config version naming `vips` (a fresh digest).
    private func newVersion(serial: UInt64, vips: [VirtualIP]) -> ConfigVersion {
        configCounter += 1
        var bytes = [UInt8](repeating: 0, count: 32)
        withUnsafeBytes(of: configCounter.bigEndian) { for (k, b) in $0.enumerated() { bytes[k] = b } }
        let version = ConfigVersion(serial: serial, digest: HeartbeatMessage.ConfigDigest(bytes)!)
        configs[version] = vips
        return version
    }

    /// An operator edits node `i`'s config file and reloads: mostly a higher serial, sometimes
    /// the same serial (a conflict when the peer runs it), sometimes a file that does not validate.
    private func edit(_ i: Int) {
        guard live(i) else { return }
        let kind = rng.between(0, 9)
        if kind == 0 {
            note("\(nodes[i].name): an invalid edit is reloaded (and reverted)")
            step(i, .reloadFailed("simulated: line 3: unknown key 'vipz'"))
            return
        }
        let vips = nodes[i].vips.count == 1 ? [baseVIP, extraVIP] : [baseVIP]
        let serial = kind == 1 ? nodes[i].loaded.serial : nodes[i].loaded.serial + 1
        nodes[i].file = newVersion(serial: serial, vips: vips)
        note("\(nodes[i].name): config edited to \(nodes[i].file) with VIPs \(NodeState.list(vips)); reload")
        reload(i)
    }

    /// SIGHUP's path on node `i`: the file is valid; it is put in force.
    private func reload(_ i: Int) {
        let version = nodes[i].file
        guard version != nodes[i].loaded else {
            step(i, .configLoaded(version))
            return
        }
        nodes[i].vips = configs[version]!
        nodes[i].loaded = version
        step(i, .reload(NodeState.Settings(election: settings[i], vips: nodes[i].vips, announceAfterIPVSInstall: profile.cold)))
        step(i, .configLoaded(version))
    }

    /// Node `i` fetches its peer's config over TCP: it gets the config the peer has in force when
    /// both directions carry traffic and the peer runs (a stalled peer times out).
    fileprivate func fetch(_ i: Int, _ version: ConfigVersion) {
        let peer = 1 - i
        let reachable = live(peer) && (0..<2).contains { !cut[i][$0] } && (0..<2).contains { !cut[peer][$0] }
        guard reachable else {
            later(i, 2000, .peerConfigFetched(.unreachable("simulated: connect timed out"), sentAs: version))
            return
        }
        let served = nodes[peer].loaded
        nodes[i].fetched = served
        later(i, rng.between(1, 2 * (profile.maxDelayMs + extraDelayMs) + 5),
              .peerConfigFetched(.config(served, bytes: 1000, nodes: ["a", "b"], peerOfThisNode: nodes[peer].name), sentAs: version))
    }

    // MARK: - Drains

    /// The real servers an operator drains and undrains.
    static let realServers = [RealServerID(service: "web", address: IPAddress("10.20.0.11")!, port: 80),
                              RealServerID(service: "web", address: IPAddress("10.20.0.12")!, port: 80)]

    /// Node `i` sends its drain list to the peer over the peer channel (TCP: both directions
    /// must carry traffic); an unreachable peer times out.
    fileprivate func offer(from i: Int, _ list: DrainList, request: NodeRequestID?) {
        let peer = 1 - i
        let reachable = live(peer) && (0..<2).contains { !cut[i][$0] } && (0..<2).contains { !cut[peer][$0] }
        guard reachable else {
            later(i, 2000, .drainsOffered(list, request: request, .failed("simulated: connect timed out")))
            return
        }
        schedule(now + rng.between(1, profile.maxDelayMs + extraDelayMs + 2) * 1_000_000,
                 .drainOffer(to: peer, from: i, fromIncarnation: nodes[i].incarnation, list: list, request: request))
    }

    /// `tandemctl drain` or `undrain` on node `i`, stamped with its wall clock.
    private func drainCommand(_ i: Int) {
        let server = Self.realServers[Int(rng.between(0, 1))]
        let on = rng.chance(0.6)
        let wall = UInt64(max(0, Int64(now) + nodes[i].wallOffsetNs))
        ask(i, .drain([server], on: on, wallClock: wall))
    }

    // MARK: - Invariants

    func fail(_ what: String) {
        guard violation == nil else { return }
        violation = Violation(seed: seed, atMs: now / 1_000_000, what: what, trace: trace)
    }

    /// Whether node `i` runs and decides (not crashed, not stalled).
    fileprivate func live(_ i: Int) -> Bool { nodes[i].running && nodes[i].stalledUntil == nil }

    private var connected: Bool {
        (0..<2).allSatisfy { from in (0..<2).contains { !cut[from][$0] } } && lossRate < 0.5
    }

    private var dualBound: UInt64 { (2 * profile.deadTimeMs + 4 * profile.intervalMs + 2 * (profile.maxDelayMs + extraDelayMs)) * 1_000_000 }
    /// The replication back-off at its longest (30 s), a fetch's timeout, and a few heartbeats.
    private var convergenceBound: UInt64 { (30_000 + 2_000 + 2 * profile.deadTimeMs + 4 * profile.intervalMs) * 1_000_000 }
    /// The drain resync's back-off at its longest (60 s), a connect timeout and a few heartbeats.
    private var drainBound: UInt64 { (60_000 + 2_000 + 2 * profile.deadTimeMs + 4 * profile.intervalMs) * 1_000_000 }
    /// A holder announces with its claim (a cold standby after its IPVS install, up to 200 ms)
    /// or when it wins a contest it learns of within a dual-active episode.
    private var misdirectedBound: UInt64 { dualBound + outageBound + 250_000_000 }
    private var outageBound: UInt64 { (3 * profile.deadTimeMs + 4 * profile.intervalMs + 2 * profile.maxDelayMs) * 1_000_000 }

    private func check() {
        // 1. Never two holders of a VIP for longer than `dualBound` once each hears the other and
        // its kernel takes address changes (a release the kernel refuses is retried: invariant 2
        // excuses a failing kernel the same way). A node that refuses the peer's epoch until the
        // peer answers a challenge does not hear it: under random loss that one-path exchange
        // has no bound (seed 2871 of session 31: 47 % loss, six challenges lost in 1.2 s); with
        // no loss it takes a round trip, and the bound holds.
        let challenging = lossRate > 0 && (0..<2).contains { i in
            nodes[i].verifier.map { $0.authenticationStatus(at: localNow(i)).reauthenticating != nil } ?? false
        }
        let both = live(0) && live(1) && connected && !challenging && nodes[0].kernelFailure == 0 && nodes[1].kernelFailure == 0
        let shared = nodes[0].kernelVIPs.intersection(nodes[1].kernelVIPs)
        lasting(both && !shared.isEmpty, since: &dualSince, longest: &statistics.longestDualMs, bound: dualBound) {
            "both nodes have held \(NodeState.list(Array(shared))) for \($0)ms while hearing each other"
        }
        // 2. A holder exists within `outageBound` whenever a node can serve.
        let canServe = (0..<2).contains { i in
            live(i) && nodes[i].kernelFailure == 0 && !(nodes[i].state?.election.maintenance ?? true) && !nodes[i].stopping
        }
        let held = (0..<2).contains { nodes[$0].running && nodes[$0].kernelVIPs.contains(baseVIP) }
        lasting(canServe && !held && now >= excusedOutageUntil, since: &noHolderSince, longest: &statistics.longestOutageMs,
                bound: outageBound) {
            "no node has held \(baseVIP.prefix) for \($0)ms although a node can serve"
        }
        // 7. The neighbours follow the holder: once one node alone holds the VIP, the neighbours'
        // entry points at it within `misdirectedBound`. The node that gave the VIP up after
        // holding it (a partition healed, a dual-active contest lost, a stop) has announced it
        // last, so the one that keeps it must announce again; otherwise the neighbours send to
        // a node that no longer answers until their entries expire.
        let holders = (0..<2).filter { nodes[$0].running && nodes[$0].kernelVIPs.contains(baseVIP) }
        let misdirected = holders.count == 1 && live(holders[0]) && pointedAt != nil && pointedAt != holders[0]
        lasting(misdirected, since: &misdirectedSince, longest: &statistics.longestMisdirectedMs, bound: misdirectedBound) {
            "\(self.nodes[holders[0]].name) alone has held \(self.baseVIP.prefix) for \($0)ms but the neighbours still point at \(self.nodes[self.pointedAt!].name), which announced it last"
        }
        // 4. A config is never half-applied: the VIPs a node acts on are its config's.
        for i in 0..<2 {
            guard let state = nodes[i].state else { continue }
            // `vips` is what the node's config in force names (set with `loaded`).
            if state.configVersion != nodes[i].loaded || state.settings.vips != nodes[i].vips {
                fail("\(nodes[i].name) acts on \(state.configVersion) with VIPs \(NodeState.list(state.settings.vips)) but runs \(nodes[i].loaded)")
            }
        }
        // 5. Both nodes converge to the higher serial (not while two configs share one serial,
        // which the operator resolves) once they reach each other; a new pair of versions restarts the wait.
        let versions = [nodes[0].loaded, nodes[1].loaded]
        if versions != divergedVersions { divergedSince = nil }
        divergedVersions = versions
        lasting(both && versions[0] != versions[1] && versions[0].serial != versions[1].serial, since: &divergedSince,
                longest: &statistics.longestDivergenceMs, bound: convergenceBound) {
            "the nodes run \(versions[0]) and \(versions[1]) for \($0)ms while reaching each other"
        }
        // 6. The two drain lists become equal once the nodes reach each other (the newer wins).
        let a = nodes[0].state?.drains, b = nodes[1].state?.drains
        let drainsDiffer = a != nil && b != nil && (a!.generation != b!.generation || a!.drained != b!.drained)
        lasting(both && drainsDiffer, since: &drainsDivergedSince, longest: &statistics.longestDrainDivergenceMs, bound: drainBound) {
            "the drain lists differ for \($0)ms while the nodes reach each other: \(self.nodes[0].name) \(a!.list), \(self.nodes[1].name) \(b!.list)"
        }
        // 3. Every request is answered in time.
        for i in 0..<2 where nodes[i].stalledUntil == nil {
            for (id, request) in nodes[i].requests where request.deadline < now {
                fail("\(nodes[i].name) has not answered request \(id) (\(request.command)) in time")
            }
        }
    }

    /// Tracks how long `holds` has been true (from `since`), keeps the longest in `longest` (ms),
    /// and fails with `what(ms)` once it lasts longer than `bound` (ns).
    private func lasting(_ holds: Bool, since: inout UInt64?, longest: inout UInt64, bound: UInt64, _ what: (UInt64) -> String) {
        guard holds else {
            since = nil
            return
        }
        let start = since ?? now
        since = start
        let ms = (now - start) / 1_000_000
        longest = max(longest, ms)
        if now - start > bound { fail("\(what(ms)) (bound \(bound / 1_000_000)ms)") }
    }

    // MARK: - The simulated world as executor

    struct Executor: NodeExecutor {
        unowned let simulation: PairSimulation
        let node: Int
        var finished = false

        mutating func execute(_ effect: NodeEffect, at now: MonotonicInstant) -> NodeAnswer? {
            let s = simulation
            let i = node
            switch effect {
            case .judgeHealth(let query):
                let entries = query.vips.map { LocalHealth.VIPEntry(vip: $0, state: s.nodes[i].kernelVIPs.contains($0) ? .held : .absent) }
                return .judged(LocalHealth.Report(paths: [.usable(interface: "eth1"), .usable(interface: "eth2")], vips: entries))
            case .claim(let vips):
                var results: [VirtualIP: VIPClaimOutcome] = [:]
                for vip in vips {
                    if s.rng.chance(s.nodes[i].kernelFailure) {
                        results[vip] = .failed("simulated: Device or resource busy")
                    } else if s.nodes[i].kernelVIPs.insert(vip).inserted {
                        results[vip] = .added
                    } else {
                        results[vip] = .alreadyPresent(flags: 0)
                    }
                }
                return .claimed(results)
            case .release(let vips):
                var results: [VirtualIP: VIPReleaseOutcome] = [:]
                for vip in vips {
                    if s.rng.chance(s.nodes[i].kernelFailure) {
                        results[vip] = .failed("simulated: Device or resource busy")
                    } else {
                        results[vip] = s.nodes[i].kernelVIPs.remove(vip) != nil ? .removed : .alreadyAbsent
                    }
                }
                return .released(results)
            case .send(let outgoing):
                s.nodes[i].sequence += 1
                for path in 0..<2 {
                    let message = HeartbeatMessage(
                        kind: outgoing.kind, sender: s.nodes[i].name, bootEpoch: s.nodes[i].epoch,
                        sequence: s.nodes[i].sequence, role: outgoing.role, priority: outgoing.priority,
                        configSerial: s.nodes[i].loaded.serial, configDigest: s.nodes[i].loaded.digest, pathIndex: UInt8(path),
                        intervalMilliseconds: outgoing.intervalMilliseconds(configured: UInt32(s.profile.intervalMs)),
                        sentAtNanoseconds: s.localNow(i).nanoseconds)
                    s.transmit(from: i, path: path, try! HeartbeatCodec.encode(message, authenticator: PairSimulation.authenticator))
                }
                return .sent([:])
            case .roleChanged(let from, let to, let reason):
                s.statistics.roleChanges += 1
                s.note("\(s.nodes[i].name): \(from) -> \(to): \(reason)")
                s.checkYield(i, from: from, to: to, reason: reason)
                if from == .active { s.nodes[i].activeUntil = s.now }
                s.nodes[i].isActive = to == .active
            case .reply(let id, let reply):
                s.replied(i, id, reply)
            case .finished:
                finished = true
            case .fetchPeerConfig(let version):
                s.fetch(i, version)
            case .writeConfig(let version):
                let fails = s.nodes[i].fetched != version || s.rng.chance(s.nodes[i].kernelFailure)
                if !fails { s.nodes[i].file = version }
                s.later(i, s.rng.between(1, 20), .configWritten(version, failure: fails ? "simulated: No space left on device" : nil))
            case .reloadConfig:
                s.schedule(s.now + s.rng.between(1, 50) * 1_000_000, .reloaded(i, incarnation: s.nodes[i].incarnation))
            case .drainsChanged(let book):
                s.nodes[i].storedDrains = book
            case .reconcileIPVS(_, let reason):
                // One serial worker: a cold install takes longer; the kernel may refuse a change.
                let length = (reason == .claimed && s.profile.cold ? s.rng.between(5, 200) : s.rng.between(1, 20)) * 1_000_000
                s.nodes[i].ipvsBusyUntil = max(s.now, s.nodes[i].ipvsBusyUntil) + length
                s.schedule(s.nodes[i].ipvsBusyUntil, .answer(i, incarnation: s.nodes[i].incarnation,
                                                            .ipvsReconciled(reason, succeeded: !s.rng.chance(s.nodes[i].kernelFailure))))
            case .announce(let vips):
                s.statistics.announcements += 1
                let foreign = vips.filter { !s.nodes[i].kernelVIPs.contains($0) }
                if !foreign.isEmpty { s.fail("\(s.nodes[i].name) announces \(NodeState.list(foreign)), which its kernel does not hold") }
                if vips.contains(s.baseVIP) {
                    s.pointedAt = i
                    s.note("\(s.nodes[i].name) announces \(s.baseVIP.prefix)")
                }
            case .offerDrains(let list, let request):
                s.offer(from: i, list, request: request)
            case .answerPeer(let id, let response):
                guard let offer = s.nodes[i].peerOffers.removeValue(forKey: id) else {
                    s.fail("\(s.nodes[i].name) answered peer request \(id) twice, or one never asked")
                    break
                }
                let outcome: DrainOffer
                switch response {
                case .accepted(let text): outcome = .accepted(text)
                case .failure(let why): outcome = .failed(why)
                case .config, .keys: outcome = .failed("unexpected answer")
                }
                s.later(offer.from, s.rng.between(1, 10), .drainsOffered(offer.list, request: offer.request, outcome))
            case .replicationResult(let serial, let result, let succeeded):
                if succeeded { s.statistics.configsApplied += 1 }
                s.note("\(s.nodes[i].name): replication of serial \(serial): \(result)")
            case .log(let level, let text) where level == .error || level == .warning:
                s.note("\(s.nodes[i].name) \(level): \(text)")
            default:
                break
            }
            return nil
        }
    }
}

/// A binary min-heap of events by (time, insertion order).
struct EventHeap {
    private var items: [(at: UInt64, order: UInt64, event: PairSimulation.Event)] = []
    private var order: UInt64 = 0

    mutating func push(_ at: UInt64, _ event: PairSimulation.Event) {
        order += 1
        items.append((at, order, event))
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard less(child, parent) else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> (UInt64, PairSimulation.Event)? {
        guard !items.isEmpty else { return nil }
        items.swapAt(0, items.count - 1)
        let top = items.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var smallest = parent
            if left < items.count, less(left, smallest) { smallest = left }
            if right < items.count, less(right, smallest) { smallest = right }
            guard smallest != parent else { break }
            items.swapAt(parent, smallest)
            parent = smallest
        }
        return (top.at, top.event)
    }

    private func less(_ a: Int, _ b: Int) -> Bool { (items[a].at, items[a].order) < (items[b].at, items[b].order) }
}
