import Glibc
import SessionWire

/// `pss enter`: a client attached to a session's terminal. What it types goes to the terminal as typed, what the
/// terminal shows comes back, and the session is busy meanwhile (invokes wait). Leaving keeps the session and its
/// state: the detach key, `exit` or Ctrl-D at the shell's own prompt (a temporary session is closed then).
extension HostDaemon {
    func enter(_ reference: String, force: Bool, size: WindowSize, term: String, keys: String, link: ClientLink) throws {
        let client = link.clientID!
        guard link.entered == nil, link.attached == nil else {
            throw RequestFailure(kind: .invalidRequest, message: "this connection is already entered in a session, or streams a command")
        }
        let session: HostedSession
        if reference.isEmpty {
            session = try createSession(
                name: "", idleTimeout: SessionRecord.defaultIdleTimeout, buffering: .block,
                maxBuffer: SessionRecord.defaultMaxBuffer, heldBy: client, temporary: true,
                loadsProfile: true, owner: link.user)
        } else {
            session = try find(reference)
        }
        guard session.record.state != .broken else { throw brokenFailure(session) }
        // A session made when the configuration was (or was not) restricted, which it no longer is, runs nothing.
        if session.record.restricted != (allowedCommands != nil), let configuration {
            throw RequestFailure(
                kind: .denied, message: "session '\(session.record.name)' no longer matches configuration \(configuration.name): make a new one")
        }
        // A restricted session has no terminal: the client gives a line prompt, each line an invoke checked here.
        if session.record.restricted {
            if !force && session.record.state == .opened && session.record.heldBy != client {
                throw RequestFailure(kind: .busy, message: "session '\(session.record.name)' is held by another client; take it over with pss enter --force")
            }
            hold(session, for: client)
            return link.send(.entered(session.snapshot, keysTaken: 0))
        }
        guard let shell = session.shell else { throw RequestFailure(kind: .hostFailure, message: "session '\(session.record.name)' has no shell") }
        if let other = session.enteredLink, other !== link, !other.isClosed {
            guard force else {
                throw RequestFailure(
                    kind: .busy,
                    message:
                        "session '\(session.record.name)' is entered by \(other.clientID == client ? "another pss of this client" : "another client"); take it over with pss enter --force"
                )
            }
            leave(session, telling: "another pss entered this session (pss enter --force)")
        }
        if !force && session.record.state == .opened && session.record.heldBy != client {
            throw RequestFailure(kind: .busy, message: "session '\(session.record.name)' is held by another client; take it over with pss enter --force")
        }
        for run in session.runs where run.link.map({ $0.clientID != client }) ?? false {
            detach(run, telling: "session '\(session.record.name)' was taken over by another client (pss enter --force)")
        }
        hold(session, for: client)
        session.drainTerminal(using: &buffer)  // what came before goes to the log, and is replayed from there
        session.enteredLink = link
        session.enteredTerm = term
        link.entered = session
        session.typedOnLine = 0
        session.transcriptLine = []
        // The same stream of keys coming back (a lost connection): typing resumes where the host has it.
        if keys.isEmpty || keys != session.keyStream {
            session.keyStream = keys
            session.keysTaken = 0
        }
        link.send(.entered(session.snapshot, keysTaken: session.keysTaken))
        let atPrompt = session.run == nil && shell.isAtPrompt
        var replay = session.recentTerminalOutput(rows: Int(size.rows))
        // At the prompt, the log's last line is an old prompt: the shell prints a fresh one.
        // (With no line before it, as after the login files of a new session, all of it is that prompt.)
        if atPrompt { replay.removeSubrange((replay.lastIndex(of: 0x0A).map { $0 + 1 } ?? replay.startIndex)...) }
        link.send(.terminalOutput(replay[...]))
        shell.resize(size, redraw: true)
        // At the prompt: the user's terminal type, a prompt, echo (its prompt comes under the replay).
        // (A shell still reading the login files gets them once it is ready: what they print is the user's.)
        if atPrompt, shell.isReady {
            shell.enterInteractive(term: term, lineEditing: transcript == nil)
        } else if !shell.isReady {
            shell.holdKeys()  // typed once the prompt is there, not into the login files' programs
        }
    }

