import ArgumentParser
import FoundationEssentials
import Glibc
import TandemCore
import TandemKernel

/// Where the daemon's control socket is: `--socket`, else $TANDEM_SOCKET, else the default.
struct SocketOption: ParsableArguments {
    @Option(name: .long, help: "tandemd's control socket (default: $TANDEM_SOCKET or /run/tandem/tandemd.sock).")
    var socket: String?

    var path: String { socket ?? ProcessInfo.processInfo.environment["TANDEM_SOCKET"] ?? ControlSettings().socketPath }
}

/// A blocking client for one control connection: one request line out, response lines in.
struct ControlConnectionClient {
    let fd: Int32
    let path: String
    private var pending: [UInt8] = []

    /// Connects, or exits 69 (EX_UNAVAILABLE) with the reason and the fix.
    init(path: String) throws {
        self.path = path
        do {
            fd = try Posix.connectUnixSocket(path: path, type: Int32(SOCK_STREAM.rawValue))
        } catch where error.errno == ENAMETOOLONG {
            throw Self.fail("control socket path \(path) is too long", code: 64)
        } catch {
            let code = error.errno
            // connect(2) to a path that is not a socket says ECONNREFUSED too: name what it is.
            if code == ECONNREFUSED, let info = try? Posix.status(of: path), info.st_mode & S_IFMT != S_IFSOCK {
                let kind = info.st_mode & S_IFMT
                let what = kind == S_IFDIR ? "a directory" : kind == S_IFREG ? "a regular file" : "not a socket"
                throw Self.fail("\(path) is \(what), not tandemd's control socket: pass --socket with the path of control.socket "
                                + "in tandemd's config (default /run/tandem/tandemd.sock)", code: 69)
            }
            let hint = code == ENOENT || code == ECONNREFUSED ? " (is tandemd running? it listens on control.socket; pass --socket if it is elsewhere)"
                : code == EACCES ? " (the socket's directory does not admit you)" : ""
            throw Self.fail("cannot connect to tandemd at \(path): \(String(cString: strerror(code)))\(hint)", code: 69)
        }
    }

    static func fail(_ message: String, code: Int32) -> ExitCode {
        writeOut(STDERR_FILENO, "tandemctl: \(message)")
        return ExitCode(code)
    }

    func send(_ command: ControlCommand) throws {
        let line = ControlProtocol.line(ControlRequest(command))
        var sent = 0
        while sent < line.count {
            do {
                // A blocking socket: nil (would block) does not happen; it would just send again.
                sent += try Posix.send(fd, Array(line[sent...]), object: path) ?? 0
            } catch {
                throw Self.fail("lost the connection to tandemd at \(path): \(error.reason)", code: 69)
            }
        }
    }

    /// How long a request waits for tandemd's answer, seconds: a status is answered at once and
    /// a failover or reload within a few seconds, so a daemon that says nothing for this long is
    /// stopped (SIGSTOP), hung or starved, and a monitoring script must not hang with it.
    static let answerTimeoutSeconds = 30

    /// Makes `receive()` give up (exit 69) after `seconds` without a byte from tandemd.
    mutating func limitWait(seconds: Int) {
        var limit = timeval(tv_sec: seconds, tv_usec: 0)   // 0: wait for ever
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        waitLimit = seconds == 0 ? nil : seconds
    }
    private var waitLimit: Int?

