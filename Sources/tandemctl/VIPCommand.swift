import ArgumentParser
import Glibc
import TandemCore
import TandemKernel

/// `tandemctl vip claim|release|list|monitor`: manual VIP handling for recovery and testing.
///
/// Not the daemon's path: while `tandemd` runs it owns the VIPs. These commands talk to the kernel
/// directly, one-shot, and print JSON lines (times as CLOCK_REALTIME nanoseconds, `*_ns`).
struct VIPCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vip",
        abstract: "Claim, release, list or watch virtual IPs directly (maintenance; bypasses tandemd).",
        shouldDisplay: false,
        subcommands: [Claim.self, Release.self, List.self, Monitor.self]
    )

    struct Target: ParsableArguments {
        @Option(name: .long, help: "Interface the VIPs live on.") var interface: String
        @Option(name: .long, help: "IPv4 address label, e.g. eth0:vip.") var label: String?
        @Argument(help: "VIPs as ADDRESS/PREFIXLEN.") var vips: [String] = []

        func parsed(requireOne: Bool = true) throws -> [VirtualIP] {
            if requireOne && vips.isEmpty { throw ValidationError("name at least one VIP as ADDRESS/PREFIXLEN") }
            return try vips.map { text in
                guard let prefix = IPPrefix(text) else {
                    throw ValidationError("\(text) is not ADDRESS/PREFIXLEN (e.g. 192.0.2.10/24 or 2001:db8::10/64)")
                }
                if let label, label.utf8.count > 15 { throw ValidationError("label \(label) is longer than 15 characters") }
                return VirtualIP(prefix: prefix, interface: interface, label: prefix.family == .ipv4 ? label : nil)
            }
        }
    }

    struct AnnounceOptions: ParsableArguments {
        @Option(help: "Messages per VIP at claim time.") var announceRepeat: Int = 5
        @Option(help: "Gap between messages of a burst (e.g. 0ms, 100ms).") var announceSpacing: String = "0ms"
        @Option(help: "Second burst after this delay, or 'none'.") var secondBurst: String = "5s"
        @Option(help: "Refresh interval while holding, or 'none'.") var refresh: String = "none"
        @Option(help: "Messages per refresh.") var refreshRepeat: Int = 1
        @Option(help: "Gratuitous ARP form: request or reply.") var arpMode: AnnounceSettings.ARPMode = .request

        func settings() throws -> AnnounceSettings {
            func span(_ text: String, _ name: String) throws -> TimeSpan? {
                if text == "none" { return nil }
                guard let t = TimeSpan(parsing: text) else { throw ValidationError("--\(name) \(text): write e.g. 100ms, 5s or none") }
                return t
            }
            guard announceRepeat >= 0, refreshRepeat >= 0 else { throw ValidationError("repeat counts cannot be negative") }
            return AnnounceSettings(repeatCount: announceRepeat, spacing: try span(announceSpacing, "announce-spacing") ?? .milliseconds(0),
                                    secondBurstDelay: try span(secondBurst, "second-burst"),
                                    refreshInterval: try span(refresh, "refresh"), refreshRepeat: refreshRepeat, arpMode: arpMode)
        }
    }

    struct Claim: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add VIPs and announce them; stays until the announcement schedule ends (or --hold / a signal).")
        @OptionGroup var target: Target
        @OptionGroup var announce: AnnounceOptions
        @Option(help: "Keep announcing (refresh) for this long, then exit without releasing (e.g. 30s).") var hold: String?
        @Flag(help: "Open the sockets after the start timestamp (measure a cold start).") var cold = false

        func run() throws {
            let vips = try target.parsed()
            let settings = try announce.settings()
            let holdFor = try hold.map { text -> TimeSpan in
                guard let t = TimeSpan(parsing: text) else { throw ValidationError("--hold \(text): write e.g. 30s") }
                return t
            }
            blockTerminationSignals()
            let sender = PacketAnnouncementSender()
            var table: LiveAddressTable?
            if !cold {
                table = try LiveAddressTable()
                for vip in vips { try sender.prepare(interface: vip.interface) }
            }
            func makeAnnouncer() -> LiveAnnouncer {
                LiveAnnouncer(sender: sender, onError: { vip, error in
                    emit(["event": "announce_failed", "vip": .string(vip.prefix.description), "error": .string("\(error)")])
                })
            }
            // Warm: everything tandemd holds from start-up exists before the clock starts.
            var warmAnnouncer: LiveAnnouncer? = cold ? nil : makeAnnouncer()
            let start = realtimeNanoseconds()
            let addresses = try table ?? LiveAddressTable()
            var changes: [AddressChange] = []
            for vip in vips { changes.append(try addresses.claim(vip)) }
            let added = realtimeNanoseconds()
            let announcer = warmAnnouncer ?? makeAnnouncer()
            warmAnnouncer = nil
            try announcer.begin(vips, settings: settings)
            let announced = realtimeNanoseconds()
            for (vip, change) in zip(vips, changes) {
                emit(["event": "claimed", "vip": .string(vip.prefix.description), "interface": .string(vip.interface),
                      "change": .string(change.rawValue), "start_ns": nanoseconds(start), "added_ns": nanoseconds(added),
                      "first_announced_ns": nanoseconds(announced)])
            }
            let schedule = AnnounceSchedule(settings)
            let waitMs = holdFor?.milliseconds ?? (schedule.isInfinite ? UInt64.max : (schedule.lastOffset?.milliseconds ?? 0) + 50)
            waitForSignal(milliseconds: waitMs)
            announcer.endAll()
        }
    }

    struct Release: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove VIPs (other addresses are kept).")
        @OptionGroup var target: Target

        func run() throws {
            let vips = try target.parsed()
            let table = try LiveAddressTable()
            for vip in vips {
                let change = try table.release(vip)
                emit(["event": "released", "vip": .string(vip.prefix.description), "interface": .string(vip.interface),
                      "change": .string(change.rawValue)])
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Say which of the given VIPs are present (or list the interface's addresses).")
        @OptionGroup var target: Target

        func run() throws {
            let vips = try target.parsed(requireOne: false)
            let table = try LiveAddressTable()
            if vips.isEmpty {
                for a in try table.addresses() where a.interface == target.interface {
                    emit(["address": .string(a.prefix.description), "interface": .string(a.interface), "flags": .int(Int64(a.flags)),
                          "label": a.label.map(JSONValue.string) ?? .null])
                }
                return
            }
            let present = Set(try table.present(vips))
            for vip in vips {
                emit(["vip": .string(vip.prefix.description), "interface": .string(vip.interface), "present": .bool(present.contains(vip))])
            }
        }
    }

    struct Monitor: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print link and VIP events as JSON lines until a signal or --duration.")
        @OptionGroup var target: Target
        @Flag(help: "Claim the VIPs through this process first (and release them at exit), so its own changes show as origin tandem.") var claim = false
        @Option(help: "Stop after this long (e.g. 10s).") var duration: String?
        @Option(help: "Receive buffer of the event socket in bytes (small values provoke overruns).") var receiveBuffer: Int32?

        func run() throws {
            let vips = try target.parsed(requireOne: false)
            let limit = try duration.map { text -> TimeSpan in
                guard let t = TimeSpan(parsing: text) else { throw ValidationError("--duration \(text): write e.g. 10s") }
                return t
            }
            blockTerminationSignals()
            let table = try LiveAddressTable()
            let monitor = try LiveRouteMonitor(
                interfaces: [target.interface], vips: vips, ownPorts: table.ownPorts, receiveBufferBytes: receiveBuffer,
                onError: { error in emit(["ts_ns": nanoseconds(realtimeNanoseconds()), "event": "error", "error": .string("\(error)")]) },
                handler: { event in emit(event.json(timestampNanoseconds: realtimeNanoseconds())) })
            if claim {
                for vip in vips {
                    monitor.expect(vip, present: true)
                    if try table.claim(vip) != .added { monitor.cancelExpectation(vip) }
                }
            }
            emit(["ts_ns": nanoseconds(realtimeNanoseconds()), "event": "ready",
                  "own_ports": .array(table.ownPorts.sorted().map { .int(Int64($0)) })])
            waitForSignal(milliseconds: limit?.milliseconds ?? UInt64.max)
            if claim {
                for vip in vips {
                    monitor.expect(vip, present: false)
                    if (try? table.release(vip)) != .removed { monitor.cancelExpectation(vip) }
                }
                // Let the monitor see our own release before stopping.
                var pause = timespec(tv_sec: 0, tv_nsec: 50_000_000)
                nanosleep(&pause, nil)
            }
            monitor.stop()
        }
    }
}

