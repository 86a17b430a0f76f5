import Glibc

/// What an SSH connection runs over, non-blocking, closed on deinit: a TCP socket (IPv4 or IPv6), or one end of a
/// socket pair whose other end a jump host's channel carries (ProxyJump) or a ProxyCommand reads and writes.
public final class ConnectionSocket {
    let descriptor: Int32
    /// The ProxyCommand at the other end, ended with the socket (SIGHUP, as ssh does; SIGKILL if it lingers).
    private let process: pid_t?
    /// The jump host's thread at the other end: waited for, so that its connection is closed before anything
    /// after it runs (pss exiting under a thread still in OpenSSL would crash).
    private let pump: pthread_t?

    init(descriptor: Int32, process: pid_t? = nil, pump: pthread_t? = nil) {
        self.descriptor = descriptor
        self.process = process
        self.pump = pump
    }

    deinit {
        close(descriptor)
        if let pump { pthread_join(pump, nil) }  // it sees the end of the pair at once
        guard let process else { return }
        kill(process, SIGHUP)
        var status: Int32 = 0
        for _ in 0..<20 {
            if waitpid(process, &status, WNOHANG) != 0 { return }
            var pause = timespec(tv_sec: 0, tv_nsec: 10_000_000)
            nanosleep(&pause, nil)
        }
        kill(process, SIGKILL)
        while waitpid(process, &status, 0) < 0 && errno == EINTR {}
    }

    /// ProxyCommand, as ssh runs it: `exec COMMAND` by the user's shell (its tokens already expanded), its stdin
    /// and stdout one end of a socket pair, its stderr pss's.
    static func proxyCommand(_ command: String, for host: String) throws -> ConnectionSocket {
        let shell = LocalUser.shell
        var ends: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &ends) == 0 else {
            throw SSHError.connect(host: host, port: 0, reason: "socketpair: \(String(cString: strerror(errno)))")
        }
        defer { close(ends[1]) }
        // A process group of its own, so that Ctrl-C on the terminal is pss's to handle (an interrupt sent to the
        // remote command), not the end of the connection; SIGPIPE back to its default (pss ignores it).
        let pid: pid_t
        do {
            pid = try ChildProcess.spawn(
                shell, arguments: [shell, "-c", "exec \(command)"], descriptors: [.copy(ends[1]), .copy(ends[1])],
                defaultSignals: [SIGPIPE], ownProcessGroup: true)
        } catch {
            close(ends[0])
            throw SSHError.connect(host: host, port: 0, reason: "ProxyCommand could not start: \(error)")
        }
        _ = fcntl(ends[0], F_SETFL, fcntl(ends[0], F_GETFL) | O_NONBLOCK)
        return ConnectionSocket(descriptor: ends[0], process: pid)
    }

    /// Tries each address of `host` in turn, as ssh does, until one connects or `deadline` passes.
    static func connect(host: String, port: Int, deadline: Deadline) throws -> ConnectionSocket {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_ADDRCONFIG
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let list else {
            throw SSHError.resolve(host: host, reason: String(cString: gai_strerror(status)))
        }
        defer { freeaddrinfo(list) }

        var lastError = SSHError.connect(host: host, port: port, reason: "no address")
        var cursor: UnsafeMutablePointer<addrinfo>? = list
        while let info = cursor {
            cursor = info.pointee.ai_next
            let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), info.pointee.ai_protocol)
            guard fd >= 0 else { continue }
            let socket = ConnectionSocket(descriptor: fd)
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))

            if Glibc.connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 { return socket }
            guard errno == EINPROGRESS else {
                lastError = .connect(host: host, port: port, reason: String(cString: strerror(errno)))
                continue
            }
            var pollfd = Glibc.pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            var ready: Int32
            repeat { ready = poll(&pollfd, 1, deadline.pollTimeout) } while ready < 0 && errno == EINTR
            if ready == 0 { throw SSHError.timedOut(host: host, phase: "while connecting to port \(port)") }
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
            if error == 0 { return socket }
            lastError = .connect(host: host, port: port, reason: String(cString: strerror(error)))
        }
        throw lastError
    }
}
