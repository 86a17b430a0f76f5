import Glibc
import Logging
import SessionWire
import SSHClient

/// The client's connection keeper: one small process per client directory that keeps this client's connections to
/// hosts (one thread each, `KeptHost`, the only one to call libssh2 on its connection) and serves links over them.
/// Commands ask for a connection to be kept on its control socket (`keep/keeper`); it connects on its own, never
/// asking anything, exactly as a command would (ssh_config, known_hosts, the agent and key files). It ends when it
/// keeps no connection.
public final class ConnectionKeeper {
    /// Makes the connection a request names (its options parsed as a command's), never prompting.
    public typealias Connect = (KeptConnection) throws -> SSHConnection

    let directory: String
    let context: KeptHost.Context
    private var hosts: [String: (host: KeptHost, thread: pthread_t)] = [:]
    private let ended: (read: Int32, write: Int32)
    /// Connections made at once (a fan-out may ask for hundreds): as fan-out's default throttle.
    static let connectingAtOnce = 32
    /// A connection that could not be made is not asked for again before this many seconds.
    static let retryAfterFailure = 60.0

    public init(state: ClientState, helper: HelperBinary, logger: Logger, connect: @escaping Connect) throws {
        directory = state.keeperDirectory
        context = KeptHost.Context(
            state: state, helper: helper, clientID: try state.clientID(), logger: logger, connect: connect,
            connecting: ConnectingLimit(Self.connectingAtOnce))
        var ends: [Int32] = [0, 0]
        guard pipe(&ends) == 0 else { throw SessionError.local("pipe: \(String(cString: strerror(errno)))") }
        for end in ends { _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK); _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        ended = (ends[0], ends[1])
    }

    /// Starts a keeper for `request`: `EXECUTABLE _keep`, stdio on /dev/null, the request on stdin. It forks once
    /// more at once, in a session of its own (`detach`), so that it is nobody's child and no terminal's; the
    /// intermediate is waited for.
    static func start(executable: String, request: [UInt8], directory: String) throws {
        var ends: [Int32] = [0, 0]
        guard pipe(&ends) == 0 else { throw SessionError.local("pipe: \(String(cString: strerror(errno)))") }
        _ = fcntl(ends[1], F_SETFD, FD_CLOEXEC)
        defer { close(ends[0]) }
        let pid: pid_t
        do {
            pid = try ChildProcess.spawn(
                executable, arguments: [executable, "_keep"],
                descriptors: [.copy(ends[0]), .open("/dev/null", flags: O_WRONLY), .open("/dev/null", flags: O_WRONLY)],
                defaultSignals: [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP], emptySignalMask: true)
        } catch {
            close(ends[1])
            throw SessionError.local("cannot start the connection keeper: \(error)")
        }
        _ = request.withUnsafeBytes { Glibc.write(ends[1], $0.baseAddress, $0.count) }
        close(ends[1])
        var ignored: Int32 = 0
        while waitpid(pid, &ignored, 0) < 0 && errno == EINTR {}
    }

    /// Makes this process the keeper's: forks, the parent exiting at once, the child in a new session. Called
    /// first thing, while the process has one thread.
    public static func detach() {
        let pid = fork()
        if pid != 0 { _exit(pid < 0 ? 1 : 0) }
        setsid()
    }

    /// The keeper's life, `first` its first request: returns when it keeps nothing (or another keeper of this
    /// client directory took the request).
    public func run(first: [UInt8]) {
        let lock = open(directory + "/lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard lock >= 0 else { return }
        defer { close(lock) }
        let control = directory + "/keeper"
        // Another keeper may serve this client (started at the same time, or about to end): the request is its
        // once it listens, or this process's once it has gone.
        var isKeeper = false
        for _ in 0..<200 {
            if flock(lock, LOCK_EX | LOCK_NB) == 0 {
                isKeeper = true
                break
            }
            if let fd = try? UnixSocket.connect(control, waiting: false) {
                _ = first.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
                close(fd)
                return
            }
            var pause = timespec(tv_sec: 0, tv_nsec: 10_000_000)
            nanosleep(&pause, nil)
        }
        guard isKeeper, var listener = try? UnixSocket.listen(control) else { return }
        defer { close(listener) }
        var identity = Self.inode(control)
        handle(first)
        while !hosts.isEmpty {
            var descriptors = [pollfd(fd: listener, events: Int16(POLLIN), revents: 0), pollfd(fd: ended.read, events: Int16(POLLIN), revents: 0)]
            if poll(&descriptors, 2, 2000) < 0 && errno != EINTR { break }
            // Its control socket removed (the client directory deleted): the keeper ends, and its hosts with it,
            // rather than keep links that would start host daemons nobody wants.
            if identity == nil || Self.inode(control) != identity {
                context.logger.info("its control socket or client directory is gone: ending")
                for (_, entry) in hosts { entry.host.stop() }
                for (_, entry) in hosts { pthread_join(entry.thread, nil) }
                hosts = [:]
                return
            }
            while let fd = UnixSocket.acceptOwn(listener) {
                let request = Self.readAll(fd, timeout: 1000)
                close(fd)
                if let request { handle(request) }
            }
            var byte: UInt8 = 0
            while read(ended.read, &byte, 1) == 1 {}
            reapEnded()
            if hosts.isEmpty {
                // New requests from here on find no keeper, and start one: those already queued are served first.
                unlink(control)
                while let fd = UnixSocket.acceptOwn(listener) {
                    if let request = Self.readAll(fd, timeout: 1000) { handle(request) }
                    close(fd)
                }
                // One of them gave it something to keep: it listens again.
                if !hosts.isEmpty {
                    close(listener)
                    guard let again = try? UnixSocket.listen(control) else { break }
                    listener = again
                    identity = Self.inode(control)
                }
            }
        }
        unlink(control)
        for (_, entry) in hosts { pthread_join(entry.thread, nil) }
    }

    /// The file's device and inode: which file it is, not what it holds.
    private static func inode(_ path: String) -> [UInt64]? {
        var info = stat()
        return stat(path, &info) == 0 ? [UInt64(info.st_dev), UInt64(info.st_ino)] : nil
    }

    private func handle(_ bytes: [UInt8]) {
        guard let kept = KeptConnection(decoding: bytes, state: context.state) else {
            context.logger.info("a malformed request was ignored")
            return
        }
        if hosts[kept.socketPath] != nil { return }
        let host = KeptHost(kept: kept, context: context, endedSignal: ended.write)
        guard let thread = JoinableThread.start(stackSize: 1 << 20, { host.run() }) else { return }
        hosts[kept.socketPath] = (host, thread)
    }

    private func reapEnded() {
        for (path, entry) in hosts where entry.host.hasEnded {
            pthread_join(entry.thread, nil)
            hosts.removeValue(forKey: path)
        }
    }

    /// Everything `fd` sends until its end, within `timeout` milliseconds (64 KiB at most).
    public static func readAll(_ fd: Int32, timeout: Int32) -> [UInt8]? {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        let deadline = Deadline.after(seconds: Double(timeout) / 1000)
        while bytes.count <= 64 * 1024 {
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, deadline.pollTimeout)
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { return nil }
            let count = read(fd, &chunk, chunk.count)
            if count == 0 { return bytes }
            if count < 0 { if errno == EINTR || errno == EAGAIN { continue } else { return nil } }
            bytes += chunk[0..<count]
        }
        return nil
    }
}
