import Foundation
import NIOCore
import NIOPosix
import Testing
import TandemCore
@testable import TandemHealth

/// A loopback listener that never accepts: connects complete while its accept queue has room;
/// once it is full the kernel drops further SYNs, so a connect hangs (a server that stopped
/// answering).
private final class SilentListener {
    let fd: Int32
    let port: UInt16

    init(backlog: Int32) throws {
        (fd, port) = try bindLoopback()
        guard listen(fd, backlog) == 0 else {
            close(fd)
            throw POSIXError(.EADDRINUSE)
        }
    }

    deinit { close(fd) }
}

@Suite(.serialized) struct ConnectPollerTests {
    let group = MultiThreadedEventLoopGroup.singleton

    /// Runs `connect`s on one loop through one poller (each with `timeout`); returns the results
    /// and the connects still in flight afterwards.
    private func connectAll(_ count: Int, port: UInt16, address: IPAddress = IPAddress("127.0.0.1")!,
                            timeout: TimeSpan = .seconds(5)) async throws -> ([ProbeResult], Int) {
        let loop = group.next()
        let poller = try #require(ConnectPoller(loop: loop, timers: CoarseTimers(loop: loop)))
        let promises = (0..<count).map { _ in loop.makePromise(of: ProbeResult.self) }
        for p in promises { poller.connect(to: address, port: port, timeout: timeout) { p.succeed($0) } }
        var results: [ProbeResult] = []
        for p in promises { results.append(try await p.futureResult.get()) }
        let left = try await loop.submit { poller.inFlight }.get()
        return (results, left)
    }

    @Test func moreConnectsThanOneEpollBatchAllPass() async throws {
        let listener = try SilentListener(backlog: 4096)
        let (results, left) = try await connectAll(600, port: listener.port)
        #expect(results.filter { $0 == .success("connected") }.count == 600)
        #expect(left == 0)
    }

    @Test func refusedConnectFails() async throws {
        let refusing = try RefusingPort()
        let (results, left) = try await connectAll(3, port: refusing.port)
        #expect(results == Array(repeating: .failure("connect failed: connection refused"), count: 3))
        #expect(left == 0)
    }

    @Test func aHangingConnectTimesOutAndIsClosed() async throws {
        let listener = try SilentListener(backlog: 0)
        // Fill the accept queue (length backlog + 1): later SYNs are dropped.
        let (first, _) = try await connectAll(1, port: listener.port)
        #expect(first == [.success("connected")])
        let (results, left) = try await connectAll(5, port: listener.port, timeout: .milliseconds(300))
        #expect(results == Array(repeating: .failure("timed out after 300ms"), count: 5))
        #expect(left == 0)
    }

    /// Connects with two timeouts in flight at once (two deadline queues), the shorter started
    /// last: each ends at its own timeout, and a connect that completes leaves nothing behind.
    @Test func timeoutsOfDifferentLengthsEachEndTheirOwnConnects() async throws {
        let listener = try SilentListener(backlog: 0)
        let (first, _) = try await connectAll(1, port: listener.port)
        #expect(first == [.success("connected")])
        let loop = group.next()
        let poller = try #require(ConnectPoller(loop: loop, timers: CoarseTimers(loop: loop)))
        let address = IPAddress("127.0.0.1")!
        let long = loop.makePromise(of: ProbeResult.self)
        let short = loop.makePromise(of: ProbeResult.self)
        let refused = loop.makePromise(of: ProbeResult.self)
        let refusing = try RefusingPort()
        let (silentPort, refusingPort) = (listener.port, refusing.port)
        try await loop.submit {
            poller.connect(to: address, port: silentPort, timeout: .milliseconds(900)) { long.succeed($0) }
            poller.connect(to: address, port: refusingPort, timeout: .milliseconds(900)) { refused.succeed($0) }
            poller.connect(to: address, port: silentPort, timeout: .milliseconds(200)) { short.succeed($0) }
        }.get()
        #expect(try await refused.futureResult.get() == .failure("connect failed: connection refused"))
        #expect(try await short.futureResult.get() == .failure("timed out after 200ms"))
        #expect(try await loop.submit { poller.inFlight }.get() == 1)
        #expect(try await long.futureResult.get() == .failure("timed out after 900ms"))
        #expect(try await loop.submit { poller.inFlight }.get() == 0)
    }

    /// The poller's own timeouts follow the prober's rule: one that fires long after it was due
    /// (the loop was busy) does not count.
    @Test func aTimeoutFiredByABlockedLoopIsNotCounted() async throws {
        let listener = try SilentListener(backlog: 0)
        let (first, _) = try await connectAll(1, port: listener.port)
        #expect(first == [.success("connected")])
        let loop = group.next()
        let poller = try #require(ConnectPoller(loop: loop, timers: CoarseTimers(loop: loop)))
        let promise = loop.makePromise(of: ProbeResult.self)
        let port = listener.port
        try await loop.submit {
            poller.connect(to: IPAddress("127.0.0.1")!, port: port, timeout: .milliseconds(100)) { promise.succeed($0) }
            usleep(400_000)  // busy well past the timeout (100 ms) and the threshold (50 ms)
        }.get()
        let r = try await promise.futureResult.get()
        #expect(!r.counted && !r.passed, "\(r)")
        #expect(r.reason.contains("ms behind (overloaded): not counted"))
    }

    @Test(.enabled(if: FileManager.default.contents(atPath: "/proc/net/if_inet6").map { !$0.isEmpty } ?? false))
    func ipv6LoopbackThroughTheProber() async throws {
        let server = try await ServerBootstrap(group: group).bind(host: "::1", port: 0).get()
        defer { server.close(promise: nil) }
        let port = UInt16(server.localAddress!.port!)
        let check = HealthCheck(probe: .tcp(port: nil, send: nil, expect: nil), interval: .seconds(1),
                                timeout: .milliseconds(500), rise: 1, fall: 1)
        let t = HealthTarget(server: RealServerID(service: "v6", address: IPAddress("::1")!, port: port),
                             check: check, weight: 1, probePort: port)
        let result = try await NIOHealthProber().probe(t, on: group.next()).get()
        #expect(result == .success("connected"))
    }
}
