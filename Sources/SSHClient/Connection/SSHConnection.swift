import CKeystreamBatching
import CLibSSH2
import Glibc
import Logging

/// One authenticated SSH connection over libssh2.
///
/// libssh2 1.10 is not thread-safe per session, so a connection has one owner that makes every call; it is not
/// `Sendable`. The session is non-blocking: every call that would block returns EAGAIN, and `retry` waits with
/// poll() on the directions libssh2 reports, bounded by a deadline, so that no call can hang.
public final class SSHConnection {
    public let settings: ConnectionSettings
    public private(set) var hostKey: HostKey?
    /// The server's identification string, e.g. `SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u6`.
    public private(set) var serverBanner = ""

    let socket: ConnectionSocket
    let session: OpaquePointer
    let callbacks: SessionCallbacks
    /// The connection was found dead (lost, or silent past the keepalive limit): nothing waits on it any more.
    public private(set) var isBroken = false
    let logger: Logger

    /// What was done to make this connection (shared with the caller's report, if one was given).
    public let report: ConnectionReport

    /// Connects, verifies the host key with `trust`, and authenticates. `report`, when given, hears each step.
    /// `socket`, when given, is the way to the host already made (a jump host's tunnel, `JumpTunnel`); else a TCP
    /// connection to the settings' host and port.
    public static func connect(
        settings: ConnectionSettings, trust: HostKeyTrust, credentials: Credentials,
        prompter: Prompter, logger: Logger, report: ConnectionReport = ConnectionReport(), socket given: ConnectionSocket? = nil
    ) throws -> SSHConnection {
        if settings.knownHostsCommand != nil {
            throw SSHError.unsupported(
                "\(settings.alias): KnownHostsCommand is not supported by pss (it would decide trust without it); list the host's keys in a known_hosts file")
        }
        guard LibSSH2.isInitialized else {
            throw SSHError.unsupported("libssh2 could not be initialised")
        }
        pss_disable_core_dumps()  // the process is about to hold session keys, perhaps passwords
        let deadline = Deadline.after(seconds: Double(settings.connectTimeout))
        logger.debug(
            "connecting to \(settings.hostName) port \(settings.port) as \(settings.user)\(given != nil ? " through the jump host" : settings.proxyCommand != nil ? " through ProxyCommand" : "")"
        )
        let socket =
            try given ?? settings.proxyCommand.map { try ConnectionSocket.proxyCommand($0, for: settings.alias) }
            ?? ConnectionSocket.connect(host: settings.hostName, port: settings.port, deadline: deadline)
        report.reached = "\(settings.hostName) port \(settings.port)"
        let connection = try SSHConnection(settings: settings, socket: socket, logger: logger, report: report)
        let prompter: Prompter = settings.batchMode ? NoPrompter() : prompter
        do {
            try connection.handshake(trust: trust, prompter: prompter, deadline: deadline)
        } catch let error as SSHError where settings.proxyCommand != nil && given == nil {
            guard case .connectionLost = error else { throw error }
            throw SSHError.connect(
                host: settings.alias, port: settings.port,
                reason: "ProxyCommand '\(settings.proxyCommand!.sanitizedForDisplay)' closed the connection before SSH began (\(error))")
        }
        try Authenticator(connection: connection, credentials: credentials, prompter: prompter).authenticate()
        if settings.serverAliveInterval > 0 {
            // want_reply: OpenSSH answers each keepalive, and that answer is what proves the peer alive.
            libssh2_keepalive_config(connection.session, 1, UInt32(settings.serverAliveInterval))
        }
        return connection
    }

    private init(settings: ConnectionSettings, socket: ConnectionSocket, logger: Logger, report: ConnectionReport) throws {
        self.settings = settings
        self.report = report
        self.socket = socket
        self.logger = logger
        let callbacks = SessionCallbacks()
        // libssh2 frees every buffer through an allocator that wipes it first (passwords, answers, keys).
        guard let session = pss_session_init(Unmanaged.passUnretained(callbacks).toOpaque()) else {
            throw SSHError.unsupported("libssh2 could not create a session")
        }
        self.session = session
        self.callbacks = callbacks
        libssh2_session_set_blocking(session, 0)
        _ = libssh2_session_callback_set(session, LIBSSH2_CALLBACK_RECV, unsafeBitCast(receive, to: UnsafeMutableRawPointer.self))
    }

