#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization
import TandemCore
import TandemKernel

/// Who is on the other end of a control connection (`SO_PEERCRED`).
public struct ControlClient: Sendable, Hashable, CustomStringConvertible {
    public var pid: Int32
    public var uid: UInt32
    public var gid: UInt32
    /// Root, or a member of the control group: may change state.
    public var mayChangeState: Bool

    public var description: String { "uid \(uid) pid \(pid)" }
}

/// Carries out control commands; `ControlCenter` is the daemon's.
public protocol ControlHandling: Sendable {
    func handle(_ command: ControlCommand, from client: ControlClient) async -> ControlResponse
    /// Every event from now on, for `events`.
    func events() -> AsyncStream<ControlEvent>
}

/// The control socket: a Unix stream socket speaking `ControlProtocol` (newline-delimited JSON),
/// served on its own event loop, never the heartbeat thread.
///
/// - The socket is mode 0666 so anyone may read status; who may change state is decided per
///   connection from the peer's credentials (`SO_PEERCRED`): root, or members of `group`.
///   Restrict readers with the directory's permissions if status must be private.
/// - A request line longer than `ControlProtocol.maximumRequestBytes`, or no first request within
///   10 s, closes the connection (with an error line when possible); malformed requests get an
///   error and the connection stays usable. At most 64 connections at once.
/// - A live socket at the path (another tandemd) stops the start-up; a stale one is replaced.
/// The control group in force: besides root, its members may change state. Resolved when set
/// (start-up, and each reload that changes `control.group`), so a missing group is reported then.
public final class ControlGroup: Sendable {
    private let state = Mutex<(name: String?, id: gid_t?)>((nil, nil))

    public init(_ name: String?, logger: Logger) { set(name, logger: logger) }

    /// Puts `name` in force (nil: root only); a group that does not exist admits nobody but root.
    public func set(_ name: String?, logger: Logger) {
        var id: gid_t?
        if let name {
            let entry = getgrnam(name)
            id = entry?.pointee.gr_gid
            if entry == nil {
                logger.warning("control group \(name) does not exist: only root may change state (create the group or fix control.group)")
            }
        }
        state.withLock { $0 = (name, id) }
    }

    var current: (name: String?, id: gid_t?) { state.withLock { $0 } }
}

public final class ControlServer: Service, Sendable {
    private let path: String
    private let group: ControlGroup
    private let handler: any ControlHandling
    private let logger: Logger
    private let connections = Atomic<Int>(0)
    static let maximumConnections = 64
    static let firstRequestTimeout = TimeAmount.seconds(10)

    /// Resolves the control group now, so a missing group is reported at start-up.
    public convenience init(path: String, group: String?, handler: any ControlHandling, logger: Logger) {
        self.init(path: path, group: ControlGroup(group, logger: logger), handler: handler, logger: logger)
    }

    /// `group` may be changed while the server runs (a reload); each connection is judged by
    /// the group in force when it connects.
    public init(path: String, group: ControlGroup, handler: any ControlHandling, logger: Logger) {
        self.path = path
        self.group = group
        self.handler = handler
        self.logger = logger
    }

