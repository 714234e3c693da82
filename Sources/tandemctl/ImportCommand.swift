import ArgumentParser
import FoundationEssentials
import TandemCore

/// `tandemctl import keepalived|lvs.cf`: convert another failover daemon's config into a Tandem
/// config. The reading and mapping are TandemCore's (`KeepalivedImport`, `LVSCFImport`); this
/// only reads files, writes the output and prints the findings.
struct ImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Convert a keepalived.conf or pulse's lvs.cf into a Tandem config.",
        discussion: """
        Prints the Tandem config (or writes it with -o) and lists on standard error everything \
        that could not be carried over, each with its file, line and what to do instead. \
        Exits 0 when the output is a valid Tandem config, 1 when the input cannot be read.
        """,
        subcommands: [ImportKeepalivedCommand.self, ImportLVSCFCommand.self]
    )
}

/// The options both importers share.
struct ImportOutputOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "Write the Tandem config to this file instead of standard output.") var output: String?
    @Flag(help: "Also print the mapping table: source file:line → Tandem config path.") var report = false
    @Option(help: "The heartbeat key file the config names.") var keyFile = "/etc/tandem/heartbeat.key"

    func emit(_ result: ImportResult) throws {
        for finding in result.findings { printError(finding.description) }
        let counts = Dictionary(grouping: result.findings, by: \.kind).mapValues(\.count)
        let summary = ImportFinding.Kind.allCases.compactMap { kind in counts[kind].map { "\($0) \(kind.rawValue)" } }
        printError("import: \(summary.isEmpty ? "everything carried over" : summary.joined(separator: ", "))")
        if let output {
            do {
                try Data(result.yaml.utf8).write(to: URL(fileURLWithPath: output))
            } catch {
                printError("\(output): cannot write the config: \(FileErrorText.describe(error))")
                throw ExitCode(1)
            }
            printError("import: wrote \(output); check it with tandemctl check-config \(output)")
        } else {
            print(result.yaml, terminator: "")
        }
        if report {
            let text = "# source → Tandem path\n" + result.reportText
            if output == nil { printError(text) } else { print(text, terminator: "") }
        }
    }
}

/// Reads the real file system for the importers.
struct DiskImportFiles: ImportFileSource {
    func contents(of path: String) -> String? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    func paths(matching pattern: String) -> [String] {
        var results: [String] = []
        for alternative in GlobPattern.expandBraces(pattern) {
            let absolute = alternative.hasPrefix("/")
            let parts = alternative.split(separator: "/").map(String.init)
            var candidates = [absolute ? "/" : "."]
            for (i, part) in parts.enumerated() {
                let last = i == parts.count - 1
                var next: [String] = []
                for dir in candidates {
                    let join = { (name: String) in dir == "/" ? "/" + name : (dir == "." && !absolute ? name : dir + "/" + name) }
                    if !GlobPattern.isPattern(part) {
                        next.append(join(part))
                        continue
                    }
                    let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
                    for name in names.sorted() where GlobPattern.matchesName(Array(name), Array(part)) {
                        next.append(join(name))
                    }
                }
                candidates = next
                if last { break }
            }
            var isDirectory = false
            results += candidates.filter { FileManager.default.fileExists(atPath: $0, isDirectory: &isDirectory) && !isDirectory }
        }
        return results
    }
}

/// `tandemctl import keepalived FILE [FILE2] [--node-names a,b] [-o OUT.yaml]`.
struct ImportKeepalivedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keepalived",
        abstract: "Convert keepalived.conf (one per router, or one with @ lines) into a Tandem config.",
        discussion: """
        Give the MASTER's file and the BACKUP's: they are merged into one pair config, and where \
        they differ the command says how. One file with @NAME lines needs --node-names. Includes, \
        $PARAM definitions and comments are read as keepalived reads them, and so are its quirks \
        (lb_kind dr is ignored; DR real server ports are forced to the service's; a service with \
        no protocol line is UDP): the output installs the IPVS table keepalived installed, and \
        each quirk is listed.
        """
    )

    @Argument(help: "keepalived.conf of the first router (the MASTER's), and optionally of the second.") var files: [String]
    @Option(help: "The two routers' names, comma-separated; also their keepalived config ids for @ lines.") var nodeNames: String?
    @Option(help: "The two routers' heartbeat addresses, comma-separated, when the files use multicast VRRP.") var addresses: String?
    @OptionGroup var output: ImportOutputOptions

    func validate() throws {
        guard (1...2).contains(files.count) else { throw ValidationError("give one or two keepalived.conf files") }
    }

    func run() async throws {
        let options = KeepalivedImport.Options(
            nodeNames: nodeNames.map { $0.split(separator: ",").map(String.init) },
            addresses: addresses.map { $0.split(separator: ",").map(String.init) },
            keyFile: output.keyFile)
        do {
            let result = try KeepalivedImport.run(files: files, options: options, source: DiskImportFiles())
            try output.emit(result)
        } catch let error as ImportError {
            printError("import: \(error)")
            throw ExitCode(1)
        }
    }
}

/// `tandemctl import lvs.cf FILE [-o OUT.yaml]`.
struct ImportLVSCFCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lvs.cf",
        abstract: "Convert pulse/piranha's lvs.cf into a Tandem config.",
        discussion: """
        Inactive virtual servers and real servers are left out, with a note each; everything \
        else not carried over is listed on standard error with its line and what to do instead.

        Example: tandemctl import lvs.cf /etc/sysconfig/ha/lvs.cf -o tandem.yaml
        """
    )

    @Argument(help: "The lvs.cf file.") var file: String
    @OptionGroup var output: ImportOutputOptions

    func run() async throws {
        do {
            let result = try LVSCFImport.run(file: file, keyFile: output.keyFile, source: DiskImportFiles())
            try output.emit(result)
        } catch let error as ImportError {
            printError("import: \(error)")
            throw ExitCode(1)
        }
    }
}
