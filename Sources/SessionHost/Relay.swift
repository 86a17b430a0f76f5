import Glibc

/// What an SSH exec channel runs on the host: connects the channel (stdin/stdout) to the user's daemon, starting
/// the daemon first if none runs, and moves bytes both ways until either side ends.
public enum Relay {
    public static func run(paths: HostPaths, helperPath: String) throws -> Int32 {
        try paths.prepare()
        let socket = try connectOrStartDaemon(paths: paths, helperPath: helperPath)
        defer { close(socket) }
        pump(socket)
        return 0
    }

    static func connectOrStartDaemon(paths: HostPaths, helperPath: String) throws -> Int32 {
        if let socket = try connect(paths.socket) { return socket }
        try startDaemon(paths: paths, helperPath: helperPath)
        for _ in 0..<500 {  // up to 5 s for the daemon to listen
            try HostPaths.secureDirectory(paths.runtime)
            if let socket = try connect(paths.socket) { return socket }
            usleep(10_000)
        }
        throw HostError.daemon("the host daemon did not start; see \(paths.runtime)/daemon.log")
    }

    static func connect(_ path: String) throws -> Int32? {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        try Posix.check(fd, "socket")
        var address = try HostDaemon.unixAddress(path)
        let status = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if status == 0 { return fd }
        close(fd)
        return nil
    }

    /// Starts `pss-host daemon` detached from this SSH connection: its own session (setsid), stdio on /dev/null
    /// and its log, so that neither logout nor the channel's end reaches it.
    static func startDaemon(paths: HostPaths, helperPath: String) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, paths.runtime + "/daemon.log", O_WRONLY | O_CREAT | O_APPEND, 0o600)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(0x80 /* POSIX_SPAWN_SETSID */))
        let argv = [strdup(helperPath), strdup("daemon"), nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, helperPath, &actions, &attributes, argv, environ)
        guard status == 0 else { throw Posix.Failure(operation: "starting the host daemon", code: status) }
        // Not our child to wait for: the daemon outlives this relay. Reap it if it exits early (lock held).
        signal(SIGCHLD, SIG_IGN)
    }

    /// Moves bytes stdin → socket and socket → stdout until the socket ends.
    static func pump(_ socket: Int32) {
        signal(SIGPIPE, SIG_IGN)
        var buffer = [UInt8](repeating: 0, count: 256 * 1024)
        let stdinOpen = true
        while true {
            var descriptors = [pollfd(fd: socket, events: Int16(POLLIN), revents: 0)]
            if stdinOpen { descriptors.append(pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0)) }
            guard poll(&descriptors, nfds_t(descriptors.count), -1) >= 0 || errno == EINTR else { return }
            if descriptors[0].revents != 0 {
                let count = read(socket, &buffer, buffer.count)
                if count <= 0 && !(count < 0 && errno == EINTR) { return }
                if count > 0 && !Posix.writeAll(STDOUT_FILENO, Array(buffer[0..<count])) { return }
            }
            if stdinOpen, descriptors.count > 1, descriptors[1].revents != 0 {
                let count = read(STDIN_FILENO, &buffer, buffer.count)
                if count > 0 {
                    if !Posix.writeAll(socket, Array(buffer[0..<count])) { return }
                } else if count == 0 || errno != EINTR {
                    // The client is gone: the daemon sees the connection end and keeps the session.
                    return
                }
            }
        }
    }
}
