import Glibc

extension SSHConnection {
    /// Runs `command` on an exec channel: `stdin` (a descriptor, or nil for none) is forwarded until its end,
    /// stdout and stderr are kept apart, and the command's exit status or signal is returned.
    ///
    /// One loop does it all, as ssh's: it reads the channel until libssh2 has nothing buffered, then waits on the
    /// socket and stdin together, sending keepalives while the server is silent.
    public func execute(_ command: String, stdin: Int32?, stdout: ByteSink, stderr: ByteSink) throws -> ExitStatus {
        try execute(command, input: InputForwarder(descriptor: stdin), stdout: stdout, stderr: stderr)
    }

    /// The same, with `input` as the command's whole stdin.
    public func execute(_ command: String, input: [UInt8], stdout: ByteSink, stderr: ByteSink) throws -> ExitStatus {
        try execute(command, input: InputForwarder(bytes: input), stdout: stdout, stderr: stderr)
    }

    private func execute(_ command: String, input: InputForwarder, stdout: ByteSink, stderr: ByteSink) throws -> ExitStatus {
        let channel = try openExec(command)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.readSize, alignment: 16)
        defer { buffer.deallocate() }
        var input = input

        while true {
            var received = false
            for (stream, sink) in [(SSHChannel.Stream.stdout, stdout), (.stderr, stderr)] {
                let count = try channel.read(stream, into: buffer)
                if count > 0 {
                    try sink.write(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
                    received = true
                }
            }
            let sent = try input.forward(to: channel)
            if received || sent { continue }
            // A read of 0 is not the end: only the channel's EOF is.
            if channel.isAtEnd { break }
            let watched = input.descriptorToWatch.map { [pollfd(fd: $0, events: Int16(POLLIN), revents: 0)] } ?? []
            if let ready = try channel.wait(extra: watched).first, ready.revents != 0 {
                input.readAvailable()
            }
        }
        return try channel.close()
    }
}

/// Moves a local descriptor's bytes to a channel: reads only when the previous chunk is sent (so a slow remote
/// reader slows the local side, not memory), and sends EOF once the descriptor ends.
struct InputForwarder {
    private var descriptor: Int32?
    private var pending: [UInt8] = []
    private var sentOffset = 0
    private var atEnd: Bool
    private var eofSent = false

    init(descriptor: Int32?) {
        self.descriptor = descriptor
        self.atEnd = descriptor == nil
    }

    /// Sends `bytes`, then the end.
    init(bytes: [UInt8]) {
        descriptor = nil
        pending = bytes
        atEnd = true
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
    mutating func forward(to channel: SSHChannel) throws -> Bool {
        var progressed = false
        if sentOffset < pending.count {
            do {
                let written = try pending[sentOffset...].withUnsafeBytes { try channel.write($0) }
                sentOffset += written
                progressed = written > 0
                if sentOffset < pending.count { return progressed }
            } catch is SSHChannel.ChannelClosed {
                // The remote side no longer reads (it closed or exited): drop the rest of stdin, as ssh does.
                pending = []
                sentOffset = 0
                atEnd = true
            }
        }
        if atEnd && !eofSent {
            guard channel.sendEOF() else { return progressed }
            eofSent = true
        }
        return progressed
    }
}
