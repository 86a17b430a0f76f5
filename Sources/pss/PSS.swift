import ArgumentParser
import Glibc
import Logging
import Sessions

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
        version: PSS.version,
        subcommands: [
            NewCommand.self, GetCommand.self, ConfigCommand.self, InvokeCommand.self, DisconnectCommand.self, ConnectCommand.self,
            ReceiveCommand.self, RemoveCommand.self, EnterCommand.self, JobCommand.self, DoctorCommand.self,
            ShowConfigCommand.self, KeepCommand.self,
        ]
    )

    static let version = "0.2.0"

    static func main() {
        signal(SIGPIPE, SIG_IGN)
        LoggingSystem.bootstrap(DisplaySafeLogHandler.init)
        if CommandLine.arguments.dropFirst() == ["--version"] { printVersion() }
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

extension PSS {
    /// `pss --version`: this program's version and the helper it carries to hosts (what it runs on, its hash: the
    /// name hosts keep it under).
    static func printVersion() -> Never {
        print("pss \(version)")
        do {
            let helper = try HelperBinary.locate(state: ClientState())
            print("helper \(HelperBinary.architecture), libc needed: \(HelperBinary.libcNeeded), sha256 \(helper.sha256), \(helper.path)")
        } catch {
            print("helper: \(error)")
        }
        Glibc.exit(0)
    }
}
