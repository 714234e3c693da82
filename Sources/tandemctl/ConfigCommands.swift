import ArgumentParser
import FoundationEssentials
import Glibc
import TandemCore
import TandemKernel

/// Exit status for an invalid config (sysexits.h EX_CONFIG).
let exitConfigInvalid: Int32 = 78

/// Loads a config for a command, printing every error to standard error and exiting with
/// EX_CONFIG when it is not valid.
func loadConfigOrExit(_ path: String) throws -> ConfigParser.Result {
    do {
        return try ConfigParser.loadWithWarnings(path: path)
    } catch {
        printError(error.description)
        printError("\(path): not valid (\(error.issues.count) error\(error.issues.count == 1 ? "" : "s"))")
        throw ExitCode(exitConfigInvalid)
    }
}

func printError(_ text: String) {
    writeOut(STDERR_FILENO, text)
}

/// Writes `line` and a newline straight to `descriptor` (unbuffered, as `FileHandle` did): for
/// output interleaved with a child's or read line by line while the command still runs.
func writeOut(_ descriptor: Int32, _ line: String) {
    try? Posix.writeAll(descriptor, Array((line + "\n").utf8), object: descriptor == STDERR_FILENO ? "standard error" : "standard output")
}

/// `tandemctl check-config FILE [--node NAME]`.
struct CheckConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate a config file and summarise it.",
        discussion: "Exits 0 when the file is valid and 78 (EX_CONFIG) when it is not, listing every error with its path and line."
    )

    @Argument(help: "The config file.") var file: String
    @Option(help: "Also check that the config names this node.") var node: String?
    @Flag(help: "Print the canonical form whose SHA-256 is the digest.") var canonical = false

    func run() async throws {
        let result = try loadConfigOrExit(file)
        let config = result.config
        if let node, config.node(named: node) == nil {
            printError("\(file): nodes: no node is called \"\(node)\"; the config names \(config.nodes.map(\.name).joined(separator: " and "))")
            throw ExitCode(exitConfigInvalid)
        }
        for warning in result.warnings { printError("\(file): warning: \(warning)") }
        let keys = HeartbeatKeySet.check(config.heartbeat)
        for warning in keys.warnings { printError("\(file): warning: \(warning)") }
        // On a node of this config (named with --node, or found by this host's addresses): VIPs
        // on interfaces this host does not have (tandemd refuses a reload that brings one in) and
        // what else tandemd --check says here; elsewhere, only the programs that cannot run here
        // (check-config may run on another host: warned).
        if !config.isCluster,
           case .success(let me) = config.identifyNode(requested: node, localAddresses: node == nil ? ((try? localAddresses()) ?? []) : []) {
            let absent = VIPInterfaceCheck.absent(in: config, exists: interfaceExists)
            if !absent.isEmpty { printError("\(file): warning: \(VIPInterfaceCheck.problem(absent, node: me.name))") }
            for line in hostWarnings(config, node: me.name, configPath: file) { printError("\(file): warning: \(line)") }
        } else {
            for line in programWarnings(config) + configFileWarnings(file) { printError("\(file): warning: \(line)") }
        }
        if !keys.errors.isEmpty {
            for error in keys.errors { printError("\(file): \(error)") }
            printError("\(file): not valid (\(keys.errors.count) error\(keys.errors.count == 1 ? "" : "s"))")
            throw ExitCode(exitConfigInvalid)
        }
        if canonical {
            print(config.canonical.prettyText)
            return
        }
        print(ConfigSummary.render(config, file: file, node: node))
    }
}

/// `tandemctl show-config FILE --format ipvsadm|json`.
struct ShowConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show-config",
        abstract: "Print the IPVS table a config asks for.",
        discussion: "The ipvsadm format is exactly what `ipvsadm -S -n` prints, so it can be diffed against the kernel or fed to `ipvsadm -R`."
    )

    enum Format: String, ExpressibleByArgument, CaseIterable { case ipvsadm, json }

    @Argument(help: "The config file.") var file: String
    @Option(help: "ipvsadm (ipvsadm-save -n form) or json.") var format: Format = .ipvsadm

    func run() async throws {
        let config = try loadConfigOrExit(file).config
        let table = config.desiredIPVSTable()
        switch format {
        case .ipvsadm: print(IPVSSaveFormat.render(table), terminator: "")
        case .json: print(table.json.prettyText)
        }
    }
}
