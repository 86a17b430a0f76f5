import ArgumentParser
import Sessions
import SessionWire

struct ConnectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "connect",
        abstract: "Take Disconnected sessions back to this client (Connect-PSSession).",
        discussion: "--force takes over a session another client holds; that client's stream of it ends."
    )

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: ArgumentHelp("HOST/NAME, HOST/ID, or a NAME this client knows.", valueName: "session"))
    var sessions: [String]

    @Flag(help: "Take over a session held by another client.")
    var force = false

    func run() throws {
        try SessionUpdate.run(sessions, connection: connection) { .connect(session: $0, force: force) }
    }
}

struct DisconnectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "disconnect",
        abstract: "Leave sessions running on their hosts, held by no client (Disconnect-PSSession).",
        discussion: "A running command goes on and its output keeps spooling on the host: pss receive collects it, from any client."
    )

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: ArgumentHelp("HOST/NAME, HOST/ID, or a NAME this client knows.", valueName: "session"))
    var sessions: [String]

    @Option(help: ArgumentHelp("A new idle timeout (minimum 60s).", valueName: "dur"))
    var idleTimeout: Duration?

    @Option(help: ArgumentHelp("A new output buffering mode: block or drop.", valueName: "block|drop"))
    var outputBuffering: String?

    func validate() throws {
        if let idleTimeout, idleTimeout.seconds < SessionRecord.minimumIdleTimeout {
            throw ValidationError("--idle-timeout: at least \(SessionRecord.minimumIdleTimeout) seconds")
        }
        if let outputBuffering, SessionRecord.OutputBuffering(rawValue: outputBuffering) == nil {
            throw ValidationError("--output-buffering: block or drop")
        }
    }

    func run() throws {
        try SessionUpdate.run(sessions, connection: connection) {
            .disconnect(session: $0, idleTimeoutSeconds: idleTimeout?.seconds ?? 0, outputBuffering: outputBuffering ?? "")
        }
    }
}

/// connect and disconnect: one request per session, the sessions as they are afterwards.
enum SessionUpdate {
    static func run(_ sessions: [String], connection: ConnectionOptions, _ request: (String) -> ClientMessage) throws {
        let client = try SessionClient(connector: connection.makeConnector())
        let clientID = try client.state.clientID()
        var rows: [SessionOutput.Row] = []
        let worst = Diagnostics.forEachTarget(sessions) { text in
            let reference = try SessionReference(parsing: text, known: client.state.knownSessions())
            let answer = try client.withLink(reference.host) { try $0.request(request(reference.session)) }
            guard case let .session(record) = answer else { throw SessionError.helper("unexpected answer") }
            client.state.remember(host: reference.host, records: [record], complete: false)
            rows.append(.init(host: reference.host, record: record))
        }
        if !rows.isEmpty { SessionOutput.print(rows, json: connection.json, clientID: clientID) }
        if worst != 0 { throw ExitCode(worst) }
    }
}
