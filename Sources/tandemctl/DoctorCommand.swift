import ArgumentParser

/// `tandemctl doctor [FILE]`: kernel preflight. Owned by the IPVS/doctor helper.
struct DoctorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "doctor", abstract: "Check this kernel and host for what Tandem needs.")
    @Argument(help: "Config file whose interfaces and schedulers to check.") var file: String?
    func run() async throws { throw ExitCode(70) }
}
