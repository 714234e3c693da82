import Foundation
import Glibc
import Logging
import Testing
import TandemCore
import TandemKernel
@testable import TandemDaemon

/// Whether `pid` is gone from /proc: reaped (a zombie still has its entry).
private func reaped(_ outcome: ChildOutcome) -> Bool {
    guard let pid = outcome.pid else { return false }
    return !FileManager.default.fileExists(atPath: "/proc/\(pid)")
}

/// A sleep duration no other process on the host uses, so /proc finds only ours.
private func uniqueSleep() -> String { "9.\(Int.random(in: 100_000...999_999))" }

private func seconds(_ body: () -> ChildOutcome) -> (ChildOutcome, Double) {
    let start = Date()
    let outcome = body()
    return (outcome, Date().timeIntervalSince(start))
}

@Suite(.serialized) struct SpawnChildRunnerTests {
    let runner = SpawnChildRunner()

    /// A long output's log line says how many bytes it does not show: those cut at the limit
    /// and those past what was kept (operator trial of session 32: 3,796 of the 4,096 kept bytes
    /// were neither shown nor counted).
    @Test func aLongOutputSaysHowMuchIsNotShown() {
        let kept = ChildOutcome(ending: .exited(0), output: Array(repeating: UInt8(ascii: "x"), count: 4096), outputDiscarded: 195_904)
        #expect(kept.outputLine() == String(repeating: "x", count: 100) + "… (199700 bytes not shown) …" + String(repeating: "x", count: 200))
        let short = ChildOutcome(ending: .exited(0), output: Array("ok\n".utf8), outputDiscarded: 10)
        #expect(short.outputLine() == "ok… (10 bytes not shown)")
        #expect(ChildOutcome(ending: .exited(0), output: Array("ok\n".utf8)).outputLine() == "ok")
        let fits = String(repeating: "y", count: 300)
        #expect(ChildOutcome(ending: .exited(0), output: Array(fits.utf8)).outputLine() == fits)
    }

    /// A failing script's error is at the end of its output, which the log line cut off: 2 MB of
    /// progress logged 300 characters of it and no error (trial 35). The line keeps the first 100
    /// and the last 200 characters, with the count of the bytes between; the runner keeps the
    /// output's end as well as its start, each bounded.
    @Test func aLongOutputShowsItsStartAndItsEnd() {
        let start = Array(repeating: UInt8(ascii: "x"), count: 2048)
        let end = Array(("progress\n" + String(repeating: "z", count: 1900) + "\nERROR: cannot reach 10.0.0.1\n").utf8)
        let outcome = ChildOutcome(ending: .exited(1), output: start, outputTail: end, outputDiscarded: 1_000_000)
        let line = outcome.outputLine()
        let error = " | ERROR: cannot reach 10.0.0.1"
        let tailText = String(repeating: "z", count: 200 - error.count) + error
        let hidden = (2048 - 100) + 1_000_000 + ("progress | ".utf8.count + 1900 + error.utf8.count - 200)
        #expect(line == String(repeating: "x", count: 100) + "… (\(hidden) bytes not shown) …" + tailText, "\(line ?? "nil")")
        // Start and end with nothing thrown away between them are one text.
        let joined = ChildOutcome(ending: .exited(0), output: Array("hel".utf8), outputTail: Array("lo\n".utf8))
        #expect(joined.outputLine() == "hello")
        // A kept end that begins inside a character does not show its broken start.
        let cut = ChildOutcome(ending: .exited(0), output: Array("a".utf8), outputTail: [0xA9] + Array(" done".utf8), outputDiscarded: 5)
        #expect(cut.outputLine() == "a… (6 bytes not shown) …done")

        let runner = SpawnChildRunner()
        let live = runner.run(ChildRequest(arguments: ["/bin/sh", "-c", "head -c 100000 /dev/zero | tr '\\0' x; echo; echo 'fatal: the end'; exit 2"],
                                           timeout: .seconds(10), outputLimit: 1000, outputTailLimit: 500))
        #expect(live.ending == .exited(2))
        #expect(live.output.count == 1000 && live.outputTail.count == 500)
        #expect(live.output.count + live.outputTail.count + live.outputDiscarded == 100_000 + 1 + "fatal: the end\n".utf8.count)
        #expect(live.outputLine()?.hasSuffix("x | fatal: the end") == true, "\(live.outputLine() ?? "nil")")
    }