    /// Creates the socket's directory and removes a stale socket; throws if a daemon answers there.
    public static func prepare(path: String) throws(DaemonStartError) {
        let directory = PathText.directory(of: path)
        if !directory.isEmpty {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o755])
            } catch {
                throw DaemonStartError(description: "cannot create the control socket's directory \(directory): \(FileErrorText.describe(error))", exitCode: 73)
            }
        }
        guard let info = try? Posix.linkStatus(of: path) else { return }
        guard (info.st_mode & S_IFMT) == S_IFSOCK else {
            throw DaemonStartError(description: "control socket path \(path) exists and is not a socket: remove it or change control.socket", exitCode: 73)
        }
        if socketAnswers(path) {
            throw DaemonStartError(description: "another tandemd is serving the control socket \(path): stop it first, or give this one another control.socket", exitCode: 73)
        }
        do {
            try Posix.unlinkIfPresent(path)
        } catch {
            throw DaemonStartError(description: "\(error.with(operation: "remove the stale control socket"))", exitCode: 73)
        }
    }

    static func socketAnswers(_ path: String) -> Bool {
        guard let fd = try? Posix.connectUnixSocket(path: path, type: Int32(SOCK_STREAM.rawValue)) else { return false }
        Posix.close(fd)
        return true
    }

    public func run() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 32)
            .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: false) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(FirstRequestTimeoutHandler(timeout: Self.firstRequestTimeout))
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(ControlLineDecoder(maximum: ControlProtocol.maximumRequestBytes)))
                    let wrapped = try NIOAsyncChannel<ControlInbound, ByteBuffer>(wrappingChannelSynchronously: channel)
                    return ControlConnection(channel: wrapped, raw: channel)
                }
            }
        do {
            try Posix.changeMode(of: path, to: 0o666)
        } catch {
            logger.warning("\(error): only root may connect to the control socket")
        }
        logger.info("control socket listening on \(path)")
        // The accept loop runs until the process exits. At graceful shutdown the socket's path is
        // removed (new clients get ENOENT) but the listener is not closed: connections already
        // queued are still served (refused once the node has stopped), and none is dropped
        // unfinished, which NIO traps on ("Deinited NIOAsyncWriter without calling finish()": a
        // connection accepted as the listener closes). Event followers end with the event hub.
        let acceptor = Task {
            try? await withThrowingDiscardingTaskGroup { tasks in
                try await server.executeThenClose { inbound in
                    for try await connection in inbound {
                        tasks.addTask { await self.serve(connection) }
                    }
                }
            }
        }
        try? await gracefulShutdown()
        try? Posix.unlinkIfPresent(path)
        if Task.isCancelled { acceptor.cancel() }
    }

    private func serve(_ connection: ControlConnection) async {
        let count = connections.wrappingAdd(1, ordering: .relaxed).newValue
        defer { connections.wrappingSubtract(1, ordering: .relaxed) }
        let client = await credentials(of: connection.raw)
        do {
            try await connection.channel.executeThenClose { inbound, outbound in
                func send(_ response: ControlResponse) async throws {
                    try await outbound.write(ByteBuffer(bytes: ControlProtocol.line(response)))
                }
                guard count <= Self.maximumConnections else {
                    try await send(.failure(.refused("too many control connections (\(Self.maximumConnections)): try again")))
                    return
                }
                guard let client else {
                    try await send(.failure(.notAuthorized("cannot read the caller's credentials (SO_PEERCRED)")))
                    return
                }
                var lines = inbound.makeAsyncIterator()
                while let item = try await lines.next() {
                    guard case .line(let buffer) = item else {
                        logger.warning("control: request from \(client) longer than \(ControlProtocol.maximumRequestBytes) bytes: connection closed")
                        try await send(.failure(.badRequest("request line longer than \(ControlProtocol.maximumRequestBytes) bytes")))
                        return
                    }
                    let command: ControlCommand
                    do {
                        command = try ControlRequest.parse(buffer.readableBytesView)
                    } catch let error as ControlProtocolError {
                        logger.info("control: bad request from \(client): \(error)")
                        try await send(.failure(error))
                        continue
                    }
                    if command.changesState && !client.mayChangeState {
                        let who = group.current.name.map { "root or members of group \($0)" } ?? "root"
                        logger.warning("control: \(command.name) refused for \(client): only \(who) may change state")
                        try await send(.failure(.notAuthorized("\(command.name) changes state: only \(who) may do that (you are uid \(client.uid))")))
                        continue
                    }
                    if case .events = command {
                        try await send(ControlResponse(message: "following events; close the connection to stop"))
                        try await streamEvents(to: outbound, until: lines)
                        return
                    }
                    try await send(await handler.handle(command, from: client))
                }
            }
        } catch {
            logger.debug("control connection ended: \(error)")
        }
    }

    /// Writes events until the client closes (its side of the stream ends) or shutdown.
    private func streamEvents(to outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>,
                              until remaining: NIOAsyncChannelInboundStream<ControlInbound>.AsyncIterator) async throws {
        let stream = handler.events()
        var lines = remaining
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                for await event in stream {
                    var response = ControlResponse()
                    response.event = event
                    try await outbound.write(ByteBuffer(bytes: ControlProtocol.line(response)))
                }
            }
            // The client sends nothing more; its end of the stream is the signal to stop.
            while try await lines.next() != nil {}
            tasks.cancelAll()
        }
    }

    private func credentials(of channel: any Channel) async -> ControlClient? {
        guard let provider = channel as? any SocketOptionProvider else { return nil }
        guard let cred: PeerCredentials = try? await provider.unsafeGetSocketOption(level: SocketOptionLevel(SOL_SOCKET),
                                                                         name: SocketOptionName(SO_PEERCRED)).get() else { return nil }
        let allowed = cred.uid == 0 || group.current.id.map { Self.isMember(uid: cred.uid, primaryGroup: cred.gid, of: $0) } == true
        return ControlClient(pid: cred.pid, uid: cred.uid, gid: cred.gid, mayChangeState: allowed)
    }

    /// Whether `uid` (primary group `primaryGroup`) belongs to group `target`.
    static func isMember(uid: uid_t, primaryGroup: gid_t, of target: gid_t) -> Bool {
        if primaryGroup == target { return true }
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16_384)
        guard getpwuid_r(uid, &entry, &buffer, buffer.count, &result) == 0, result != nil, let name = entry.pw_name else {
            return false
        }
        var count: Int32 = 256
        var groups = [gid_t](repeating: 0, count: Int(count))
        if getgrouplist(name, primaryGroup, &groups, &count) < 0 {
            groups = [gid_t](repeating: 0, count: Int(count))
            guard getgrouplist(name, primaryGroup, &groups, &count) >= 0 else { return false }
        }
        return groups.prefix(Int(count)).contains(target)
    }
}