    deinit {
        // Best effort: tell the server, then free. Neither may block for long, nor at all on a dead connection.
        let deadline = isBroken ? .now : Deadline.after(seconds: 1)
        _ = try? retry("disconnect", deadline: deadline) { pss_session_disconnect(session, "pss: closing") }
        _ = try? retry("session free", deadline: deadline) { libssh2_session_free(session) }
    }

    // MARK: Handshake and host key

    private func handshake(trust: HostKeyTrust, prompter: Prompter, deadline: Deadline) throws {
        let knownHosts = KnownHostsLookup(settings: settings)
        try setMethodPreferences(knownKeyTypes: trust.preferredAlgorithms(for: settings, knownHosts: knownHosts))
        let status = try retry("handshake", deadline: deadline) { libssh2_session_handshake(session, socket.descriptor) }
        if status == LIBSSH2_ERROR_KEX_FAILURE {
            throw SSHError.protocolFailure(
                host: settings.alias, operation: "SSH handshake",
                message: """
                    \(lastErrorMessage()): the server has no algorithm in common with what pss offered (ciphers \
                    \(offered[LIBSSH2_METHOD_CRYPT_CS] ?? ""); MACs \(offered[LIBSSH2_METHOD_MAC_CS] ?? ""); key exchange \
                    \(offered[LIBSSH2_METHOD_KEX] ?? ""); host keys \(offered[LIBSSH2_METHOD_HOSTKEY] ?? "")). Unless ssh_config \
                    asks otherwise, pss offers OpenSSH 9's defaults that libssh2 1.10 implements; if you accept an older \
                    algorithm the server needs, allow it with -o Ciphers=+NAME (or MACs, KexAlgorithms, HostKeyAlgorithms).
                    """)
        }
        guard status == 0 else { throw failure("SSH handshake", status) }
        serverBanner = libssh2_session_banner_get(session).map { String(cString: $0) } ?? ""
        report.banner = serverBanner
        let cipher = method(LIBSSH2_METHOD_CRYPT_CS)
        report.algorithms = "\(method(LIBSSH2_METHOD_KEX)), \(cipher), \(method(LIBSSH2_METHOD_MAC_CS))"
        let batching = cipher.hasSuffix("-ctr") && pss_keystream_batching_enabled() == 1 ? " (keystream batched)" : ""
        logger.debug(
            "server \(serverBanner.sanitizedForDisplay); cipher \(cipher)\(batching), mac \(method(LIBSSH2_METHOD_MAC_CS)), kex \(method(LIBSSH2_METHOD_KEX))")

        var length = 0
        var type: Int32 = 0
        guard let raw = libssh2_session_hostkey(session, &length, &type),
            let algorithm = HostKey.Algorithm(libssh2Type: type),
            let hash = libssh2_hostkey_hash(session, LIBSSH2_HOSTKEY_HASH_SHA256)
        else { throw failure("reading the host key", libssh2_session_last_errno(session)) }
        let blob = Array(UnsafeRawBufferPointer(start: raw, count: length).bindMemory(to: UInt8.self))
        let sha256 = Array(UnsafeRawBufferPointer(start: hash, count: 32).bindMemory(to: UInt8.self))
        let key = HostKey(algorithm: algorithm, blob: blob, sha256: sha256)
        hostKey = key
        report.hostKey = key
        logger.debug("host key \(algorithm.rawValue) \(key.fingerprint)")
        report.hostKeyTrust = try trust.verify(key, for: settings, knownHosts: knownHosts)
    }

    /// What was offered to the server, by libssh2 method type, for messages.
    private var offered: [Int32: String] = [:]

