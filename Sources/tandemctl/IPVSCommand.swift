import ArgumentParser

/// `tandemctl ipvs show|apply`. Owned by the IPVS helper.
struct IPVSCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ipvs", abstract: "Read or reconcile the kernel's IPVS table.")
    func run() async throws { throw ExitCode(70) }
}