    func typeIn(_ sent: [UInt8], at offset: UInt64, from link: ClientLink) {
        // Keys for a command invoked from a terminal go to its terminal as typed.
        if let run = link.attached, run.link === link, run.hasTerminal, run.isRunning,
            let session = sessions.values.first(where: { $0.run === run })
        {
            session.shell?.write(sent)
            return
        }
        // Under a transcript, keys for an invoked command are not typed at all (they would not be recorded).
        if let run = link.attached, run.link === link, run.isRunning, transcript != nil {
            if !run.toldKeysNotTaken, let configuration {
                run.toldKeysNotTaken = true
                link.send(
                    .notice(
                        "configuration \(configuration.name) keeps a transcript: keys typed here do not reach an invoked command (pss enter records what is typed)"
                    ))
            }
            return
        }
        guard let session = link.entered, session.enteredLink === link, let shell = session.shell else { return }
        // Keys sent again after a reconnection: what the host already took is not typed twice.
        let skip = session.keysTaken > offset ? Int(min(session.keysTaken - offset, UInt64(sent.count))) : 0
        let bytes = Array(sent[skip...])
        session.keysTaken = max(session.keysTaken, offset) + UInt64(bytes.count)
        guard !bytes.isEmpty else { return }
        // A configuration that keeps a transcript lets nothing through that it could not record.
        if transcript != nil, let problem = transcribeTyped(bytes, in: session, shell: shell, user: link.user) {
            link.send(.notice("\(problem): what was typed did not reach the session"))
            return
        }
        guard session.run == nil, shell.isAtPrompt else { shell.writeKeys(bytes); return }
        let canonical = shell.readsLines  // else readline edits the line (bash while entered)
        // At the shell's own prompt: Ctrl-D on an empty line leaves, as `exit` does (the shell ignores EOF).
        // The count is of bytes: an erased multibyte character, a word erase (Ctrl-W) or readline's own editing may
        // leave it above 0 on an empty line, which only means that Ctrl-D goes to the shell, which ignores it.
        let endOfFile = shell.controlCharacter(VEOF), erase = shell.controlCharacter(VERASE)
        let kill = shell.controlCharacter(VKILL), interrupt = shell.controlCharacter(VINTR)
        for (index, byte) in bytes.enumerated() {
            switch byte {
            case endOfFile where session.typedOnLine == 0:
                shell.writeKeys(Array(bytes[..<index]))
                return leaveAtExit(session)
            case endOfFile: break  // the shell takes the line so far, without its newline: it is not empty
            case 0x0A, 0x0D, interrupt: session.typedOnLine = 0
            // Canonical mode: what the shell already took (after a Ctrl-D) stays; readline's Ctrl-U empties the line.
            case kill: if session.typedOnLine > 0 { session.typedOnLine = canonical ? 1 : 0 }
            case erase, 0x08: session.typedOnLine = max(0, session.typedOnLine - 1)
            default: session.typedOnLine += 1
            }
        }
        shell.writeKeys(bytes)
    }

    func resize(_ size: WindowSize, from link: ClientLink) {
        guard let session = link.entered, session.enteredLink === link else { return }
        session.shell?.resize(size)
    }

    /// `exit` (or Ctrl-D) at the shell's own prompt: the entered user leaves; a temporary session ends with it.
    func leaveAtExit(_ session: HostedSession) {
        let temporary = session.record.temporary
        leave(session, telling: "exit", closed: temporary)
        if temporary { remove(session) }
    }

    /// Ends the entered client's attachment, telling it why (nil: it asked to leave). The session stays, held by
    /// that client, with whatever runs in it. Nothing is typed now: what the user left on the shell's line is
    /// thrown away, and the next command resets the prompt (`start`).
    func leave(_ session: HostedSession, telling reason: String?, closed: Bool = false) {
        guard let link = session.enteredLink else { return }
        if !link.isClosed { link.send(.left(reason: reason ?? "detached", closed: closed)) }
        session.enteredLink = nil
        link.entered = nil
        if session.run == nil, let shell = session.shell, shell.isAtPrompt {
            // readline keeps the line itself: only SIGINT makes it let go.
            let lineMayHoldText = session.typedOnLine > 0 || !shell.readsLines
            shell.setEcho(false)
            shell.discardTypedLine(interruptShell: lineMayHoldText)
            if lineMayHoldText { session.settledAt = Posix.milliseconds + 200 }
        }
        session.typedOnLine = 0
        session.idleSince = Posix.now
    }

    /// The lines an entered user types, for the configuration's transcript: each line as typed (editing keys
    /// escaped), when it ends. Sessions of such a configuration read lines in the terminal's canonical mode with
    /// echo (no readline: `enterInteractive(lineEditing: false)`), so a line that does not echo is one a program
    /// reads as a secret (sudo, ssh, `read -s`): it is recorded as such, without its text, as are keys typed
    /// before the prompt shows. Ctrl-C and Ctrl-U abandon the line. Returns false when the transcript cannot be
    /// written, and why.
    func transcribeTyped(_ bytes: [UInt8], in session: HostedSession, shell: SessionShell, user: String) -> String? {
        let shows = shell.echoes
        // What was typed but not let through is not part of the line.
        let before = session.transcriptLine
        let interrupt = shell.controlCharacter(VINTR), kill = shell.controlCharacter(VKILL)
        for byte in bytes {
            switch byte {
            case 0x0A, 0x0D:
                if let line = session.transcriptLine {
                    if !line.isEmpty, let problem = transcribe(session, user, "typed", String(decoding: line, as: UTF8.self)) {
                        session.transcriptLine = before
                        return problem
                    }
                } else if let problem = transcribe(session, user, "typed with echo off (not recorded)", "") {
                    session.transcriptLine = before
                    return problem
                }
                session.transcriptLine = []
            case interrupt, kill:
                session.transcriptLine = []
            case _ where !shows:
                session.transcriptLine = nil
            default:
                if session.transcriptLine != nil, session.transcriptLine!.count < 1 << 16 { session.transcriptLine!.append(byte) }
            }
        }
        return nil
    }
}
