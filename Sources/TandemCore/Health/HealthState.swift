/// The health of every checked real server, and what it means for the IPVS table.
///
/// A pure value: the monitor owns one, feeds it results with their instants, and hands
/// `tableInputs(at:)` to `Config.desiredIPVSTable(down:weights:)`.
public struct HealthState: Sendable {
    public private(set) var targets: [HealthTarget.Key: HealthTarget] = [:]
    public private(set) var trackers: [HealthTarget.Key: HealthTracker] = [:]

    public init() {}

    /// Replaces the target set. Targets whose key is unchanged keep their tracker (taking the new
    /// rise and fall); new targets start `unknown`; removed targets are forgotten.
    /// Returns the keys that were added and removed.
    @discardableResult
    public mutating func apply(targets new: [HealthTarget], at now: MonotonicInstant) -> (added: [HealthTarget.Key], removed: [HealthTarget.Key]) {
        var fresh: [HealthTarget.Key: HealthTarget] = [:]
        for t in new { fresh[t.key] = t }
        let removed = targets.keys.filter { fresh[$0] == nil }.sorted()
        var added: [HealthTarget.Key] = []
        for (key, target) in fresh {
            if var tracker = trackers[key] {
                tracker.rise = max(1, target.check.rise)
                tracker.fall = max(1, target.check.fall)
                trackers[key] = tracker
            } else {
                trackers[key] = HealthTracker(rise: target.check.rise, fall: target.check.fall, createdAt: now)
                added.append(key)
            }
        }
        for key in removed { trackers[key] = nil }
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
        guard let index = trackers.index(forKey: key) else { return nil }
        let transition = trackers.values[index].record(result, at: now)
        let value = read(trackers.values[index])
        return (transition.map { Change(key: key, old: $0.old, new: $0.new, reason: $0.reason, at: now) }, value)
    }

    /// The `down` set and `weights` map for `Config.desiredIPVSTable` at `now`. A weight is listed
    /// only where it differs from the configured one (agent feedback, drain, warm-up).
    public func tableInputs(at now: MonotonicInstant) -> (down: Set<RealServerID>, weights: [RealServerID: Int]) {
        var down: Set<RealServerID> = []
        var weights: [RealServerID: Int] = [:]
        for (key, tracker) in trackers {
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
        trackers.compactMap { key, tracker in
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
        trackers.keys.sorted().compactMap { key in
            guard let tracker = trackers[key], let target = targets[key] else { return nil }
            return Entry(key: key, status: tracker.status, since: tracker.since, lastResult: tracker.lastResult,
                         lastCheck: tracker.lastCheck, configuredWeight: target.weight,
                         effectiveWeight: tracker.effectiveWeight(configured: target.weight, warmup: target.check.warmup, at: now))
        }
    }
}