    /// The next response line; nil when tandemd closed the connection.
    mutating func receive() throws -> ControlResponse? {
        while true {
            if let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = Array(pending[..<newline])
                pending.removeSubrange(...newline)
                do { return try ControlResponse.parse(line) } catch { throw Self.fail("\(error)", code: 76) }
            }
            var buffer = [UInt8](repeating: 0, count: 65_536)
            let received: Int?
            do {
                received = try Posix.receive(fd, into: &buffer, object: path)
            } catch {
                throw Self.fail("lost the connection to tandemd at \(path): \(error.reason)", code: 69)
            }
            guard let n = received else {
                // A blocking socket says "would block" only when its SO_RCVTIMEO ran out.
                guard let waitLimit else { continue }
                throw Self.fail("tandemd at \(path) did not answer within \(waitLimit)s: it is stopped (SIGSTOP), hung or starved of CPU; "
                                + "see `systemctl status tandemd` and its log (the request may still be carried out)", code: 69)
            }
            if n == 0 { return nil }
            pending.append(contentsOf: buffer[..<n])
        }
    }

    func close() { Posix.close(fd) }

    /// Sends one request and returns its successful response, or prints the error and exits
    /// (1 refused/failed, 77 not authorized, 64 bad request).
    static func request(_ command: ControlCommand, socket: SocketOption) throws -> ControlResponse {
        var client = try ControlConnectionClient(path: socket.path)
        defer { client.close() }
        // A failover or maintenance change is answered when the roles settle, which may take the
        // handover timeout (4 × dead_time, up to 40 minutes): tandemd answers it in any case.
        switch command {
        case .failover, .maintenance: break
        default: client.limitWait(seconds: answerTimeoutSeconds)
        }
        try client.send(command)
        guard let response = try client.receive() else {
            throw fail("tandemd closed the connection without answering", code: 69)
        }
        try check(response)
        return response
    }

    /// The active connections of the real servers `rows` (each with its service) as the kernel
    /// counts them, for the `--wait` loops; exits 1 when none match (`none` nil) or a service's
    /// table is unknown (the IPVS table is not readable on this node): a wait must never report
    /// "no connections left" on counts it could not read. A server absent from a readable table
    /// (a sorry server standing by, one its health check removed) has none.
    static func activeConnections(_ rows: [(service: StatusReport.Service, server: StatusReport.RealServer)], of what: String,
                                  none: Int? = nil) throws -> Int {
        if rows.isEmpty, let none { return none }
        guard !rows.isEmpty else {
            throw fail("\(what) is in no virtual server of the config in force (with --service: in none of that name); nothing to wait for", code: 1)
        }
        guard rows.allSatisfy({ $0.service.inKernel != nil }) else {
            throw fail("cannot wait: the connection counts of \(what) are unknown here (the kernel's IPVS table is not readable on this node: "
                       + "see `tandemctl status`): the request itself was carried out, only the wait cannot be", code: 1)
        }
        return rows.reduce(0) { $0 + Int($1.server.activeConnections ?? 0) }
    }

    static func check(_ response: ControlResponse) throws {
        guard !response.ok else { return }
        let error = response.error ?? ControlErrorBody(code: "failed", message: "tandemd reported a failure without a reason")
        let code: Int32 = switch error.code {
        case "not-authorized": 77
        case "bad-request", "unsupported-version": 64
        default: 1
        }
        throw fail(error.message, code: code)
    }
}

func printJSON<T: Encodable>(_ value: T) {
    let encoder = ControlProtocol.encoder()
    encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
    if let data = try? encoder.encode(value) { print(String(decoding: data, as: UTF8.self)) }
}

/// `tandemctl status`.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show this node's role and why, the peer, heartbeat paths, VIPs, services and configs.")

    @OptionGroup var socket: SocketOption
    @Flag(help: "Print the status as JSON (for scripts).") var json = false

    func run() throws {
        let response = try ControlConnectionClient.request(.status, socket: socket)
        guard let status = response.status else { throw ControlConnectionClient.fail("tandemd sent no status", code: 76) }
        if json { printJSON(status) } else { print(status.text, terminator: "") }
    }
}

/// `tandemctl failover`.
struct FailoverCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "failover",
        abstract: "Move the VIPs to the other node, make-before-break; returns when the move is complete.",
        discussion: """
        Works from either node: on the active it hands over to the standby; on the standby it asks \
        the active to hand over. Right after a reload it first waits (up to the handover timeout \
        and 2 s) for the peer to mirror the new config. Refused, with the reason, when the peer \
        cannot take over (not heard, in fault or maintenance) or the two configs still differ — \
        unless --force, which on the \
        active releases the VIPs even with nobody to claim them (it takes them back after the \
        handover timeout if the peer does not).
        """)

    @OptionGroup var socket: SocketOption
    @Flag(help: "Fail over even when the peer cannot take over or the configs differ.") var force = false
    @Flag(help: "Print the result as JSON.") var json = false

    func run() throws {
        let response = try ControlConnectionClient.request(.failover(force: force), socket: socket)
        if json, let result = response.failover { printJSON(result) } else { print(response.failover?.message ?? response.message ?? "done") }
    }
}

