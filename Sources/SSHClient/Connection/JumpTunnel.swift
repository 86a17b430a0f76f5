import CLibSSH2
import Glibc

/// The way to a host through a jump host (ProxyJump), as `ssh -J` makes it: a direct-tcpip channel on the jump
/// host's connection, carried to one end of a local socket pair, over whose other end the next connection runs its
/// own SSH (its own key exchange, host key check and authentication: the jump host sees only ciphertext).
///
/// The jump host's connection is handed to a thread of its own, which alone calls libssh2 on it from then on (one
/// owner per session) and keeps it alive; it ends, closing its end of the pair, when either side ends, and the
/// socket's owner waits for it when it lets the socket go.
public enum JumpTunnel {
    /// Opens the channel to `host`:`port` as the jump host sees them, and returns the socket to run SSH over.
    /// `hop` must not be used by the caller afterwards.
    public static func open(through hop: SSHConnection, to host: String, port: Int) throws -> ConnectionSocket {
        let deadline = Deadline.after(seconds: Double(hop.settings.connectTimeout))
        let pointer: OpaquePointer
        do {
            pointer = try hop.retry("opening a channel to \(host) port \(port)", deadline: deadline) {
                libssh2_channel_direct_tcpip_ex(hop.session, host, Int32(port), "127.0.0.1", 22)
            }
        } catch let error as SSHError {
            throw SSHError.connect(
                host: host, port: port,
                reason: "the jump host \(hop.settings.alias) could not open a connection to it (\(hop.lastErrorMessage())): \(error)")
        }
        let channel = SSHChannel(connection: hop, pointer: pointer)
        var ends: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &ends) == 0 else {
            throw SSHError.connect(host: host, port: port, reason: "socketpair: \(String(cString: strerror(errno)))")
        }
        for end in ends { _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK) }
        guard let thread = ChannelPump(channel: channel, descriptor: ends[1]).startThread() else {
            close(ends[0])
            close(ends[1])
            throw SSHError.connect(host: host, port: port, reason: "cannot start the jump host's thread")
        }
        return ConnectionSocket(descriptor: ends[0], pump: thread)
    }
}
