import Glibc
import TandemCore

/// One program to run: no shell, a bounded time, a bounded amount of output kept.
public struct ChildRequest: Sendable, Hashable {
    /// Program and arguments; a program without "/" is searched in PATH.
    public var arguments: [String]
    /// Added to (and overriding) tandemd's own environment.
    public var environment: [String: String]
    /// How long the program may run before its process group is signalled.
    public var timeout: TimeSpan
    /// At the timeout the group gets SIGTERM, and SIGKILL this much later; zero sends SIGKILL at once.
    public var terminationGrace: TimeSpan
    /// Bytes of standard output and error (one pipe) kept from the start; 0 sends both to
    /// /dev/null.
    public var outputLimit: Int
    /// Bytes kept of the output's end past the first `outputLimit` (`ChildOutcome.outputTail`):
    /// a failing script's error is at its end (trial 35). 0 keeps only the start.
    public var outputTailLimit: Int
    /// Whether what the program leaves running in its process group is ended (SIGKILL) when it
    /// exits: for health checks, whose background leftovers would pile up at every check (trial
    /// 34: `( sleep 100 ) & exit 0` left two orphans a second). Notify commands keep theirs (a
    /// service they start may live on).
    public var endGroupOnExit: Bool

    public init(arguments: [String], environment: [String: String] = [:], timeout: TimeSpan,
                terminationGrace: TimeSpan = .seconds(1), outputLimit: Int = 4096, outputTailLimit: Int = 0,
                endGroupOnExit: Bool = false) {
        self.arguments = arguments
        self.environment = environment
        self.timeout = timeout
        self.terminationGrace = terminationGrace
        self.outputLimit = max(outputLimit, 0)
        self.outputTailLimit = outputLimit > 0 ? max(outputTailLimit, 0) : 0
        self.endGroupOnExit = endGroupOnExit
    }
}

/// How a program ended, and what it wrote.
public struct ChildOutcome: Sendable, Hashable, CustomStringConvertible {
    public enum Ending: Sendable, Hashable {
        case exited(Int32)
        case killedBySignal(Int32)
        /// Ran past `timeout`: its process group was signalled. `stillRunningAfterGrace` says the
        /// program ignored SIGTERM for the whole grace and needed SIGKILL.
        case timedOut(after: TimeSpan, grace: TimeSpan, stillRunningAfterGrace: Bool)
        case failedToStart(String)
    }

    public var ending: Ending
    /// The first `outputLimit` bytes of standard output and error, as read until the program
    /// ended (output written later, by children it left behind, is not waited for).
    public var output: [UInt8]
    /// The last bytes read beyond `outputLimit`, at most `outputTailLimit` of them (empty when
    /// the output fitted in `output`).
    public var outputTail: [UInt8]
    /// Bytes read beyond `outputLimit` and thrown away: between `output` and `outputTail`.
    public var outputDiscarded: Int
    /// The process id it ran as (already reaped), nil when it did not start.
    public var pid: Int32?

    public init(ending: Ending, output: [UInt8] = [], outputTail: [UInt8] = [], outputDiscarded: Int = 0, pid: Int32? = nil) {
        self.ending = ending
        self.output = output
        self.outputTail = outputTail
        self.outputDiscarded = outputDiscarded
        self.pid = pid
    }

    public static func exited(_ status: Int32) -> ChildOutcome { ChildOutcome(ending: .exited(status)) }

    public var succeeded: Bool { ending == .exited(0) }

    public var description: String {
        switch ending {
        case .exited(let status): return "exited with status \(status)"
        case .killedBySignal(let signal): return "killed by signal \(signal) (\(signalName(signal)))"
        case .timedOut(let after, let grace, let needed):
            if grace.milliseconds == 0 { return "killed at the timeout (\(after)): SIGKILL to its process group" }
            return needed
                ? "killed at the timeout (\(after)): SIGTERM to its process group, still running \(grace) later (it ignores SIGTERM), so SIGKILL"
                : "killed at the timeout (\(after)): SIGTERM to its process group; it ended within the \(grace) grace"
        case .failedToStart(let why): return "could not start: \(why)"
        }
    }

