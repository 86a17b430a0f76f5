import ArgumentParser
import Sessions
import SSHClient

struct RemoveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract: "Close sessions and delete everything of them on the host (Remove-PSSession).",
        discussion: "pss remove SESSION...   or   pss remove --host HOST --all"
            + Examples.section([
                "close a session; everything of it goes": "pss remove web1/deploy",
                "every session of yours on a host": "pss remove --host web1 --all",
            ])
    )

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: ArgumentHelp("HOST/NAME, HOST/ID, or a NAME this client knows.", valueName: "session"), completion: SessionCompletion.known)
    var sessions: [String] = []

    @Option(name: .customLong("host"), help: ArgumentHelp("With --all: the host whose sessions to remove (a host list: each).", valueName: "host"))
    var hosts: [String] = []

    @OptionGroup var fanOut: FanOutOptions

    @Flag(help: "Remove every session of yours on --host.")
    var all = false

    func validate() throws {
        let targets = try fanOut.targets(all ? hosts : sessions)
        if all {
            guard !targets.isEmpty, sessions.isEmpty else { throw ValidationError("--all goes with --host HOST and no SESSION") }
            for host in targets { do { _ = try HostSpec(parsing: host) } catch { throw ValidationError("--host: \(error)") } }
        } else {
            guard !targets.isEmpty else { throw ValidationError("name the sessions to remove, or use --host HOST --all") }
            guard hosts.isEmpty else { throw ValidationError("--host goes with --all") }
        }
    }

    func run() throws {
        let targets = try fanOut.targets(all ? hosts : sessions)
        if fanOut.dryRun { return FanOutOptions.printTargets(targets) }
        let client = try connection.makeClient(prompting: targets.count == 1).locatingHelper()
        let worst: Int32
        if all {
            worst =
                Diagnostics.forEachTarget(targets, throttle: fanOut.throttle) { host in
                    try client.withLink(host) { link in _ = try link.request(.removeAllSessions) }
                    client.state.remember(host: host, configuration: client.configuration, records: [], complete: true)
                    client.sessionsChanged(on: host)
                }.worst
        } else {
            worst =
                Diagnostics.forEachTarget(targets, throttle: fanOut.throttle) { text in
                    let reference = try SessionReference(parsing: text, known: try client.state.knownSessions())
                    try client.forSession(reference).withLink(reference.host) { link in _ = try link.request(.removeSession(reference.session)) }
                    let known = try client.state.knownSessions().filter {
                        $0.host == reference.host && ($0.id == reference.session || $0.name == reference.session)
                    }
                    client.state.forget(host: reference.host, ids: known.map(\.id))
                    client.sessionsChanged(on: reference.host)
                }.worst
        }
        if worst != 0 { throw ExitCode(worst) }
    }
}
