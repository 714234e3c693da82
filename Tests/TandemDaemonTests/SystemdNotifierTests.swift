import Foundation
import Logging
import Testing
import TandemKernel
import TandemCore
@testable import TandemDaemon

/// sd_notify without libsystemd, against a real datagram socket; journal-aware log lines.
@Suite struct SystemdNotifierTests {
    /// A bound datagram socket standing in for systemd's notify socket.
    final class FakeManager {
        let fd: Int32
        let address: String

        init(abstract: Bool) throws {
            fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
            let name = "tandem-notify-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            address = abstract ? "@" + name : NSTemporaryDirectory() + name
            var sa = sockaddr_un()
            sa.sun_family = sa_family_t(AF_UNIX)
            var path = Array(address.utf8)
            if abstract { path[0] = 0 }
            withUnsafeMutableBytes(of: &sa.sun_path) { raw in for (i, b) in path.enumerated() { raw[i] = b } }
            let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + path.count)
            let rc = withUnsafePointer(to: &sa) { p in p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
            #expect(rc == 0)
            var timeout = timeval(tv_sec: 2, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }

        func receive() -> String? {
            var buffer = [UInt8](repeating: 0, count: 4096)
            let n = recv(fd, &buffer, buffer.count, 0)
            return n < 0 ? nil : String(decoding: buffer[..<n], as: UTF8.self)
        }

        deinit {
            close(fd)
            if !address.hasPrefix("@") { unlink(address) }
        }
    }

    @Test(arguments: [false, true])
    func sendsEachMessageAsOneDatagram(abstract: Bool) throws {
        let manager = try FakeManager(abstract: abstract)
        let notifier = try #require(try SystemdNotifier(environment: ["NOTIFY_SOCKET": manager.address], unsetEnvironment: false))
        notifier.send(.ready(status: "active: lvs-b silent\nfor 400ms"))
        #expect(manager.receive() == "READY=1\nSTATUS=active: lvs-b silent for 400ms")
        notifier.send(.reloading(monotonicMicroseconds: 12345))
        #expect(manager.receive() == "RELOADING=1\nMONOTONIC_USEC=12345")
        notifier.send(.watchdog)
        #expect(manager.receive() == "WATCHDOG=1")
        notifier.send(.stopping(status: "handing over"))
        #expect(manager.receive() == "STOPPING=1\nSTATUS=handing over")
    }

    @Test func absentOrForeignSocketMeansNoNotifier() throws {
        #expect(try SystemdNotifier(environment: [:], unsetEnvironment: false) == nil)
        #expect(try SystemdNotifier(environment: ["NOTIFY_SOCKET": "vsock:2:1234"], unsetEnvironment: false) == nil)
        #expect(throws: PosixError.self) {
            _ = try SystemdNotifier(environment: ["NOTIFY_SOCKET": "/nonexistent/notify"], unsetEnvironment: false)
        }
    }

    @Test func watchdogIntervalIsHalfTheTimeoutForThisProcessOnly() {
        #expect(SystemdNotifier.watchdogInterval(environment: ["WATCHDOG_USEC": "10000000"], pid: 7) == .seconds(5))
        #expect(SystemdNotifier.watchdogInterval(environment: ["WATCHDOG_USEC": "10000000", "WATCHDOG_PID": "7"], pid: 7) == .seconds(5))
        #expect(SystemdNotifier.watchdogInterval(environment: ["WATCHDOG_USEC": "10000000", "WATCHDOG_PID": "8"], pid: 7) == nil)
        #expect(SystemdNotifier.watchdogInterval(environment: ["WATCHDOG_USEC": "0"], pid: 7) == nil)
        #expect(SystemdNotifier.watchdogInterval(environment: [:], pid: 7) == nil)
    }

    @Test func journalLinesCarryTheirSyslogPriority() {
        let lines = LockedLines()
        var handler = TandemLogHandler(label: "lvs-a", journal: true, write: { lines.append($0) })
        handler.logLevel = .trace
        let logger = Logger(label: "t") { _ in handler }
        logger.notice("role standby -> active")
        logger.warning("heartbeat send failed")
        logger.info("reloaded")
        #expect(lines.all == ["<5>lvs-a: role standby -> active\n", "<4>lvs-a: heartbeat send failed\n", "<6>lvs-a: reloaded\n"])
        #expect(TandemLogHandler.stderrIsJournal(journalStream: "8:12345", stderrDevice: 8, stderrInode: 12345))
        #expect(!TandemLogHandler.stderrIsJournal(journalStream: "8:12345", stderrDevice: 8, stderrInode: 1))
        #expect(!TandemLogHandler.stderrIsJournal(journalStream: nil, stderrDevice: 8, stderrInode: 12345))
        #expect(!TandemLogHandler.stderrIsJournal(journalStream: "garbage", stderrDevice: 8, stderrInode: 12345))
    }
}

/// Lines written by a log handler, from any thread.
final class LockedLines: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func append(_ line: String) { lock.lock(); lines.append(line); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return lines }
}

/// Records what would go to systemd.
final class RecordingServiceManager: ServiceManagerNotifying, @unchecked Sendable {
    private let lock = NSLock()
    private var sent: [ServiceManagerMessage] = []
    let watchdogInterval: TimeSpan?
    init(watchdogInterval: TimeSpan? = nil) { self.watchdogInterval = watchdogInterval }
    func send(_ message: ServiceManagerMessage) { lock.lock(); sent.append(message); lock.unlock() }
    var messages: [ServiceManagerMessage] { lock.lock(); defer { lock.unlock() }; return sent }
}

@Suite struct ServiceManagerReporterTests {
    @Test func readyOnceTheFirstElectionSettlesThenStatusReloadAndStop() {
        let manager = RecordingServiceManager()
        let reporter = ServiceManagerReporter(notifier: manager, peer: "lvs-b", monotonicMicroseconds: { 42 })
        reporter.reloaded()  // before start-up is ready: nothing
        reporter.roleChanged(to: .starting, reason: "listening")
        reporter.roleChanged(to: .standby, reason: "lvs-b is active")
        reporter.roleChanged(to: .active, reason: "lvs-b silent for 401ms on all paths")
        reporter.reloading()
        reporter.reloaded()
        reporter.stopping()
        reporter.roleChanged(to: .stopping, reason: "SIGTERM")
        #expect(manager.messages == [
            .ready(status: "standby: lvs-b is active (peer lvs-b)"),
            .status("active: lvs-b silent for 401ms on all paths (peer lvs-b)"),
            .reloading(monotonicMicroseconds: 42),
            .ready(status: "active: lvs-b silent for 401ms on all paths (peer lvs-b)"),
            .stopping(status: "stopping: handing the VIPs over to lvs-b if active"),
            .stopping(status: "stopping: SIGTERM (peer lvs-b)"),
        ])
    }

    @Test func watchdogPingsAtItsIntervalOnly() throws {
        #expect(WatchdogPinger(notifier: RecordingServiceManager()) == nil)
        let manager = RecordingServiceManager(watchdogInterval: .seconds(5))
        var pinger = try #require(WatchdogPinger(notifier: manager))
        let s: UInt64 = 1_000_000_000
        pinger.tick(now: 100 * s)
        pinger.tick(now: 101 * s)
        #expect(pinger.nanosecondsUntilNext(now: 101 * s) == 4 * s)
        pinger.tick(now: 105 * s)
        pinger.tick(now: 109 * s)
        #expect(manager.messages == [.watchdog, .watchdog])
    }
}