extension AnnounceSettings.ARPMode: ExpressibleByArgument {}

/// A CLOCK_REALTIME reading (`realtimeNanoseconds()`) as a JSON number.
private func nanoseconds(_ value: UInt64) -> JSONValue { .int(Int64(clamping: value)) }

/// Writes one JSON object as a line to stdout, unbuffered, so a reader sees it at once.
private func emit(_ object: JSONValue) {
    // A closed stdout (the reader went away) has nowhere to be reported: the line is dropped.
    try? Posix.writeAll(1, object.compactUTF8 + [UInt8(ascii: "\n")], object: "standard output")
}

/// Read and write ends of the pipe the SIGINT/SIGTERM handler writes to.
private let terminationPipe: (read: Int32, write: Int32) = {
    // Without the pipe a signal still ends the wait's poll (EINTR), so a failure only costs the
    // prompt wake-up.
    (try? Posix.pipe(nonBlockingWrite: true, object: "termination pipe")) ?? (-1, -1)
}()

/// Makes SIGINT and SIGTERM wake `waitForSignal` instead of killing the process at once (a
/// handler, not a blocked mask: the runtime's threads exist before any command runs, and a
/// process-directed signal goes to any thread that does not block it).
private func blockTerminationSignals() {
    _ = terminationPipe
    for signal in [SIGINT, SIGTERM] {
        try? Posix.setHandler(for: signal) { _ in Posix.writeByteFromSignalHandler(terminationPipe.write) }
    }
}

/// Waits for SIGINT/SIGTERM or until `milliseconds` pass.
private func waitForSignal(milliseconds: UInt64) {
    var remaining = milliseconds
    while remaining > 0 {
        let step = min(remaining, 3_600_000)
        var start = timespec()
        clock_gettime(CLOCK_MONOTONIC, &start)
        var fd = pollfd(fd: terminationPipe.read, events: Int16(POLLIN), revents: 0)
        // nil (a signal) or a failed poll: count the time that passed and wait again.
        let ready = try? Posix.poll(&fd, timeoutMilliseconds: Int32(step), object: "termination pipe")
        if let ready, ready > 0 { return }
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let elapsed = UInt64(max(0, (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1_000_000))
        remaining -= min(remaining, ready == nil ? elapsed : max(elapsed, step))
    }
}
