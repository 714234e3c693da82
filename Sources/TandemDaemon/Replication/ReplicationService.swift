#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization
import TandemCore
import TandemKernel

/// Where and as whom replication talks.
public struct ReplicationSettings: Sendable {
    public var nodeName: String
    public var peerName: String
    /// This node's heartbeat addresses (the server binds each) paired with the peer's (the client
    /// tries them in path order).
    public var paths: [HeartbeatPath]
    /// The heartbeat port number, here on TCP.
    public var port: UInt16
    /// The config file to serve from and write to.
    public var configPath: String
    /// Time for an incoming connection to prove the key.
    public var handshakeTimeout: TimeAmount = .seconds(5)
    /// Time for one whole exchange (connect to response), and an idle server connection's life.
    public var exchangeTimeout: TimeAmount = .seconds(30)
    public var connectTimeout: TimeAmount = .seconds(2)
    /// Incoming connections served at once; more are closed at once.
    public var maximumConnections = 4

    public init(nodeName: String, peerName: String, paths: [HeartbeatPath], port: UInt16, configPath: String) {
        self.nodeName = nodeName
        self.peerName = peerName
        self.paths = paths
        self.port = port
        self.configPath = configPath
    }
}

/// Config mirroring between the two `tandemd`, as the executor of `NodeState`'s replication
/// decisions (`ConfigBook`): a TCP server on the heartbeat port of each heartbeat address serves
/// the config in force to the authenticated peer; `fetch`, `write` and `reload` carry out the
/// node's effects one at a time, off the heartbeat thread, and answer through the heartbeat loop
/// (`answer`). It decides nothing: which version to fetch, whether a fetched config is refused,
/// conflicts and retries are `ConfigBook`'s rules. The heartbeat thread does no replication I/O.
public final class ReplicationService: Service, ConfigReplicating, Sendable {
    let settings: ReplicationSettings
    /// Nil: heartbeats are not authenticated, so replication is off.
    let key: HeartbeatKey?
    let keysInForce: (@Sendable () -> HeartbeatKeySet?)?
    let localVersion: @Sendable () -> ConfigVersion
    let reloadFile: @Sendable () -> Void
    let inForce: @Sendable () -> ConfigSnapshot?
    let stage: @Sendable (ConfigSnapshot, Config) -> Void
    /// Gives `NodeState` what a fetch or a write found (through the heartbeat loop).
    let answer: @Sendable (NodeEvent) -> Void
    private let jobs = AsyncStream.makeStream(of: Job.self)
    let logger: Logger
    let group: any EventLoopGroup

    private struct State: Sendable {
        var status = ReplicationStatus(enabled: true)
        /// The text of the config in force, as served.
        var served: ConfigSnapshot?
        /// The peer's config as last fetched and read, until it is written.
        var fetched: (version: ConfigVersion, snapshot: ConfigSnapshot, config: Config)?
        var connections = 0
        var logBudget: [String: (count: Int, windowStart: MonotonicInstant)] = [:]
    }
    private let state = Mutex(State())
    private let clock: any TandemClock
    /// Answers the peer's `drains` pushes (`NodeState`, through the heartbeat loop); nil refuses them.
    private let drainHandler = Mutex<(@Sendable (DrainList) async -> PeerResponse)?>(nil)
    private let restoredHandler = Mutex<(@Sendable () -> Void)?>(nil)

    /// Called after the config file was put back as it was before a refused mirrored config
    /// (`restore`): what a restart would read is the config in force again.
    public func onFileRestored(_ handler: @escaping @Sendable () -> Void) {
        restoredHandler.withLock { $0 = handler }
    }
    private let offers = AsyncStream.makeStream(of: (list: DrainList, request: NodeRequestID?).self)

    /// Installs the answer to the peer's drain lists.
    public func onDrains(_ handler: @escaping @Sendable (DrainList) async -> PeerResponse) {
        drainHandler.withLock { $0 = handler }
    }

    public func offerDrains(_ list: DrainList, request: NodeRequestID?) {
        offers.continuation.yield((list, request))
    }

