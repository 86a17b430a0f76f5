import ArgumentParser
import Glibc
import Sessions
import SessionWire
import SSHClient

/// What `invoke`, `receive` and `job receive|wait` share: a command's output streamed to stdout and stderr (or
/// gathered into one JSON line), across reconnections, then the command's exit status as pss's own.
struct OutputStreaming {
    /// How long a lost connection is retried (DESIGN.md: 4 minutes), for every command that streams output.
    static let defaultReconnectTimeout = Duration(argument: "4m")!

    var connection: ConnectionOptions
    /// The target as the user wrote it, for messages.
    var target: String
    var reconnectTimeout: UInt32
    /// Acknowledge what arrives, so the host lets it go (not for `--keep`).
    var acknowledges = true
    /// Output is not shown (`job wait`).
    var discardsOutput = false
    /// What Ctrl-C, SIGTERM and SIGHUP do: interrupt the command, then detach (`invoke`); detach at once
    /// (`receive`); nothing of pss's own (nil: they end pss as they would any program).
    var interrupts: InterruptPolicy?
    /// The local terminal is the command's (`invoke` from a terminal, as ssh -t): keys raw to it, its output to
    /// stderr.
    var usesTerminal = false

    /// Streams what `request` asks for on the host it names, and exits as the command did.
    func run(stdin: Int32?, _ resolve: (SessionClient) throws -> (host: String, request: ClientMessage)) throws -> Never {
        let started = Deadline.now
        let stdout: ByteSink = connection.json || discardsOutput ? BufferSink() : FileDescriptorSink(descriptor: STDOUT_FILENO)
        let stderr: ByteSink = connection.json || discardsOutput ? BufferSink() : FileDescriptorSink(descriptor: STDERR_FILENO)
        let stream = CommandStream(stdout: stdout, stderr: stderr, acknowledges: acknowledges, wantsOutput: !discardsOutput)
        stream.noticeHandler = { [target] in Diagnostics.print("\(target): \($0)") }
        stream.interrupts = interrupts
        let raw = usesTerminal ? try? RawTerminal(STDIN_FILENO) : nil
        defer { raw?.restore() }
        if let raw {
            stream.terminalInput = STDIN_FILENO
            stream.terminalOutput = FileDescriptorSink(descriptor: STDERR_FILENO)
            stream.startedHandler = { raw.enable(keepingOutput: true) }
        }
        var host = target
        var outcome: Result<CommandStream.End, CommandFailure>
        do {
            let client = try connection.makeClient()
            let (resolvedHost, request) = try resolve(client)
            host = resolvedHost
            outcome = .success(
                try client.stream(
                    request, on: host, into: stream, stdin: stdin,
                    reconnectTimeout: Double(reconnectTimeout),
                    notify: { Diagnostics.print("\(target): \($0)") }))
        } catch let error as FileDescriptorSink.SinkError where error.errno == EPIPE {
            throw ExitCode(128 + SIGPIPE)  // our reader went away, as `cat` into a closed pipe
        } catch {
            outcome = .failure(CommandFailure.from(error))
        }

        for (kind, count) in [("stdout", stream.dropped.stdout), ("stderr", stream.dropped.stderr)] where count > 0 {
            Diagnostics.print("\(target): \(count) bytes of \(kind) were dropped on the host before they were received (output buffering 'drop')")
        }
        if connection.json {
            var result = CommandOutcome(host: host, session: stream.session?.id, sessionName: stream.session?.name, job: stream.job?.id)
            if case let .success(.exited(status, _, _)) = outcome { result.exitCode = status }
            if case let .failure(failure) = outcome { result.failure = failure }
            result.stdout = (stdout as? BufferSink)?.bytes ?? []
            result.stderr = (stderr as? BufferSink)?.bytes ?? []
            result.durationMs = Int((Deadline.now.nanoseconds - started.nanoseconds) / 1_000_000)
            result.jsonLine.print()
        }
        switch outcome {
        case let .success(.exited(status, signal, shellEnded)):
            if !signal.isEmpty, !connection.json {
                Diagnostics.print("\(target): remote command killed by signal \(signal)")
            }
            if shellEnded, stream.session?.temporary == false {
                Diagnostics.print(
                    "\(target): the command ended the session's shell; a new shell took its place (variables, functions and the working directory were reset)")
            }
            throw ExitCode(status)
        case let .success(.pending(job)):
            Diagnostics.print("\(target): job \(job.id) ('\(job.name)') is still running; this is its output so far")
            throw ExitCode(ExitStatusCode.stillRunning)
        case let .failure(failure):
            Diagnostics.print("\(target): \(failure.description)")
            throw ExitCode(failure.status)
        }
    }
}
