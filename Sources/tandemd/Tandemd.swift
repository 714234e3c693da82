import ArgumentParser
import Foundation
import TandemCore
import TandemDaemon
import TandemKernel

/// `tandemd`: the failover daemon of one router of a Tandem pair.
@main
struct Tandemd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tandemd",
        abstract: "Tandem's failover daemon for one router of an LVS pair."
    )

    @Option(help: "The pair's config file.") var config: String = "/etc/tandem/tandem.yaml"
    @Option(help: "This node's name (default: the node owning one of this host's addresses).") var node: String?
    @Flag(help: "Validate the config, identify this node, and exit (0 valid, 78 not).") var check = false

    func run() async throws {
        let store: ConfigStore
        do {
            store = try ConfigStore(path: config)
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(78)
        }
        let addresses = node == nil ? ((try? localAddresses()) ?? []) : []
        switch store.current.identifyNode(requested: node, localAddresses: addresses) {
        case .failure(let error):
            FileHandle.standardError.write(Data("\(config): \(error)\n".utf8))
            throw ExitCode(78)
        case .success(let me):
            guard check else {
                FileHandle.standardError.write(Data("tandemd: this build has no failover loop yet (the election lands with issue 5); only --check is available\n".utf8))
                throw ExitCode(69)
            }
            print("\(config): valid; this is node \(me.name) (priority \(me.priority)), peer \(store.current.peer(of: me.name)?.name ?? "?"), digest \(store.current.digest)")
        }
    }
}
