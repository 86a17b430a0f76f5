import Glibc

/// pss's own output (tables, JSON lines, messages), written whole; a reader that went away (`pss get | head -1`)
/// ends pss as it would `cat`, with 128+SIGPIPE, never a crash; another write error (a full disk) says so, exit 1.
enum Terminal {
    static func write(_ text: String, to descriptor: Int32 = STDOUT_FILENO) {
        write(Array(text.utf8), to: descriptor)
    }

    static func write(_ whole: [UInt8], to descriptor: Int32) {
        var bytes = whole[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if written > 0 { bytes = bytes.dropFirst(written); continue }
            if written < 0 && errno == EINTR { continue }
            if written < 0 && errno == EAGAIN {  // a descriptor another program left non-blocking
                var ready = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
                _ = poll(&ready, 1, -1)
                continue
            }
            guard descriptor == STDOUT_FILENO else { return }  // stderr gone: nothing left to tell
            // _exit: other threads (a fan-out's) may be inside OpenSSL, whose exit handlers must not run under them.
            if errno == EPIPE { _exit(128 + SIGPIPE) }
            let reason = String(cString: strerror(errno))
            Terminal.write("pss: cannot write to stdout: \(reason)\n", to: STDERR_FILENO)
            exit(1)
        }
    }
}
