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
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(name: .customLong("host"), help: ArgumentHelp("Ask this host.", valueName: "host"))
    var hosts: [String] = []

    @Option(help: ArgumentHelp("Only sessions whose name matches this pattern (* and ?).", valueName: "glob"))
    var name: String?

    func validate() throws {
        for host in hosts { do { _ = try HostSpec(parsing: host) } catch { throw ValidationError("--host: \(error)") } }
    }

    func run() throws {
        let client = try SessionClient(connector: connection.makeConnector())
        let clientID = try client.state.clientID()
        let targets = hosts.isEmpty ? Array(Set(try client.state.knownSessions().map(\.host))).sorted() : hosts
        var rows: [SessionOutput.Row] = []
        let worst = Diagnostics.forEachTarget(targets) { host in
            let answers = try client.withLink(host) { try $0.requestList(.listSessions) }
            let records = try answers.flatMap { answer -> [SessionRecord] in
                guard case let .sessions(page, _) = answer else { throw SessionError.helper("unexpected answer") }
                return page
            }
            client.state.remember(host: host, records: records, complete: true)
            rows += records.filter { name == nil || HostPattern.wildcardMatch($0.name, name!) }
                .map { .init(host: host, record: $0) }
        }
        SessionOutput.print(rows, json: connection.json, clientID: clientID)
        if worst != 0 { throw ExitCode(worst) }
    }
}
