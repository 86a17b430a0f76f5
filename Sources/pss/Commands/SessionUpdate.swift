import ArgumentParser
import Sessions
import SessionWire

/// connect and disconnect: one request per session, the sessions as they are afterwards.
enum SessionUpdate {
    static func run(_ sessions: [String], connection: ConnectionOptions, _ request: (String) -> ClientMessage) throws {
        let client = try SessionClient(connector: connection.makeConnector())
        let clientID = try client.state.clientID()
        var rows: [SessionOutput.Row] = []
        let worst = Diagnostics.forEachTarget(sessions) { text in
            let reference = try SessionReference(parsing: text, known: try client.state.knownSessions())
            let answer = try client.withLink(reference.host) { try $0.request(request(reference.session)) }
            guard case let .session(record) = answer else { throw SessionError.helper("unexpected answer") }
            client.state.remember(host: reference.host, records: [record], complete: false)
            rows.append(.init(host: reference.host, record: record))
        }
        if !rows.isEmpty { SessionOutput.print(rows, json: connection.json, clientID: clientID) }
        if worst != 0 { throw ExitCode(worst) }
    }
}