    /// The kept output as one line (newlines shown as " | "): all of it when it has at most
    /// `head + tail` characters and nothing was cut, else its first `head` and last `tail`
    /// characters with the count of the bytes between them not shown (cut here, or thrown away
    /// past what was kept): `first… (N bytes not shown) …last`. A failing script's error is at
    /// its end (trial 35). Nil when the output is empty.
    public func outputLine(head: Int = 100, tail: Int = 200) -> String? {
        // Nothing thrown away: the kept start and end are one text.
        let contiguous = outputDiscarded == 0
        let start = Self.oneLine(contiguous ? output + outputTail : output)
        // A kept end after a gap may begin inside a character: its continuation bytes are not shown.
        let tailBytes = contiguous ? [] : outputTail
        let dropped = tailBytes.prefix(while: { $0 & 0xC0 == 0x80 }).count
        let end = Self.oneLine(Array(tailBytes.dropFirst(dropped)))
        guard !start.isEmpty || !end.isEmpty else { return nil }
        if end.isEmpty, outputDiscarded == 0, start.count <= head + tail { return start }
        let first: Substring, last: Substring
        var notShown = outputDiscarded + dropped
        if end.isEmpty {
            // Nothing kept past the start (no tail asked for): its end is what is known.
            first = start.count <= head + tail ? Substring(start) : start.prefix(head)
            last = start.count <= head + tail ? "" : start.suffix(tail)
            notShown += start.utf8.count - first.utf8.count - last.utf8.count
        } else {
            first = start.prefix(head)
            last = end.suffix(tail)
            notShown += start.utf8.count - first.utf8.count + end.utf8.count - last.utf8.count
        }
        return first + "… (\(notShown) bytes not shown)" + (last.isEmpty ? "" : " …" + last)
    }

    /// `bytes` as one line: control characters (a terminal escape, a carriage return), which
    /// would reach whoever reads the log with a terminal, shown as \xNN; lines trimmed, empty
    /// ones left out, the rest joined with " | ".
    private static func oneLine(_ bytes: [UInt8]) -> String {
        var clean = ""
        for scalar in String(decoding: bytes, as: UTF8.self).unicodeScalars {
            let v = scalar.value
            if scalar == "\n" || scalar == "\t" || !(v < 0x20 || (0x7f...0x9f).contains(v)) {
                clean.unicodeScalars.append(scalar)
            } else {
                clean += "\\x" + (v < 0x10 ? "0" : "") + String(v, radix: 16)
            }
        }
        return clean
            .split(whereSeparator: \.isNewline).map { $0.trimmingWhitespace() }.filter { !$0.isEmpty }
            .joined(separator: " | ")
    }
}

private func signalName(_ signal: Int32) -> String {
    switch signal {
    case SIGKILL: return "SIGKILL"
    case SIGTERM: return "SIGTERM"
    case SIGINT: return "SIGINT"
    case SIGHUP: return "SIGHUP"
    case SIGSEGV: return "SIGSEGV"
    case SIGABRT: return "SIGABRT"
    case SIGPIPE: return "SIGPIPE"
    default: return "signal \(signal)"
    }
}


/// Runs programs to completion. The one implementation behind notify commands and `exec`
/// health checks; tests of their callers use a fake.
public protocol ChildRunning: Sendable {
    /// Runs `request` and returns how it ended; blocks the calling thread for at most
    /// `timeout + terminationGrace` plus the time to reap.
    func run(_ request: ChildRequest) -> ChildOutcome
}

