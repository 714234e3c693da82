import Glibc
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import Synchronization
import TandemCore

/// Serves `GET /metrics` (Prometheus text format 0.0.4) on the `metrics.listen` addresses, on an
/// event loop of its own: never the heartbeat thread, so a scrape cannot delay a heartbeat.
///
/// Each listed address that this node cannot bind because it is not one of its own
/// (`EADDRNOTAVAIL`: the other router's address in the shared config) is skipped; any other bind
/// failure is logged and the rest still serve. Metrics never stop the daemon. An address that is
/// one of the VIPs is bound with `IP_FREEBIND` (`IPV6_FREEBIND`, linux/in6.h; ip(7)) on both
/// routers, held or not: a scrape of the VIP is answered by whichever router holds it (an
/// operator trial found it bound only by a router that held the VIP at start, and never after a
/// failover).
///
/// Limits against slow or hostile scrapers, each closing the connection:
/// - at most `maximumConnections` connections at once (more are closed at accept);
/// - at most `maximumRequestBytes` bytes from the start of a request to its end (a `GET` has no
///   body; any body is refused with 413);
/// - each request must arrive whole within `requestTimeout` of the connection opening or of the
///   previous response (a slowloris, or an idle kept-alive connection, is closed then).
///
/// The body is Prometheus text 0.0.4, or OpenMetrics 1.0 when the scraper's `Accept` prefers it
/// (as Prometheus's own header does): `OpenMetrics.convert` of the same text.
public final class MetricsServer: Service, Sendable {
    public static let maximumConnections = 16
    public static let maximumRequestBytes = 8192
    public static let requestTimeout = TimeAmount.seconds(10)

    private let endpoints: [ServerEndpoint]
    /// The VIPs' addresses: endpoints on them are bound whether this node holds them or not.
    private let vips: Set<IPAddress>
    private let render: @Sendable () async -> [UInt8]
    private let logger: Logger
    private let connections = Atomic<Int>(0)
    private let bound = Mutex<[SocketAddress]>([])

    /// `render` builds one scrape's body (the daemon's: `MetricsExposition.render` of a fresh snapshot).
    public init(listen: [ServerEndpoint], vips: Set<IPAddress> = [], logger: Logger, render: @escaping @Sendable () async -> [UInt8]) {
        endpoints = listen
        self.vips = vips
        self.logger = logger
        self.render = render
    }

    /// The addresses actually listening (after `run` has bound them; ports resolved).
    public var listening: [SocketAddress] { bound.withLock { $0 } }

    public func run() async throws {
        guard !endpoints.isEmpty else {
            try? await gracefulShutdown()
            return
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var channels: [any Channel] = []
        for endpoint in endpoints {
            let vip = vips.contains(endpoint.address)
            do {
                var bootstrap = bootstrap(group)
                if vip { bootstrap = bootstrap.serverChannelOption(Self.freeBind(endpoint.address.family), value: 1) }
                let channel = try await bootstrap.bind(to: SocketAddress(ipAddress: endpoint.address.description,
                                                                         port: Int(endpoint.port))).get()
                channels.append(channel)
                if let address = channel.localAddress { bound.withLock { $0.append(address) } }
                logger.info("metrics: serving GET /metrics on \(endpoint)\(vip ? " (a VIP: answered while this node holds it)" : "")")
            } catch let error as IOError where error.errnoCode == EADDRNOTAVAIL {
                logger.info("metrics: \(endpoint.address) is not an address of this node: not listening there")
            } catch {
                logger.error("metrics: cannot listen on \(endpoint): \(SocketErrorText.describe(error)); check metrics.listen (is the port in use?)")
            }
        }
        if channels.isEmpty {
            logger.error("metrics: none of metrics.listen (\(endpoints.map(\.description).joined(separator: ", "))) could be bound on this node: /metrics is not served")
        }
        try? await gracefulShutdown()
        for channel in channels { try? await channel.close() }
        try await group.shutdownGracefully()
    }

    /// Binding an address this host does not have (yet): `IP_FREEBIND` (15) for IPv4,
    /// `IPV6_FREEBIND` (78, Linux 4.15+) for IPv6.
    static func freeBind(_ family: AddressFamily) -> ChannelOptions.Types.SocketOption {
        family == .ipv4
            ? .init(level: .init(rawValue: CInt(IPPROTO_IP)), name: .init(rawValue: CInt(IP_FREEBIND)))
            : .init(level: .init(rawValue: CInt(IPPROTO_IPV6)), name: .init(rawValue: 78))
    }

    private func bootstrap(_ group: MultiThreadedEventLoopGroup) -> ServerBootstrap {
        ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 32)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { [self] channel in
                let count = connections.wrappingAdd(1, ordering: .relaxed).newValue
                channel.closeFuture.whenComplete { [self] _ in connections.wrappingSubtract(1, ordering: .relaxed) }
                guard count <= Self.maximumConnections else { return channel.close() }
                return channel.eventLoop.makeCompletedFuture {
                    let budget = RequestBudget(maximum: Self.maximumRequestBytes)
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(RequestSizeLimiter(budget: budget))
                    try sync.configureHTTPServerPipeline(withErrorHandling: true)
                    try sync.addHandler(MetricsRequestHandler(budget: budget, timeout: Self.requestTimeout, render: render))
                }
            }
    }
}

