import Glibc
import SessionWire
import SSHClient

/// `pss enter` on a link: the local terminal's keys go to the session's terminal, its output comes back, the
/// window size follows SIGWINCH, until the host says the user left (the detach key, `exit`, a takeover) or a
/// signal (TERM, HUP) makes pss leave.
public struct TerminalSession {
    public enum End: Equatable {
        /// The host ended it: `reason`, and whether the (temporary) session was closed.
        case left(reason: String, closed: Bool)
        /// SIGTERM or SIGHUP: pss left (the host was asked to let go, and given a second to answer).
        case signalled(Int32)
        /// The session is a restricted configuration's: it has no terminal, and takes command lines (`LinePrompt`).
        case takesLines
    }

    /// The local terminal: keys are read from `input`, the session's output written to `output`.
    public var input: Int32
    public var output: ByteSink
    /// The byte that detaches (Ctrl-\ by default); nil: none.
    public var detachKey: UInt8?
    /// The local window's size, asked again on SIGWINCH.
    public var windowSize: () -> WindowSize
    /// What was typed, kept across reconnections: the host says how much it took, the rest is sent again.
    let keyStream = KeyStream()

    /// The keys typed in one `pss enter`, by offset, with the recent ones kept until the host has them.
    final class KeyStream {
        let id = (0..<4).map { _ in String(UInt32.random(in: 0...UInt32.max), radix: 16) }.joined(separator: "-")
        /// Keys sent, from `start` on.
        private(set) var kept: [UInt8] = []
        private(set) var start: UInt64 = 0
        var end: UInt64 { start + UInt64(kept.count) }
        /// At most this much is kept for sending again (keys a person types; a paste beyond it may be cut).
        static let limit = 1 << 20

        func sent(_ bytes: [UInt8]) {
            kept += bytes
            if kept.count > Self.limit {
                let drop = kept.count - Self.limit
                kept.removeFirst(drop)
                start += UInt64(drop)
            }
        }

        /// The host has everything before `taken`: what follows, from where, to send again.
        func unconfirmed(after taken: UInt64) -> (offset: UInt64, bytes: [UInt8]) {
            guard taken < end else { return (end, []) }
            let from = max(taken, start)
            kept.removeFirst(Int(from - start))
            start = from
            return (from, kept)
        }
    }

    public init(input: Int32, output: ByteSink, detachKey: UInt8?, windowSize: @escaping () -> WindowSize) {
        self.input = input
        self.output = output
        self.detachKey = detachKey
        self.windowSize = windowSize
    }

    /// Enters `session` (empty: a new temporary one) on `link`; returns the session entered once the user has
    /// left it, and how. `entered` hears the session as soon as the host has attached this client. The caller arms
    /// `StreamSignals` (with SIGWINCH) for the whole time, reconnections included.
    public func run(on link: HostLink, session: String, force: Bool, entered: (SessionRecord) -> Void) throws -> (SessionRecord, End) {
        let term = getenv("TERM").map { String(cString: $0) } ?? "xterm"
        let answer = try link.request(.enter(session: session, force: force, size: windowSize(), term: term, keys: keyStream.id))
        guard case let .entered(record, taken) = answer else { throw SessionError.helper("unexpected answer to enter") }
        entered(record)
        if record.restricted { return (record, .takesLines) }
        // Keys the host did not get before the connection broke go again, once.
        let resend = keyStream.unconfirmed(after: taken)
        if !resend.bytes.isEmpty { try link.send(.terminalInput(offset: resend.offset, resend.bytes)) }
        let signals = StreamSignals.shared
        try link.send(.resize(windowSize()))  // it may have changed while reconnecting
        var keys = [UInt8](repeating: 0, count: 4096)
        var leaving = false
        var signalled: (signal: Int32, deadline: Deadline)?
        while true {
            if let signalled, signalled.deadline.hasPassed { return (record, .signalled(signalled.signal)) }
            while let message = try link.nextBufferedMessage() {
                switch message {
                case let .terminalOutput(bytes): try bytes.withUnsafeBytes { try output.write($0) }
                case let .left(reason, closed):
                    return (record, signalled.map { .signalled($0.signal) } ?? .left(reason: reason, closed: closed))
                case let .failure(kind, text): throw SessionError.refused(kind, text)
                default: throw SessionError.helper("unexpected message while entered")
                }
            }
            var watched = [pollfd(fd: signals.descriptor, events: Int16(POLLIN), revents: 0)]
            if !leaving { watched.append(pollfd(fd: input, events: Int16(POLLIN), revents: 0)) }
            let ready = try link.fill(watching: watched, timeout: signalled == nil ? -1 : 100)
            if ready[0].revents != 0 {
                for signal in signals.take() {
                    if signal == SIGWINCH { try link.send(.resize(windowSize())); continue }
                    // TERM, HUP: the host is asked to let go, and given a second; a second signal ends it now.
                    if signalled != nil { return (record, .signalled(signal)) }
                    signalled = (signal, .after(seconds: 1))
                    if !leaving { try link.send(.leave); leaving = true }
                }
            }
            guard !leaving, ready.count > 1, ready[1].revents != 0 else { continue }
            let count = read(input, &keys, keys.count)
            if count < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            guard count > 0 else {  // the local terminal went away
                try link.send(.leave)
                leaving = true
                continue
            }
            var typed = Array(keys[0..<count])
            if let detachKey, let at = typed.firstIndex(of: detachKey) {
                typed.removeSubrange(at...)
                leaving = true
            }
            if !typed.isEmpty {
                let offset = keyStream.end
                keyStream.sent(typed)
                try link.send(.terminalInput(offset: offset, typed))
            }
            if leaving { try link.send(.leave) }
        }
    }
}
