import ArgumentParser
import Sessions
import SessionWire
import SSHClient

struct JobCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "job",
        abstract: "Jobs: commands started with invoke --as-job, and commands whose output was not received (Get-Job).",
        discussion: "A job is found by its id or name in a session (--session), or by its name on a host (--host: the newest of that name)."
            + Examples.section([
                "start one": "pss invoke web1/deploy --as-job --job-name build -- make -j8",
                "every job of yours on a host": "pss job list --host web1",
                "its output so far (253 while it runs), then its status": "pss job receive build --session web1/deploy",
                "last night's cron job, whatever its session": "pss job receive nightly --host db1",
                "stop it: TERM to its process group, KILL 5 s later": "pss job stop build --session web1/deploy",
            ]),
        subcommands: [List.self, Receive.self, Wait.self, Stop.self, Remove.self]
    )

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List jobs on hosts or in sessions.")

        @OptionGroup var connection: ConnectionOptions

        @Option(name: .customLong("host"), help: ArgumentHelp("Every job of yours on this host.", valueName: "host"))
        var hosts: [String] = []

        @Option(name: .customLong("session"), help: ArgumentHelp("The jobs of this session.", valueName: "session"))
        var sessions: [String] = []

        @OptionGroup var fanOut: FanOutOptions

        func validate() throws {
            let hostTargets = try fanOut.targets(hosts)
            guard !hostTargets.isEmpty || !sessions.isEmpty else { throw ValidationError("give --host HOST or --session SESSION") }
            do { _ = try HostList.expand(sessions) } catch { throw ValidationError("--session: \(error)") }
            for host in hostTargets { do { _ = try HostSpec(parsing: host) } catch { throw ValidationError("--host: \(error)") } }
        }

        func run() throws {
            let hostTargets = try fanOut.targets(hosts)
            let sessionTargets = try HostList.expand(sessions)
            if fanOut.dryRun { return FanOutOptions.printTargets(hostTargets + sessionTargets) }
            let client = try connection.makeClient(prompting: hostTargets.count + sessionTargets.count == 1).locatingHelper()
            func list(_ reference: SessionReference) throws -> [JobOutput.Row] {
                let answers = try client.forSession(reference).withLink(reference.host) { try $0.requestList(.listJobs(session: reference.session)) }
                let jobs = try answers.flatMap { answer -> [JobRecord] in
                    guard case let .jobs(page, _) = answer else { throw SessionError.helper("unexpected answer") }
                    return page
                }
                return jobs.map { JobOutput.Row(host: reference.host, job: $0) }
            }
            let byHost = Diagnostics.forEachTarget(hostTargets, throttle: fanOut.throttle) { try list(SessionReference(host: $0, session: "")) }
            let bySession = Diagnostics.forEachTarget(sessionTargets, throttle: fanOut.throttle) {
                try list(try SessionReference(parsing: $0, known: try client.state.knownSessions()))
            }
            let worst = max(byHost.worst, bySession.worst)
            JobOutput.print((byHost.results + bySession.results).flatMap { $0 }, json: connection.json)
            if worst != 0 { throw ExitCode(worst) }
        }
    }

    /// JOB --session SESSION or NAME --host HOST, as every job subcommand but list takes them.
    struct Target: ParsableArguments {
        @Argument(help: ArgumentHelp("The job's id or name.", valueName: "job"))
        var job: String

        @Option(help: ArgumentHelp("The session holding the job: HOST/NAME, HOST/ID or a known NAME.", valueName: "session"))
        var session: String?

        @Option(
            help: ArgumentHelp(
                "The host: its newest job of this name, in whichever session (a cron job's temporary session has a new name each time).",
                valueName: "host"))
        var host: String?

        func validate() throws {
            guard (session == nil) != (host == nil) else { throw ValidationError("give --session SESSION, or --host HOST with the job's name") }
            if let host {
                do { _ = try HostSpec(parsing: host) } catch { throw ValidationError("--host: \(error)") }
                if SessionName.problem(with: job) != nil || job.allSatisfy(\.isNumber) {
                    throw ValidationError("with --host, give the job's name (an id is a session's own: give --session with it)")
                }
            }
        }

        /// As messages show it.
        var shown: String { session.map { "\($0) job \(job)" } ?? "\(host ?? "") job \(job)" }

        func reference(_ client: SessionClient) throws -> SessionReference {
            guard let session else { return SessionReference(host: host ?? "", session: "") }
            return try SessionReference(parsing: session, known: try client.state.knownSessions())
        }
    }

    struct Receive: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a job's output not yet received; exit with its status, or 253 while it still runs.")

        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var target: Target

        @Flag(help: "Leave the output on the host as unreceived.")
        var keep = false

        func run() throws {
            try stream(connection, target, follow: false, keep: keep, discard: false)
        }
    }

    struct Wait: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Wait for a job to end, and exit with its status (its output stays on the host).")

        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var target: Target

        func run() throws {
            try stream(connection, target, follow: true, keep: true, discard: true)
        }
    }

    struct Stop: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stop a running job: TERM to its process group, KILL 5 s later.")

        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var target: Target

        func run() throws {
            try request(connection, target) { .stopJob(session: $0, job: $1) }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a job that has ended, its output and its status.")

        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var target: Target

        func run() throws {
            try request(connection, target) { .removeJob(session: $0, job: $1) }
        }
    }

    static func stream(_ connection: ConnectionOptions, _ target: Target, follow: Bool, keep: Bool, discard: Bool) throws {
        let streaming = OutputStreaming(
            connection: connection, target: target.shown,
            reconnectTimeout: OutputStreaming.defaultReconnectTimeout.seconds,
            acknowledges: !keep, discardsOutput: discard)
        try streaming.run(stdin: nil) { client in
            let reference = try target.reference(client)
            // job wait asks for the end only: the output stays on the host, unsent.
            return (
                reference.host,
                .receive(
                    session: reference.session, job: target.job, from: discard ? .end : nil,
                    follow: follow, take: false)
            )
        }
    }

    static func request(_ connection: ConnectionOptions, _ target: Target, _ message: (String, String) -> ClientMessage) throws {
        let client = try connection.makeClient()
        let worst = Diagnostics.forEachTarget(
            [target.shown],
            indexed: { _ in
                let reference = try target.reference(client)
                let answer = try client.forSession(reference).withLink(reference.host) { try $0.request(message(reference.session, target.job)) }
                if case let .job(job) = answer { JobOutput.print([.init(host: reference.host, job: job)], json: connection.json) }
            }
        ).worst
        if worst != 0 { throw ExitCode(worst) }
    }
}