    /// Sends one drain list to the peer and gives `NodeState` its answer.
    private func offer(_ list: DrainList, request: NodeRequestID?) async {
        let outcome: DrainOffer
        do {
            switch try await send(.drains(list)) {
            case .accepted(let text): outcome = .accepted(text)
            case .failure(let why): outcome = .failed(why)
            case .config, .keys: outcome = .failed("unexpected answer")
            }
        } catch {
            outcome = .failed("\(error)")
        }
        answer(.drainsOffered(list, request: request, outcome))
    }

    /// The heartbeat keys the peer holds now (`PeerRequest.keyFingerprints`), or why it could not
    /// say: not reachable within `timeout` (a peer down, a firewall), refused, or a tandemd too
    /// old to know the request.
    public func peerKeyFingerprints(timeout: Duration) async -> PeerKeysAnswer {
        await withTaskGroup(of: PeerKeysAnswer?.self) { group in
            group.addTask {
                do {
                    switch try await self.send(.keyFingerprints) {
                    case .keys(let keys): return .known(keys)
                    case .failure(let why): return .unknown(why)
                    case .accepted, .config: return .unknown("it gave an unexpected answer")
                    }
                } catch {
                    return .unknown("\(error)")
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first ?? .unknown("no answer within \(timeout)")
        }
    }

    /// Sends one request to the peer over the first path that answers and returns its answer.
    public func send(_ request: PeerRequest) async throws -> PeerResponse {
        guard let key else { throw PeerRefusal(reason: "the peer channel needs heartbeat authentication (auth: none)") }
        var lastError: any Error = PeerConnectionClosed()
        for path in settings.paths {
            do {
                return try await exchange(request, over: path, key: key)
            } catch let error as PeerProtocolError {
                throw error
            } catch {
                lastError = PathError(path: path, port: settings.port, underlying: error)
            }
        }
        throw lastError
    }

    /// - Parameters:
    ///   - localVersion: serial and digest of the config in force (cheap: called every poll).
    ///   - reload: the daemon's SIGHUP path (re-reads the config file, applies it if valid).
    ///   - inForce: the text of the config in force with its serial and digest, when known
    ///     (`ConfigStore.text`); nil makes the service read and parse the file to check it.
    ///   - stage: hands a fetched, validated config to the store before it is written, so the
    ///     reload that follows need not parse it again (`ConfigStore.stage`).
    ///   - answer: gives `NodeState` (through the heartbeat loop) what a fetch or write found.
    ///   - key: the heartbeat key; nil turns replication off (reported in `status()`).
    ///   - keysInForce: the heartbeat keys now (a reload may replace them), read at every
    ///     connection; nil (or returning nil) keeps `key` alone.
    public init(settings: ReplicationSettings, key: HeartbeatKey?,
                keysInForce: (@Sendable () -> HeartbeatKeySet?)? = nil,
                localVersion: @escaping @Sendable () -> ConfigVersion,
                reload: @escaping @Sendable () -> Void,
                inForce: @escaping @Sendable () -> ConfigSnapshot? = { nil },
                stage: @escaping @Sendable (ConfigSnapshot, Config) -> Void = { _, _ in },
                answer: @escaping @Sendable (NodeEvent) -> Void,
                logger: Logger, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                clock: any TandemClock = MonotonicClock()) {
        self.clock = clock
        self.settings = settings
        self.key = key
        self.keysInForce = keysInForce
        self.localVersion = localVersion
        self.reloadFile = reload
        self.inForce = inForce
        self.stage = stage
        self.answer = answer
        self.logger = logger
        self.group = group
        if key == nil {
            state.withLock {
                $0.status = ReplicationStatus(enabled: false, disabledReason: "heartbeats are not authenticated (auth: none); configure heartbeat.key_file on both nodes to mirror the config")
            }
        }
    }

    /// A snapshot of replication's state (any thread).
    public func status() -> ReplicationStatus { state.withLock { $0.status } }

    public func fetch(_ version: ConfigVersion) { jobs.continuation.yield(.fetch(version)) }
    public func write(_ version: ConfigVersion) { jobs.continuation.yield(.write(version)) }
    public func reload() { jobs.continuation.yield(.reload) }

    public func restore(_ version: ConfigVersion) { jobs.continuation.yield(.restore(version)) }

    public func record(serial: UInt64, result: String, succeeded: Bool) {
        state.withLock { if succeeded { $0.status.fetches += 1 } else { $0.status.fetchFailures += 1 } }
        record(.fetched, serial: serial, result: result, succeeded: succeeded)
    }

    public func conflict(local: ConfigVersion?, peer: ConfigVersion?) {
        state.withLock {
            $0.status.conflict = local != nil
            $0.status.localDigest = local?.digest.description
            $0.status.peerDigest = peer?.digest.description
        }
    }

    /// Listens on one path address and serves the peer's fetches there. An address that cannot
    /// be bound yet (not configured at start, say, or the port taken) is retried, 1 s after the
    /// first failure and up to 30 s apart, until it can: the heartbeat path comes back with the
    /// address, and so must the config channel. Logged at the first failure and when it listens.
    private func listen(on address: IPAddress, key: HeartbeatKey) async {
        var delay: Duration = .seconds(1)
        var failed = false
        while !Task.isCancelled {
            do {
                let server = try await ServerBootstrap(group: group)
                    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                    .bind(host: address.description, port: Int(settings.port)) { channel in
                        channel.eventLoop.makeCompletedFuture {
                            try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                        }
                    }
                state.withLock { _ = $0.status.notListening.removeValue(forKey: address.description) }
                logger.info("config replication listening on TCP \(address) port \(settings.port)\(failed ? " (after retrying)" : "")")
                await accept(on: server, key: key)
                return
            } catch {
                let why = SocketErrorText.describe(error)
                if !failed {
                    logger.error("config replication: cannot listen on TCP \(address) port \(settings.port): \(why); the peer cannot fetch this node's config over this path until it can (retrying)")
                }
                failed = true
                state.withLock { $0.status.notListening[address.description] = why }
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(30))
            }
        }
    }

    public func run() async throws {
        guard let key else {
            logger.warning("config replication is off: heartbeats are not authenticated (auth: none); keep the two config files identical by hand")
            try? await gracefulShutdown()
            return
        }
        _ = snapshotInForce()
        try? await cancelWhenGracefulShutdown {
            try await withThrowingDiscardingTaskGroup { tasks in
                for path in self.settings.paths {
                    tasks.addTask { await self.listen(on: path.local, key: key) }
                }
                tasks.addTask {
                    for await job in self.jobs.stream { await self.perform(job, key: key) }
                }
                tasks.addTask {
                    for await offer in self.offers.stream { await self.offer(offer.list, request: offer.request) }
                }
            }
        }
    }

    // MARK: - Server

    private func accept(on server: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>, key: HeartbeatKey) async {
        let listener = server.channel
        await withTaskCancellationHandler {
            do {
                try await server.executeThenClose { inbound in
                    try await withThrowingDiscardingTaskGroup { connections in
                        for try await connection in inbound {
                            let admitted = state.withLock { s -> Bool in
                                guard s.connections < settings.maximumConnections else { return false }
                                s.connections += 1
                                return true
                            }
                            guard admitted else {
                                // Closed through its wrapper: a wrapper dropped before its channel
                                // is active leaves NIO the last reference to its writer, which
                                // traps ("Deinited NIOAsyncWriter without calling finish()"): a
                                // node resumed after a pause with more connections queued than
                                // this limit crashed.
                                connections.addTask { try? await connection.executeThenClose { _, _ in } }
                                continue
                            }
                            connections.addTask {
                                await self.serve(connection, key: key)
                                self.state.withLock { $0.connections -= 1 }
                            }
                        }
                    }
                }
            } catch {
                if !Task.isCancelled { logger.error("config replication: listener \(listener.localAddress?.description ?? "?") failed: \(error)") }
            }
        } onCancel: {
            listener.close(promise: nil)
        }
    }

    private func serve(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>, key: HeartbeatKey) async {
        let channel = connection.channel
        let remote = channel.remoteAddress?.ipAddress ?? "?"
        let handshakeDeadline = channel.eventLoop.scheduleTask(in: settings.handshakeTimeout) { channel.close(promise: nil) }
        let idleDeadline = channel.eventLoop.scheduleTask(in: settings.exchangeTimeout) { channel.close(promise: nil) }
        defer {
            handshakeDeadline.cancel()
            idleDeadline.cancel()
        }
        do {
            try await withTaskCancellationHandler {
                try await connection.executeThenClose { inbound, outbound in
                    var peer = PeerConnection(inbound: inbound, outbound: outbound)
                    var handshake = PeerHandshakeServer(key: keysInForce?()?.current ?? key, name: settings.nodeName,
                                                        peerName: settings.peerName,
                                                        nonce: Self.randomNonce())
                    let hello = try await peer.read()
                    try await peer.write(try handshake.helloReceived(hello))
                    let proof: [UInt8]
                    do {
                        proof = try await peer.read()
                    } catch is PeerConnectionClosed {
                        throw PeerProtocolError.authenticationFailed("the peer hung up instead of proving the key; it could not verify this node's proof, so the keys differ")
                    }
                    var session: PeerSession
                    do {
                        session = try handshake.proofReceived(proof)
                    } catch {
                        try? await peer.write(PeerHandshake.verdict(refusal: "authentication failed"))
                        throw error
                    }
                    try await peer.write(PeerHandshake.verdict(refusal: nil))
                    handshakeDeadline.cancel()
                    peer.setLimit(4096)
                    while true {
                        let body: [UInt8]
                        do {
                            let frame = try await peer.read()
                            body = try session.open(frame)
                        } catch is PeerConnectionClosed {
                            return
                        }
                        let response = await respond(to: body, from: remote)
                        try await peer.write(session.seal(PeerMessageCoding.encode(response)))
                    }
                }
            } onCancel: {
                channel.close(promise: nil)
            }
        } catch let error as PeerProtocolError {
            switch error {
            case .authenticationFailed, .unexpectedPeer:
                let count = state.withLock { s -> UInt64 in
                    s.status.authenticationFailures += 1
                    return s.status.authenticationFailures
                }
                logLimited("auth", "config replication: refused a connection from \(remote): \(error) (\(count) authentication failures so far)")
            default:
                logLimited("protocol", "config replication: connection from \(remote) dropped: \(error)")
            }
        } catch {
            logLimited("io", "config replication: connection from \(remote) ended: \(SocketErrorText.describe(error))")
        }
    }

    /// The answer to one request. Adding a `PeerRequest` case means adding its case here.
    private func respond(to body: [UInt8], from remote: String) async -> PeerResponse {
        let request: PeerRequest
        do {
            request = try PeerMessageCoding.decode(PeerRequest.self, from: body)
        } catch {
            return .failure("unsupported request (\(error)): run the same tandemd version on both nodes")
        }
        switch request {
        case .fetchConfig:
            guard let snapshot = snapshotInForce() else {
                let why = "\(settings.configPath) differs from the config in force (an edit not yet reloaded, or an invalid file): nothing served until it is reloaded"
                record(.served, serial: 0, result: why, succeeded: false)
                logLimited("serve", "config replication: \(settings.peerName) asked for the config: \(why)")
                return .failure(why)
            }
            record(.served, serial: snapshot.serial, result: "served", succeeded: true)
            state.withLock { $0.status.serves += 1 }
            logger.notice("config replication: served config serial \(snapshot.serial) (digest \(snapshot.digest.prefix(16))) to \(settings.peerName) at \(remote)")
            return .config(snapshot)
        case .drains(let list):
            guard let handler = drainHandler.withLock({ $0 }) else { return .failure("drains are not handled here") }
            return await handler(list)
        case .keyFingerprints:
            guard let keys = keysInForce?() else { return .failure("this node holds no heartbeat key in force") }
            return .keys(KeyFingerprints(current: keys.current.fingerprint, next: keys.next?.fingerprint))
        }
    }

    /// The text of the config in force: the store's copy when it has one; else the cached copy
    /// if its digest is the one in force, else the file if it parses to the config in force,
    /// else nil (never an edit that is not in force, never an invalid file).
    func snapshotInForce() -> ConfigSnapshot? {
        if let known = inForce() { return known }
        let local = localVersion()
        if let cached = state.withLock({ $0.served }), HeartbeatMessage.ConfigDigest(hex: cached.digest) == local.digest {
            return cached
        }
        guard let data = FileManager.default.contents(atPath: settings.configPath),
              let text = String(data: data, encoding: .utf8),
              let config = try? ConfigParser.parse(yaml: text) else { return nil }
        let digest = config.digest
        guard HeartbeatMessage.ConfigDigest(hex: digest) == local.digest else { return nil }
        let snapshot = ConfigSnapshot(text: text, serial: config.serial, digest: digest)
        state.withLock { $0.served = snapshot }
        return snapshot
    }

    // MARK: - Client: the executor of NodeState's replication effects

    /// One replication effect, carried out in order by `run()`'s job task.
    enum Job: Sendable {
        case fetch(ConfigVersion)
        case write(ConfigVersion)
        case reload
        case restore(ConfigVersion)
    }

    private func perform(_ job: Job, key: HeartbeatKey) async {
        switch job {
        case .fetch(let target):
            answer(.peerConfigFetched(await fetchAndRead(key: key), sentAs: target))
        case .write(let target):
            answer(.configWritten(target, failure: writeFetched(target)))
        case .reload:
            reloadFile()
        case .restore(let refused):
            restoreFile(refusing: refused)
        }
    }

    /// Fetches the peer's config and reads it (parse and validate, as `check-config` does); keeps
    /// a valid one for `write`.
    private func fetchAndRead(key: HeartbeatKey) async -> ConfigBook.Fetched {
        let snapshot: ConfigSnapshot
        do {
            snapshot = try await fetch(key: key)
        } catch {
            if let protocolError = error as? PeerProtocolError {
                switch protocolError {
                case .authenticationFailed, .unexpectedPeer, .refused:
                    state.withLock { $0.status.authenticationFailures += 1 }
                default: break
                }
            }
            return .unreachable("cannot fetch the config of \(settings.peerName): \(error)")
        }
        let bytes = snapshot.text.utf8.count
        guard bytes <= PeerFrame.maximumConfigBytes else { return .invalid(bytes: bytes, reason: "too large") }
        let config: Config
        do {
            config = try ConfigParser.parse(yaml: snapshot.text)
        } catch {
            return .invalid(bytes: bytes, reason: "\(error)")
        }
        let version = ConfigVersion(config)
        state.withLock { $0.fetched = (version, snapshot, config) }
        return .config(version, bytes: bytes, nodes: config.nodes.map(\.name), peerOfThisNode: config.peer(of: settings.nodeName)?.name)
    }

    /// Writes the config fetched as `target` over the config file (staged in the store first, so
    /// the reload that follows need not parse it again); nil, or why it failed.
    private func writeFetched(_ target: ConfigVersion) -> String? {
        guard let (version, snapshot, config) = state.withLock({ $0.fetched }), version == target else {
            return "no fetched config of \(target) to write"
        }
        stage(snapshot, config)
        do {
            try AtomicFileWriter.write(Array(snapshot.text.utf8), to: settings.configPath)
        } catch {
            return "\(error)"
        }
        state.withLock {
            $0.served = snapshot
            $0.fetched = nil
        }
        return nil
    }

    /// Puts the config file back as it was before the peer's config `refused` was written over
    /// it (`AtomicFileWriter.restorePrevious`: the write's `<file>.prev` renamed back, the refused
    /// one kept as `<file>.refused`). A refused config left in the file would be loaded at the
    /// next start (a VIP interface this router lacks: fault). A failure is logged with what to
    /// do by hand.
    private func restoreFile(refusing refused: ConfigVersion) {
        let path = settings.configPath
        let kept = path + ".refused"
        do {
            try AtomicFileWriter.restorePrevious(of: path, keepingCurrentAs: kept)
            let text = "config replication: \(path) is back as it was before \(settings.peerName)'s refused config serial \(refused.serial) "
                + "was written over it (that one is kept as \(kept))"
            logger.notice("\(text)")
            restoredHandler.withLock { $0 }?()
        } catch {
            let text = "config replication: cannot put \(path) back as it was (\(error)): it holds \(settings.peerName)'s refused config "
                + "serial \(refused.serial), which this router would load at its next start; write this node's own config there "
                + "(tandemctl status shows the serial in force) before it restarts"
            logger.error("\(text)")
        }
    }

    /// Fetches the peer's config over the first path that answers.
    private func fetch(key: HeartbeatKey) async throws -> ConfigSnapshot {
        var lastError: any Error = PeerConnectionClosed()
        for path in settings.paths {
            do {
                return try await fetch(over: path, key: key)
            } catch let error as PeerProtocolError {
                throw error  // the peer answered: another path would answer the same
            } catch let refusal as PeerRefusal {
                throw refusal
            } catch {
                lastError = PathError(path: path, port: settings.port, underlying: error)
            }
        }
        throw lastError
    }

    private func fetch(over path: HeartbeatPath, key: HeartbeatKey) async throws -> ConfigSnapshot {
        switch try await exchange(.fetchConfig, over: path, key: key) {
        case .config(let snapshot): return snapshot
        case .failure(let why): throw PeerRefusal(reason: why)
        case .accepted(let text): throw PeerRefusal(reason: "unexpected answer to a config fetch: \(text)")
        case .keys: throw PeerRefusal(reason: "unexpected answer to a config fetch: key fingerprints")
        }
    }

    /// Connects over `path`, authenticates both ways, sends `request` and returns the answer.
    private func exchange(_ request: PeerRequest, over path: HeartbeatPath, key: HeartbeatKey) async throws -> PeerResponse {
        let connection = try await ClientBootstrap(group: group)
            .connectTimeout(settings.connectTimeout)
            .bind(to: try SocketAddress(ipAddress: path.local.description, port: 0))
            .connect(host: path.peer.description, port: Int(settings.port)) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        let channel = connection.channel
        let deadline = channel.eventLoop.scheduleTask(in: settings.exchangeTimeout) { channel.close(promise: nil) }
        defer { deadline.cancel() }
        return try await withTaskCancellationHandler {
            try await connection.executeThenClose { inbound, outbound in
                var peer = PeerConnection(inbound: inbound, outbound: outbound)
                let keys = keysInForce?().map { [$0.current] + ($0.next.map { [$0] } ?? []) } ?? [key]
                let handshake = PeerHandshakeClient(keys: keys, name: settings.nodeName, peerName: settings.peerName,
                                                    nonce: Self.randomNonce())
                try await peer.write(handshake.hello())
                let challenge = try await peer.read()
                let (proof, established) = try handshake.challengeReceived(challenge)
                var session = established
                try await peer.write(proof)
                let verdict = try await peer.read()
                try PeerHandshake.verdictReceived(verdict)
                try await peer.write(session.seal(PeerMessageCoding.encode(request)))
                peer.setLimit(PeerFrame.maximumLength)
                let answer = try await peer.read()
                return try PeerMessageCoding.decode(PeerResponse.self, from: try session.open(answer))
            }
        } onCancel: {
            channel.close(promise: nil)
        }
    }

    // MARK: - Helpers

    static func randomNonce() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<PeerHandshake.nonceLength).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }

    private func record(_ direction: ReplicationStatus.Event.Direction, serial: UInt64, result: String, succeeded: Bool) {
        let event = ReplicationStatus.Event(when: Date(timeIntervalSince1970: Double(clock.wallNanoseconds()) / 1e9), direction: direction, peer: settings.peerName, serial: serial,
                                            result: result, succeeded: succeeded)
        state.withLock { $0.status.lastReplication = event }
    }

    /// Logs at most 3 lines per `kind` and 10 seconds, so a peer hammering with the wrong key
    /// cannot flood the log; the suppressed count goes into the next line.
    private func logLimited(_ kind: String, _ message: String) {
        let now = clock.now()
        let (show, suppressed) = state.withLock { s -> (Bool, Int) in
            var entry = s.logBudget[kind] ?? (0, now)
            var suppressed = 0
            if now.nanoseconds(since: entry.windowStart) >= 10_000_000_000 {
                suppressed = max(0, entry.count - 3)
                entry = (0, now)
            }
            entry.count += 1
            s.logBudget[kind] = entry
            return (entry.count <= 3, suppressed)
        }
        guard show else { return }
        logger.warning("\(message)\(suppressed > 0 ? " (\(suppressed) similar lines suppressed)" : "")")
    }
}

/// The peer answered the request with a refusal.
struct PeerRefusal: Error, CustomStringConvertible {
    var reason: String
    var description: String { "the peer did not serve its config: \(reason)" }
}

/// A path on which the peer could not be reached.
struct PathError: Error, CustomStringConvertible {
    var path: HeartbeatPath
    var port: UInt16
    var underlying: any Error
    var description: String { "\(path.peer) TCP port \(port) (from \(path.local)): \(SocketErrorText.describe(underlying))" }
}
