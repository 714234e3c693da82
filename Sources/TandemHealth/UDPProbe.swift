import NIOCore
import NIOPosix
import TandemCore

/// UDP send/expect: one datagram out, the first reply matched against `expect` (any reply passes
/// when there is none). An ICMP port unreachable fails the check at once; silence fails it at the
/// timeout. Replies are truncated to the matcher's limit by the receive allocator.
enum UDPProbe {
    static func run(address: SocketAddress, send: String, expect: ReplyMatcher?, on eventLoop: any EventLoop,
                    promise: EventLoopPromise<ProbeResult>) {
        let limit = expect?.limit ?? ReplyMatcher.defaultLimit
        let connect = DatagramBootstrap(group: eventLoop)
            .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: limit))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(UDPProbeHandler(expect: expect, promise: promise))
                }
            }
            .connect(to: address)
        connect.whenFailure { promise.succeed(.failure("cannot open a UDP socket: \(describe($0))")) }
        connect.whenSuccess { channel in
            channel.writeAndFlush(channel.allocator.buffer(string: send)).whenFailure { error in
                promise.succeed(.failure("send failed: \(describe(error))"))
            }
        }
        promise.futureResult.whenComplete { _ in
            connect.whenSuccess { $0.close(promise: nil) }
        }
    }
}

final class UDPProbeHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>

    private let expect: ReplyMatcher?
    private let promise: EventLoopPromise<ProbeResult>

    init(expect: ReplyMatcher?, promise: EventLoopPromise<ProbeResult>) {
        self.expect = expect
        self.promise = promise
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data).data
        let bytes = buffer.readBytes(length: buffer.readableBytes) ?? []
        guard let expect else {
            promise.succeed(.success("reply of \(bytes.count) bytes"))
            return
        }
        if expect.matches(bytes) {
            promise.succeed(.success("reply matched \"\(expect.pattern)\""))
        } else {
            promise.succeed(.failure("reply \"\(ReplyMatcher.excerpt(bytes))\" does not match \"\(expect.pattern)\""))
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let io = error as? IOError, io.errnoCode == ECONNREFUSED {
            promise.succeed(.failure("port unreachable"))
        } else {
            promise.succeed(.failure(describe(error)))
        }
    }
}
