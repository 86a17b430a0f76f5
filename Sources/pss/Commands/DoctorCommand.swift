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
            verified, the authentication that worked, the platform (CPU, C library), the host directory (owner, mode, \
            free space, mount), this client's helper, the daemon (running, sessions held), whether logout ends \
            the daemon (systemd's KillUserProcesses), and sshd's ClientAliveInterval. Changes nothing on the host. \
            Several hosts (host lists, --hosts-file) are examined at once, at most --throttle, and reported in \
            order. Exits 0 when no check fails, 1 when one does.
            """
                + Examples.section([
                    "what is right and wrong with a host, and how to fix it": "pss doctor web1",
                    "for scripts, on many hosts": "pss --json doctor 'web[01-20]'",
                ])
    )

    @OptionGroup var connection: ConnectionOptions

    @OptionGroup var fanOut: FanOutOptions

    @Argument(help: ArgumentHelp("The hosts: [user@]host[:port], ssh_config aliases, or host lists (web[01-20]).", valueName: "host"))
    var hosts: [String] = []

    func validate() throws {
        let targets = try fanOut.targets(hosts)
        guard !targets.isEmpty else { throw ValidationError("name the hosts: pss doctor HOST... (or --hosts-file FILE)") }
        for host in targets { do { _ = try HostSpec(parsing: host) } catch { throw ValidationError("\(error)") } }
    }

    func run() throws {
        let targets = try fanOut.targets(hosts)
        if fanOut.dryRun { return FanOutOptions.printTargets(targets) }
        let base = try SessionClient(connector: connection.makeConnector(prompting: targets.count == 1))
        // Found once for every thread; a helper that cannot be found is a failed check on each host.
        let doctor = HostDoctor(client: (try? base.locatingHelper()) ?? base)
        let (results, _) = Diagnostics.forEachTarget(targets, throttle: fanOut.throttle) { doctor.examine($0) }
        var failed = false
        for (host, checks) in zip(targets, results) {
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
