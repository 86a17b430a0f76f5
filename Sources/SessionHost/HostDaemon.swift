import Glibc
import SessionWire

/// The write end of the pipe that turns signals into poll() input.
nonisolated(unsafe) private var signalPipeWrite: Int32 = -1

/// The per-user daemon, as tmux's server: one process holds all of a user's sessions, so an added session costs
/// only its buffers. One thread, one poll() loop; started on demand by a relay, detached from every SSH connection;
/// exits when it holds no sessions and no client is connected.
public final class HostDaemon {
    let paths: HostPaths
    let store: SessionStore
    let helperIdentity: String
    let owner = Posix.userName
    private let selfPID = getpid()
    private var listener: Int32 = -1
    private var signalRead: Int32 = -1
    private var sessions: [String: HostedSession] = [:]
    private var links: [ClientLink] = []
    private var hadClient = false
    private let startedAt = Posix.now
    private var buffer = [UInt8](repeating: 0, count: 256 * 1024)
    private let shellEnvironment: [String]

    /// Unsent output a link may queue before the daemon stops reading spools for it.
    static let linkHighWater = 1 << 20
    /// Stdin a command has not taken yet, before the daemon stops reading its client.
    static let stdinHighWater = 1 << 20

    public init(paths: HostPaths, helperIdentity: String) {
        self.paths = paths
        self.store = SessionStore(paths: paths)
        self.helperIdentity = helperIdentity
        shellEnvironment = Self.environmentForShells()
    }

    // MARK: Start

    /// Runs until the daemon has nothing left to hold. Returns at once if another daemon holds the lock.
    public func run() throws {
        // Sessions' shells start where a login would; the daemon must not hold the directory it was started in.
        chdir(Posix.environment("HOME") ?? "/")
        try paths.prepare()
        let lock = open(paths.lock, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        try Posix.check(lock, "open \(paths.lock)")
        guard flock(lock, LOCK_EX | LOCK_NB) == 0 else { return }  // another daemon is running or starting

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
            var broken = record
            broken.state = .broken
            broken.command = ""
            if let session = try? HostedSession(record: broken, directory: paths.session(record.id)) {
                sessions[record.id] = session
                try? store.save(broken)
            }
        }
        loop()
        unlink(paths.socket)
    }

    private func listen() throws {
        listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        try Posix.check(listener, "socket")
        unlink(paths.socket)
        var address = try Self.unixAddress(paths.socket)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try Posix.check(bound, "bind \(paths.socket)")
        chmod(paths.socket, 0o600)
        try Posix.check(Glibc.listen(listener, 64), "listen")
        Posix.setNonBlocking(listener)
    }

