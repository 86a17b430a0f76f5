import Glibc
import SessionWire
import SSHClient

/// Opens links to hosts' daemons for one command.
public struct SessionClient {
    public let connector: HostConnector
    public let state: ClientState
    /// The helper, found and checked once for every target of a fan-out (the checks read the account databases
    /// through getpwent, which threads cannot share); nil: found for each connection.
    private var helper: HelperBinary?
    /// The session configuration whose daemon this client talks to on each host (`--configuration`); nil: the
    /// user's own daemon.
    public var configuration: String?

    public init(connector: HostConnector, state: ClientState = ClientState()) {
        self.connector = connector
        self.state = state
    }

    /// This client with its helper found and checked now, once, for connections made on several threads.
    public func locatingHelper() throws -> SessionClient {
        var client = self
        client.helper = try HelperBinary.locate(state: state)
        return client
    }

    /// The helper: the one found already, or found now.
    func helperBinary() throws -> HelperBinary {
        try helper ?? HelperBinary.locate(state: state)
    }

    /// Connects to `host` (through the kept connection when there is one), makes sure the helper answers, and
    /// hands the link to `body`.
    public func withLink<T>(_ host: String, connectTimeout: Double? = nil, _ body: (HostLink) throws -> T) throws -> T {
        let spec = try HostSpec(parsing: host)
        if let kept = connector.keptConnection(to: host, state: state) {
            if let link = kept.link(logger: connector.logger, configuration: configuration) {
                defer { link.close() }
                return try body(link)
            }
            // None to use: one is asked for (it connects meanwhile) when this client holds a session there, or
            // when ControlPersist asks for one-off commands' connections to be kept too.
            if kept.keeping.lingerIsExplicit || holdsSession(on: host) { keep(kept) }
        }
        var connector = connector
        if let connectTimeout {
            connector.connectTimeoutLimit = max(1, Int(connectTimeout.rounded(.up)))
        }
        let connection = try connector.connect(spec)
        let link =
            try configuration.map { try HostLink.open(connection, configuration: $0, clientID: try state.clientID()) }
            ?? HostLink.open(
                connection, helper: try helperBinary(), state: state,
                clientID: try state.clientID(), logger: connector.logger,
                notify: { connector.prompter.inform("pss: \(host): \($0)") })
        defer { link.close() }
        return try body(link)
    }

    /// This client, for commands on `reference`: unless a configuration was given, the one this client knows the
    /// session to be of. A name this client knows in several daemons of the host (the user's own and a
    /// configuration's, where other users make sessions too) is refused rather than guessed.
    public func forSession(_ reference: SessionReference) throws -> SessionClient {
        guard configuration == nil else { return self }
        let matches = ((try? state.knownSessions()) ?? []).filter {
            $0.host == reference.host && ($0.name == reference.session || $0.id == reference.session)
        }
        let configurations = Set(matches.map { $0.configuration ?? "" })
        guard configurations.count <= 1 else {
            let places = configurations.sorted().map { $0.isEmpty ? "your own" : "configuration \($0)" }
            throw SessionError.usage(
                "\(reference.host)/\(reference.session) names sessions in several places (\(places.joined(separator: ", "))): give --configuration NAME, or the session's id"
            )
        }
        var client = self
        client.configuration = matches.first?.configuration
        return client
    }

    /// Asks for the connection to `host` to be kept (a session was made or taken there); returns at once.
    public func keepConnection(to host: String) {
        if let kept = connector.keptConnection(to: host, state: state) { keep(kept) }
    }

    /// Tells the keeper of the connection to `host`, if any, that this client's sessions there changed (one was
    /// removed or disconnected): it looks whether to end now rather than at its next look.
    public func sessionsChanged(on host: String) {
        connector.keptConnection(to: host, state: state)?.nudge()
    }

    private func keep(_ kept: KeptConnection) {
        guard !kept.failedLately else { return }
        kept.requestKeeping(executable: HelperBinary.pssExecutable, logger: connector.logger)
    }