/// `tandemctl maintenance on|off`.
struct MaintenanceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "maintenance",
        abstract: "Pin this node to standby (an active node hands over first), or release it.",
        discussion: """
            The setting is kept in the state directory and survives a daemon restart. On the \
            active of a pair, `on` first hands over to the standby; with nobody to hand over to \
            (the peer not heard, or in fault or maintenance) it is refused and the node stays \
            active, unless --force, which releases the VIPs anyway. On a \
            cluster director, maintenance withdraws every VIP's route first (the command returns \
            once they are out of the route table) and keeps the VIPs, so established connections \
            finish. `maintenance on --wait` then reports this node's active IPVS connections every \
            second until they reach zero (or --timeout). On a director the router sends nothing once \
            the routes are withdrawn, and its flows continue on the other directors through the \
            synced entries, so its own entries would wait for IPVS's timeouts: a director has drained \
            when no packet reached its real servers for 3 s in a row (IPVS's InPkts counters stop \
            rising), or when its active connections reach zero.
            """)

    enum Switch: String, ExpressibleByArgument, CaseIterable { case on, off }

    @OptionGroup var socket: SocketOption
    @Argument(help: "on or off.") var state: Switch
    @Flag(help: "With on: wait until this node's active connections have fallen to zero.") var wait = false
    @Flag(help: "With on, on the active of a pair: release the VIPs even with nobody to hand over to.") var force = false
    @Option(help: "Longest wait, in seconds.") var timeout: Int = 600

    func run() throws {
        let response = try ControlConnectionClient.request(.maintenance(on: state == .on, force: force), socket: socket)
        print(response.message ?? "maintenance \(state.rawValue)")
        guard wait, state == .on else { return }
        let deadline = Date().addingTimeInterval(TimeInterval(timeout))
        var director: DirectorDrainWatch?
        while Date() < deadline {
            let status = try ControlConnectionClient.request(.status, socket: socket).status
            let servers = (status?.services ?? []).flatMap(\.realServers)
            let rows = (status?.services ?? []).flatMap { svc in svc.realServers.map { (service: svc, server: $0) } }
            let active = try ControlConnectionClient.activeConnections(rows, of: "this node's real servers", none: 0)
            if status?.mode == "cluster" {
                if director == nil { director = DirectorDrainWatch() }
                let packets = servers.reduce(UInt64(0)) { $0 &+ ($1.inPackets ?? 0) }
                switch director!.observe(.init(active: active, inPackets: packets)) {
                case .draining(let active, let packets):
                    print("  active connections: \(active); packets in the last second: \(packets)")
                case .drained(let why):
                    print(why)
                    return
                }
            } else {
                print("  active connections: \(active)")
                if active == 0 {
                    print("no active connections left on this node")
                    return
                }
            }
            sleep(1)
        }
        throw ControlConnectionClient.fail("this node still has active connections after \(timeout)s", code: 1)
    }
}

/// `tandemctl drain` / `undrain`.
struct DrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drain",
        abstract: "Set a real server's weight to 0 (existing connections finish); kept across restarts.",
        discussion: """
        ADDR:PORT as in the config (IPv6 as [ADDR]:PORT). Without --service, every virtual server \
        that has this real server. With --wait, reports its connections every second until they \
        reach zero (or --timeout). The drain list is mirrored to the peer over the authenticated \
        peer channel (the newer list wins), so a drain holds after a failover; if the peer cannot \
        be told, the command says so.
        """)

    @OptionGroup var socket: SocketOption
    @Argument(help: "The real server, ADDR:PORT.") var server: String
    @Option(help: "Only in this virtual server.") var service: String?
    @Flag(help: "Wait until its connections have fallen to zero.") var wait = false
    @Option(help: "Longest wait, in seconds.") var timeout: Int = 600

    func run() throws {
        // A pair counts its clients on the active router's table: a wait asked of the standby is
        // refused before anything changes (it drained, then exited 1 as if refused: trial 34).
        if wait, let status = try ControlConnectionClient.request(.status, socket: socket).status,
           status.mode != "cluster", status.role != "active" {
            throw ControlConnectionClient.fail("this node (\(status.node)) is \(status.role): \(server)'s connections are counted on "
                + "the active router's table, so drain --wait runs there (\(status.peer.name) if it is active); nothing was drained. "
                + "Without --wait a drain here is mirrored to the peer", code: 1)
        }
        let response = try ControlConnectionClient.request(.drain(server: server, service: service), socket: socket)
        print(response.message ?? "drained")
        guard wait else {
            for entry in response.drain?.entries ?? [] {
                print("  \(entry.service): active \(entry.activeConnections.map(String.init) ?? "-"), inactive \(entry.inactiveConnections.map(String.init) ?? "-")")
            }
            return
        }
        let deadline = Date().addingTimeInterval(TimeInterval(timeout))
        while Date() < deadline {
            let status = try ControlConnectionClient.request(.status, socket: socket).status
            // A pair's clients are on the active router's table (a standby's has only what the
            // sync daemon mirrored, if that): a wait anywhere else would end at once, wrongly.
            if let status, status.mode != "cluster", status.role != "active" {
                // The role changed after the drain: the drain stays in force.
                throw ControlConnectionClient.fail("this node (\(status.node)) is \(status.role) now: \(server)'s connections are counted on "
                                                   + "the active router's table; the drain is in force, run drain --wait on the active "
                                                   + "(\(status.peer.name) if it is active) to wait", code: 1)
            }
            let endpoint = try? ServerEndpoint.parse(server)
            let rows = (status?.services ?? []).filter { service == nil || $0.name == service }.flatMap { svc in
                svc.realServers.filter { $0.server == endpoint?.description }.map { (service: svc, server: $0) }
            }
            print(rows.map { "  \($0.service.name): active \($0.server.activeConnections.map(String.init) ?? "-"), inactive \($0.server.inactiveConnections.map(String.init) ?? "-")" }.joined(separator: "\n"))
            let active = try ControlConnectionClient.activeConnections(rows, of: "\(server)")
            if active == 0 {
                print("no active connections left on \(server)")
                return
            }
            sleep(1)
        }
        throw ControlConnectionClient.fail("\(server) still has active connections after \(timeout)s", code: 1)
    }
}

