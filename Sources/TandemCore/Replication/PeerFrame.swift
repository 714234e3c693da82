/// Length-prefixed frames of the peer channel: a 4-byte big-endian payload length, then the
/// payload. A reader gives a limit per phase, so an unauthenticated peer can make this node
/// buffer at most `handshakeLimit` bytes, and nobody more than `maximumLength`.
public enum PeerFrame {
    /// The largest config text that is served or accepted (10 MiB; a 10,000-service config is ~3 MB).
    public static let maximumConfigBytes = 10 * 1024 * 1024
    /// The largest frame after the handshake: the config text, JSON escaping of its quotes and
    /// backslashes, the envelope and the tag.
    public static let maximumLength = maximumConfigBytes + maximumConfigBytes / 4 + 4096
    /// The largest frame before the peer has proven the key.
    public static let handshakeLimit = 512
    /// Bytes of the length prefix.
    public static let headerLength = 4

    /// `payload` with its length prefix.
    public static func encode(_ payload: [UInt8]) -> [UInt8] {
        let n = UInt32(payload.count)
        var bytes: [UInt8] = [UInt8(n >> 24), UInt8(n >> 16 & 0xff), UInt8(n >> 8 & 0xff), UInt8(n & 0xff)]
        bytes.reserveCapacity(payload.count + headerLength)
        bytes += payload
        return bytes
    }
}

/// Splits a byte stream into frames. Feed it what arrives, take frames while there are any,
/// and call `finish()` at end of stream to learn whether it ended between frames.
public struct PeerFrameDecoder: Sendable {
    /// Frames longer than this are an error (raised as soon as the header is read, before buffering).
    public var limit: Int
    private var buffer: [UInt8] = []
    private var start = 0

    public init(limit: Int) { self.limit = limit }

    /// Bytes received and not yet returned as frames.
    public var bufferedByteCount: Int { buffer.count - start }

    /// Adds received bytes.
    public mutating func append<Bytes: Collection>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        if start > 0, start >= buffer.count / 2 {
            buffer.removeFirst(start)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next whole frame's payload, or nil when more bytes are needed.
    public mutating func nextFrame() throws(PeerProtocolError) -> [UInt8]? {
        guard bufferedByteCount >= PeerFrame.headerLength else { return nil }
        let length = buffer[start..<start + 4].reduce(0) { $0 << 8 | Int($1) }
        guard length <= limit else { throw .frameTooLarge(length: length, limit: limit) }
        guard bufferedByteCount >= PeerFrame.headerLength + length else { return nil }
        let from = start + PeerFrame.headerLength
        start = from + length
        return Array(buffer[from..<start])
    }

    /// End of stream: an error if it ended inside a frame.
    public func finish() throws(PeerProtocolError) {
        let buffered = bufferedByteCount
        guard buffered > 0 else { return }
        if buffered < PeerFrame.headerLength {
            throw .truncated(expected: PeerFrame.headerLength, buffered: buffered)
        }
        let length = buffer[start..<start + 4].reduce(0) { $0 << 8 | Int($1) }
        throw .truncated(expected: PeerFrame.headerLength + length, buffered: buffered)
    }
}