    private func holdsSession(on host: String) -> Bool {
        ((try? state.knownSessions()) ?? []).contains { $0.host == host }
    }

    /// Sends `request` (an invoke or a receive) to `host` and streams the command's output into `stream`. Once the
    /// host has said which command it is, a lost or stalled connection is retried once a second for up to
    /// `reconnectTimeout` seconds and resumed at the offsets received. `notify` hears what happens meanwhile.
    public func stream(
        _ request: ClientMessage, on host: String, into stream: CommandStream, stdin: Int32?,
        reconnectTimeout: Double, notify: (String) -> Void
    ) throws -> CommandStream.End {
        // A session this client knows to be of a configuration is reached through it.
        if configuration == nil, let session = request.sessionReference, !session.isEmpty {
            return try forSession(SessionReference(host: host, session: session)).streamResuming(
                request, on: host, into: stream, stdin: stdin, reconnectTimeout: reconnectTimeout, notify: notify)
        }
        return try streamResuming(request, on: host, into: stream, stdin: stdin, reconnectTimeout: reconnectTimeout, notify: notify)
    }

    private func streamResuming(
        _ request: ClientMessage, on host: String, into stream: CommandStream, stdin: Int32?,
        reconnectTimeout: Double, notify: (String) -> Void
    ) throws -> CommandStream.End {
        var request = request
        var stdin = stdin
        var giveUpAt: Deadline?
        var lastLoss = ""
        while true {
            let attemptLimit = giveUpAt.map { max(1, Double($0.pollTimeout) / 1000) }
            do {
                let end = try withLink(host, connectTimeout: attemptLimit) { try $0.run(request, into: stream, stdin: stdin) }
                if giveUpAt != nil { notify("reconnected; output resumed where it stopped") }
                return end
            } catch let detached as HostLink.Detached {
                throw SessionError.detached(host: host, session: stream.session!, job: stream.job!, signal: detached.signal)
            } catch  where Self.isConnectionLoss(error) {
                guard let resume = stream.resumeRequest(after: request) else { throw error }
                lastLoss = "\(error)"
                while lastLoss.hasSuffix(".") { lastLoss.removeLast() }
                if giveUpAt == nil {
                    giveUpAt = .after(seconds: reconnectTimeout)
                    if reconnectTimeout > 0 {
                        notify("\(lastLoss); reconnecting (for up to \(Int(reconnectTimeout)) s)")
                        if stdin != nil {
                            stdin = nil
                            notify("stdin is not forwarded after a reconnection: the command reads end of file")
                        }
                    }
                }
                guard let limit = giveUpAt, !limit.hasPassed else {
                    let session = stream.session!, job = stream.job!
                    state.setUnfinished(
                        host: host, session: session.id,
                        .init(
                            host: host, sessionID: session.id, sessionName: session.name, job: job.id,
                            stdout: stream.received.stdout, stderr: stream.received.stderr))
                    throw SessionError.gaveUp(host: host, session: session, job: job, reason: lastLoss, after: reconnectTimeout)
                }
                request = resume
                var pause = timespec(tv_sec: 1, tv_nsec: 0)
                nanosleep(&pause, nil)
            }
        }
    }

    /// Whether `error` is the connection going away (worth a new one), rather than a refusal or a failure to
    /// authenticate or trust the host (which a retry would only repeat).
    public static func isConnectionLoss(_ error: Error) -> Bool {
        switch error {
        case let error as SSHError:
            switch error {
            case .connect, .timedOut, .protocolFailure, .serverNotResponding, .connectionLost: return true
            case .resolve, .hostKeyUnknown, .hostKeyChanged, .hostKeyRevoked, .authenticationFailed, .unsupported: return false
            }
        case is HostLink.HelperEnded, is SSHChannel.ChannelClosed: return true
        default: return false
        }
    }
}

extension ClientMessage {
    /// The session an invoke or a receive names (empty: a temporary one); nil for other requests.
    var sessionReference: String? {
        switch self {
        case let .invoke(invocation): return invocation.session
        case let .receive(session, _, _, _, _): return session
        default: return nil
        }
    }
}
