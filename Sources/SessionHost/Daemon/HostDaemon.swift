import Glibc
import SessionWire

/// The write end of the pipe that turns signals into poll() input.
nonisolated(unsafe) private var signalPipeWrite: Int32 = -1
/// SIGTERM reached a configuration's daemon (`pss config unregister` stops them).
nonisolated(unsafe) private var terminationRequested = false

/// The per-user daemon, as tmux's server: one process holds all of a user's sessions, so an added session costs
/// only its buffers. One thread, one poll() loop; started on demand by a relay, detached from every SSH connection;
/// exits when it holds no sessions and no client is connected.
public final class HostDaemon {
    let paths: HostPaths
    let store: SessionStore
    /// Commands started by this daemon, for `CommandRun.startOrder`.
    var commandsStarted = 0
    var expired: ExpiredSessions { ExpiredSessions(path: paths.expired) }
    let helperIdentity: String
    let owner = Posix.userName
    let selfPID = getpid()
    private var listener: Int32 = -1
    private var signalRead: Int32 = -1
    var sessions: [String: HostedSession] = [:]
    private var links: [ClientLink] = []
    private var hadClient = false
    /// Out of descriptors (EMFILE): the listener is not polled until then, or until a link closes, so that a
    /// pending connection does not make poll() return at once, forever.
    private var listenerPausedUntil: Int64 = 0
    private let startedAt = Posix.now
    var buffer = [UInt8](repeating: 0, count: WireProtocol.outputChunk)
    private(set) var shellEnvironment: [String] = []
    /// The configuration whose sessions this daemon holds (`pss-host daemon --configuration NAME`), or nil for the
    /// user's own sessions.
    private(set) var configuration: SessionConfiguration?
    /// Its allowedCommands, when it has them: no session of this daemon has a shell.
    private(set) var allowedCommands: AllowedCommands?
    private(set) var transcript: Transcript?
    var transcriptRate = TranscriptRate()
    /// Whether each user was allowed in the configuration, and when that was asked (`isAllowedNow`).
    var allowance: [String: (stamp: [Int], at: Int64, expires: Bool, allowed: Bool)] = [:]
    /// The configuration file's inode, times and size when last read (`refreshConfiguration`).
    var configurationStamp: [Int] = []
    /// What a restricted command's environment is: nothing from the client or the user's files.
    private(set) var restrictedEnvironment: [String] = []

    /// Unsent output a link may queue before the daemon stops reading spools for it.
    static let linkHighWater = 1 << 20
    /// Stdin a command has not taken yet, before the daemon stops reading its client.
    static let stdinHighWater = 1 << 20
    /// Answers a link has not taken yet, before the daemon stops reading its requests (above what streaming output
    /// queues, which stops at `linkHighWater`).
    static let answerHighWater = 2 << 20

    public init(paths: HostPaths, helperIdentity: String, configuration: SessionConfiguration? = nil) {
        self.paths = paths
        self.store = SessionStore(paths: paths)
        self.helperIdentity = helperIdentity
        apply(configuration)
    }

    /// Takes `configuration` (at start, and when its file changed) and what follows from it.
    func apply(_ configuration: SessionConfiguration?) {
        self.configuration = configuration
        allowedCommands = configuration?.allowedCommands.map(AllowedCommands.init)
        transcript = configuration?.transcriptDirectory.map(Transcript.init)
        shellEnvironment = Self.environmentForShells() + (configuration?.environment.map { "\($0.name)=\($0.value)" } ?? [])
        let account = AccountDatabase.current.map { ["HOME": $0.home, "USER": $0.name, "LOGNAME": $0.name] }
        restrictedEnvironment = AllowedCommands.environment(
            account: account ?? [:], locale: shellEnvironment, configured: configuration?.environment ?? [])
    }

    // MARK: Start

