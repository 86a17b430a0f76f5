import Glibc
import SessionWire

/// One stream of a command (stdout or stderr): the pipe the command writes, and the spool file the daemon appends
/// to. Offsets count bytes from the stream's start. Three marks move along it: `written` (spooled), `sent` (the
/// cursor of the client streaming it now) and `acked` (what a client confirmed it has: block buffering waits on it,
/// and a new receiver starts there). With drop buffering, everything before `droppedUntil` is gone.
final class OutputSpool {
    let stream: HostMessage.Stream
    let path: String
    /// Opened while needed: a finished command kept as a job holds no descriptor.
    private var file: Int32 = -1
    var pipe: Int32
    private(set) var written: UInt64 = 0
    var sent: UInt64 = 0
    var acked: UInt64 = 0
    private(set) var droppedUntil: UInt64 = 0
    /// Acknowledged output whose disk blocks were freed: a receiver never starts before `acked`, so it is never read.
    private var releasedUntil: UInt64 = 0

    init(stream: HostMessage.Stream, path: String, pipe: Int32) throws {
        self.stream = stream
        self.path = path
        self.pipe = pipe
        file = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        try Posix.check(file, "create \(path)")
        Posix.setNonBlocking(pipe)
    }

    /// A spool left by an earlier daemon: its file is all there is.
    init(loading stream: HostMessage.Stream, path: String, acked: UInt64, droppedUntil: UInt64) {
        self.stream = stream
        self.path = path
        pipe = -1
        var info = stat()
        written = stat(path, &info) == 0 ? UInt64(info.st_size) : 0
        self.acked = min(acked, written)
        self.droppedUntil = min(droppedUntil, written)
        sent = self.acked
    }

    var isOpen: Bool { pipe >= 0 }
    var unacknowledged: UInt64 { written - max(acked, droppedUntil) }

    private func openFile() -> Int32 {
        if file < 0 { file = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0o600) }
        return file
    }

    /// Moves what the pipe holds into the spool, up to `limit` bytes; closes the pipe at its end. When `deliver`
    /// is given and every earlier byte has been sent, each chunk is also handed to it as it is read, and counts as
    /// sent if it returns true: a client that keeps up gets output without a read back from the spool.
    @discardableResult
    func drain(using buffer: inout [UInt8], limit: Int = 1 << 20,
               deliver: ((HostMessage.Stream, UInt64, ArraySlice<UInt8>) -> Bool)? = nil) -> Int {
        var moved = 0
        while pipe >= 0, moved < limit {
            let count = read(pipe, &buffer, min(buffer.count, limit - moved))
            if count > 0 {
                let chunk = buffer[0..<count]
                let fd = openFile()
                _ = chunk.withUnsafeBytes { Posix.writeAll(fd, $0) }
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

    /// Drop buffering: lets go of the oldest output beyond `keep` bytes (the disk blocks are freed; offsets stay).
    func dropOldest(keeping keep: UInt64) {
        guard written > keep, written - keep > droppedUntil else { return }
        let until = written - keep
        punchHole(from: droppedUntil, to: until)
        droppedUntil = until
    }

    /// Frees the blocks of output acknowledged and already sent, in whole pages, so a long stream a client keeps up
    /// with occupies a few MiB of page cache, not its length, and never has to be written back to the disk.
    func releaseAcknowledged() {
        let until = min(acked, sent) & ~4095
        guard until > releasedUntil else { return }
        punchHole(from: releasedUntil, to: until)
        releasedUntil = until
    }

    /// Frees the disk blocks of a range; the file keeps its size, and reading the range gives zeros.
    private func punchHole(from start: UInt64, to end: UInt64) {
        _ = glibcFallocate(openFile(), 0x01 | 0x02 /* FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE */,
                           off_t(start), off_t(end - start))
    }

    /// The next chunk not yet sent, read back from the spool into `buffer` (reused: no allocation per chunk). A
    /// cursor in dropped output must first be moved past it (`skipDropped`).
    func nextChunk(into buffer: inout [UInt8]) -> (offset: UInt64, bytes: ArraySlice<UInt8>)? {
        guard sent < written, sent >= droppedUntil else { return nil }
        let count = Int(min(UInt64(buffer.count), written - sent))
        let got = buffer.withUnsafeMutableBytes { pread(openFile(), $0.baseAddress!, count, off_t(sent)) }
        guard got > 0 else { return nil }
        defer { sent += UInt64(got) }
        return (sent, buffer[0..<got])
    }

    /// Moves the cursor past dropped output; returns the range skipped, if any.
    func skipDropped() -> (from: UInt64, to: UInt64)? {
        guard sent < droppedUntil else { return nil }
        defer { sent = droppedUntil }
        return (sent, droppedUntil)
    }

    func closeFile() {
        if file >= 0 { close(file); file = -1 }
    }

    func closeAll() {
        if pipe >= 0 { close(pipe); pipe = -1 }
        closeFile()
    }
}
