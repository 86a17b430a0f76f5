import ArgumentParser
import Foundation
import Sessions
import SSHClient

struct DoctorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Say what is right and wrong with hosts for pss, and how to fix it.",
        discussion: """
            Connects as pss would and checks, one line each: the address, the server, the host key and how it was \
            verified, the authentication that worked, the platform (CPU, glibc), the host directory (owner, mode, \
            free space, mount), this client's helper, the daemon (running, sessions held), whether logout ends \
            the daemon (systemd's KillUserProcesses), and sshd's ClientAliveInterval. Changes nothing on the host. \
            Exits 0 when no check fails, 1 when one does.
            """
    )

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: ArgumentHelp("The hosts: [user@]host[:port] or ssh_config aliases.", valueName: "host"))
    var hosts: [String]

    func validate() throws {
        for host in hosts { do { _ = try HostSpec(parsing: host) } catch { throw ValidationError("\(error)") } }
    }

    func run() throws {
        let doctor = HostDoctor(client: try SessionClient(connector: connection.makeConnector()))
        var failed = false
        for host in hosts {
            let checks = doctor.examine(host)
            failed = failed || checks.contains { $0.status == .fail }
            if connection.json {
                for check in checks {
                    var line = JSONLine()
                    line.add("host", host)
                    line.add("check", check.name)
                    line.add("status", check.status.rawValue)
                    line.add("detail", check.detail)
                    line.add("fix", check.fix)
                    line.print()
                }
            } else {
                let width = checks.map(\.name.count).max() ?? 0
                var text = "\(host):\n"
                for check in checks {
                    text +=
                        "  \(check.status.rawValue.padding(toLength: 4, withPad: " ", startingAt: 0))  "
                        + check.name.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + check.detail
                    if let fix = check.fix { text += "; fix: " + fix }
                    text += "\n"
                }
                Terminal.write(text.escapingControlCharacters(keepingNewlines: true))
            }
        }
        if failed { throw ExitCode(1) }
    }
}
