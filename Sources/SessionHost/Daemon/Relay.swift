import Glibc
import SessionWire

/// What an SSH exec channel runs on the host: connects the channel (stdin/stdout) to the user's daemon, starting
/// the daemon first if none runs, and moves bytes both ways until either side ends.
public enum Relay {
    /// The client skips whatever the login shell's rc files printed before this line, and sends nothing before it
    /// (the shell that read the script from stdin may have read ahead). The daemon's frames follow it.
    static let readyLine = "pss-host relay ready v\(WireProtocol.version)\n"

    /// `daemonArguments`: how the helper starts the daemon when none runs; `user`: who acts through this link
    /// (empty: this process's user).
    public static func run(
        paths: HostPaths, helperPath: String, daemonArguments: [String] = ["daemon"], daemonEnvironment: [String]? = nil, user: String = ""
    ) throws -> Int32 {
        try paths.prepare()
        // A client gone is an error to report, not a signal that kills the helper (signaled(PIPE) in a fan-out).
        signal(SIGPIPE, SIG_IGN)
        let start = { try connectOrStartDaemon(paths: paths, helperPath: helperPath, daemonArguments: daemonArguments, environment: daemonEnvironment) }
        var socket = try start()
        defer { close(socket) }
        guard Array(readyLine.utf8).withUnsafeBytes({ Posix.writeAll(STDOUT_FILENO, $0) }) else {
            throw HostError.daemon("cannot write to the channel")
        }
        // Hand the channel's pipes to the daemon and step aside: bytes then go between sshd and the daemon
        // directly. The relay stays until the daemon is done with them (it closes this socket), so that sshd
        // keeps the channel open as long as the conversation lasts. A daemon that ended between the connection
        // and the hand-over (it had nothing left) is replaced by a new one.
        var attempts = 1
        while !DescriptorPassing.send([STDIN_FILENO, STDOUT_FILENO], words: Array(user.utf8), over: socket) {
            guard attempts < 3 else { throw HostError.daemon("cannot hand the connection to the host daemon: \(String(cString: strerror(errno)))") }
            attempts += 1
            close(socket)
            socket = try start()
        }
        close(STDIN_FILENO)
        close(STDOUT_FILENO)
        var byte: UInt8 = 0
        while read(socket, &byte, 1) < 0 && errno == EINTR {}
        return 0
    }

    static func connectOrStartDaemon(paths: HostPaths, helperPath: String, daemonArguments: [String], environment: [String]? = nil) throws -> Int32 {
        if let socket = try connect(paths.socket) { return socket }
        for attempt in 0..<500 {  // up to 5 s for the daemon to listen
            // Started again every half second: one started while another daemon still served left it that one,
            // which may have ended since.
            if attempt % 50 == 0 { try startDaemon(paths: paths, helperPath: helperPath, arguments: daemonArguments, environment: environment) }
            try HostPaths.secureDirectory(paths.runtime)
            if let socket = try connect(paths.socket) { return socket }
            usleep(10_000)
        }
        throw HostError.daemon("the host daemon did not start; see \(paths.runtime)/daemon.log")
    }

    static func connect(_ path: String) throws -> Int32? {
        do { return try UnixSocket.connect(path) } catch let failure as UnixSocket.Failure { throw HostError.daemon(failure.description) }
    }

    /// Starts `pss-host daemon` detached from this SSH connection: its own session (setsid), stdio on /dev/null
    /// and its log, so that neither logout nor the channel's end reaches it. `environment`: its own (nil: this
    /// process's).
    static func startDaemon(paths: HostPaths, helperPath: String, arguments: [String], environment: [String]? = nil) throws {
        _ = try Posix.spawnInNewSession(
            helperPath, arguments: [helperPath] + arguments, environment: environment,
            descriptors: [
                .open("/dev/null", flags: O_RDONLY), .open("/dev/null", flags: O_WRONLY),
                .open(paths.runtime + "/daemon.log", flags: O_WRONLY | O_CREAT | O_APPEND, mode: 0o600),
            ])
        // Not our child to wait for: the daemon outlives this relay. Reap it if it exits early (lock held).
        signal(SIGCHLD, SIG_IGN)
    }
}