    /// Offers the settings' algorithm lists (OpenSSH 9's defaults, or what ssh_config asked for) as far as libssh2
    /// implements them, in their order; host keys already known for the host first, as ssh orders them. Host
    /// certificates are never offered: libssh2 1.10 would take one without checking it.
    private func setMethodPreferences(knownKeyTypes known: [HostKey.Algorithm]) throws {
        var hostKeys = settings.hostKeyAlgorithms.filter { !$0.hasSuffix("-cert-v01@openssh.com") }
        if settings.hostKeyOrderFollowsKnownHosts {
            let knownNames = known.map(\.rawValue)
            hostKeys = hostKeys.filter(knownNames.contains) + hostKeys.filter { !knownNames.contains($0) }
        }
        let lists: [(Int32, [String], SSHConfigKeyword)] = [
            (LIBSSH2_METHOD_KEX, settings.kexAlgorithms, .kexAlgorithms),
            (LIBSSH2_METHOD_HOSTKEY, hostKeys, .hostKeyAlgorithms),
            (LIBSSH2_METHOD_CRYPT_CS, settings.ciphers, .ciphers), (LIBSSH2_METHOD_CRYPT_SC, settings.ciphers, .ciphers),
            (LIBSSH2_METHOD_MAC_CS, settings.macs, .macs), (LIBSSH2_METHOD_MAC_SC, settings.macs, .macs),
        ]
        for (methodType, wanted, keyword) in lists {
            let supported = supportedMethods(methodType)
            let order = wanted.filter(supported.contains)
            guard !order.isEmpty, libssh2_session_method_pref(session, methodType, order.joined(separator: ",")) == 0 else {
                throw SSHError.unsupported(
                    "\(settings.alias): none of the \(keyword.displayName) asked for (\(wanted.joined(separator: ","))) is implemented by libssh2 1.10, which pss uses; it has \(supported.filter { !$0.hasSuffix("-cert-v01@openssh.com") }.joined(separator: ","))"
                )
            }
            offered[methodType] = order.joined(separator: ",")
        }
    }

    private func supportedMethods(_ methodType: Int32) -> [String] {
        var list: UnsafeMutablePointer<UnsafePointer<CChar>?>?
        let count = libssh2_session_supported_algs(session, methodType, &list)
        guard count > 0, let list else { return [] }
        defer { libssh2_free(session, list) }
        return (0..<Int(count)).compactMap { list[$0].map { String(cString: $0) } }
    }

    private func method(_ type: Int32) -> String {
        libssh2_session_methods(session, type).map { String(cString: $0) } ?? "?"
    }

    // MARK: Waiting

    /// Calls `body` until it stops answering EAGAIN, waiting on the socket in between; throws once `deadline`
    /// passes.
    @discardableResult
    func retry(_ operation: String, deadline: Deadline, _ body: () -> Int32) throws -> Int32 {
        while true {
            let status = body()
            guard status == LIBSSH2_ERROR_EAGAIN else { return status }
            try waitForSocket(operation, deadline: deadline)
        }
    }

    /// The same for libssh2 calls that return a pointer, nil with EAGAIN meaning "not yet".
    func retry<T>(_ operation: String, deadline: Deadline, _ body: () -> T?) throws -> T {
        while true {
            if let value = body() { return value }
            let status = libssh2_session_last_errno(session)
            guard status == LIBSSH2_ERROR_EAGAIN else { throw failure(operation, status) }
            try waitForSocket(operation, deadline: deadline)
        }
    }

    func waitForSocket(_ operation: String, deadline: Deadline) throws {
        var descriptor = pollfd(fd: socket.descriptor, events: socketEvents, revents: 0)
        var ready: Int32
        repeat { ready = poll(&descriptor, 1, deadline.pollTimeout) } while ready < 0 && errno == EINTR
        if ready == 0 {
            throw SSHError.timedOut(host: settings.alias, phase: "during \(operation)")
        }
    }

    /// What to wait for on the socket: what libssh2 says it is blocked on, and always input (a peer's close or
    /// keepalive answer must wake us).
    var socketEvents: Int16 {
        let directions = libssh2_session_block_directions(session)
        var events = Int16(POLLIN)
        if directions & LIBSSH2_SESSION_BLOCK_OUTBOUND != 0 { events |= Int16(POLLOUT) }
        return events
    }

    /// Sends a keepalive when one is due; returns the milliseconds until the next, or -1 when keepalive is off.
    /// Throws when the server has been silent for ServerAliveInterval × (ServerAliveCountMax + 1).
    func keepAlive() throws -> Int32 {
        let interval = settings.serverAliveInterval
        guard interval > 0 else { return -1 }
        let silentFor = Double(Deadline.now.nanoseconds - callbacks.lastReceive.nanoseconds) / 1e9
        if silentFor > Double(interval * (settings.serverAliveCountMax + 1)) {
            isBroken = true
            throw SSHError.serverNotResponding(host: settings.alias)
        }
        var next: Int32 = 0
        let status = libssh2_keepalive_send(session, &next)
        if status != 0 && status != LIBSSH2_ERROR_EAGAIN { throw lost(status) }
        return max(1, min(next, Int32(interval))) * 1000
    }