/// The live runner: `posix_spawn` with, in the child, a process group of its own
/// (`POSIX_SPAWN_SETPGROUP`, group id = its pid), an empty signal mask and every signal at its
/// default action (`POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF`: tandemd's own blocked or
/// ignored signals are not inherited, so a child can be stopped with SIGTERM), standard input
/// from /dev/null, standard output and error into one pipe (or /dev/null), and no other of
/// tandemd's descriptors (`posix_spawn_file_actions_addclosefrom_np(3)` where glibc has it).
///
/// Waiting: the runner polls the pipe and checks the child with `waitid(WNOHANG | WNOWAIT)`
/// every 1…10 ms; it never waits for the pipe's end of file, which a background grandchild can
/// hold open forever (`sh -c 'sleep 600 &'`). When the child has exited, what is already in the
/// pipe is read, the pipe is closed and the child reaped (`waitpid` on its pid only, so no other
/// part of the process loses a child). Children it left behind keep running, as with a shell,
/// unless the request ends its group on exit (`endGroupOnExit`: health checks).
///
/// At the timeout: SIGTERM to the whole process group, then, `terminationGrace` later, SIGKILL
/// to the group (members that ignored SIGTERM or outlived the leader). The leader is reaped only
/// after the last signal, so the group id cannot have been reused by then (a zombie leader keeps
/// it). A program that moved itself to another group or session (`setsid`) escapes this.
public struct SpawnChildRunner: ChildRunning {
    /// Times the program's timeout and termination grace.
    private let clock: any TandemClock

    public init(clock: any TandemClock = MonotonicClock()) {
        self.clock = clock
    }

    public func run(_ request: ChildRequest) -> ChildOutcome {
        guard let program = request.arguments.first, !program.isEmpty else {
            return ChildOutcome(ending: .failedToStart("empty command"))
        }
        guard let path = Self.resolve(program) else {
            return ChildOutcome(ending: .failedToStart(Self.whyNotRunnable(program) ?? "\(program): cannot be run"))
        }
        var pipeEnds: [Int32] = [-1, -1]
        if request.outputLimit > 0 {
            // Close-on-exec is set right after pipe(2) (see `Posix.pipe`): a child another thread
            // spawns in between may inherit an end; nothing waits for its end of file.
            do {
                let ends = try Posix.pipe(nonBlockingRead: true, object: "the output pipe")
                pipeEnds = [ends.read, ends.write]
            } catch {
                return ChildOutcome(ending: .failedToStart("cannot create the output pipe: \(error.reason)"))
            }
        }
        let spawned = Self.spawn(path: path, arguments: request.arguments, environment: request.environment,
                                 outputWriteEnd: pipeEnds[1])
        if pipeEnds[1] >= 0 { Posix.close(pipeEnds[1]) }
        let pid: pid_t
        switch spawned {
        case .failure(let why):
            if pipeEnds[0] >= 0 { Posix.close(pipeEnds[0]) }
            return ChildOutcome(ending: .failedToStart("\(path): \(why)"))
        case .success(let child):
            pid = child
        }
        var reader = OutputReader(descriptor: pipeEnds[0], limit: request.outputLimit, tailLimit: request.outputTailLimit,
                                  clock: clock)
        let start = clock.now()
        let deadline = start.adding(milliseconds: request.timeout.milliseconds)
        if reader.wait(for: pid, until: deadline) {
            // The leader is a zombie until reaped, so -pid is still its group (ESRCH: none left).
            if request.endGroupOnExit { try? Posix.kill(-pid, SIGKILL) }
            reader.finish()
            let status = Self.reap(pid)
            return ChildOutcome(ending: Self.ending(status), output: reader.kept, outputTail: reader.keptTail,
                                outputDiscarded: reader.discarded, pid: pid)
        }
        // Timed out: the group (the leader is not reaped yet, so -pid is still its group).
        let grace = request.terminationGrace
        var stillRunning = true
        // ESRCH (the whole group already gone) is the only failure possible here: ignored.
        if grace.milliseconds == 0 {
            try? Posix.kill(-pid, SIGKILL)
        } else {
            try? Posix.kill(-pid, SIGTERM)
            stillRunning = !reader.wait(for: pid, until: clock.now().adding(milliseconds: grace.milliseconds))
            try? Posix.kill(-pid, SIGKILL)
        }
        reader.finish()
        _ = Self.reap(pid)
        return ChildOutcome(ending: .timedOut(after: request.timeout, grace: grace, stillRunningAfterGrace: stillRunning),
                            output: reader.kept, outputTail: reader.keptTail, outputDiscarded: reader.discarded, pid: pid)
    }

