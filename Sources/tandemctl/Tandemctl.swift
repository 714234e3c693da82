import ArgumentParser

/// `tandemctl`: the operator's command for a Tandem pair.
@main
struct Tandemctl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tandemctl",
        abstract: "Operate a Tandem LVS router pair.",
        subcommands: [
            StatusCommand.self,
            FailoverCommand.self,
            MaintenanceCommand.self,
            DrainCommand.self,
            UndrainCommand.self,
            ReloadCommand.self,
            ShowCommand.self,
            EventsCommand.self,
            CheckConfigCommand.self,
            ShowConfigCommand.self,
            DoctorCommand.self,
            IPVSCommand.self,
            VIPCommand.self,
            HealthCommand.self,
            ImportCommand.self,
            BIRDConfigCommand.self,
            ClusterCommand.self,
        ]
    )
}
