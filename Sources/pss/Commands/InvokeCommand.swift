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
            The target is a HOST (pss invoke web1 -- uptime), a HOST/SESSION (pss invoke web1/deploy -- make) or a \
            host list, as a plain word or with --host and --session. A HOST runs the command in a temporary \
            session, closed when it ends; a session's shell keeps its state. One word after -- is run as a shell command line \
            ('cd /tmp && ls'); several words are quoted and passed as they are. Local stdin is forwarded unless it \
            is a terminal or -n is given. Exits with the remote command's status; 254 when the session layer \
            refuses (no such session, busy past --wait); 255 when the host cannot be reached. A connection lost \
            mid-command is retried once a second for up to --reconnect-timeout and resumed where it stopped. \
            Ctrl-C sends SIGINT to the command (exit 130 when it dies of it); a second Ctrl-C within 3 s, or \
            SIGTERM or SIGHUP, detaches: the command runs on, its session Disconnected, for pss receive. \
            --as-job returns at once with the job's id and name: collect it with pss job receive (cron: \
            pss invoke --host H --as-job --lock NAME --timeout DUR -- COMMAND). Several targets (--host and \
            --session repeated, host lists such as web[01-20], --hosts-file) run at once, at most --throttle: \
            each output line is prefixed 'TARGET: ' (or grouped with --group, or one JSON object per target with \
            --json), stdin is forwarded to each (read once), nothing prompts, Ctrl-C sends SIGINT to every \
            command and starts no more targets (a second Ctrl-C leaves them running, Disconnected, for pss \
            receive), and failures are summed up on stderr at the end; \
            the exit status is 0 when all succeeded, 255 when any could not be reached, else the largest status.
            """
                + Examples.section([
                    "one command, in a temporary session": "pss invoke web1 -- uptime",
                    "in a session, whose shell keeps its state": "pss invoke web1/deploy -- 'cd /srv/app && make'",
                    "on twenty hosts at once, each line prefixed with its host": "pss invoke 'web[01-20]' -- systemctl is-active nginx",
                    "stdin is forwarded (to every target)": "tar czf - src | pss invoke web1 -- 'tar xzf - -C /tmp'",
                    "from cron: a job whose output waits to be collected": "pss invoke db1 --as-job --job-name nightly -- /usr/local/bin/backup",
                    "one JSON object": "pss --json invoke web1 -- df -h /",
                ])
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(name: .customLong("host"), help: ArgumentHelp("Run in a temporary session on this host (a host list: on each).", valueName: "host"))
    var hosts: [String] = []

    @Option(
        name: .customLong("session"), help: ArgumentHelp("Run in this session: HOST/NAME, HOST/ID or a known NAME.", valueName: "session"),
        completion: SessionCompletion.known)
    var sessions: [String] = []

    @OptionGroup var fanOut: FanOutOptions

    @Flag(help: "With several targets: print each distinct output once, under the targets that gave it (as dshbak -c).")
    var group = false

    @Flag(name: .customShort("n"), help: "Do not forward stdin (the command reads end of file).")
    var noStdin = false

    @Option(help: ArgumentHelp("How long to wait for a busy session.", valueName: "dur"), transform: Duration.parse)
    var wait: Duration = Duration(argument: "4m")!

    @Flag(help: "Start the command as a job and return at once; its output and status stay on the host until removed.")
    var asJob = false

    @Option(help: ArgumentHelp("A name for the job (default JobN).", valueName: "name"))
    var jobName: String?

    @Option(help: ArgumentHelp("Kill the command on the host after this long (exit 124).", valueName: "dur"), transform: Duration.parse)
    var timeout: Duration?

    @Option(help: ArgumentHelp("Refuse to start (exit 75) while a command holding this lock runs on the host.", valueName: "name"))
    var lock: String?

    @Option(
        help: ArgumentHelp("A temporary session's idle timeout (default 2h; minimum 60s): how long it stays once nothing runs.", valueName: "dur"),
        transform: Duration.parse)
    var idleTimeout: Duration?

    @Option(
        help: ArgumentHelp(
            "With --as-job: how long the job's output and status wait, once it has ended, to be received (default 7d).", valueName: "dur"),
        transform: Duration.parse)
    var retention: Duration?

    @Option(help: ArgumentHelp("How long to keep reconnecting a lost connection (0: not at all).", valueName: "dur"), transform: Duration.parse)
    var reconnectTimeout: Duration = OutputStreaming.defaultReconnectTimeout

    /// The targets, then (after `--`) the command: the parser gives both as one list, and options may come before
    /// or after the targets.
    @Argument(
        help: ArgumentHelp(
            "The targets (HOST, HOST/SESSION or a host list; or give --host, --session), then -- and the command with its arguments.",
            valueName: "target -- command"),
        completion: SessionCompletion.known)
    var words: [String] = []

    /// The words after `--`, as given (the parser puts them at the end of `words` as well, and no second list of
    /// positional arguments may follow the first).
    private var command: [String] {
        let arguments = CommandLine.arguments
        guard let terminator = arguments.firstIndex(of: "--") else { return [] }
        let after = Array(arguments[(terminator + 1)...])
        return words.count >= after.count && Array(words.suffix(after.count)) == after ? after : []
    }

    /// The words before `--`.
    private var leadingWords: [String] { Array(words.dropLast(command.count)) }

    /// Local stdin goes to the command (to each, on several targets): not a terminal's, not with -n or --as-job.
    private var forwardsStdin: Bool { !asJob && !noStdin && isatty(STDIN_FILENO) == 0 }

    /// Invoked from a terminal (stdin one, not -n, not --json or --as-job): the command's terminal is shown and
    /// answered there, as with ssh -t.
    private var usesTerminal: Bool {
        !asJob && !noStdin && !connection.json && isatty(STDIN_FILENO) == 1
    }

    /// A target as written, and whether it names a session (else a host, for a temporary session).
    private struct Target {
        var text: String
        var isSession: Bool
    }

    /// The hosts (--host, --hosts-file) and the sessions, host lists expanded (validate() refuses bad ones with 64);
    /// without those options, the targets written as plain words before the command.
    private func targets() throws -> [Target] {
        let sessionTargets: [String]
        do { sessionTargets = try HostList.expand(sessions) } catch { throw ValidationError("--session: \(error)") }
        let given = try fanOut.targets(hosts).map { Target(text: $0, isSession: false) } + sessionTargets.map { Target(text: $0, isSession: true) }
        guard given.isEmpty else { return given }
        var positional: [Target] = []
        for word in positionalTargets {
            let isSession = InvokeCommand.namesSession(word)
            do {
                positional += try HostList.expand(word).map { Target(text: $0, isSession: isSession) }
            } catch {
                throw ValidationError("\(word.sanitizedForDisplay): \(error)")
            }
        }
        return positional
    }

    /// Whether a target written as a plain word is HOST/SESSION (a '/' outside a host list's brackets, where
    /// `db[1-8/2]` steps) or the bare NAME of a session this client knows (as `enter` and `receive` read it), else
    /// a HOST.
    static func namesSession(_ word: String) -> Bool {
        if !word.contains("/"), !word.contains("["), ((try? ClientState().knownSessions()) ?? []).contains(where: { $0.name == word }) {
            return true
        }
        var depth = 0
        for character in word {
            if character == "[" { depth += 1 } else if character == "]" { depth = max(0, depth - 1) } else if character == "/", depth == 0 { return true }
        }
        return false
    }

    /// Whether the targets are plain words before `--` (no --host, --session or --hosts-file).
    private var targetsArePositional: Bool { hosts.isEmpty && sessions.isEmpty && fanOut.hostsFile == nil }

    /// Targets written as plain words before `--` (`pss invoke web1 web2 -- uptime`).
    private var positionalTargets: [String] { targetsArePositional ? leadingWords : [] }

    /// The command's words: those after `--` (without it, the parser would take the command's own options, such
    /// as `grep -v`, for pss's).
    private var commandWords: [String] { command }

    func validate() throws {
        // The parser takes an option it does not know for a word: refused here, as before.
        if let unknown = leadingWords.first(where: { $0.hasPrefix("-") }) {
            throw ValidationError("unknown option '\(unknown.sanitizedForDisplay)'")
        }
        // Without --, where the command begins is not guessed, and its options would have been taken for pss's.
        if command.isEmpty, !CommandLine.arguments.contains("--"), targetsArePositional ? leadingWords.count > 1 : !leadingWords.isEmpty {
            let target = targetsArePositional ? leadingWords[0] : "--host \(hosts.first ?? sessions.first ?? "HOST")"
            throw ValidationError("put -- before the command (its options are its own): pss invoke \(target.sanitizedForDisplay) -- COMMAND")
        }
        if !targetsArePositional, !leadingWords.isEmpty {
            throw ValidationError("give the targets either as words or with --host and --session, not both")
        }
        let targets = try targets()
        guard !targets.isEmpty else {
            throw ValidationError("give the target: pss invoke HOST -- COMMAND, or --host HOST, --session HOST/NAME")
        }
        if group && (asJob || connection.json) { throw ValidationError("--group goes with neither --as-job nor --json") }
        for host in targets where !host.isSession {
            do { _ = try HostSpec(parsing: host.text) } catch { throw ValidationError("--host: \(error)") }
        }
        if let jobName, let problem = SessionName.problem(with: jobName) {
            throw ValidationError("--job-name: \(problem.replacingOccurrences(of: "session name", with: "job name"))")
        }
        if let lock, let problem = SessionName.problem(with: lock) {
            throw ValidationError("--lock: \(problem.replacingOccurrences(of: "a session name", with: "a lock name"))")
        }
        if jobName != nil && !asJob { throw ValidationError("--job-name goes with --as-job") }
        if retention != nil && !asJob { throw ValidationError("--retention goes with --as-job") }
        if let retention, retention.seconds == 0 { throw ValidationError("--retention: give a duration of at least 1s") }
        if idleTimeout != nil && targets.contains(where: \.isSession) {
            throw ValidationError("--idle-timeout sets a temporary session's (a HOST target); a session's own is set by pss new or pss disconnect")
        }
        if let idleTimeout, idleTimeout.seconds < 60 { throw ValidationError("--idle-timeout: the minimum is 60s") }
        if let timeout, timeout.seconds == 0 { throw ValidationError("--timeout: give a duration of at least 1s") }
        // No command: said in run(), so that the parser first says an option it did not know (it reports those
        // only once validate() has passed).
        guard hasCommand else { return }
        let length = RemoteCommand.commandLine(commandWords).utf8.count
        guard length <= CommandText.maximumLength else {
            throw ValidationError(
                "the command is \(length) bytes; at most \(CommandText.maximumLength) (1 MiB) is sent to a host: put a long script in a file on the host, or feed it on stdin (pss invoke --host H -- sh < script)"
            )
        }
    }

    private var hasCommand: Bool { !commandWords.isEmpty && !commandWords.allSatisfy { $0.isEmpty } }

    func run() throws {
        guard hasCommand else {
            throw ValidationError("no command given: pss invoke TARGET -- COMMAND [ARG...] (TARGET: HOST, HOST/SESSION or a host list)")
        }
        let targets = try targets()
        if fanOut.dryRun { return FanOutOptions.printTargets(targets.map(\.text)) }
        let several = targets.count > 1 || group
        let resolve = { (client: SessionClient, index: Int) throws -> (host: String, request: ClientMessage) in
            let target = targets[index]
            let reference =
                target.isSession
                ? try SessionReference(parsing: target.text, known: try client.state.knownSessions())
                : SessionReference(host: target.text, session: "")
            var invocation = ClientMessage.Invocation(
                session: reference.session, command: RemoteCommand.commandLine(commandWords),
                forwardStdin: forwardsStdin, waitSeconds: wait.seconds, asJob: asJob,
                jobName: jobName ?? "", timeoutSeconds: timeout?.seconds ?? 0, lock: lock ?? ""
            ).withTerminal(!several && usesTerminal)
            invocation.idleTimeoutSeconds = idleTimeout?.seconds ?? 0
            invocation.retentionSeconds = retention?.seconds ?? 0
            return (reference.host, .invoke(invocation))
        }
        if asJob { return try startJobs(targets.map(\.text), sessions: targets.map { $0.isSession ? $0.text : nil }, resolve) }
        if several {
            let streaming = FanOutStreaming(
                connection: connection, targets: targets.map(\.text), throttle: fanOut.throttle, groups: group,
                reconnectTimeout: reconnectTimeout.seconds)
            try streaming.run(stdin: forwardsStdin ? STDIN_FILENO : nil, resolve)
        }
        let streaming = OutputStreaming(
            connection: connection, target: targets[0].text, reconnectTimeout: reconnectTimeout.seconds,
            interrupts: InterruptPolicy(), usesTerminal: usesTerminal)
        try streaming.run(stdin: forwardsStdin ? STDIN_FILENO : nil) { try resolve($0, 0) }
    }

    /// --as-job: starts the command on each target and shows the jobs, without waiting for them.
    /// `sessions`: each target's session reference, or nil for a host (a new temporary session there).
    private func startJobs(
        _ targets: [String], sessions: [String?], _ resolve: (SessionClient, Int) throws -> (host: String, request: ClientMessage)
    ) throws {
        let client = try connection.makeClient(prompting: targets.count == 1).locatingHelper()
        let (rows, worst) = Diagnostics.forEachTarget(
            targets, throttle: fanOut.throttle,
            indexed: { index in
                let (host, request) = try resolve(client, index)
                // A session of a configuration is reached through that configuration, as for every other command.
                let routed = try sessions[index].map { try client.forSession(SessionReference(parsing: $0, known: try client.state.knownSessions())) } ?? client
                let answer = try routed.withLink(host) { try $0.request(request) }
                guard case let .started(session, job, _) = answer else { throw SessionError.helper("unexpected answer") }
                client.state.remember(host: host, records: [session], complete: false)
                return JobOutput.Row(host: host, job: job)
            })
        if !rows.isEmpty { JobOutput.print(rows, json: connection.json) }
        if worst != 0 { throw ExitCode(worst) }
    }
}
