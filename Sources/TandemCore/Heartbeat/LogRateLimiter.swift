/// Decides which of a stream of repeated log lines are written, per key (for example one key per
/// drop reason): the first `burst` lines of a stream are written; after that one line per
/// `quietMilliseconds`, carrying the number left out since the last written line. A stream ends
/// when its key stays silent for `quietMilliseconds`; the next line starts a new one with a full
/// burst (and reports what the old one still had left out). Pure: time is an argument.
///
/// So a peer whose packets are dropped five times a second forever costs `burst` lines and then
/// one line a minute (the defaults), not five lines every second.
public struct LogRateLimiter: Sendable {
    public enum Decision: Sendable, Hashable {
        /// Write the line; `suppressed` lines of this key were left out before it.
        case write(suppressed: UInt64)
        case suppress
    }

    public let burst: Int
    public let quietMilliseconds: UInt64

    private struct Stream: Sendable {
        var written: Int
        var lastWritten: MonotonicInstant
        var lastSeen: MonotonicInstant
        var suppressed: UInt64
    }

    private var streams: [String: Stream] = [:]

    public init(burst: Int = 5, quietMilliseconds: UInt64 = 60_000) {
        self.burst = max(burst, 1)
        self.quietMilliseconds = quietMilliseconds
    }

    /// Whether to write the next line of `key` at `now`.
    public mutating func admit(_ key: String, at now: MonotonicInstant) -> Decision {
        guard var stream = streams[key], now.milliseconds(since: stream.lastSeen) < quietMilliseconds else {
            let carried = streams[key]?.suppressed ?? 0
            streams[key] = Stream(written: 1, lastWritten: now, lastSeen: now, suppressed: 0)
            return .write(suppressed: carried)
        }
        defer { streams[key] = stream }
        stream.lastSeen = now
        if stream.written < burst || now.milliseconds(since: stream.lastWritten) >= quietMilliseconds {
            let left = stream.suppressed
            stream.written += 1
            stream.suppressed = 0
            stream.lastWritten = now
            return .write(suppressed: left)
        }
        stream.suppressed += 1
        return .suppress
    }
}
