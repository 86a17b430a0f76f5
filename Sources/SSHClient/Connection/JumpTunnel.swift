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
        let pump = Pump(hop: hop, channel: channel, descriptor: ends[1])
        guard let thread = JoinableThread.start({ pump.run() }) else {
            close(ends[0])
            close(ends[1])
            throw SSHError.connect(host: host, port: port, reason: "cannot start the jump host's thread")
        }
        return ConnectionSocket(descriptor: ends[0], pump: thread)
    }

    /// Moves bytes between the channel and the pair until either ends; owns the jump host's connection.
    private final class Pump: @unchecked Sendable {
        let hop: SSHConnection
        let channel: SSHChannel
        let descriptor: Int32
        /// Bounded each way: a side that stops reading holds up the other, not memory.
        static let limit = 1 << 20

        init(hop: SSHConnection, channel: SSHChannel, descriptor: Int32) {
            self.hop = hop
            self.channel = channel
            self.descriptor = descriptor
        }

        func run() {
            defer { close(descriptor) }
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
            defer { buffer.deallocate() }
            var toChannel: [UInt8] = [], toPair: [UInt8] = []
            var pairEnded = false
            var channelTakesNoMore = false
            do {
                while true {
                    var moved = false
                    if !channelTakesNoMore, toChannel.count < Self.limit {
                        let count = Glibc.read(descriptor, buffer.baseAddress, buffer.count)
                        if count > 0 {
                            toChannel += UnsafeRawBufferPointer(rebasing: buffer[0..<count])
                            moved = true
                        } else if count == 0 || (errno != EAGAIN && errno != EINTR) {
                            pairEnded = true
                        }
                    }
                    if !toChannel.isEmpty {
                        do {
                            let written = try toChannel.withUnsafeBytes { try channel.write($0) }
                            if written > 0 {
                                toChannel.removeFirst(written)
                                moved = true
                            }
                        } catch is SSHChannel.ChannelClosed {
                            // The target closed: what it sent last still goes to the pair (its disconnect reason).
                            channelTakesNoMore = true
                            toChannel = []
                        }
                    }
                    // The connection over the pair is gone: nothing it left unsent matters any more.
                    if pairEnded {
                        _ = channel.sendEOF()
                        return
                    }
                    if toPair.count < Self.limit {
                        let count = try channel.read(.stdout, into: buffer)
                        if count > 0 {
                            toPair += UnsafeRawBufferPointer(rebasing: buffer[0..<count])
                            moved = true
                        }
                    }
                    if !toPair.isEmpty {
                        let written = toPair.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
                        if written > 0 {
                            toPair.removeFirst(written)
                            moved = true
                        } else if written < 0, errno != EAGAIN, errno != EINTR {
                            return
                        }
                    }
                    if channel.isAtEnd && toPair.isEmpty { return }
                    if moved { continue }
                    var events = Int16(0)
                    if !channelTakesNoMore && toChannel.count < Self.limit { events |= Int16(POLLIN) }
                    if !toPair.isEmpty { events |= Int16(POLLOUT) }
                    _ = try channel.wait(extra: [pollfd(fd: descriptor, events: events, revents: 0)])
                }
            } catch {
                // The jump host's connection failed: the pair closes, and the connection over it sees it lost.
            }
        }
    }
}
