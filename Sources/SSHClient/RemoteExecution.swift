import CLibSSH2
import Glibc

extension SSHConnection {
    /// Bytes asked of libssh2 per read. 256 KiB reads with a 2 MiB window came closest to OpenSSH's throughput
    /// (see docs/BENCHMARKS.md): libssh2 grows the window by what each read asks for.
    static let readSize = 256 * 1024
    static let channelWindow: UInt32 = 2 * 1024 * 1024
    static let channelPacket: UInt32 = 32 * 1024

    /// Runs `command` on an exec channel: `stdin` (a descriptor, or nil for none) is forwarded until its end,
    /// stdout and stderr are kept apart, and the command's exit status or signal is returned.
    ///
    /// One loop does it all, as ssh's: it reads the channel until libssh2 has nothing buffered, then waits with
    /// poll() on the socket and stdin together, sending keepalives while the server is silent.
    public func execute(_ command: String, stdin: Int32?, stdout: ByteSink, stderr: ByteSink) throws -> ExitStatus {
        let channel = try retry("opening a channel", deadline: .after(seconds: Double(settings.connectTimeout))) {
            pss_channel_open_session(session, Self.channelWindow, Self.channelPacket)
        }
        defer { _ = try? retry("freeing the channel", deadline: .after(seconds: 1)) { libssh2_channel_free(channel) } }

        let started = try retry("starting the command", deadline: .after(seconds: Double(settings.connectTimeout))) {
            command.withCString { pss_channel_exec(channel, $0, UInt32(strlen($0))) }
        }
        guard started == 0 else { throw failure("starting the command", started) }

        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.readSize, alignment: 16)
        defer { buffer.deallocate() }
        var input = InputForwarder(descriptor: stdin)

        while true {
            var received = false
            for (stream, sink) in [(Int32(0), stdout), (Int32(SSH_EXTENDED_DATA_STDERR), stderr)] {
                let count = libssh2_channel_read_ex(channel, stream, buffer.baseAddress, buffer.count)
                if count > 0 {
                    try sink.write(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
                    received = true
                } else if count < 0 && count != LIBSSH2_ERROR_EAGAIN {
                    throw lost(Int32(count))
                }
            }
            let sent = try input.forward(to: channel, connection: self)
            if received || sent { continue }
            // A read of 0 is not the end: only the channel's EOF is.
            if libssh2_channel_eof(channel) != 0 { break }

            var descriptors = [pollfd(fd: socket.descriptor, events: socketEvents, revents: 0)]
            if let wanted = input.descriptorToWatch {
                descriptors.append(pollfd(fd: wanted, events: Int16(POLLIN), revents: 0))
            }
            let timeout = try keepAlive()
            var ready: Int32
            repeat { ready = poll(&descriptors, nfds_t(descriptors.count), timeout) } while ready < 0 && errno == EINTR
            if descriptors.count > 1, descriptors[1].revents != 0 {
                input.readAvailable()
            }
        }
        return try finish(channel)
    }

    private func finish(_ channel: OpaquePointer) throws -> ExitStatus {
        let deadline = Deadline.after(seconds: Double(settings.connectTimeout))
        try retry("closing the channel", deadline: deadline) { libssh2_channel_close(channel) }
        try retry("closing the channel", deadline: deadline) { libssh2_channel_wait_closed(channel) }

        var signal: UnsafeMutablePointer<CChar>?
        var signalLength = 0
        libssh2_channel_get_exit_signal(channel, &signal, &signalLength, nil, nil, nil, nil)
        if let signal {
            let name = String(cString: signal)
            libssh2_free(session, signal)
            return .signaled(name)
        }
        return .exited(libssh2_channel_get_exit_status(channel))
    }
}

/// Moves local stdin to the channel: reads only when the previous chunk is sent (so a slow remote reader slows
/// the local side, not memory), and sends EOF once stdin ends.
private struct InputForwarder {
    private var descriptor: Int32?
    private var pending: [UInt8] = []
    private var sentOffset = 0
    private var atEnd: Bool
    private var eofSent = false

    init(descriptor: Int32?) {
        self.descriptor = descriptor
        self.atEnd = descriptor == nil
    }

    /// The descriptor to poll, when more input is wanted.
    var descriptorToWatch: Int32? {
        atEnd || sentOffset < pending.count ? nil : descriptor
    }

    mutating func readAvailable() {
        guard let descriptor else { return }
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        let count = read(descriptor, &chunk, chunk.count)
        if count > 0 {
            pending = Array(chunk[0..<count])
            sentOffset = 0
        } else if count == 0 || (errno != EINTR && errno != EAGAIN) {
            atEnd = true
        }
    }

    /// Returns whether anything was sent.
    mutating func forward(to channel: OpaquePointer, connection: SSHConnection) throws -> Bool {
        var progressed = false
        while sentOffset < pending.count {
            let written = pending[sentOffset...].withUnsafeBytes { bytes in
                libssh2_channel_write_ex(channel, 0, bytes.baseAddress, bytes.count)
            }
            if written > 0 {
                sentOffset += written
                progressed = true
            } else if written == LIBSSH2_ERROR_EAGAIN {
                return progressed
            } else {
                // The remote side no longer reads (it closed or exited): drop the rest of stdin, as ssh does.
                pending = []
                sentOffset = 0
                atEnd = true
                break
            }
        }
        if atEnd && !eofSent {
            let status = libssh2_channel_send_eof(channel)
            if status == LIBSSH2_ERROR_EAGAIN { return progressed }
            eofSent = true
        }
        return progressed
    }
}
