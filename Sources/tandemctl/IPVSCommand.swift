import ArgumentParser
import FoundationEssentials
import TandemCore
import TandemKernel

/// `tandemctl ipvs show|apply|sync`: read the kernel's IPVS table through generic netlink, or
/// reconcile it to a config file once, without a daemon.
struct IPVSCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ipvs",
        abstract: "Read or reconcile the kernel's IPVS table.",
        subcommands: [IPVSShowCommand.self, IPVSApplyCommand.self, IPVSSyncCommand.self]
    )
}

/// Opens the kernel's IPVS family, turning "not available" into one line and exit status 69
/// (EX_UNAVAILABLE).
func openIPVS() throws -> LiveIPVSKernel {
    do {
        return try LiveIPVSKernel()
    } catch {
        throw reportIPVSError(error)
    }
}

/// Prints an error opening or reading IPVS as one line; returns the exit status to end with:
/// 69 (EX_UNAVAILABLE) when this kernel has no IPVS, 1 otherwise.
func reportIPVSError(_ error: any Error) -> ExitCode {
    if let missing = error as? IPVSUnavailableError {
        printError(missing.description)
        return ExitCode(69)
    }
    printError("\(error)")
    return ExitCode(1)
}

/// Runs `body`, printing a kernel error as one line and exiting 1.
func reportingKernelErrors<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as ExitCode {
        throw error
    } catch {
        printError("\(error)")
        throw ExitCode(1)
    }
}

/// `tandemctl ipvs show`: the table in `ipvsadm -Ln` layout.
struct IPVSShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Print the kernel's IPVS table as `ipvsadm -Ln` does.",
        discussion: "Read through generic netlink; needs CAP_NET_ADMIN (the kernel requires it even for reads)."
    )

    @Flag(help: "JSON for scripts, with counters and connection numbers.") var json = false
    @Flag(help: "Traffic counters (ipvsadm --stats).") var stats = false
    @Flag(help: "Rates (ipvsadm --rate).") var rate = false
    @Flag(help: "Connection thresholds (ipvsadm --thresholds).") var thresholds = false
    @Flag(help: "Persistent connections (ipvsadm --persistent-conn).") var persistentConn = false
    @Flag(help: "Tunnel settings (ipvsadm --tun-info).") var tunInfo = false
    @Flag(help: "Counters in full, not scaled (ipvsadm --exact).") var exact = false
    @Flag(help: "The sync daemons (ipvsadm -L --daemon).") var daemon = false
    @Flag(help: "The connection timeouts (ipvsadm -L --timeout).") var timeout = false

    func validate() throws {
        let views = [stats, rate, thresholds, persistentConn, tunInfo, daemon, timeout].filter { $0 }.count
        if views > 1 { throw ValidationError("choose one of --stats, --rate, --thresholds, --persistent-conn, --tun-info, --daemon, --timeout") }
    }

    func run() async throws {
        let kernel = try openIPVS()
        if daemon {
            let daemons = try reportingKernelErrors { try kernel.syncDaemons() }
            print(IPVSSyncDaemon.listing(daemons), terminator: "")
            return
        }
        if timeout {
            print(try reportingKernelErrors { try kernel.timeouts() }.listing, terminator: "")
            return
        }
        let listing = try reportingKernelErrors { try kernel.dump() }
        if json {
            print(IPVSShowCommand.json(listing).prettyText)
            return
        }
        let view: IPVSListFormat.View =
            stats ? .stats : rate ? .rate : thresholds ? .thresholds : persistentConn ? .persistentConnections
            : tunInfo ? .tunnelInfo : .standard
        print(IPVSListFormat.render(listing, view: view, exact: exact), terminator: "")
    }

    static func json(_ listing: IPVSListing) -> JSONValue {
        func stats(_ s: IPVSStatistics) -> JSONValue {
            .object([
                "connections": .int(Int64(clamping: s.connections)), "in_packets": .int(Int64(clamping: s.inPackets)),
                "out_packets": .int(Int64(clamping: s.outPackets)), "in_bytes": .int(Int64(clamping: s.inBytes)),
                "out_bytes": .int(Int64(clamping: s.outBytes)), "connection_rate": .int(Int64(clamping: s.connectionRate)),
                "in_packet_rate": .int(Int64(clamping: s.inPacketRate)), "out_packet_rate": .int(Int64(clamping: s.outPacketRate)),
                "in_byte_rate": .int(Int64(clamping: s.inByteRate)), "out_byte_rate": .int(Int64(clamping: s.outByteRate)),
            ])
        }
        let services = listing.services.sorted { $0.service.key < $1.service.key }
        let table = IPVSTable(services.map { s in
            IPVSServiceEntry(service: s.service, destinations: s.destinations.map(\.destination))
        })
        guard case .array(let configured) = table.json else { return .null }
        var out: [JSONValue] = []
        for (json, observed) in zip(configured, services) {
            guard case .object(var service) = json, case .array(let servers)? = service["real_servers"] else { continue }
            service["stats"] = stats(observed.statistics)
            let destinations = observed.destinations.sorted { $0.destination.key < $1.destination.key }
            service["real_servers"] = .array(zip(servers, destinations).map { json, d in
                guard case .object(var server) = json else { return json }
                server["active_connections"] = .int(Int64(d.activeConnections))
                server["inactive_connections"] = .int(Int64(d.inactiveConnections))
                server["persistent_connections"] = .int(Int64(d.persistentConnections))
                server["stats"] = stats(d.statistics)
                return .object(server)
            })
            out.append(.object(service))
        }
        return .object([
            "version": .string(listing.versionString),
            "connection_table_size": .int(Int64(listing.connectionTableSize)),
            "services": .array(out),
        ])
    }
}

