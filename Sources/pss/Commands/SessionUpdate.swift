import ArgumentParser
import Sessions
import SessionWire

/// connect and disconnect: one request per session, the sessions as they are afterwards. The connection to a
/// host is kept while this client holds an Opened session there.
enum SessionUpdate {
    static func run(_ given: [String], connection: ConnectionOptions, fanOut: FanOutOptions, _ request: (String) -> ClientMessage) throws {
        let sessions = try fanOut.targets(given)
        if fanOut.dryRun { return FanOutOptions.printTargets(sessions) }
        let client = try connection.makeClient(prompting: sessions.count == 1).locatingHelper()
        let clientID = try client.state.clientID()
        let (rows, worst) = Diagnostics.forEachTarget(sessions, throttle: fanOut.throttle) { text in
            let reference = try SessionReference(parsing: text, known: try client.state.knownSessions())
            let answer = try client.forSession(reference).withLink(reference.host) { try $0.request(request(reference.session)) }
            guard case let .session(record) = answer else { throw SessionError.helper("unexpected answer") }
            client.state.remember(host: reference.host, records: [record], complete: false)
            if record.state == .opened && record.heldBy == clientID {
                client.keepConnection(to: reference.host)
            } else {
                client.sessionsChanged(on: reference.host)
            }
            return SessionOutput.Row(host: reference.host, record: record)
        }
        if !rows.isEmpty { SessionOutput.print(rows, json: connection.json, clientID: clientID) }
        if worst != 0 { throw ExitCode(worst) }
    }
}
