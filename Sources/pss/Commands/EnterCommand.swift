import ArgumentParser
import Glibc
import Sessions
import SessionWire
import SSHClient

struct EnterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enter",
        abstract: "Enter a session's terminal (Enter-PSSession).",
        discussion: """
            A full terminal in the session's own shell: what you do there and what pss invoke runs share one \
            state. Leave with the detach key (Ctrl-\\ by default), or exit or Ctrl-D at the session's prompt: the \
            session stays, with whatever runs in it, and pss enter SESSION comes back to it, showing the recent \
            output (from another machine: after pss disconnect SESSION on the one that left, or with --force). pss enter HOST makes a temporary session, closed when you exit it \
            (detaching keeps it, and says its name). While you are entered, the session is busy: invokes wait. A \
            session another client holds or is entered in is refused (254) unless --force, which takes it over.
            """
                + Examples.section([
                    "a terminal in the session's shell; Ctrl-\\ detaches": "pss enter web1/deploy",
                    "a terminal in a temporary session, closed when you exit": "pss enter web1",
                    "another detach key": "pss enter web1/deploy --detach-key ctrl-]",
                ])
    )

    @OptionGroup var connection: ConnectionOptions

    @Argument(
        help: ArgumentHelp("HOST/NAME, HOST/ID, a NAME this client knows, or a HOST for a temporary session.", valueName: "target"),
        completion: SessionCompletion.known)
    var target: String

    @Flag(help: "Take over a session another client holds or is entered in.")
    var force = false

    @Option(help: ArgumentHelp("The key that leaves the session running: ctrl-X, C-X, ^X, or none.", valueName: "key"))
    var detachKey: String = "ctrl-\\"

    @Option(help: ArgumentHelp("How long to keep reconnecting a lost connection (0: not at all).", valueName: "dur"), transform: Duration.parse)
    var reconnectTimeout: Duration = OutputStreaming.defaultReconnectTimeout

    func validate() throws {
        do { _ = try DetachKey.parse(detachKey) } catch { throw ValidationError("\(error)") }
        guard isatty(STDIN_FILENO) == 1, isatty(STDOUT_FILENO) == 1 else {
            throw ValidationError("pss enter needs a terminal (stdin and stdout); to run a command without one, use pss invoke")
        }
    }

    /// What `enter` says on arrival: where, and how to leave.
    private func arrival(at shown: String, restricted: Bool, key: UInt8?) -> String {
        let written = detachKey.lowercased().hasPrefix("ctrl-") ? "Ctrl-" + detachKey.dropFirst(5) : detachKey
        let detach = key.map { _ in "\(written) detaches (it stays open)" }
        return "entered \(shown): \([restricted ? "exit leaves" : "exit or Ctrl-D at its prompt leaves", detach].compactMap { $0 }.joined(separator: ", "))"
    }

    func run() throws {
        let key = try DetachKey.parse(detachKey)
        var shown = target
        var status: Int32 = 0
        do {
            let base = try connection.makeClient()
            let (host, session) = try resolve(base)
            let client = session.isEmpty ? base : try base.forSession(SessionReference(host: host, session: session))
            let raw = try RawTerminal(STDIN_FILENO)
            raw.resetsModes = true
            defer { raw.restore() }
            let signals = StreamSignals.shared
            signals.arm(adding: [SIGWINCH])
            defer { signals.disarm() }
            let terminal = TerminalSession(
                input: STDIN_FILENO, output: FileDescriptorSink(descriptor: STDOUT_FILENO),
                detachKey: key, windowSize: { RawTerminal.windowSize(of: STDOUT_FILENO) })
            var entered: SessionRecord?
            var giveUpAt: Deadline?
            var result: (SessionRecord, TerminalSession.End)?
            while result == nil {
                do {
                    let limit = giveUpAt.map { max(1, Double($0.pollTimeout) / 1000) }
                    result = try client.withLink(host, connectTimeout: limit) { link in
                        // Coming back after a lost connection: this client's own stale attachment is taken over.
                        try terminal.run(on: link, session: entered?.id ?? session, force: force || entered != nil) { record in
                            client.state.remember(host: host, records: [record], complete: false)
                            // Once, on arrival: the way out, before the screen comes back.
                            if entered == nil { RawTerminal.say(arrival(at: "\(host)/\(record.name)", restricted: record.restricted, key: key)) }
                            if entered == nil && !record.restricted { raw.enable() }
                            if giveUpAt != nil { RawTerminal.say("reconnected") }
                            entered = record
                            giveUpAt = nil
                        }
                    }
                } catch  where entered != nil && SessionClient.isConnectionLoss(error) {
                    let record = entered!
                    if giveUpAt == nil {
                        giveUpAt = .after(seconds: Double(reconnectTimeout.seconds))
                        RawTerminal.say("connection lost (\(error)); reconnecting for up to \(reconnectTimeout.seconds) s")
                    }
                    // TERM or HUP meanwhile ends the wait; the keys typed meanwhile wait in the terminal.
                    let stop = signals.take().contains { $0 != SIGWINCH }
                    guard !stop, let limit = giveUpAt, !limit.hasPassed else {
                        raw.restore()
                        throw SessionError.helper(
                            "gave up reconnecting; the session \(host)/\(record.name) waits, Disconnected: pss enter \(host)/\(record.name)")
                    }
                    var pause = timespec(tv_sec: 1, tv_nsec: 0)
                    nanosleep(&pause, nil)
                }
            }
            let (record, end) = result!
            raw.restore()
            shown = "\(host)/\(record.name)"
            if end == .takesLines {
                signals.disarm()
                return try LinePrompt(client: client, host: host, session: record).run()
            }
            Terminal.write("\r\n", to: STDERR_FILENO)  // the remote prompt's line is not pss's
            switch end {
            case .left(_, closed: true):
                Diagnostics.print("left \(shown); the temporary session is closed")
            case let .left(reason, closed: false) where reason == "detached":
                Diagnostics.print("detached from \(shown)\(record.temporary ? " (a temporary session, kept)" : ""); it stays open: pss enter \(shown)")
            case let .left(reason, closed: false) where reason == "exit":
                Diagnostics.print("left \(shown); it stays open with its state: pss enter \(shown)")
            case let .left(reason, closed: false):
                Diagnostics.print("left \(shown): \(reason.sanitizedForDisplay)")
            case let .signalled(signal):
                Diagnostics.print("detached from \(shown) (signal \(signal)); it stays open: pss enter \(shown)")
                status = 128 + signal
            case .takesLines:
                break  // handled above
            }
        } catch {
            let failure = CommandFailure.from(error)
            Diagnostics.print("\(shown): \(failure.description)")
            throw ExitCode(failure.status)
        }
        if status != 0 { throw ExitCode(status) }
    }

    /// The host and session to enter: HOST/NAME or a name this client knows is a session; anything else a host,
    /// for a temporary session (an empty name).
    private func resolve(_ client: SessionClient) throws -> (host: String, session: String) {
        let known = try client.state.knownSessions()
        if target.contains("/") || known.contains(where: { $0.name == target || $0.id == target }) {
            let reference = try SessionReference(parsing: target, known: known)
            return (reference.host, reference.session)
        }
        do { _ = try HostSpec(parsing: target) } catch { throw SessionError.usage("\(target.sanitizedForDisplay): \(error)") }
        return (target, "")
    }
}
