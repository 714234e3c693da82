import NIOCore
import NIOPosix
import TandemCore

/// TCP checks: connect; connect and send; connect, send and match the reply (pulse's
/// send/expect); and HAProxy's agent check (read one line).
enum StreamProbe {
    static func run(address: SocketAddress, send: String?, mode: StreamProbeHandler.Mode, timeout: TimeAmount,
                    on eventLoop: any EventLoop, promise: EventLoopPromise<ProbeResult>) {
        let connect = ClientBootstrap(group: eventLoop)
            .connectTimeout(timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(StreamProbeHandler(send: send, mode: mode, promise: promise))
                }
            }
            .connect(to: address)
        connect.whenFailure { promise.succeed(.failure("connect failed: \(describe($0))")) }
        promise.futureResult.whenComplete { _ in
            connect.whenSuccess { channel in closeWithReset(channel) }
        }
    }
}

/// Closes a check's connection with a reset (SO_LINGER 0), as HAProxy does for its checks, so
/// thousands of checks a second leave no TIME_WAIT sockets behind on the router.
func closeWithReset(_ channel: any Channel) {
    guard channel.isActive else { return }
    if let provider = channel as? any SocketOptionProvider {
        provider.setSoLinger(linger(l_onoff: 1, l_linger: 0)).whenComplete { _ in channel.close(promise: nil) }
    } else {
        channel.close(promise: nil)
    }
}

/// Decides a TCP check from what the connection does. Keeps at most `limit` reply bytes.
final class StreamProbeHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum Mode: Sendable {
        /// Passes once connected.
        case connect
        /// Passes once `send` is written.
        case send
        /// Passes when the reply matches.
        case expect(ReplyMatcher)
        /// Reads one line and parses it as an agent reply.
        case agent(limit: Int)
    }

    private let send: String?
    private let mode: Mode
    private let promise: EventLoopPromise<ProbeResult>
    private var received: [UInt8] = []
    private var done = false

    init(send: String?, mode: Mode, promise: EventLoopPromise<ProbeResult>) {
        self.send = send
        self.mode = mode
        self.promise = promise
    }

    private var limit: Int {
        switch mode {
        case .expect(let m): return m.limit
        case .agent(let limit): return limit
        case .connect, .send: return 0
        }
    }

    private func finish(_ result: ProbeResult) {
        guard !done else { return }
        done = true
        received = []
        promise.succeed(result)
    }

    func channelActive(context: ChannelHandlerContext) {
        if case .connect = mode {
            finish(.success("connected"))
            return
        }
        if let send {
            let buffer = context.channel.allocator.buffer(string: send)
            let written = context.eventLoop.makePromise(of: Void.self)
            context.writeAndFlush(wrapOutboundOut(buffer), promise: written)
            if case .send = mode {
                let promise = self.promise
                written.futureResult.whenComplete { result in
                    switch result {
                    case .success: promise.succeed(.success("connected and sent \(send.utf8.count) bytes"))
                    case .failure(let error): promise.succeed(.failure("send failed: \(describe(error))"))
                    }
                }
            }
        }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !done else { return }
        var buffer = unwrapInboundIn(data)
        let room = limit - received.count
        if room > 0, let bytes = buffer.readBytes(length: min(room, buffer.readableBytes)) {
            received += bytes
        }
        switch mode {
        case .expect(let matcher):
            if matcher.matches(received) {
                finish(.success("reply matched \"\(matcher.pattern)\""))
            } else if received.count >= matcher.limit {
                finish(.failure("no match for \"\(matcher.pattern)\" in the first \(matcher.limit) bytes (\"\(ReplyMatcher.excerpt(received))\")"))
            }
        case .agent(let limit):
            if let newline = received.firstIndex(of: UInt8(ascii: "\n")) {
                finishAgent(Array(received[..<newline]))
            } else if received.count >= limit {
                finish(.failure("agent reply longer than \(limit) bytes without a newline"))
            }
        case .connect, .send:
            break
        }
    }

    private func finishAgent(_ line: [UInt8]) {
        let text = String(decoding: line, as: UTF8.self)
        switch AgentReply.parse(text) {
        case .success(let reply): finish(.agent(reply, text: text.trimmingNewlines()))
        case .failure(let error): finish(.failure(error.description))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        peerClosed()
        context.fireChannelInactive()
    }

    /// The verdict when the server closes (or resets) before a decision.
    private func peerClosed() {
        switch mode {
        case .expect(let matcher):
            finish(.failure(received.isEmpty ? "connection closed without a reply"
                            : "connection closed; reply \"\(ReplyMatcher.excerpt(received))\" does not match \"\(matcher.pattern)\""))
        case .agent:
            if received.isEmpty { finish(.failure("agent closed the connection without a reply")) } else { finishAgent(received) }
        case .connect, .send:
            finish(.failure("connection closed"))
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if isReset(error) {
            // The peer reset instead of closing: the same verdict as a close.
            peerClosed()
        } else {
            finish(.failure(describe(error)))
        }
        context.close(promise: nil)
    }
}
