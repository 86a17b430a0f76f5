import Glibc

/// Unix stream sockets between processes of one user (the host's daemon and its relays, the client's connection
/// keeper and its commands): whoever answers or calls is checked by SO_PEERCRED, whatever the socket's owner and
/// permissions say.
public enum UnixSocket {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// The address of `path`; a path too long for one is refused, with `hint` (how to make it shorter).
    public static func address(_ path: String, hint: String = "") throws -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw Failure(description: "socket path too long (\(bytes.count) bytes): \(path)\(hint.isEmpty ? "" : "; \(hint)")")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
        }
        return address
    }

    /// A listening socket at `path` (0600, non-blocking), replacing whatever socket was there: the caller holds
    /// whatever lock makes it the only one to serve this path.
    public static func listen(_ path: String, backlog: Int32 = 64, hint: String = "") throws -> Int32 {
        var address = try address(path, hint: hint)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: \(String(cString: strerror(errno)))") }
        unlink(path)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, chmod(path, 0o600) == 0, Glibc.listen(fd, backlog) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw Failure(description: "cannot listen on \(path): \(reason)")
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        return fd
    }

    /// Connects to `path`: nil when nobody listens there (no socket, or a stale one), or, with `waiting` false,
    /// when the listener has a full backlog (it is stuck: better not to wait for it); throws when the listener is
    /// another user's. The socket returned blocks.
    public static func connect(_ path: String, waiting: Bool = true) throws -> Int32? {
        var address = try address(path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: \(String(cString: strerror(errno)))") }
        if !waiting { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        let status = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard status == 0 else {
            close(fd)
            return nil
        }
        if !waiting { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) }
        let uid = peerUID(fd)
        guard uid == getuid() else {
            close(fd)
            throw Failure(description: "\(path) is served by uid \(uid.map(String.init) ?? "?"), not by you: refusing to talk to it")
        }
        return fd
    }

    /// Accepts a waiting connection from this user (close-on-exec, blocking); nil when none waits. Connections
    /// from other users are closed unanswered.
    public static func acceptOwn(_ listener: Int32) -> Int32? {
        while true {
            let fd = accept(listener, nil, nil)
            if fd < 0 {
                if errno == EINTR { continue }
                return nil
            }
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            if peerUID(fd) == getuid() { return fd }
            close(fd)
        }
    }

    /// The uid of the process at the other end.
    public static func peerUID(_ fd: Int32) -> uid_t? {
        var credentials = PeerCredentials()
        var length = socklen_t(MemoryLayout<PeerCredentials>.size)
        return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0 ? credentials.uid : nil
    }
}

/// struct ucred (SO_PEERCRED), which Glibc exports only with _GNU_SOURCE.
struct PeerCredentials {
    var pid: pid_t = 0
    var uid: uid_t = 0
    var gid: gid_t = 0
}