    // MARK: Errors

    /// libssh2's own message for the last error.
    func lastErrorMessage() -> String {
        var message: UnsafeMutablePointer<CChar>?
        var length: Int32 = 0
        libssh2_session_last_error(session, &message, &length, 0)
        return message.map { String(cString: $0) } ?? "unknown error"
    }

    func failure(_ operation: String, _ status: Int32) -> SSHError {
        switch status {
        case LIBSSH2_ERROR_SOCKET_DISCONNECT, LIBSSH2_ERROR_SOCKET_RECV, LIBSSH2_ERROR_SOCKET_SEND:
            isBroken = true
            // Closed before the server's greeting: said as what it is, not as libssh2's "Failed getting banner".
            let banner = lastErrorMessage().lowercased().contains("banner")
            return .connectionLost(host: settings.alias, message: "\(operation): \(banner ? explain(LIBSSH2_ERROR_BANNER_RECV) : lastErrorMessage())")
        default:
            return .protocolFailure(host: settings.alias, operation: operation, message: explain(status))
        }
    }

    func lost(_ status: Int32) -> SSHError {
        isBroken = true
        return .connectionLost(host: settings.alias, message: explain(status))
    }

    /// What happened, in words, for the failures users meet; libssh2's own message (and its code under -v) for
    /// the others.
    private func explain(_ status: Int32) -> String {
        logger.debug("libssh2 error \(status): \(lastErrorMessage())")
        switch status {
        case LIBSSH2_ERROR_BANNER_RECV:
            return "the server sent no SSH greeting: it is not an SSH server, or it closed the connection at once "
                + "(sshd's MaxStartups, a firewall, a host that refuses this address)"
        case LIBSSH2_ERROR_KEX_FAILURE, LIBSSH2_ERROR_KEY_EXCHANGE_FAILURE:
            return "no key exchange with the server: no method, cipher or host key type in common (pss -v lists what each side offers)"
        case LIBSSH2_ERROR_TIMEOUT, LIBSSH2_ERROR_SOCKET_TIMEOUT:
            return "the server stopped answering"
        case LIBSSH2_ERROR_INVALID_MAC, LIBSSH2_ERROR_DECRYPT:
            return "data arrived corrupted (a failed integrity check)"
        default:
            return lastErrorMessage()
        }
    }
}

/// Secrets given to pss other than through a prompt. The password file is read each time a password is needed
/// (a reconnection needs it again) and the password wiped once used, so no password sits in memory while commands
/// run; it is never logged or passed on.
public struct Credentials: Sendable {
    public var passwordFile: String?

    public init(passwordFile: String? = nil) {
        self.passwordFile = passwordFile
    }

    /// The password, read now; nil without a password file.
    func password() throws -> Secret? {
        guard let passwordFile else { return nil }
        guard let secret = Secret.firstLine(ofFile: passwordFile) else {
            throw SSHError.unsupported("cannot read the password file \(passwordFile): \(String(cString: strerror(errno)))")
        }
        return secret
    }
}

/// State that libssh2's C callbacks reach through the session's `abstract` pointer.
final class SessionCallbacks {
    /// When bytes last arrived from the server: the evidence that it is alive.
    var lastReceive = Deadline.now
    /// The keyboard-interactive exchange under way (set only while one runs).
    var keyboardInteractive: KeyboardInteractiveAnswers?
}

enum LibSSH2 {
    static let isInitialized: Bool = libssh2_init(0) == 0
}

/// libssh2's socket receive, replaced to note when data arrives (for ServerAliveInterval). libssh2 expects
/// -errno on failure.
private let receive:
    @convention(c) (
        libssh2_socket_t, UnsafeMutableRawPointer?, Int, Int32,
        UnsafeMutablePointer<UnsafeMutableRawPointer?>?
    ) -> Int = { fd, buffer, length, flags, abstract in
        let count = recv(fd, buffer, length, flags)
        if count < 0 { return -Int(errno) }
        if count > 0, let pointer = abstract?.pointee {
            Unmanaged<SessionCallbacks>.fromOpaque(pointer).takeUnretainedValue().lastReceive = .now
        }
        return count
    }
