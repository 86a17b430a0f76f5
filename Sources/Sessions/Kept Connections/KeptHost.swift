import Glibc
import Logging
import SessionWire
import SSHClient

/// One connection the keeper keeps, on a thread of its own (the only one to call libssh2 on it): it listens on the
/// connection's socket, hands each command a link to the host's daemon (an exec channel running the relay, opened
/// ahead of time when idle, so that a command starts with one frame each way), and moves the bytes both ways.
///
/// It ends when the connection fails, when the host key is no longer the one known_hosts trusts, or when this
/// client has held no Opened session on the host for the linger (ControlPersist), asking the host's daemon.
final class KeptHost: @unchecked Sendable {
    struct Context {
        let state: ClientState
        let helper: HelperBinary
        let clientID: String
        let logger: Logger
        let connect: ConnectionKeeper.Connect
        let connecting: ConnectingLimit
    }

    let kept: KeptConnection
    let context: Context
    private let endedSignal: Int32
    private let lock = Lock()
    private var ended = false

    init(kept: KeptConnection, context: Context, endedSignal: Int32) {
        self.kept = kept
        self.context = context
        self.endedSignal = endedSignal
    }

    var hasEnded: Bool { lock.withLock { ended } }

    /// Told by the keeper that its directory or control socket is gone: takes no more commands, and ends once
    /// those running have.
    func stop() { lock.withLock { stopRequested = true } }
    private var stopRequested = false
    fileprivate var isStopRequested: Bool { lock.withLock { stopRequested } }

    func run() {
        defer {
            lock.withLock { ended = true }
            var byte: UInt8 = 1
            _ = write(endedSignal, &byte, 1)
        }
        var logger = context.logger
        logger[metadataKey: "host"] = "\(kept.host)"
        let connection: SSHConnection
        do {
            connection = try context.connecting.run { try context.connect(kept) }
        } catch {
            logger.info("not kept: \(error)")
            let marker = open(kept.failurePath, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0o600)
            if marker >= 0 { close(marker) }
            return
        }
        unlink(kept.failurePath)
        var loop: Loop
        do {
            loop = try Loop(host: self, connection: connection, logger: logger)
        } catch {
            logger.info("not kept: \(error)")
            return
        }
        defer { loop.stopServing() }
        logger.info("keeping the connection (linger \(kept.keeping.linger.map { "\($0) s" } ?? "forever"))")
        do { try loop.run() } catch { logger.info("ended: \(error)") }
    }

    /// The thread's loop and what it holds.
    private struct Loop {
        /// A link to the daemon no command holds: past hello, and what came after the daemon's answer to it.
        struct IdleLink {
            let channel: SSHChannel
            let unread: [UInt8]
            /// The session configuration whose daemon it reaches (its own relay), or nil: the user's own daemon.
            var configuration: String? = nil
        }

        let host: KeptHost
        let connection: SSHConnection
        /// The connection's socket, while it takes commands; its inode, so that only it is removed.
        var listener: Int32?
        let socketIdentity: ino_t
        let socketDevice: dev_t
        let logger: Logger
        var pumps: [(pump: ChannelPump, frames: LinkFrames, configuration: String?)] = []
        /// Links ready for the next commands: released by the last ones, or opened while nothing ran.
        var idle: [IdleLink] = []
        static let idleLimit = 4
        /// The last command's end, or the last time this client was seen holding a session on the host.
        var lastUse = Deadline.now
        /// When to ask the host whether this client still holds a session there; nil: never (linger forever).
        var nextCheck: Deadline?
        /// Seconds a look at the host's sessions may wait for its answer, and every link opened.
        var patience: Double { Double(connection.settings.connectTimeout) }

        init(host: KeptHost, connection: SSHConnection, logger: Logger) throws {
            self.host = host
            self.connection = connection
            self.logger = logger
            listener = try UnixSocket.listen(host.kept.socketPath)
            var identity = stat()
            stat(host.kept.socketPath, &identity)
            socketIdentity = identity.st_ino
            socketDevice = identity.st_dev
            nextCheck = host.kept.keeping.linger.map { .after(seconds: Double($0)) }
        }

        static let lookForSocketSeconds = 2.0

        /// Whether the socket this thread listens on is still its own (not removed, nor replaced).
        var isOwnSocketThere: Bool {
            var now = stat()
            return stat(host.kept.socketPath, &now) == 0 && now.st_ino == socketIdentity && now.st_dev == socketDevice
        }