/// Bytes received since the current request began; shared by the limiter (before the HTTP
/// decoder) and the handler (which starts a new count after each response). Confined to the
/// connection's event loop.
final class RequestBudget {
    let maximum: Int
    var used = 0

    init(maximum: Int) { self.maximum = maximum }
}

/// Closes the connection when a request grows past its budget.
final class RequestSizeLimiter: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    private let budget: RequestBudget

    init(budget: RequestBudget) { self.budget = budget }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        budget.used += unwrapInboundIn(data).readableBytes
        guard budget.used <= budget.maximum else {
            context.close(promise: nil)
            return
        }
        context.fireChannelRead(data)
    }
}

/// Answers one request at a time (NIO's pipelining assistance queues the next): `GET` or `HEAD`
/// of `/metrics` gets the exposition, other paths 404, other methods 405, a body 413.
final class MetricsRequestHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let budget: RequestBudget
    private let timeout: TimeAmount
    private let render: @Sendable () async -> [UInt8]
    private var head: HTTPRequestHead?
    private var hasBody = false
    private var deadline: Scheduled<Void>?

    init(budget: RequestBudget, timeout: TimeAmount, render: @escaping @Sendable () async -> [UInt8]) {
        self.budget = budget
        self.timeout = timeout
        self.render = render
    }

    func handlerAdded(context: ChannelHandlerContext) { armDeadline(context) }

    func handlerRemoved(context: ChannelHandlerContext) { deadline?.cancel() }

    private func armDeadline(_ context: ChannelHandlerContext) {
        deadline?.cancel()
        let channel = context.channel
        deadline = context.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let request):
            head = request
            hasBody = false
        case .body:
            hasBody = true
        case .end:
            deadline?.cancel()
            deadline = nil
            guard let request = head else { return }
            head = nil
            respond(to: request, context: context)
        }
    }

    private func respond(to request: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = request.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        if hasBody {
            send(.payloadTooLarge, "a scrape has no body\n", to: request, keepAlive: false, context: context)
        } else if request.method != .GET && request.method != .HEAD {
            send(.methodNotAllowed, "only GET and HEAD are served\n", to: request, keepAlive: request.isKeepAlive, context: context,
                 extra: [("Allow", "GET, HEAD")])
        } else if path != "/metrics" {
            send(.notFound, "tandemd serves /metrics only\n", to: request, keepAlive: request.isKeepAlive, context: context)
        } else {
            let promise = context.eventLoop.makePromise(of: [UInt8].self)
            promise.completeWithTask { [render] in await render() }
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            let openMetrics = OpenMetrics.preferred(accept: request.headers.first(name: "Accept"))
            promise.futureResult.whenSuccess { body in
                let (handler, context) = bound.value
                if openMetrics {
                    handler.send(.ok, OpenMetrics.convert(body), to: request, keepAlive: request.isKeepAlive, context: context,
                                 contentType: OpenMetrics.contentType)
                } else {
                    handler.send(.ok, body, to: request, keepAlive: request.isKeepAlive, context: context,
                                 contentType: MetricsExposition.contentType)
                }
            }
        }
    }

    private func send(_ status: HTTPResponseStatus, _ text: String, to request: HTTPRequestHead, keepAlive: Bool,
                      context: ChannelHandlerContext, extra: [(String, String)] = []) {
        send(status, Array(text.utf8), to: request, keepAlive: keepAlive, context: context,
             contentType: "text/plain; charset=utf-8", extra: extra)
    }

    private func send(_ status: HTTPResponseStatus, _ body: [UInt8], to request: HTTPRequestHead, keepAlive: Bool,
                      context: ChannelHandlerContext, contentType: String, extra: [(String, String)] = []) {
        var headers = HTTPHeaders([("Content-Type", contentType), ("Content-Length", String(body.count))] + extra)
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))),
                      promise: nil)
        if request.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        }
        let done = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: done)
        if keepAlive {
            budget.used = 0
            armDeadline(context)
        } else {
            let channel = context.channel
            done.futureResult.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
