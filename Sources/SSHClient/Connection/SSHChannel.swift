import CLibSSH2
import Glibc

/// An open channel on a connection: an exec'd command whose stdin, stdout and stderr are byte streams. Calls never
/// block; `wait` blocks until the connection or one of the caller's descriptors is ready.
public final class SSHChannel {
    let connection: SSHConnection
    let pointer: OpaquePointer
    private var freed = false
    /// Set when `wait` returned at once for buffered input, cleared when a read returns data: until then buffered
    /// input does not end a wait, so input no read takes (an extended data type other than stderr, from a hostile
    /// server) cannot make the caller spin.
    fileprivate var skipBufferedCheckUntilRead = false
    /// Why the last write took less than it was given, for the next `wait`; nil when it took everything.
    fileprivate var writeBlocked: WriteBlock?

    /// A window that was full may open while the caller reads (any libssh2 call on the connection takes in the
    /// peer's window adjustments), and then nothing more arrives on the socket to wake a wait: the writer would
    /// wait forever for a window it already has. A full socket needs POLLOUT, which a read in between forgets.
    fileprivate enum WriteBlock { case window, socket }

    init(connection: SSHConnection, pointer: OpaquePointer) {
        self.connection = connection
        self.pointer = pointer
    }

    deinit {
        if !freed {
            let deadline = connection.isBroken ? Deadline.now : .after(seconds: 1)
            _ = try? connection.retry("freeing a channel", deadline: deadline) { libssh2_channel_free(pointer) }
        }
    }

    public enum Stream: Int32 { case stdout = 0, stderr = 1 }

    /// Reads what is buffered for `stream`: the byte count, 0 when nothing is there now (not the end: see
    /// `isAtEnd`).
    public func read(_ stream: Stream, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let count = libssh2_channel_read_ex(pointer, stream.rawValue, buffer.baseAddress, buffer.count)
        if count > 0 { skipBufferedCheckUntilRead = false }
        if count >= 0 { return count }
        if count == LIBSSH2_ERROR_EAGAIN { return 0 }
        throw connection.lost(Int32(count))
    }

    /// Writes what the channel takes now: the byte count, 0 when its window or the socket is full.
    /// Throws `ChannelClosed` when the remote side no longer reads.
    ///
    /// libssh2 1.10 sends at most one packet a call and says so only by a short count, not EAGAIN: this keeps
    /// calling until it takes nothing, so that a caller who waits after a short write waits for a real reason.
    public func write(_ bytes: UnsafeRawBufferPointer) throws -> Int {
        var total = 0
        writeBlocked = nil
        while total < bytes.count {
            let written = libssh2_channel_write_ex(pointer, 0, bytes.baseAddress! + total, bytes.count - total)
            if written > 0 { total += written; continue }
            if written == 0 || written == LIBSSH2_ERROR_EAGAIN {
                let outbound = libssh2_session_block_directions(connection.session) & LIBSSH2_SESSION_BLOCK_OUTBOUND != 0
                // A full socket, or a full window; neither (a key re-exchange under way): an ordinary wait.
                writeBlocked = outbound ? .socket : writeWindow == 0 ? .window : nil
                break
            }
            if total > 0 { break }  // report what went; the error comes back on the next call
            if written == LIBSSH2_ERROR_CHANNEL_EOF_SENT || written == LIBSSH2_ERROR_CHANNEL_CLOSED { throw ChannelClosed() }
            throw connection.lost(Int32(written))
        }
        return total
    }

    /// Bytes the peer's window takes now.
    fileprivate var writeWindow: UInt {
        var initial: UInt = 0
        return UInt(libssh2_channel_window_write_ex(pointer, &initial))
    }

    public struct ChannelClosed: Error {}