        /// Takes no more commands: the socket goes (new commands connect on their own); those running go on.
        mutating func stopServing() {
            guard let fd = listener else { return }
            close(fd)
            listener = nil
            var now = stat()
            if stat(host.kept.socketPath, &now) == 0, now.st_ino == socketIdentity { unlink(host.kept.socketPath) }
        }

        mutating func run() throws {
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: SSHConnection.readSize, alignment: 16)
            defer {
                buffer.deallocate()
                for (pump, _, _) in pumps { close(pump.descriptor) }
            }
            while listener != nil || !pumps.isEmpty {
                // The socket removed (its client directory deleted) or the keeper told to stop: no more commands,
                // and no more links ahead of time (each would start a host daemon that had been ended).
                if listener != nil, host.isStopRequested || !isOwnSocketThere {
                    logger.info("ended: its socket or client directory is gone")
                    stopServing()
                    idle = []
                }
                var moved = false
                while let fd = listener.flatMap(UnixSocket.acceptOwn) {
                    try serve(fd)
                    moved = true
                }
                for (pump, _, _) in pumps { if try pump.step(buffer) { moved = true } }
                for (pump, _, configuration) in pumps where pump.isFinished {
                    close(pump.descriptor)
                    lastUse = .now
                    if host.kept.keeping.linger == 0 { nextCheck = .now }
                    if pump.leftChannelReusable && idle.filter({ $0.configuration == configuration }).count < Self.idleLimit {
                        idle.append(IdleLink(channel: pump.channel, unread: [], configuration: configuration))
                    }
                }
                pumps.removeAll(where: \.pump.isFinished)
                try dropEndedIdleLinks(buffer)
                if pumps.isEmpty, listener != nil {
                    // Idle: the next command's link (to the user's own daemon) is made ready now, not while it waits.
                    if !idle.contains(where: { $0.configuration == nil }) {
                        do { idle.append(try openLink()) } catch  where !connection.isBroken {
                            logger.info("could not open a link ahead of time: \(error)")
                        }
                    }
                    if let check = nextCheck, check.hasPassed, !(try stillWanted()) { return }
                }
                if moved { continue }
                let channels = pumps.map(\.pump.channel) + idle.map(\.channel)
                var extra = pumps.map(\.pump.pollDescriptor)
                if let listener { extra.append(pollfd(fd: listener, events: Int16(POLLIN), revents: 0)) }
                guard !channels.isEmpty else {
                    // No link could be opened (nothing would read the connection's traffic): a second's pause,
                    // then another try, unless a command comes first.
                    _ = poll(&extra, nfds_t(extra.count), 1000)
                    continue
                }
                // Idle, it looks at least every few seconds whether its socket is still there.
                let look = Int32(Self.lookForSocketSeconds * 1000)
                let timeout = pumps.isEmpty ? min(nextCheck?.pollTimeout ?? look, look) : -1
                _ = try connection.wait(for: channels, extra: extra, timeout: timeout)
            }
        }

        /// Idle links say nothing until asked: one that ended (its relay went away) or spoke is dropped.
        mutating func dropEndedIdleLinks(_ buffer: UnsafeMutableRawBufferPointer) throws {
            var kept: [IdleLink] = []
            for link in idle {
                let spoke = try link.channel.read(.stdout, into: buffer) + link.channel.read(.stderr, into: buffer)
                if spoke == 0 && !link.channel.isAtEnd { kept.append(link) }
            }
            idle = kept
        }