    @Test func exitStatusOutputAndEnvironmentWithoutAShell() {
        let ok = runner.run(ChildRequest(arguments: ["/bin/sh", "-c", "echo \"$TANDEM_ROLE\"; echo oops >&2; exit 3"],
                                         environment: ["TANDEM_ROLE": "active"], timeout: .seconds(10)))
        #expect(ok.ending == .exited(3))
        #expect(String(decoding: ok.output, as: UTF8.self) == "active\noops\n")
        #expect(ok.outputLine() == "active | oops")
        // A terminal escape in a script's output is shown, not passed to whoever reads the log.
        let escaped = runner.run(ChildRequest(arguments: ["/usr/bin/printf", "\\033[31mred\\r\\n"], timeout: .seconds(10)))
        #expect(escaped.outputLine() == "\\x1b[31mred\\x0d", "\(escaped.outputLine() ?? "nil")")
        let literal = runner.run(ChildRequest(arguments: ["/bin/echo", "a;false"], timeout: .seconds(10)))
        #expect(literal.ending == .exited(0) && String(decoding: literal.output, as: UTF8.self) == "a;false\n")
        let bare = runner.run(ChildRequest(arguments: ["true"], timeout: .seconds(10)))
        #expect(bare.ending == .exited(0))
        let missing = runner.run(ChildRequest(arguments: ["/nonexistent/notify"], timeout: .seconds(1)))
        guard case .failedToStart(let why) = missing.ending else {
            Issue.record("expected a start failure, got \(missing)")
            return
        }
        #expect(why == "/nonexistent/notify: no such file (or a directory on the way cannot be searched); check the path")
        // Each reason a program cannot run names itself and its fix (an operator read "no such
        // executable file; give an absolute path" for an absolute path that was mode 0644).
        let directory = "/tmp/tandem-child-\(getpid())"
        _ = mkdir(directory, 0o700)
        defer { _ = unlink(directory + "/plain.sh"); _ = rmdir(directory) }
        let fd = open(directory + "/plain.sh", O_CREAT | O_WRONLY, 0o644)
        close(fd)
        #expect(SpawnChildRunner.whyNotRunnable(directory + "/plain.sh")
                == "\(directory)/plain.sh: is not executable by tandemd (mode 0644): `chmod +x \(directory)/plain.sh`")
        #expect(SpawnChildRunner.whyNotRunnable(directory) == "\(directory): is a directory, not a program")
        #expect(SpawnChildRunner.whyNotRunnable("tandem-no-such-program")
                == "tandem-no-such-program: no such executable file in PATH; give an absolute path")
        #expect(SpawnChildRunner.whyNotRunnable("/bin/true") == nil)
        let killed = runner.run(ChildRequest(arguments: ["/bin/sh", "-c", "kill -SEGV $$"], timeout: .seconds(10)))
        #expect(killed.ending == .killedBySignal(SIGSEGV))
    }

    /// The issue's case: the command forks a child that outlives it and holds the output pipe.
    @Test func aChildThatOutlivesTheCommandIsNotWaitedFor() {
        let marker = uniqueSleep()
        defer { for pid in processes(withCommandLine: ["/bin/sleep", marker]) { kill(pid, SIGKILL) } }
        let (outcome, took) = seconds {
            runner.run(ChildRequest(arguments: ["/bin/sh", "-c", "/bin/sleep \(marker) & echo started"], timeout: .seconds(20)))
        }
        #expect(outcome.ending == .exited(0))
        #expect(String(decoding: outcome.output, as: UTF8.self) == "started\n")
        #expect(took < 5, "the runner waited \(took)s for a background child holding the pipe")
        // The background child runs on (not vacuous: it really holds the pipe); give it time to exec.
        var found = processes(withCommandLine: ["/bin/sleep", marker])
        for _ in 0..<100 where found.isEmpty {
            usleep(20_000)
            found = processes(withCommandLine: ["/bin/sleep", marker])
        }
        #expect(found.count == 1, "the background child should still be running")
        #expect(reaped(outcome), "the command was left unreaped (a zombie)")
    }

    /// A health check's leftovers are ended when it exits (trial 34: `( sleep 100 ) & exit 0`
    /// as an exec check left two orphans a second); a notify command's are not (above).
    @Test func aRequestThatEndsItsGroupOnExitLeavesNothingRunning() {
        let marker = uniqueSleep()
        defer { for pid in processes(withCommandLine: ["/bin/sleep", marker]) { kill(pid, SIGKILL) } }
        // The child is running before the command exits: it prints after starting it and waits a little.
        let outcome = runner.run(ChildRequest(arguments: ["/bin/sh", "-c", "/bin/sleep \(marker) & sleep 0.3; exit 0"],
                                              timeout: .seconds(20), outputLimit: 0, endGroupOnExit: true))
        #expect(outcome.ending == .exited(0))
        var found = processes(withCommandLine: ["/bin/sleep", marker])
        for _ in 0..<100 where !found.isEmpty {
            usleep(20_000)
            found = processes(withCommandLine: ["/bin/sleep", marker])
        }
        #expect(found.isEmpty, "the check's background child is still running: \(found)")
        #expect(reaped(outcome), "the command was left unreaped (a zombie)")
    }

    @Test func atTheTimeoutTheWholeGroupGetsSIGTERMAndAGracefulProgramEnds() {
        let marker = uniqueSleep()
        let (outcome, took) = seconds {
            runner.run(ChildRequest(arguments: ["/bin/sh", "-c", "/bin/sleep \(marker) & /bin/sleep \(marker)"],
                                    timeout: .milliseconds(300), terminationGrace: .seconds(5)))
        }
        #expect(outcome.ending == .timedOut(after: .milliseconds(300), grace: .seconds(5), stillRunningAfterGrace: false))
        #expect(took < 3, "sh and sleep end at SIGTERM; the runner should not wait out the grace (\(took)s)")
        var left = processes(withCommandLine: ["/bin/sleep", marker])
        for _ in 0..<50 where !left.isEmpty {
            usleep(20_000)
            left = processes(withCommandLine: ["/bin/sleep", marker])
        }
        #expect(left.isEmpty, "members of the group still running: \(left)")
        #expect(reaped(outcome))
        #expect(outcome.description == "killed at the timeout (300ms): SIGTERM to its process group; it ended within the 5s grace")
    }

    @Test func aProgramThatIgnoresSIGTERMIsKilledAfterTheGraceAndSaysSo() {
        let marker = uniqueSleep()
        let script = "trap '' TERM; echo ready; /bin/sleep \(marker) & while :; do /bin/sleep 0.05; done"
        let (outcome, took) = seconds {
            runner.run(ChildRequest(arguments: ["/bin/sh", "-c", script], timeout: .milliseconds(300),
                                    terminationGrace: .milliseconds(400)))
        }
        #expect(outcome.ending == .timedOut(after: .milliseconds(300), grace: .milliseconds(400), stillRunningAfterGrace: true))
        #expect(outcome.description.contains("it ignores SIGTERM), so SIGKILL"))
        #expect(String(decoding: outcome.output, as: UTF8.self) == "ready\n")
        #expect(took >= 0.6 && took < 4)
        var left = processes(withCommandLine: ["/bin/sleep", marker])
        for _ in 0..<50 where !left.isEmpty {
            usleep(20_000)
            left = processes(withCommandLine: ["/bin/sleep", marker])
        }
        #expect(left.isEmpty, "a member of the group survived SIGKILL: \(left)")
        #expect(reaped(outcome))
    }

    @Test func zeroGraceSendsSIGKILLAtOnce() {
        let (outcome, took) = seconds {
            runner.run(ChildRequest(arguments: ["/bin/sh", "-c", "trap '' TERM; while :; do /bin/sleep 0.05; done"],
                                    timeout: .milliseconds(200), terminationGrace: .milliseconds(0)))
        }
        #expect(outcome.ending == .timedOut(after: .milliseconds(200), grace: .milliseconds(0), stillRunningAfterGrace: true))
        #expect(took < 2)
    }

    @Test func outputIsBoundedAndTheRestDiscarded() {
        let outcome = runner.run(ChildRequest(arguments: ["/bin/sh", "-c", "head -c 100000 /dev/zero | tr '\\0' x"],
                                              timeout: .seconds(10), outputLimit: 1000))
        #expect(outcome.ending == .exited(0))
        #expect(outcome.output.count == 1000)
        #expect(outcome.outputDiscarded == 99_000)
        let silent = runner.run(ChildRequest(arguments: ["/bin/echo", "hi"], timeout: .seconds(10), outputLimit: 0))
        #expect(silent.ending == .exited(0) && silent.output.isEmpty && silent.outputDiscarded == 0)
    }

    /// Only 0-2 reach the child, even a descriptor left without close-on-exec.
    @Test func noOtherDescriptorIsInherited() {
        let leaky = open("/dev/null", O_RDONLY)   // no O_CLOEXEC
        defer { close(leaky) }
        #expect(leaky > 2)
        let outcome = runner.run(ChildRequest(arguments: ["/bin/sh", "-c", "ls /proc/$$/fd"], timeout: .seconds(10)))
        let fds = String(decoding: outcome.output, as: UTF8.self).split(separator: "\n").compactMap { Int($0) }.sorted()
        #expect(fds == [0, 1, 2], "descriptors in the child: \(fds) (the test's own \(leaky) must not be among them)")
    }

    /// tandemd's ignored and blocked signals are not inherited: a child can always be stopped.
    @Test func childrenStartWithDefaultSignalsAndAnEmptyMask() {
        let previous = signal(SIGUSR2, SIG_IGN)
        defer { signal(SIGUSR2, previous) }
        var block = sigset_t()
        sigemptyset(&block)
        sigaddset(&block, SIGUSR1)
        var old = sigset_t()
        pthread_sigmask(SIG_BLOCK, &block, &old)
        defer { pthread_sigmask(SIG_SETMASK, &old, nil) }
        let outcome = runner.run(ChildRequest(arguments: ["/bin/grep", "-E", "^Sig(Ign|Blk):", "/proc/self/status"],
                                              timeout: .seconds(10)))
        // Masks of signals 1…64 (bit n-1 is signal n). glibc's posix_spawn itself leaves its two
        // internal signals (32 and 33) ignored; every standard signal must be at its default.
        let masks = String(decoding: outcome.output, as: UTF8.self).split(separator: "\n").map {
            UInt64($0.split(separator: "\t").last ?? "", radix: 16)
        }
        #expect(masks.count == 2)
        #expect(masks.first == 0, "blocked signals inherited")
        #expect(masks.last.flatMap { $0 }.map { $0 & 0x7fff_ffff } == 0, "ignored signals inherited: \(masks)")
        // And its own process group.
        let group = runner.run(ChildRequest(arguments: ["/bin/sh", "-c", "test $(ps -o pgid= -p $$) -eq $$"], timeout: .seconds(10)))
        #expect(group.ending == .exited(0))
    }
}

