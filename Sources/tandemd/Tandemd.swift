import ArgumentParser
import Logging
import TandemCore
import TandemDaemon
import TandemKernel

/// `tandemd`: the failover daemon of one router of a Tandem pair.
@main
struct Tandemd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tandemd",
        abstract: "Tandem's failover daemon for one router of an LVS pair.",
        discussion: """
            Logs one line per event to stderr. SIGHUP reloads the config (an invalid file is \
            logged and the running config kept), SIGUSR1 logs a status line, SIGTERM hands the \
            VIPs over to the peer (make-before-break) and exits 0; a second SIGTERM exits at once.
            """
    )

    @Option(help: "The pair's config file.") var config: String = "/etc/tandem/tandem.yaml"
    @Option(help: "This node's name (default: the node owning one of this host's addresses).") var node: String?
    @Flag(help: "Validate the config, identify this node, and exit (0 valid, 78 not, or when this host is the peer's).") var check = false
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.") var logLevel: String = "info"
    @Option(help: "This node's control socket, overriding control.socket (node-local; two daemons on one host need two).")
    var controlSocket: String?
    @Option(help: "This node's state directory, overriding state_directory (node-local).") var stateDirectory: String?
    @Option(help: "A cluster director's BIRD control socket, for the BGP sessions in `tandemctl status`.")
    var birdSocket: String = NodeLocalSettings.defaultBIRDSocket
    @Option(help: "How often the IPVS table and the sync daemon are checked and repaired, e.g. 30s or 500ms (100ms to 1h).")
    var repairInterval: String = "30s"

    /// ArgumentParser's own `main`, with `StartupSignals.install()` first: until the daemon's
    /// handlers are in place, SIGTERM/SIGINT/SIGHUP/SIGUSR1 are recorded, not fatal.
    static func main() async {
        StartupSignals.install()
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }

    func run() async throws {
        let store: ConfigStore
        do {
            store = try ConfigStore(path: config)
        } catch {
            try? Posix.writeAll(2, Array("\(error)\n".utf8), object: "standard error")
            throw ExitCode(78)
        }
        let addresses = node == nil ? ((try? localAddresses()) ?? []) : []
        let me: Node
        switch store.current.identifyNode(requested: node, localAddresses: addresses) {
        case .failure(let error):
            try? Posix.writeAll(2, Array("\(config): \(error)\n".utf8), object: "standard error")
            throw ExitCode(78)
        case .success(let found):
            me = found
        }
        if check {
            // Warned, not refused: an interface may be created after tandemd starts (a VLAN, a
            // bond); until then the node is judged faulty, and a reload that brings such a VIP in
            // is refused.
            let absent = store.current.isCluster ? []
                : VIPInterfaceCheck.absent(in: store.current, exists: interfaceExists)
            if !absent.isEmpty {
                try? Posix.writeAll(2, Array("\(config): warning: \(VIPInterfaceCheck.problem(absent, node: me.name))\n".utf8),
                                    object: "standard error")
            }
            // A host that holds only the peer's heartbeat addresses is the peer's: --node names the
            // wrong router (a unit copied from the other one), and the advice to add this node's
            // addresses here would duplicate them on the LAN (trial 35). Not valid here.
            let peersHost = store.current.isCluster ? nil : peersHostProblem(store.current, node: me.name)
            for line in store.current.isCluster ? [] : hostWarnings(store.current, node: me.name, configPath: config) where line != peersHost {
                try? Posix.writeAll(2, Array("\(config): warning: \(line)\n".utf8), object: "standard error")
            }
            if let peersHost {
                try? Posix.writeAll(2, Array("\(config): \(peersHost)\n".utf8), object: "standard error")
                throw ExitCode(78)
            }
            if store.current.isCluster {
                print("\(config): valid; this is director \(me.name) of a cluster of \(store.current.nodes.count), digest \(store.current.digest) (this tandemd does not run clusters yet)")
            } else {
                print("\(config): valid; this is node \(me.name) (priority \(me.priority)), peer \(store.current.peer(of: me.name)?.name ?? "?"), digest \(store.current.digest)")
            }
            return
        }
        guard let repair = TimeSpan(parsing: repairInterval), repair >= .milliseconds(100), repair <= .seconds(3600) else {
            try? Posix.writeAll(2, Array("--repair-interval \(repairInterval): not a duration from 100ms to 1h (write it like 30s or 500ms)\n".utf8), object: "standard error")
            throw ExitCode(64)
        }
        let level = Logger.Level(rawValue: logLevel) ?? .info
        let name = me.name
        let journal = TandemLogHandler.stderrIsJournal()
        LoggingSystem.bootstrap { _ in
            var handler = TandemLogHandler(label: name, journal: journal)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "tandemd")
        do {
            let local = NodeLocalSettings(controlSocket: controlSocket ?? store.current.control.socketPath,
                                          stateDirectory: stateDirectory ?? store.current.stateDirectory, birdSocket: birdSocket)
            // systemd's notify socket when started by systemd (Type=notify); nothing otherwise.
            var serviceManager: any ServiceManagerNotifying = NoServiceManager()
            do {
                if let notifier = try SystemdNotifier() { serviceManager = notifier }
            } catch {
                logger.warning("\(error)")
            }
            try await Daemon.run(store: store, nodeName: me.name, local: local, logger: logger, serviceManager: serviceManager,
                                 repairPeriod: .milliseconds(Int64(repair.milliseconds)))
        } catch let error as DaemonStartError {
            logger.critical("cannot start: \(error.description)")
            throw ExitCode(error.exitCode)
        }
    }
}
