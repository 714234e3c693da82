import ArgumentParser
import FoundationEssentials
import NIOCore
import NIOPosix
import TandemCore
import TandemHealth
import TandemKernel

/// `tandemctl health …`: runs a config's health checks from this machine, for debugging checks.
struct HealthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "health",
        abstract: "Run a config's health checks from here (debugging).",
        shouldDisplay: false,
        subcommands: [HealthCheckCommand.self]
    )
}

/// `tandemctl health check FILE [--service NAME] [--watch SECONDS] [--json]`.
struct HealthCheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Run the configured health checks once, or watch them.",
        discussion: """
            Once: runs every check of the config (or of one service) once, concurrently, and prints one \
            line per real server; exits 0 when all passed and 1 otherwise.
            With --watch N: runs the checks at their intervals for N seconds, as the daemon does, printing \
            every change of health or weight as a JSON line, then a final JSON line per real server.
            """
    )

    @Argument(help: "The config file.") var file: String
    @Option(help: "Check only this virtual server.") var service: String?
    @Option(help: "Watch for this many seconds (1-86400) instead of checking once.") var watch: Int?
    @Flag(help: "Print JSON lines instead of text (always on with --watch).") var json = false

    func validate() throws {
        if let watch, !(1...86_400).contains(watch) {
            throw ValidationError("--watch \(watch): give a number of seconds from 1 to 86400")
        }
    }

    func run() async throws {
        let config = try loadConfigOrExit(file).config
        if let service, !config.virtualServers.contains(where: { $0.name == service }) {
            printError("\(file): no virtual server is called \"\(service)\"; the config names \(config.virtualServers.map(\.name).joined(separator: ", "))")
            throw ExitCode(exitConfigInvalid)
        }
        let targets = HealthTarget.all(in: config).filter { service == nil || $0.server.service == service }
        if targets.isEmpty {
            printError("\(file): no real server has a health check\(service.map { " in \($0)" } ?? "")")
            throw ExitCode(1)
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let outcome: Result<Void, any Error>
        do {
            if let watch {
                try await runWatch(targets: targets, seconds: watch, group: group)
            } else {
                try await runOnce(targets: targets, group: group)
            }
            outcome = .success(())
        } catch {
            outcome = .failure(error)
        }
        try? await group.shutdownGracefully()
        try outcome.get()
    }

    private func runOnce(targets: [HealthTarget], group: MultiThreadedEventLoopGroup) async throws {
        let clock = MonotonicClock()
        let prober = NIOHealthProber(clock: clock)
        let start = clock.now()
        let futures = targets.map { target in
            let loop = group.next()
            return prober.probe(target, on: loop).map { (target, $0, clock.now()) }
        }
        var allPassed = true
        for future in futures {
            let (target, result, end) = try await future.get()
            allPassed = allPassed && result.passed
            var tracker = HealthTracker(rise: target.check.rise, fall: target.check.fall, createdAt: start)
            tracker.record(result, at: end)
            let weight = tracker.effectiveWeight(configured: target.weight, warmup: nil, at: end)
            let ms = Double(end.nanoseconds(since: start)) / 1e6
            if json {
                var fields = serverFields(target.server, probe: target.check.probe)
                fields["probe_port"] = .int(Int64(target.probePort))
                fields["passed"] = .bool(result.passed)
                fields["reason"] = .string(result.reason)
                fields["weight"] = optionalInt(weight)
                fields["configured_weight"] = .int(Int64(target.weight))
                fields["ms"] = .int(Int64(ms.rounded()))
                emit(.object(fields))
            } else {
                let w = weight.map { $0 == target.weight ? "weight \($0)" : "weight \($0) of \(target.weight)" } ?? "down"
                emitText("\(target.server): \(target.check.probe.typeName) \(result.passed ? "passed" : "FAILED"): \(result.reason) (\(w), \(oneDecimal(ms))ms)")
            }
        }
        if !allPassed { throw ExitCode(1) }
    }

    private func runWatch(targets: [HealthTarget], seconds: Int, group: MultiThreadedEventLoopGroup) async throws {
        let clock = MonotonicClock()
        let start = clock.now()
        let elapsed: @Sendable (MonotonicInstant) -> JSONValue = { .int(Int64($0.nanoseconds(since: start) / 1_000_000)) }
        let monitor = HealthMonitor(group: group, clock: clock)
        monitor.apply(targets: targets)
        let printer = Task {
            for await update in monitor.updates {
                var fields = serverFields(update.server, probe: update.key.probe)
                fields["event"] = .string(update.change == nil ? "weight" : "change")
                fields["weight"] = optionalInt(update.weight)
                fields["t_ms"] = elapsed(update.at)
                if let change = update.change {
                    fields["old"] = .string(change.old.rawValue)
                    fields["new"] = .string(change.new.rawValue)
                    fields["reason"] = .string(change.reason)
                }
                emit(.object(fields))
            }
        }
        try await Task.sleep(for: .seconds(seconds))
        monitor.stop()
        await printer.value
        for entry in monitor.snapshot() {
            var fields = serverFields(entry.key.server, probe: entry.key.probe)
            fields["event"] = .string("final")
            fields["status"] = .string(entry.status.rawValue)
            fields["since_ms"] = elapsed(entry.since)
            fields["reason"] = entry.lastResult.map { JSONValue.string($0.reason) } ?? JSONValue.null
            fields["passed"] = entry.lastResult.map { JSONValue.bool($0.passed) } ?? JSONValue.null
            fields["weight"] = optionalInt(entry.effectiveWeight)
            fields["configured_weight"] = .int(Int64(entry.configuredWeight))
            emit(.object(fields))
        }
    }
}

/// Writes one line to standard output at once (no stdio buffering: a reader sees each line as
/// it happens).
private func emitText(_ line: String) {
    writeOut(STDOUT_FILENO, line)
}

private func emit(_ value: JSONValue) {
    emitText(value.compactText)
}

private func serverFields(_ server: RealServerID, probe: HealthCheck.Probe) -> [String: JSONValue] {
    ["service": .string(server.service), "address": .string(server.address.description),
     "port": .int(Int64(server.port)), "probe": .string(probe.typeName)]
}

private func optionalInt(_ value: Int?) -> JSONValue {
    value.map { JSONValue.int(Int64($0)) } ?? JSONValue.null
}

/// `value` with one decimal ("12.3", "0.0"), rounded to nearest, ties to even, as `%.1f` printed it.
func oneDecimal(_ value: Double) -> String {
    let tenths = Int((value * 10).rounded(.toNearestOrEven))
    return "\(tenths < 0 ? "-" : "")\(abs(tenths) / 10).\(abs(tenths) % 10)"
}
