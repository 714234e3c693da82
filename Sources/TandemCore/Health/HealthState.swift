/// The health of every checked real server, and what it means for the IPVS table.
///
/// A pure value: the monitor owns one, feeds it results with their instants, and hands
/// `tableInputs(at:)` to `Config.desiredIPVSTable(down:weights:)`.
public struct HealthState: Sendable {
    public private(set) var targets: [HealthTarget.Key: HealthTarget] = [:]
    /// Every target's tracker, at its key's position in `keys`. Positions change only in `apply`,
    /// so a caller that records thousands of results a second can keep a target's position
    /// (`position(of:)`) and record without a hash lookup.
    private var states: [HealthTracker] = []
    private var keys: [HealthTarget.Key] = []
    private var positions: [HealthTarget.Key: Int] = [:]

    public init() {}

    /// Every target's tracker, by key.
    public var trackers: [HealthTarget.Key: HealthTracker] { Dictionary(uniqueKeysWithValues: zip(keys, states)) }

    /// The tracker of `key`, nil if it is not a target.
    public func tracker(for key: HealthTarget.Key) -> HealthTracker? { positions[key].map { states[$0] } }

    /// Where `key`'s tracker is, for `record(_:at:for:at:then:)`, until the next `apply`.
    public func position(of key: HealthTarget.Key) -> Int? { positions[key] }

    /// Replaces the target set. Targets whose key is unchanged keep their tracker (taking the new
    /// rise and fall); new targets start `unknown`; removed targets are forgotten.
    /// Returns the keys that were added and removed.
    @discardableResult
    public mutating func apply(targets new: [HealthTarget], at now: MonotonicInstant) -> (added: [HealthTarget.Key], removed: [HealthTarget.Key]) {
        var fresh: [HealthTarget.Key: HealthTarget] = [:]
        for t in new { fresh[t.key] = t }
        let removed = targets.keys.filter { fresh[$0] == nil }.sorted()
        var added: [HealthTarget.Key] = []
        var newStates: [HealthTracker] = [], newKeys: [HealthTarget.Key] = []
        var newPositions: [HealthTarget.Key: Int] = Dictionary(minimumCapacity: fresh.count)
        newStates.reserveCapacity(fresh.count)
        newKeys.reserveCapacity(fresh.count)
        for (key, target) in fresh {
            if var tracker = self.tracker(for: key) {
                tracker.rise = max(1, target.check.rise)
                tracker.fall = max(1, target.check.fall)
                newStates.append(tracker)
            } else {
                newStates.append(HealthTracker(rise: target.check.rise, fall: target.check.fall, createdAt: now))
                added.append(key)
            }
            newPositions[key] = newKeys.count
            newKeys.append(key)
        }
        states = newStates
        keys = newKeys
        positions = newPositions
        targets = fresh
        return (added.sorted(), removed)
    }

    /// A change of one server's health.
    public struct Change: Sendable, Hashable, CustomStringConvertible {
        public var key: HealthTarget.Key
        public var old: HealthTracker.Status
        public var new: HealthTracker.Status
        public var reason: String
        public var at: MonotonicInstant

        public var server: RealServerID { key.server }
        public var description: String { "\(key.server): \(old) → \(new) (\(reason))" }
    }

    /// Records a result for `key` (ignored if the key is no longer a target: a check that was
    /// running during a reload).
    @discardableResult
    public mutating func record(_ result: ProbeResult, for key: HealthTarget.Key, at now: MonotonicInstant) -> Change? {
        record(result, for: key, at: now) { _ in () }?.change
    }

    /// Records a result for `key` and lets `read` see the tracker after it, with one hash lookup
    /// (the monitor records thousands of results a second); nil if the key is no longer a target.
    public mutating func record<R>(_ result: ProbeResult, for key: HealthTarget.Key, at now: MonotonicInstant,
                                   then read: (HealthTracker) -> R) -> (change: Change?, read: R)? {
        guard let position = positions[key] else { return nil }
        return record(result, at: position, for: key, at: now, then: read)
    }

    /// Like `record(_:for:at:then:)` for the tracker at `position` (`position(of: key)` since
    /// the last `apply`), without looking the key up.
    public mutating func record<R>(_ result: ProbeResult, at position: Int, for key: HealthTarget.Key, at now: MonotonicInstant,
                                   then read: (HealthTracker) -> R) -> (change: Change?, read: R) {
        let transition = states[position].record(result, at: now)
        let value = read(states[position])
        return (transition.map { Change(key: key, old: $0.old, new: $0.new, reason: $0.reason, at: now) }, value)
    }

    /// The `down` set and `weights` map for `Config.desiredIPVSTable` at `now`. A weight is listed
    /// only where it differs from the configured one (agent feedback, drain, warm-up).
    public func tableInputs(at now: MonotonicInstant) -> (down: Set<RealServerID>, weights: [RealServerID: Int]) {
        var down: Set<RealServerID> = []
        var weights: [RealServerID: Int] = [:]
        for (key, tracker) in zip(keys, states) {
            guard let target = targets[key] else { continue }
            guard let w = tracker.effectiveWeight(configured: target.weight, warmup: target.check.warmup, at: now) else {
                down.insert(key.server)
                continue
            }
            if w != target.weight { weights[key.server] = w }
        }
        return (down, weights)
    }

    /// The next instant at which `tableInputs` changes without a new result (a warm-up step).
    public func nextWeightChange(after now: MonotonicInstant) -> MonotonicInstant? {
        zip(keys, states).compactMap { key, tracker in
            targets[key].flatMap { tracker.nextWeightChange(warmup: $0.check.warmup, after: now) }
        }.min()
    }

    /// One line of `tandemctl status` / `tandemctl health`.
    public struct Entry: Sendable, Hashable {
        public var key: HealthTarget.Key
        public var status: HealthTracker.Status
        public var since: MonotonicInstant
        public var lastResult: ProbeResult?
        public var lastCheck: MonotonicInstant?
        public var configuredWeight: Int
        /// nil while down.
        public var effectiveWeight: Int?
    }

    /// Every target's health, sorted by real server.
    public func snapshot(at now: MonotonicInstant) -> [Entry] {
        keys.sorted().compactMap { key in
            guard let tracker = self.tracker(for: key), let target = targets[key] else { return nil }
            return Entry(key: key, status: tracker.status, since: tracker.since, lastResult: tracker.lastResult,
                         lastCheck: tracker.lastCheck, configuredWeight: target.weight,
                         effectiveWeight: tracker.effectiveWeight(configured: target.weight, warmup: target.check.warmup, at: now))
        }
    }
}