    /// Why `program` cannot be run here, naming the fix; nil when it can (`resolve` finds it).
    /// A path: "no such file", "is a directory", "is not executable (mode 0644): chmod +x …";
    /// a bare name: not found in PATH.
    public static func whyNotRunnable(_ program: String) -> String? {
        guard resolve(program) == nil else { return nil }
        guard program.contains("/") else {
            return "\(program): no such executable file in PATH; give an absolute path"
        }
        guard let info = try? Posix.status(of: program) else {
            return "\(program): no such file (or a directory on the way cannot be searched); check the path"
        }
        if info.st_mode & S_IFMT == S_IFDIR { return "\(program): is a directory, not a program" }
        let mode = String(info.st_mode & 0o7777, radix: 8)
        return "\(program): is not executable by tandemd (mode 0\(mode)): `chmod +x \(program)`"
    }

    /// An absolute or relative path as given; a bare name searched in PATH. Only a regular file
    /// this process may execute is found.
    public static func resolve(_ program: String) -> String? {
        func runnable(_ candidate: String) -> Bool {
            guard let info = try? Posix.status(of: candidate) else { return false }
            return info.st_mode & S_IFMT == S_IFREG && Posix.isAccessible(candidate, X_OK)
        }
        if program.contains("/") { return runnable(program) ? program : nil }
        let path = getenv("PATH").map { String(cString: $0) } ?? "/usr/sbin:/usr/bin:/sbin:/bin"
        for dir in path.split(separator: ":") where runnable("\(dir)/\(program)") {
            return "\(dir)/\(program)"
        }
        return nil
    }

    private static func spawn(path: String, arguments: [String], environment: [String: String],
                              outputWriteEnd: Int32) -> Result<pid_t, SpawnFailure> {
        var actions = posix_spawn_file_actions_t()
        var attributes = posix_spawnattr_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawnattr_init(&attributes)
        defer {
            posix_spawn_file_actions_destroy(&actions)
            posix_spawnattr_destroy(&attributes)
        }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        if outputWriteEnd >= 0 {
            posix_spawn_file_actions_adddup2(&actions, outputWriteEnd, 1)
            posix_spawn_file_actions_adddup2(&actions, outputWriteEnd, 2)
        } else {
            posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
            posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        }
        // Last (the actions run in order, and the pipe's end is above 2): nothing of tandemd's
        // beyond 0-2 reaches the child, even a descriptor a library opened without close-on-exec,
        // so a child left running never holds a heartbeat socket or the output pipe's other end.
        if let closeFrom = Self.addCloseFrom { _ = closeFrom(&actions, 3) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in 1..<32 where signal != SIGKILL && signal != SIGSTOP { sigaddset(&defaults, Int32(signal)) }
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        var merged: [String: String] = [:]
        var entry = environ
        while let pointer = entry.pointee {
            let text = String(cString: pointer)
            if let equals = text.firstIndex(of: "=") { merged[String(text[..<equals])] = String(text[text.index(after: equals)...]) }
            entry += 1
        }
        merged.merge(environment) { _, new in new }
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid = pid_t()
        let rc = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        guard rc == 0 else { return .failure(SpawnFailure(text: "\(String(cString: strerror(rc))) (errno \(rc))")) }
        return .success(pid)
    }

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34+; not in Swift's Glibc module,
    /// whose headers are compiled without _GNU_SOURCE), looked up once; nil on an older glibc.
    private static let addCloseFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32)? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32).self)
    }()

    struct SpawnFailure: Error, CustomStringConvertible {
        var text: String
        var description: String { text }
    }

    /// Waits for `pid` to end and collects it (retrying on EINTR). A failure (ECHILD: not our
    /// child any more) reads as status 0, as before.
    private static func reap(_ pid: pid_t) -> Int32 {
        (try? Posix.waitForExit(pid)) ?? 0
    }

    private static func ending(_ status: Int32) -> ChildOutcome.Ending {
        let signal = status & 0x7f
        if signal == 0 { return .exited((status >> 8) & 0xff) }
        return .killedBySignal(signal)
    }
}