    static func unixAddress(_ path: String) throws -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw HostError.daemon("socket path too long (\(bytes.count) bytes): \(path); set PSS_HOST_DIR to a shorter path")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
        }
        return address
    }

    private func installSignalHandlers() {
        let (read, write) = try! Posix.pipe()
        Posix.setNonBlocking(read)
        Posix.setNonBlocking(write)
        signalRead = read
        signalPipeWrite = write
        signal(SIGPIPE, SIG_IGN)
        signal(SIGHUP, SIG_IGN)
        signal(SIGCHLD) { _ in
            var byte: UInt8 = 1
            _ = Glibc.write(signalPipeWrite, &byte, 1)
        }
    }

    /// The environment every session's shell starts with: the daemon's, less what belonged to the SSH
    /// connection that happened to start it, plus a quiet prompt.
    static func environmentForShells() -> [String] {
        var result: [String] = []
        var cursor = environ
        while let entry = cursor.pointee {
            let text = String(cString: entry)
            let name = text.split(separator: "=", maxSplits: 1).first.map(String.init) ?? ""
            if !name.hasPrefix("SSH_") && !name.hasPrefix("PSS_") && !["PS1", "PS2", "ENV", "HISTFILE", "TERM"].contains(name) {
                result.append(text)
            }
            cursor += 1
        }
        return result + ["PS1=", "PS2=", "HISTFILE=", "TERM=dumb"]
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

            watch(listener, POLLIN) { [unowned self] _ in self.acceptLinks() }
            watch(signalRead, POLLIN) { [unowned self] _ in self.reapChildren() }
            for session in sessions.values {
                if let shell = session.shell {
                    watch(shell.master, POLLIN) { [unowned self] _ in session.drainTerminal(using: &self.buffer) }
                    watch(shell.notices, POLLIN) { [unowned self] _ in self.handleNotices(session) }
                }
                if let run = session.run {
                    for spool in run.outputs where spool.isOpen && !isPaused(session, spool) {
                        watch(spool.pipe, POLLIN) { [unowned self] _ in
                            spool.drain(using: &self.buffer, deliver: { stream, offset, bytes in
                                guard let link = run.link, !link.isClosed, link.pendingOutput < Self.linkHighWater else { return false }
                                link.send(.output(stream, offset: offset, bytes))
                                return true
                            })
                        }
                    }
                    if run.stdinPipe >= 0 && !run.stdinPending.isEmpty {
                        watch(run.stdinPipe, POLLOUT) { _ in run.flushStdin() }
                    }
                }
                for spool in session.lingering where spool.isOpen {
                    watch(spool.pipe, POLLIN) { [unowned self] _ in spool.drain(using: &self.buffer) }
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
            if shouldExit() { return }
        }
    }

    private func pollTimeout() -> Int32 {
        // Spooled output a link has room for is sent without waiting for any event.
        for session in sessions.values {
            if let run = session.run, let link = run.link, !link.isClosed, link.pendingOutput < Self.linkHighWater,
               !run.isFullySent || run.result != nil {
                return 0
            }
        }
        let now = Posix.now
        var next: Int64 = sessions.isEmpty ? now + 1 : now + 3600
        for session in sessions.values {
            if let expiry = session.expiresAt { next = min(next, expiry) }
            for waiting in session.waiting { next = min(next, waiting.deadline) }
        }
        return Int32(max(0, min(next - now, 3600)) * 1000 + (next > now ? 0 : 10))
    }

    private func shouldExit() -> Bool {
        guard sessions.isEmpty, links.isEmpty, hadClient || Posix.now - startedAt > 30 else { return false }
        // A client may be connecting right now: serve it instead of leaving it a dead socket.
        var pending = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
        return poll(&pending, 1, 0) == 0
    }

    /// Output is not read from a command whose unsent spool has reached its session's --max-buffer
    /// (`block` buffering): the command then blocks on its next write until a client takes the output.
    private func isPaused(_ session: HostedSession, _ spool: OutputSpool) -> Bool {
        spool.written - spool.sent >= session.record.maxBuffer
    }

    private func acceptsInput(_ link: ClientLink) -> Bool {
        guard let id = link.invokedSession, let run = sessions[id]?.run else { return true }
        return run.stdinPending.count < Self.stdinHighWater
    }

    // MARK: Links

    private func acceptLinks() {
        while true {
            let fd = accept(listener, nil, nil)
            guard fd >= 0 else { return }
            Posix.setCloseOnExec(fd)
            // Only this user may talk to this daemon, whatever the socket's permissions say.
            var credentials = PeerCredentials()
            var length = socklen_t(MemoryLayout<PeerCredentials>.size)
            guard getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0, credentials.uid == getuid() else {
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
            if let id = link.invokedSession, let session = sessions[id] {
                // The client went away mid-command: the command runs on and its output keeps spooling.
                session.run?.link = nil
                session.record.state = .disconnected
                try? store.save(session.record)
            }
            for session in sessions.values { session.waiting.removeAll { $0.link === link } }
        }
        links.removeAll { $0.isClosed }
    }

    // MARK: Requests

    private func handle(_ message: ClientMessage, from link: ClientLink) {
        if link.clientID == nil {
            guard case let .hello(version, clientID) = message else {
                return refuse(link, .invalidRequest, "expected hello")
            }
            guard version == WireProtocol.version else {
                link.send(.failure(.versionMismatch, "helper speaks protocol \(WireProtocol.version), client \(version)"))
                link.flushBeforeClose()
                link.isClosed = true
                return
            }
            link.clientID = clientID
            link.send(.hello(version: WireProtocol.version, helper: helperIdentity))
            return
        }
        switch message {
        case .hello:
            refuse(link, .invalidRequest, "hello sent twice")
        case let .newSession(name, idle, buffering, maxBuffer):
            do {
                let session = try createSession(name: name, idleTimeout: idle, buffering: buffering, maxBuffer: maxBuffer,
                                                 heldBy: link.clientID!, temporary: false)
                link.send(.session(session.snapshot))
            } catch let failure as RequestFailure {
                refuse(link, failure.kind, failure.message)
            } catch {
                refuse(link, .hostFailure, "\(error)")
            }
        case .listSessions:
            link.send(.sessions(sessions.values.map(\.snapshot).sorted { ($0.createdAt, $0.name) < ($1.createdAt, $1.name) }))
        case let .invoke(reference, command, forwardStdin, wait):
            invoke(reference, command: command, forwardStdin: forwardStdin, wait: wait, link: link)
        case let .stdin(bytes):
            if let id = link.invokedSession, let run = sessions[id]?.run, run.link === link, run.stdinPipe >= 0 {
                run.stdinPending.append(contentsOf: bytes)
                run.flushStdin()
            }
        case .stdinEnd:
            if let id = link.invokedSession, let run = sessions[id]?.run, run.link === link {
                run.stdinEnded = true
                run.flushStdin()
            }
        case let .removeSession(reference):
            guard let session = find(reference) else {
                return refuse(link, .noSuchSession, "no session '\(reference)' on this host")
            }
            remove(session)
            link.send(.removed(count: 1))
        case .removeAllSessions:
            let all = Array(sessions.values)
            all.forEach(remove)
            link.send(.removed(count: UInt32(all.count)))
        }
    }

    private func refuse(_ link: ClientLink, _ kind: HostMessage.Failure, _ message: String) {
        link.send(.failure(kind, message))
    }

    struct RequestFailure: Error {
        var kind: HostMessage.Failure
        var message: String
    }

    private func find(_ reference: String) -> HostedSession? {
        if let session = sessions[reference] { return session }
        return sessions.values.first { $0.record.name == reference }
    }

    private func createSession(name requested: String, idleTimeout: UInt32, buffering: SessionRecord.OutputBuffering,
                               maxBuffer: UInt64, heldBy: String, temporary: Bool) throws -> HostedSession {
        let name = requested.isEmpty ? nextFreeName(temporary ? "temp" : "session") : requested
        if let problem = SessionName.problem(with: name) { throw RequestFailure(kind: .invalidRequest, message: problem) }
        if let existing = sessions.values.first(where: { $0.record.name == name }) {
            throw RequestFailure(kind: .duplicateName, message: "a session named '\(name)' already exists (\(existing.record.id))")
        }
        guard idleTimeout >= SessionRecord.minimumIdleTimeout else {
            throw RequestFailure(kind: .invalidRequest, message: "the idle timeout must be at least \(SessionRecord.minimumIdleTimeout) seconds")
        }
        let id = Posix.uuid()
        let directory = paths.session(id)
        do {
            try HostPaths.secureDirectory(directory + "/commands")
            let record = SessionRecord(id: id, name: name, owner: owner, heldBy: heldBy, createdAt: Posix.now,
                                       idleTimeoutSeconds: idleTimeout, outputBuffering: buffering, maxBuffer: maxBuffer,
                                       temporary: temporary)
            try store.save(record)
            let session = try HostedSession(record: record, directory: directory)
            session.shell = try SessionShell(environment: shellEnvironment + ["PSS_SESSION_ID=\(id)", "PSS_SESSION_NAME=\(name)"])
            sessions[id] = session
            return session
        } catch {
            Posix.removeTree(directory)
            throw RequestFailure(kind: .hostFailure, message: "cannot create the session in \(paths.base): \(error)")
        }
    }

    private func nextFreeName(_ prefix: String) -> String {
        let taken = Set(sessions.values.map(\.record.name))
        var number = 1
        while taken.contains("\(prefix)\(number)") { number += 1 }
        return "\(prefix)\(number)"
    }

    private func invoke(_ reference: String, command: String, forwardStdin: Bool, wait: UInt32, link: ClientLink) {
        let session: HostedSession
        if reference.isEmpty {
            do {
                session = try createSession(name: "", idleTimeout: SessionRecord.defaultIdleTimeout, buffering: .block,
                                            maxBuffer: SessionRecord.defaultMaxBuffer, heldBy: link.clientID!, temporary: true)
            } catch let failure as RequestFailure {
                return refuse(link, failure.kind, failure.message)
            } catch {
                return refuse(link, .hostFailure, "\(error)")
            }
        } else {
            guard let found = find(reference) else {
                return refuse(link, .noSuchSession, "no session '\(reference)' on this host")
            }
            session = found
        }
        switch session.record.state {
        case .broken:
            return refuse(link, .denied, "session '\(session.record.name)' is Broken: its shell ended with a previous host daemon; its output is still on the host")
        case .closed:
            return refuse(link, .noSuchSession, "session '\(session.record.name)' is closed")
        case .opened, .disconnected:
            break
        }
        guard session.record.heldBy == link.clientID else {
            return refuse(link, .busy, "session '\(session.record.name)' is held by another client")
        }
        if session.run != nil || !session.waiting.isEmpty {
            guard wait > 0 else {
                return refuse(link, .busy, "session '\(session.record.name)' is busy running: \(session.run?.command ?? "a command")")
            }
            session.waiting.append(.init(link: link, command: command, forwardStdin: forwardStdin, deadline: Posix.now + Int64(wait)))
            link.invokedSession = session.record.id
            return
        }
        start(command, in: session, forwardStdin: forwardStdin, link: link)
    }

    private func start(_ command: String, in session: HostedSession, forwardStdin: Bool, link: ClientLink) {
        guard let shell = session.shell else {
            return refuse(link, .hostFailure, "session '\(session.record.name)' has no shell")
        }
        let number = session.nextCommand
        session.nextCommand += 1
        let directory = session.directory + "/commands/\(number)"
        var pipes: [Int32] = []  // closed here if the run that would own them is never made
        do {
            try Posix.check(mkdir(directory, 0o700), "mkdir \(directory)")
            try Posix.writeFileAtomically(directory + "/command", Array(command.utf8))
            let out = try Posix.pipe(), err = try Posix.pipe()
            let input = forwardStdin ? try Posix.pipe() : nil
            pipes = [out.read, out.write, err.read, err.write] + (input.map { [$0.read, $0.write] } ?? [])
            let outputs = [try OutputSpool(stream: .stdout, path: directory + "/stdout", pipe: out.read),
                           try OutputSpool(stream: .stderr, path: directory + "/stderr", pipe: err.read)]
            let run = CommandRun(number: number, command: command, outputs: outputs, stdinPipe: input?.write ?? -1,
                                 shellEnds: [out.write, err.write] + (input.map { [$0.read] } ?? []), link: link)
            session.run = run
            session.record.command = command
            session.record.state = .opened
            try store.save(session.record)
            link.invokedSession = session.record.id
            link.send(.started(session.snapshot))
            // The shell reaches the daemon's pipe ends through /proc: they are opened there, then the daemon
            // lets go of its copies (on the "started" notice).
            let line = shell.commandLine(number: number, file: directory + "/command",
                                         stdin: input.map { "/proc/\(selfPID)/fd/\($0.read)" } ?? "/dev/null",
                                         stdout: "/proc/\(selfPID)/fd/\(out.write)",
                                         stderr: "/proc/\(selfPID)/fd/\(err.write)")
            if !shell.type(line) { throw HostError.daemon("cannot type into the session's terminal") }
        } catch {
            if let run = session.run { run.close() } else { pipes.forEach { close($0) } }
            session.run = nil
            session.record.command = ""
            refuse(link, .hostFailure, "cannot start the command in \(directory): \(error)")
        }
    }

    // MARK: Shell notices and children

    private func handleNotices(_ session: HostedSession) {
        guard let shell = session.shell else { return }
        for notice in shell.readNotices() {
            guard let run = session.run else { continue }
            switch notice {
            case let .started(number) where number == run.number:
                run.releaseShellEnds()
            case let .done(number, status) where number == run.number:
                finishRun(run, with: .exited(status: status, signal: "", shellEnded: false))
            default:
                break
            }
        }
    }

    /// Records how a command ended; what it wrote is moved into the spool first, so it is all sent before the
    /// end is.
    private func finishRun(_ run: CommandRun, with result: HostMessage) {
        guard run.result == nil else { return }
        run.releaseShellEnds()
        for spool in run.outputs { spool.drain(using: &buffer, limit: .max) }
        run.result = result
    }

    private func reapChildren() {
        var drain = [UInt8](repeating: 0, count: 64)
        while read(signalRead, &drain, drain.count) > 0 {}
        while true {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            guard pid > 0 else { return }
            guard let session = sessions.values.first(where: { $0.shell?.pid == pid }) else { continue }
            let signalled = status & 0x7f != 0
            let result = HostMessage.exited(status: signalled ? 128 + (status & 0x7f) : (status >> 8) & 0xff,
                                            signal: signalled ? Self.signalName(status & 0x7f) : "", shellEnded: true)
            session.drainTerminal(using: &buffer)
            if let run = session.run { finishRun(run, with: result) }
            // The command ended the shell (exit, exec): the session goes on with a fresh one; its variables,
            // functions and working directory are gone, and the command's result says so.
            session.shell?.release()
            session.shell = try? SessionShell(environment: shellEnvironment + ["PSS_SESSION_ID=\(session.record.id)",
                                                                               "PSS_SESSION_NAME=\(session.record.name)"])
        }
    }

    static func signalName(_ number: Int32) -> String {
        let names: [Int32: String] = [SIGHUP: "HUP", SIGINT: "INT", SIGQUIT: "QUIT", SIGILL: "ILL", SIGABRT: "ABRT",
                                      SIGFPE: "FPE", SIGKILL: "KILL", SIGSEGV: "SEGV", SIGPIPE: "PIPE", SIGALRM: "ALRM",
                                      SIGTERM: "TERM", SIGUSR1: "USR1", SIGUSR2: "USR2", SIGBUS: "BUS"]
        return names[number] ?? "SIG\(number)"
    }

    // MARK: Progress

    /// Sends output, ends finished commands, starts waiting ones, and applies time limits.
    private func progress() {
        for link in links where link.pendingOutput > 0 { link.flush() }
        for session in Array(sessions.values) {
            if let run = session.run { pump(run, in: session) }
            if session.run == nil, let next = session.waiting.first {
                session.waiting.removeFirst()
                start(next.command, in: session, forwardStdin: next.forwardStdin, link: next.link)
            }
            let now = Posix.now
            session.waiting.removeAll { waiting in
                guard waiting.deadline <= now else { return false }
                waiting.link.invokedSession = nil
                waiting.link.send(.failure(.busy, "session '\(session.record.name)' was still busy after the wait"))
                return true
            }
            if let expiry = session.expiresAt, expiry <= now {
                remove(session)
            }
        }
        for link in links where link.decoder.bufferedByteCount > 0 { handleFrames(of: link) }
        for link in links where link.pendingOutput > 0 { link.flush() }
        dropClosedLinks()
    }

    private func pump(_ run: CommandRun, in session: HostedSession) {
        if let link = run.link, !link.isClosed {
            var sentSomething = true
            while sentSomething && link.pendingOutput < Self.linkHighWater {
                sentSomething = false
                for spool in run.outputs {
                    if let (offset, bytes) = spool.nextChunk(maximum: WireProtocol.outputChunk) {
                        link.send(.output(spool.stream, offset: offset, bytes[...]))
                        sentSomething = true
                    }
                }
            }
        }
        guard let result = run.result else { return }
        var delivered = false
        if let link = run.link, !link.isClosed {
            guard run.isFullySent else { return }
            link.send(result)
            link.invokedSession = nil
            session.record.state = .opened
            delivered = true
        }
        if case let .exited(status, signal, _) = result {
            let text = signal.isEmpty ? "\(status)\n" : "\(status) \(signal)\n"
            try? Posix.writeFileAtomically(session.directory + "/commands/\(run.number)/status", Array(text.utf8))
        }
        // Streams still held open by background children keep filling their spools. Output the client has
        // received whole is not kept: a long-lived session would otherwise fill the disk with it.
        for spool in run.outputs {
            if spool.isOpen {
                session.lingering.append(spool)
            } else {
                spool.closeAll()
                if delivered { unlink(session.directory + "/commands/\(run.number)/" + (spool.stream == .stdout ? "stdout" : "stderr")) }
            }
        }
        if run.stdinPipe >= 0 { close(run.stdinPipe) }
        session.run = nil
        session.record.command = ""
        session.idleSince = Posix.now
        if session.record.temporary && run.link != nil {
            run.link?.flush()  // the client has its answer before the cleanup starts
            remove(session)
        } else {
            try? store.save(session.record)
        }
    }

    private func remove(_ session: HostedSession) {
        if let link = session.run?.link, !link.isClosed {
            link.send(.failure(.noSuchSession, "session '\(session.record.name)' was removed while its command ran"))
            link.invokedSession = nil
        }
        for waiting in session.waiting {
            waiting.link.send(.failure(.noSuchSession, "session '\(session.record.name)' was removed"))
            waiting.link.invokedSession = nil
        }
        session.waiting = []
        session.close()
        Posix.removeTree(session.directory)
        sessions.removeValue(forKey: session.record.id)
    }
}

/// struct ucred (SO_PEERCRED), which Glibc exports only with _GNU_SOURCE.
struct PeerCredentials {
    var pid: pid_t = 0
    var uid: uid_t = 0
    var gid: gid_t = 0
}
