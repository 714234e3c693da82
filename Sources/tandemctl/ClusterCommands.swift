import ArgumentParser
import FoundationEssentials
import TandemCore
import TandemKernel

/// The config of a cluster, or exit 78 saying that the file describes a pair.
private func loadClusterOrExit(_ path: String) throws -> (Config, ClusterSettings) {
    let config = try loadConfigOrExit(path).config
    guard let cluster = config.cluster else {
        printError("\(path): \(BIRDConfig.GenerationError.notACluster)")
        throw ExitCode(exitConfigInvalid)
    }
    return (config, cluster)
}

/// `tandemctl bird-config FILE [--node NAME | --upstream [--peer NAME]]`.
struct BIRDConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bird-config",
        abstract: "Print the BIRD 2 config of a cluster director (or an example for the upstream router).",
        discussion: """
            The director's config learns the VIP routes Tandem puts into cluster.route_table and \
            announces them over BGP, with BFD, to cluster.bgp.peers. Without --node the director is \
            the one owning one of this host's addresses. Check the result with: bird -p -c FILE
            """
    )

    @Argument(help: "The config file (with a cluster: section).") var file: String
    @Option(help: "The director to generate for (default: the one owning one of this host's addresses).") var node: String?
    @Flag(help: "Generate an example for the upstream router instead: merge paths (ECMP) and one BGP session per director.")
    var upstream = false
    @Option(help: "With --upstream: the peer (cluster.bgp.peers name) to generate for (default: the first).") var peer: String?

    func validate() throws {
        if upstream && node != nil { throw ValidationError("--node and --upstream exclude each other: a file is for a director or for the upstream router") }
        if peer != nil && !upstream { throw ValidationError("--peer is for --upstream only") }
    }

    func run() throws {
        let (config, _) = try loadClusterOrExit(file)
        let source = file.split(separator: "/").last.map(String.init) ?? file
        do {
            if upstream {
                print(try BIRDConfig.upstream(config, peer: peer, source: source), terminator: "")
                return
            }
            let name: String
            if let node {
                name = node
            } else {
                switch config.identifyNode(requested: nil, localAddresses: (try? localAddresses()) ?? []) {
                case .success(let found): name = found.name
                case .failure(let error):
                    printError("\(file): \(error)")
                    throw ExitCode(exitConfigInvalid)
                }
            }
            print(try BIRDConfig.director(config, name: name, source: source), terminator: "")
        } catch let error as BIRDConfig.GenerationError {
            printError("\(file): \(error)")
            throw ExitCode(exitConfigInvalid)
        }
    }
}

/// `tandemctl cluster routes|apply-routes`: the cluster's route table directly (inspection,
/// recovery, tests). While tandemd runs a cluster it owns these routes.
struct ClusterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract: "Show or set the VIP routes of a cluster director's route table directly (bypasses tandemd).",
        shouldDisplay: false,
        subcommands: [Routes.self, ApplyRoutes.self]
    )

    /// `tandemctl cluster routes FILE`: every route of the table, Tandem's or not.
    struct Routes: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List cluster.route_table: Tandem's routes (cluster.route_protocol), foreign ones, and conflicts with VIPs.")
        @Argument(help: "The config file (with a cluster: section).") var file: String

        func run() throws {
            let (config, cluster) = try loadClusterOrExit(file)
            let table = try LiveAnnouncedRoutes(table: cluster.routeTable)
            let routes = try table.routes()
            let vips = Set(config.virtualIPs.map(\.address))
            for route in routes.sorted() {
                let address = route.destination.address
                let isVIP = vips.contains(address) && route.destination.length == address.family.bitWidth
                let whose: String
                if route.protocolNumber != cluster.routeProtocol {
                    whose = isVIP ? "conflict" : "foreign"
                } else {
                    whose = isVIP && route == ClusterRoute.announcement(of: address, protocol: cluster.routeProtocol) ? "announced" : "stale"
                }
                print("\(whose) \(route)")
            }
        }
    }

    /// `tandemctl cluster apply-routes FILE --announce VIP...`: make the table announce exactly these VIPs.
    struct ApplyRoutes: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "apply-routes",
            abstract: "Announce exactly the given VIPs: add their routes to cluster.route_table and remove Tandem's others.",
            discussion: "Routes of other protocols are never touched. Without --announce every VIP is withdrawn. Exits 1 when an action failed or a VIP conflicts with a foreign route.")
        @Argument(help: "The config file (with a cluster: section).") var file: String
        @Option(help: "A VIP to announce (repeat it); 'all' for every VIP of the config.") var announce: [String] = []
        @Flag(help: "Print the plan without changing anything.") var dryRun = false

        func run() throws {
            let (config, cluster) = try loadClusterOrExit(file)
            let vips = Set(config.virtualIPs.map(\.address))
            var wanted = Set<IPAddress>()
            for text in announce {
                if text == "all" { wanted.formUnion(vips); continue }
                guard let address = IPAddress(text) else { throw ValidationError("--announce \(text): not an IPv4 or IPv6 address") }
                guard vips.contains(address) else {
                    throw ValidationError("--announce \(text): not one of the config's virtual_ips (\(vips.sorted().map(\.description).joined(separator: ", ")))")
                }
                wanted.insert(address)
            }
            let table = try LiveAnnouncedRoutes(table: cluster.routeTable)
            var failed = false
            if dryRun {
                let plan = RoutePlanner.plan(announce: wanted, vips: vips, observed: try table.routes(), protocol: cluster.routeProtocol)
                for action in plan.actions { print("would \(action)") }
                for route in plan.conflicts { print("conflict \(route): a foreign route holds a VIP's destination; remove it") }
                return
            }
            let report = try table.reconcile(announce: wanted, vips: vips, protocol: cluster.routeProtocol)
            for (action, change) in report.done { print("\(action) (\(change.rawValue))") }
            for (action, error) in report.failed {
                printError("\(action) failed: \(error)")
                failed = true
            }
            for route in report.plan.conflicts {
                printError("conflict \(route) in table \(cluster.routeTable): a foreign route holds a VIP's destination, so Tandem cannot announce it; remove it (ip route del \(route.destination) table \(cluster.routeTable) proto \(route.protocolNumber))")
                failed = true
            }
            if failed { throw ExitCode(1) }
        }
    }
}