/// Reads the child's output pipe while waiting for the child, keeping the first `limit` bytes
/// and the last `tailLimit` of the rest.
private struct OutputReader {
    var descriptor: Int32
    let limit: Int
    let tailLimit: Int
    let clock: any TandemClock
    var kept: [UInt8] = []
    /// The newest bytes past `limit`: up to twice `tailLimit` between trims (trimmed to it in `keptTail`).
    private var tail: [UInt8] = []
    /// Bytes read past `limit`.
    private var beyond = 0

    init(descriptor: Int32, limit: Int, tailLimit: Int, clock: any TandemClock) {
        self.descriptor = descriptor
        self.limit = limit
        self.tailLimit = tailLimit
        self.clock = clock
    }

    /// The last `tailLimit` bytes read past `limit`.
    var keptTail: [UInt8] { Array(tail.suffix(tailLimit)) }
    /// Bytes read past `limit` and not in `keptTail`.
    var discarded: Int { beyond - min(tail.count, tailLimit) }

    /// Reads output until `pid` has exited (true; not reaped) or `deadline` passes (false).
    mutating func wait(for pid: pid_t, until deadline: MonotonicInstant) -> Bool {
        var pause: UInt64 = 1
        while true {
            if Posix.hasExited(pid) { return true }
            let now = clock.now()
            guard now < deadline else { return false }
            let wait = min(pause, max(1, deadline.nanoseconds(since: now) / 1_000_000))
            if descriptor >= 0 {
                var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
                // A signal or a failed poll just means: look at the child again.
                if let ready = try? Posix.poll(&entry, timeoutMilliseconds: Int32(wait), object: "the output pipe"), ready > 0 {
                    if drain() { pause = 1; continue }
                }
            } else {
                Posix.sleep(milliseconds: Int32(wait))
            }
            pause = min(pause * 2, 10)
        }
    }

    /// Reads what the pipe holds now; true when something was read. Closes the pipe at end of file.
    mutating func drain() -> Bool {
        guard descriptor >= 0 else { return false }
        var buffer = [UInt8](repeating: 0, count: 4096)
        var any = false
        let fd = descriptor
        while true {
            // nil: nothing more for now (EAGAIN) or a failed read; both end this drain.
            guard let n = try? Posix.read(fd, into: &buffer, object: "the output pipe") else { return any }
            if n > 0 {
                any = true
                let room = max(0, limit - kept.count)
                kept += buffer[0..<min(n, room)]
                if n > room {
                    beyond += n - room
                    if tailLimit > 0 {
                        tail += buffer[max(room, n - tailLimit)..<n]
                        if tail.count > 2 * tailLimit { tail.removeFirst(tail.count - tailLimit) }
                    }
                }
                continue
            }
            Posix.close(descriptor)
            descriptor = -1
            return any
        }
    }

    /// Reads what is left without waiting and closes the pipe (later writers get EPIPE).
    mutating func finish() {
        _ = drain()
        if descriptor >= 0 {
            Posix.close(descriptor)
            descriptor = -1
        }
    }
}
