import ArgumentParser
import Sessions
import SessionWire

struct ConnectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "connect",
        abstract: "Take Disconnected sessions back to this client (Connect-PSSession).",
        discussion: "--force takes over a session another client holds; that client's stream of it ends."
            + Examples.section([
                "take a Disconnected session to this machine": "pss connect web1/deploy",
                "take it over from another machine that holds it": "pss connect --force web1/deploy",
            ])
    )

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var fanOut: FanOutOptions

    @Argument(
        help: ArgumentHelp("HOST/NAME, HOST/ID, or a NAME this client knows (HOST may be a host list).", valueName: "session"),
        completion: SessionCompletion.known)
    var sessions: [String]

    @Flag(help: "Take over a session held by another client.")
    var force = false

    func run() throws {
        try SessionUpdate.run(sessions, connection: connection, fanOut: fanOut) { .connect(session: $0, force: force) }
    }
}
