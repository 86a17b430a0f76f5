import ArgumentParser
import Glibc
import Sessions
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
            refuses (no such session, busy past --wait); 255 when the host cannot be reached.
            """
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(name: .customLong("host"), help: ArgumentHelp("Run in a temporary session on this host.", valueName: "host"))
    var hosts: [String] = []

    @Option(name: .customLong("session"), help: ArgumentHelp("Run in this session: HOST/NAME, HOST/ID or a known NAME.", valueName: "session"))
    var sessions: [String] = []

    @Flag(name: .customShort("n"), help: "Do not forward stdin (the command reads end of file).")
    var noStdin = false

    @Option(help: ArgumentHelp("How long to wait for a busy session (default 4m).", valueName: "dur"))
    var wait: Duration = Duration(argument: "4m")!

    @Argument(parsing: .captureForPassthrough, help: ArgumentHelp("The command and its arguments, after --.", valueName: "command"))
    var command: [String] = []

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
        guard hosts.count + sessions.count == 1 else {
            throw ValidationError(hosts.isEmpty && sessions.isEmpty ? "give the target with --host HOST or --session SESSION"
                                                                    : "one target at a time for now")
        }
        for host in hosts { do { _ = try HostSpec(parsing: host) } catch { throw ValidationError("--host: \(error)") } }
        guard !commandWords.isEmpty, !commandWords.allSatisfy({ $0.isEmpty }) else {
            throw ValidationError("no command given: pss invoke (--host HOST | --session SESSION) -- COMMAND [ARG...]")
        }
    }

    func run() throws {
        let started = Deadline.now
        let stdout: ByteSink = connection.json ? BufferSink() : FileDescriptorSink(descriptor: STDOUT_FILENO)
        let stderr: ByteSink = connection.json ? BufferSink() : FileDescriptorSink(descriptor: STDERR_FILENO)
        let forwardStdin = !noStdin && isatty(STDIN_FILENO) == 0
        let target = hosts.first ?? sessions[0]

        var outcome: Result<HostLink.InvokeResult, CommandFailure>
        var host = hosts.first ?? target
        do {
            let client = try SessionClient(connector: connection.makeConnector())
            let reference = hosts.isEmpty ? try SessionReference(parsing: sessions[0], known: client.state.knownSessions())
                                          : SessionReference(host: hosts[0], session: "")
            host = reference.host
            outcome = .success(try client.withLink(reference.host) { link in
                try link.invoke(session: reference.session, command: RemoteCommand.commandLine(commandWords),
                                stdin: forwardStdin ? STDIN_FILENO : nil, waitSeconds: wait.seconds,
                                stdout: stdout, stderr: stderr)
            })
        } catch let error as FileDescriptorSink.SinkError where error.errno == EPIPE {
            throw ExitCode(128 + SIGPIPE)  // our reader went away, as `cat` into a closed pipe
        } catch {
            outcome = .failure(CommandFailure.from(error))
        }

        if connection.json {
            var line = JSONLine()
            line.add("host", host)
            line.add("session", (try? outcome.get()).map(\.session.id))
            line.add("jobId", nil as String?)
            line.add("exitCode", (try? outcome.get()).map { Int($0.status) })
            line.add("stdout", (stdout as? BufferSink).map { String(decoding: $0.bytes, as: UTF8.self) })
            line.add("stderr", (stderr as? BufferSink).map { String(decoding: $0.bytes, as: UTF8.self) })
            if case let .failure(failure) = outcome { line.add("error", failure.description) } else { line.add("error", nil as String?) }
            line.add("durationMs", Int((Deadline.now.nanoseconds - started.nanoseconds) / 1_000_000))
            line.print()
        }
        switch outcome {
        case let .success(result):
            if !result.signal.isEmpty, !connection.json {
                Diagnostics.print("\(target): remote command killed by signal \(result.signal)")
            }
            if result.shellEnded, !sessions.isEmpty {
                Diagnostics.print("\(target): the command ended the session's shell; a new shell took its place (variables, functions and the working directory were reset)")
            }
            throw ExitCode(result.status)
        case let .failure(failure):
            Diagnostics.print("\(target): \(failure.description)")
            throw ExitCode(failure.status)
        }
    }
}
