import Synchronization
import NIOCore
import NIOPosix
import NIOSSL
import TandemCore
import TandemKernel

/// Runs one probe against one target and always completes, with a passed or failed result, no
/// later than the target's timeout (plus scheduling slack): a server that accepts and never
/// answers, answers garbage, closes at once or streams gigabytes ends in a failed result, and
/// never costs more than a bounded amount of memory.
public protocol HealthProber: Sendable {
    func probe(_ target: HealthTarget, on eventLoop: any EventLoop) -> EventLoopFuture<ProbeResult>
    /// The same probe, its result handed to `completion` exactly once, on `eventLoop` (before
    /// this returns when the result is known at once). The monitor calls this one; the default
    /// waits for the future above.
    func probe(_ target: HealthTarget, on eventLoop: any EventLoop, completion: @escaping @Sendable (ProbeResult) -> Void)
}

extension HealthProber {
    public func probe(_ target: HealthTarget, on eventLoop: any EventLoop, completion: @escaping @Sendable (ProbeResult) -> Void) {
        deliver(probe(target, on: eventLoop), on: eventLoop, to: completion)
    }
}

/// Hands a probe future's result to `completion` on `loop`; a failed future is a failed result.
func deliver(_ future: EventLoopFuture<ProbeResult>, on loop: any EventLoop,
             to completion: @escaping @Sendable (ProbeResult) -> Void) {
    future.hop(to: loop).whenComplete { result in
        switch result {
        case .success(let r): completion(r)
        case .failure(let error): completion(.failure("\(error)"))
        }
    }
}

/// The live prober: swift-nio sockets on the caller's event loop (no thread per check), except
/// plain TCP connect checks, which a `ConnectPoller` runs on the same loop without a channel
/// (and, through `probe(_:on:completion:)`, without a promise);
/// and `posix_spawn` (through Foundation's `Process`) for exec checks.
public struct NIOHealthProber: HealthProber {
    /// Largest HTTP response part kept (status line and headers are bounded separately).
    public static let httpBodyLimit = 64 * 1024
    /// Largest agent reply line.
    public static let agentLimit = 1024

    private let tls: TLSContexts
    private let timers: CoarseTimerRegistry
    private let connectPollers: ConnectPollerRegistry
    private let execRunner: any ChildRunning

    /// `clock` times the checks' timeouts (and the exec checks' programs).
    public init(clock: any TandemClock = MonotonicClock()) {
        tls = TLSContexts()
        timers = CoarseTimerRegistry(clock: clock)
        connectPollers = ConnectPollerRegistry()
        execRunner = SpawnChildRunner(clock: clock)
    }

    /// Plain TCP connect checks go to the loop's `ConnectPoller` (its own timeouts, no promise).
    public func probe(_ target: HealthTarget, on eventLoop: any EventLoop, completion: @escaping @Sendable (ProbeResult) -> Void) {
        if let poller = connectPoller(for: target, on: eventLoop) {
            poller.connect(to: target.address, port: target.probePort, timeout: target.check.timeout, completion: completion)
        } else {
            deliver(probe(target, on: eventLoop), on: eventLoop, to: completion)
        }
    }

    /// The loop's poller if `target` is a plain TCP connect check with a port to connect to.
    private func connectPoller(for target: HealthTarget, on eventLoop: any EventLoop) -> ConnectPoller? {
        guard case .tcp(_, nil, nil) = target.check.probe, target.probePort != 0 else { return nil }
        return connectPollers.poller(for: eventLoop, timers: timers)
    }