    /// Writes all of `bytes`, waiting as needed. Throws `ChannelClosed` when the remote side has ended (its
    /// command exited: the window it no longer opens would otherwise be waited for forever).
    public func writeAll(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let written = try bytes[offset...].withUnsafeBytes { try write($0) }
            offset += written
            if written == 0 {
                if isAtEnd { throw ChannelClosed() }
                _ = try waitOnSocket()
            }
        }
    }

    /// Sends EOF on stdin; false while it cannot be sent yet.
    public func sendEOF() -> Bool {
        libssh2_channel_send_eof(pointer) != LIBSSH2_ERROR_EAGAIN
    }

    /// Sends EOF on stdin, waiting as needed.
    public func sendEOFWaiting() throws {
        while !sendEOF() { _ = try waitOnSocket() }
    }

    /// The remote side sent EOF: nothing more will arrive once the buffers are read.
    public var isAtEnd: Bool { libssh2_channel_eof(pointer) != 0 }

    /// Data libssh2 has already taken in for this channel, on either stream. A read of one stream, or a write,
    /// takes in whatever the socket holds for both: data that came in that way never wakes a poll of the socket.
    /// (libssh2_poll_channel_read would say no whenever a packet shorter than 5 bytes, such as a keepalive's
    /// answer, waits in the queue before the data.)
    var hasBufferedInput: Bool {
        var queued: UInt = 0
        _ = libssh2_channel_window_read_ex(pointer, &queued, nil)
        return queued > 0
    }

    /// Waits until the channel has something to read, the connection can take more, or one of `extra` is ready;
    /// returns `extra` with their `revents`. Returns at once when input is already buffered (a caller reads both
    /// streams, then waits: what the second read took in for the first would otherwise wait for the next packet,
    /// a keepalive away). Keeps the connection alive meanwhile, and throws if the server stops answering.
    public func wait(extra: [pollfd] = [], timeout: Int32 = -1) throws -> [pollfd] {
        try connection.wait(for: [self], extra: extra, timeout: timeout)
    }

    /// The wait itself, for writers: buffered input does not end it (a writer waits for the window or the socket,
    /// and would spin on input it does not read).
    private func waitOnSocket() throws {
        _ = try connection.waitOnSocket(extra: [], timeout: -1, keepAliveLimit: nil)
    }

    /// Closes the channel and returns how the remote command ended.
    public func close() throws -> ExitStatus {
        // A dead connection has nothing to say: waiting for its close would only add ConnectTimeout to the failure.
        if connection.isBroken { throw SSHError.connectionLost(host: connection.settings.alias, message: "closing the channel") }
        let deadline = Deadline.after(seconds: Double(connection.settings.connectTimeout))
        try connection.retry("closing the channel", deadline: deadline) { libssh2_channel_close(pointer) }
        try connection.retry("closing the channel", deadline: deadline) { libssh2_channel_wait_closed(pointer) }
        var signal: UnsafeMutablePointer<CChar>?
        var signalLength = 0
        libssh2_channel_get_exit_signal(pointer, &signal, &signalLength, nil, nil, nil, nil)
        if let signal {
            let name = String(cString: signal)
            libssh2_free(connection.session, signal)
            return .signaled(name)
        }
        return .exited(libssh2_channel_get_exit_status(pointer))
    }
}

extension SSHConnection {
    /// Waits as `SSHChannel.wait` does, for any of `channels` (this connection's): for one process that moves
    /// several channels' bytes on one thread (the connection keeper).
    public func wait(for channels: [SSHChannel], extra: [pollfd] = [], timeout: Int32 = -1) throws -> [pollfd] {
        // libssh2 1.10 takes a packet sent while another is half out for sent with it, and the caller sends its
        // own again (libssh2 #1431): while a channel's write is half out, no keepalive goes before it.
        let halfSent = channels.contains { $0.writeBlocked == .socket }
        // A keepalive sent now may take in packets too (during a key re-exchange): before the look at the buffers.
        let keepAliveLimit = halfSent ? 1000 : try keepAlive()
        var ready = false
        var writable = false
        for channel in channels {
            if channel.hasBufferedInput && !channel.skipBufferedCheckUntilRead {
                channel.skipBufferedCheckUntilRead = true
                ready = true
            }
            // A short write counts for the next wait only: a caller with more to write writes before each wait.
            switch channel.writeBlocked {
            case .window? where channel.writeWindow > 0: ready = true
            case .socket?: writable = true
            default: break
            }
            channel.writeBlocked = nil
        }
        return try waitOnSocket(extra: extra, timeout: ready ? 0 : timeout, keepAliveLimit: keepAliveLimit, writable: writable)
    }

    fileprivate func waitOnSocket(extra: [pollfd], timeout: Int32, keepAliveLimit: Int32?, writable: Bool = false) throws -> [pollfd] {
        let events = socketEvents | (writable ? Int16(POLLOUT) : 0)
        var descriptors = [pollfd(fd: socket.descriptor, events: events, revents: 0)] + extra
        var limit = try keepAliveLimit ?? keepAlive()
        if timeout >= 0 { limit = limit < 0 ? timeout : min(limit, timeout) }
        var ready: Int32
        repeat { ready = poll(&descriptors, nfds_t(descriptors.count), limit) } while ready < 0 && errno == EINTR
        return Array(descriptors.dropFirst())
    }

    /// Bytes asked of libssh2 per read, and the channel's receive window. 256 KiB reads came closest to OpenSSH's
    /// throughput (see docs/BENCHMARKS.md); through the session daemon, a 4 MiB window beat 2 MiB by 7-10% on
    /// 200 MB downloads and receives (8 MiB: no better; 16 MiB: slower on a raw channel).
    public static let readSize = 256 * 1024
    static let channelWindow: UInt32 = 4 * 1024 * 1024
    static let channelPacket: UInt32 = 32 * 1024

    /// Starts `command` on a new exec channel.
    public func openExec(_ command: String) throws -> SSHChannel {
        let deadline = Deadline.after(seconds: Double(settings.connectTimeout))
        let pointer = try retry("opening a channel", deadline: deadline) {
            pss_channel_open_session(session, Self.channelWindow, Self.channelPacket)
        }
        let channel = SSHChannel(connection: self, pointer: pointer)
        let started = try retry("starting the command", deadline: deadline) {
            command.withCString { pss_channel_exec(pointer, $0, UInt32(strlen($0))) }
        }
        guard started == 0 else { throw failure("starting the command", started) }
        return channel
    }
}
