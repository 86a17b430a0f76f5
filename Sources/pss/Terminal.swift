import Glibc

/// pss's own output (tables, JSON lines, messages), written whole; a reader that went away (`pss get | head -1`)
/// ends pss as it would `cat`, with 128+SIGPIPE, never a crash.
enum Terminal {
    static func write(_ text: String, to descriptor: Int32 = STDOUT_FILENO) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if written > 0 { bytes = bytes.dropFirst(written); continue }
            if written < 0 && errno == EINTR { continue }
            if descriptor == STDOUT_FILENO { exit(128 + SIGPIPE) }
            return  // stderr gone: nothing left to tell
        }
    }
}