    public func probe(_ target: HealthTarget, on eventLoop: any EventLoop) -> EventLoopFuture<ProbeResult> {
        if let poller = connectPoller(for: target, on: eventLoop) {
            let promise = eventLoop.makePromise(of: ProbeResult.self)
            poller.connect(to: target.address, port: target.probePort, timeout: target.check.timeout) { promise.succeed($0) }
            return promise.futureResult
        }
        let timeout = TimeAmount.milliseconds(Int64(target.check.timeout.milliseconds))
        let promise = eventLoop.makePromise(of: ProbeResult.self)
        // Never cancelled (see CoarseTimers): after an earlier verdict this does nothing.
        let loopTimers = timers.timers(for: eventLoop)
        let deadline = loopTimers.now + timeout
        loopTimers.schedule(at: deadline) {
            promise.succeed(Self.timedOut(after: target.check.timeout, late: loopTimers.now - deadline))
        }

        switch target.check.probe {
        case .exec(let command):
            ExecProbe.run(CommandTemplate.substitute(command, address: target.address, port: target.server.port),
                          timeout: target.check.timeout, promise: promise, runner: execRunner)
            return promise.futureResult
        default:
            break
        }
        guard target.probePort != 0 else {
            promise.succeed(.failure("no port to check: set port in the health check (fwmark real servers have none)"))
            return promise.futureResult
        }
        let address: SocketAddress
        do {
            address = try SocketAddress(ipAddress: target.address.description, port: Int(target.probePort))
        } catch {
            promise.succeed(.failure("cannot use \(target.address) as a socket address: \(error)"))
            return promise.futureResult
        }

        switch target.check.probe {
        case .tcp(_, let send, let expect):
            let mode: StreamProbeHandler.Mode
            if let expect {
                guard let m = matcher(expect, promise) else { return promise.futureResult }
                mode = .expect(m)
            } else {
                mode = send == nil ? .connect : .send
            }
            StreamProbe.run(address: address, send: send, mode: mode, timeout: timeout, on: eventLoop, promise: promise)
        case .agent(_, let send):
            StreamProbe.run(address: address, send: send, mode: .agent(limit: Self.agentLimit), timeout: timeout,
                            on: eventLoop, promise: promise)
        case .http(let http):
            var bodyMatcher: ReplyMatcher?
            if let body = http.body {
                guard let m = matcher(body, promise, limit: Self.httpBodyLimit) else { return promise.futureResult }
                bodyMatcher = m
            }
            let context: NIOSSLContext?
            if http.tls {
                do {
                    context = try tls.context(verify: http.verifyCertificate)
                } catch {
                    promise.succeed(.failure("cannot set up TLS: \(error)"))
                    return promise.futureResult
                }
            } else {
                context = nil
            }
            HTTPProbeRunner.run(address: address, target: target, probe: http, body: bodyMatcher, tls: context,
                                timeout: timeout, on: eventLoop, promise: promise)
        case .udp(_, let send, let expect):
            var m: ReplyMatcher?
            if let expect {
                guard let made = matcher(expect, promise) else { return promise.futureResult }
                m = made
            }
            UDPProbe.run(address: address, send: send, expect: m, on: eventLoop, promise: promise)
        case .exec:
            break
        }
        return promise.futureResult
    }

    /// How late a timeout may fire before its verdict stops counting: the loop's normal
    /// lateness is under two timer ticks (10 ms); beyond this the checker itself is behind.
    static func overloadThreshold(_ timeout: TimeSpan) -> TimeAmount {
        .milliseconds(max(50, Int64(timeout.milliseconds) / 10))
    }

    /// The result of a check whose timeout fired `late` after it was due: a failure, unless the
    /// loop ran so far behind that the reply may have been waiting unread (not counted).
    static func timedOut(after timeout: TimeSpan, late: TimeAmount) -> ProbeResult {
        guard late > overloadThreshold(timeout) else { return .failure("timed out after \(timeout)") }
        return .inconclusive("timed out after \(timeout), but the health checks ran \(late.nanoseconds / 1_000_000) ms behind (overloaded): not counted")
    }

    private func matcher(_ pattern: String, _ promise: EventLoopPromise<ProbeResult>,
                         limit: Int = ReplyMatcher.defaultLimit) -> ReplyMatcher? {
        do {
            return try ReplyMatcher(pattern: pattern, limit: limit)
        } catch {
            promise.succeed(.failure(error.description))
            return nil
        }
    }
}

/// The two TLS client contexts (verifying and not), built once: building one loads the trust
/// store, far too slow to do per check.
final class TLSContexts: Sendable {
    private let contexts = Mutex<[Bool: NIOSSLContext]>([:])

    func context(verify: Bool) throws -> NIOSSLContext {
        try contexts.withLock { cache in
            if let c = cache[verify] { return c }
            var config = TLSConfiguration.makeClientConfiguration()
            config.certificateVerification = verify ? .fullVerification : .none
            let c = try NIOSSLContext(configuration: config)
            cache[verify] = c
            return c
        }
    }
}

/// A readable reason for a socket error: the C library's text for errno values.
func describe(_ error: any Error) -> String {
    if let io = error as? IOError {
        return errnoText(io.errnoCode)
    }
    if let channel = error as? ChannelError {
        switch channel {
        case .connectTimeout(let t): return "connect timed out after \(t.nanoseconds / 1_000_000)ms"
        case .eof: return "connection closed"
        default: return "\(channel)"
        }
    }
    return "\(error)"
}

/// True for a connection reset or broken pipe: the peer closed abruptly.
func isReset(_ error: any Error) -> Bool {
    guard let io = error as? IOError else { return false }
    return io.errnoCode == ECONNRESET || io.errnoCode == EPIPE
}