@Suite(.serialized) struct NotifierOrderTests {
    /// Maintenance without a command of its own runs the standby's (the node serves nothing
    /// either way); a role's own command wins; stopping and starting have no fallback.
    @Test func maintenanceFallsBackToTheStandbyCommand() {
        let standby = ["/usr/local/bin/svc", "stop"]
        #expect(Notifier.command(for: .maintenance, in: NotifySettings(standby: standby)) == standby)
        #expect(Notifier.command(for: .maintenance, in: NotifySettings(standby: standby, maintenance: ["/bin/true"])) == ["/bin/true"])
        #expect(Notifier.command(for: .stopping, in: NotifySettings(standby: standby)) == nil)
        #expect(Notifier.command(for: .starting, in: NotifySettings(standby: standby)) == nil)
    }

    /// After a command that leaves a child behind and one that times out, later ones still run, in order.
    @Test func notifyCommandsKeepRunningInOrderAfterALingeringChildAndATimeout() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tdm-notify-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let marker = uniqueSleep()
        defer { for pid in processes(withCommandLine: ["/bin/sleep", marker]) { kill(pid, SIGKILL) } }
        let lines = LockedBox<[String]>([])
        let logger = Logger(label: "test") { _ in TandemLogHandler(label: "a", write: { line in lines.withLock { $0.append(line) } }) }
        let outcomes = LockedBox<[ChildOutcome]>([])
        let ended = LockedBox<[String]>([])
        let notifier = Notifier(runner: RecordingOutcomes(inner: ProcessNotifyRunner(terminationGrace: .milliseconds(300)), outcomes: outcomes),
                                nodeName: "a", logger: logger, onFinished: { role, ok in ended.withLock { $0.append("\(role) \(ok)") } })
        #expect(notifier.status() == nil)
        let script = "echo $TANDEM_ROLE >> \(dir)/log; case $TANDEM_ROLE in active) /bin/sleep \(marker) & ;; fault) trap '' TERM; /bin/sleep 30 ;; esac"
        let settings = NotifySettings(active: ["/bin/sh", "-c", script], standby: ["/bin/sh", "-c", script],
                                      fault: ["/bin/sh", "-c", script], maintenance: nil, stop: nil, timeout: .milliseconds(500))
        // Each waits for the one before to end, so none is superseded.
        for role: Role in [.active, .fault, .standby, .active, .standby] {
            notifier.notify(role, reason: "test", settings: settings)
            notifier.drain()
        }
        let ran = try String(contentsOfFile: "\(dir)/log", encoding: .utf8)
        #expect(ran == "active\nfault\nstandby\nactive\nstandby\n")
        let all = lines.withLock { $0 }.joined(separator: "\n")
        #expect(all.contains("notify fault: /bin/sh -c \(script) killed at the timeout (500ms): SIGTERM to its process group, still running 300ms later (it ignores SIGTERM), so SIGKILL"))
        #expect(outcomes.withLock { $0 }.count == 5)
        #expect(outcomes.withLock { $0 }.allSatisfy(reaped))
        // Status: the last one succeeded, the fault's timeout is kept as the last failure.
        let status = try #require(notifier.status())
        #expect(status.running == nil && status.queued == 0 && status.succeeded == 4 && status.failed == 1 && status.skipped == 0)
        #expect(status.last?.role == "standby" && status.last?.result == "succeeded")
        #expect(status.lastFailure?.role == "fault" && status.lastFailure?.outcome.contains("killed at the timeout (500ms)") == true,
                "\(String(describing: status.lastFailure))")
        #expect(ended.withLock { $0 } == ["active true", "fault false", "standby true", "active true", "standby true"])
    }

    /// Role changes that come while a slow command runs: only the newest one's command runs
    /// after it; the ones in between are skipped and logged, never run on a node that has moved on.
    @Test func roleChangesWhileACommandRunsLeaveOnlyTheNewestToRun() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tdm-notify-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let lines = LockedBox<[String]>([])
        let logger = Logger(label: "test") { _ in TandemLogHandler(label: "a", write: { line in lines.withLock { $0.append(line) } }) }
        let notifier = Notifier(runner: ProcessNotifyRunner(terminationGrace: .milliseconds(300)), nodeName: "a", logger: logger)
        // The first run (active) waits for the file `go`, so the others come while it runs.
        let script = "echo $TANDEM_ROLE >> \(dir)/log; if [ $TANDEM_ROLE = active ] && [ ! -e \(dir)/ran ]; then touch \(dir)/ran; "
            + "i=0; while [ ! -e \(dir)/go ] && [ $i -lt 100 ]; do /bin/sleep 0.05; i=$((i+1)); done; fi"
        let command = ["/bin/sh", "-c", script]
        let settings = NotifySettings(active: command, standby: command, fault: command, maintenance: nil, stop: nil, timeout: .seconds(10))
        notifier.notify(.active, reason: "test", settings: settings)
        for _ in 0..<200 where notifier.status()?.running == nil { usleep(10_000) }
        #expect(notifier.status()?.running?.role == "active")
        for role: Role in [.standby, .fault, .active, .standby] { notifier.notify(role, reason: "test", settings: settings) }
        let waiting = try #require(notifier.status())
        #expect(waiting.waiting == "standby" && waiting.queued == 1 && waiting.skipped == 3, "\(waiting)")
        _ = FileManager.default.createFile(atPath: "\(dir)/go", contents: nil)
        notifier.drain()
        #expect(try String(contentsOfFile: "\(dir)/log", encoding: .utf8) == "active\nstandby\n")
        let log = lines.withLock { $0 }.joined(separator: "\n")
        for (skipped, became) in [("standby", "fault"), ("fault", "active"), ("active", "standby")] {
            #expect(log.contains("notify \(skipped): /bin/sh -c \(script) skipped: the node became \(became) before it started"), "\(log)")
        }
        let status = try #require(notifier.status())
        #expect(status.succeeded == 2 && status.skipped == 3 && status.queued == 0 && status.last?.role == "standby")
        // A newer role without a command (stopping here) leaves nothing stale to run.
        try? FileManager.default.removeItem(atPath: "\(dir)/go")
        try? FileManager.default.removeItem(atPath: "\(dir)/ran")
        notifier.notify(.active, reason: "test", settings: settings)
        for _ in 0..<200 where notifier.status()?.running == nil { usleep(10_000) }
        notifier.notify(.standby, reason: "test", settings: settings)
        notifier.notify(.stopping, reason: "test", settings: settings)
        _ = FileManager.default.createFile(atPath: "\(dir)/go", contents: nil)
        notifier.drain()
        #expect(try String(contentsOfFile: "\(dir)/log", encoding: .utf8) == "active\nstandby\nactive\n")
        #expect(lines.withLock { $0 }.joined(separator: "\n").contains("notify standby: /bin/sh -c \(script) skipped: the node is stopping before it started"))
    }
}

private struct RecordingOutcomes: NotifyRunner {
    let inner: ProcessNotifyRunner
    let outcomes: LockedBox<[ChildOutcome]>
    func run(_ command: [String], environment: [String: String], timeout: TimeSpan) -> NotifyOutcome {
        let outcome = inner.run(command, environment: environment, timeout: timeout)
        outcomes.withLock { $0.append(outcome) }
        return outcome
    }
}
