import ArgumentParser
import Glibc
import Sessions
import SessionWire
import SSHClient

struct InvokeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "invoke",
        abstract: "Run a command in a session (Invoke-Command).",
        discussion: """
            --host runs the command in a temporary session, closed when it ends; --session runs it in a persistent \
            session, whose shell keeps its state. One word after -- is run as a shell command line \
            ('cd /tmp && ls'); several words are quoted and passed as they are. Local stdin is forwarded unless it \
            is a terminal or -n is given. Exits with the remote command's status; 254 when the session layer \
            refuses (no such session, busy past --wait); 255 when the host cannot be reached. A connection lost \
            mid-command is retried once a second for up to --reconnect-timeout and resumed where it stopped. \
            Ctrl-C sends SIGINT to the command (exit 130 when it dies of it); a second Ctrl-C within 3 s, or \
            SIGTERM or SIGHUP, detaches: the command runs on, its session Disconnected, for pss receive. \
            --as-job returns at once with the job's id and name: collect it with pss job receive (cron: \
            pss invoke --host H --as-job --lock NAME --timeout DUR -- COMMAND).
            """
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(name: .customLong("host"), help: ArgumentHelp("Run in a temporary session on this host.", valueName: "host"))
    var hosts: [String] = []

    @Option(
        name: .customLong("session"), help: ArgumentHelp("Run in this session: HOST/NAME, HOST/ID or a known NAME.", valueName: "session"),
        completion: SessionCompletion.known)
    var sessions: [String] = []

    @Flag(name: .customShort("n"), help: "Do not forward stdin (the command reads end of file).")
    var noStdin = false

    @Flag(help: "Print the targets, one a line, as they would be addressed (host patterns expanded), and connect to nothing.")
    var dryRun = false

    @Option(help: ArgumentHelp("How long to wait for a busy session.", valueName: "dur"))
    var wait: Duration = Duration(argument: "4m")!

    @Flag(help: "Start the command as a job and return at once; its output and status stay on the host until removed.")
    var asJob = false

    @Option(help: ArgumentHelp("A name for the job (default JobN).", valueName: "name"))
    var jobName: String?

    @Option(help: ArgumentHelp("Kill the command on the host after this long (exit 124).", valueName: "dur"))
    var timeout: Duration?

    @Option(help: ArgumentHelp("Refuse to start (exit 75) while a command holding this lock runs on the host.", valueName: "name"))
    var lock: String?

    @Option(help: ArgumentHelp("How long to keep reconnecting a lost connection (0: not at all).", valueName: "dur"))
    var reconnectTimeout: Duration = OutputStreaming.defaultReconnectTimeout

    @Argument(parsing: .captureForPassthrough, help: ArgumentHelp("The command and its arguments, after --.", valueName: "command"))
    var command: [String] = []

    /// Invoked from a terminal (stdin one, not -n, not --json or --as-job): the command's terminal is shown and
    /// answered there, as with ssh -t.
    private var usesTerminal: Bool {
        !asJob && !noStdin && !connection.json && isatty(STDIN_FILENO) == 1
    }

    /// The hosts `--host` names, its patterns expanded (validate() refuses bad ones with 64).
    private func hostTargets() throws -> [String] {
        hosts.isEmpty ? [] : try HostPattern.expand(hosts)
    }

    /// The words after `--`. captureForPassthrough also takes an unknown option, which is refused here.
    private var commandWords: [String] {
        command.first == "--" ? Array(command.dropFirst()) : command
    }

    func validate() throws {
        if let first = command.first, first == "--help" || first == "-h" {
            throw CleanExit.helpRequest(self)
        }
        if let first = command.first, first != "--", first.hasPrefix("-") {
            throw ValidationError("unknown option '\(first.sanitizedForDisplay)'")
        }
        let targets: [String]
        do { targets = try hostTargets() } catch { throw ValidationError("--host: \(error)") }
        guard targets.count + sessions.count == 1 || (dryRun && !(targets.isEmpty && sessions.isEmpty)) else {
            throw ValidationError(
                hosts.isEmpty && sessions.isEmpty
                    ? "give the target with --host HOST or --session SESSION"
                    : "one target at a time for now (--dry-run shows them)")
        }
        for host in targets { do { _ = try HostSpec(parsing: host) } catch { throw ValidationError("--host: \(error)") } }
        if let jobName, let problem = SessionName.problem(with: jobName) {
            throw ValidationError("--job-name: \(problem.replacingOccurrences(of: "session name", with: "job name"))")
        }
        if let lock, let problem = SessionName.problem(with: lock) {
            throw ValidationError("--lock: \(problem.replacingOccurrences(of: "a session name", with: "a lock name"))")
        }
        if jobName != nil && !asJob { throw ValidationError("--job-name goes with --as-job") }
        if let timeout, timeout.seconds == 0 { throw ValidationError("--timeout: give a duration of at least 1s") }
        guard !commandWords.isEmpty, !commandWords.allSatisfy({ $0.isEmpty }) else {
            throw ValidationError("no command given: pss invoke (--host HOST | --session SESSION) -- COMMAND [ARG...]")
        }
        let length = RemoteCommand.commandLine(commandWords).utf8.count
        guard length <= CommandText.maximumLength else {
            throw ValidationError(
                "the command is \(length) bytes; at most \(CommandText.maximumLength) (1 MiB) is sent to a host: put a long script in a file on the host, or feed it on stdin (pss invoke --host H -- sh < script)"
            )
        }
    }

    func run() throws {
        if dryRun {
            let targets = try hostTargets() + sessions
            Terminal.write(targets.map { $0 + "\n" }.joined())
            return
        }
        let host = try hostTargets().first
        let target = host ?? sessions[0]
        let resolve = { (client: SessionClient) throws -> (host: String, request: ClientMessage) in
            let reference =
                hosts.isEmpty
                ? try SessionReference(parsing: sessions[0], known: try client.state.knownSessions())
                : SessionReference(host: host!, session: "")
            let invocation = ClientMessage.Invocation(
                session: reference.session, command: RemoteCommand.commandLine(commandWords),
                forwardStdin: !asJob && !noStdin && isatty(STDIN_FILENO) == 0, waitSeconds: wait.seconds, asJob: asJob,
                jobName: jobName ?? "", timeoutSeconds: timeout?.seconds ?? 0, lock: lock ?? ""
            ).withTerminal(usesTerminal)
            return (reference.host, .invoke(invocation))
        }
        if asJob { return try startJob(target, resolve) }
        let streaming = OutputStreaming(
            connection: connection, target: target, reconnectTimeout: reconnectTimeout.seconds,
            interruptsCommand: true, usesTerminal: usesTerminal)
        try streaming.run(stdin: !noStdin && isatty(STDIN_FILENO) == 0 ? STDIN_FILENO : nil, resolve)
    }

    /// --as-job: starts the command and shows the job, without waiting for it.
    private func startJob(_ target: String, _ resolve: (SessionClient) throws -> (host: String, request: ClientMessage)) throws {
        do {
            let client = try SessionClient(connector: connection.makeConnector())
            let (host, request) = try resolve(client)
            let answer = try client.withLink(host) { try $0.request(request) }
            guard case let .started(session, job, _) = answer else { throw SessionError.helper("unexpected answer") }
            client.state.remember(host: host, records: [session], complete: false)
            JobOutput.print([.init(host: host, job: job)], json: connection.json)
        } catch {
            let failure = CommandFailure.from(error)
            Diagnostics.print("\(target): \(failure.description)")
            throw ExitCode(failure.status)
        }
    }
}
