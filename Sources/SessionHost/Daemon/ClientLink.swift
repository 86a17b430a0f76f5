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
    private var outbound: [UInt8] = []
    private var outboundStart = 0
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
    }

    /// Queues a message, written at once when nothing waits before it (the frame is kept, not copied, if the
    /// pipe takes only part of it).
    func send(_ message: HostMessage) {
        let frame = message.encoded()
        guard pendingOutput == 0, isReady, !isClosed else { outbound.append(contentsOf: frame); return }
        outbound = frame
        outboundStart = 0
        flush()
    }

    var pendingOutput: Int { outbound.count - outboundStart }

    /// Writes what the socket takes now.
    func flush() {
        while outboundStart < outbound.count {
            let written = outbound[outboundStart...].withUnsafeBytes { write(output, $0.baseAddress!, $0.count) }
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
