import Glibc
import SessionWire

/// One client connection to the daemon (a `pss-host relay` carrying an SSH channel): frames in, frames out.
final class ClientLink {
    /// The relay's socket: it carries the channel's descriptors, then only tells, by closing, that the relay is gone.
    let control: Int32
    /// The SSH channel's pipes, passed by the relay: frames come in on `input` and go out on `output`.
    private(set) var input: Int32 = -1
    private(set) var output: Int32 = -1
    var decoder = FrameDecoder()
    /// What waits for the pipe, in order (usually nothing, or one frame's rest).
    private var queue: [Pending] = []
    private(set) var pendingOutput = 0
    /// The channel's pipe can be spliced into (sshd's is a pipe; another server's may be a socket).
    private var splices = OutputSpool.splicesOutput
    /// Set by the client's hello.
    var clientID: String?
    /// Who acts through this link, as its relay says: the daemon's own user, or for a runAs configuration, the user
    /// sudo let in (empty until the descriptors have come).
    private(set) var user = ""
    /// The command whose output this link streams, if any.
    weak var attached: CommandRun?
    /// The session whose terminal this link is entered in (`pss enter`), if any.
    weak var entered: HostedSession?
    var isClosed = false

    /// Whether everything written to the client has left the link's pipe or socket (nothing spliced still sits
    /// there as references to a spool's pages).
    var outputIsDrained: Bool {
        guard output >= 0 else { return true }
        guard pendingOutput == 0 else { return false }
        var info = stat()
        guard fstat(output, &info) == 0 else { return false }
        var queued: Int32 = 0
        switch info.st_mode & S_IFMT {
        case S_IFIFO: return ioctl(output, UInt(FIONREAD), &queued) == 0 && queued == 0
        case S_IFSOCK: return ioctl(output, UInt(TIOCOUTQ), &queued) == 0 && queued == 0
        default: return false
        }
    }

    init(control: Int32) {
        self.control = control
        Posix.setNonBlocking(control)
    }

    var isReady: Bool { input >= 0 }

    /// Takes the channel's descriptors from the relay; false until they have arrived.
    func adoptDescriptors() -> Bool {
        guard let (passed, words) = DescriptorPassing.receive(from: control) else { return false }
        guard passed.count == 2 else { passed.forEach { Glibc.close($0) }; isClosed = true; return false }
        input = passed[0]
        output = passed[1]
        user = words.isEmpty ? Posix.userName : String(decoding: words, as: UTF8.self)
        Posix.setNonBlocking(input)
        Posix.setNonBlocking(output)
        // sshd's pipes hold 64 KiB; a larger pipe takes whole output frames in one write.
        for fd in [input, output] { Posix.setPipeSize(fd, 1 << 20) }
        return true
    }

    func close() {
        [input, output, control].filter { $0 >= 0 }.forEach { Glibc.close($0) }
        for case let .spooled(file, _, _, _) in queue { Glibc.close(file) }
        queue = []
    }

    /// Output waiting for the pipe: bytes, or a range of a spool file, spliced from the page cache into the pipe
    /// without passing through the daemon's memory (the spool keeps the file at stream offsets, and frees its
    /// blocks so that a pipe still holding them keeps their bytes: `OutputSpool.freeingUnit`).
    private enum Pending {
        case bytes([UInt8], from: Int)
        /// A descriptor of its own (dup): the spool may close or remove its file before the frame is out.
        case spooled(file: Int32, from: UInt64, count: Int, spool: ObjectIdentifier)
    }

    /// Queues a message, written at once when nothing waits before it.
    func send(_ message: HostMessage) {
        queueBytes(message.encoded())
    }

    /// Queues `count` bytes of a command's output from its spool file, where they already are (file position is
    /// stream offset): the frame's header is written, and the bytes are spliced from the file into the pipe.
    func sendOutput(from spool: OutputSpool, offset: UInt64, count: Int) {
        queueBytes(HostMessage.outputFrameHeader(spool.stream, offset: offset, count: count))
        guard !isClosed else { return }
        let moved = queue.isEmpty ? splice(spool.file, from: offset, count: count) : 0
        guard moved < count, !isClosed else { return }
        let copy = fcntl(spool.file, F_DUPFD_CLOEXEC, 0)  // never inherited by a shell or command started meanwhile
        guard copy >= 0 else { isClosed = true; return }  // a frame cut short: the link cannot go on
        queue.append(.spooled(file: copy, from: offset + UInt64(moved), count: count - moved, spool: ObjectIdentifier(spool)))
        pendingOutput += count - moved
    }

