import ArgumentParser

struct CheckConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "check-config", abstract: "Validate a config file.")
    func run() async throws { throw ExitCode(70) }
}

struct ShowConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show-config", abstract: "Print the desired IPVS table.")
    func run() async throws { throw ExitCode(70) }
}
