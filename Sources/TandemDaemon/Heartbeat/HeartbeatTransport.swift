import Glibc
import Synchronization
import TandemCore
import TandemKernel

/// Where heartbeats go: path `i` binds this node's `i`-th heartbeat address and sends to the
/// peer's `i`-th (paths beyond the shorter list are unused), all on one UDP port.
public struct HeartbeatPath: Sendable, Hashable, CustomStringConvertible {
    public var index: Int
    public var local: IPAddress
    public var peer: IPAddress

    public init(index: Int, local: IPAddress, peer: IPAddress) {
        self.index = index
        self.local = local
        self.peer = peer
    }

    /// The paths between `node` and `peer` of one config.
    public static func paths(node: Node, peer: Node) -> [HeartbeatPath] {
        zip(node.heartbeatAddresses, peer.heartbeatAddresses).enumerated().map { index, pair in
            HeartbeatPath(index: index, local: pair.0, peer: pair.1)
        }
    }

    public var description: String { "path \(index) \(local) -> \(peer)" }
}

/// What goes into every packet besides the election's part.
public struct HeartbeatIdentity: Sendable, Hashable {
    public var nodeName: String
    public var bootEpoch: UInt64
    public var configSerial: UInt64
    public var configDigest: HeartbeatMessage.ConfigDigest
    public var intervalMilliseconds: UInt32

    public init(nodeName: String, bootEpoch: UInt64, configSerial: UInt64, configDigest: HeartbeatMessage.ConfigDigest,
                intervalMilliseconds: UInt32) {
        self.nodeName = nodeName
        self.bootEpoch = bootEpoch
        self.configSerial = configSerial
        self.configDigest = configDigest
        self.intervalMilliseconds = intervalMilliseconds
    }

    /// Identity for `config`, with the config's digest (hex) as bytes. `Config.digest` is 64 hex
    /// digits by construction (SHA-256); anything else is a programming error and traps rather
    /// than being sent as some other digest.
    public init(config: Config, nodeName: String, bootEpoch: UInt64) {
        let hex = config.digest
        guard let digest = HeartbeatMessage.ConfigDigest(hex: hex) else {
            preconditionFailure("the config digest \"\(hex)\" is not 64 hex digits")
        }
        self.init(nodeName: nodeName, bootEpoch: bootEpoch, configSerial: config.serial, configDigest: digest,
                  intervalMilliseconds: UInt32(clamping: config.heartbeat.interval.milliseconds))
    }
}

/// Sends packet rounds on every path. One round = one sequence number, one copy per path.
public protocol HeartbeatSending: AnyObject {
    /// Sends one round. Returns the paths on which sending fails persistently (path index → the
    /// error, worded for a log line); a path that sent, or failed only transiently, is absent.
    @discardableResult
    func send(_ outgoing: Election.Outgoing) -> [Int: String]
}

/// Builds the packets of a round; pure, so the encoding of rounds is tested without sockets.
public struct HeartbeatRoundBuilder: Sendable {
    public var identity: HeartbeatIdentity { didSet { packets = [] } }
    public private(set) var sequence: UInt64 = 0
    /// Signs every packet; replaced when a reload brings new keys.
    var authenticator: (any HeartbeatAuthenticator)? { didSet { packets = [] } }
    /// The last round's packets, one per path: the next round rewrites only what changes in
    /// them (`HeartbeatCodec.rewrite`); encoded anew after the identity, the keys or the
    /// advertised interval change.
    private var packets: [[UInt8]] = []
    /// The interval field of `packets`, ms.
    private var packetsInterval: UInt32 = 0
    /// Whether `packets` carry a send time.
    private var packetsTimed = false

    public init(identity: HeartbeatIdentity, authenticator: (any HeartbeatAuthenticator)?) {
        self.identity = identity
        self.authenticator = authenticator
    }

    /// The next round: one encoded packet per path index in `0 ..< pathCount`, each carrying
    /// `sentAtNanoseconds` (this node's monotonic clock now) when given: nil leaves the field
    /// out, for a peer that does not take it (`HeartbeatVerifier.peerTakesSendTime`).
    public mutating func nextRound(_ outgoing: Election.Outgoing, pathCount: Int, sentAtNanoseconds: UInt64? = nil) -> [[UInt8]] {
        sequence += 1
        let interval = Self.interval(of: outgoing, identity: identity)
        if packets.count == pathCount, packetsInterval == interval, packetsTimed == (sentAtNanoseconds != nil) {
            for index in packets.indices {
                HeartbeatCodec.rewrite(&packets[index], kind: outgoing.kind, sequence: sequence, role: outgoing.role,
                                       priority: outgoing.priority, sentAtNanoseconds: sentAtNanoseconds,
                                       authenticator: authenticator)
            }
            return packets
        }
        packets = (0..<pathCount).compactMap { index in
            let message = HeartbeatMessage(kind: outgoing.kind, sender: identity.nodeName, bootEpoch: identity.bootEpoch,
                                           sequence: sequence, role: outgoing.role, priority: outgoing.priority,
                                           configSerial: identity.configSerial, configDigest: identity.configDigest,
                                           pathIndex: UInt8(clamping: index),
                                           intervalMilliseconds: interval, sentAtNanoseconds: sentAtNanoseconds)
            return try? HeartbeatCodec.encode(message, authenticator: authenticator)
        }
        packetsInterval = interval
        packetsTimed = sentAtNanoseconds != nil
        return packets
    }

    /// The interval a round of `outgoing` advertises, ms: the election's when it keeps another
    /// than the configured one (a following standby), else the identity's.
    public static func interval(of outgoing: Election.Outgoing, identity: HeartbeatIdentity) -> UInt32 {
        outgoing.intervalMilliseconds(configured: identity.intervalMilliseconds)
    }
}

