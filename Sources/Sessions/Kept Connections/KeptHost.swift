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
            close(open(kept.failurePath, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o600))
            return
        }
        unlink(kept.failurePath)
        do {
            let listener = try UnixSocket.listen(kept.socketPath)
            var identity = stat()
            stat(kept.socketPath, &identity)
            defer {
                close(listener)
                // Only its own socket: another may have taken the path since.
                var now = stat()
                if stat(kept.socketPath, &now) == 0, now.st_ino == identity.st_ino { unlink(kept.socketPath) }
            }
            logger.info("keeping the connection (linger \(kept.keeping.linger.map { "\($0) s" } ?? "forever"))")
            var loop = Loop(host: self, connection: connection, listener: listener, logger: logger)
            try loop.run()
        } catch {
            logger.info("ended: \(error)")
        }
    }

    /// The thread's loop and what it holds.
    private struct Loop {
        /// A link to the daemon no command holds: past hello, and what came after the daemon's answer to it.
        struct IdleLink {
            let channel: SSHChannel
            let unread: [UInt8]
        }

        let host: KeptHost
        let connection: SSHConnection
        let listener: Int32
        let logger: Logger
        var pumps: [(pump: ChannelPump, frames: LinkFrames)] = []
        /// Links ready for the next commands: released by the last ones, or opened while nothing ran.
        var idle: [IdleLink] = []
        static let idleLimit = 4
        var lastUse = Deadline.now
        /// When to ask the host whether this client still holds a session there; nil: never (linger forever).
        var nextCheck: Deadline?

        init(host: KeptHost, connection: SSHConnection, listener: Int32, logger: Logger) {
            self.host = host
            self.connection = connection
            self.listener = listener
            self.logger = logger
            nextCheck = host.kept.keeping.linger.map { .after(seconds: Double($0)) }
        }

        mutating func run() throws {
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: SSHConnection.readSize, alignment: 16)
            defer {
                buffer.deallocate()
                for (pump, _) in pumps { close(pump.descriptor) }
            }
            while true {
                var moved = false
                while let fd = UnixSocket.acceptOwn(listener) {
                    guard try serve(fd) else { return }
                    moved = true
                }
                for (pump, _) in pumps { if try pump.step(buffer) { moved = true } }
                for (pump, _) in pumps where pump.isFinished {
                    close(pump.descriptor)
                    lastUse = .now
                    if host.kept.keeping.linger == 0 { nextCheck = .now }
                    if pump.leftChannelReusable && idle.count < Self.idleLimit {
                        idle.append(IdleLink(channel: pump.channel, unread: []))
                    }
                }
                pumps.removeAll(where: \.pump.isFinished)
                try dropEndedIdleLinks(buffer)
                if pumps.isEmpty {
                    // Idle: the next command's link is made ready now, not while it waits.
                    if idle.isEmpty { idle.append(try openLink()) }
                    if let check = nextCheck, check.hasPassed, !(try stillWanted()) { return }
                }
                if moved { continue }
                let channels = pumps.map(\.pump.channel) + idle.map(\.channel)
                let extra = [pollfd(fd: listener, events: Int16(POLLIN), revents: 0)] + pumps.map(\.pump.pollDescriptor)
                _ = try connection.wait(for: channels, extra: extra, timeout: pumps.isEmpty ? nextCheck?.pollTimeout ?? -1 : -1)
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

        /// Answers one command on the socket; false when the connection must end.
        mutating func serve(_ fd: Int32) throws -> Bool {
            var request: UInt8 = 0
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, 1000) == 1, read(fd, &request, 1) == 1 else {
                close(fd)
                return true
            }
            switch KeptConnection.Request(rawValue: request) {
            case .check?:
                close(fd)
                nextCheck = .now
                return true
            case .link?:
                // A command is served only as a new connection would be: by a host whose key known_hosts trusts.
                guard KnownHostsTrust.stillTrusts(connection) else {
                    Self.answer(fd, "no the host key is no longer the one known_hosts trusts")
                    close(fd)
                    logger.info("ended: the host key is no longer the one known_hosts trusts")
                    return false
                }
                let link = idle.isEmpty ? try openLink() : idle.removeFirst()
                Self.answer(fd, "ok \(WireProtocol.version)")
                _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
                let pump = ChannelPump(channel: link.channel, descriptor: fd, initialOutput: link.unread)
                let frames = LinkFrames()
                pump.observer = frames
                pumps.append((pump, frames))
                lastUse = .now
                return true
            case nil:
                close(fd)
                return true
            }
        }

        func openLink() throws -> IdleLink {
            let context = host.context
            let link = try HostLink.open(
                connection, helper: context.helper, state: context.state, clientID: context.clientID, logger: logger)
            let (channel, unread) = try link.handOver()
            return IdleLink(channel: channel, unread: unread)
        }

        /// Whether to keep the connection: while this client holds an Opened session on the host, and for the
        /// linger after that and after the last command. Sets the next look.
        mutating func stillWanted() throws -> Bool {
            guard let linger = host.kept.keeping.linger else {
                nextCheck = nil
                return true
            }
            let ready = idle.isEmpty ? try openLink() : idle.removeFirst()
            let link = HostLink(channel: ready.channel, unread: ready.unread)
            let answers = try link.requestList(.listSessions)
            let (channel, unread) = try link.handOver()
            idle.append(IdleLink(channel: channel, unread: unread))
            var held = false
            for case let .sessions(records, _) in answers {
                held = held || records.contains { $0.heldBy == host.context.clientID && $0.state == .opened && !$0.temporary }
            }
            let lingerEnd = lastUse.adding(seconds: Double(linger))
            if !held && lingerEnd.hasPassed {
                logger.info("ended: no session of this client is open on the host, and the linger passed")
                return false
            }
            // While sessions are held, look again now and then (a session may end on the host, idle).
            nextCheck = held ? .after(seconds: Double(min(max(linger, 1), 60))) : lingerEnd
            return true
        }

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
