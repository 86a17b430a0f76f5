import ArgumentParser
import Sessions
import SessionWire

struct DisconnectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "disconnect",
        abstract: "Leave sessions running on their hosts, held by no client (Disconnect-PSSession).",
        discussion: "A running command goes on and its output keeps spooling on the host: pss receive collects it, from any client."
            + Examples.section([
                "leave a session (and what runs in it) for later": "pss disconnect web1/deploy",
                "and let it wait two days idle": "pss disconnect web1/deploy --idle-timeout 2d",
            ])
    )

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var fanOut: FanOutOptions

    @Argument(
        help: ArgumentHelp("HOST/NAME, HOST/ID, or a NAME this client knows (HOST may be a host list).", valueName: "session"),
        completion: SessionCompletion.known)
    var sessions: [String]

    @Option(help: ArgumentHelp("A new idle timeout (minimum 60s).", valueName: "dur"), transform: Duration.parse)
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
        try SessionUpdate.run(sessions, connection: connection, fanOut: fanOut) {
            .disconnect(session: $0, idleTimeoutSeconds: idleTimeout?.seconds ?? 0, outputBuffering: outputBuffering ?? "")
        }
    }
}