    /// Reads into memory the output of `spool` below `end` that waits here to be spliced: the spool is about to
    /// free those blocks (acknowledged by another client, or dropped), and this link's client has not had them.
    func keepInMemory(outputOf spool: OutputSpool, below end: UInt64) {
        for index in queue.indices {
            guard case let .spooled(file, from, count, source) = queue[index], source == ObjectIdentifier(spool), from < end else { continue }
            var bytes = [UInt8](repeating: 0, count: count)
            let got = bytes.withUnsafeMutableBytes { pread(file, $0.baseAddress!, count, off_t(from)) }
            Glibc.close(file)
            queue[index] = .bytes(bytes, from: 0)
            if got != count { isClosed = true }  // the frame cannot be completed
        }
    }

    private func queueBytes(_ frame: [UInt8]) {
        guard isReady, !isClosed else {
            queue.append(.bytes(frame, from: 0))
            pendingOutput += frame.count
            return
        }
        let written = queue.isEmpty ? write(frame[...]) : 0
        guard written < frame.count else { return }
        queue.append(.bytes(frame, from: written))
        pendingOutput += frame.count - written
    }

    /// Writes what the pipe takes now.
    func flush() {
        while !queue.isEmpty && !isClosed {
            switch queue[0] {
            case let .bytes(bytes, from):
                let written = write(bytes[from...])
                pendingOutput -= written
                guard from + written == bytes.count else {
                    queue[0] = .bytes(bytes, from: from + written)
                    return
                }
            case let .spooled(file, from, count, spool):
                let moved = splice(file, from: from, count: count)
                pendingOutput -= moved
                guard moved == count else {
                    queue[0] = .spooled(file: file, from: from + UInt64(moved), count: count - moved, spool: spool)
                    return
                }
                Glibc.close(file)
            }
            queue.removeFirst()
        }
    }

    /// Writes what the pipe takes of `bytes` now.
    private func write(_ bytes: ArraySlice<UInt8>) -> Int {
        var total = 0
        while total < bytes.count {
            let written = bytes[(bytes.startIndex + total)...].withUnsafeBytes { Glibc.write(output, $0.baseAddress!, $0.count) }
            if written > 0 { total += written; continue }
            if written < 0 && errno == EINTR { continue }
            if written < 0 && errno != EAGAIN { isClosed = true }
            break
        }
        return total
    }

    /// Moves what the pipe takes now of `count` bytes of `file` from `offset`; copies them through memory where
    /// the pipe is not one (splice refuses). A file that ends before them closes the link: the frame announced
    /// them, and the stream cannot go on.
    private func splice(_ file: Int32, from offset: UInt64, count: Int) -> Int {
        var total = 0
        while total < count {
            var position = Int64(offset) + Int64(total)
            let moved: Int
            if splices {
                moved = glibcSplice(file, &position, output, nil, count - total, spliceNonBlocking)
                if moved < 0 && (errno == EINVAL || errno == ENOSYS) { splices = false; continue }
            } else {
                moved = copyThroughMemory(file, from: position, count: count - total)
            }
            if moved > 0 { total += moved; continue }
            if moved < 0 && errno == EINTR { continue }
            if moved == 0 || errno != EAGAIN { isClosed = true }
            break
        }
        return total
    }

    /// As splice returns: the bytes written, 0 at the file's end, -1 with errno (EAGAIN: the pipe is full).
    private func copyThroughMemory(_ file: Int32, from position: Int64, count: Int) -> Int {
        var chunk = [UInt8](repeating: 0, count: min(count, 64 * 1024))
        let got = chunk.withUnsafeMutableBytes { pread(file, $0.baseAddress!, $0.count, off_t(position)) }
        guard got > 0 else { return got }
        let written = write(chunk[0..<got])
        if written == 0 { errno = isClosed ? EPIPE : EAGAIN; return -1 }
        return written
    }

    /// Reads what the socket has; returns false at its end.
    func receive(using buffer: inout [UInt8]) -> Bool {
        let count = read(input, &buffer, buffer.count)
        if count > 0 { decoder.append(buffer[0..<count]); return true }
        if count < 0 && (errno == EAGAIN || errno == EINTR) { return true }
        return false
    }

    /// Waits (briefly, blocking) for pending output to leave, before the link is closed.
    func flushBeforeClose() {
        for _ in 0..<100 where pendingOutput > 0 && !isClosed {
            flush()
            var descriptor = pollfd(fd: output, events: Int16(POLLOUT), revents: 0)
            _ = poll(&descriptor, 1, 50)
        }
    }
}
