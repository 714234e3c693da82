import NIOCore
import TandemCore

/// Frames over one NIO TCP channel: reads whole frames through a `PeerFrameDecoder` (whose limit
/// the caller raises after the handshake) and writes framed payloads.
struct PeerConnection {
    private var iterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    private let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    private var decoder = PeerFrameDecoder(limit: PeerFrame.handshakeLimit)

    init(inbound: NIOAsyncChannelInboundStream<ByteBuffer>, outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>) {
        iterator = inbound.makeAsyncIterator()
        self.outbound = outbound
    }

    /// Largest frame accepted from now on.
    mutating func setLimit(_ limit: Int) { decoder.limit = limit }

    /// The next frame; throws at end of stream (`PeerConnectionClosed` between frames).
    mutating func read() async throws -> [UInt8] {
        while true {
            if let frame = try decoder.nextFrame() { return frame }
            guard var buffer = try await iterator.next() else {
                try decoder.finish()
                throw PeerConnectionClosed()
            }
            if let bytes = buffer.readBytes(length: buffer.readableBytes) { decoder.append(bytes) }
        }
    }

    func write(_ payload: [UInt8]) async throws {
        try await outbound.write(ByteBuffer(bytes: PeerFrame.encode(payload)))
    }
}

/// The peer closed the connection between frames.
struct PeerConnectionClosed: Error, CustomStringConvertible {
    var description: String { "the peer closed the connection" }
}
