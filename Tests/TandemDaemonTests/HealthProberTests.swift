import Foundation
import NIOCore
import NIOPosix
import Testing
import TandemCore
@testable import TandemDaemon
@testable import TandemHealth

/// Checks against loopback servers that behave well and badly. Every bad server must end in a
/// failed result, and no later than the timeout plus slack.
@Suite(.serialized) struct HealthProberTests {
    let group = MultiThreadedEventLoopGroup.singleton
    let prober = NIOHealthProber()

    private func run(_ t: HealthTarget) async throws -> (ProbeResult, Double) {
        let start = ContinuousClock.now
        let result = try await prober.probe(t, on: group.next()).get()
        let elapsed = ContinuousClock.now - start
        return (result, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    }

    struct Case: Sendable, CustomStringConvertible {
        var name: String
        var server: ServerBehaviour
        var probe: HealthCheck.Probe
        var passed: Bool
        var reason: String
        /// The result must come before this many seconds (the timeout is 0.5 s): a timeout by 0.9 s
        /// (no later than the timeout plus slack). Any other verdict's reason already proves it
        /// came from the server's behaviour, not from the timeout; its bound (30 s) only guards
        /// against a runaway: in a parallel `swift test` on a loaded 2-core host a case's await
        /// has resumed 2.8, 5.6 and once 13 s late (it passes in 0.1 s alone).
        var within: Double
        var description: String { name }
    }

    static let ok200 = bytes("HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: close\r\n\r\nall ok\n")
    static let http = HTTPProbe(tls: false, path: "/healthz")
    static var httpBody: HTTPProbe { var h = http; h.body = "^all ok"; return h }

    static let cases: [Case] = [
        Case(name: "tcp connect", server: .silent, probe: .tcp(port: nil, send: nil, expect: nil),
             passed: true, reason: "connected", within: 30),
        Case(name: "tcp send only", server: .silent, probe: .tcp(port: nil, send: "QUIT\r\n", expect: nil),
             passed: true, reason: "connected and sent 6 bytes", within: 30),
        Case(name: "tcp expect banner", server: .greet(bytes("220 mail ESMTP\r\n")), probe: .tcp(port: nil, send: nil, expect: "^220"),
             passed: true, reason: "reply matched \"^220\"", within: 30),
        Case(name: "tcp send/expect", server: .answer(bytes("+PONG\r\n")), probe: .tcp(port: nil, send: "PING\r\n", expect: "^\\+PONG"),
             passed: true, reason: "reply matched \"^\\+PONG\"", within: 30),
        Case(name: "tcp expect, garbage then close", server: .answer(bytes("\u{1}\u{2}garbage")), probe: .tcp(port: nil, send: "x", expect: "^220"),
             passed: false, reason: "connection closed; reply \"\\x01\\x02garbage\" does not match \"^220\"", within: 30),
        Case(name: "tcp expect, silent", server: .silent, probe: .tcp(port: nil, send: nil, expect: "^220"),
             passed: false, reason: "timed out after 500ms", within: 0.9),
        Case(name: "tcp expect, closes at once", server: .close, probe: .tcp(port: nil, send: nil, expect: "^220"),
             passed: false, reason: "connection closed without a reply", within: 30),
        Case(name: "tcp expect, endless stream", server: .endless(prefix: bytes("500 ")), probe: .tcp(port: nil, send: nil, expect: "^220"),
             passed: false, reason: "no match for \"^220\" in the first 16384 bytes (\"500 zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz…\")", within: 30),
        Case(name: "http 200", server: .answer(ok200), probe: .http(http), passed: true, reason: "HTTP 200", within: 30),
        Case(name: "http 200 body matches", server: .answer(ok200), probe: .http(httpBody), passed: true,
             reason: "HTTP 200, body matched \"^all ok\"", within: 30),
        Case(name: "http 503", server: .answer(bytes("HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n")), probe: .http(http),
             passed: false, reason: "HTTP 503, expected 200-399", within: 30),
        Case(name: "http body mismatch", server: .answer(bytes("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnope")), probe: .http(httpBody),
             passed: false, reason: "HTTP 200, but the body does not match \"^all ok\"", within: 30),
        Case(name: "http garbage", server: .answer(bytes("SSH-2.0-OpenSSH_9.2\r\n")), probe: .http(http),
             passed: false, reason: "not an HTTP response: invalid constant string", within: 30),
        Case(name: "http silent", server: .silent, probe: .http(http), passed: false, reason: "timed out after 500ms", within: 0.9),
        Case(name: "http closes at once", server: .close, probe: .http(http), passed: false,
             reason: "connection closed before a response", within: 30),
        Case(name: "http endless headers", server: .endless(prefix: bytes("HTTP/1.1 200 OK\r\nX-A: ")), probe: .http(http),
             passed: false, reason: "the server sent more than 81920 bytes", within: 30),
        Case(name: "http endless body with expression", server: .endless(prefix: bytes("HTTP/1.1 200 OK\r\n\r\n")), probe: .http(httpBody),
             passed: false, reason: "HTTP 200, but the first 65536 bytes of the body does not match \"^all ok\"", within: 30),
        Case(name: "agent 50%", server: .greet(bytes("up 50%\n")), probe: .agent(port: 0, send: nil),
             passed: true, reason: "agent replied \"up 50%\"", within: 30),
        Case(name: "agent drain then close", server: .answer(bytes("drain")), probe: .agent(port: 0, send: "status\n"),
             passed: true, reason: "agent replied \"drain\"", within: 30),
        Case(name: "agent down", server: .greet(bytes("down #maintenance\n")), probe: .agent(port: 0, send: nil),
             passed: false, reason: "agent replied \"down #maintenance\"", within: 30),
        Case(name: "agent garbage", server: .greet(bytes("HTTP/1.1 400\r\n")), probe: .agent(port: 0, send: nil),
             passed: false, reason: AgentReply.ParseError.unknownWord("HTTP/1.1").description, within: 30),
        Case(name: "agent endless", server: .endless(prefix: []), probe: .agent(port: 0, send: nil),
             passed: false, reason: "agent reply longer than 1024 bytes without a newline", within: 30),
        Case(name: "agent silent", server: .silent, probe: .agent(port: 0, send: nil),
             passed: false, reason: "timed out after 500ms", within: 0.9),
    ]

    @Test(arguments: cases)
    func probe(_ c: Case) async throws {
        let server = try await TestServer.start(c.server, group: group)
        defer { Task { try? await server.stop() } }
        var probe = c.probe
        // Agent checks name their port; point them at the test server.
        if case .agent(_, let send) = probe { probe = .agent(port: server.port, send: send) }
        let (result, seconds) = try await run(target(probe, port: server.port))
        #expect(result.passed == c.passed)
        if c.reason.hasPrefix("timed out") {
            // On a loaded host the timeout may fire late enough not to count; it is still this timeout.
            #expect(result.reason.hasPrefix(c.reason), "\(result.reason)")
        } else {
            #expect(result.reason == c.reason)
        }
        // `within` is what a quiet host takes; three times it still tells a probe that stops at
        // its timeout from one that waits for the server (a CI build beside it took 0.94 s of 0.9).
        #expect(seconds < c.within * 3, "took \(seconds)s")
        if c.reason.hasPrefix("timed out") { #expect(seconds >= 0.45) }
    }

    @Test func agentPercentReachesTheResult() async throws {
        let server = try await TestServer.start(.greet(bytes("75%\r\n")), group: group)
        defer { Task { try? await server.stop() } }
        let (result, _) = try await run(target(.agent(port: server.port, send: nil), port: 80))
        #expect(result.agent == AgentReply(weightPercent: 75))
    }

    @Test func refusedConnectionFailsAtOnce() async throws {
        let refusing = try RefusingPort()
        let (result, seconds) = try await run(target(.tcp(port: nil, send: nil, expect: nil), port: refusing.port))
        #expect(result == .failure("connect failed: connection refused"))
        #expect(seconds < 5)  // a runaway guard; the reason proves it was not the timeout
    }

    @Test func probePortOverridesTheRealServerPort() async throws {
        let server = try await TestServer.start(.silent, group: group)
        defer { Task { try? await server.stop() } }
        let refusing = try RefusingPort()
        let (result, _) = try await run(target(.tcp(port: server.port, send: nil, expect: nil), port: refusing.port))
        #expect(result.passed)
    }

    @Test func udpSendExpect() async throws {
        let server = try await udpServer(reply: bytes("pong 1"), group: group)
        defer { server.close(promise: nil) }
        let port = UInt16(server.localAddress!.port!)
        let (good, _) = try await run(target(.udp(port: nil, send: "ping", expect: "^pong"), port: port))
        #expect(good == .success("reply matched \"^pong\""))
        let (bad, _) = try await run(target(.udp(port: nil, send: "ping", expect: "^PONG"), port: port))
        #expect(bad == .failure("reply \"pong 1\" does not match \"^PONG\""))
        let (any, _) = try await run(target(.udp(port: nil, send: "ping", expect: nil), port: port))
        #expect(any == .success("reply of 6 bytes"))
    }

    @Test func udpClosedPortFails() async throws {
        let closed = try await udpServer(reply: [], group: group)
        let port = UInt16(closed.localAddress!.port!)
        try await closed.close()
        let (result, seconds) = try await run(target(.udp(port: nil, send: "ping", expect: nil), port: port))
        #expect(!result.passed)
        #expect(result.reason == "port unreachable" || result.reason == "timed out after 500ms")
        #expect(seconds < 0.9)
    }

    static let execCases: [([String], Bool, String)] = [
        (["/bin/true"], true, "true exited 0"),
        (["/bin/false"], false, "false exited 1"),
        (["/bin/sh", "-c", "test \"$0:$1\" = 127.0.0.1:8080", "%h", "%p"], true, "sh exited 0"),
        (["/bin/sh", "-c", "yes | head -c 10000000; exit 3"], false, "sh exited 3"),
        (["/bin/sleep", "5"], false, "timed out after 500ms"),
        (["/nonexistent/check"], false, "cannot run the check: /nonexistent/check: no such file (or a directory on the way cannot be searched); check the path"),
    ]

    @Test(arguments: execCases)
    func exec(_ command: [String], _ passed: Bool, _ reason: String) async throws {
        let (result, seconds) = try await run(target(.exec(command: command), port: 8080))
        #expect(result.passed == passed)
        if reason.hasPrefix("timed out") {
            // On a loaded host the timeout may fire late enough not to count; it is still this timeout.
            #expect(result.reason.hasPrefix(reason), "\(result.reason)")
        } else {
            #expect(result.reason == reason)
        }
        #expect(seconds < 2.7, "took \(seconds)s")   // 0.9 s on a quiet host; /bin/sleep 5 must not run out
    }

    @Test func execKilledAtTimeoutLeavesNoChild() async throws {
        let (result, _) = try await run(target(.exec(command: ["/bin/sleep", "7"]), port: 1))
        #expect(result == .failure("timed out after 500ms"))
        try await Task.sleep(for: .milliseconds(500))
        #expect(childrenNamed("sleep").isEmpty)
    }
}

/// Our child processes (live or zombie) with this command name, from /proc.
func childrenNamed(_ name: String) -> [Int32] {
    let me = getpid()
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap { entry -> Int32? in
        guard let pid = Int32(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
              let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")") else { return nil }
        let comm = stat[stat.index(after: open)..<close]
        let fields = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
        guard comm == name, fields.count > 1, Int32(fields[1]) == me else { return nil }
        return pid
    }
}

/// A timeout that fires long after it was due (the health loop was busy) does not count.
@Suite struct OverloadedTimeoutTests {
    @Test(arguments: [(0, true), (40, true), (50, true), (51, false), (400, false)])
    func verdictByLateness(_ lateMs: Int64, _ counted: Bool) {
        let r = NIOHealthProber.timedOut(after: .milliseconds(300), late: .milliseconds(lateMs))
        #expect(r.counted == counted && !r.passed)
        #expect(r.reason.hasPrefix("timed out after 300ms"))
    }

    @Test func thresholdGrowsWithLongTimeouts() {
        #expect(NIOHealthProber.overloadThreshold(.milliseconds(900)) == .milliseconds(90))
        #expect(NIOHealthProber.overloadThreshold(.seconds(5)) == .milliseconds(500))
    }

    @Test func aBlockedLoopMakesTheTimeoutUncounted() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let server = try await TestServer.start(.silent, group: MultiThreadedEventLoopGroup.singleton)
        defer { Task { try? await server.stop() } }
        let check = target(.tcp(port: nil, send: nil, expect: "^220"), port: server.port, timeout: .milliseconds(100))
        let result = NIOHealthProber().probe(check, on: loop)
        // The loop is busy well past the timeout (100 ms) and the threshold (50 ms).
        _ = try await loop.submit { usleep(400_000) }.get()
        let r = try await result.get()
        #expect(!r.counted, "\(r)")
        #expect(r.reason.contains("ms behind (overloaded): not counted"))
        try await group.shutdownGracefully()
    }

    @Test(arguments: [(1, 1), (2, 1), (3, 2), (4, 3), (16, 4)])
    func healthThreads(_ cores: Int, _ threads: Int) {
        #expect(DaemonHealth.threads(cores: cores) == threads)
    }
}