/// `tandemctl ipvs apply FILE [--dry-run]`: one reconcile of the kernel to a config.
struct IPVSApplyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Reconcile the kernel's IPVS table to a config file once.",
        discussion: """
        Dumps the kernel's table, plans the smallest change list that makes the services and real \
        servers the config names match it (entries the config does not name are left alone), prints \
        the plan in ipvsadm notation and applies it. A table that already matches is not written to. \
        Exits 1 when any change failed (each is reported), 69 when IPVS is not available.
        """
    )

    @Argument(help: "The config file.") var file: String
    @Flag(help: "Print the plan without changing the kernel.") var dryRun = false

    func run() async throws {
        // The kernel's table is dumped on its own thread while this one loads the config: the two
        // are independent and each takes about half of an unchanged re-apply (10,000 services).
        let dumping = try reportingKernelErrors {
            try ThreadFuture(object: "IPVS dump") { try LiveIPVSKernel().dump() }
        }
        let config = try loadConfigOrExit(file).config
        let desired = config.desiredIPVSTable()
        let observed: IPVSTable
        do {
            observed = try await dumping.value.table
        } catch {
            throw reportIPVSError(error)
        }
        let kernel = try openIPVS()
        let plan = IPVSPlanner.plan(desired: desired, observed: observed, owned: IPVSOwnership(desired))

        var timeoutChange: IPVSTimeoutSettings?
        if let wanted = config.ipvsTimeouts {
            let current = try reportingKernelErrors { try kernel.timeouts() }
            let target = IPVSTimeoutSettings(tcp: UInt32(wanted.tcp.milliseconds / 1000),
                                             tcpFin: UInt32(wanted.tcpFin.milliseconds / 1000),
                                             udp: UInt32(wanted.udp.milliseconds / 1000))
            if target != current { timeoutChange = target }
        }

        let serviceCount = desired.entries.count
        let serverCount = desired.entries.reduce(0) { $0 + $1.destinations.count }
        if plan.isEmpty && timeoutChange == nil {
            print("nothing to change: the kernel's IPVS table already matches \(file) (\(serviceCount) services, \(serverCount) real servers)")
            return
        }
        for change in plan { print(change.ipvsadmNotation) }
        if let t = timeoutChange { print("~ --set \(t.tcp) \(t.tcpFin) \(t.udp)") }
        let summary = IPVSPlanSummary(plan)
        if dryRun {
            print("dry run: \(summary)\(timeoutChange == nil ? "" : ", timeouts set"); nothing written")
            return
        }

        let results = try reportingKernelErrors { try kernel.apply(plan) }
        var failures = results.compactMap(\.error).map(\.description)
        var applied = results.filter(\.succeeded).count
        if let t = timeoutChange {
            do {
                try kernel.setTimeouts(t)
                applied += 1
            } catch {
                failures.append("\(error)")
            }
        }
        for failure in failures { printError(failure) }
        print("applied \(applied) of \(plan.count + (timeoutChange == nil ? 0 : 1)) changes (\(summary)) in \(kernel.batchesSent) batch\(kernel.batchesSent == 1 ? "" : "es")")
        if !failures.isEmpty {
            printError("\(failures.count) change\(failures.count == 1 ? "" : "s") failed")
            throw ExitCode(1)
        }
    }
}

/// `tandemctl ipvs sync start|stop`: the kernel's connection-synchronisation daemons.
struct IPVSSyncCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Start or stop the kernel's IPVS connection-sync daemons.",
        subcommands: [Start.self, Stop.self]
    )

    enum Role: String, ExpressibleByArgument, CaseIterable {
        case master, backup
        var ipvs: IPVSSyncDaemon.Role { self == .master ? .master : .backup }
    }

    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Start a master or backup sync daemon.")

        @Argument(help: "master or backup.") var role: Role
        @Option(help: "Interface to multicast on.") var interface: String
        @Option(name: .customLong("syncid"), help: "Sync id 0-255.") var syncID: UInt32 = 0
        @Option(help: "Multicast group (kernel default 224.0.0.81).") var group: String?
        @Option(help: "UDP port (kernel default 8848).") var port: UInt16?
        @Option(help: "Multicast TTL (kernel default 1).") var ttl: UInt8?
        @Option(help: "Largest sync message payload.") var maxlen: UInt16?

        func validate() throws {
            if syncID > 255 { throw ValidationError("--syncid must be 0-255") }
            if let group, IPAddress(group) == nil { throw ValidationError("--group \(group) is not an IP address") }
        }

        func run() async throws {
            let kernel = try openIPVS()
            let daemon = IPVSSyncDaemon(role: role.ipvs, interface: interface, syncID: syncID, maxLength: maxlen,
                                        group: group.flatMap { IPAddress($0) }, port: port, ttl: ttl)
            try reportingKernelErrors { try kernel.startSyncDaemon(daemon) }
            print("started \(daemon)")
        }
    }

    struct Stop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop a master or backup sync daemon.")

        @Argument(help: "master or backup.") var role: Role

        func run() async throws {
            let kernel = try openIPVS()
            try reportingKernelErrors { try kernel.stopSyncDaemon(role.ipvs) }
            print("stopped \(role.rawValue) sync daemon")
        }
    }
}
