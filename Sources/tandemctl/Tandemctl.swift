import ArgumentParser

/// `tandemctl`: the operator's command for a Tandem pair.
@main
struct Tandemctl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tandemctl",
        abstract: "Operate a Tandem LVS router pair.",
        subcommands: [
            CheckConfigCommand.self,
            ShowConfigCommand.self,
            DoctorCommand.self,
            IPVSCommand.self,
            VIPCommand.self,
            HealthCommand.self,
        ]
    )
}