    /// Runs until the daemon has nothing left to hold. Returns at once if another daemon holds the lock.
    public func run() throws {
        // Sessions' shells start where a login would; the daemon must not hold the directory it was started in.
        chdir(Posix.environment("HOME") ?? "/")
        // A daemon shared by a configuration's users keeps nothing its first caller chose (CleanStart).
        if configuration?.runAs != nil {
            umask(0o022)
            CleanStart.raiseSoftLimits()
        }
        try paths.prepare()
        try transcript?.prepare()
        let lock = open(paths.lock, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        try Posix.check(lock, "open \(paths.lock)")
        guard Self.takeLock(lock, socket: paths.socket) else { return }  // another daemon serves

        try listen()
        installSignalHandlers()
        // Each session holds four descriptors (PTY master and slave, notice pipe, terminal log): take the hard
        // limit rather than stop near 250 sessions at the usual soft limit of 1024.
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 {
            limit.rlim_cur = limit.rlim_max
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
        for record in store.loadAll() {
            // A record whose shell died with a previous daemon: Broken, its spools kept.
            // (A restricted session has no shell to lose: it waits, Disconnected, for its users.)
            var broken = record
            broken.state = record.restricted ? .disconnected : .broken
            broken.command = ""
            let session = HostedSession(record: broken, directory: paths.session(record.id))
            sessions[record.id] = session
            try? store.save(broken)
            for run in session.runs where run.endUnknown && run.endedAt == 0 { run.endedAt = Posix.now }
        }
        // Records saved under an older file (or before bounds were applied at all) take the bounds of today's.
        applyBounds()
        loop()
        unlink(paths.socket)
    }

    /// The daemon's lock: taken at once, or, while another daemon holds it without a socket to connect to (it is
    /// starting, or ending with nothing left), waited for up to 3 s, so that a relay that found the socket gone
    /// gets a daemon. False when another daemon serves.
    private static func takeLock(_ lock: Int32, socket: String) -> Bool {
        for _ in 0..<300 {
            if flock(lock, LOCK_EX | LOCK_NB) == 0 { return true }
            // (An ending daemon removes its socket's name before it looks for the last relays.)
            if access(socket, F_OK) == 0 { return false }
            usleep(10_000)
        }
        return false
    }

    private func listen() throws {
        do {
            listener = try UnixSocket.listen(paths.socket, hint: "set PSS_HOST_DIR to a shorter path")
        } catch let failure as UnixSocket.Failure {
            throw HostError.daemon(failure.description)
        }
    }

    private func installSignalHandlers() {
        let (read, write) = try! Posix.pipe()
        Posix.setNonBlocking(read)
        Posix.setNonBlocking(write)
        signalRead = read
        signalPipeWrite = write
        signal(SIGPIPE, SIG_IGN)
        signal(SIGHUP, SIG_IGN)
        // A file size limit (limits.conf fsize) makes a spool write fail with EFBIG, held like a full disk, instead
        // of killing the daemon.
        signal(SIGXFSZ, SIG_IGN)
        signal(SIGCHLD) { _ in
            var byte: UInt8 = 1
            _ = Glibc.write(signalPipeWrite, &byte, 1)
        }
        if configuration != nil {
            signal(SIGTERM) { _ in
                terminationRequested = true
                var byte: UInt8 = 1
                _ = Glibc.write(signalPipeWrite, &byte, 1)
            }
        }
    }

    /// The environment every session's shell starts with: built from an allow-list, not from whatever connection
    /// happened to start the daemon (its DISPLAY, KRB5CCNAME, SSH_AUTH_SOCK or XDG_SESSION_ID belong to that login
    /// alone), plus a quiet prompt. The user's profile adds the rest.
    static func environmentForShells() -> [String] {
        var result: [String] = []
        var seen = Set<String>()
        var cursor = environ
        while let entry = cursor.pointee {
            let text = String(cString: entry)
            let name = text.split(separator: "=", maxSplits: 1).first.map(String.init) ?? ""
            if isPassedToShells(name), seen.insert(name).inserted { result.append(text) }
            cursor += 1
        }
        if let account = AccountDatabase.current {
            let fallback = ["HOME": account.home, "USER": account.name, "LOGNAME": account.name, "SHELL": account.shell]
            for (name, value) in fallback.sorted(by: { $0.key < $1.key }) where !seen.contains(name) { result.append("\(name)=\(value)") }
        }
        if !seen.contains("PATH") { result.append("PATH=/usr/local/bin:/usr/bin:/bin") }
        return result + ["PS1=", "PS2=", "HISTFILE=", "TERM=dumb"]
    }

    /// What a login's environment is made of, rather than a particular connection: the account, the locale, the
    /// time zone, the search path.
    static func isPassedToShells(_ name: String) -> Bool {
        ["HOME", "USER", "LOGNAME", "SHELL", "PATH", "MAIL", "LANG", "LANGUAGE", "TZ"].contains(name) || name.hasPrefix("LC_")
    }

    /// A line in the daemon's log (run/daemon.log, its stderr).
    static func log(_ message: String) {
        let line = "\(Posix.timestamp) pss-host daemon \(getpid()): \(message)\n"
        _ = line.withCString { write(STDERR_FILENO, $0, strlen($0)) }
    }

    // MARK: The loop

    private func loop() {
        while true {
            var descriptors: [pollfd] = []
            var handlers: [(Int16) -> Void] = []
            func watch(_ fd: Int32, _ events: Int32, _ handler: @escaping (Int16) -> Void) {
                descriptors.append(pollfd(fd: fd, events: Int16(events), revents: 0))
                handlers.append(handler)
            }

            if Posix.now >= listenerPausedUntil {
                watch(listener, POLLIN) { [unowned self] _ in self.acceptLinks() }
            }
            watch(signalRead, POLLIN) { [unowned self] _ in self.reapChildren() }
            for session in sessions.values {
                // The terminal is not read while an entered client has a backlog: the program on it waits.
                if let shell = session.shell, (session.enteredLink?.pendingOutput ?? 0) < Self.linkHighWater {
                    watch(shell.master, POLLIN) { [unowned self] _ in session.drainTerminal(using: &self.buffer) }
                }
                if let shell = session.shell, shell.pendingInputCount > 0 {
                    watch(shell.master, POLLOUT) { _ in shell.flushInput() }
                }
                if let shell = session.shell {
                    watch(shell.notices, POLLIN) { [unowned self] _ in self.handleNotices(session) }
                }
                // Finished commands too: a background child may still hold their streams.
                for run in session.runs {
                    for spool in run.outputs where spool.isOpen && !spool.isHolding && !isPaused(session, spool) {
                        watch(spool.pipe, POLLIN) { [unowned self] _ in self.drain(spool, of: run, in: session) }
                    }
                    if run.stdinPipe >= 0 && run.stdinPending > 0 {
                        watch(run.stdinPipe, POLLOUT) { _ in run.flushStdin() }
                    }
                }
            }
            for link in links {
                guard link.isReady else {
                    watch(link.control, POLLIN) { _ in if !link.adoptDescriptors() && !link.isReady { link.isClosed = true } }
                    continue
                }
                if acceptsInput(link) {
                    watch(link.input, POLLIN) { [unowned self] revents in self.service(link, revents) }
                }
                if link.pendingOutput > 0 {
                    watch(link.output, POLLOUT) { [unowned self] revents in self.service(link, revents) }
                }
                // The relay's socket ends when the relay does (the SSH connection went away).
                watch(link.control, POLLIN) { _ in link.isClosed = true }
            }

            var ready: Int32
            repeat { ready = poll(&descriptors, nfds_t(descriptors.count), pollTimeout()) } while ready < 0 && errno == EINTR
            for (index, descriptor) in descriptors.enumerated() where descriptor.revents != 0 {
                handlers[index](descriptor.revents)
            }
            progress()
            if terminationRequested { return endConfiguration() }
            if shouldExit() { return }
        }
    }

    /// A configuration's daemon told to end: when its configuration is gone (unregistered), its sessions are closed
    /// and every trace of them removed; otherwise it ends as a lost daemon does (its sessions Broken for the next).
    private func endConfiguration() {
        // Only a file that is gone: a configuration an admin is editing, or one naming an account removed since,
        // keeps its sessions.
        guard let configuration, access(ConfigurationRegistry().file(for: configuration.name), F_OK) != 0, errno == ENOENT
        else { return }
        Self.log("configuration \(configuration.name) is gone: closing its \(sessions.count) sessions")
        for session in Array(sessions.values) { remove(session) }
        for link in links { link.flushBeforeClose(); link.close() }
        links = []
        unlink(paths.socket)
        Posix.removeTree(paths.base)
    }

    /// Moves a command's output into its spool, straight on to the client streaming it when it keeps up.
    private func drain(_ spool: OutputSpool, of run: CommandRun, in session: HostedSession) {
        let record = session.record
        // Block buffering: read no further than --max-buffer allows, so the command blocks on the full pipe.
        let room = record.outputBuffering == .block ? Int(clamping: record.maxBuffer - min(record.maxBuffer, spool.unacknowledged)) : 1 << 20
        spool.drain(
            using: &buffer, limit: room,
            deliver: { offset, count in
                guard let link = run.link, run.sendsOutput, !link.isClosed, link.pendingOutput < Self.linkHighWater else { return false }
                link.sendOutput(from: spool, offset: offset, count: count)
                return true
            },
            watch: enteredWatch(of: run, in: session))
        if record.outputBuffering == .drop { spool.dropOldest(keeping: record.maxBuffer, beforeFreeing: sparingLinks(spool)) }
    }

    /// Before a spool frees blocks: output of those blocks that links still have to splice is read into memory.
    func sparingLinks(_ spool: OutputSpool) -> (UInt64) -> Void {
        { [links] end in links.forEach { $0.keepInMemory(outputOf: spool, below: end) } }
    }

    /// A user entered in the session sees the running command's output too, as a terminal would show it.
    private func enteredWatch(of run: CommandRun, in session: HostedSession) -> ((ArraySlice<UInt8>) -> Void)? {
        guard session.run === run, let link = session.enteredLink else { return nil }
        return { bytes in if !link.isClosed { link.send(.terminalOutput(Self.terminalLines(bytes)[...])) } }
    }

    /// Output as a terminal shows it: each newline after a carriage return (the terminal's ONLCR).
    static func terminalLines(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        var lines: [UInt8] = []
        lines.reserveCapacity(bytes.count + bytes.count / 16)
        for byte in bytes {
            if byte == 0x0A { lines.append(0x0D) }
            lines.append(byte)
        }
        return lines
    }

    private func pollTimeout() -> Int32 {
        let now = Posix.now
        var next: Int64 = sessions.isEmpty ? now + 1 : now + 3600
        var nextMilliseconds: Int32 = .max
        for session in sessions.values {
            for run in session.runs {
                // Spooled output (or the end) a link has room for is sent without waiting for any event.
                // (A spool that cannot be opened for want of descriptors is tried again in a second, not in a spin.)
                if run.link != nil, run.outputs.contains(where: \.cannotOpenNow) {
                    next = min(next, now + 1)
                } else if let link = run.link, !link.isClosed, link.pendingOutput < Self.linkHighWater,
                    !run.isFullySent || !run.isRunning || !run.follow
                {
                    return 0
                }
                if run.pendingSignal != nil || run.interruptFollowUp == .awaitingShell { return 50 }
                // A command waiting on its terminal is looked for twice a second.
                if run.isRunning && session.run === run { nextMilliseconds = 500 }
                // Output held by a full disk, or an end waiting for it: retried every second.
                if run.pendingEnd != nil || run.outputs.contains(where: \.isHolding) { next = min(next, now + 1) }
                if let due = run.acknowledgementsDueAt { next = min(next, due) }
                if let deadline = run.deadline, run.isRunning {
                    nextMilliseconds = min(nextMilliseconds, Int32(clamping: max(0, deadline - Posix.milliseconds)))
                }
                if let killAt = run.killAt, run.isRunning { next = min(next, killAt) }
            }
            // Invokes waiting for a program left running on the terminal (from pss enter) to end.
            if session.run == nil, session.enteredLink == nil, !session.waiting.isEmpty {
                nextMilliseconds = min(nextMilliseconds, 200)
            }
            if let expiry = session.expiresAt { next = min(next, expiry) }
            for waiting in session.waiting { next = min(next, waiting.deadline) }
        }
        if listenerPausedUntil > now { next = min(next, listenerPausedUntil) }
        return min(nextMilliseconds, Int32(max(0, min(next - now, 3600)) * 1000 + (next > now ? 0 : 10)))
    }

    private func shouldExit() -> Bool {
        guard sessions.isEmpty, links.isEmpty, hadClient || Posix.now - startedAt > 30 else { return false }
        // The socket's name goes first: no relay can connect after the look below (one that finds it gone starts
        // the next daemon, which waits for this one's lock). One that connected before is served, not dropped:
        // the daemon takes it and listens again.
        unlink(paths.socket)
        var pending = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
        guard poll(&pending, 1, 0) > 0 else { return true }
        acceptLinks()
        let old = listener
        do {
            try listen()
            close(old)
        } catch {
            Self.log("cannot listen again: \(error)")  // the next look finds nothing more and ends the daemon
        }
        return false
    }

    /// Output is not read from a command whose unacknowledged spool has reached its session's --max-buffer
    /// (`block` buffering): the command then blocks on its next write until a client takes the output.
    private func isPaused(_ session: HostedSession, _ spool: OutputSpool) -> Bool {
        session.record.outputBuffering == .block && spool.unacknowledged >= session.record.maxBuffer
    }

    /// Whether to read a link's requests now: not while its answers back up (a client that sends and never reads
    /// would have the daemon queue answers without limit), nor while its command has not taken the stdin sent.
    private func acceptsInput(_ link: ClientLink) -> Bool {
        guard link.pendingOutput < Self.answerHighWater else { return false }
        // Keys for a terminal whose program does not read them wait here, up to a point; then the link waits.
        if let shell = link.entered?.shell, shell.pendingInputCount >= Self.stdinHighWater { return false }
        guard let run = link.attached else { return true }
        return run.stdinPending < Self.stdinHighWater
    }

    // MARK: Links

    private func acceptLinks() {
        while true {
            let fd = accept(listener, nil, nil)
            guard fd >= 0 else {
                if errno == EMFILE || errno == ENFILE {
                    if listenerPausedUntil <= Posix.now { Self.log("out of file descriptors: new connections wait") }
                    listenerPausedUntil = Posix.now + 1
                }
                return
            }
            Posix.setCloseOnExec(fd)
            // Only this user may talk to this daemon, whatever the socket's permissions say.
            guard UnixSocket.peerUID(fd) == getuid() else {
                close(fd)
                continue
            }
            let link = ClientLink(control: fd)
            _ = link.adoptDescriptors()  // usually already there: the relay sends them right after connecting
            links.append(link)
            hadClient = true
        }
    }

    private func service(_ link: ClientLink, _ revents: Int16) {
        if revents & Int16(POLLOUT) != 0 { link.flush() }
        if revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
            if !link.receive(using: &buffer) { link.isClosed = true }
            handleFrames(of: link)
        }
    }

    /// Handles the frames a link has buffered, as far as it may take input now. Called again from `progress`:
    /// frames held back while a command's stdin was backed up get no second wake-up from the socket.
    private func handleFrames(of link: ClientLink) {
        do {
            while !link.isClosed, acceptsInput(link), let body = try link.decoder.nextFrame() {
                handle(try ClientMessage(decoding: body), from: link)
            }
        } catch {
            link.send(.failure(.invalidRequest, "malformed message: \(error)"))
            link.flushBeforeClose()
            link.isClosed = true
        }
    }

    private func dropClosedLinks() {
        for link in links where link.isClosed {
            link.close()
            listenerPausedUntil = 0  // a descriptor came free
            var abandoned: [HostedSession] = []
            for session in sessions.values {
                // A temporary session made for an invoke that was still waiting (its shell reading the login
                // files) has nothing more to do once that client is gone: it goes, as it would after its command.
                if session.waiting.contains(where: { $0.link === link }), session.record.temporary, session.runs.isEmpty,
                    session.waiting.allSatisfy({ $0.link === link })
                {
                    abandoned.append(session)
                }
                session.waiting.removeAll { $0.link === link }
                // An entered client whose connection went away: the session waits for it, Disconnected.
                if session.enteredLink === link {
                    leave(session, telling: nil)
                    if session.record.state == .opened {
                        session.record.state = .disconnected
                        try? store.save(session.record)
                    }
                }
                for run in session.runs where run.link === link {
                    run.link = nil
                    run.endStdin()
                    session.idleSince = Posix.now
                    // The client went away before the command's end reached it: the command runs on, its output
                    // keeps spooling, and the session waits, Disconnected, for a client to receive it.
                    if run.follow && !run.delivered && session.record.state == .opened {
                        session.record.state = .disconnected
                        try? store.save(session.record)
                    }
                }
            }
            abandoned.forEach(remove)
        }
        links.removeAll { $0.isClosed }
    }

    /// Stops streaming a command to its link (another client took it, the session was disconnected).
    func detach(_ run: CommandRun, telling reason: String?) {
        guard let link = run.link else { return }
        if let reason, !link.isClosed { link.send(.failure(.denied, reason)) }
        if link.attached === run { link.attached = nil }
        run.link = nil
        run.endStdin()
    }
    // MARK: Shell notices and children

    private func handleNotices(_ session: HostedSession) {
        guard let shell = session.shell else { return }
        for notice in shell.readNotices() {
            if notice == .exitAtPrompt { leaveAtExit(session); continue }
            if notice == .ready {
                // A user who entered while the login files ran gets the prompt now.
                if session.enteredLink != nil, session.run == nil, !shell.isInteractive {
                    shell.enterInteractive(term: session.enteredTerm, lineEditing: transcript == nil)
                }
                continue
            }
            guard let run = session.run else { continue }
            switch notice {
            case let .started(number) where number == run.number:
                run.releaseShellEnds()
            case let .done(number, status) where number == run.number:
                finish(run, in: session, with: .exited(status: status, signal: "", shellEnded: false))
                // A user entered while it ran gets the shell's prompt now.
                if session.enteredLink != nil { shell.enterInteractive(term: session.enteredTerm, lineEditing: transcript == nil) }
            default:
                break
            }
        }
    }

    /// Records how a command ended. Its end is published (and its session freed for the next command) only once
    /// everything it wrote is in the spool: with a full disk, the job stays Running until the output is stored.
    func finish(_ run: CommandRun, in session: HostedSession, with result: HostMessage) {
        guard run.result == nil, run.pendingEnd == nil else { return }
        run.releaseShellEnds()
        if run.timedOut, case let .exited(_, _, shellEnded) = result {
            run.pendingEnd = .exited(status: 124, signal: "", shellEnded: shellEnded)
        } else {
            run.pendingEnd = result
        }
        run.deadline = nil
        run.killAt = nil
        run.pendingSignal = nil
        if run.stdinPipe >= 0 { close(run.stdinPipe); run.stdinPipe = -1 }
        publishEndIfSpooled(run, in: session)
    }

    /// Moves what the command left in its pipes into the spool, and publishes its end once all of it is there.
    private func publishEndIfSpooled(_ run: CommandRun, in session: HostedSession) {
        guard let end = run.pendingEnd else { return }
        // What the command wrote just before it ended reaches an entered user too.
        let watch = enteredWatch(of: run, in: session)
        for spool in run.outputs {
            spool.drain(using: &buffer, limit: .max, watch: watch)
            if session.record.outputBuffering == .drop { spool.dropOldest(keeping: session.record.maxBuffer, beforeFreeing: sparingLinks(spool)) }
        }
        guard !run.outputs.contains(where: \.isHolding) else { return }
        run.pendingEnd = nil
        run.result = end
        run.endedAt = Posix.now
        run.pid = 0
        run.save()
        if case let .exited(status, signal, _) = end {
            transcribe(session, run.user, "ended \(run.name) status \(status)\(signal.isEmpty ? "" : " (SIG\(signal))")", run.command, counted: false)
        }
        for stopper in run.stoppers where !stopper.isClosed { stopper.send(.job(run.record(in: session.record))) }
        run.stoppers = []
        if session.run === run {
            session.run = nil
            session.record.command = ""
            session.idleSince = Posix.now
            try? store.save(session.record)
            // A cron job's session waits (its retention) only to be collected: its shell, its terminal and what
            // the job left in the background go now, so that unreceived runs hold no process and no PTY.
            if session.record.temporary, run.isJob, session.enteredLink == nil, session.waiting.isEmpty, let shell = session.shell {
                session.drainTerminal(using: &buffer)
                shell.terminate()
                session.shell = nil
            }
        }
    }

    private func reapChildren() {
        var drain = [UInt8](repeating: 0, count: 64)
        while read(signalRead, &drain, drain.count) > 0 {}
        while true {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            guard pid > 0 else { return }
            let signalled = status & 0x7f != 0
            let result = HostMessage.exited(
                status: signalled ? 128 + (status & 0x7f) : (status >> 8) & 0xff,
                signal: signalled ? Self.signalName(status & 0x7f) : "", shellEnded: false)
            if let session = sessions.values.first(where: { $0.run?.pid == pid }), let run = session.run {
                run.pid = 0  // reaped: its number may be another process's from now on
                finish(run, in: session, with: result)
                continue
            }
            guard let session = sessions.values.first(where: { $0.shell?.pid == pid }) else { continue }
            session.drainTerminal(using: &buffer)
            if let run = session.run, case let .exited(status, signal, _) = result {
                finish(run, in: session, with: .exited(status: status, signal: signal, shellEnded: true))
            }
            // The command ended the shell (exit, exec): the session goes on with a fresh one; its variables,
            // functions and working directory are gone, and the command's result says so.
            session.shell?.release()
            session.shell = try? newShell(for: session)
            if let link = session.enteredLink, let shell = session.shell {
                link.send(.terminalOutput(Array("\r\n[pss: the session's shell ended; a new one took its place]\r\n".utf8)[...]))
                shell.enterInteractive(term: session.enteredTerm, lineEditing: transcript == nil)
            }
        }
    }

    static func signalName(_ number: Int32) -> String {
        let names: [Int32: String] = [
            SIGHUP: "HUP", SIGINT: "INT", SIGQUIT: "QUIT", SIGILL: "ILL", SIGABRT: "ABRT",
            SIGFPE: "FPE", SIGKILL: "KILL", SIGSEGV: "SEGV", SIGPIPE: "PIPE", SIGALRM: "ALRM",
            SIGTERM: "TERM", SIGUSR1: "USR1", SIGUSR2: "USR2", SIGBUS: "BUS",
        ]
        return names[number] ?? "SIG\(number)"
    }

    /// Ends a running command (job stop, --timeout): TERM to its process group now, KILL a few seconds later.
    func terminate(_ run: CommandRun, _ number: Int32) {
        run.pendingSignal = number
        if number == SIGTERM { run.killAt = Posix.now + Self.killGraceSeconds }
    }

    /// Ctrl-C from the client streaming the command: SIGINT to it, as a terminal's ^C would send.
    func interrupt(_ run: CommandRun) {
        run.pendingSignal = SIGINT
        run.interruptFollowUp = .awaitingSignal
    }

    /// How long a stopped or timed-out command has between TERM and KILL.
    static let killGraceSeconds: Int64 = 5

    /// Sends a pending signal once the command's process group is in the terminal's foreground. A command that
    /// runs in the shell itself (a loop of builtins) has none: at KILL time, its shell goes, and a new one comes.
    private func deliverSignals(_ session: HostedSession) {
        guard let run = session.run else { return }
        let now = Posix.now
        if let deadline = run.deadline, deadline <= Posix.milliseconds, !run.timedOut {
            run.timedOut = true
            terminate(run, SIGTERM)
        }
        // A restricted session's command has its own process group, and no shell to tell.
        if run.pid > 0 {
            if let killAt = run.killAt, killAt <= now {
                run.killAt = nil
                kill(-run.pid, SIGKILL)
            }
            if let number = run.pendingSignal { kill(-run.pid, number) }
            run.pendingSignal = nil
            run.interruptFollowUp = .none
            return
        }
        guard let shell = session.shell else { return }
        if let killAt = run.killAt, killAt <= now {
            run.killAt = nil
            if let group = shell.foregroundGroup { kill(-group, SIGKILL) } else { kill(shell.pid, SIGKILL) }
            run.pendingSignal = nil
        }
        if let number = run.pendingSignal {
            if let group = shell.foregroundGroup {
                kill(-group, number)
                run.pendingSignal = nil
            } else if number == SIGINT {
                kill(shell.pid, SIGINT)  // builtins running in the shell itself: its ^C abandons them
                run.pendingSignal = nil
            }
            if run.pendingSignal == nil, run.interruptFollowUp == .awaitingSignal { run.interruptFollowUp = .awaitingShell }
        }
        // An interactive shell whose foreground job died of SIGINT abandons the rest of the line, the end notice
        // with it; once the shell has the terminal again, a line of its own says how the command ended. When the
        // command survived the signal and its line goes on, its own notice comes first and this one is ignored.
        if run.interruptFollowUp == .awaitingShell, shell.foregroundGroup == nil {
            run.interruptFollowUp = .typed
            _ = shell.typePlumbing(shell.endLine(number: run.number, status: 128 + SIGINT))
        }
    }

    /// A command waiting for input on its terminal, where nobody types, gets end of file after a while, as from a
    /// terminal that hung up (its `read` returns, sudo gives up); one that waits again, or reads the terminal raw,
    /// gets SIGHUP. The client streaming it is told what it waited for, and the way out.
    private func answerTerminalWait(_ session: HostedSession) {
        guard let run = session.run, run.isRunning, run.pendingEnd == nil, let shell = session.shell else { return }
        let group = tcgetpgrp(shell.master)
        guard group > 0 else { return }
        let reading = TerminalWait.reading(group, terminal: shell.terminalPath)
        let now = Posix.milliseconds
        // The shell reading its own prompt while the command has not ended: its line was abandoned (a SIGINT
        // that did not come from pss, which the command line does not survive). Its end is typed for it.
        if group == shell.pid, reading == .prompt {
            guard let since = run.terminalWaitSince else { run.terminalWaitSince = now; return }
            guard now - since >= 1000 else { return }
            run.terminalWaitSince = nil
            shell.typePlumbing(shell.endLine(number: run.number, status: 128 + SIGINT))
            return
        }
        // Someone can answer: the client that invoked it from a terminal, or a user entered in the session.
        if (run.hasTerminal && run.link != nil) || session.enteredLink != nil { run.terminalWaitSince = nil; return }
        let waiting: Bool
        switch reading {
        case .terminal, .prompt: waiting = true
        case .other: waiting = false
        // A process pss may not look into (sudo): asleep, with a prompt as the last thing on the terminal.
        case .unknown: waiting = TerminalWait.isAsleep(group) && TerminalWait.prompt(in: run.terminalTail) != nil
        }
        guard waiting else { run.terminalWaitSince = nil; return }
        guard let since = run.terminalWaitSince else { run.terminalWaitSince = now; return }
        guard now - since >= TerminalWait.patienceMilliseconds else { return }
        run.terminalWaitSince = nil
        run.terminalAnswers += 1
        var settings = termios()
        tcgetattr(shell.master, &settings)
        let canonical = settings.c_lflag & tcflag_t(ICANON) != 0
        if canonical && (run.terminalAnswers <= 3 || group == shell.pid) {
            var endOfFile = withUnsafeBytes(of: settings.c_cc) { $0[Int(VEOF)] }
            _ = write(shell.master, &endOfFile, 1)
        } else if group != shell.pid {
            kill(-group, SIGHUP)
        }
        if run.terminalAnswers == 1, let link = run.link, !link.isClosed {
            let prompt = TerminalWait.prompt(in: run.terminalTail).map { " (it showed: \(String(reflecting: $0)))" } ?? ""
            let why =
                transcript != nil
                ? "and configuration \(configuration?.name ?? "") keeps a transcript, so no keys are typed into an invoked command; it got end of file. Use pss enter, which records what is typed"
                : "which has no one to type here; it got end of file. Give it its input another way (sudo -n, or sudo -S with the password on stdin), or use pss enter"
            link.send(.notice("the command waited for input on its terminal\(prompt), " + why))
        }
    }

    // MARK: Progress

    /// Sends output, starts waiting commands, applies time limits, lets go of what is no longer needed.
    private func progress() {
        for link in links where link.pendingOutput > 0 { link.flush() }
        // A full disk: acknowledged output of every command becomes space for the held output, in pages rather
        // than folios once no link's pipe holds spliced output that a partial punch could zero. (In whole folios
        // alone, 2 MB acknowledged of a 3 MB job on a 2 MB disk freed nothing, and the receive waited forever.)
        if sessions.values.contains(where: { $0.runs.contains { $0.outputs.contains(where: \.isHolding) } }),
            links.allSatisfy({ $0.isClosed || $0.outputIsDrained })
        {
            for session in sessions.values {
                for run in session.runs {
                    run.outputs.forEach { $0.releaseAcknowledged(beforeFreeing: sparingLinks($0), finely: true) }
                }
            }
        }
        for session in Array(sessions.values) {
            deliverSignals(session)
            answerTerminalWait(session)
            for run in session.runs {
                if run.outputs.contains(where: \.isHolding) { run.outputs.forEach { $0.retryHeld() } }
                if run.pendingEnd != nil { publishEndIfSpooled(run, in: session) }
                if run.acknowledgementsWorthSaving { run.save() }
                reportWriteFailure(of: run)
                endStalledReceive(run, in: session)
                pump(run, in: session)
                // A finished command that nobody streams holds no descriptor.
                if !run.isRunning && run.link == nil { run.outputs.forEach { if !$0.isOpen { $0.closeFile() } } }
            }
            for run in session.runs where run.delivered && !run.outputs.contains(where: \.isOpen) { session.forget(run) }
            if session.run == nil, session.enteredLink == nil, session.shell.map({ $0.isReady && $0.isAtPrompt }) ?? true,
                Posix.milliseconds >= session.settledAt, let next = session.waiting.first
            {
                session.waiting.removeFirst()
                start(next.invocation, in: session, link: next.link)
            }
            let now = Posix.now
            let waited = session.waiting.count
            session.waiting.removeAll { waiting in
                guard waiting.deadline <= now else { return false }
                let what = session.shell?.isReady == false ? "still reading the login files" : "still busy"
                waiting.link.send(.failure(.busy, "session '\(session.record.name)' was \(what) after the wait"))
                return true
            }
            // A temporary session whose only invoke gave up waiting has nothing more to do.
            if session.waiting.count < waited, session.waiting.isEmpty, session.record.temporary, session.runs.isEmpty {
                remove(session)
                continue
            }
            if let expiry = session.expiresAt, expiry <= now {
                expired.record(
                    .init(
                        at: now, id: session.record.id, name: session.record.name, owner: session.record.owner,
                        jobs: session.runs.filter(\.isJob).map(\.name),
                        reason: session.expiryReason))
                remove(session)
            }
        }
        for link in links where link.decoder.bufferedByteCount > 0 { handleFrames(of: link) }
        for link in links where link.pendingOutput > 0 { link.flush() }
        dropClosedLinks()
    }

    /// Sends a command's output from the spool to the client streaming it, then its end (or, for a receive that
    /// does not follow, word that it still runs).
    private func pump(_ run: CommandRun, in session: HostedSession) {
        guard let link = run.link, !link.isClosed else { return }
        if let damage = run.outputs.lazy.compactMap(\.damage).first {
            Self.log("session \(session.record.id) command \(run.number): \(damage)")
            link.send(.failure(.hostFailure, "the command's output cannot be read back on the host: \(damage)"))
            return detach(run, telling: nil)
        }
        if !run.sendsOutput { run.outputs.forEach { $0.sent = $0.written } }
        var sentSomething = true
        while sentSomething && link.pendingOutput < Self.linkHighWater && !run.outputs.contains(where: { $0.damage != nil }) {
            sentSomething = false
            for spool in run.outputs {
                if let (from, to) = spool.skipDropped() {
                    link.send(.dropped(spool.stream, from: from, to: to))
                    sentSomething = true
                }
                if let (offset, count) = spool.nextRange(limit: WireProtocol.outputChunk) {
                    link.sendOutput(from: spool, offset: offset, count: count)
                    sentSomething = true
                }
            }
        }
        guard run.isFullySent else { return }
        if let result = run.result {
            link.send(result)
        } else if run.endUnknown {
            link.send(.failure(.denied, "the host daemon ended while this command ran: how it ended is not known"))
        } else if !run.follow {
            link.send(.pending(run.record(in: session.record)))
        } else {
            return
        }
        detach(run, telling: nil)
        session.idleSince = Posix.now
        if !run.isRunning { run.outputs.forEach { if !$0.isOpen { $0.closeFile() } } }
    }

    /// Tells the client streaming a command when the host's disk stops taking its output, and when it takes it
    /// again: meanwhile the command is paused on its full pipe and nothing is lost.
    /// A receive that a full disk holds up with nothing more stored for `stallSeconds` (everything stored was sent,
    /// and what was acknowledged freed no room: another process fills the disk, or the client acknowledges nothing)
    /// ends, saying why, instead of waiting silently; the command stays paused and its output kept for the next.
    func endStalledReceive(_ run: CommandRun, in session: HostedSession) {
        let written = run.outputs.reduce(0) { $0 + $1.written }
        guard run.outputs.contains(where: \.isHolding) else { run.stalledSince = nil; return }
        guard let since = run.stalledSince, since.written == written else {
            run.stalledSince = (Posix.now, written)
            return
        }
        guard Posix.now - since.at >= Self.stallSeconds, let link = run.link, !link.isClosed, run.isFullySent else { return }
        let failure = run.outputs.lazy.compactMap(\.writeFailure).first ?? "the disk is full"
        detach(
            run,
            telling:
                "the host cannot store this command's output (\(failure), in \(paths.base)) and nothing received for \(Self.stallSeconds) s made room: the command is paused, its output kept; receive it again (pss receive \(session.record.name)) once space is freed there"
        )
        run.stalledSince = nil
    }

    static let stallSeconds: Int64 = 30

    func reportWriteFailure(of run: CommandRun) {
        let failure = run.outputs.lazy.compactMap(\.writeFailure).first
        guard (failure != nil) != run.reportedWriteFailure else { return }
        run.reportedWriteFailure = failure != nil
        if let failure { Self.log("command \(run.number) in \(run.directory): output held: \(failure)") }
        guard let link = run.link, !link.isClosed else { return }
        link.send(
            .notice(
                failure.map {
                    "the host cannot store this command's output (\($0), in \(paths.base)): the command is paused until space is freed there; nothing is lost"
                } ?? "the host stores this command's output again"))
    }

    func remove(_ session: HostedSession) {
        leave(session, telling: "session '\(session.record.name)' was removed")
        for run in session.runs {
            if let link = run.link, !link.isClosed {
                link.send(.failure(.noSuchSession, "session '\(session.record.name)' was removed while its command ran"))
            }
            detach(run, telling: nil)
        }
        for waiting in session.waiting {
            waiting.link.send(.failure(.noSuchSession, "session '\(session.record.name)' was removed"))
        }
        session.waiting = []
        session.close()
        Posix.removeTree(session.directory)
        sessions.removeValue(forKey: session.record.id)
    }
}
