import ArgumentParser
import Sessions
import SessionWire
import SSHClient

struct GetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get",
        abstract: "List sessions (Get-PSSession).",
        discussion:
            "Without --host, asks every host this client knows sessions on. The hosts hold the truth: sessions another client machine created are listed too."
            + Examples.section([
                "every session this client knows of, asked of their hosts": "pss get",
                "every session you may use on web1, yours and shared ones": "pss get --host web1",
                "for scripts": "pss --json get --host 'web[1-4]' --name 'deploy*'",
            ])
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(name: .customLong("host"), help: ArgumentHelp("Ask this host (a host list asks each).", valueName: "host"))
    var hosts: [String] = []

    @OptionGroup var fanOut: FanOutOptions

    @Option(help: ArgumentHelp("Only sessions whose name matches this pattern (* and ?).", valueName: "glob"))
    var name: String?

    func validate() throws {
        for host in try fanOut.targets(hosts) { do { _ = try HostSpec(parsing: host) } catch { throw ValidationError("--host: \(error)") } }
    }

    func run() throws {
        let given = try fanOut.targets(hosts)
        let state = ClientState()
        let targets = given.isEmpty ? Array(Set(try state.knownSessions().map(\.host))).sorted() : given
        if fanOut.dryRun { return FanOutOptions.printTargets(targets) }
        let client = try connection.makeClient(prompting: targets.count == 1, state: state).locatingHelper()
        let clientID = try client.state.clientID()
        // Read once, before any answer changes what this client knows.
        let knownConfigurations = Dictionary(targets.map { ($0, state.knownConfigurations(on: $0)) }, uniquingKeysWith: { first, _ in first })
        let (found, worst) = Diagnostics.forEachTarget(targets, throttle: fanOut.throttle) { host in
            // The user's own daemon, then the daemons of the configurations that let this user in there and of
            // those this client knows sessions of (as Get-PSSession lists every session the user may use); or only
            // the configuration given.
            var configurations: [String?] = client.configuration.map { [$0] } ?? [nil]
            var ownAnswers: [HostMessage] = []
            if client.configuration == nil {
                var allowed: [String] = []
                ownAnswers = try client.withLink(host) { link in
                    let sessions = try link.requestList(.listSessions)
                    allowed = try link.requestList(.listConfigurations).flatMap { answer -> [ConfigurationEntry] in
                        guard case let .configurations(page, _) = answer else { throw SessionError.helper("unexpected answer") }
                        return page
                    }.filter { $0.allowsCaller && $0.problem.isEmpty && $0.mayHaveSessions }.map(\.name)
                    return sessions
                }
                configurations += Set(allowed + (knownConfigurations[host] ?? [])).sorted().map { $0 }
            }
            var records: [SessionRecord] = []
            for configuration in configurations {
                var endpoint = client
                endpoint.configuration = configuration
                let answers: [HostMessage]
                do {
                    answers =
                        configuration == nil && client.configuration == nil ? ownAnswers : try endpoint.withLink(host) { try $0.requestList(.listSessions) }
                } catch SessionError.refused where client.configuration == nil && configuration != nil {
                    answers = []  // a configuration gone (or closed to this user) since: its sessions with it
                } catch  where client.configuration == nil && configuration != nil {
                    // One configuration that cannot answer hides nothing else of the host.
                    Diagnostics.print("\(host): configuration \(configuration!): \(CommandFailure.from(error).description)")
                    answers = []
                }
                let found = try answers.flatMap { answer -> [SessionRecord] in
                    guard case let .sessions(page, _) = answer else { throw SessionError.helper("unexpected answer") }
                    return page
                }
                client.state.remember(host: host, configuration: configuration, records: found, complete: true)
                records += found
            }
            return records.filter { name == nil || HostPattern.wildcardMatch($0.name, name!) }
                .map { SessionOutput.Row(host: host, record: $0) }
        }
        SessionOutput.print(found.flatMap { $0 }, json: connection.json, clientID: clientID)
        if worst != 0 { throw ExitCode(worst) }
    }
}
