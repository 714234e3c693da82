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

    /// Runs `connect`s on one loop through one poller; returns the results and the connects
    /// still in flight afterwards.
    private func connectAll(_ count: Int, port: UInt16, address: IPAddress = IPAddress("127.0.0.1")!,
                            failAfter: TimeAmount? = nil) async throws -> ([ProbeResult], Int) {
        let loop = group.next()
        let poller = try #require(ConnectPoller(loop: loop, timers: CoarseTimers(loop: loop)))
        let promises = (0..<count).map { _ in loop.makePromise(of: ProbeResult.self) }
        for p in promises { poller.connect(to: address, port: port, promise: p) }
        if let failAfter {
            // What the prober's timeout does.
            loop.scheduleTask(in: failAfter) { for p in promises { p.succeed(.failure("timed out")) } }
        }
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

    @Test func aHangingConnectIsClosedWhenThePromiseIsFailedByTheTimeout() async throws {
        let listener = try SilentListener(backlog: 0)
        // Fill the accept queue (length backlog + 1): later SYNs are dropped.
        let (first, _) = try await connectAll(1, port: listener.port)
        #expect(first == [.success("connected")])
        let start = ContinuousClock.now
        let (results, left) = try await connectAll(5, port: listener.port, failAfter: .milliseconds(300))
        #expect(results == Array(repeating: .failure("timed out"), count: 5))
        #expect(left == 0)
        #expect(ContinuousClock.now - start < .seconds(2))
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