/// `struct ucred` (pid, uid, gid), as `SO_PEERCRED` fills it.
struct PeerCredentials: Sendable {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}

/// One accepted connection: the async wrapper and the raw channel (for `SO_PEERCRED`).
struct ControlConnection: Sendable {
    let channel: NIOAsyncChannel<ControlInbound, ByteBuffer>
    let raw: any Channel
}

/// A request line, or the news that the client sent a line that is too long.
enum ControlInbound: Sendable {
    case line(ByteBuffer)
    case tooLong
}

/// Splits the byte stream into lines ("\n", an optional "\r" before it is dropped), refusing
/// lines longer than `maximum`.
struct ControlLineDecoder: ByteToMessageDecoder {
    typealias InboundOut = ControlInbound
    let maximum: Int
    private var overflowed = false

    init(maximum: Int) { self.maximum = maximum }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        if overflowed {
            buffer.moveReaderIndex(to: buffer.writerIndex)
            return .needMoreData
        }
        if let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
            let length = newline - buffer.readerIndex
            guard length <= maximum else { return overflow(context, &buffer) }
            var line = buffer.readSlice(length: length)!
            buffer.moveReaderIndex(forwardBy: 1)
            if line.readableBytesView.last == UInt8(ascii: "\r") { line = line.getSlice(at: line.readerIndex, length: length - 1)! }
            context.fireChannelRead(wrapInboundOut(.line(line)))
            return .continue
        }
        if buffer.readableBytes > maximum { return overflow(context, &buffer) }
        return .needMoreData
    }

    private mutating func overflow(_ context: ChannelHandlerContext, _ buffer: inout ByteBuffer) -> DecodingState {
        overflowed = true
        buffer.moveReaderIndex(to: buffer.writerIndex)
        context.fireChannelRead(wrapInboundOut(.tooLong))
        return .needMoreData
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        // A last line without a newline is still a request.
        if !overflowed, buffer.readableBytes > 0, let line = buffer.readSlice(length: buffer.readableBytes) {
            context.fireChannelRead(wrapInboundOut(.line(line)))
        }
        return .needMoreData
    }
}

/// Closes a connection that sends nothing within `timeout` of connecting.
final class FirstRequestTimeoutHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    private let timeout: TimeAmount
    private var timer: Scheduled<Void>?

    init(timeout: TimeAmount) { self.timeout = timeout }

    func handlerAdded(context: ChannelHandlerContext) {
        let channel = context.channel
        timer = context.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        timer?.cancel()
        timer = nil
        context.fireChannelRead(data)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
    }
}