struct UndrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "undrain",
        abstract: "Give a drained real server its weight back.")

    @OptionGroup var socket: SocketOption
    @Argument(help: "The real server, ADDR:PORT.") var server: String
    @Option(help: "Only in this virtual server.") var service: String?

    func run() throws {
        let response = try ControlConnectionClient.request(.undrain(server: server, service: service), socket: socket)
        print(response.message ?? "undrained")
    }
}

/// `tandemctl reload`.
struct ReloadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reload",
        abstract: "Re-read tandemd's config file: validate, show the difference, apply.",
        discussion: """
            An invalid file is refused with its errors and the running config stays in force. \
            Key files are re-read every time. Settings that only a restart applies (heartbeat \
            port, addresses, control socket, ...) are listed under "needs a restart", \
            never as applied. IPVS changes a kernel without IPVS cannot take are marked "not in the \
            kernel", with a warning saying why. A file that renames either node is refused.
            """)

    @OptionGroup var socket: SocketOption
    @Flag(help: "Validate and show the difference only.") var dryRun = false
    @Flag(help: "Print the result as JSON.") var json = false

    func run() throws {
        let response = try ControlConnectionClient.request(.reload(dryRun: dryRun), socket: socket)
        guard let result = response.reload else { print(response.message ?? "reloaded"); return }
        if json { printJSON(result); return }
        let verb = result.applied ? "applied" : dryRun ? "would apply" : "unchanged"
        print("\(verb): serial \(result.oldSerial) -> \(result.newSerial), digest \(result.oldDigest.prefix(16)) -> \(result.newDigest.prefix(16))")
        for line in result.changes { print("  \(line)") }
        let restart = result.restartNeeded ?? []
        if result.changes.isEmpty && restart.isEmpty { print("  no difference") }
        if !restart.isEmpty {
            print("needs a restart of tandemd (until then it runs with the values it started with):")
            for line in restart { print("  ~ \(line)") }
            if let advice = ConfigDifference.restartTogetherAdvice(restart) { print(advice) }
        }
        for warning in result.warnings ?? [] { print("warning: \(warning)") }
    }
}

/// `tandemctl show ipvs`.
struct ShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Show what the daemon sees: `show ipvs` prints the kernel table in the ipvsadm -Ln layout.")

    enum What: String, ExpressibleByArgument, CaseIterable { case ipvs }

    @OptionGroup var socket: SocketOption
    @Argument(help: "What to show: ipvs.") var what: What

    func run() throws {
        let response = try ControlConnectionClient.request(.showIPVS, socket: socket)
        print(response.ipvs ?? "", terminator: "")
    }
}

/// `tandemctl events`.
struct EventsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "Stream role, peer, health, kernel, config and drain events as they happen.")

    @OptionGroup var socket: SocketOption
    @Flag(help: "Keep following (the default; the flag is accepted for familiarity).") var follow = false
    @Flag(help: "One JSON object per line.") var json = false
    @Option(help: "Stop after this many events.") var count: Int?

    func run() throws {
        var client = try ControlConnectionClient(path: socket.path)
        defer { client.close() }
        client.limitWait(seconds: ControlConnectionClient.answerTimeoutSeconds)
        try client.send(.events)
        guard let ack = try client.receive() else { throw ControlConnectionClient.fail("tandemd closed the connection", code: 69) }
        try ControlConnectionClient.check(ack)
        // Events come when something happens: the stream may rightly be quiet for hours.
        client.limitWait(seconds: 0)
        var seen = 0
        while let response = try client.receive() {
            guard let event = response.event else { continue }
            let text = json ? String(decoding: ControlProtocol.line(event).dropLast(), as: UTF8.self) : event.line
            writeOut(STDOUT_FILENO, text)
            seen += 1
            if let count, seen >= count { return }
        }
        // A watcher must tell a crash from a normal end: tandemd never ends the stream itself.
        throw ControlConnectionClient.fail("tandemd at \(socket.path) closed the event stream: it stopped or restarted", code: 69)
    }
}
