import Glibc
import SessionWire

/// One stream of a command (stdout or stderr): the pipe the command writes, and the spool file the daemon appends
/// to. Offsets count bytes from the stream's start; a client is sent the spool from its offset on.
final class OutputSpool {
    let stream: HostMessage.Stream
    let file: Int32
    var pipe: Int32
    private(set) var written: UInt64 = 0
    var sent: UInt64 = 0

    init(stream: HostMessage.Stream, path: String, pipe: Int32) throws {
        self.stream = stream
        self.pipe = pipe
        file = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        try Posix.check(file, "create \(path)")
        Posix.setNonBlocking(pipe)
    }

    var isOpen: Bool { pipe >= 0 }

    /// Moves what the pipe holds into the spool, up to `limit` bytes; closes the pipe at its end. When `deliver`
    /// is given and every earlier byte has been sent, each chunk is also handed to it as it is read, and counts as
    /// sent if it returns true: a client that keeps up gets output without a read back from the spool.
    @discardableResult
    func drain(using buffer: inout [UInt8], limit: Int = 1 << 20,
               deliver: ((HostMessage.Stream, UInt64, ArraySlice<UInt8>) -> Bool)? = nil) -> Int {
        var moved = 0
        while pipe >= 0, moved < limit {
            let count = read(pipe, &buffer, buffer.count)
            if count > 0 {
                let chunk = buffer[0..<count]
                _ = chunk.withUnsafeBytes { Posix.writeAll(file, $0) }
                if let deliver, sent == written, deliver(stream, written, chunk) { sent += UInt64(count) }
                written += UInt64(count)
                moved += count
            } else if count == 0 || (errno != EAGAIN && errno != EINTR) {
                close(pipe)
                pipe = -1
            } else if errno == EAGAIN {
                break
            }
        }
        return moved
    }

    /// The next chunk not yet sent, read back from the spool.
    func nextChunk(maximum: Int) -> (offset: UInt64, bytes: [UInt8])? {
        guard sent < written else { return nil }
        let count = Int(min(UInt64(maximum), written - sent))
        var bytes = [UInt8](repeating: 0, count: count)
        let got = pread(file, &bytes, count, off_t(sent))
        guard got > 0 else { return nil }
        defer { sent += UInt64(got) }
        return (sent, Array(bytes[0..<got]))
    }

    func closeAll() {
        if pipe >= 0 { close(pipe); pipe = -1 }
        close(file)
    }
}

/// One invoked command in a session.
final class CommandRun {
    let number: Int
    let command: String
    let outputs: [OutputSpool]
    /// Where the daemon writes the client's stdin; -1 when stdin is not forwarded or has ended.
    var stdinPipe: Int32
    var stdinPending: [UInt8] = []
    var stdinEnded = false
    /// The shell's ends of the pipes, held until the shell has opened them (its "started" notice).
    var shellEnds: [Int32]
    var result: HostMessage?
    weak var link: ClientLink?

    init(number: Int, command: String, outputs: [OutputSpool], stdinPipe: Int32, shellEnds: [Int32], link: ClientLink) {
        self.number = number
        self.command = command
        self.outputs = outputs
        self.stdinPipe = stdinPipe
        self.shellEnds = shellEnds
        self.link = link
        if stdinPipe >= 0 { Posix.setNonBlocking(stdinPipe) }
    }

    func releaseShellEnds() {
        shellEnds.forEach { Glibc.close($0) }
        shellEnds = []
    }

    /// Lets go of every descriptor of the run (the session is closing, or the command could not start).
    func close() {
        outputs.forEach { $0.closeAll() }
        releaseShellEnds()
        if stdinPipe >= 0 { Glibc.close(stdinPipe); stdinPipe = -1 }
    }

    /// Writes pending stdin; closes the pipe once stdin has ended and all of it is written.
    func flushStdin() {
        guard stdinPipe >= 0 else { stdinPending = []; return }
        while !stdinPending.isEmpty {
            let written = stdinPending.withUnsafeBytes { write(stdinPipe, $0.baseAddress!, $0.count) }
            if written > 0 {
                stdinPending.removeFirst(written)
            } else if written < 0 && (errno == EAGAIN || errno == EINTR) {
                return
            } else {
                // The command closed its stdin: what remains cannot be delivered.
                stdinPending = []
                stdinEnded = true
            }
        }
        if stdinEnded { Glibc.close(stdinPipe); stdinPipe = -1 }
    }

    /// Every byte produced so far has been sent.
    var isFullySent: Bool { outputs.allSatisfy { $0.sent == $0.written } }
}
