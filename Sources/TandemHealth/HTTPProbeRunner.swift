import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import TandemCore

/// HTTP and HTTPS GET checks: path, Host header, SNI, accepted status ranges, optional body
/// expression, optional certificate verification.
///
/// Memory is bounded twice: the raw bytes read from the socket are capped at the body limit plus
/// 16 KiB for the status line and headers (`InboundByteLimit`, before the HTTP decoder, so
/// endless headers or garbage cannot grow a buffer), and at most the body limit of the body is
/// kept for the expression.
enum HTTPProbeRunner {
    static let headerAllowance = 16 * 1024

    static func run(address: SocketAddress, target: HealthTarget, probe: HTTPProbe, body: ReplyMatcher?,
                    tls: NIOSSLContext?, timeout: TimeAmount, on eventLoop: any EventLoop,
                    promise: EventLoopPromise<ProbeResult>) {
        let port = target.probePort
        let defaultPort: UInt16 = probe.tls ? 443 : 80
        let hostHeader = probe.host ?? (port == defaultPort ? target.address.bracketed : "\(target.address.bracketed):\(port)")
        // SNI must be a name, never an address literal (RFC 6066 §3).
        let sniCandidate = probe.serverName ?? probe.host
        let serverName = sniCandidate.flatMap { IPAddress($0) == nil ? $0 : nil }
        let limit = NIOHealthProber.httpBodyLimit
        let connect = ClientBootstrap(group: eventLoop)
            .connectTimeout(timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let ops = channel.pipeline.syncOperations
                    if let tls {
                        try ops.addHandler(NIOSSLClientHandler(context: tls, serverHostname: serverName))
                    }
                    try ops.addHandler(InboundByteLimit(limit: limit + headerAllowance))
                    try ops.addHTTPClientHandlers()
                    try ops.addHandler(HTTPProbeHandler(path: probe.path, host: hostHeader, status: probe.status,
                                                        body: body, promise: promise))
                }
            }
            .connect(to: address)
        connect.whenFailure { promise.succeed(.failure("connect failed: \(describe($0))")) }
        promise.futureResult.whenComplete { _ in
            connect.whenSuccess { channel in closeWithReset(channel) }
        }
    }
}

/// Passes at most `limit` bytes on, then reports an error: a server that streams without end is
/// cut off at a known memory cost.
final class InboundByteLimit: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    struct Exceeded: Error, CustomStringConvertible {
        var limit: Int
        var description: String { "the server sent more than \(limit) bytes" }
    }

    private let limit: Int
    private var seen = 0

    init(limit: Int) { self.limit = limit }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard seen < limit else { return }
        var buffer = unwrapInboundIn(data)
        let allowed = limit - seen
        if buffer.readableBytes <= allowed {
            seen += buffer.readableBytes
            context.fireChannelRead(data)
            return
        }
        // Pass on what fits, so a decision possible within the limit is still made, then stop.
        seen = limit
        if let head = buffer.readSlice(length: allowed) { context.fireChannelRead(wrapInboundOut(head)) }
        context.fireErrorCaught(Exceeded(limit: limit))
    }
}

/// Sends the GET and decides from the response head and (if there is a body expression) the
/// first `body.limit` bytes of the body.
final class HTTPProbeHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private let path: String
    private let host: String
    private let status: [ClosedRange<Int>]
    private let body: ReplyMatcher?
    private let promise: EventLoopPromise<ProbeResult>
    private var code: Int?
    private var received: [UInt8] = []
    private var done = false

    init(path: String, host: String, status: [ClosedRange<Int>], body: ReplyMatcher?, promise: EventLoopPromise<ProbeResult>) {
        self.path = path
        self.host = host
        self.status = status
        self.body = body
        self.promise = promise
    }

    private func finish(_ result: ProbeResult) {
        guard !done else { return }
        done = true
        received = []
        promise.succeed(result)
    }

    private var statusText: String {
        status.map { $0.lowerBound == $0.upperBound ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)" }
            .joined(separator: ", ")
    }

    func channelActive(context: ChannelHandlerContext) {
        var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path)
        head.headers.add(name: "Host", value: host)
        head.headers.add(name: "User-Agent", value: "tandem-health-check")
        head.headers.add(name: "Accept", value: "*/*")
        head.headers.add(name: "Connection", value: "close")
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !done else { return }
        switch unwrapInboundIn(data) {
        case .head(let head):
            let code = Int(head.status.code)
            self.code = code
            guard status.contains(where: { $0.contains(code) }) else {
                finish(.failure("HTTP \(code), expected \(statusText)"))
                return
            }
            if body == nil { finish(.success("HTTP \(code)")) }
        case .body(var buffer):
            guard let body, let code else { return }
            let room = body.limit - received.count
            if room > 0, let bytes = buffer.readBytes(length: min(room, buffer.readableBytes)) { received += bytes }
            if received.count >= body.limit { decideBody(body, code: code, complete: false) }
        case .end:
            guard let body, let code else { return }
            decideBody(body, code: code, complete: true)
        }
    }

    private func decideBody(_ body: ReplyMatcher, code: Int, complete: Bool) {
        if body.matches(received) {
            finish(.success("HTTP \(code), body matched \"\(body.pattern)\""))
        } else {
            let scope = complete ? "the body" : "the first \(body.limit) bytes of the body"
            finish(.failure("HTTP \(code), but \(scope) does not match \"\(body.pattern)\""))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(.failure(code == nil ? "connection closed before a response" : "connection closed during the response"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if isReset(error) {
            finish(.failure(code == nil ? "connection closed before a response" : "connection closed during the response"))
        } else if error is HTTPParserError {
            finish(.failure("not an HTTP response: \(error)"))
        } else if error is NIOSSLError || error is BoringSSLError {
            finish(.failure("TLS: \(error)"))
        } else {
            finish(.failure(describe(error)))
        }
        context.close(promise: nil)
    }
}