/// Heartbeat packets (rounds, epoch challenges and answers) handed to the kernel per path, and
/// sends the kernel refused, since start. Written on the heartbeat thread, read by the metrics.
public final class HeartbeatSendCounters: Sendable {
    public struct PathCounts: Sendable, Hashable {
        public var sent: UInt64 = 0
        public var failed: UInt64 = 0

        public init(sent: UInt64 = 0, failed: UInt64 = 0) {
            self.sent = sent
            self.failed = failed
        }
    }

    private let counts: Mutex<[PathCounts]>

    public init(pathCount: Int) { counts = Mutex(Array(repeating: PathCounts(), count: pathCount)) }

    func record(path index: Int, failed: Bool) {
        counts.withLock { counts in
            guard counts.indices.contains(index) else { return }
            if failed { counts[index].failed += 1 } else { counts[index].sent += 1 }
        }
    }

    /// In path order.
    public var perPath: [PathCounts] { counts.withLock { $0 } }
}

/// The live transport: one bound socket per path. Confined to the heartbeat thread.
final class UDPHeartbeatTransport: HeartbeatSending {
    let paths: [HeartbeatPath]
    let sockets: [HeartbeatSocket]
    /// Each path's peer address and port as `sendto` takes it, built once.
    private let destinations: [PreparedSocketAddress]
    let sendCounters: HeartbeatSendCounters
    var builder: HeartbeatRoundBuilder
    /// errno of the last failed send per path; nil once a send succeeds.
    private(set) var lastSendErrno: [Int32?]
    var onSendError: (HeartbeatPath, Int32) -> Void = { _, _ in }
    /// Hears, after each round, how much later than one interval (the one the previous round
    /// advertised) after the previous round it went out (zero when on time or early, as rounds an event sends at once are): the
    /// heartbeat thread's send lateness, for the metrics. Set before the loop starts.
    var onRoundLateness: (@Sendable (Duration) -> Void)?
    var clock: any TandemClock = MonotonicClock()
    /// Whether rounds carry their send time (the heartbeat loop sets it from
    /// `HeartbeatVerifier.peerTakesSendTime` after every packet it reads).
    var sendsTime = true
    private var lastRound: MonotonicInstant?
    /// The interval the last round advertised, ms: the next round is late after that long.
    private var lastRoundInterval: UInt32 = 0

    init(paths: [HeartbeatPath], port: UInt16, builder: HeartbeatRoundBuilder) throws(PosixError) {
        self.paths = paths
        var sockets: [HeartbeatSocket] = []
        for path in paths { sockets.append(try HeartbeatSocket(local: path.local, port: port)) }
        self.sockets = sockets
        destinations = paths.map { PreparedSocketAddress($0.peer, port: port) }
        self.builder = builder
        sendCounters = HeartbeatSendCounters(pathCount: paths.count)
        lastSendErrno = Array(repeating: nil, count: paths.count)
    }

    /// Sends one packet (an epoch challenge or answer) on path `index` to the peer's address of
    /// that path (never to a packet's source address, so a forged source cannot redirect it).
    func send(_ bytes: [UInt8], onPath index: Int) {
        guard sockets.indices.contains(index) else { return }
        let code = sockets[index].send(bytes, to: destinations[index])
        sendCounters.record(path: index, failed: code != nil)
        if let code {
            if lastSendErrno[index] != code { onSendError(paths[index], code) }
            lastSendErrno[index] = code
        }
    }

    @discardableResult
    func send(_ outgoing: Election.Outgoing) -> [Int: String] {
        let now = clock.now()
        if onRoundLateness != nil {
            if let lastRound {
                // Late against what the previous round promised: a following standby's rounds
                // are a standby interval apart.
                let gap = now.nanoseconds(since: lastRound), interval = UInt64(lastRoundInterval) * 1_000_000
                onRoundLateness?(.nanoseconds(Int64(clamping: gap > interval ? gap - interval : 0)))
            }
            lastRound = now
            lastRoundInterval = HeartbeatRoundBuilder.interval(of: outgoing, identity: builder.identity)
        }
        let packets = builder.nextRound(outgoing, pathCount: paths.count, sentAtNanoseconds: sendsTime ? now.nanoseconds : nil)
        for (index, packet) in packets.enumerated() {
            let code = sockets[index].send(packet, to: destinations[index])
            sendCounters.record(path: index, failed: code != nil)
            if let code {
                // Report a path's failure when it starts failing (or its errno changes), not every round.
                if lastSendErrno[index] != code { onSendError(paths[index], code) }
                lastSendErrno[index] = code
            } else {
                lastSendErrno[index] = nil
            }
        }
        var failing: [Int: String] = [:]
        for (index, code) in lastSendErrno.enumerated() {
            if let code, !Self.isTransient(code) { failing[index] = "\(String(cString: strerror(code))) (errno \(code))" }
        }
        return failing
    }

    /// Send errors that say nothing about this node's ability to reach the peer: a full socket
    /// or device queue (EAGAIN, ENOBUFS: net/core/dev.c, net/ipv4/ip_output.c) and interrupted
    /// calls. Every other error — no route (ENETUNREACH), no source address (EADDRNOTAVAIL,
    /// EINVAL), a blackhole, prohibit or unreachable route (EINVAL, EACCES, EHOSTUNREACH,
    /// net/ipv4/fib_semantics.c `fib_props`), a firewall drop (EPERM), a link that is down
    /// (ENETDOWN) — means this node cannot send on the path.
    static func isTransient(_ code: Int32) -> Bool {
        code == EAGAIN || code == EWOULDBLOCK || code == ENOBUFS || code == EINTR
    }
}
