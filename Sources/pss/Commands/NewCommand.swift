import ArgumentParser
import Sessions
import SessionWire
import SSHClient

struct NewCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "new",
        abstract: "Create a persistent session on each host (New-PSSession).",
        discussion: """
            The session's shell keeps its variables, functions, working directory and exports between invokes. It \
            starts as an ssh login does, reading the user's login files (bash: /etc/profile, then ~/.bash_profile, \
            ~/.bash_login or ~/.profile, and ~/.bashrc unless that file reads it); what they print goes to the \
            session's terminal, never into a command's output. --no-profile starts a bare shell.
            """
                + Examples.section([
                    "a session on web1; its shell keeps its state between invokes": "pss new web1 --name deploy",
                    "one on each of four hosts, closed after 8 idle hours": "pss new 'web[1-4]' --name deploy --idle-timeout 8h",
                    "a session of a configuration an admin registered": "pss new db1 --configuration ops-readonly",
                ])
    )

    @OptionGroup var connection: ConnectionOptions

    @OptionGroup var fanOut: FanOutOptions

    @Argument(help: ArgumentHelp("The hosts: [user@]host[:port], ssh_config aliases, or host lists (web[01-20]).", valueName: "host"))
    var hosts: [String] = []

    @Option(help: "A name for the session (letters, digits, '-', '_', '.'); generated when not given.")
    var name: String?

    @Option(help: ArgumentHelp("Close the session after this long without a command or a client (minimum 60s).", valueName: "dur"), transform: Duration.parse)
    var idleTimeout: Duration = Duration(argument: "2h")!

    @Option(
        help: ArgumentHelp("What to do when unreceived output reaches --max-buffer: block the command, or drop the oldest output.", valueName: "block|drop"))
    var outputBuffering: String = "block"

    @Option(help: ArgumentHelp("Unreceived output kept per command.", valueName: "size"))
    var maxBuffer: ByteSize = ByteSize(argument: "1G")!

    @Flag(help: "Start the session's shell without reading the user's login files.")
    var noProfile = false

    func validate() throws {
        let targets = try fanOut.targets(hosts)
        guard !targets.isEmpty else { throw ValidationError("name the hosts: pss new HOST... (or --hosts-file FILE)") }
        for host in targets { do { _ = try HostSpec(parsing: host) } catch { throw ValidationError("\(error)") } }
        if let name, let problem = SessionName.problem(with: name) { throw ValidationError("--name: \(problem)") }
        if idleTimeout.seconds < SessionRecord.minimumIdleTimeout {
            throw ValidationError("--idle-timeout: at least \(SessionRecord.minimumIdleTimeout) seconds")
        }
        guard SessionRecord.OutputBuffering(rawValue: outputBuffering) != nil else {
            throw ValidationError("--output-buffering: block or drop")
        }
    }

    func run() throws {
        let targets = try fanOut.targets(hosts)
        if fanOut.dryRun { return FanOutOptions.printTargets(targets) }
        let client = try connection.makeClient(prompting: targets.count == 1).locatingHelper()
        let clientID = try client.state.clientID()
        let (rows, worst) = Diagnostics.forEachTarget(targets, throttle: fanOut.throttle) { host in
            let answer = try client.withLink(host) { link in
                try link.request(
                    .newSession(
                        name: name ?? "", idleTimeoutSeconds: idleTimeout.seconds,
                        outputBuffering: SessionRecord.OutputBuffering(rawValue: outputBuffering)!,
                        maxBuffer: maxBuffer.bytes, loadsProfile: !noProfile))
            }
            guard case let .session(record) = answer else { throw SessionError.helper("unexpected answer") }
            client.state.remember(host: host, records: [record], complete: false)
            client.keepConnection(to: host)
            return SessionOutput.Row(host: host, record: record)
        }
        if !rows.isEmpty { SessionOutput.print(rows, json: connection.json, clientID: clientID) }
        if worst != 0 { throw ExitCode(worst) }
    }
}
