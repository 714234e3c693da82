import Foundation
import NIOCore
import NIOPosix
import TandemCore
@testable import TandemHealth

/// What a loopback test server does with each connection.
enum ServerBehaviour: Sendable {
    /// Writes these bytes as soon as a client connects, then waits for the client to close.
    case greet([UInt8])
    /// Waits for the client's first bytes, answers with these bytes and closes.
    case answer([UInt8])
    /// Accepts and never says anything.
    case silent
    /// Closes every connection at once.
    case close
    /// Writes these bytes, then 64 KiB chunks for as long as the client reads.
    case endless(prefix: [UInt8])
}

final class BehaviourHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let behaviour: ServerBehaviour
    private var answered = false

    init(_ behaviour: ServerBehaviour) { self.behaviour = behaviour }

    func channelActive(context: ChannelHandlerContext) {
        switch behaviour {
        case .greet(let bytes):
            context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(bytes: bytes)), promise: nil)
        case .close:
            context.close(promise: nil)
        case .endless(let prefix):
            context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(bytes: prefix)), promise: nil)
            pump(context: context, chunk: context.channel.allocator.buffer(repeating: UInt8(ascii: "z"), count: 65536))
        case .answer, .silent:
            break
        }
    }

    /// Writes the next chunk once the previous one is written: as fast as the client reads.
    private func pump(context: ChannelHandlerContext, chunk: ByteBuffer) {
        guard context.channel.isActive else { return }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(chunk)).whenSuccess {
            let (handler, ctx) = loopBound.value
            handler.pump(context: ctx, chunk: chunk)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .answer(let bytes) = behaviour, !answered {
            answered = true
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(channel.allocator.buffer(bytes: bytes))).whenComplete { _ in
                channel.close(promise: nil)
            }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

/// A TCP server on 127.0.0.1 with an ephemeral port.
struct TestServer {
    let channel: any Channel
    var port: UInt16 { UInt16(channel.localAddress!.port!) }

    static func start(_ behaviour: ServerBehaviour, group: any EventLoopGroup) async throws -> TestServer {
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(BehaviourHandler(behaviour))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return TestServer(channel: channel)
    }

    func stop() async throws { try await channel.close() }
}

/// A UDP server on 127.0.0.1 answering every datagram with `reply`.
final class UDPReplyHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>
    let reply: [UInt8]
    init(reply: [UInt8]) { self.reply = reply }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        let out = AddressedEnvelope(remoteAddress: envelope.remoteAddress, data: context.channel.allocator.buffer(bytes: reply))
        context.writeAndFlush(wrapOutboundOut(out), promise: nil)
    }
}

func udpServer(reply: [UInt8], group: any EventLoopGroup) async throws -> any Channel {
    try await DatagramBootstrap(group: group)
        .channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(UDPReplyHandler(reply: reply))
            }
        }
        .bind(host: "127.0.0.1", port: 0).get()
}

/// A port on 127.0.0.1 that refuses connections for as long as this object lives: bound but
/// never listening, so the kernel answers a connect with a reset and cannot hand the port to
/// another test's listener in the meantime (a bound-then-released port could be reused by a
/// test running in parallel).
final class RefusingPort: Sendable {
    let port: UInt16
    private let fd: Int32

    init() throws { (fd, port) = try bindLoopback() }

    deinit { close(fd) }
}

/// A TCP socket bound to 127.0.0.1 on a port the kernel picks: its descriptor and port.
func bindLoopback() throws -> (fd: Int32, port: UInt16) {
    let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr = in_addr(s_addr: UInt32(0x7F00_0001).bigEndian)
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(s, $0, length) == 0 && getsockname(s, $0, &length) == 0
        }
    }
    guard ok else {
        close(s)
        throw POSIXError(.EADDRNOTAVAIL)
    }
    return (s, UInt16(bigEndian: address.sin_port))
}

func target(_ probe: HealthCheck.Probe, port: UInt16, timeout: TimeSpan = .milliseconds(500), weight: Int = 10) -> HealthTarget {
    let check = HealthCheck(probe: probe, interval: .seconds(1), timeout: timeout, rise: 2, fall: 2)
    return HealthTarget(server: RealServerID(service: "test", address: IPAddress("127.0.0.1")!, port: port),
                        check: check, weight: weight, probePort: probe.port ?? port)
}

func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }
