import Glibc
import SSHClient

/// A link's transport through the client's connection keeper: a unix socket whose other end the keeper joins to
/// an exec channel of its kept connection. Its end is the channel's end (or the keeper's): a lost connection, to
/// the command, which reconnects as after any other.
final class KeeperSocket: LinkTransport {
    private let descriptor: Int32
    private let host: String
    private(set) var isAtEnd = false
    private var isClosed = false
    /// The last write found the socket full (took nothing, or less than it was given): the next wait waits for
    /// room too.
    private var waitsToWrite = false

    init(descriptor: Int32, host: String) {
        self.descriptor = descriptor
        self.host = host
    }

    deinit { _ = try? close() }

    private var lost: SSHError { .connectionLost(host: host, message: "the kept connection ended") }

    func read(_ stream: SSHChannel.Stream, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard stream == .stdout, !isAtEnd else { return 0 }  // the keeper keeps the relay's diagnostics
        let count = recv(descriptor, buffer.baseAddress, buffer.count, Int32(MSG_DONTWAIT))
        if count > 0 { return count }
        if count < 0, errno == EAGAIN || errno == EINTR { return 0 }
        isAtEnd = true
        return 0
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws -> Int {
        guard !bytes.isEmpty else { return 0 }
        let count = send(descriptor, bytes.baseAddress, bytes.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL))
        // A short count is a full socket too: without POLLOUT the next wait would wait for the host to speak,
        // which a command reading its stdin never does.
        if count >= 0 {
            if count < bytes.count { waitsToWrite = true }
            return count
        }
        if errno == EAGAIN || errno == EINTR {
            waitsToWrite = true
            return 0
        }
        throw lost
    }

    func writeAll(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let written = try bytes[offset...].withUnsafeBytes { try write($0) }
            offset += written
            if written == 0 { _ = try wait(extra: [], timeout: -1) }
        }
    }

    func wait(extra: [pollfd], timeout: Int32) throws -> [pollfd] {
        let events = Int16(POLLIN) | (waitsToWrite ? Int16(POLLOUT) : 0)
        waitsToWrite = false
        var descriptors = [pollfd(fd: descriptor, events: events, revents: 0)] + extra
        var ready: Int32
        repeat { ready = poll(&descriptors, nfds_t(descriptors.count), timeout) } while ready < 0 && errno == EINTR
        return Array(descriptors.dropFirst())
    }

    func sendEOF() -> Bool {
        shutdown(descriptor, Int32(SHUT_WR))
        return true
    }

    func close() throws -> ExitStatus {
        if !isClosed {
            isClosed = true
            Glibc.close(descriptor)
        }
        if isAtEnd { throw lost }
        return .exited(0)
    }
}
