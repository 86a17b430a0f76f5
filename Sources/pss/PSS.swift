import ArgumentParser
import Glibc
import Logging

@main
struct PSS: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pss",
        abstract: "PowerShell-style persistent sessions for Linux servers, over SSH.",
        discussion: """
            Connection options (-F, -o, -i, -l, -p, --password-file, --json, -v) go before or after the command \
            name, as ssh's; ssh_config is honoured. pss -G HOST prints the configuration pss resolved for HOST, as \
            ssh -G does, and connects to nothing.
            """,
        version: "0.1.0",
        subcommands: [
            NewCommand.self, GetCommand.self, ConfigCommand.self, InvokeCommand.self, DisconnectCommand.self, ConnectCommand.self,
            ReceiveCommand.self, RemoveCommand.self, EnterCommand.self, JobCommand.self, DoctorCommand.self,
            ShowConfigCommand.self, KeepCommand.self,
        ]
    )

    static func main() {
        signal(SIGPIPE, SIG_IGN)
        LoggingSystem.bootstrap(DisplaySafeLogHandler.init)
        let arguments = GlobalOptionPlacement.movingConnectionOptions(Array(CommandLine.arguments.dropFirst()))
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
        } catch let error where CommandFailure.isOurs(error) {
            // A failure no command caught (reading local state, say): its message and documented status.
            let failure = CommandFailure.from(error)
            Diagnostics.print(failure.description)
            Glibc.exit(failure.status)
        } catch {
            exit(withError: error)
        }
    }
}
