import ArgumentParser
import TandemCore
import TandemKernel

/// `tandemctl doctor [FILE]`: kernel preflight, one line per check.
struct DoctorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check this kernel and host for what Tandem needs.",
        discussion: """
        Checks CAP_NET_ADMIN and the kernel's IPVS family (version, connection table size); with a \
        config file also the scheduler modules it needs, IP forwarding for NAT services, the \
        direct-routing ARP settings real servers need, and every interface it names. Prints \
        `ok|warn|FAIL  what: detail` per check and exits 1 when IPVS is missing or any check fails.
        """
    )

    @Argument(help: "Config file whose schedulers and interfaces to check.") var file: String?
    @Option(help: "This router's node name, when its addresses cannot tell.") var node: String?

    func run() async throws {
        let config = try file.map { try loadConfigOrExit($0).config }
        let checks = Doctor.run(config: config, node: node, host: LiveDoctorHost())
        for check in checks { print(check) }
        let status = Doctor.exitStatus(checks)
        if status != 0 { throw ExitCode(status) }
    }
}
