import Glibc
import SSHClient

/// One input for many targets (a fan-out's stdin), as clush forwards it: read once, as it comes, into an unlinked
/// file, and fed to each target from its own offset through a pipe of its own. Memory stays bounded whatever the
/// input's size, and a target the throttle starts late still gets all of it.
public final class SharedInput: @unchecked Sendable {
    private let file: Int32
    private let lock = Lock()
    private var written: Int64 = 0
    private var finished = false

    /// Starts reading `source` (until its end) on a thread of its own.
    public init(source: Int32) throws {
        file = Self.unlinkedFile()
        guard file >= 0 else { throw SessionError.local("cannot keep stdin for several targets: \(String(cString: strerror(errno)))") }
        // Never joined: it ends with stdin, or with pss.
        guard let reader = JoinableThread.start(stackSize: 256 << 10, { [self] in readSource(source) }) else {
            throw SessionError.local("cannot start a thread to read stdin")
        }
        pthread_detach(reader)
    }

    /// A file in $TMPDIR (else /tmp) that no name leads to.
    private static func unlinkedFile() -> Int32 {
        let directory = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
        var template = Array((directory + "/pss-stdin.XXXXXX").utf8CString)
        let made = mkstemp(&template)
        guard made >= 0 else { return -1 }
        unlink(template)
        _ = fcntl(made, F_SETFD, FD_CLOEXEC)
        return made
    }

    private func readSource(_ source: Int32) {
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let count = read(source, &buffer, buffer.count)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            let offset = lock.withLock { written }
            var done = 0
            while done < count {
                let put = buffer.withUnsafeBytes { pwrite(file, $0.baseAddress! + done, count - done, off_t(offset) + off_t(done)) }
                if put < 0 && errno == EINTR { continue }
                guard put > 0 else { break }
                done += put
            }
            lock.withLock {
                written += Int64(done)
                lock.broadcast()
            }
            // A full disk ends the input here: each target reads end of file after what was kept.
            guard done == count else { break }
        }
        lock.withLock {
            finished = true
            lock.broadcast()
        }
    }

    /// A descriptor that reads the whole input from its start, then end of file; closing it stops its feeder.
    public func makeReader() throws -> Int32 {
        let ends = try LocalPipe.make()
        guard let feeder = JoinableThread.start(stackSize: 256 << 10, { [self] in feed(ends.write) }) else {
            close(ends.read); close(ends.write)
            throw SessionError.local("cannot start a thread to feed stdin")
        }
        pthread_detach(feeder)
        return ends.read
    }

    private func feed(_ pipe: Int32) {
        defer { close(pipe) }
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        var offset: Int64 = 0
        while true {
            let available = lock.withLock { () -> Int64 in
                while offset == written && !finished { lock.wait(seconds: 3600) }
                return written - offset
            }
            guard available > 0 else { return }
            let count = pread(file, &buffer, min(buffer.count, Int(available)), off_t(offset))
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return }
            // The target's link went away (its command ended without reading all): EPIPE ends the feeder.
            var done = 0
            while done < count {
                let put = buffer.withUnsafeBytes { write(pipe, $0.baseAddress! + done, count - done) }
                if put < 0 && errno == EINTR { continue }
                guard put > 0 else { return }
                done += put
            }
            offset += Int64(count)
        }
    }
}
