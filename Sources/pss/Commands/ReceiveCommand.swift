import ArgumentParser
import Sessions
import SessionWire

struct ReceiveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "receive",
        abstract: "Stream the output of a session's command not yet received, then exit with its status (Receive-PSSession).",
        discussion: """
            Connects a Disconnected session to this client first. Without --job, the session's latest command. \
            Output is acknowledged as it arrives, so the next receive starts after it (--keep: not acknowledged). \
            Ctrl-C (or SIGTERM, SIGHUP) stops receiving and leaves the command running, its session \
            Disconnected, to be received later, as Receive-Job -Wait and tail -f do; stop it with pss job stop.
            """
                + Examples.section([
                    "the rest of the latest command's output, then its status": "pss receive web1/deploy",
                    "a job's, leaving its output on the host": "pss receive web1/deploy --job build --keep",
                ])
    )

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: ArgumentHelp("HOST/NAME, HOST/ID, or a NAME this client knows.", valueName: "session"), completion: SessionCompletion.known)
    var session: String

    @Option(help: ArgumentHelp("The job's id or name (default: the latest command).", valueName: "job"))
    var job: String?

    @Flag(help: "Leave the output on the host as unreceived.")
    var keep = false

    @Option(help: ArgumentHelp("How long to keep reconnecting a lost connection (0: not at all).", valueName: "dur"), transform: Duration.parse)
    var reconnectTimeout: Duration = OutputStreaming.defaultReconnectTimeout

    func run() throws {
        let streaming = OutputStreaming(
            connection: connection, target: session, reconnectTimeout: reconnectTimeout.seconds,
            acknowledges: !keep, interrupts: InterruptPolicy(passesInterrupt: false))
        try streaming.run(stdin: nil) { client in
            let reference = try SessionReference(parsing: session, known: try client.state.knownSessions())
            // Where this client stopped when it last gave up reconnecting to this session, if it did.
            let unfinished = try client.state.takeUnfinished(host: reference.host, session: reference.session, job: job)
            return (
                reference.host,
                .receive(
                    session: reference.session, job: unfinished?.job ?? job ?? "",
                    from: unfinished.map { StreamOffsets(stdout: $0.stdout, stderr: $0.stderr) },
                    follow: true, take: true)
            )
        }
    }
}
