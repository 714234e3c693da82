/// When to send announcements for a claimed VIP, as offsets from the moment of the claim.
///
/// Built from `AnnounceSettings` in keepalived's vocabulary (garp_master_repeat / delay /
/// refresh / refresh_repeat):
/// - an initial burst of `repeatCount` messages at 0, spacing, 2·spacing, …;
/// - a second burst of `repeatCount` messages starting at `secondBurstDelay` (none when nil or 0);
/// - while active, every `refreshInterval` a refresh of `refreshRepeat` messages. Refresh k
///   (k = 1, 2, …) starts at `base + k·refreshInterval`, where base is the second-burst delay
///   (or 0 without one), as keepalived starts refreshing at delay + refresh.
///
/// The schedule is infinite when refreshing, so it is read through windows: `sends(from:until:)`
/// returns the sends with `from ≤ offset < until`, sorted by offset. No clock is read here.
public struct AnnounceSchedule: Sendable, Hashable {
    /// Which part of the schedule a send belongs to.
    public enum Burst: Sendable, Hashable {
        case initial
        case second
        /// The n-th refresh, counting from 1.
        case refresh(Int)
    }

    /// One message to send.
    public struct Send: Sendable, Hashable, CustomStringConvertible {
        /// Time since the claim.
        public var offset: TimeSpan
        public var burst: Burst
        /// Position inside its burst, from 0.
        public var index: Int

        public init(offset: TimeSpan, burst: Burst, index: Int) {
            self.offset = offset
            self.burst = burst
            self.index = index
        }

        public var description: String { "\(offset.milliseconds)ms \(burst)#\(index)" }
    }

    public var repeatCount: Int
    public var spacing: TimeSpan
    public var secondBurstDelay: TimeSpan?
    public var refreshInterval: TimeSpan?
    public var refreshRepeat: Int

    public init(_ settings: AnnounceSettings) {
        repeatCount = max(0, settings.repeatCount)
        spacing = settings.spacing
        secondBurstDelay = settings.secondBurstDelay.flatMap { $0.milliseconds == 0 ? nil : $0 }
        refreshInterval = settings.refreshInterval.flatMap { $0.milliseconds == 0 ? nil : $0 }
        refreshRepeat = max(0, settings.refreshRepeat)
    }

    /// True when the schedule never ends (a refresh is configured and sends something).
    public var isInfinite: Bool { refreshInterval != nil && refreshRepeat > 0 }

    /// Offset of the last send of a finite schedule; nil for an infinite or empty one.
    public var lastOffset: TimeSpan? {
        if isInfinite { return nil }
        return sends(from: .milliseconds(0), until: .milliseconds(UInt64.max / 2)).last?.offset
    }

    /// The sends with `from ≤ offset < until`, sorted by offset (then initial, second, refresh).
    public func sends(from: TimeSpan, until: TimeSpan) -> [Send] {
        guard from < until else { return [] }
        var out: [Send] = []
        func burst(_ kind: Burst, start: UInt64, count: Int) {
            for i in 0..<count {
                let t = start + UInt64(i) * spacing.milliseconds
                if t >= until.milliseconds { break }
                if t >= from.milliseconds { out.append(Send(offset: .milliseconds(t), burst: kind, index: i)) }
            }
        }
        burst(.initial, start: 0, count: repeatCount)
        if let second = secondBurstDelay { burst(.second, start: second.milliseconds, count: repeatCount) }
        if let interval = refreshInterval, refreshRepeat > 0 {
            let base = secondBurstDelay?.milliseconds ?? 0
            let burstLength = UInt64(refreshRepeat - 1) * spacing.milliseconds
            // First refresh whose last message is not before `from`.
            var k: UInt64 = 1
            if from.milliseconds > base + burstLength {
                k = max(1, (from.milliseconds - base - burstLength) / interval.milliseconds)
            }
            while base + k * interval.milliseconds < until.milliseconds {
                burst(.refresh(Int(k)), start: base + k * interval.milliseconds, count: refreshRepeat)
                k += 1
            }
        }
        return out.sorted { a, b in
            if a.offset != b.offset { return a.offset < b.offset }
            return a.burst.order < b.burst.order
        }
    }

    /// The first send at or after `offset`, or nil when the schedule has ended.
    public func next(atOrAfter offset: TimeSpan) -> Send? {
        // Every burst starts within one refresh interval (or by the last finite send), so a
        // window that long past `offset` must contain the next send if there is one.
        var horizon = offset.milliseconds + max(spacing.milliseconds * UInt64(max(repeatCount, refreshRepeat)), 1)
        horizon += secondBurstDelay?.milliseconds ?? 0
        horizon += (refreshInterval?.milliseconds ?? 0) * 2 + 1
        return sends(from: offset, until: .milliseconds(horizon)).first
    }
}

extension AnnounceSchedule.Burst {
    fileprivate var order: Int {
        switch self {
        case .initial: return 0
        case .second: return 1
        case .refresh(let k): return 1 + k
        }
    }
}
