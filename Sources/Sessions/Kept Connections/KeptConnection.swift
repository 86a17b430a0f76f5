import Glibc
import Logging
import SessionWire
import SSHClient

/// A connection this client keeps to a host, as the client's commands see it: where its keeper serves it, how to
/// get a link to the host's daemon through it, and how to ask for it to be kept. The keeper (`ConnectionKeeper`,
/// one process per client) is reached through sockets in `keep/` in the client directory (0700), and every
/// connection to them is checked with SO_PEERCRED both ways.
public struct KeptConnection {
    /// The host as written, and the connection options that shape the connection (`-F`, `-o`, `-i`, ...; paths
    /// absolute): a connection made with other options is another connection.
    public let host: String
    public let arguments: [String]
    public let keeping: ConnectionKeeping
    let state: ClientState
    /// `keep/` in the client directory.
    let directory: String
    /// The socket of this connection's keeper: ControlPath's (with `.pss`), else one named by a hash of host and
    /// options.
    public let socketPath: String

    public init(host: String, arguments: [String], keeping: ConnectionKeeping, state: ClientState) {
        self.state = state
        self.host = host
        self.arguments = arguments
        self.keeping = keeping
        directory = state.keeperDirectory
        let key = SHA256.hex(Array(([host] + arguments).joined(separator: "\u{0}").utf8)).prefix(32)
        socketPath = keeping.path ?? directory + "/" + key
    }

    var controlPath: String { directory + "/keeper" }

    /// Marks a connection the keeper could not make: not asked for again for a minute (it would need a question,
    /// a passphrase say, that only a command on a terminal can ask). In `keep/`, whatever ControlPath says: only
    /// this user may write there.
    var failurePath: String { directory + "/" + SHA256.hex(Array(socketPath.utf8)).prefix(32) + ".failed" }

    var failedLately: Bool {
        var info = stat()
        guard lstat(failurePath, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return false }
        return time(nil) - info.st_mtim.tv_sec < Int(ConnectionKeeper.retryAfterFailure)
    }

    /// The first byte a command sends on a kept connection's socket: what it wants.
    enum Request: UInt8 {
        /// A link to the host's daemon: answered `ok`, then the link's bytes, or `no REASON`.
        case link = 0x4C
        /// Look now whether this client still holds a session there (one was just removed or disconnected).
        case check = 0x43
        /// A link to a session configuration's daemon: its name follows on a line; answered as `link`.
        case configurationLink = 0x47
    }

    /// A link to the host's daemon through the kept connection, or nil when there is none to use (no keeper, a
    /// keeper that refuses: its connection went, the host key is no longer the one known). Never waits for a
    /// connection to be made.
    public func link(logger: Logger, configuration: String? = nil) -> HostLink? {
        let fd: Int32
        do {
            guard let connected = try UnixSocket.connect(socketPath, waiting: false) else { return nil }
            fd = connected
        } catch {
            logger.debug("not using the kept connection: \(error)")
            return nil
        }
        let request = configuration.map { [Request.configurationLink.rawValue] + Array(($0 + "\n").utf8) } ?? [Request.link.rawValue]
        // The keeper says which client it serves: a ControlPath shared by two client directories is not a way to
        // speak as the other one.
        let expected = "ok \(WireProtocol.version) \((try? state.clientID()) ?? "")"
        let sent = request.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) } == request.count
        let answer = sent ? Self.readLine(fd, timeout: Self.answerTimeout) : nil
        guard answer == expected else {
            close(fd)
            logger.debug("the kept connection to \(host) was not used (\((answer ?? "no answer").sanitizedForDisplay))")
            return nil
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        logger.debug("using the kept connection to \(host) (\(socketPath))")
        return HostLink(channel: KeeperSocket(descriptor: fd, host: host))
    }

    /// How long a command waits for the keeper's answer (a link it has to open: a relay to start on the host)
    /// before it connects on its own, in milliseconds.
    static let answerTimeout: Int32 = 5000

    /// Tells the keeper to look whether this client still holds a session on the host; returns at once.
    public func nudge() {
        guard let fd = try? UnixSocket.connect(socketPath, waiting: false) else { return }
        var request = Request.check.rawValue
        _ = Glibc.write(fd, &request, 1)
        close(fd)
    }

    /// Asks the client's keeper to keep this connection, starting the keeper when none runs; returns at once (the
    /// keeper connects on its own, never asking anything: a connection that would need a question is not kept).
    public func requestKeeping(executable: String, logger: Logger) {
        do {
            try state.prepareKeeperDirectory()
            let request = encodedRequest()
            if let fd = try UnixSocket.connect(controlPath, waiting: false) {
                defer { close(fd) }
                _ = request.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
                return
            }
            try ConnectionKeeper.start(executable: executable, request: request, directory: directory)
            logger.debug("started the connection keeper for \(host)")
        } catch {
            logger.debug("cannot keep the connection to \(host): \(error)")
        }
    }

    /// The request as the keeper's control socket takes it: NUL-separated fields, ended by the end of the stream.
    func encodedRequest() -> [UInt8] {
        let linger = keeping.linger.map(String.init) ?? "forever"
        let fields = ["keep 1", host, socketPath, linger] + arguments
        return Array(fields.joined(separator: "\u{0}").utf8)
    }

    /// A request read back by the keeper; nil when malformed.
    init?(decoding bytes: [UInt8], state: ClientState) {
        let fields = bytes.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        guard fields.count >= 4, fields[0] == "keep 1", (try? HostSpec(parsing: fields[1])) != nil, fields[2].hasPrefix("/") else { return nil }
        var keeping = ConnectionKeeping()
        if fields[3] == "forever" {
            keeping.linger = nil
        } else {
            guard let seconds = Int(fields[3]), seconds >= 0 else { return nil }
            keeping.linger = seconds
        }
        host = fields[1]
        arguments = Array(fields[4...])
        self.keeping = keeping
        self.state = state
        directory = state.keeperDirectory
        socketPath = fields[2]
    }

    /// One line (without its newline) from `fd`, read a byte at a time (nothing after it is taken), within
    /// `timeout` milliseconds.
    static func readLine(_ fd: Int32, timeout: Int32, limit: Int = 4096) -> String? {
        var line: [UInt8] = []
        let deadline = Deadline.after(seconds: Double(timeout) / 1000)
        while line.count < limit {
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, deadline.pollTimeout)
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { return nil }
            var byte: UInt8 = 0
            let count = Glibc.read(fd, &byte, 1)
            if count < 0, errno == EINTR || errno == EAGAIN { continue }
            guard count == 1 else { return nil }
            if byte == 0x0A { return String(decoding: line, as: UTF8.self) }
            line.append(byte)
        }
        return nil
    }
}
