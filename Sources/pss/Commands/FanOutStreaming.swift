import ArgumentParser
import Glibc
import Sessions
import SessionWire
import SSHClient

/// `invoke` over several targets: each target's command runs on a thread of its own, at most --throttle at once;
/// its lines are prefixed with its name, or its output is grouped with the targets that gave the same (--group),
/// or it is one JSON object (--json). Stdin, when forwarded, goes to every target whole (`SharedInput`). Ctrl-C
/// interrupts every command and starts no more, a second one leaves them running (`FanOutControl`). Then a summary
/// of failures on stderr, and one exit status for all: 0 when every target succeeded, 255 when any could not be
/// reached, 128+N when pss left the commands on signal N, else the largest status.
struct FanOutStreaming {
    var connection: ConnectionOptions
    /// The targets as the user wrote them (host lists expanded).
    var targets: [String]
    var throttle: Int
    var groups: Bool
    var reconnectTimeout: UInt32

    /// Runs `resolve`'s request on each target, with `stdin` forwarded to each, and exits as described above.
    func run(stdin: Int32?, _ resolve: (SessionClient, Int) throws -> (host: String, request: ClientMessage)) throws -> Never {
        let console = FanOutConsole(total: targets.count)
        let input = try stdin.map { try SharedInput(source: $0) }
        let control = try FanOutControl { event in
            switch event {
            case let .interrupted(running):
                console.notice(
                    "Ctrl-C: SIGINT sent to the \(running) command\(running == 1 ? "" : "s") running; no more targets start (Ctrl-C again within 3 s leaves them running)"
                )
            case let .detached(_, running):
                console.notice(
                    "left \(running) command\(running == 1 ? "" : "s") running, each in its session, now Disconnected: the summary says where; collect each with pss receive HOST/SESSION"
                )
            }
        }
        var connector = try connection.makeConnector(prompting: false)
        connector.prompter = ConsolePrompter(console: console)
        var client = SessionClient(connector: connector)
        client.configuration = connection.configuration
        client = try client.locatingHelper()
        let gathers = groups || connection.json
        var outcomes = [CommandOutcome?](repeating: nil, count: targets.count)
        let lock = Lock()
        let tick = console.showsProgress ? (interval: 0.2, body: { console.tick() }) : nil
        FanOut.forEach(targets.count, throttle: throttle, tick: tick) { index in
            console.targetStarted()
            let outcome =
                control.stopsStarting
                ? CommandOutcome(host: targets[index], failure: .from(SessionError.notStarted(signal: control.detachedBy ?? SIGINT)))
                : runOne(index, client: client, console: console, gathers: gathers, control: control, input: input, resolve)
            console.targetEnded(failed: outcome.reason != nil)
            var kept = outcome
            if connection.json {
                console.write(Array((outcome.jsonLine.text + "\n").utf8), to: STDOUT_FILENO)
                (kept.stdout, kept.stderr) = ([], [])  // printed: only what the summary needs stays
            }
            lock.withLock { outcomes[index] = kept }
        }
        control.finish()
        console.finish()
        if let problem = input?.cutShort {
            Diagnostics.print("stdin was cut short (\(problem)): the commands still reading it were interrupted, not given end of file")
        }
        let all = outcomes.map { $0! }
        if groups, !connection.json {
            for group in OutputGroup.grouping(zip(targets, all).map { ($0, $1.stdout) }) { Terminal.write(group.text, to: STDOUT_FILENO) }
            for group in OutputGroup.grouping(zip(targets, all).map { ($0, $1.stderr) }) { Terminal.write(group.text, to: STDERR_FILENO) }
        }
        let failures = zip(targets, all).compactMap { target, outcome in
            outcome.reason.map { (target, outcome.briefFailure ?? $0) }
        }
        if !failures.isEmpty {
            let lines = failures.map { "  \($0.0): \($0.1)" }.joined(separator: "\n")
            Diagnostics.print("\(failures.count) of \(targets.count) targets failed:\n" + lines)
            // What several failures share (a host key warning), once.
            var said = Set<String>()
            for explanation in all.compactMap(\.explanation) where said.insert(explanation).inserted { Diagnostics.print(explanation) }
        }
        if let signal = control.detachedBy { throw ExitCode(128 + signal) }
        throw ExitCode(all.contains { $0.failure?.status == ExitStatusCode.transport } ? ExitStatusCode.transport : all.map(\.status).max() ?? 0)
    }

    private func runOne(
        _ index: Int, client: SessionClient, console: FanOutConsole, gathers: Bool, control: FanOutControl, input: SharedInput?,
        _ resolve: (SessionClient, Int) throws -> (host: String, request: ClientMessage)
    ) -> CommandOutcome {
        let target = targets[index]
        let started = Deadline.now
        let stdout: ByteSink, stderr: ByteSink
        if gathers {
            (stdout, stderr) = (BufferSink(), BufferSink())
        } else {
            let prefix = target + ": "
            stdout = PrefixedLineSink(prefix: prefix, escapesControls: isatty(STDOUT_FILENO) == 1) { console.write($0, to: STDOUT_FILENO) }
            stderr = PrefixedLineSink(prefix: prefix, escapesControls: isatty(STDERR_FILENO) == 1) { console.write($0, to: STDERR_FILENO) }
        }
        let stream = CommandStream(stdout: stdout, stderr: stderr)
        stream.noticeHandler = { console.notice("\(target): \($0)") }
        var outcome = CommandOutcome(host: target)
        do {
            let (host, request) = try resolve(client, index)
            outcome.host = host
            let streamControl = try control.register()
            defer { control.release(streamControl) }
            stream.control = streamControl
            // Input that could not be kept whole is never ended as if complete: the command is interrupted.
            let stdin = try input?.makeReader(cutShort: { streamControl.send(.interrupt) })
            defer { stdin.map { _ = close($0) } }
            let end = try client.stream(
                request, on: host, into: stream, stdin: stdin, reconnectTimeout: Double(reconnectTimeout),
                notify: { console.notice("\(target): \($0)") })
            if case let .exited(status, signal, shellEnded) = end {
                (outcome.exitCode, outcome.signal) = (status, signal)
                if shellEnded, stream.session?.temporary == false {
                    console.notice("\(target): the command ended the session's shell; a new shell took its place")
                }
            }
        } catch {
            outcome.failure = CommandFailure.from(error)
            if let error = error as? SSHError { (outcome.briefFailure, outcome.explanation) = (error.brief, error.explanation) }
        }
        for (kind, count) in [("stdout", stream.dropped.stdout), ("stderr", stream.dropped.stderr)] where count > 0 {
            console.notice("\(target): \(count) bytes of \(kind) were dropped on the host before they were received (output buffering 'drop')")
        }
        try? (stdout as? PrefixedLineSink)?.finish()
        try? (stderr as? PrefixedLineSink)?.finish()
        (outcome.session, outcome.sessionName, outcome.job) = (stream.session?.id, stream.session?.name, stream.job?.id)
        outcome.stdout = (stdout as? BufferSink)?.bytes ?? []
        outcome.stderr = (stderr as? BufferSink)?.bytes ?? []
        outcome.durationMs = Int((Deadline.now.nanoseconds - started.nanoseconds) / 1_000_000)
        return outcome
    }
}
