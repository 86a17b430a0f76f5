import Glibc
import SSHClient

/// One input for many targets (a fan-out's stdin), as clush forwards it: read once, as it comes, into an unlinked
/// file, and fed to each target from its own offset through a pipe of its own, so a target the throttle starts late
/// still gets all of it. Reading waits while the file is `lead` bytes ahead of the slowest target being fed (an
/// endless input nobody reads, `yes |`, fills nothing); a stdin that is a regular file is read in place.
///
/// An input that cannot be kept whole (a read error, a full disk) is never ended as if it were complete: each
/// target being fed is told (`cutShort`), and pss interrupts its command instead of giving it end of file.
public final class SharedInput: @unchecked Sendable {
    /// The file the targets read, and where the input starts in it (a regular stdin's current offset).
    private let file: Int32
    private let start: Int64
    private let lock = Lock()
    private var written: Int64 = 0
    private var finished = false
    private var failure: String?
    /// The offset each target being fed has reached, by feeder.
    private var offsets: [Int: Int64] = [:]
    private var nextFeeder = 0

    static let lead: Int64 = 64 << 20

    /// Why the input was cut short, if it was.
    public var cutShort: String? { lock.withLock { failure } }

    /// Starts reading `source` (until its end) on a thread of its own, unless it is a regular file.
    public init(source: Int32) throws {
        var info = stat()
        if fstat(source, &info) == 0, info.st_mode & S_IFMT == S_IFREG {
            file = source
            start = min(max(0, Int64(lseek(source, 0, SEEK_CUR))), Int64(info.st_size))
            written = Int64(info.st_size) - start
            finished = true
            return
        }
        file = Self.unlinkedFile()
        start = 0
        guard file >= 0 else { throw SessionError.local("cannot keep stdin for several targets: \(String(cString: strerror(errno)))") }
        // Never joined: it ends with stdin, or with pss.
        guard let reader = JoinableThread.start(stackSize: 256 << 10, { [self] in readSource(source) }) else {
            throw SessionError.local("cannot start a thread to read stdin")
        }
        pthread_detach(reader)
    }

    /// A file in $TMPDIR (else /tmp) that no name leads to.
    private static func unlinkedFile() -> Int32 {
        let given = getenv("TMPDIR").map { String(cString: $0) } ?? ""
        let directory = given.hasPrefix("/") ? given : "/tmp"
        var template = Array((directory + "/pss-stdin.XXXXXX").utf8CString)
        let made = mkstemp(&template)
        guard made >= 0 else { return -1 }
        unlink(template)
        _ = fcntl(made, F_SETFD, FD_CLOEXEC)
        return made
    }

    private func readSource(_ source: Int32) {
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        var problem: String?
        while problem == nil {
            // Not further ahead of the slowest target being fed than `lead` (nor of the start, with none fed yet).
            lock.withLock {
                while written - (offsets.values.min() ?? 0) > Self.lead { lock.wait(seconds: 1) }
            }
            let count = read(source, &buffer, buffer.count)
            if count < 0 && errno == EINTR { continue }
            if count < 0 && errno == EAGAIN {
                var ready = pollfd(fd: source, events: Int16(POLLIN), revents: 0)
                _ = poll(&ready, 1, -1)
                continue
            }
            if count < 0 { problem = "reading stdin: \(String(cString: strerror(errno)))"; break }
            if count == 0 { break }
            let offset = lock.withLock { written }
            var done = 0
            while done < count {
                let put = buffer.withUnsafeBytes { pwrite(file, $0.baseAddress! + done, count - done, off_t(offset) + off_t(done)) }
                if put < 0 && errno == EINTR { continue }
                guard put > 0 else {
                    problem = "keeping stdin for several targets: \(put < 0 ? String(cString: strerror(errno)) : "nothing written")"
                    break
                }
                done += put
            }
            lock.withLock {
                written += Int64(done)
                lock.broadcast()
            }
        }
        lock.withLock {
            finished = true
            failure = problem
            lock.broadcast()
        }
    }

    /// A descriptor that reads the whole input from its start, then end of file; closing it stops its feeder.
    /// `cutShort` is called (on the feeder's thread) instead of an end of file when the input could not be kept
    /// whole; the descriptor then stays open until closed.
    public func makeReader(cutShort: @escaping @Sendable () -> Void) throws -> Int32 {
        let ends = try LocalPipe.make()
        let feeder = lock.withLock { () -> Int in
            nextFeeder += 1
            offsets[nextFeeder] = 0
            return nextFeeder
        }
        guard let thread = JoinableThread.start(stackSize: 256 << 10, { [self] in feed(ends.write, feeder, cutShort) }) else {
            _ = lock.withLock { offsets.removeValue(forKey: feeder) }
            close(ends.read); close(ends.write)
            throw SessionError.local("cannot start a thread to feed stdin")
        }
        pthread_detach(thread)
        return ends.read
    }

    private func feed(_ pipe: Int32, _ feeder: Int, _ cutShort: () -> Void) {
        defer {
            close(pipe)
            lock.withLock {
                offsets.removeValue(forKey: feeder)
                lock.broadcast()
            }
        }
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        var offset: Int64 = 0
        while true {
            let (available, ended, failed) = lock.withLock { () -> (Int64, Bool, Bool) in
                if offset == written && !finished { lock.wait(seconds: 1) }
                return (written - offset, finished, failure != nil)
            }
            // The target's link went away (its command ended without reading all): nothing more to feed.
            if Self.readerGone(pipe) { return }
            if available == 0 {
                guard ended else { continue }
                guard failed else { return }  // the whole input: end of file
                cutShort()
                while !Self.readerGone(pipe) { usleep(200_000) }
                return
            }
            let count = pread(file, &buffer, min(buffer.count, Int(available)), off_t(start + offset))
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else {
                cutShort()
                while !Self.readerGone(pipe) { usleep(200_000) }
                return
            }
            var done = 0
            while done < count {
                let put = buffer.withUnsafeBytes { write(pipe, $0.baseAddress! + done, count - done) }
                if put < 0 && errno == EINTR { continue }
                guard put > 0 else { return }  // EPIPE: the reader went away
                done += put
            }
            offset += Int64(count)
            lock.withLock {
                offsets[feeder] = offset
                lock.broadcast()
            }
        }
    }

    /// Whether nobody reads the pipe any more (its read end closed).
    private static func readerGone(_ pipe: Int32) -> Bool {
        var state = pollfd(fd: pipe, events: 0, revents: 0)
        return poll(&state, 1, 0) > 0 && state.revents & Int16(POLLERR) != 0
    }
}