        /// Answers one command on the socket. A link that cannot be had is refused to that command alone (it
        /// connects on its own); only the connection's own failure ends everything.
        mutating func serve(_ fd: Int32) throws {
            defer { lastUse = .now }
            var request: UInt8 = 0
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, 1000) == 1, read(fd, &request, 1) == 1 else {
                close(fd)
                return
            }
            switch KeptConnection.Request(rawValue: request) {
            case .check?:
                close(fd)
                nextCheck = .now
            case .link?, .configurationLink?:
                // A configuration's name follows its request, on a line of its own (checked again by the host).
                var configuration: String?
                if request == KeptConnection.Request.configurationLink.rawValue {
                    guard let name = KeptConnection.readLine(fd, timeout: 1000, limit: 128), ConfigurationName.problem(with: name) == nil else {
                        close(fd)
                        return
                    }
                    configuration = name
                }
                // A command is served only as a new connection would be: by a host whose key would be trusted.
                guard KnownHostsTrust.stillTrusts(connection) else {
                    Self.answer(fd, "no the host key is no longer the one known_hosts trusts")
                    close(fd)
                    logger.info("taking no more commands: the host key is no longer the one known_hosts trusts")
                    stopServing()
                    return
                }
                let link: IdleLink
                do {
                    link = try takeLink(configuration: configuration)
                } catch  where !connection.isBroken {
                    Self.answer(fd, "no \(error)")
                    close(fd)
                    logger.info("a command was not served: \(error)")
                    return
                }
                Self.answer(fd, "ok \(WireProtocol.version) \(host.context.clientID)")
                _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
                let pump = ChannelPump(channel: link.channel, descriptor: fd, initialOutput: link.unread)
                let frames = LinkFrames()
                pump.observer = frames
                pumps.append((pump, frames, configuration))
            case nil:
                close(fd)
            }
        }

        /// A ready link to that daemon if there is one, else one opened now.
        mutating func takeLink(configuration: String? = nil) throws -> IdleLink {
            if let index = idle.firstIndex(where: { $0.configuration == configuration }) { return idle.remove(at: index) }
            return try openLink(configuration: configuration)
        }

        func openLink(configuration: String? = nil) throws -> IdleLink {
            let context = host.context
            let link =
                try configuration.map {
                    try HostLink.open(connection, configuration: $0, clientID: context.clientID, deadline: .after(seconds: patience))
                }
                ?? HostLink.open(
                    connection, helper: context.helper, state: context.state, clientID: context.clientID, logger: logger,
                    deadline: .after(seconds: patience))
            let (channel, unread) = try link.handOver()
            return IdleLink(channel: channel, unread: unread, configuration: configuration)
        }

        /// Whether to keep the connection: while this client holds an Opened session on the host (in the user's
        /// own daemon or a configuration's it knows of), and for the linger after that and after the last command.
        /// Sets the next look. A look that fails (the daemon does not answer in time) is tried again later; a
        /// configuration that refuses counts as holding nothing; a failed connection throws.
        mutating func stillWanted() throws -> Bool {
            guard let linger = host.kept.keeping.linger else {
                nextCheck = nil
                return true
            }
            var held = false
            // The user's own daemon, then the daemons of the configurations this client knows sessions of there.
            let configurations = host.context.state.knownConfigurations(on: host.kept.host)
            do {
                for configuration in [nil] + configurations where !held {
                    let ready: IdleLink
                    do { ready = try takeLink(configuration: configuration) } catch SessionError.refused where configuration != nil { continue }
                    let link = HostLink(channel: ready.channel, unread: ready.unread)
                    link.deadline = .after(seconds: patience)
                    let answers = try link.requestList(.listSessions)
                    link.deadline = nil
                    let (channel, unread) = try link.handOver()
                    idle.append(IdleLink(channel: channel, unread: unread, configuration: configuration))
                    for case let .sessions(records, _) in answers {
                        held = held || records.contains { $0.heldBy == host.context.clientID && $0.state == .opened && !$0.temporary }
                    }
                }
            } catch  where !connection.isBroken {
                logger.info("could not look at the host's sessions (\(error)); looking again in a minute")
                nextCheck = .after(seconds: Self.lookInterval)
                return true
            }
            if held { lastUse = .now }
            let lingerEnd = lastUse.adding(seconds: Double(linger))
            if !held && lingerEnd.hasPassed {
                logger.info("ended: no session of this client is open on the host, and the linger passed")
                return false
            }
            // While sessions are held, look again now and then (a session may end on the host, idle); commands
            // that remove or disconnect one say so at once.
            nextCheck = held ? .after(seconds: Self.lookInterval) : lingerEnd
            return true
        }

        static let lookInterval = 60.0

        static func answer(_ fd: Int32, _ line: String) {
            let bytes = Array((line + "\n").utf8)
            _ = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        }
    }
}

/// At most `limit` connections being made at once, the others waiting their turn.
final class ConnectingLimit: @unchecked Sendable {
    private let lock = Lock()
    private var free: Int

    init(_ limit: Int) { free = limit }

    func run<T>(_ body: () throws -> T) rethrows -> T {
        lock.withLock {
            while free == 0 { lock.wait(seconds: 1) }
            free -= 1
        }
        defer {
            lock.withLock {
                free += 1
                lock.broadcast()
            }
        }
        return try body()
    }
}
