import Glibc
import SessionWire

/// One client connection to the daemon (a `pss-host relay` carrying an SSH channel): frames in, frames out.
final class ClientLink {
    let descriptor: Int32
    var decoder = FrameDecoder()
    private var outbound: [UInt8] = []
    private var outboundStart = 0
    /// Set by the client's hello.
    var clientID: String?
    /// The session whose command this link is running, if any.
    var invokedSession: String?
    var isClosed = false

    init(descriptor: Int32) {
        self.descriptor = descriptor
        Posix.setNonBlocking(descriptor)
    }

    func send(_ message: HostMessage) {
        outbound.append(contentsOf: message.encoded())
    }

    var pendingOutput: Int { outbound.count - outboundStart }

    /// Writes what the socket takes now.
    func flush() {
        while outboundStart < outbound.count {
            let written = outbound[outboundStart...].withUnsafeBytes { write(descriptor, $0.baseAddress!, $0.count) }
            if written > 0 {
                outboundStart += written
            } else if written < 0 && errno == EINTR {
                continue
            } else {
                if written < 0 && errno != EAGAIN { isClosed = true }
                break
            }
        }
        if outboundStart == outbound.count {
            outbound.removeAll(keepingCapacity: outbound.count < 1 << 20)
            outboundStart = 0
        }
    }

    /// Reads what the socket has; returns false at its end.
    func receive(using buffer: inout [UInt8]) -> Bool {
        let count = read(descriptor, &buffer, buffer.count)
        if count > 0 { decoder.append(buffer[0..<count]); return true }
        if count < 0 && (errno == EAGAIN || errno == EINTR) { return true }
        return false
    }

    /// Waits (briefly, blocking) for pending output to leave, before the link is closed.
    func flushBeforeClose() {
        for _ in 0..<100 where pendingOutput > 0 && !isClosed {
            flush()
            var descriptor = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
            _ = poll(&descriptor, 1, 50)
        }
    }
}
