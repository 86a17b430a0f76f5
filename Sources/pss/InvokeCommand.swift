import ArgumentParser
import Glibc
import Sessions
import SSHClient

struct InvokeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "invoke",
        abstract: "Run a command on a host.",
        discussion: """
            One word after -- is run as a shell command line ('cd /tmp && ls'); several words are quoted and \
            passed as they are. Local stdin is forwarded unless it is a terminal or -n is given. Exits with the \
            remote command's status, 128+N if a signal N killed it, 255 if the host could not be reached.
            """
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(name: .customLong("host"), help: ArgumentHelp("The host: [user@]host[:port] or an ssh_config alias.", valueName: "host"))
    var hosts: [String] = []

    @Flag(name: .customShort("n"), help: "Do not forward stdin (the command reads end of file).")
    var noStdin = false

    @Argument(parsing: .captureForPassthrough, help: ArgumentHelp("The command and its arguments, after --.", valueName: "command"))
    var command: [String] = []

    /// The words after `--`. captureForPassthrough also takes an unknown option, which is refused here.
    private var commandWords: [String] {
        command.first == "--" ? Array(command.dropFirst()) : command
    }

    func validate() throws {
        if let first = command.first, first != "--", first.hasPrefix("-") {
            throw ValidationError("unknown option '\(first.sanitizedForDisplay)'")
        }
        guard !hosts.isEmpty else { throw ValidationError("give the target with --host HOST") }
        guard hosts.count == 1 else { throw ValidationError("one --host at a time for now") }
        do { _ = try HostSpec(parsing: hosts[0]) } catch { throw ValidationError("--host: \(error)") }
        guard !commandWords.isEmpty, !commandWords.allSatisfy({ $0.isEmpty }) else {
            throw ValidationError("no command given: pss invoke --host HOST -- COMMAND [ARG...]")
        }
    }

    func run() throws {
        let host = try HostSpec(parsing: hosts[0])
        let started = Deadline.now
        let commandLine = RemoteCommand.commandLine(commandWords)
        let stdout: ByteSink = connection.json ? BufferSink() : FileDescriptorSink(descriptor: STDOUT_FILENO)
        let stderr: ByteSink = connection.json ? BufferSink() : FileDescriptorSink(descriptor: STDERR_FILENO)
        let forwardStdin = !noStdin && isatty(STDIN_FILENO) == 0

        let outcome: Result<ExitStatus, CommandFailure>
        do {
            let connector = try connection.makeConnector()
            let ssh = try connector.connect(host)
            outcome = .success(try ssh.execute(commandLine, stdin: forwardStdin ? STDIN_FILENO : nil,
                                               stdout: stdout, stderr: stderr))
        } catch let error as FileDescriptorSink.SinkError where error.errno == EPIPE {
            throw ExitCode(128 + SIGPIPE)  // our reader went away, as `cat` into a closed pipe
        } catch {
            outcome = .failure(CommandFailure.from(error))
        }

        if connection.json {
            var line = JSONLine()
            line.add("host", hosts[0])
            line.add("session", nil as String?)
            line.add("jobId", nil as String?)
            line.add("exitCode", (try? outcome.get()).map { Int($0.shellStatus) })
            line.add("stdout", (stdout as? BufferSink).map { String(decoding: $0.bytes, as: UTF8.self) })
            line.add("stderr", (stderr as? BufferSink).map { String(decoding: $0.bytes, as: UTF8.self) })
            if case let .failure(failure) = outcome { line.add("error", failure.description) } else { line.add("error", nil as String?) }
            line.add("durationMs", Int((Deadline.now.nanoseconds - started.nanoseconds) / 1_000_000))
            line.print()
        }
        switch outcome {
        case let .success(status):
            if case let .signaled(name) = status, !connection.json {
                Diagnostics.print("\(hosts[0]): remote command killed by signal \(name)")
            }
            throw ExitCode(status.shellStatus)
        case let .failure(failure):
            Diagnostics.print(failure.description)
            throw ExitCode(failure.status)
        }
    }
}
