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
/// An address the config gives to another node (the other router's, in the shared config) is
/// skipped when it cannot be bound. Every other endpoint that cannot be bound (the address not on
/// this node yet after a reboot, the port taken) is bound again until it can, 1 s after the first
/// failure and then at most 10 s apart (`MetricsListenPolicy`), logged at the first failure and
/// when it listens, and shown by `tandemctl status` meanwhile (`MetricsListenState`). Metrics
/// never stop the daemon. An address that is one of the VIPs is bound with `IP_FREEBIND`
/// (`IPV6_FREEBIND`, linux/in6.h; ip(7)) on both routers, held or not: a scrape of the VIP is
/// answered by whichever router holds it (an operator trial found it bound only by a router that
/// held the VIP at start, and never after a failover).
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
    /// The other nodes of the config: endpoints on their addresses are theirs to serve.
    private let otherNodes: [Node]
    private let render: @Sendable () async -> [UInt8]
    private let logger: Logger
    private let connections = Atomic<Int>(0)
    private let bound = Mutex<[SocketAddress]>([])
    /// The endpoints not served yet, for status.
    public let state: MetricsListenState

    /// `render` builds one scrape's body (the daemon's: `MetricsExposition.render` of a fresh
    /// snapshot); `otherNodes` are the config's nodes other than this one; `state` receives the
    /// endpoints not served (give the one status reads).
    public init(listen: [ServerEndpoint], vips: Set<IPAddress> = [], otherNodes: [Node] = [],
                state: MetricsListenState = MetricsListenState(), logger: Logger,
                render: @escaping @Sendable () async -> [UInt8]) {
        endpoints = listen
        self.vips = vips
        self.otherNodes = otherNodes
        self.state = state
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
        let channels = LockedBox<[any Channel]>([])
        // Every endpoint once, in order, so the log says at once what is served; then the ones
        // to retry, each in a task of its own until it is bound or the daemon stops.
        var retries: [(ServerEndpoint, MetricsListenPolicy.Owner, Duration)] = []
        for endpoint in endpoints {
            let owner = MetricsListenPolicy.owner(of: endpoint.address, vips: vips, otherNodes: otherNodes)
            switch await bind(endpoint, owner: owner, failures: 0, group: group) {
            case .bound(let channel): channels.withLock { $0.append(channel) }
            case .failed(.skip): break
            case .failed(.retry(let delay)): retries.append((endpoint, owner, delay))
            }
        }
        if channels.withLock({ $0.isEmpty }) {
            let listed = endpoints.map(\.description).joined(separator: ", ")
            if retries.isEmpty {
                logger.error("metrics: none of metrics.listen (\(listed)) is this node's: /metrics is not served here; add an address of this node to metrics.listen")
            } else {
                logger.error("metrics: none of metrics.listen (\(listed)) could be bound on this node yet: /metrics is not served until one can (retrying)")
            }
        }
        let pending = retries
        let retrying = Task {
            await withDiscardingTaskGroup { tasks in
                for (endpoint, owner, delay) in pending {
                    tasks.addTask {
                        if let channel = await self.bindRetrying(endpoint, owner: owner, firstDelay: delay, group: group) {
                            channels.withLock { $0.append(channel) }
                        }
                    }
                }
            }
        }
        try? await gracefulShutdown()
        retrying.cancel()
        await retrying.value
        for channel in channels.value { try? await channel.close() }
        try await group.shutdownGracefully()
    }

    private enum BindOutcome {
        case bound(any Channel)
        case failed(MetricsListenPolicy.AfterFailure)
    }

    /// Binds `endpoint` again after each wait the policy gives, until it is bound (its channel) or
    /// the task is cancelled (nil).
    private func bindRetrying(_ endpoint: ServerEndpoint, owner: MetricsListenPolicy.Owner, firstDelay: Duration,
                              group: MultiThreadedEventLoopGroup) async -> (any Channel)? {
        var delay = firstDelay
        var failures = 1
        while true {
            do { try await Task.sleep(for: delay) } catch { return nil }
            switch await bind(endpoint, owner: owner, failures: failures, group: group) {
            case .bound(let channel): return channel
            case .failed(.skip): return nil
            case .failed(.retry(let next)):
                failures += 1
                delay = next
            }
        }
    }

    /// One bind of `endpoint`, after `failures` failed ones; logs the first failure and a bind
    /// after failures, and keeps `state` up to date.
    private func bind(_ endpoint: ServerEndpoint, owner: MetricsListenPolicy.Owner, failures: Int,
                      group: MultiThreadedEventLoopGroup) async -> BindOutcome {
        let vip = owner == .vip
        do {
            var bootstrap = bootstrap(group)
            if vip { bootstrap = bootstrap.serverChannelOption(Self.freeBind(endpoint.address.family), value: 1) }
            let channel = try await bootstrap.bind(to: SocketAddress(ipAddress: endpoint.address.description,
                                                                     port: Int(endpoint.port))).get()
            if let address = channel.localAddress { bound.withLock { $0.append(address) } }
            state.served(endpoint)
            logger.info("metrics: serving GET /metrics on \(endpoint)\(vip ? " (a VIP: answered while this node holds it)" : "")\(failures > 0 ? " (after retrying)" : "")")
            return .bound(channel)
        } catch {
            let notAvailable = (error as? IOError)?.errnoCode == EADDRNOTAVAIL
            let why = SocketErrorText.describe(error)
            let decision = MetricsListenPolicy.afterFailure(owner: owner, failures: failures + 1)
            switch decision {
            case .skip:
                if case .otherNode(let name) = owner {
                    logger.info("metrics: \(endpoint.address) is \(name)'s address, not this node's: not listening there (\(why))")
                }
            case .retry:
                let reason = MetricsListenPolicy.reason(error: why, addressNotAvailable: notAvailable)
                state.notServed(endpoint, reason: reason)
                if failures == 0 {
                    logger.error("metrics: cannot listen on \(endpoint): \(reason); /metrics is not served there until then (check metrics.listen and this node's addresses)")
                }
            }
            return .failed(decision)
        }
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

/// The `metrics.listen` endpoints a `MetricsServer` has not bound (yet), with why; read by
/// status from any thread.
public final class MetricsListenState: Sendable {
    private let missing = Mutex<[ServerEndpoint: String]>([:])

    public init() {}

    func served(_ endpoint: ServerEndpoint) { missing.withLock { _ = $0.removeValue(forKey: endpoint) } }
    func notServed(_ endpoint: ServerEndpoint, reason: String) { missing.withLock { $0[endpoint] = reason } }

    /// The endpoints not served, by address.
    public var notListening: [StatusReport.MetricsEndpoint] {
        missing.withLock { $0 }.sorted { ($0.key.address, $0.key.port) < ($1.key.address, $1.key.port) }
            .map { StatusReport.MetricsEndpoint(listen: $0.key.description, reason: $0.value) }
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
